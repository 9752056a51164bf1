"""Grain and sharpness continued across the seam: the fill's fine detail scaled to the photo's.

A generative fill is often softer (generated small and upscaled, a VAE round trip), cleaner (denoised)
or noisier than the photo around it. Its colour may match and the seam still shows as a change of
texture. Here the fill's two finest detail bands (``detail_bands``: x − G₁(x) and G₁(x) − G₂(x), G_σ a
Gaussian blur) are scaled by one gain per band, so that their energy in the ring just inside the edge
matches the ring just outside (``RING``: the rings the grain and sharpness metrics compare), and only
as far as the parallel rings beyond them (``CONTROL``) ask for the same: a fill that is softer or
noisier all through, not one whose edge alone was smeared (content cut off at the edge) or whose
texture changes with its content.

Texture really differs across many selections (a fill of sky on a field of grass), and then such a
gain does harm. So, as for colour, a learned gate (``seam_gate.GateModel`` on ``TEXTURE_FEATURES``,
weights in ``models/texture_gate.json``, trained by ``python -m seamrefine_train train_texture_gate``)
decides whether the mismatch is the fill's: it sees the mismatch across the edge per band, the same
ratios between parallel rings on each side (how much the content itself varies), and how consistent
the mismatch is around the contour (per cell of ``CELL`` px). Below its threshold nothing changes;
above it the change is scaled by the gate's confidence and never moves the band by more than
``CAP_DB`` PSNR (``imagemath.capped_strength``), so a gate that opens on a clean photo cannot spoil
it. The cap lifts (over ``CERTAIN_RAMP`` logit units) only beyond the gate's ``certain`` logit:
above every clean calibration case whose full change the cap had to hold back, with a margin.

Pure numpy/OpenCV on H×W×3 float32 sRGB and H×W float32 masks in [0, 1].
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np

from ..imaging.imagemath import capped_strength
from . import seam_gate
from .fill_runs import over_runs
from .ring_profile import signed_distance
from .seam_gate import GateModel

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "models" / "texture_gate.json"
SIGMAS = (1.0, 2.0)  # band k is G_{σ(k−1)}(x) − G_{σk}(x), with G_0(x) = x
RING = (2, 12)  # px: the rings compared, 2 < d ≤ 12 inside and outside the edge
CONTROL = (12, 22)  # px: the parallel rings beyond them, for the content's own variation
CELL = 32  # px: cells in which the mismatch's consistency around the contour is judged
GAIN_LIMITS = (0.7, 1.8)
RAMP = 3.0  # px inside the edge over which the gain comes in
CAP_DB = 46.0  # the change never moves the band (the mask + 16 px, feathered 8) further than this PSNR
CAP_BAND = (16, 8)
CERTAIN_RAMP = 0.5  # logit units beyond the gate's ``certain`` over which the cap lifts
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_EPS = 1e-4

TEXTURE_FEATURES = (
    "log_ratio_0",  # r₀ = log(E_out / E_in) of band 0 across the edge (the gain it asks for, squared)
    "log_ratio_1",  # r₁, the same for band 1
    "abs_ratio_0",  # |r₀|
    "abs_ratio_1",
    "excess_0",  # |r₀| − the larger of the two controls below: a jump the content does not make itself
    "excess_1",
    "deep_0",  # sign(r₀)·log(E_out / E_deep): the deep fill asks for the same gain (≈ |r₀|) or not (≈ 0)
    "deep_1",
    "control_in_0",  # |log(E_in / E_deep)| of band 0: how much the fill's own texture varies inward
    "control_out_0",  # |log(E_out / E_far)| of band 0: the same for the photo outward
    "control_in_1",
    "control_out_1",
    "cell_agree_0",  # share of cells whose band-0 ratio has the sign of the whole ring's
    "cell_low_0",  # 20th percentile of the cells' band-0 ratios times that sign: > 0 when nearly all agree
    "cell_spread_0",  # MAD of the cells' band-0 log ratios
    "cell_agree_1",
    "cell_low_1",
    "cell_spread_1",
    "log_cells",  # log of the number of cells compared
    "log_level",  # log band-0 RMS outside: how much grain there is to match at all
    "coarse_ratio_0",  # log(E_out / E_in) of the luma band G₂ − G₄ across the edge: a fill that is
    "coarse_ratio_1",  # only softer keeps its coarse bands (≈ 0), other content changes them; G₄ − G₈
    "coarse_abs_0",
    "coarse_abs_1",
)
COARSE_SIGMAS = (4.0, 8.0)  # luma bands G₂ − G₄ and G₄ − G₈, for the gate's features only


def detail_bands(x: np.ndarray) -> list[np.ndarray]:
    """The two finest detail bands of ``x`` (H×W×C or H×W float32): x − G₁(x) and G₁(x) − G₂(x)."""
    levels = _levels(x)
    return [a - b for a, b in pairwise(levels)]


def _levels(x: np.ndarray) -> list[np.ndarray]:
    """[x, G₁(x), G₂(x)] (``SIGMAS``): ``detail_bands`` are the differences of neighbours."""
    return [x, *(cv2.GaussianBlur(x, (0, 0), s, borderType=cv2.BORDER_REFLECT) for s in SIGMAS)]


def _energy(v2: np.ndarray) -> float:
    """Mean of the squared band values ``v2`` gathered at some pixels (NaN when there are none)."""
    return float(v2.mean()) if v2.size else float("nan")


def _squares_at(levels: list[np.ndarray], at: np.ndarray) -> list[np.ndarray]:
    """Per band, the squared differences of neighbouring ``levels`` at the flat indices ``at``."""
    values = [a.reshape(-1)[at] for a in levels]
    return [np.square(a - b) for a, b in pairwise(values)]


class _CellGrids:
    """The ``CELL``×``CELL`` cells that the inner and outer rings' pixels (flat indices ``inner``,
    ``outer`` of an image ``width`` px wide) fall in, for four placements of the cell grid: its origin
    at the rings' bounding box corner, or ``CELL`` / 2 px above it, left of it, or both. So the cells
    follow the selection, not the crop around it. The pixels are binned once in half-cells; each
    placement's cells are 2×2 blocks of them."""

    def __init__(self, inner: np.ndarray, outer: np.ndarray, width: int):
        half = CELL // 2
        (iy, ix), (oy, ox) = np.divmod(inner, width), np.divmod(outer, width)
        y0, x0 = min(iy.min(), oy.min()) - half, min(ix.min(), ox.min()) - half
        self.shape = ((max(iy.max(), oy.max()) - y0) // half + 1, (max(ix.max(), ox.max()) - x0) // half + 1)
        cols = self.shape[1]
        self.inner, self.outer = inner, outer
        self.of_in = ((iy - y0) // half) * cols + (ix - x0) // half
        self.of_out = ((oy - y0) // half) * cols + (ox - x0) // half
        self.n = self.shape[0] * cols
        # per placement, the cell of each half-cell: the first half-cell row (column) holds no ring
        # pixel, so skipping it places the grid at the rings' corner, keeping it CELL / 2 px above
        hr, hc = np.divmod(np.arange(self.n), cols)
        self.placements = []
        for sy in (1, 0):
            for sx in (1, 0):
                per_row = (cols - sx + 1) // 2
                cell = ((hr - sy) // 2) * per_row + (hc - sx) // 2
                cell[(hr < sy) | (hc < sx)] = -1
                self.placements.append((np.flatnonzero(cell >= 0), cell[cell >= 0], int(cell.max()) + 1))
        self.cnt_in = self._cells(np.bincount(self.of_in, minlength=self.n))
        self.cnt_out = self._cells(np.bincount(self.of_out, minlength=self.n))

    def _cells(self, half_sums: np.ndarray) -> list[np.ndarray]:
        """Per placement, the sums over its cells of the per-half-cell sums ``half_sums`` (flat)."""
        return [np.bincount(cell, half_sums[at], n) for at, cell, n in self.placements]

    def log_ratios(self, v2_in: np.ndarray, v2_out: np.ndarray) -> list[np.ndarray]:
        """Per placement, log(E_out / E_in) per cell holding ≥ 20 ring pixels on each side, of the
        squared band values ``v2_in`` at the inner ring's pixels and ``v2_out`` at the outer's."""
        s_in = self._cells(np.bincount(self.of_in, v2_in, self.n))
        s_out = self._cells(np.bincount(self.of_out, v2_out, self.n))
        out = []
        for e_in, e_out, n_in, n_out in zip(s_in, s_out, self.cnt_in, self.cnt_out, strict=True):
            ok = (n_in >= 20) & (n_out >= 20)
            out.append(np.log((e_out[ok] / n_out[ok] + _EPS**2) / (e_in[ok] / n_in[ok] + _EPS**2)))
        return out


def _cell_features(cells: list[list[np.ndarray]], ratios: list[float]) -> list[float]:
    """The cell features of ``TEXTURE_FEATURES`` (per band: agreement, low percentile, spread; then
    log_cells), each the mean over the four placements of the cell grid (``_CellGrids``): from one
    placement to another the gate's logit moves by 0.3 (median; 0.6 at the 90th percentile), more
    than the gate's ramp is wide. ``cells``: per band, per placement, the cells' log
    ratios; ``ratios``: each band's log ratio across the edge."""
    per_grid = []
    for k in range(len(cells[0])):
        feats, n_cells = [], 0
        for band, r in zip(cells, ratios, strict=True):
            c = band[k]
            n_cells = max(n_cells, c.size)
            if c.size:
                sign = 1.0 if r >= 0 else -1.0
                feats += [float((np.sign(c) == sign).mean()), float(np.percentile(sign * c, 20)),
                          float(np.median(np.abs(c - np.median(c))))]
            else:
                feats += [0.5, 0.0, 1.0]
        per_grid.append([*feats, float(np.log(n_cells + 1))])
    return np.mean(per_grid, axis=0).tolist()


def measure_texture(x: np.ndarray, inside: np.ndarray, sd: np.ndarray | None = None):
    """The per-band gains that match the fill's detail to the photo's, and the gate's features, all
    measured on the luma of ``x`` (the bands are linear, so the luma of a colour band is the band of
    the luma: a third of the filtering, and the colour bands are needed only where the gate opens).

    Returns (gains (len(SIGMAS),), features (TEXTURE_FEATURES)) or None when the rings are too thin to
    compare (fewer than 50 pixels on a side)."""
    sd = signed_distance(inside) if sd is None else sd
    a, b = RING
    v = sd.reshape(-1)  # the rings as flat indices: gathered many times, found once
    inner, outer = np.flatnonzero((v > a) & (v <= b)), np.flatnonzero((v < -a) & (v >= -b))
    c0, c1 = CONTROL
    deep, far = np.flatnonzero((v > c0) & (v <= c1)), np.flatnonzero((v < -c0) & (v >= -c1))
    if min(inner.size, outer.size) < 50:
        return None
    grids = _CellGrids(inner, outer, sd.shape[1])
    # the bands' squares are read at the rings' pixels only: gathered there before squaring
    levels = _levels(x @ _LUMA)
    sq_in, sq_out, sq_deep, sq_far = (_squares_at(levels, at) for at in (inner, outer, deep, far))
    gains, ratio, control, deep_ratio, outside, cells = [], [], [], [], [], []
    for k in range(len(SIGMAS)):
        cells.append(grids.log_ratios(sq_in[k], sq_out[k]))
        e_in, e_out = _energy(sq_in[k]), _energy(sq_out[k])
        outside.append(e_out)
        r = float(np.log((e_out + _EPS**2) / (e_in + _EPS**2)))
        ratio.append(r)
        e_deep, e_far = _energy(sq_deep[k]), _energy(sq_far[k])
        r_deep = float(np.log((e_far + _EPS**2) / (e_deep + _EPS**2))) if np.isfinite(e_deep + e_far) else 0.0
        # the gain both ring pairs ask for: a fill softer or noisier all through, not only at its edge
        agreed = np.sign(r) * min(abs(r), abs(r_deep)) if np.sign(r) == np.sign(r_deep) else 0.0
        gains.append(float(np.clip(np.exp(0.5 * agreed), *GAIN_LIMITS)))
        deep_ratio.append(float(np.sign(r) * np.log((e_out + _EPS**2) / (e_deep + _EPS**2)))
                          if np.isfinite(e_deep) else 0.0)
        for e, ref in ((e_deep, e_in), (e_far, e_out)):
            control.append(abs(float(np.log((ref + _EPS**2) / (e + _EPS**2)))) if np.isfinite(e) else 0.0)
    level = float(np.log(np.sqrt(outside[0]) + _EPS))
    coarse_levels = _coarse_levels(levels[-1])
    coarse = [float(np.log((_energy(v_out) + _EPS**2) / (_energy(v_in) + _EPS**2)))
              for v_in, v_out in zip(_squares_at(coarse_levels, inner), _squares_at(coarse_levels, outer),
                                     strict=True)]
    r_abs = [abs(v) for v in ratio]
    excess = [r_abs[k] - max(control[2 * k], control[2 * k + 1]) for k in range(len(ratio))]
    features = (*ratio, *r_abs, *excess, *deep_ratio, *control, *_cell_features(cells, ratio), level,
                *coarse, *(abs(v) for v in coarse))
    return np.asarray(gains), features


def _coarse_levels(low: np.ndarray) -> list[np.ndarray]:
    """[G₂, G₄, G₈] of the luma (``COARSE_SIGMAS``) from its G₂ ``low``: the bands G₂ − G₄ and G₄ − G₈
    are their neighbours' differences."""
    out, prev_sigma = [low], SIGMAS[-1]
    for s in COARSE_SIGMAS:
        step = float(np.sqrt(s * s - prev_sigma**2))
        out.append(cv2.GaussianBlur(out[-1], (0, 0), step, borderType=cv2.BORDER_REFLECT))
        prev_sigma = s
    return out


def texture_change(x: np.ndarray, sd: np.ndarray, gains: np.ndarray, conf: float) -> np.ndarray:
    """Σ_k (g_k − 1)·band_k of ``x`` (``detail_bands``) inside the fill, coming in over ``RAMP`` px
    from its edge, times ``conf``. The blurs run on the whole image; the bands and the sum only where
    the change is not zero (``fill_runs``: more than ½ px inside the edge)."""
    lows = _levels(x)[1:]
    factors = [np.float32(g - 1.0) for g in gains]
    out = np.zeros_like(x)

    def block(win: tuple[slice, slice]) -> None:
        w = (conf * np.clip((sd[win] - 0.5) / RAMP, 0.0, 1.0)).astype(np.float32)[..., None]
        change, prev = np.zeros_like(out[win]), x[win]
        for factor, low in zip(factors, lows, strict=True):
            change += factor * (prev - low[win])
            prev = low[win]
        change *= w
        out[win] = change

    over_runs(block, sd > 0.5)
    return out


def load_gate(path: Path | str = DEFAULT_PATH) -> GateModel:
    """The texture gate in ``path`` (cached); ModelError when missing or malformed."""
    return seam_gate.load(path, TEXTURE_FEATURES, "texture gate")


def match_texture(x: np.ndarray, mask: np.ndarray, sd: np.ndarray | None = None,
                  spent: float = 0.0) -> tuple[np.ndarray, dict]:
    """The change that continues the photo's grain and sharpness into the fill ``mask`` of ``x``
    (H×W×3 float32 sRGB, mask H×W in [0, 1]), and info (gains, gate). Zero where the gate is closed.
    ``sd``: the fill's signed distance (``signed_distance`` of mask ≥ ½, or of mask > 0 when that is
    empty), when the caller has measured it already. ``spent``: the band RMS of a change an earlier
    stage made on its own cap (the colour stage below its gate's ramp), which this stage's cap
    leaves out of its budget."""
    inside = mask >= 0.5
    if not inside.any():
        inside = mask > 0
    if sd is None:
        sd = signed_distance(inside)
    measured = measure_texture(x, inside, sd)
    if measured is None:
        return np.zeros_like(x), {"gate": 0.0}
    gains, features = measured
    gate = load_gate()
    conf = gate.confidence(np.asarray(features))
    info = {"gate": conf, "gains": gains.tolist()}
    if conf <= 0.0:
        return np.zeros_like(x), info
    full = texture_change(x, sd, gains, 1.0)
    cap = capped_strength(full, sd, *CAP_BAND, CAP_DB, spent)
    lift = gate.certainty(np.asarray(features), CERTAIN_RAMP)
    info["gate"] = conf = min(conf, cap + lift * (1.0 - cap))
    full *= np.float32(conf)
    return full, info
