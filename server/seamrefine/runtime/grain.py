"""Grain continued across the seam: a fill cleaner than the photo gets the photo's grain, a noisier
fill is denoised down to it.

A generative fill is usually cleaner than the photo it lands in (generated noise-free, denoised by the
VAE, upscaled), sometimes noisier. The texture stage scales the fill's detail bands, which cannot
create grain where there is none, and its change is capped for safety. This stage measures the
**noise floor** on each side of the edge: the Immerkær (1996) noise estimate per local window
(``local_noise``), and of those windows a low percentile (``PERCENTILE``) in the ring just inside and
just outside the edge (``RING``), leaving out windows with a clipped pixel (clipping erases grain).
Texture and edges raise a window's estimate but not the floor, so floors compare the sensor noise (or
its absence) rather than the content. A learned gate
(``seam_gate.GateModel`` on ``GRAIN_FEATURES``, weights in ``models/grain_gate.json``, trained by
``python -m seamrefine_train train_grain_gate``) decides whether the difference is the fill's: it sees
the floors' log ratio across the edge at three percentiles, the same beyond the rings (``CONTROL``),
how much each side's floor varies away from the edge, how consistently the contour's cells
(``CELL`` px, counted from the fill's corner so that they do not move with the crop) agree, the
brightness on each side (shot noise grows with it) and how much of each ring was clipped.

Where the gate opens:

* **too clean**: Gaussian grain per channel with ``STRENGTH``² of the variance the fill lacks (floor
  outside² − floor inside²), split into a part shared by the channels and an independent part in the
  proportion the photo's own grain shows (its luma floor against its channel floors); none on
  clipped pixels;
* **too noisy**: non-local means (OpenCV) on the fill, blended back so that the fill keeps the photo's
  floor rather than none (the photo has grain; a fully denoised fill would be too clean again).

Both are sized by measuring the fill's edge ring again with them applied (``grain_change``), come in
over ``RAMP`` px inside the edge and are scaled by the gate's confidence. The grain is drawn from a
fixed seed: the same input gives the same output. Where this stage acts, the refiner lets the
classical result stand without the network, which would smooth the grain away.

Pure numpy/OpenCV on H×W×3 float32 sRGB and H×W float32 masks in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..imaging.imagemath import check_stage_input, context_box
from . import seam_gate
from .ring_profile import signed_distance
from .seam_gate import GateModel

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "models" / "grain_gate.json"
WINDOW = 7  # px: the local windows whose noise estimates the floors are taken over
PERCENTILE = 25  # the floor: this percentile of the windows' estimates in a ring
RING = (2, 16)  # px: the rings compared, 2 < d ≤ 16 inside and outside the edge
CONTROL = (16, 30)  # px: the rings beyond them
CELL = 32  # px: cells of the contour whose floors are compared one by one
CELL_MIN = 30  # ring pixels a cell needs on each side
STRENGTH = 0.6  # share of the missing grain's σ added: grain is not the photo's own realisation, so
# band PSNR pays for it (0.6 costs 1.3 dB where a fill lost all its grain, 0.8 costs 2.1 dB)
RAMP = 3.0  # px inside the edge over which the change comes in
SEED = 20261130
RATIO_MIN = 0.5  # floors closer than this (|log ratio|) leave nothing to match: the gate is not asked.
# On the 2000 held-out gate cases no logit below it came within 2.2 of the ramp start (the least |log
# ratio| the gate opened on was 1.74)
_FLOOR = 2e-4  # added to every floor: 8-bit quantisation makes smaller ones meaningless
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_LUMA_SQ = float((_LUMA**2).sum())  # the luma variance of unit i.i.d. noise per channel
# the float32 values just inside (1/255, 254/255): pixels outside count as clipped
_CLIP_LO = float(np.nextafter(np.float32(1 / 255), np.float32(1)))
_CLIP_HI = float(np.nextafter(np.float32(254 / 255), np.float32(0)))
_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)

GRAIN_FEATURES = (
    "log_ratio",  # r = log(floor_in / floor_out) at PERCENTILE in the rings at the edge
    "abs_ratio",  # |r|
    "low_ratio",  # sign(r) · the same at the 10th percentile
    "mid_ratio",  # sign(r) · the same at the median (texture weighs in more)
    "beyond",  # sign(r) · the same in the rings beyond (CONTROL): the whole fill differs, or its edge
    "control_in",  # |log(floor in the edge ring / floor beyond it)| inside: how much the fill's floor varies
    "control_out",  # the same outside, for the photo
    "cell_agree",  # share of the contour's cells whose ratio has the sign of r
    "cell_low",  # 20th percentile of the cells' ratios times sign(r): > 0 when nearly all agree
    "cell_spread",  # MAD of the cells' ratios
    "log_cells",  # log(1 + cells compared)
    "brightness",  # log of the mean luma inside over outside (shot noise grows with brightness)
    "level_out",  # log floor outside: how much grain there is to match at all
    "level_in",  # log floor inside
    "clipped_in",  # share of the inner ring's windows that hold a clipped pixel (no noise survives there)
    "clipped_out",  # the same outside
)


def local_noise(gray: np.ndarray) -> np.ndarray:
    """Immerkær noise σ per ``WINDOW``² window of ``gray`` (H×W float32): the window's mean |I ⊛ N|
    times √(π/2)/6, N the Laplacian-difference kernel that annihilates planes (for i.i.d. Gaussian noise
    of σ the response is N(0, 36σ²), whose mean absolute value is 6σ·√(2/π))."""
    r = np.abs(cv2.filter2D(gray.astype(np.float32), -1, _IMMERKAER, borderType=cv2.BORDER_REFLECT))
    return cv2.blur(r, (WINDOW, WINDOW), borderType=cv2.BORDER_REFLECT) * np.float32(np.sqrt(np.pi / 2) / 6)


def clipped_windows(x: np.ndarray) -> np.ndarray:
    """H×W bool: the ``WINDOW``² windows holding a pixel with a channel at ≤ 1/255 or ≥ 254/255, where
    clipping erased the grain (such windows would read as too clean)."""
    hit = cv2.bitwise_not(cv2.inRange(x, (_CLIP_LO,) * 3, (_CLIP_HI,) * 3))
    return cv2.dilate(hit, np.ones((WINDOW + 2, WINDOW + 2), np.uint8)) > 0


def _unclipped(ring: np.ndarray, clipped: np.ndarray) -> np.ndarray:
    """The flat pixel indices ``ring`` without those in clipped windows (``clipped``: per index),
    unless that leaves fewer than 50."""
    keep = ring[~clipped]
    return keep if keep.size >= 50 else ring


def _log_ratio(a: float, b: float) -> float:
    return float(np.log((a + _FLOOR) / (b + _FLOOR)))


def _cell_floors(s: np.ndarray, ring: np.ndarray, origin: tuple[int, int],
                 cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per ``CELL``² cell (counted from ``origin``) holding pixels of ``ring`` (flat indices into the
    H×W ``s``): its id, the ``PERCENTILE`` (lower) of the ring's ``s`` in it, and its pixel count."""
    w = s.shape[1]
    ids = ((ring // w - origin[0]) // CELL) * cols + (ring % w - origin[1]) // CELL
    vals = s.reshape(-1)[ring]
    # by cell, then by value within it: one sort of the cell id plus the value scaled into [0, 1)
    scale = float(vals.max()) * 1.0001 + 1e-30
    key = np.sort(ids + vals.astype(np.float64) / scale)
    ids = np.floor(key).astype(np.int64)
    vals = (key - ids) * scale
    cells, start, count = np.unique(ids, return_index=True, return_counts=True)
    return cells, vals[start + (count - 1) * PERCENTILE // 100], count


def _cell_ratios(s: np.ndarray, inner: np.ndarray, outer: np.ndarray, origin: tuple[int, int]) -> np.ndarray:
    """log(floor_in / floor_out) per ``CELL``² cell with ≥ ``CELL_MIN`` ring pixels on each side
    (``inner``, ``outer``: flat pixel indices). The cells start ``CELL`` px above and left of
    ``origin`` (the fill's corner), so they do not move with the crop the fill is measured in."""
    origin = (origin[0] - CELL, origin[1] - CELL)
    cols = (s.shape[1] - origin[1]) // CELL + 1
    c_in, f_in, n_in = _cell_floors(s, inner, origin, cols)
    c_out, f_out, n_out = _cell_floors(s, outer, origin, cols)
    _, i, j = np.intersect1d(c_in, c_out, assume_unique=True, return_indices=True)
    ok = np.minimum(n_in[i], n_out[j]) >= CELL_MIN
    return np.log((f_in[i][ok].astype(np.float64) + _FLOOR) / (f_out[j][ok] + _FLOOR))


@dataclass(frozen=True)
class GrainMeasure:
    """What ``measure_grain`` found: the gate's features and the floors the change is made from."""

    features: tuple[float, ...]
    ratio: float  # log(floor_in / floor_out), luma
    floors: tuple[float, float]  # the luma floors (inside, outside) in the edge rings
    inner: np.ndarray  # flat pixel indices of the edge ring inside, without clipped windows
    outer: np.ndarray  # the same outside


def channel_floors(x: np.ndarray, m: GrainMeasure) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-channel floors (3,) in ``m``'s inner and outer rings of ``x``, and the share of the photo's
    grain variance common to the channels (what the grain added to a too-clean fill is drawn with)."""
    h, w = x.shape[:2]
    both = np.concatenate([m.inner, m.outer])
    ys, xs = both // w, both % w
    pad = RING[1] + WINDOW
    y0, x0 = max(int(ys.min()) - pad, 0), max(int(xs.min()) - pad, 0)
    crop = x[y0:int(ys.max()) + 1 + pad, x0:int(xs.max()) + 1 + pad]
    cw = crop.shape[1]
    inner = (m.inner // w - y0) * cw + (m.inner % w - x0)
    outer = (m.outer // w - y0) * cw + (m.outer % w - x0)
    ch_in, ch_out = np.zeros(3), np.zeros(3)
    for c in range(3):
        sc = local_noise(crop[..., c]).reshape(-1)
        ch_in[c], ch_out[c] = np.percentile(sc[inner], PERCENTILE), np.percentile(sc[outer], PERCENTILE)
    # unit-variance grain a·shared + b·own per channel has luma variance a² + _LUMA_SQ·b² (a² + b² = 1)
    rel = (m.floors[1] / max(float(np.sqrt(np.mean(ch_out**2))), 1e-6)) ** 2
    return ch_in, ch_out, float(np.clip((rel - _LUMA_SQ) / (1.0 - _LUMA_SQ), 0.0, 1.0))


def measure_grain(x: np.ndarray, inside: np.ndarray, sd: np.ndarray | None = None,
                  ratio_min: float = 0.0) -> GrainMeasure | None:
    """The noise floors either side of the fill's edge and the gate's features; None when a ring has
    fewer than 50 pixels. x: H×W×3 float32 sRGB; inside: H×W bool (the fill); sd: its signed distance.
    Where the floors' |log ratio| is below ``ratio_min`` the features are not computed (empty)."""
    sd = signed_distance(inside) if sd is None else sd
    near = np.flatnonzero((np.abs(sd) <= CONTROL[1]).reshape(-1))  # every ring lies within this reach
    d = sd.reshape(-1)[near]
    a, b = RING
    inner, outer = near[(d > a) & (d <= b)], near[(d < -a) & (d >= -b)]
    if min(inner.size, outer.size) < 50:
        return None
    deep, far = near[(d > CONTROL[0]) & (d <= CONTROL[1])], near[(d < -CONTROL[0]) & (d >= -CONTROL[1])]
    w = sd.shape[1]
    corner = (int(inner.min()) // w, int((inner % w).min()))  # the edge ring's top-left
    luma = x @ _LUMA
    s = local_noise(luma)
    flat = s.reshape(-1)
    clipped = clipped_windows(x).reshape(-1)
    clip_in, clip_out = float(clipped[inner].mean()), float(clipped[outer].mean())
    inner, outer, deep, far = (_unclipped(r, clipped[r]) for r in (inner, outer, deep, far))
    f_in, f_out = (np.percentile(flat[r], (10, PERCENTILE, 50)) for r in (inner, outer))
    r = _log_ratio(f_in[1], f_out[1])
    floors = (float(f_in[1]), float(f_out[1]))
    if abs(r) < ratio_min:
        return GrainMeasure((), r, floors, inner, outer)
    sign = 1.0 if r >= 0 else -1.0
    fd, ff = (f_in[1], f_out[1])
    if deep.size >= 50 and far.size >= 50:
        fd, ff = (float(np.percentile(flat[ring], PERCENTILE)) for ring in (deep, far))
    cells = _cell_ratios(s, inner, outer, corner)
    if cells.size:
        cell = (float((np.sign(cells) == sign).mean()), float(np.percentile(sign * cells, 20)),
                float(np.median(np.abs(cells - np.median(cells)))))
    else:
        cell = (0.5, 0.0, 1.0)
    y = luma.reshape(-1)
    features = (
        r, abs(r), sign * _log_ratio(f_in[0], f_out[0]), sign * _log_ratio(f_in[2], f_out[2]),
        sign * _log_ratio(fd, ff), abs(_log_ratio(f_in[1], fd)), abs(_log_ratio(f_out[1], ff)), *cell,
        float(np.log1p(cells.size)), float(np.log((y[inner].mean() + 0.02) / (y[outer].mean() + 0.02))),
        float(np.log(f_out[1] + _FLOOR)), float(np.log(f_in[1] + _FLOOR)), clip_in, clip_out,
    )
    return GrainMeasure(tuple(float(v) for v in features), r, floors, inner, outer)


def _ramp(sd: np.ndarray, conf: float) -> np.ndarray:
    return (conf * np.clip((sd - 0.5) / RAMP, 0.0, 1.0)).astype(np.float32)[..., None]


def _floor(x: np.ndarray, ring: np.ndarray) -> float:
    """The luma noise floor of ``x`` over ``ring`` (flat pixel indices): ``PERCENTILE`` of
    ``local_noise``."""
    return float(np.percentile(local_noise(x @ _LUMA).reshape(-1)[ring], PERCENTILE))


def target_floor(m: GrainMeasure) -> float:
    """The luma floor the fill is brought to: the photo's when denoising, and when adding grain the
    fill's own plus ``STRENGTH``² of the variance it lacks."""
    f_in, f_out = m.floors
    if m.ratio >= 0:
        return f_out
    return float(np.sqrt(f_in**2 + STRENGTH**2 * max(f_out**2 - f_in**2, 0.0)))


def grain_change(x: np.ndarray, sd: np.ndarray, m: GrainMeasure, conf: float) -> np.ndarray:
    """The change that gives the fill (sd > 0) the photo's noise floor, times ``conf`` (H×W×3).

    Its size is calibrated on the fill's own edge ring: the luma floor is measured again with the
    change applied once at a first guess, and the guess rescaled so that floor² lands on
    ``target_floor``² (a floor² is nearly linear in the variance of noise added to or removed from
    independent content)."""
    change = np.zeros_like(x)
    if conf <= 0.0 or not (sd > 0).any():
        return change
    win = context_box(sd > 0, 8, 0.0).slices  # the fill's box + 8 px
    crop, sdw = x[win], sd[win]
    ring = np.flatnonzero(((sdw > RING[0]) & (sdw <= RING[1])).reshape(-1))
    if not ring.size:
        return change
    ring = _unclipped(ring, clipped_windows(crop).reshape(-1)[ring])
    f_in, target = _floor(crop, ring), target_floor(m)
    ch_in, ch_out, shared = channel_floors(x, m)
    if m.ratio < 0:  # too clean: add the grain it lacks
        rng = np.random.default_rng(SEED)
        h, w = sdw.shape
        common = rng.standard_normal((h, w, 1), dtype=np.float32)
        own = rng.standard_normal((h, w, 3), dtype=np.float32)
        sigma = np.sqrt(np.maximum(ch_out**2 - ch_in**2, 0.0)).astype(np.float32)
        unit = (np.float32(np.sqrt(shared)) * common + np.float32(np.sqrt(1.0 - shared)) * own) * sigma
        # no grain on clipped pixels: the photo's have none, and clipping it would shift their mean
        unit *= ((crop > 1 / 255) & (crop < 254 / 255)).all(axis=2)[..., None]
        delta = unit * (sdw > 0)[..., None]
        f_one = _floor(np.clip(crop + delta, 0.0, 1.0), ring)
        scale = np.sqrt(max(target**2 - f_in**2, 0.0) / max(f_one**2 - f_in**2, 1e-12))
        delta = unit * np.float32(min(scale, 3.0))
    else:  # too noisy: non-local means, blended back to keep the photo's floor
        excess = float(np.sqrt(max(float(np.mean(ch_in**2 - ch_out**2)), 0.0)))
        h = max(1.0, 255.0 * excess)
        u8 = np.clip(np.rint(crop * 255.0), 0, 255).astype(np.uint8)
        denoised = cv2.fastNlMeansDenoisingColored(u8, None, h, h, 5, 15).astype(np.float32) / 255.0
        f_zero = _floor(denoised, ring)
        keep = np.sqrt(np.clip((target**2 - f_zero**2) / max(f_in**2 - f_zero**2, 1e-12), 0.0, 1.0))
        delta = np.float32(1.0 - keep) * (denoised - crop)
    change[win] = _ramp(sdw, conf) * delta
    return change


def load_gate(path: Path | str = DEFAULT_PATH) -> GateModel:
    """The grain gate in ``path`` (cached); ModelError when missing or malformed."""
    return seam_gate.load(path, GRAIN_FEATURES, "grain gate")


def match_grain(x: np.ndarray, mask: np.ndarray, sd: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """The change that continues the photo's grain into the fill ``mask`` of ``x`` (H×W×3 float32
    sRGB, mask H×W in [0, 1]), and info (gate, the floors' log ratio). Zero where the gate is closed.
    ``sd``: the fill's signed distance, when the caller has measured it already. Raises
    DTypeError/ShapeError on bad input."""
    check_stage_input(x, mask, "match_grain")
    inside = mask >= 0.5
    if not inside.any():
        inside = mask > 0
    if not inside.any() or inside.all():
        return np.zeros_like(x), {"gate": 0.0}
    if sd is None:
        sd = signed_distance(inside)
    m = measure_grain(x, inside, sd, RATIO_MIN)
    if m is None:
        return np.zeros_like(x), {"gate": 0.0}
    if not m.features:
        return np.zeros_like(x), {"gate": 0.0, "ratio": m.ratio}
    conf = load_gate().confidence(np.asarray(m.features))
    info = {"gate": conf, "ratio": m.ratio}
    return grain_change(x, sd, m, conf), info
