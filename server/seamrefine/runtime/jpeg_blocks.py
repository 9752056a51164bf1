"""The 8×8 block statistics a decoded JPEG leaves in its pixels, for ``jpeg_match``.

* **Grid.** On the right 8×8 grid a decoded JPEG's high-frequency DCT coefficients are nearly all
  exactly zero (quantised away); on any other grid they are not (``zero_share``, ``find_grid``).
* **Quantisation.** On that grid the low-frequency coefficients sit on multiples of their
  quantisation step (``periodicity``); the IJG qualities whose standard tables (``ijg_table``) fit
  them best are the candidates (``quality_candidates``).
* **Detail on the lattice.** ``index_means``: per coefficient the mean lattice index JPEG would store.

Pure numpy/OpenCV on JPEG luma (×255 − 128, float32) and bool H×W regions.
"""

from __future__ import annotations

import cv2
import numpy as np

LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # JPEG's (JFIF) luma
# IJG's standard luminance quantisation table (ITU-T T.81, Annex K), row-major
IJG_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], np.float64).reshape(8, 8)
HIGH = ((0, 7), (7, 0), (7, 7), (6, 6), (5, 7), (7, 5))  # (v, u) coefficients that JPEG zeroes first
LOW = ((0, 0), (0, 1), (1, 0), (1, 1), (0, 2), (2, 0))  # coefficients whose steps give the quality
ZERO_TOL = 0.75  # |coefficient| below this counts as quantised to zero (uint8 rounding noise ~0.3)
MAX_BLOCKS = 4096  # blocks read per ring by ``detail_slope``
MIN_BLOCKS = 24  # fewer whole blocks on a side than this: nothing is judged
GRID_RATIO = 2.0  # on the photo's grid, non-zero high frequencies are this many times rarer than off it


def ijg_table(quality: int) -> np.ndarray:
    """IJG's luminance quantisation table at ``quality`` (1–100), as libjpeg scales it."""
    q = int(np.clip(quality, 1, 100))
    scale = 5000 / q if q < 50 else 200 - 2 * q
    return np.clip(np.floor((IJG_LUMA * scale + 50) / 100), 1, 255)


_IJG_TABLES = np.stack([ijg_table(q) for q in range(1, 101)])  # (100, 8, 8): quality q at index q − 1


def _basis() -> np.ndarray:
    """The orthonormal 8-point DCT-II basis (row k = frequency k), JPEG's transform."""
    n = np.arange(8)
    b = np.cos(np.pi * (2 * n[None, :] + 1) * n[:, None] / 16) * np.sqrt(2 / 8)
    b[0] /= np.sqrt(2)
    return b.astype(np.float32)


DCT_BASIS = _basis()


def coefficient_map(y: np.ndarray, v: int, u: int) -> np.ndarray:
    """DCT coefficient (v, u) of the 8×8 block whose top-left pixel is at each position of ``y``
    (luma ×255); positions whose block leaves the image hold garbage (use ``block_starts``)."""
    return cv2.sepFilter2D(y, cv2.CV_32F, DCT_BASIS[u], DCT_BASIS[v], anchor=(0, 0),
                           borderType=cv2.BORDER_REFLECT)


def block_starts(region: np.ndarray) -> np.ndarray:
    """Positions whose 8×8 block (to the right and below) lies wholly in ``region`` (bool H×W)."""
    inside = cv2.erode(region.astype(np.uint8), np.ones((8, 8), np.uint8), anchor=(0, 0),
                       borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return inside.astype(bool)


def zero_share(y: np.ndarray, region: np.ndarray) -> np.ndarray:
    """8×8 array: for each grid offset (oy, ox), the share of the ``HIGH`` coefficients of the whole
    blocks in ``region`` on that grid that are quantised to zero; NaN where too few blocks."""
    starts = block_starts(region)
    zeros = np.zeros(y.shape, np.float32)
    for v, u in HIGH:
        zeros += np.abs(coefficient_map(y, v, u)) < ZERO_TOL
    out = np.full((8, 8), np.nan)
    for oy in range(8):
        for ox in range(8):
            ok = starts[oy::8, ox::8]
            if ok.sum() >= MIN_BLOCKS:
                out[oy, ox] = zeros[oy::8, ox::8][ok].mean() / len(HIGH)
    return out


def find_grid(y: np.ndarray, region: np.ndarray) -> tuple[int, int] | None:
    """The 8×8 grid offset on which ``region`` of ``y`` looks JPEG-quantised, or None: its share of
    non-zero high-frequency coefficients must be ``GRID_RATIO`` times below the median offset's."""
    share = zero_share(y, region)
    if np.isnan(share).all():
        return None
    best = np.unravel_index(np.nanargmax(share), share.shape)
    if 1.0 - np.nanmedian(share) < GRID_RATIO * (1.0 - share[best]) + 0.05:
        return None
    return int(best[0]), int(best[1])


def block_coefficients(x: np.ndarray, region: np.ndarray, grid: tuple[int, int],
                       limit: int = MAX_BLOCKS) -> np.ndarray:
    """DCT coefficients (n, 8, 8) of the luma (×255 − 128) of the 8×8 blocks on ``grid`` that lie
    wholly in ``region``, every k-th of them in raster order so that n ≤ ``limit``."""
    starts = block_starts(region)
    ys, xs = np.nonzero(starts[grid[0]::8, grid[1]::8])
    step = max(1, -(-ys.size // limit))
    ys, xs = ys[::step] * 8 + grid[0], xs[::step] * 8 + grid[1]
    off = np.arange(8)
    pix = x[ys[:, None, None] + off[None, :, None], xs[:, None, None] + off[None, None, :]]  # (n, 8, 8, 3)
    y = np.clip(np.rint(pix * 255.0), 0, 255) @ LUMA - 128.0
    return DCT_BASIS @ y.astype(np.float32) @ DCT_BASIS.T  # B·block·Bᵀ for each block


def index_means(x: np.ndarray, region: np.ndarray, grid: tuple[int, int],
                table: np.ndarray) -> np.ndarray | None:
    """8×8: per DCT coefficient the mean |c/Q| rounded (the lattice index JPEG stores) over the whole
    blocks of ``region`` on ``grid`` (``block_coefficients``), Q from ``table``; None if too few."""
    c = block_coefficients(x, region, grid)
    if c.shape[0] < MIN_BLOCKS:
        return None
    return np.abs(np.rint(c / table)).mean(0)


def periodicity(c: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """How well each step Q in ``steps`` explains the values ``c`` as multiples of Q: |mean
    exp(2πi c / Q)| over the values with |c| ≥ Q/2 (the non-zero multiples), times the share of the
    non-zero values (|c| ≥ ``ZERO_TOL``) that are that large (a step larger than the values explains
    nothing). Near 1 for the true step and its divisors."""
    c = np.sort(np.abs(c[np.abs(c) >= ZERO_TOL]))
    out = np.zeros(steps.shape)
    if c.size < 8:
        return out
    for i, q in enumerate(steps):
        big = c[np.searchsorted(c, q / 2) :]  # the values ≥ q/2: a tail of the sorted values
        if big.size >= 8:
            phase = big * (2.0 * np.pi / q)
            out[i] = np.hypot(np.cos(phase).mean(), np.sin(phase).mean()) * big.size / c.size
    return out


def quality_candidates(y: np.ndarray, region: np.ndarray, grid: tuple[int, int], keep: int = 6) -> list[int]:
    """IJG qualities whose luminance steps best explain the periodicity of the ``LOW`` coefficients
    on ``grid`` (largest steps first among near-ties, since divisors of a step fit as well)."""
    starts = block_starts(region)[grid[0]::8, grid[1]::8]
    tables = _IJG_TABLES
    score = np.zeros(100)
    for v, u in LOW:
        c = coefficient_map(y, v, u)[grid[0]::8, grid[1]::8][starts]
        steps = np.unique(tables[:, v, u])
        p = dict(zip(steps.tolist(), periodicity(c, steps).tolist(), strict=True))
        score += np.array([p[s] for s in tables[:, v, u].tolist()])
    order = sorted(range(100), key=lambda i: (-round(score[i], 1), i))
    return [i + 1 for i in order[:keep]]
