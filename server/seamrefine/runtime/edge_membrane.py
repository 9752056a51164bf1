"""The membrane of the jump left at the selection's edge, after the colour map.

Where the selection hugs the pasted fill, the seam is the jump between each pixel just inside the
selection and its neighbour just outside it, and a drift that varies across the fill (a gradient, a
patchy drift) leaves part of that jump behind the colour map's gain, offset and plane. Per pixel
pair across the edge the jump is measured as the plain Poisson blend does: the difference of the two
pixels less the mean of the parallel differences one pixel further in and out (what the content
itself steps there). Content makes those jumps noisy, a seam makes them coherent, so:

* they are averaged along the edge (a Gaussian of ``SIGMA`` px, on cells of ``CELL`` px; Huber's
  M-estimate, so that the content's own edges where they cross the selection do not pull it) and
  each cell's mean is shrunk by ``SHRINK`` standard errors of itself (error-tolerant compositing,
  after Tao, Johnson & Paris: what the content's own scatter could explain is not corrected);
* the shrunk jumps are spread into the fill as a membrane: harmonic inside the selection, equal to
  minus the jump on the edge's cells (Laplace by red-black over-relaxation on the cells, started from
  a pull–push interpolation, then upsampled);
* it runs only where the ring profile found a significant step right at the selection's edge (the
  excess z of position 0, gap 0 at least ``MIN_Z``; elsewhere the selection's edge lies in the photo
  and its jumps are content), the seam found is sharp (a ramp of half-width at most ``MAX_GAP``:
  one pixel pair sees only a slice of a wide feather, whose ramp the colour map follows already),
  and the seam gate is at least a little confident (on a clean photo whose colour change the gate
  only capped, the membrane would be uncapped: one of 1,500 fresh clean selections fell to 39 dB
  once the seam ranker picked sharper seams, twenty-first session);
* where the selection is larger than the paste and the seam is found inside it, hard (a ramp of
  half-width 0) and sharp (``sharp_inner_edge``), it runs on that seam's own edge instead
  (``inner_membrane``, fortieth session; ``classical`` tries it first).

Before the jumps are measured, the gain the colour map left across the same edge is read from its
pixel pairs and removed from the fill (``edge_gain``, forty-first session): a membrane is smooth,
and a gain's share of the jump follows the colour, pixel by pixel.

Measured on training photos (MODEL.md, "Stage 1e"). Pure numpy/OpenCV on H×W×3 float32 RGB.
"""

from __future__ import annotations

import cv2
import numpy as np

from .edge_gain import edge_gain, edge_pairs, huber_weights

SIGMA = 32.0  # px: how far along the edge the jumps are averaged
SPLIT_SIGMA = 20.0  # px: ... where the colour map was split (``split_map``: a drift that varies across the
# fill, whose jump varies along the edge too; forty-fourth session)
SHRINK = 1.0  # standard errors taken off each averaged jump (0: none; 3 before the twenty-second session)
MIN_Z = 2.0  # the excess z of the step at the selection's edge from which the membrane runs
MAX_GAP = 2  # ... when the seam found has a ramp this narrow (half-width, working px)
CELL = 8  # px: the least side of the cells the jumps are averaged on and the membrane is solved on
MAX_CELLS = 64  # cells along the crop's longer side at most (larger crops get larger cells)
SWEEPS = 60  # red-black over-relaxation sweeps on the cells (from pull–push: within 1e-6 after 40)
OMEGA = 1.8  # over-relaxation factor
ROBUST_ROUNDS = 3  # Huber reweighting rounds of the jumps around their along-edge mean (0: a plain mean)
HUBER_K = 1.0  # ... jumps farther than this many robust scales from it are down-weighted
SHARP_RATIO = 2.0  # a seam found inside the selection runs the membrane when its coherent jump is this
SHARP_MIN = 0.01  # many times those one px either side and at least this (RMS over the edge's cells)


def edge_jumps(x: np.ndarray, inside: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every 4-neighbour pair (p inside, q outside) across the edge of ``inside``
    (``edge_gain.edge_pairs``): p's row and column and the jump (N×3, float64) x_p − x_q less the
    mean of the parallel differences x_{p−e} − x_p (where p − e is inside) and x_q − x_{q+e} (where
    q + e is outside), e = q − p. Image-border neighbours do not count."""
    h, w = inside.shape

    def on_side(y: np.ndarray, x_: np.ndarray, want: bool) -> np.ndarray:  # in the image, inside == want
        ok = (y >= 0) & (y < h) & (x_ >= 0) & (x_ < w)
        ok[ok] = inside[y[ok], x_[ok]] == want
        return ok

    rows, cols, jumps = [], [], []
    for ys, xs, dy, dx in edge_pairs(inside):
        xp, xq = x[ys, xs].astype(np.float64), x[ys + dy, xs + dx].astype(np.float64)
        trend = np.zeros_like(xp)
        count = np.zeros((ys.size, 1))
        ok = on_side(ys - dy, xs - dx, True)
        trend[ok] += x[ys[ok] - dy, xs[ok] - dx] - xp[ok]
        count[ok] += 1
        ok = on_side(ys + 2 * dy, xs + 2 * dx, False)
        trend[ok] += xq[ok] - x[ys[ok] + 2 * dy, xs[ok] + 2 * dx]
        count[ok] += 1
        rows.append(ys)
        cols.append(xs)
        jumps.append(xp - xq - trend / np.maximum(count, 1.0))
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(jumps)


def cell_size(shape: tuple[int, int]) -> int:
    """The side (px) of the cells for a crop of ``shape``: ``CELL``, or larger so that at most
    ``MAX_CELLS`` span its longer side."""
    return max(CELL, -(-max(shape) // MAX_CELLS))


def coherent_jumps(rows: np.ndarray, cols: np.ndarray, jumps: np.ndarray, shape: tuple[int, int],
                   cell: int = CELL, sigma: float = SIGMA, shrink: float = SHRINK,
                   rounds: int = ROBUST_ROUNDS) -> tuple[np.ndarray, np.ndarray]:
    """The jumps averaged along the edge, per cell of ``cell`` px: (cells' mean jump hc×wc×3 with
    each cell's mean m shrunk to m·max(0, 1 − shrink·se/|m|), which cells hold edge pixels).

    The mean is Huber's M-estimate: ``rounds`` times, each jump is weighted by min(1, k·s/r), r its
    distance from the weighted mean of its cell and s 1.4826 × the median r (k ``HUBER_K``), so the
    few large jumps where the content's own edges cross the selection do not pull the cells around
    them. se is the Gaussian-weighted scatter of the jumps around m over √n, n = 3.5 σ (the
    independent samples of a σ-window along a line of pixels; neighbouring jumps share pixels)
    times the weights' efficiency (Σw)² / (N·Σw²)."""
    hc, wc = -(-shape[0] // cell), -(-shape[1] // cell)
    at = (rows // cell) * wc + cols // cell
    held = np.bincount(at, minlength=hc * wc).reshape(hc, wc) > 0
    weights = np.ones(at.size)
    for _ in range(rounds):
        mean = _weighted_cells(at, jumps, weights, (hc, wc), sigma / cell)[0]
        weights = huber_weights(np.linalg.norm(jumps - mean.reshape(-1, 3)[at], axis=1), HUBER_K)
    mean, spread, efficiency = _weighted_cells(at, jumps, weights, (hc, wc), sigma / cell)
    size = np.linalg.norm(mean, axis=-1)
    se = np.sqrt(spread / (3.5 * sigma * efficiency))
    keep = np.clip(1.0 - shrink * se / np.maximum(size, 1e-12), 0.0, 1.0)
    return np.where(held[..., None], mean * keep[..., None], 0.0), held


def _weighted_cells(at: np.ndarray, jumps: np.ndarray, weights: np.ndarray, cells: tuple[int, int],
                    s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``weights``-weighted Gaussian (σ ``s`` cells) mean of the ``jumps`` (N×3) that fall in
    cell ``at`` (flat index on ``cells``), hc×wc×3; their scatter around it summed over the
    channels, hc×wc; and the weights' efficiency there, (Σw)² / (N·Σw²) ∈ (0, 1] (1 when equal)."""
    size = cells[0] * cells[1]

    def blur(values: np.ndarray) -> np.ndarray:  # per cell sums of values, Gaussian-blurred
        sums = np.stack([np.bincount(at, v, size) for v in np.atleast_2d(values.T)], -1)
        return cv2.GaussianBlur(sums.reshape(*cells, -1), (0, 0), s, borderType=cv2.BORDER_CONSTANT)

    weighted = jumps * weights[:, None]
    count, total, total_sq = (blur(v).reshape(*cells, -1) for v in (
        np.ones(at.size), weights, weights**2))
    mean = blur(weighted).reshape(*cells, 3) / np.maximum(total, 1e-12)
    spread = np.maximum(blur(weighted * jumps).reshape(*cells, 3) / np.maximum(total, 1e-12) - mean**2,
                        0.0).sum(-1)
    efficiency = (total**2 / np.maximum(total_sq * count, 1e-24))[..., 0]
    return mean, spread, np.clip(efficiency, 1e-3, 1.0)


def pull_push(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """A smooth interpolation of ``values`` (h×w×3) from the ``known`` cells to all cells: weighted
    means pulled down a Gaussian pyramid, pushed back up where a level knows too little (Gortler et
    al.'s pull–push)."""
    vs, ws = [values * known[..., None]], [known.astype(np.float64)]
    while min(ws[-1].shape) > 2:
        vs.append(cv2.pyrDown(vs[-1]))
        ws.append(cv2.pyrDown(ws[-1]))
    out = vs[-1] / np.maximum(ws[-1], 1e-12)[..., None]
    for level in range(len(vs) - 2, -1, -1):
        up = cv2.pyrUp(out, dstsize=vs[level].shape[1::-1])
        own = vs[level] / np.maximum(ws[level], 1e-12)[..., None]
        trust = known.astype(np.float64) if level == 0 else np.minimum(4.0 * ws[level], 1.0)
        out = trust[..., None] * own + (1.0 - trust[..., None]) * up
    return out


def membrane(values: np.ndarray, known: np.ndarray, region: np.ndarray, sweeps: int = SWEEPS) -> np.ndarray:
    """The harmonic function on the cells of ``region`` (h×w bool) equal to ``values`` on the
    ``known`` cells, with no flux across the other edges of region: red-black over-relaxation
    (``OMEGA``) from ``pull_push``, on the flat indices of the free cells. h×w×3."""
    u = pull_push(values, known)
    h, w = known.shape
    active = np.pad(region | known, 1)
    flat = np.where(active[..., None], np.pad(u, ((1, 1), (1, 1), (0, 0))), 0.0).reshape(-1, 3)
    steps = (1, -1, w + 2, -(w + 2))
    free = np.pad(region & ~known, 1)
    parity = np.add.outer(np.arange(h + 2), np.arange(w + 2)) % 2
    colours = [np.flatnonzero(free & (parity == p)) for p in (0, 1)]
    links = [np.maximum(sum(active.ravel()[idx + d] for d in steps), 1)[:, None].astype(np.float64)
             for idx in colours]
    for _ in range(sweeps):
        for idx, n in zip(colours, links, strict=True):
            total = flat[idx + steps[0]] + flat[idx + steps[1]] + flat[idx + steps[2]] + flat[idx + steps[3]]
            flat[idx] += OMEGA * (total / n - flat[idx])
    inner = flat.reshape(h + 2, w + 2, 3)[1:-1, 1:-1]
    return np.where((region | known)[..., None], inner, u)


def edge_membrane(x: np.ndarray, inside: np.ndarray, edge_z: float, gap: int = 0,
                  confidence: float = 1.0, sigma: float = SIGMA) -> tuple[np.ndarray, dict]:
    """The change to ``x`` (H×W×3 float32, zero outside ``inside``) of the gain left across the edge
    (``edge_gain``, forty-first session) and then of the membrane of the jump left after it, and its
    info {"gate": 1 or 0, "edge_z", and when it ran "gain_kept" (``edge_gain``'s shrink factor, 0:
    no gain applied) and "rms": the change's RMS inside}. Runs when ``edge_z`` (the ring profile's
    excess z of the step at the selection's edge) is at least ``MIN_Z``, the seam's ramp half-width
    ``gap`` at most ``MAX_GAP`` and the seam gate's ``confidence`` above 0; its jumps are averaged
    along the edge over ``sigma`` px (``coherent_jumps``)."""
    info: dict = {"gate": 0.0, "edge_z": float(edge_z)}
    if not edge_z >= MIN_Z or gap > MAX_GAP or not confidence > 0 or not inside.any() or inside.all():
        return np.zeros_like(x), info
    change, gain_info = edge_gain(x, inside)
    ran = gain_info["kept"] > 0
    if ran:
        x = np.clip(x + change, 0.0, 1.0)
    rows, cols, jumps = edge_jumps(x, inside)
    h, w = inside.shape
    cell = cell_size((h, w))
    values, known = coherent_jumps(rows, cols, jumps, (h, w), cell, sigma) if rows.size else (None, None)
    if values is not None and values.any():
        hc, wc = known.shape
        padded = np.zeros((hc * cell, wc * cell), np.float32)
        padded[:h, :w] = inside
        region = cv2.resize(padded, (wc, hc), interpolation=cv2.INTER_AREA) >= 0.5
        cells = membrane(-values, known, region).astype(np.float32)
        spread = cv2.resize(cells, (wc * cell, hc * cell), interpolation=cv2.INTER_LINEAR)[:h, :w]
        spread *= inside[..., None]
        if ran:
            spread += change
        change, ran = spread, True
    if not ran:
        return change, info
    info.update(gate=1.0, gain_kept=gain_info["kept"],
                rms=float(np.sqrt(np.vdot(change, change) / (3.0 * np.count_nonzero(inside)))))
    return change, info


def coherent_size(x: np.ndarray, inside: np.ndarray) -> float:
    """The RMS over the edge's cells of the coherent jumps (``coherent_jumps``) of ``x`` across the
    edge of ``inside``; 0 where it has none."""
    if not inside.any() or inside.all():
        return 0.0
    rows, cols, jumps = edge_jumps(x, inside)
    if rows.size == 0:
        return 0.0
    values, known = coherent_jumps(rows, cols, jumps, inside.shape, cell_size(inside.shape))
    return float(np.sqrt((values[known] ** 2).sum(-1).mean())) if known.any() else 0.0


def sharp_inner_edge(x: np.ndarray, sd: np.ndarray, depth: int, reach: int = 0) -> int | None:
    """Where a hard seam found ``depth`` px inside the selection lies in ``x``: of the d within
    ``reach`` px of ``depth``, the one whose edge (of the pixels with ``sd`` ≥ d, ``sd`` the
    selection's signed distance) has the largest coherent jump (``coherent_size``), when that is at
    least ``SHARP_MIN`` and ``SHARP_RATIO`` times those of the edges one px either side; else None.
    A hard paste steps in one pixel pair; a feather spreads its step over several, whose pairs each
    see a slice."""
    sizes = {d: coherent_size(x, sd >= d) for d in range(depth - reach - 1, depth + reach + 2)}
    best = max(range(depth - reach, depth + reach + 1), key=sizes.__getitem__)
    if sizes[best] >= SHARP_MIN and sizes[best] >= SHARP_RATIO * max(sizes[best - 1], sizes[best + 1]):
        return best
    return None


def inner_membrane(x: np.ndarray, harmonised: np.ndarray, sd: np.ndarray, depth: int, reach: int,
                   z: float, confidence: float, sigma: float = SIGMA) -> tuple[np.ndarray, dict]:
    """``edge_membrane`` of ``harmonised`` (its jumps averaged over ``sigma`` px) on the edge of the hard
    seam found ``depth`` px inside the selection of signed distance ``sd`` (``sharp_inner_edge`` in the
    unharmonised ``x``, within ``reach`` px), ``z`` its excess z: (change, info with the edge's "depth"
    when it ran)."""
    # the edge's own gates first: they spare the search for it
    found = sharp_inner_edge(x, sd, depth, reach) if z >= MIN_Z and confidence > 0 else None
    if found is None:
        return np.zeros_like(x), {"gate": 0.0, "edge_z": float(z)}
    change, info = edge_membrane(harmonised, sd >= found, z, 0, confidence, sigma)
    if info["gate"] > 0:
        info["depth"] = found
    return change, info
