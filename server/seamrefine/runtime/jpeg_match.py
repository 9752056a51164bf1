"""JPEG block structure continued across the seam: a clean fill pasted into a JPEG photo.

A photo that was saved as JPEG carries its 8×8 block structure everywhere; a generated fill pasted
into it does not, and at 100–200 % the fill shows as the one smooth patch among blocky pixels. The
photo's own pixels tell how it was compressed:

* **Grid and quality** (``jpeg_blocks``). On the right 8×8 grid a decoded JPEG's high-frequency DCT
  coefficients are nearly all exactly zero, and its low-frequency ones sit on multiples of their
  quantisation step: the grid (``find_grid``, on the photo's side of the edge only) and the IJG
  qualities that fit best (``quality_candidates``), with the common ones, are the candidates. A
  decoded JPEG is nearly a fixed point of its own settings, so the (chroma subsampling, 16-px chroma
  phase, quality) that changes the photo least when it is compressed again, relative to what the
  same settings change off its grid, is the photo's (``photo_settings``; accepted below
  ``FIXED_SHARE``; the trial compressions run on two threads).
* **Whether.** The fill's side must not be such a fixed point (``FILL_SHARE``: it was not compressed
  with the photo), and it must not be softer than the photo (``detail_slope`` ≥ ``SLOPE_MIN``):
  compressing an upscaled or VAE-smeared fill rounds its weakened detail onto wrong lattice points
  and lowers its fidelity. Then the fill is compressed with the photo's settings on the photo's grid.
  Clean photos, and fills that were compressed along with the photo, stay bit-identical.

Measured on training photos (MODEL.md): a clean fill in a JPEG photo (quality 30–95) gains ~+18 dB
band PSNR; fills with colour, grain or truncation artifacts in a JPEG photo gain +1–2 dB on average.

Pure numpy/OpenCV/Pillow on H×W×3 float32 sRGB in [0, 1] and an H×W float32 mask in [0, 1].
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from ..imaging.imagemath import check_stage_input
from .background import split_work
from .jpeg_blocks import LUMA, find_grid, ijg_table, index_means, quality_candidates
from .ring_profile import signed_distance

FIXED_SHARE = 0.5  # a JPEG changes less than this share of what the same settings do off its grid
# a fill changes at least this share of that on the grid: it was not compressed there (0.7 until the
# twenty-fifth session: clean selections of JPEG photos, the fill the photo's own pixels, measured
# 0.70-0.87 on training photos, fresh fills mostly 0.9-1.05)
FILL_SHARE = 0.8
COMMON_QUALITIES = (75, 85, 90, 92, 95, 98)  # always tried: what cameras and editors save at
SAMPLE = 256  # px: side of the windows compressed again to judge settings
ANALYSIS = 384  # px: side of the windows whose DCT statistics are taken
SIDE_BAND = 96  # px: the windows are centred within this distance of the edge
SLOPE_RING = 32  # px: ``detail_slope`` compares the rings this wide either side (both see like content)
SLOPE_LOW, SLOPE_HIGH = (1, 2), (3, 5)  # u + v of the low and middle frequencies ``detail_slope`` compares
QUALITY_MAX = 87  # above it the photo's blocks are invisible; compressing the fill costs more than it adds
SLOPE_MIN = -0.15  # a fill this much softer than the photo (``detail_slope``) is left as it is
EDGE_CLEAR = 3  # px either side of the edge left out of the measurements
MCU_CLEAR = 17  # px: pixels this far from the other side share no 16×16 chroma block with it


@dataclass(frozen=True)
class JpegSettings:
    """How the photo was compressed: grid offset (oy, ox) of its 8×8 blocks in this image, IJG
    quality, PIL subsampling (0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0), chroma phase (py, px) ∈ {0, 8}² of
    its 16-px chroma blocks relative to the 8-px grid, and how much its own pixels change (RMS, /255)
    when compressed again with these settings."""

    grid: tuple[int, int]
    quality: int
    subsampling: int
    phase: tuple[int, int]
    fixed_rms: float


@dataclass(frozen=True)
class Side:
    """One side of the seam as measured: a window of the image (``win``), its JPEG luma there
    (×255 − 128, float32) and the side's pixels in it (bool)."""

    win: tuple[slice, slice]
    y: np.ndarray
    region: np.ndarray

    def local(self, grid: tuple[int, int]) -> tuple[int, int]:
        """An image grid offset as an offset in this window."""
        return (grid[0] - self.win[0].start) % 8, (grid[1] - self.win[1].start) % 8

    def image(self, grid: tuple[int, int]) -> tuple[int, int]:
        """A grid offset in this window as an offset in the image."""
        return (grid[0] + self.win[0].start) % 8, (grid[1] + self.win[1].start) % 8


def to_u8(x: np.ndarray, win: tuple[slice, slice]) -> np.ndarray:
    """The window ``win`` of float RGB ``x`` (in [0, 1]) as the uint8 pixels a JPEG codec sees: ×255,
    rounded half to even and saturated, as ``np.rint`` then clipping would give."""
    return cv2.convertScaleAbs(np.ascontiguousarray(x[win]), alpha=255.0)


def measure_side(x: np.ndarray, region: np.ndarray, near: np.ndarray) -> Side:
    """The ``ANALYSIS``-px window around a pixel of ``near`` (the side's pixels close to the edge),
    with its luma and ``region`` there: the statistics need a few thousand blocks, not the image."""
    ys, xs = _window(near, ANALYSIS)
    win = (ys, xs)
    return Side(win, to_u8(x, win).astype(np.float32) @ LUMA - 128.0, region[win])


def detail_slope(x: np.ndarray, photo: np.ndarray, fill: np.ndarray, found: JpegSettings) -> float:
    """How the fill's detail compares with the photo's once both sit on the photo's lattice: per AC
    coefficient the log ratio of ``index_means`` (+ 0.05) over the ``fill`` ring and the ``photo``
    ring (bool H×W), averaged over the middle frequencies (u + v in ``SLOPE_HIGH``) minus the low ones
    (``SLOPE_LOW``). Content that differs across the seam shifts all frequencies alike and cancels; a
    fill softer than the photo (upscaled, smeared by a VAE) is negative, and compressing it would
    round its weakened detail onto the wrong lattice points. −inf when a ring has too few blocks."""
    table = ijg_table(found.quality)
    mp, mf = index_means(x, photo, found.grid, table), index_means(x, fill, found.grid, table)
    if mp is None or mf is None:
        return -np.inf
    ratio = np.log((mf + 0.05) / (mp + 0.05))
    uv = np.add.outer(np.arange(8), np.arange(8))
    low = (uv >= SLOPE_LOW[0]) & (uv <= SLOPE_LOW[1])
    high = (uv >= SLOPE_HIGH[0]) & (uv <= SLOPE_HIGH[1])
    return float(ratio[high].mean() - ratio[low].mean())


def recompress(x8: np.ndarray, quality: int, subsampling: int) -> np.ndarray:
    """``x8`` (uint8 RGB) through a JPEG encode/decode with Pillow (libjpeg) at these settings."""
    buf = io.BytesIO()
    Image.fromarray(x8).save(buf, format="JPEG", quality=int(quality), subsampling=int(subsampling))
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def _aligned(shape: tuple[int, int], grid: tuple[int, int], phase: tuple[int, int],
             box: tuple[int, int, int, int], whole: bool = True) -> tuple[slice, slice]:
    """The window ``box`` (y0, y1, x0, x1) moved to start on the 16-px chroma grid of (grid, phase),
    so that compressing it again sees the photo's blocks; with ``whole`` cut to whole 16-px blocks."""
    out = []
    for axis in (0, 1):
        lo, hi, n = box[2 * axis], min(box[2 * axis + 1], shape[axis]), shape[axis]
        o = (grid[axis] + phase[axis]) % 16
        lo = lo - (lo - o) % 16
        lo = lo + 16 if lo < 0 else lo
        if whole:
            hi = lo + max(16, (hi - lo) // 16 * 16)
        out.append(slice(lo, min(hi, n)))
    return out[0], out[1]


class Probe:
    """One window of the image and the pixels of a region in it, compressed again at trial settings:
    ``rms(quality, subsampling)`` is how much those pixels change (RMS, /255; inf when none)."""

    def __init__(self, x: np.ndarray, region: np.ndarray, win: tuple[slice, slice]):
        self.crop = to_u8(x, win)
        self.inside = region[win].astype(np.uint8)
        self.count = 3 * int(np.count_nonzero(self.inside))

    def rms(self, quality: int, subsampling: int) -> float:
        if self.count == 0:
            return np.inf
        # the squared differences summed over the region's pixels and channels (exact integers)
        sq = cv2.norm(recompress(self.crop, quality, subsampling), self.crop, cv2.NORM_L2SQR, self.inside)
        return float(np.sqrt(sq / self.count))


def _window(region: np.ndarray, size: int) -> tuple[slice, slice]:
    """A size×size window (clipped to the image) centred on the middle pixel of ``region`` in
    raster order (a pixel of it, also for a ring)."""
    counts = np.count_nonzero(region, axis=1)
    cy, cx = 0, 0
    if counts.any():  # the middle True pixel: its row from the running counts, then its column
        rank = int(counts.sum()) // 2
        before = np.cumsum(counts)
        cy = int(np.searchsorted(before, rank, side="right"))
        cx = int(np.flatnonzero(region[cy])[rank - (int(before[cy - 1]) if cy else 0)])
    h, w = region.shape
    y0, x0 = max(0, min(cy - size // 2, h - size)), max(0, min(cx - size // 2, w - size))
    return slice(y0, min(h, y0 + size)), slice(x0, min(w, x0 + size))


def _box(win: tuple[slice, slice]) -> tuple[int, int, int, int]:
    return win[0].start, win[0].stop, win[1].start, win[1].stop


def photo_settings(x: np.ndarray, photo: Side, clear: np.ndarray) -> JpegSettings | None:
    """The JPEG settings the ``photo`` side of ``x`` was compressed with, or None when it does not
    look like a decoded JPEG (no grid, or no settings it is a fixed point of). The fixed point is
    judged on ``clear`` (bool H×W): photo pixels that share no chroma block with the fill."""
    local = find_grid(photo.y, photo.region)
    if local is None or not clear.any():
        return None
    grid = photo.image(local)
    box = _box(_window(clear, SAMPLE))
    cands = quality_candidates(photo.y, photo.region, local)
    phases = ((0, 0), (0, 8), (8, 0), (8, 8))
    layouts = [(0, (0, 0)), *[(2, p) for p in phases], (1, (0, 0)), (1, (0, 8))]
    probes = {ph: Probe(x, clear, _aligned(clear.shape, grid, ph, box)) for ph in phases}
    rms = _round_trips([(probes[ph], cands[0], sub) for sub, ph in layouts])
    sub, ph = layouts[int(np.argmin(rms))]
    on, off = probes[ph], Probe(x, clear, _aligned(clear.shape, _off_grid(grid), ph, box))
    qualities = list(dict.fromkeys([*cands, *COMMON_QUALITIES]))
    trips = _round_trips([(probe, q, sub) for q in qualities for probe in (on, off)])
    best, best_ratio = None, np.inf
    for i, q in enumerate(qualities):
        r = trips[2 * i]
        ratio = r / max(trips[2 * i + 1], 1e-6)
        if ratio < best_ratio:
            best, best_ratio = JpegSettings(grid, q, sub, ph, r), ratio
    return best if best_ratio < FIXED_SHARE else None


def _round_trips(trials: list[tuple[Probe, int, int]]) -> list[float]:
    """``probe.rms(quality, subsampling)`` of each trial, in order, on two threads (libjpeg runs
    without the GIL)."""
    out = [0.0] * len(trials)

    def run(indices) -> None:
        for i in indices:
            probe, quality, subsampling = trials[i]
            out[i] = probe.rms(quality, subsampling)

    split_work(run, range(len(trials)))
    return out


def _off_grid(grid: tuple[int, int]) -> tuple[int, int]:
    """The grid offset furthest from ``grid``: compressing there treats a JPEG like fresh content."""
    return (grid[0] + 4) % 8, (grid[1] + 4) % 8


def compressed_with_photo(fill_rms: float, fill_fresh: float) -> bool:
    """Whether the fill's side already carries the photo's compression: compressed again with the
    photo's settings on its grid it changes (``fill_rms``) less than ``FILL_SHARE`` of what the same
    settings change off that grid (``fill_fresh``). A flat fill (both 0) does not count."""
    return fill_rms < FILL_SHARE * fill_fresh


def match_jpeg(x: np.ndarray, mask: np.ndarray, sd: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """Give a clean fill the JPEG block structure of the photo around it.

    x: H×W×3 float32 sRGB in [0, 1]; mask: H×W in [0, 1] (the fill); sd: its signed distance to the
    fill's edge (``ring_profile.signed_distance`` of mask ≥ 0.5) when already measured. The photo's
    side (outside the edge by more than ``EDGE_CLEAR`` px) is tested for JPEG settings it is a fixed
    point of (``photo_settings``); if it is one, the fill's side is not (``FILL_SHARE``) and the fill
    is not softer than the photo (``detail_slope``), the change that compresses the fill with them.
    Returns (change, info): change is zero outside mask > 0 and everywhere when nothing was found;
    info holds ``gate`` (1 when applied, else 0) and, when the photo is a JPEG, its settings and what
    the fill measured; when the photo is not but the fill is, ``fill_grid`` (its 8×8 grid offset).
    Raises DTypeError/ShapeError on bad input.
    """
    check_stage_input(x, mask, "match_jpeg")
    info: dict = {"gate": 0.0}
    change = np.zeros_like(x)
    inside = mask >= 0.5
    if not inside.any() or inside.all():
        return change, info
    if sd is None:
        sd = signed_distance(inside)
    near = SIDE_BAND + EDGE_CLEAR
    photo = measure_side(x, sd < -EDGE_CLEAR, (sd < -EDGE_CLEAR) & (sd >= -near))
    found = photo_settings(x, photo, sd < -MCU_CLEAR)
    if found is None:
        inner = (sd >= EDGE_CLEAR) & (sd < near)
        fill = measure_side(x, sd >= EDGE_CLEAR, inner)
        local = find_grid(fill.y, fill.region) if inner.any() else None
        if local is not None:  # the fill was compressed and the photo was not
            info["fill_grid"] = list(fill.image(local))
        return change, info
    info.update(grid=list(found.grid), quality=found.quality, subsampling=found.subsampling,
                photo_rms=found.fixed_rms)
    if found.quality > QUALITY_MAX:
        return change, info
    deep = sd >= MCU_CLEAR
    if not deep.any():
        return change, info
    box = _box(_window(deep, SAMPLE))
    settings = (found.quality, found.subsampling)
    fill_rms = Probe(x, deep, _aligned(deep.shape, found.grid, found.phase, box)).rms(*settings)
    fill_fresh = Probe(x, deep, _aligned(deep.shape, _off_grid(found.grid), found.phase, box)).rms(*settings)
    info.update(fill_rms=fill_rms, fill_fresh=fill_fresh)
    if compressed_with_photo(fill_rms, fill_fresh):
        return change, info
    ring = EDGE_CLEAR + SLOPE_RING
    outer, inner = (sd < -EDGE_CLEAR) & (sd >= -ring), (sd >= EDGE_CLEAR) & (sd < ring)
    info["detail_slope"] = slope = detail_slope(x, outer, inner, found)
    if slope < SLOPE_MIN:
        return change, info
    rows, cols = np.flatnonzero((mask > 0).any(1)), np.flatnonzero((mask > 0).any(0))
    box = (int(rows[0]), int(rows[-1]) + 17, int(cols[0]), int(cols[-1]) + 17)
    win = _aligned(mask.shape, found.grid, found.phase, box, whole=False)
    out = recompress(to_u8(x, win), found.quality, found.subsampling)
    delta = out.astype(np.float32)
    delta /= np.float32(255.0)
    delta -= x[win]
    np.copyto(change[win], delta, where=(mask[win] > 0)[..., None])
    info["gate"] = 1.0
    return change, info
