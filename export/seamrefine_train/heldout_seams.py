"""Held-out colour seams: made unlike the training synthesis, to check that the refiner generalises.

    seam-refine bench --seams heldout [--photos DIR] ...

The private benchmark judges the model on other photos *and other seams*, while every trainer and the
benchmark's own families draw their seams from ``synthesis`` (affine jitters blended linearly or by a
soft map, smoothstep feathers). These families share none of that:

* ``jitter_hsv``: torchvision-style ColorJitter with all four components on, in a random order, each
  clamped to [0, 1], the hue turned in HSV (not an affine map);
* ``exposure``: an exposure change and a white balance in linear light (a power curve in sRGB);
* ``gamma``: a gamma curve, per channel or on all three alike;
* ``radial``: a ``jitter_hsv`` shift fading out from a point in the fill (a drift no plane follows);
* ``clean``: the same selections on untouched photos.

The fill is pasted with a Gaussian-blurred alpha (σ 0 / 1 / 2 / 4 px; the synthesis feathers with a
smoothstep), and the selection either hugs the paste (where alpha ≥ ½) or is the shape grown by 2–6 px.
Randomness comes from ``np.random.default_rng([seed, index, STREAM])`` per case.
"""

from __future__ import annotations

import cv2
import numpy as np
from seamrefine.errors import InputError
from seamrefine.imaging import imagemath

from . import baselines, masks, synthesis

FAMILIES = ("clean", "jitter_hsv", "exposure", "gamma", "radial")
COLOUR = FAMILIES[1:]
STREAM = 4545  # the per-case stream's tag, apart from the synthesis's [seed, index]
SIGMAS = (0.0, 1.0, 2.0, 4.0)  # px: the paste alpha's Gaussian blur (0: a hard edge)
GROW = (2, 6)  # px: how far a grown selection reaches beyond the shape
AREA = (0.05, 0.4)  # of the crop: the fill's area
LUMA = np.array([0.299, 0.587, 0.114], np.float32)
SRGB_GAMMA = 2.2


def brightness(x: np.ndarray, b: float) -> np.ndarray:
    """x·(1 + b), clamped."""
    return np.clip(x * (1.0 + b), 0.0, 1.0)


def contrast(x: np.ndarray, c: float) -> np.ndarray:
    """(x − m)(1 + c) + m around the image's mean luma m, clamped."""
    m = float((x @ LUMA).mean())
    return np.clip((x - m) * (1.0 + c) + m, 0.0, 1.0)


def saturation(x: np.ndarray, s: float) -> np.ndarray:
    """grey + (x − grey)(1 + s) with grey the pixel's luma, clamped."""
    grey = (x @ LUMA)[..., None]
    return np.clip(grey + (x - grey) * (1.0 + s), 0.0, 1.0)


def hue(x: np.ndarray, turn: float) -> np.ndarray:
    """The HSV hue turned by ``turn`` of a full circle."""
    hsv = cv2.cvtColor(np.ascontiguousarray(x, np.float32), cv2.COLOR_RGB2HSV)
    hsv[..., 0] = np.mod(hsv[..., 0] + 360.0 * turn, 360.0)
    return np.clip(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB), 0.0, 1.0)


def exposure(x: np.ndarray, stops: float, white: np.ndarray) -> np.ndarray:
    """``stops`` of exposure and per-channel ``white`` gains applied in linear light (sRGB as a pure
    power ``SRGB_GAMMA``), clamped."""
    linear = np.power(np.clip(x, 0.0, 1.0), SRGB_GAMMA) * (2.0 ** stops) * np.asarray(white, np.float32)
    return np.power(np.clip(linear, 0.0, 1.0), 1.0 / SRGB_GAMMA)


def gamma(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """x ** g per channel."""
    return np.power(np.clip(x, 0.0, 1.0), np.asarray(g, np.float32))


def _signed(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.choice([-1.0, 1.0]) * rng.uniform(lo, hi))


def jitter_hsv(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """All four ColorJitter components, visible, in a random order (torchvision's way)."""
    p = {"brightness": _signed(rng, 0.04, 0.2), "contrast": _signed(rng, 0.04, 0.2),
         "saturation": _signed(rng, 0.05, 0.3), "hue": _signed(rng, 0.005, 0.04)}
    ops = {"brightness": brightness, "contrast": contrast, "saturation": saturation, "hue": hue}
    order = [list(ops)[i] for i in rng.permutation(4)]
    for name in order:
        x = ops[name](x, p[name])
    return x, {**p, "order": order}


def _draw_exposure(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    stops, white = _signed(rng, 0.1, 0.5), 1.0 + rng.uniform(-0.06, 0.06, 3)
    return exposure(x, stops, white), {"stops": stops, "white": white.tolist()}


def _draw_gamma(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    g = np.where(rng.random(3) < 0.5, rng.uniform(0.8, 0.93, 3), rng.uniform(1.07, 1.25, 3))
    if rng.random() < 0.5:
        g[:] = g[0]
    return gamma(x, g), {"gamma": g.tolist()}


def _draw_radial(x: np.ndarray, rng: np.random.Generator, shape: np.ndarray) -> tuple[np.ndarray, dict]:
    shifted, p = jitter_hsv(x, rng)
    ys, xs = np.nonzero(shape)
    k = int(rng.integers(len(ys)))
    yy, xx = np.mgrid[0 : shape.shape[0], 0 : shape.shape[1]]
    r = np.hypot(yy - ys[k], xx - xs[k])
    t = np.clip(1.0 - 0.8 * r / (r[shape].max() + 1.0), 0.0, 1.0)[..., None]
    return x + t * (shifted - x), {**p, "centre": (int(ys[k]), int(xs[k]))}


def make_case(crop: np.ndarray, seed: int, index: int, family: str) -> synthesis.Case:
    """Held-out case ``index`` of ``family`` on ``crop`` (H×W×3 float32 in [0, 1]): a fill of
    ``AREA`` of the crop (``masks.random_shape``) pasted with a Gaussian-blurred alpha, and a
    hugging or grown selection; the composite equals the photo beyond the benchmark's band.
    InputError (naming it) for an unknown family."""
    if family not in FAMILIES:
        raise InputError(f"unknown held-out family {family!r}; known: {', '.join(FAMILIES)}", family)
    rng = np.random.default_rng([seed, index, STREAM])
    clean = np.clip(crop, 0.0, 1.0).astype(np.float32)
    h, w = clean.shape[:2]
    shape, shape_params = masks.random_shape(h, w, rng, synthesis.SynthConfig(area_range=AREA))
    sigma = float(rng.choice(SIGMAS))
    alpha = shape.astype(np.float32)
    if sigma > 0:
        alpha = cv2.GaussianBlur(alpha, (0, 0), sigma)
    grow = int(rng.integers(GROW[0], GROW[1] + 1)) if rng.random() < 0.5 else 0
    if grow:
        disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
        selection = cv2.dilate(shape.astype(np.uint8), disk) > 0
    else:  # hugging: the pixels pasted at least half
        selection = alpha >= 0.5
    mask = selection.astype(np.float32)
    if family == "clean":
        fake, params = clean, {}
    elif family == "radial":
        fake, params = _draw_radial(clean, rng, shape)
    else:
        draw = {"jitter_hsv": jitter_hsv, "exposure": _draw_exposure, "gamma": _draw_gamma}[family]
        fake, params = draw(clean, rng)
    composite = np.clip(clean + alpha[..., None] * (fake - clean), 0.0, 1.0)
    band = imagemath.band_weights(mask, baselines.BAND_WIDTH, baselines.BAND_FEATHER)  # what methods change
    composite = np.where(band[..., None] > 0, composite, clean).astype(np.float32)
    params = {"family": family, "seed": int(seed), "index": int(index), "mask": shape_params,
              "sigma": sigma, "grow": grow, **params}
    pasted = alpha if family != "clean" else np.zeros_like(alpha)
    return synthesis.Case(composite, mask, clean, family, params, pasted)
