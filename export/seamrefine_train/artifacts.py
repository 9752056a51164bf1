"""Artifact generators: what a generative fill does differently from the photo around it.

Every generator has the signature ``fn(fake, clean, shape, rng, cfg) -> (fake, clean, params)``:
``fake`` is the full-frame "generated" image (only its pasted part is ever seen), ``clean`` the target,
``shape`` the boolean generated region. A generator may also alter ``clean`` *globally* (e.g. give the
whole target photo sensor grain or JPEG blocks that the fill lacks); ``clean`` is then still the ground
truth, and the composite still equals it exactly outside the paste alpha. All arrays are H×W×3 float32
sRGB in [0, 1]; all randomness comes from ``rng``.
"""

from __future__ import annotations

import cv2
import numpy as np
from seamrefine.imaging.imagemath import linear_to_srgb, srgb_to_linear
from seamrefine.runtime.jpeg_match import recompress

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_RGB2YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], np.float64)
_YIQ2RGB = np.linalg.inv(_RGB2YIQ)


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def small_signed(rng: np.random.Generator, bound: float, min_frac: float) -> float:
    """Signed magnitude, log-uniform in [min_frac·bound, bound]: most draws subtle, some at the bound."""
    return float(rng.choice([-1.0, 1.0])) * _loguniform(rng, min_frac * bound, bound)


def jitter_matrix(brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0, gains=(0.0, 0.0, 0.0), mean=0.5):
    """Affine colour jitter as ``x' = x @ A.T + b`` (torchvision ColorJitter semantics, hue in YIQ).

    brightness: x·(1+β); contrast: (x−m)(1+γ)+m around the scalar luma mean m; saturation: grey +
    (x−grey)(1+σ); hue: rotation of the I/Q chroma plane by 2π·h; gains: per-channel (1+g) white balance.
    """
    a = np.eye(3) * (1.0 + brightness)
    b = np.zeros(3)
    c = 1.0 + contrast
    a, b = c * a, c * b + (1.0 - c) * mean * (1.0 + brightness)
    s = 1.0 + saturation
    sat = s * np.eye(3) + (1.0 - s) * np.outer(np.ones(3), _LUMA)
    a, b = sat @ a, sat @ b
    t = 2.0 * np.pi * hue
    rot = np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])
    hue_m = _YIQ2RGB @ rot @ _RGB2YIQ
    a, b = hue_m @ a, hue_m @ b
    g = np.diag(1.0 + np.asarray(gains, float))
    return (g @ a).astype(np.float32), (g @ b).astype(np.float32)


def apply_affine(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``x @ a.T + b`` per pixel, clipped to [0, 1]."""
    out = x.reshape(-1, 3) @ a.T + b
    return np.clip(out, 0.0, 1.0).reshape(x.shape).astype(np.float32)


def visible_signed(rng: np.random.Generator, bound: float, frac_range: tuple[float, float]) -> float:
    """Signed magnitude, uniform in [lo·bound, hi·bound] for ``frac_range`` = (lo, hi): a visible shift."""
    return float(rng.choice([-1.0, 1.0])) * float(rng.uniform(*frac_range)) * bound


def random_jitter(rng: np.random.Generator, cfg, mean: float, scale: float = 1.0):
    """A random colour jitter, visible (magnitudes uniform in ``cfg.visible_frac_range`` of the bounds,
    each component on with ``cfg.p_jitter_component``) or, with ``cfg.p_subtle_colour``, subtle
    (log-uniform down to ``cfg.jitter_min_frac`` of the bounds, each on with probability ½). At least
    one component is on. Components: brightness, contrast, saturation, hue (multiplicative or affine),
    per-channel gains (multiplicative) and per-channel offsets (additive)."""
    subtle = bool(rng.random() < cfg.p_subtle_colour)
    on = rng.random(6) < (0.5 if subtle else cfg.p_jitter_component)
    if not on.any():
        on[int(rng.integers(6))] = True

    def draw(bound: float) -> float:
        if subtle:
            return small_signed(rng, scale * bound, cfg.jitter_min_frac)
        return visible_signed(rng, scale * bound, cfg.visible_frac_range)

    names = ("brightness", "contrast", "saturation", "hue")
    bounds = (cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue)
    p: dict = {n: draw(b) if on[i] else 0.0 for i, (n, b) in enumerate(zip(names, bounds, strict=True))}
    gains = [draw(cfg.channel_gain) for _ in range(3)] if on[4] else [0.0, 0.0, 0.0]
    offsets = [draw(cfg.channel_offset) for _ in range(3)] if on[5] else [0.0, 0.0, 0.0]
    a, b = jitter_matrix(gains=gains, mean=mean, **p)
    p.update(gains=gains, offsets=offsets, subtle=subtle)
    return a, b + np.asarray(offsets, np.float32), p


def _bbox(shape: np.ndarray) -> tuple[int, int, int, int]:
    ys = np.flatnonzero(shape.any(1))
    xs = np.flatnonzero(shape.any(0))
    return int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1


def _luma_mean(x: np.ndarray, shape: np.ndarray) -> float:
    return float((x[shape] @ _LUMA).mean())


def color_uniform(fake, clean, shape, rng, cfg):
    """One subtle affine jitter over the whole fill."""
    a, b, p = random_jitter(rng, cfg, _luma_mean(fake, shape))
    return apply_affine(fake, a, b), clean, p


def _two_jitter_blend(fake, t, shape, rng, cfg):
    mean = _luma_mean(fake, shape)
    a1, b1, p1 = random_jitter(rng, cfg, mean)
    if rng.random() < 0.5:  # one side matches the photo, the other drifts
        a2, b2, p2 = np.eye(3, dtype=np.float32), np.zeros(3, np.float32), {}
    else:
        a2, b2, p2 = random_jitter(rng, cfg, mean)
    t3 = t[..., None]
    out = (1.0 - t3) * apply_affine(fake, a1, b1) + t3 * apply_affine(fake, a2, b2)
    return out.astype(np.float32), {"jitter_a": p1, "jitter_b": p2}


def color_gradient(fake, clean, shape, rng, cfg):
    """Two jitters blended by a linear ramp across the fill's bounding box in a random direction."""
    h, w = shape.shape
    y0, y1, x0, x1 = _bbox(shape)
    ang = rng.uniform(0, 2 * np.pi)
    dy, dx = np.sin(ang), np.cos(ang)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    proj = (yy - (y0 + y1) / 2) * dy + (xx - (x0 + x1) / 2) * dx
    half = 0.5 * (abs(dy) * (y1 - y0) + abs(dx) * (x1 - x0)) + 1e-3
    t = np.clip(proj / (2 * half) + 0.5, 0.0, 1.0).astype(np.float32)
    out, p = _two_jitter_blend(fake, t, shape, rng, cfg)
    p["angle"] = float(ang)
    return out, clean, p


def soft_random_map(h: int, w: int, rng: np.random.Generator, cells: int) -> np.ndarray:
    """Smooth random field in [0, 1]: a cells×cells uniform grid, bicubic-upsampled, then stretched."""
    g = rng.random((cells, cells)).astype(np.float32)
    t = cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC)
    lo, hi = float(t.min()), float(t.max())
    return np.clip((t - lo) / max(hi - lo, 1e-6), 0.0, 1.0)


def color_nonuniform(fake, clean, shape, rng, cfg):
    """Two jitters blended by a soft random alpha map (patchy colour drift)."""
    h, w = shape.shape
    cells = int(rng.integers(2, 7))
    t = soft_random_map(h, w, rng, cells)
    out, p = _two_jitter_blend(fake, t, shape, rng, cfg)
    p["cells"] = cells
    return out, clean, p


def sensor_noise(x: np.ndarray, rng: np.random.Generator, sigma: float, shot: float, corr: float,
                 chroma: float, linear: bool) -> np.ndarray:
    """Add Poisson–Gaussian sensor noise, optionally in linear light and spatially correlated.

    Variance ∝ σ²·(shot·x/x_mid + (1−shot)·r) with x_mid the mid-grey (0.5 sRGB, 0.214 linear) and r = 1
    in sRGB (0.02 in linear light, where dark read noise is amplified by the sRGB curve). The field is
    a luma part shared by the channels plus a ``chroma`` fraction of independent per-channel noise,
    Gaussian-blurred by ``corr`` px (and renormalised) for demosaicing/denoising correlation.
    """
    h, w, _ = x.shape
    n = rng.standard_normal((h, w, 3), dtype=np.float32)
    shared = rng.standard_normal((h, w, 1), dtype=np.float32)
    n = np.sqrt(chroma) * n + np.sqrt(1.0 - chroma) * shared
    if corr > 0.25:
        n = cv2.GaussianBlur(n, (0, 0), corr)
        n /= max(float(n.std()), 1e-6)
    base = srgb_to_linear(x) if linear else x
    mid, read = (0.214, 0.02) if linear else (0.5, 1.0)
    std = sigma * np.sqrt(shot * np.maximum(base, 0.0) / mid + (1.0 - shot) * read)
    out = base + std * n
    out = linear_to_srgb(np.clip(out, 0.0, 1.0)) if linear else out
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _random_noise_params(rng, cfg, sigma=None):
    return {
        "sigma": sigma if sigma is not None else _loguniform(rng, *cfg.noise_sigma_range),
        "shot": float(rng.uniform(0.3, 1.0)),
        "corr": float(rng.uniform(*cfg.noise_corr_range)) if rng.random() < 0.6 else 0.0,
        "chroma": float(rng.uniform(0.05, 0.5)),
        "linear": bool(rng.random() < cfg.p_noise_linear),
    }


def smooth(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """A mild denoise: edge-preserving bilateral filter or a small Gaussian blur."""
    if rng.random() < 0.5:
        sc = float(rng.uniform(0.04, 0.12))
        return cv2.bilateralFilter(x, 5, sc, 2.0), {"denoise": "bilateral", "sigma_color": sc}
    s = float(rng.uniform(0.6, 1.3))
    return cv2.GaussianBlur(x, (0, 0), s), {"denoise": "gaussian", "sigma": s}


def noise(fake, clean, shape, rng, cfg):
    """Grain mismatch: fill too clean (denoised), too noisy, or differently grained than the photo.

    With probability ``cfg.p_target_grain`` the whole target gets realistic grain first (the photo
    "was shot noisier"), so a too-clean fill has something to match. Independent grain on both sides
    also produces the grain dip inside feathered edges (blend of two noises has lower variance).
    """
    target = _random_noise_params(rng, cfg) if rng.random() < cfg.p_target_grain else None
    if target is not None:
        clean = sensor_noise(clean, rng, **target)
    mode = ["too_clean", "too_noisy", "regrained"][int(rng.choice(3, p=cfg.noise_mode_weights))]
    p: dict = {"mode": mode, "target_grain": target}
    if mode == "too_clean":
        fake, p["smooth"] = smooth(fake, rng)
    elif mode == "too_noisy":
        base = target["sigma"] if target else cfg.noise_sigma_range[0]
        p["fill_grain"] = _random_noise_params(rng, cfg, base * _loguniform(rng, 1.5, 3.5))
        fake = sensor_noise(fake, rng, **p["fill_grain"])
    else:
        fake, p["smooth"] = smooth(fake, rng)
        sigma = (target["sigma"] if target else _loguniform(rng, *cfg.noise_sigma_range))
        p["fill_grain"] = _random_noise_params(rng, cfg, sigma * _loguniform(rng, 0.6, 1.6))
        fake = sensor_noise(fake, rng, **p["fill_grain"])
    return fake, clean, p


def blur(fake, clean, shape, rng, cfg):
    """Resolution mismatch: the fill was generated smaller and upscaled (or, rarely, over-sharpened)."""
    h, w = shape.shape
    if rng.random() < cfg.p_sharpen:
        s = float(rng.uniform(0.7, 1.5))
        amt = _loguniform(rng, 0.2, 1.0)
        out = fake + amt * (fake - cv2.GaussianBlur(fake, (0, 0), s))
        return np.clip(out, 0, 1).astype(np.float32), clean, {"mode": "sharpen", "sigma": s, "amount": amt}
    f = _loguniform(rng, *cfg.blur_scale_range)
    small = cv2.resize(fake, (max(1, round(w / f)), max(1, round(h / f))), interpolation=cv2.INTER_AREA)
    interp = cv2.INTER_CUBIC if rng.random() < 0.5 else cv2.INTER_LINEAR
    out = cv2.resize(small, (w, h), interpolation=interp)
    return np.clip(out, 0, 1).astype(np.float32), clean, {"mode": "upscale", "factor": f,
                                                           "cubic": interp == cv2.INTER_CUBIC}


def jpeg_roundtrip(x: np.ndarray, quality: int, subsampling: int, shift: tuple[int, int] = (0, 0)):
    """Encode/decode ``x`` with PIL JPEG (``jpeg_match.recompress``, the codec serving matches the
    photo's blocks with); ``shift`` moves the 8×8 block grid (roll, then roll back)."""
    u8 = np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)
    if shift != (0, 0):
        u8 = np.roll(u8, shift, axis=(0, 1))
    out = recompress(np.ascontiguousarray(u8), quality, subsampling)
    if shift != (0, 0):
        out = np.roll(out, (-shift[0], -shift[1]), axis=(0, 1))
    return out.astype(np.float32) / 255.0


def jpeg(fake, clean, shape, rng, cfg):
    """Compression mismatch: fill compressed (misaligned grid) while the photo is not, or vice versa."""
    q = int(rng.integers(cfg.jpeg_quality_range[0], cfg.jpeg_quality_range[1] + 1))
    sub = int(rng.choice([0, 2]))
    if rng.random() < cfg.p_jpeg_target:
        clean = jpeg_roundtrip(clean, q, sub)
        return fake, clean, {"mode": "target_compressed", "quality": q, "subsampling": sub}
    shift = (int(rng.integers(0, 8)), int(rng.integers(0, 8)))
    fake = jpeg_roundtrip(fake, q, sub, shift)
    return fake, clean, {"mode": "fill_compressed", "quality": q, "subsampling": sub, "grid_shift": shift}


def latent_smear(fake, clean, shape, rng, cfg):
    """VAE round trip: 8× area down/up (detail loss), blended partially, plus a small colour drift."""
    h, w = shape.shape
    f = cfg.latent_factor
    small = cv2.resize(fake, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
    up = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    beta = float(rng.uniform(*cfg.latent_blend_range))
    out = fake + beta * (up - fake)
    a, b, p = random_jitter(rng, cfg, _luma_mean(fake, shape), scale=cfg.latent_drift_scale)
    return apply_affine(out, a, b), clean, {"blend": beta, "drift": p}


def _inpaint_ring(fake, clean, shape, rng, cfg):
    from .masks import signed_distance

    r = _loguniform(rng, *cfg.truncation_ring_range)
    sd = signed_distance(shape)
    ring = (sd > 0) & (sd <= r)
    work = np.where(shape[..., None], fake, clean)
    u8 = np.clip(np.rint(work * 255.0), 0, 255).astype(np.uint8)
    method = cv2.INPAINT_TELEA if rng.random() < 0.5 else cv2.INPAINT_NS
    filled = cv2.inpaint(u8, ring.astype(np.uint8), 3.0, method).astype(np.float32) / 255.0
    fake = np.where(ring[..., None], filled, fake).astype(np.float32)
    name = "telea" if method == cv2.INPAINT_TELEA else "ns"
    return fake, {"mode": "inpaint_ring", "ring": r, "method": name}


def _misalign(fake, shape, rng, cfg):
    h, w = shape.shape
    amp = _loguniform(rng, *cfg.misalign_px_range)
    cells = int(rng.integers(2, 5))
    field = [soft_random_map(h, w, rng, cells) * 2.0 - 1.0 for _ in range(2)]
    ang = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    mx = (xx + amp * (0.6 * np.cos(ang) + 0.4 * field[0])).astype(np.float32)
    my = (yy + amp * (0.6 * np.sin(ang) + 0.4 * field[1])).astype(np.float32)
    out = cv2.remap(fake, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return out.astype(np.float32), {"mode": "misalign", "pixels": amp, "angle": float(ang), "cells": cells}


def truncation(fake, clean, shape, rng, cfg):
    """Structures stop or break at the seam, in one of two ways (``cfg.p_truncation_inpaint``):

    * inpaint_ring: a ring just inside the edge is re-filled by cv2.inpaint (TELEA or Navier–Stokes)
      from the pixels around it, so lines and textures crossing the edge dissolve into a smear;
    * misalign: the fill is displaced by a smooth 0.7–3 px field (a constant shift plus a wobble), so
      edges crossing the seam no longer line up, as when the generator redraws them slightly off.
    """
    if rng.random() < cfg.p_truncation_inpaint:
        fake, p = _inpaint_ring(fake, clean, shape, rng, cfg)
    else:
        fake, p = _misalign(fake, shape, rng, cfg)
    return fake, clean, p


GENERATORS = {
    "color_uniform": color_uniform,
    "color_gradient": color_gradient,
    "color_nonuniform": color_nonuniform,
    "noise": noise,
    "blur": blur,
    "jpeg": jpeg,
    "latent_smear": latent_smear,
    "truncation": truncation,
}
# Order used when families are mixed: structure first, then tone, then sensor, then compression.
MIX_ORDER = ("truncation", "blur", "latent_smear", "color_uniform", "color_gradient", "color_nonuniform",
             "noise", "jpeg")
