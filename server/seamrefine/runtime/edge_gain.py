"""The gain the colour map leaves across a sharp edge, read from the edge's pixel pairs.

The colour map's gain comes from the spreads of the bands either side of the seam, whose content
differs; where the selection's edge (or the found edge of a hard paste) is the seam itself, each
4-neighbour pair (p inside, q outside) sees the same content one pixel apart, and a gain left by the
map steps in proportion to the colour there. So the jumps x_p − x_q are regressed on the pairs'
midpoints (x_p + x_q)/2 (a midpoint, not x_q: content alone then has no slope, as swapping p and q
flips the jump and keeps the midpoint):

    x_p − x_q = ΔG · ((x_p + x_q)/2 − μ) + o

by Huber's M-estimate (``ROUNDS`` reweightings at ``HUBER_K`` robust scales; the content's own
edges across the selection are the outliers), ΔG ridge-shrunk (``RIDGE`` times the midpoints' own
scatter per channel), and then shrunk by its own standard error, read from the scatter of the fits
on the four folds of a 2×2 checkerboard of ``BLOCK`` px blocks (error-tolerant, as the edge
membrane's jumps; two folds left a spurious gain on a subtle seam of 322 pairs, −4.4 dB). The
fill is then corrected by −ΔG(x − μ); its offset is left to the membrane that follows
(``edge_membrane``), which spreads the jump left after it.

Measured on training photos (MODEL.md, "Stage 1e", forty-first session). Pure numpy on H×W×3
float32 RGB.
"""

from __future__ import annotations

import cv2
import numpy as np

ROUNDS = 5  # Huber reweightings of the pairs around the fitted gain
HUBER_K = 1.0  # ... pairs farther than this many robust scales from it are down-weighted
RIDGE = 1.0  # ΔG's ridge, in units of the midpoints' scatter per channel (times the pair count)
BLOCK = 16  # px: the blocks of the 2×2 checkerboard whose four folds give ΔG's standard error
FOLDS = 4  # the four classes of that checkerboard
MIN_PAIRS = 16  # pairs each fold needs, else no gain is fitted
_DIRECTIONS = ((0, 1), (0, -1), (1, 0), (-1, 0))


def edge_pairs(inside: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, int, int]]:
    """The 4-neighbour pairs across the edge of ``inside`` (H×W bool), per direction (dy, dx): (rows,
    cols of the pixels p inside whose neighbour p + (dy, dx) is in the image and outside, dy, dx)."""
    h, w = inside.shape
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    edge = inside & ~cv2.erode(inside.astype(np.uint8), cross, borderType=cv2.BORDER_REPLICATE).astype(bool)
    py, px = np.nonzero(edge)
    pairs = []
    for dy, dx in _DIRECTIONS:
        y, x = py + dy, px + dx
        ok = (y >= 0) & (y < h) & (x >= 0) & (x < w)
        ok[ok] = ~inside[y[ok], x[ok]]
        pairs.append((py[ok], px[ok], dy, dx))
    return pairs


def fit_gain(jumps: np.ndarray, mids: np.ndarray, ridge: float = RIDGE, rounds: int = ROUNDS
             ) -> tuple[np.ndarray, np.ndarray]:
    """ΔG (3×3) and μ (3,) of the robust ridge fit jumps ≈ ΔG(mids − μ) + o (N×3 each; μ the mean
    midpoint): Huber IRLS, ``rounds`` reweightings at ``HUBER_K`` × 1.4826 × the median residual,
    ridge ``ridge`` · N · var(mids) on each channel's slope."""
    mu = mids.mean(0)
    design = np.concatenate([mids - mu, np.ones((len(mids), 1))], 1)  # N×4
    penalty = ridge * len(mids) * np.diag(np.append(design[:, :3].var(0), 0.0))
    weights = np.ones(len(mids))
    for _ in range(rounds + 1):
        weighted = design * weights[:, None]
        coef = np.linalg.solve(weighted.T @ design + penalty + 1e-12 * np.eye(4), weighted.T @ jumps)
        weights = huber_weights(np.linalg.norm(jumps - design @ coef, axis=1), HUBER_K)
    return coef[:3].T, mu


def huber_weights(far: np.ndarray, k: float) -> np.ndarray:
    """Huber's weights of residuals of size ``far`` (N,): min(1, k·s/far), s = 1.4826 × their median
    (a robust scale); all 1 when that scale is 0."""
    scale = k * 1.4826 * float(np.median(far))
    return np.minimum(1.0, scale / np.maximum(far, 1e-12)) if scale > 0 else np.ones(far.size)


def edge_gain(x: np.ndarray, inside: np.ndarray) -> tuple[np.ndarray, dict]:
    """The change (H×W×3 float32, zero outside ``inside``) that removes the gain left across the
    edge of ``inside`` in ``x``: −ΔG(x − μ), ΔG from ``fit_gain`` on the edge's pairs, times
    max(0, 1 − se/‖ΔG‖) (Frobenius norms; se² the scatter Σ‖ΔG_k − mean‖²/(K − 1) of the fits on
    the K = ``FOLDS`` folds, each on a quarter of the pairs, over K). info: {"gain": ΔG applied (3×3
    list), "kept": that factor}; no change (kept 0) with fewer than ``MIN_PAIRS`` pairs on a fold."""
    inner, outer, fold = [], [], []
    for ys, xs, dy, dx in edge_pairs(inside):
        inner.append(x[ys, xs])
        outer.append(x[ys + dy, xs + dx])
        fold.append((ys // BLOCK) % 2 * 2 + (xs // BLOCK) % 2)
    p, q = (np.concatenate(v).astype(np.float64) for v in (inner, outer))
    fold = np.concatenate(fold)
    if np.bincount(fold, minlength=FOLDS).min() < MIN_PAIRS:
        return np.zeros_like(x), {"gain": np.zeros((3, 3)).tolist(), "kept": 0.0}
    jumps, mids = p - q, (p + q) / 2.0
    gain, mu = fit_gain(jumps, mids)
    folds = np.stack([fit_gain(jumps[fold == k], mids[fold == k])[0] for k in range(FOLDS)])
    se = float(np.sqrt(((folds - folds.mean(0)) ** 2).sum() / (FOLDS - 1) / FOLDS))
    kept = max(0.0, 1.0 - se / max(float(np.linalg.norm(gain)), 1e-12))
    gain = gain * kept
    if kept == 0.0:
        return np.zeros_like(x), {"gain": gain.tolist(), "kept": 0.0}
    change = np.zeros_like(x)
    rows, cols = np.flatnonzero(inside.any(1)), np.flatnonzero(inside.any(0))
    box = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
    change[box] = ((mu.astype(np.float32) - x[box]) @ gain.T.astype(np.float32)) * inside[box][..., None]
    return change, {"gain": gain.tolist(), "kept": kept}
