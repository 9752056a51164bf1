"""Synthetic generative-fill seams: (composite, mask, clean) training pairs from clean photos.

``make_case(photo, seed, index)`` draws a selection shape, a paste alpha and an artifact family, makes a
"generated" version of the photo, and pastes it back:

    composite = clean + alpha · (fake − clean)   where alpha > 0,   composite = clean elsewhere (bit-exact).

``mask`` is what the user would select (the generated region, possibly dilated, hard or soft). The paste
alpha always lies inside ``imagemath.band_weights(mask, 16, 8) > 0``, so outside that band (and wherever
alpha is 0) the composite equals the target exactly. Some families change the target itself globally
(grain or JPEG on the whole photo that the fill lacks); ``clean`` is then that altered photo.

Families (``FAMILIES``): clean (composite == clean), colour jitter (uniform / gradient / non-uniform),
sensor noise, blur/sharpness, JPEG, latent (VAE) smear, content truncation, and mixed (2–3 combined).
Edges: hard or feathered, grown/shrunk; an optional weak "leak" of the fill's look into a thin ring
outside the pasted region (still inside the band; see ``masks.paste_alpha_and_mask``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps
from seamrefine.errors import InputError
from seamrefine.imaging.imagemath import to_float

from . import artifacts
from .masks import paste_alpha_and_mask, random_shape

FAMILIES: tuple[str, ...] = (
    "clean", "color_uniform", "color_gradient", "color_nonuniform", "noise",
    "blur", "jpeg", "latent_smear", "truncation", "mixed",
)
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


def _default_family_weights() -> dict[str, float]:
    return {
        "clean": 0.08, "color_uniform": 0.14, "color_gradient": 0.08, "color_nonuniform": 0.08,
        "noise": 0.12, "blur": 0.08, "jpeg": 0.06, "latent_smear": 0.08, "truncation": 0.10, "mixed": 0.18,
    }


MIN_SIDE_FRAC = 0.75  # crops are cut from photos whose shorter side is at least this × their size


@dataclass
class SynthConfig:
    """Every knob of the synthesis, with its range. Ranges are (low, high), sampled uniformly unless noted.

    Families and masks
      family_weights: relative frequency of each family when ``make_case(family=None)``; 0 switches off.
      mask_kind_weights: object blob / brush stroke / rectangle mix (ASUKA: 0.5 / 0.4 / 0.1).
      area_range: selected-area fraction of the crop, (0.05, 0.5).
      p_touch_border: probability that the shape is pushed against an image border.
      mask_attempts: redraws before falling back to a rectangle of the target area.
    Edges
      p_hard_edge: probability the fill was pasted with a hard edge (else feathered).
      feather_range: feather width in px of the smoothstep paste ramp, (2, 16).
      paste_offset_range: paste region grown (+) / shrunk (−) vs the shape, integer px, (−3, 3).
      user_dilate_range: user's selection grown by this many px, integer, (0, 4).
      p_soft_user_mask: probability the selection itself is soft (feathered 2–8 px outward).
      p_leak, leak_strength_range, leak_width_range: weak leak of the fill's look into a ring outside the
        pasted region (strength 0.05–0.25, width 3–12 px, capped so it stays ≤ 15 px from the shape).
    Colour (torchvision ColorJitter semantics; ASUKA bounds 0.15 / 0.2 / 0.1 / 0.03)
      brightness, contrast, saturation, hue, channel_gain, channel_offset: the bounds of the six
        components (the last two per channel: multiplicative white balance, additive offset).
      visible_frac_range: a visible shift draws each magnitude uniformly in this fraction of its bound,
        with random sign, (0.25, 1.25): up to a little beyond ASUKA's bounds.
      p_jitter_component: probability each component of a visible shift is on (at least one is).
      p_subtle_colour: share of colour shifts that are subtle instead: magnitudes log-uniform in
        [jitter_min_frac · bound, bound], each component on with probability ½.
    Noise
      noise_sigma_range: grain std at mid-grey, log-uniform, (0.004, 0.03).
      noise_corr_range: spatial correlation (Gaussian px) when correlated (60 % of draws), (0.4, 1.2).
      p_noise_linear: probability noise is simulated in linear light.
      p_target_grain: probability the whole target gets grain first (so "too clean" fills show).
      noise_mode_weights: too_clean / too_noisy / regrained.
    Blur, JPEG, latent, truncation
      blur_scale_range: generation-resolution factor (fill made this much smaller, upscaled), log-uniform.
      p_sharpen: probability of over-sharpening instead of blur.
      jpeg_quality_range: PIL quality, (30, 92); p_jpeg_target: the photo (not the fill) is compressed.
      latent_factor: VAE down/up factor (8); latent_blend_range: share of the smeared image, (0.1, 0.5);
        latent_drift_scale: colour drift as a fraction of the colour bounds.
      p_truncation_inpaint: share of truncation cases that re-inpaint a ring (the rest misalign).
      truncation_ring_range: width in px of the re-inpainted ring inside the edge, log-uniform, (2, 8).
      misalign_px_range: displacement of a misaligned fill in px, log-uniform, (0.7, 3).
      mixed_count_range: how many families a "mixed" case combines, (2, 3).
    """

    family_weights: dict[str, float] = field(default_factory=_default_family_weights)
    mask_kind_weights: dict[str, float] = field(
        default_factory=lambda: {"object": 0.5, "stroke": 0.4, "rect": 0.1})
    area_range: tuple[float, float] = (0.05, 0.5)
    p_touch_border: float = 0.25
    mask_attempts: int = 6
    p_hard_edge: float = 0.3
    feather_range: tuple[float, float] = (2.0, 16.0)
    paste_offset_range: tuple[int, int] = (-3, 3)
    user_dilate_range: tuple[int, int] = (0, 4)
    p_soft_user_mask: float = 0.15
    p_leak: float = 0.1
    leak_strength_range: tuple[float, float] = (0.05, 0.25)
    leak_width_range: tuple[float, float] = (3.0, 12.0)
    brightness: float = 0.15
    contrast: float = 0.2
    saturation: float = 0.1
    hue: float = 0.03
    channel_gain: float = 0.05
    channel_offset: float = 0.03
    visible_frac_range: tuple[float, float] = (0.25, 1.25)
    p_jitter_component: float = 0.75
    p_subtle_colour: float = 0.2
    jitter_min_frac: float = 1.0 / 15.0
    noise_sigma_range: tuple[float, float] = (0.004, 0.03)
    noise_corr_range: tuple[float, float] = (0.4, 1.2)
    p_noise_linear: float = 0.3
    p_target_grain: float = 0.6
    noise_mode_weights: tuple[float, float, float] = (0.4, 0.3, 0.3)
    blur_scale_range: tuple[float, float] = (1.25, 3.0)
    p_sharpen: float = 0.2
    jpeg_quality_range: tuple[int, int] = (30, 92)
    p_jpeg_target: float = 0.3
    latent_factor: int = 8
    latent_blend_range: tuple[float, float] = (0.1, 0.5)
    latent_drift_scale: float = 0.3
    truncation_ring_range: tuple[float, float] = (2.0, 8.0)
    p_truncation_inpaint: float = 0.5
    misalign_px_range: tuple[float, float] = (0.7, 3.0)
    mixed_count_range: tuple[int, int] = (2, 3)

    def __post_init__(self) -> None:
        for name, w in self.family_weights.items():
            if name not in FAMILIES:
                raise InputError(f"unknown synthesis family {name!r}; known: {', '.join(FAMILIES)}", name)
            if not w >= 0:
                raise InputError(f"family weight for {name!r} must be ≥ 0, got {w}", w)
        if sum(self.family_weights.values()) <= 0:
            raise InputError("at least one synthesis family needs a positive weight", self.family_weights)
        for name in self.mask_kind_weights:
            if name not in ("object", "stroke", "rect"):
                raise InputError(f"unknown mask kind {name!r}; known: object, stroke, rect", name)
        lo, hi = self.area_range
        if not 0.0 < lo <= hi < 1.0:
            raise InputError(f"area_range must satisfy 0 < low ≤ high < 1, got {self.area_range}",
                             self.area_range)


@dataclass
class Case:
    """One training pair. ``alpha`` (the paste alpha) is extra and may be None for hand-made cases."""

    composite: np.ndarray
    mask: np.ndarray
    clean: np.ndarray
    family: str
    params: dict
    alpha: np.ndarray | None = None


def _pick_family(rng: np.random.Generator, cfg: SynthConfig) -> str:
    names = [n for n in FAMILIES if cfg.family_weights.get(n, 0.0) > 0]
    w = np.array([cfg.family_weights[n] for n in names], float)
    return names[int(rng.choice(len(names), p=w / w.sum()))]


def make_case(photo: np.ndarray, seed: int, index: int, family: str | None = None,
              config: SynthConfig | None = None) -> Case:
    """Synthesise one (composite, mask, clean) case from an H×W×3 photo (float in [0, 1], or uint8 /
    uint16 scaled), deterministic per
    (seed, index): the generator is ``np.random.default_rng([seed, index])``.

    ``family`` forces a family (must be in ``FAMILIES``, else InputError); None samples it from
    ``config.family_weights``.
    """
    cfg = config if config is not None else SynthConfig()
    if family is not None and family not in FAMILIES:
        raise InputError(f"unknown synthesis family {family!r}; known: {', '.join(FAMILIES)}", family)
    ok = isinstance(photo, np.ndarray) and photo.ndim == 3 and photo.shape[2] == 3
    if not ok or min(photo.shape[:2]) < 8:
        raise InputError(f"photo must be an H×W×3 array with H, W ≥ 8, got {getattr(photo, 'shape', photo)}",
                         getattr(photo, "shape", None))
    if photo.dtype.kind != "f":
        photo = to_float(photo)[0]  # uint8/uint16 scaled to [0, 1]; other dtypes raise DTypeError
    rng = np.random.default_rng([seed, index])
    fam = family if family is not None else _pick_family(rng, cfg)
    clean = np.clip(photo, 0.0, 1.0).astype(np.float32)
    h, w = clean.shape[:2]
    shape, mask_params = random_shape(h, w, rng, cfg)
    alpha, mask, edge_params = paste_alpha_and_mask(shape, rng, cfg, allow_leak=fam != "clean")
    params: dict = {"family": fam, "seed": int(seed), "index": int(index), "mask": mask_params,
                    "edge": edge_params}
    if fam == "clean":
        return Case(clean.copy(), mask, clean, fam, params, np.zeros_like(alpha))
    if fam == "mixed":
        pool = list(artifacts.MIX_ORDER)
        k = int(rng.integers(cfg.mixed_count_range[0], cfg.mixed_count_range[1] + 1))
        chosen = set(rng.choice(len(pool), size=min(k, len(pool)), replace=False).tolist())
        steps = [pool[i] for i in range(len(pool)) if i in chosen]
    else:
        steps = [fam]
    fake = clean.copy()
    params["steps"] = []
    # Truncation acts on a ring just inside the edge, so it gets the *pasted* region: with a shrunk
    # paste, a ring measured from `shape` could lie wholly outside alpha and leave no artifact.
    pasted = alpha >= 0.5
    pasted = pasted if pasted.any() else shape
    for step in steps:
        region = pasted if step == "truncation" else shape
        fake, clean, p = artifacts.GENERATORS[step](fake, clean, region, rng, cfg)
        params["steps"].append({"family": step, **p})
    a3 = alpha[..., None]
    blended = np.clip(clean + a3 * (fake - clean), 0.0, 1.0)
    composite = np.where(a3 > 0, blended, clean).astype(np.float32)
    return Case(composite, mask, clean, fam, params, alpha)


def load_photo(path: str | Path) -> np.ndarray:
    """Read an image file as H×W×3 float32 sRGB in [0, 1] (EXIF orientation applied, alpha dropped)."""
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im).convert("RGB")
            return np.asarray(im, dtype=np.float32) / 255.0
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read photo {str(path)!r}: {exc}", str(path)) from exc


def list_photos(folder: str | Path) -> list[Path]:
    """All .jpg/.jpeg/.png files directly in ``folder`` (case-insensitive suffix), sorted by name."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"photo folder {str(root)!r} does not exist", str(root))
    return sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)


def photo_sides(paths: list[Path]) -> list[int]:
    """Each photo's shorter side in px (from its header), 0 where it cannot be read."""
    sides = []
    for p in paths:
        try:
            with Image.open(p) as im:
                sides.append(min(im.size))
        except (OSError, ValueError, Image.DecompressionBombError):
            sides.append(0)
    return sides


def photos_for(paths: list[Path], sides: list[int], size: int) -> list[Path]:
    """The photos a ``size`` crop is cut from: those whose shorter side is ≥ ``MIN_SIDE_FRAC`` × size
    (large crops of small photos would be mostly mirror images), or all when there are none."""
    big = [p for p, s in zip(paths, sides, strict=True) if s >= MIN_SIDE_FRAC * size]
    return big or paths


def random_crop(photo: np.ndarray, size: int | tuple[int, int], rng: np.random.Generator,
                max_downscale: float = 3.0) -> np.ndarray:
    """A random ``size`` crop (int or (h, w)) after a random log-uniform downscale of up to
    ``max_downscale`` (never below the crop size), so object scale varies; small photos are mirrored."""
    ch, cw = (size, size) if isinstance(size, (int, np.integer)) else (int(size[0]), int(size[1]))
    if ch < 1 or cw < 1:
        raise InputError(f"crop size must be positive, got {size}", size)
    x = np.asarray(photo, dtype=np.float32)
    h, w = x.shape[:2]
    limit = min(max_downscale, h / ch, w / cw)
    if limit > 1.0:
        f = float(np.exp(rng.uniform(0.0, np.log(limit))))
        nh, nw = max(ch, int(round(h / f))), max(cw, int(round(w / f)))
        if (nh, nw) != (h, w):
            x = cv2.resize(x, (nw, nh), interpolation=cv2.INTER_AREA)
            h, w = nh, nw
    while h < ch or w < cw:
        ph, pw = min(max(ch - h, 0), h - 1), min(max(cw - w, 0), w - 1)
        if h == 1 or w == 1:
            x = np.pad(x, ((0, max(ch - h, 0)), (0, max(cw - w, 0)), (0, 0)), mode="edge")
        else:
            x = np.pad(x, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)), mode="reflect")
        h, w = x.shape[:2]
    y0 = int(rng.integers(0, h - ch + 1))
    x0 = int(rng.integers(0, w - cw + 1))
    return np.ascontiguousarray(x[y0 : y0 + ch, x0 : x0 + cw])
