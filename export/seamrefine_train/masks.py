"""Random selection shapes and paste alphas for artifact synthesis.

A synthetic case has three nested regions, all H×W:

* ``shape`` (bool): the region the "generative fill" produced; object-like blob, brush stroke or
  rectangle covering a controlled fraction of the image.
* ``alpha`` (float32 in [0, 1]): how the generated pixels were pasted back. It is ``shape`` grown or
  shrunk by a few pixels, with a hard or feathered (smoothstep ramp) edge, optionally plus a weak
  "leak" ramp outside it. Its support never extends more than ``MAX_ALPHA_REACH`` px beyond ``shape``.
* ``mask`` (float32 in [0, 1]): what the user selects for Seam Refine: ``shape`` dilated by a few px,
  hard or softly feathered. ``mask`` ⊇ ``shape``, so the paste alpha lies inside the 16 px band.
"""

from __future__ import annotations

import cv2
import numpy as np
from seamrefine.imaging.imagemath import distance_to_region

MASK_KINDS = ("object", "stroke", "rect")
MAX_ALPHA_REACH = 15  # px beyond `shape`; must stay below the band width used for training (16)
SD_RANGE = 20  # signed distances are exact up to this many px; every use stays within it


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def signed_distance(region: np.ndarray, max_dist: int = SD_RANGE) -> np.ndarray:
    """Signed Euclidean distance (px) to the edge of boolean ``region``: > 0 inside, < 0 outside.

    The edge sits half way between an inside and an outside pixel, so a one-pixel step gives ±0.5.
    Exact up to ``max_dist`` px, saturating beyond (imagemath's transform: cv2's precise transform is
    not bit-reproducible from run to run).
    """
    d_in = distance_to_region(~region, max_dist)
    d_out = distance_to_region(region, max_dist)
    return np.where(region, d_in - 0.5, 0.5 - d_out).astype(np.float32)


def _smooth_threshold(canvas: np.ndarray, sigma: float) -> np.ndarray:
    """Round off a drawn shape: Gaussian-blur by ``sigma`` px and threshold at half. Wide blurs run at
    reduced resolution (a factor ~sigma/2), which only changes the outline by a fraction of a pixel."""
    h, w = canvas.shape
    f = int(min(sigma / 2.0, h / 8.0, w / 8.0))
    if f < 2:
        return cv2.GaussianBlur(canvas, (0, 0), sigma) > 127
    small = cv2.resize(canvas, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / f)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR) > 127


def _object(h: int, w: int, area: float, rng: np.random.Generator, touch: bool) -> np.ndarray:
    """Union of 1–3 star-shaped random polygons/ellipses, smoothed into an organic blob."""
    canvas = np.zeros((h, w), np.uint8)
    parts = int(rng.integers(1, 4))
    weights = rng.dirichlet(np.full(parts, 2.0))
    cy, cx = rng.uniform(0.15, 0.85) * h, rng.uniform(0.15, 0.85) * w
    if touch:
        side = int(rng.integers(4))
        cy, cx = [(0.02 * h, cx), (0.98 * h, cx), (cy, 0.02 * w), (cy, 0.98 * w)][side]
    for k in range(parts):
        radius = np.sqrt(area * weights[k] * h * w / np.pi)
        if touch:
            radius *= 1.4  # about half of a blob centred on the border falls outside
        py = cy + (rng.normal(0, 0.6 * radius) if k else 0.0)
        px = cx + (rng.normal(0, 0.6 * radius) if k else 0.0)
        if rng.random() < 0.4:
            axes = (max(1, int(radius * rng.uniform(0.6, 1.5))), max(1, int(radius * rng.uniform(0.6, 1.5))))
            cv2.ellipse(canvas, (int(px), int(py)), axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)
        else:
            n = int(rng.integers(5, 13))
            ang = np.sort(rng.uniform(0, 2 * np.pi, n))
            rad = radius * rng.uniform(0.55, 1.35, n)
            pts = np.stack([px + rad * np.cos(ang), py + rad * np.sin(ang)], 1).astype(np.int32)
            cv2.fillPoly(canvas, [pts], 255)
    return _smooth_threshold(canvas, max(1.0, 0.12 * np.sqrt(area * h * w)))


def _stroke(h: int, w: int, area: float, rng: np.random.Generator, touch: bool) -> np.ndarray:
    """Thick random polylines (brush strokes) added until the target area is reached."""
    canvas = np.zeros((h, w), np.uint8)
    side = min(h, w)
    thick = int(max(3, rng.uniform(0.05, 0.16) * side))
    target = area * h * w
    for _ in range(6):
        n = int(rng.integers(2, 6))
        y, x = rng.uniform(0, h), rng.uniform(0, w)
        if touch and rng.random() < 0.5:
            y = 0.0 if rng.random() < 0.5 else float(h - 1)
        pts = [(x, y)]
        heading = rng.uniform(0, 2 * np.pi)
        for _ in range(n):
            heading += rng.normal(0, 0.9)
            step = rng.uniform(0.15, 0.45) * side
            x, y = x + step * np.cos(heading), y + step * np.sin(heading)
            pts.append((x, y))
        arr = np.array(pts, np.int32).reshape(-1, 1, 2)
        cv2.polylines(canvas, [arr], False, 255, thick, cv2.LINE_AA)
        if np.count_nonzero(canvas > 127) >= target:
            break
    return _smooth_threshold(canvas, max(1.0, 0.15 * thick))


def _rect(h: int, w: int, area: float, rng: np.random.Generator, touch: bool) -> np.ndarray:
    """Axis-aligned rectangle of (close to) the requested area; always within bounds."""
    aspect = _loguniform(rng, 0.4, 2.5)
    rh = int(np.clip(round(np.sqrt(area * h * w * aspect)), 1, h))
    rw = int(np.clip(round(area * h * w / rh), 1, w))
    y0 = int(rng.integers(0, h - rh + 1))
    x0 = int(rng.integers(0, w - rw + 1))
    if touch:
        if rng.random() < 0.5:
            y0 = 0 if rng.random() < 0.5 else h - rh
        else:
            x0 = 0 if rng.random() < 0.5 else w - rw
    out = np.zeros((h, w), bool)
    out[y0 : y0 + rh, x0 : x0 + rw] = True
    return out


_DRAW = {"object": _object, "stroke": _stroke, "rect": _rect}


def random_shape(h: int, w: int, rng: np.random.Generator, cfg) -> tuple[np.ndarray, dict]:
    """A boolean region of kind object/stroke/rect whose area fraction lies in ``cfg.area_range``
    (``cfg``: a ``synthesis.SynthConfig``).

    Shapes outside the range are redrawn (a few attempts), then a rectangle of the target area is the
    fallback, so the result is never empty and never full.
    """
    kinds = list(cfg.mask_kind_weights)
    p = np.array([cfg.mask_kind_weights[k] for k in kinds], float)
    kind = kinds[int(rng.choice(len(kinds), p=p / p.sum()))]
    lo, hi = cfg.area_range
    for attempt in range(cfg.mask_attempts):
        area = rng.uniform(lo, hi)
        touch = bool(rng.random() < cfg.p_touch_border)
        shape = _DRAW[kind](h, w, area, rng, touch)
        frac = float(shape.mean())
        if lo <= frac <= hi:
            return shape, {"kind": kind, "area": frac, "touch_border": touch, "attempts": attempt + 1}
    area = rng.uniform(lo, hi)
    shape = _rect(h, w, area, rng, False)
    frac = float(shape.mean())
    if not lo <= frac <= hi:  # tiny images: force a valid fraction by growing rows
        shape[:, : max(1, int(np.ceil(lo * w)))] = True
        frac = float(shape.mean())
    return shape, {"kind": "rect", "area": frac, "touch_border": False, "attempts": cfg.mask_attempts + 1}


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


def paste_alpha_and_mask(
    shape: np.ndarray, rng: np.random.Generator, cfg, allow_leak: bool = True
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Paste alpha (hard/feathered, grown/shrunk, optional weak leak) and the user's selection mask;
    ``cfg`` is a ``synthesis.SynthConfig``.

    alpha = smoothstep((sd + offset) / feather + ½) with sd the signed distance to ``shape``; hard edges
    use feather 0. The optional leak raises alpha to at least ``leak · smoothstep(1 − d/leak_width)``
    where d is the distance outside the pasted alpha's support: a weak version of the fill's colour/tone
    spilling into a thin ring, as when the generator's colour drift is feathered far out. Everything
    stays within MAX_ALPHA_REACH px of ``shape``, hence where ``band_weights(mask, 16, 8) == 1``.
    """
    sd = signed_distance(shape)
    lo, hi = cfg.paste_offset_range
    offset = int(rng.integers(lo, hi + 1))
    hard = bool(rng.random() < cfg.p_hard_edge)
    feather = 0.0 if hard else float(rng.uniform(*cfg.feather_range))
    s = sd + offset
    alpha = (s > 0).astype(np.float32) if feather < 1.0 else _smoothstep(s / feather + 0.5)
    leak = 0.0
    leak_width = 0.0
    if allow_leak and rng.random() < cfg.p_leak:
        leak = float(rng.uniform(*cfg.leak_strength_range))
        room = MAX_ALPHA_REACH - 0.5 - (offset + feather / 2.0)
        leak_width = float(max(1.0, min(rng.uniform(*cfg.leak_width_range), room)))
        edge = s + feather / 2.0  # > 0 on the support of the pasted alpha
        alpha = np.maximum(alpha, leak * _smoothstep(1.0 + edge / leak_width))
    alpha[sd < -MAX_ALPHA_REACH] = 0.0
    dil = int(rng.integers(cfg.user_dilate_range[0], cfg.user_dilate_range[1] + 1))
    if rng.random() < cfg.p_soft_user_mask:
        soft = float(rng.uniform(2.0, 8.0))
        mask = _smoothstep((sd + dil) / soft + 0.5)
        mask[sd >= 0] = 1.0
    else:
        soft = 0.0
        mask = (sd + dil > 0).astype(np.float32)
    if (mask > 0).all():  # tiny images: growing the selection must not select everything
        dil, soft, mask = 0, 0.0, shape.astype(np.float32)
    params = {
        "edge": "hard" if feather < 1.0 else "feathered",
        "feather": feather,
        "paste_offset": offset,
        "leak": leak,
        "leak_width": leak_width,
        "mask_dilate": dil,
        "mask_soft": soft,
    }
    return alpha.astype(np.float32), mask.astype(np.float32), params
