"""The tile engine behind :class:`seamrefine.runtime.inference.Refiner`: one crop through the model, streamed.

``TileJob`` cuts padded tiles from the original-dtype crop on the fly (``_pad_index`` reproduces
``imagemath.pad_to_multiple``), adds the classical harmonisation's change (``pre``, sRGB, crop-shaped)
when there is one, runs the model on each (``run_reduced``: tiles above the manifest's ``net_pixels``
area-reduced), blends them with the weights of ``axis_tiles`` into an accumulator one row of tiles tall,
and composites finished rows into the destination in strips of ≤ ``COMPOSITE_STRIP_PIXELS``, two
threads at a time. What is accumulated is the model's change (output − input), which is added to the
original values, so float values outside [0, 1] survive inside the band. Multi-sample pooling's jittered
variants come from ``sample_jitter`` (per-sample gain, offset and a noise seed) and ``hash_noise`` (noise that
does not depend on the tiling).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

from ..errors import CancelledError
from ..imaging import imagemath as im
from .background import split_work
from .pixel_ops import add_clipped, clip_unit
from .session import ModelSession

STRIP_PIXELS = 1 << 20
COMPOSITE_STRIP_PIXELS = STRIP_PIXELS // 4  # composited two at a time, one per thread
REDUCED_MASK_FLOOR = 0.25  # the reduced mask below which a reduced run's change is not scaled up further
_SEED = 0x5EA3
JITTER_GAIN, JITTER_OFFSET, JITTER_NOISE = 0.03, 0.01, 0.01


def float_mask(part: np.ndarray) -> np.ndarray:
    """A piece of a ``_mask_source`` mask as float32 [0, 1], the same arithmetic as mask_to_float."""
    return part.astype(np.float32) / 255.0 if part.dtype == np.uint8 else part.astype(np.float32, copy=False)


def axis_tiles(length: int, tile: int, overlap: int) -> list[tuple[int, np.ndarray]]:
    """Tile starts along one axis and each tile's blend weights, normalised so they sum to 1 everywhere.

    Starts are spread evenly so neighbours overlap by ≥ ``overlap``; each tile's weight rises over
    ``overlap`` px at an inner edge by a raised cosine (never exactly 0), borders of the crop keep 1.
    """
    if length <= tile:
        return [(0, np.ones(length, np.float32))]
    n = math.ceil((length - overlap) / (tile - overlap))
    starts = [round(i * (length - tile) / (n - 1)) for i in range(n)]
    ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(overlap) + 0.5) / max(overlap, 1))
    weights, total = [], np.zeros(length)
    for i, s in enumerate(starts):
        w = np.ones(tile)
        if overlap and i > 0:
            w[:overlap] *= ramp
        if overlap and i < n - 1:
            w[-overlap:] *= ramp[::-1]
        total[s : s + tile] += w
        weights.append(w)
    return [(s, (w / total[s : s + tile]).astype(np.float32)) for s, w in zip(starts, weights, strict=True)]


def _pad_index(n: int, padded: int, mode: str) -> np.ndarray:
    """Source index for each padded position, matching imagemath.pad_to_multiple's reflect/edge pad."""
    i = np.arange(padded)
    return np.where(i < n, i, (2 * (n - 1) - i) if mode == "reflect" else n - 1)


def hash_noise(seed: int, y0: int, y1: int, x0: int, x1: int, row_len: int) -> np.ndarray:
    """Uniform noise in [-1, 1) that depends only on (seed, pixel, channel): identical across tilings."""
    yy = np.arange(y0, y1, dtype=np.uint64)[:, None, None]
    xx = np.arange(x0, x1, dtype=np.uint64)[None, :, None]
    z = (yy * np.uint64(row_len) + xx) * np.uint64(3) + np.arange(3, dtype=np.uint64) + np.uint64(seed)
    z = z + np.uint64(0x9E3779B97F4A7C15)  # splitmix64 finaliser
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return (z >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-23) - np.float32(1.0)


def sample_jitter(k: int) -> tuple[float, float, int] | None:
    """Sample ``k``'s (gain, offset, noise seed); sample 0 is the plain input (None)."""
    if k == 0:
        return None
    rng = np.random.default_rng([_SEED, k])
    gain = 1.0 + rng.uniform(-JITTER_GAIN, JITTER_GAIN)
    return gain, rng.uniform(-JITTER_OFFSET, JITTER_OFFSET), int(rng.integers(1 << 62))


def run_reduced(model, rgb: np.ndarray, mask: np.ndarray, net_pixels: int | None) -> np.ndarray:
    """The model's output for one tile (``rgb`` H×W×3 sRGB and ``mask`` H×W float32 in, H×W×3 float32
    out): run as it is when the tile has at most ``net_pixels`` pixels (or ``net_pixels`` is None),
    else on the tile area-reduced to about ``net_pixels`` (sides multiples of the model's pad multiple).

    The model's change there, a colour change times the mask, comes back as a normalised upsampling,
    up(change) / max(up(mask), ``REDUCED_MASK_FLOOR``) · mask, so it stops at the fill's edge as it
    would at full resolution. The network's colour coefficients lie on a fixed grid of 32×32 cells
    whatever the tile's size, so the reduction loses little it could resolve, and its full-resolution
    features (high-frequency energy, the rings 3 and 12 px either side of the edge) are then measured
    at about the scale it was trained on (160–256 px crops)."""
    h, w = mask.shape
    if net_pixels is None or h * w <= net_pixels:
        return model.run(rgb.transpose(2, 0, 1)[None], mask[None, None])[0].transpose(1, 2, 0)
    f = math.sqrt(h * w / net_pixels)
    pm = model.pad_multiple
    hl, wl = max(pm, round(h / f / pm) * pm), max(pm, round(w / f / pm) * pm)
    rgb_l = cv2.resize(rgb, (wl, hl), interpolation=cv2.INTER_AREA)
    m_l = cv2.resize(mask, (wl, hl), interpolation=cv2.INTER_AREA)
    out_l = model.run(rgb_l.transpose(2, 0, 1)[None], m_l[None, None])[0].transpose(1, 2, 0)
    change = cv2.resize(out_l - rgb_l, (w, h), interpolation=cv2.INTER_LINEAR)
    weight = mask / np.maximum(cv2.resize(m_l, (w, h), interpolation=cv2.INTER_LINEAR), REDUCED_MASK_FLOOR)
    change *= weight[..., None]
    change += rgb
    return clip_unit(change)


class TileJob:
    """One refine call's crop geometry: which tiles to run, how to blend them, how to composite."""

    def __init__(self, session: ModelSession, crop, mask_crop, width, feather, strength, linear, pre=None,
                 band=None):
        self.session = session
        self.crop, self.mask, self.pre = crop, mask_crop, pre
        self.band = band  # the crop's band_weights(mask_crop, width, feather) when measured already
        self.width, self.feather, self.strength, self.linear = width, feather, strength, linear
        h, w = mask_crop.shape
        pm = self.session.pad_multiple
        self.hp, self.wp = h + (-h) % pm, w + (-w) % pm
        mode = "reflect" if self.hp - h < h and self.wp - w < w else "edge"  # as imagemath.pad_to_multiple
        self.rows_idx, self.cols_idx = _pad_index(h, self.hp, mode), _pad_index(w, self.wp, mode)
        man = session.manifest
        tile = max(pm, int(man["tile"]) - int(man["tile"]) % pm)
        overlap = min(int(man["tile_overlap"]), tile // 2)
        self.net_pixels = man.get("net_pixels")  # None: the model runs on full-resolution tiles
        self.rows = axis_tiles(self.hp, tile, overlap)
        self.cols = axis_tiles(self.wp, tile, overlap)
        reach = width + feather
        self.tiles = [
            (r, c)
            for r, (y0, wy) in enumerate(self.rows)
            for c, (x0, wx) in enumerate(self.cols)
            if (
                mask_crop[
                    max(0, y0 - reach) : y0 + len(wy) + reach, max(0, x0 - reach) : x0 + len(wx) + reach
                ]
                > 0
            ).any()
        ]

    def _tile_input(self, y0, y1, x0, x1, jitter) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The model's image (H×W×3) and mask (H×W) inputs for one tile, and ``base``: the tile before the
        classical harmonisation ``pre`` and jitter (sRGB, clipped to [0, 1]), against which the change is
        measured."""
        h, w = self.mask.shape
        if y1 <= h and x1 <= w:  # inside the crop: plain slices, no gather
            win = (slice(y0, y1), slice(x0, x1))
        else:
            win = np.ix_(self.rows_idx[y0:y1], self.cols_idx[x0:x1])
        rgb, _ = im.to_float(self.crop[win])
        clip_unit(rgb)
        if self.linear:
            rgb = im.linear_to_srgb(rgb)
        base = rgb
        if self.pre is not None:
            rgb = add_clipped(rgb, self.pre[win])
        if jitter is not None:
            gain, offset, seed = jitter
            noise = hash_noise(seed, y0, y1, x0, x1, self.wp)
            rgb = np.clip(rgb * np.float32(gain) + np.float32(offset) + JITTER_NOISE * noise, 0.0, 1.0)
        return rgb, float_mask(self.mask[win]), base

    def run(self, dest: np.ndarray, jitter, tick: Callable[[], None], cancel) -> None:
        """Refine the crop into ``dest`` (crop-shaped, image dtype), one row of tiles at a time."""
        todo: dict[int, list[int]] = {}
        for r, c in self.tiles:
            todo.setdefault(r, []).append(c)
        acc = np.zeros((0, self.wp, 3), np.float32)  # rows [y0, y0 + len(acc)) of the padded crop
        for r, (y0, wy) in enumerate(self.rows):
            y1 = y0 + len(wy)
            if acc.shape[0] < y1 - y0:
                acc = np.concatenate([acc, np.zeros((y1 - y0 - acc.shape[0], self.wp, 3), np.float32)])
            for c in todo.get(r, []):
                if cancel is not None and cancel.is_set():
                    raise CancelledError("refinement cancelled", "cancelled")
                x0, wx = self.cols[c]
                x1 = x0 + len(wx)
                rgb, mask, base = self._tile_input(y0, y1, x0, x1, jitter)
                out = run_reduced(self.session, rgb, mask, self.net_pixels)
                if jitter is not None:
                    out = (out - np.float32(jitter[1])) / np.float32(jitter[0])
                # the model's *change*, in the image's own encoding: added to the original values,
                # it keeps float values outside [0, 1] (HDR highlights) instead of clipping them
                delta = im.srgb_to_linear(out) - im.srgb_to_linear(base) if self.linear else out - base
                if len(self.rows) == 1 and len(self.cols) == 1:  # one tile: its weights are all 1
                    acc[:, x0:x1] += delta
                else:
                    acc[:, x0:x1] += delta * (wy[:, None] * wx[None, :])[..., None]
                tick()
            final = self.rows[r + 1][0] if r + 1 < len(self.rows) else self.hp
            self._flush(dest, acc, y0, final)
            acc = acc[final - y0 :]

    def _flush(self, dest, acc, f0, f1) -> None:
        """Composite finished rows [f0, f1) (accumulator row 0 = crop row f0) into ``dest`` in strips of
        ≤ ``COMPOSITE_STRIP_PIXELS``, two threads taking every other strip (large numpy passes, GIL-free)."""
        h, w = self.mask.shape
        step = max(1, COMPOSITE_STRIP_PIXELS // max(w, 1))
        starts = range(f0, min(f1, h), step)
        split_work(lambda part: self._composite(dest, acc, f0, f1, part, step), starts)

    def _composite(self, dest, acc, f0, f1, starts, step) -> None:
        """``_flush``'s strips of ``step`` rows starting at the crop rows ``starts``."""
        h, w = self.mask.shape
        reach = self.width + self.feather + 1
        for c0 in starts:
            c1 = min(c0 + step, f1, h)
            if self.band is not None:
                band = self.band[c0:c1]
            else:
                lo, hi = max(0, c0 - reach), min(h, c1 + reach)
                band = im.band_weights(self.mask[lo:hi], self.width, self.feather)[c0 - lo : c1 - lo]
            if self.strength != 1.0:
                band = band * np.float32(self.strength)
            if not band.any():
                dest[c0:c1] = self.crop[c0:c1]
                continue
            dest[c0:c1] = im.add_change_in_band(self.crop[c0:c1], acc[c0 - f0 : c1 - f0, :w], band)
