"""In-process seam refinement: crop around the mask → model (tiled, streamed) → band composite.

``Refiner.refine(image, mask)`` returns a new array of the image's shape and dtype in which only the
band around the mask (the mask plus ``band_width`` px, feathered over ``band_feather`` px) may differ;
every other pixel, and alpha, is bit-identical to the input. The caller's arrays are never written.

Memory bound. Besides the output (one copy of the image in its own dtype) a call holds, for the crop
around the mask (the mask's bounding box grown by the model's context): its float32 mask (4 B/px); when
``samples > 1`` one candidate crop in the image dtype; for ``seam_score``, the crop area-reduced to the
metric's working size (≤ ``metrics.SCORE_MAX_PIXELS``) plus the metric's temporaries on that reduced
image. The model itself is streamed: tiles are cut from the original-dtype crop on the fly, blended
into an accumulator that spans only one row of tiles (≤ tile × crop width × 12 B), and finished rows
are composited in strips of ≤ ~1 MP. No full-size float copy of the image, or of its padded crop,
is ever made. Measured (fixture model, CPU): 8K×8K uint8 with a 4K×4K mask (crop = whole image)
peaks at ~0.65 GB RSS, of which 0.26 GB are the caller's image and mask and 0.19 GB the output.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from numbers import Integral, Real

import numpy as np

from . import imagemath as im
from .errors import CancelledError, ImageTooLargeError, InputError, SeamRefineError
from .session import ModelSession

log = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 100_000_000
MAX_SAMPLES = 8
MAX_BAND = 512
COLORSPACES = ("srgb", "linear")
STRIP_PIXELS = 1 << 20
_SEED = 0x5EA3
JITTER_GAIN, JITTER_OFFSET, JITTER_NOISE = 0.03, 0.01, 0.01


def _check_params(strength, samples, band, colorspace, progress, cancel) -> None:
    if isinstance(strength, bool) or not isinstance(strength, Real) or not 0.0 <= float(strength) <= 1.0:
        raise InputError(f"strength must be a number in [0, 1], got {strength!r}", strength)
    if isinstance(samples, bool) or not isinstance(samples, Integral) or not 1 <= samples <= MAX_SAMPLES:
        raise InputError(f"samples must be an integer in [1, {MAX_SAMPLES}], got {samples!r}", samples)
    if band is not None and (
        isinstance(band, bool) or not isinstance(band, Integral) or not 0 <= band <= MAX_BAND
    ):
        raise InputError(f"band must be None or an integer in [0, {MAX_BAND}] px, got {band!r}", band)
    if colorspace not in COLORSPACES:
        raise InputError(f"colorspace must be 'srgb' or 'linear', got {colorspace!r}", colorspace)
    if progress is not None and not callable(progress):
        raise InputError(f"progress must be callable, got {type(progress).__name__}", type(progress).__name__)
    if cancel is not None and not callable(getattr(cancel, "is_set", None)):
        raise InputError(
            f"cancel must be a threading.Event, got {type(cancel).__name__}", type(cancel).__name__
        )


def _mask_source(mask, shape: tuple[int, int]) -> np.ndarray:
    """The mask as H×W: uint8/bool masks as a view (converted per crop later), others via mask_to_float."""
    m = mask[..., 0] if isinstance(mask, np.ndarray) and mask.ndim == 3 and mask.shape[2] == 1 else mask
    if isinstance(m, np.ndarray) and m.shape == tuple(shape) and m.dtype in (np.uint8, np.bool_):
        return m
    return im.mask_to_float(mask, shape)


def _mask_float(part: np.ndarray) -> np.ndarray:
    """A piece of a ``_mask_source`` mask as float32 [0, 1], the same arithmetic as mask_to_float."""
    return part.astype(np.float32) / 255.0 if part.dtype == np.uint8 else part.astype(np.float32, copy=False)


def _axis_tiles(length: int, tile: int, overlap: int) -> list[tuple[int, np.ndarray]]:
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


def _hash_noise(seed: int, y0: int, y1: int, x0: int, x1: int, row_len: int) -> np.ndarray:
    """Uniform noise in [-1, 1) that depends only on (seed, pixel, channel): identical across tilings."""
    yy = np.arange(y0, y1, dtype=np.uint64)[:, None, None]
    xx = np.arange(x0, x1, dtype=np.uint64)[None, :, None]
    z = (yy * np.uint64(row_len) + xx) * np.uint64(3) + np.arange(3, dtype=np.uint64) + np.uint64(seed)
    z = z + np.uint64(0x9E3779B97F4A7C15)  # splitmix64 finaliser
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return (z >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-23) - np.float32(1.0)


def _jitter(k: int) -> tuple[float, float, int] | None:
    """Sample ``k``'s (gain, offset, noise seed); sample 0 is the plain input (None)."""
    if k == 0:
        return None
    rng = np.random.default_rng([_SEED, k])
    gain = 1.0 + rng.uniform(-JITTER_GAIN, JITTER_GAIN)
    return gain, rng.uniform(-JITTER_OFFSET, JITTER_OFFSET), int(rng.integers(1 << 62))


class _Scorer:
    """``metrics.seam_score`` of crops in the image dtype, without a full-size float copy.

    seam_score area-downsamples inputs above ``SCORE_MAX_PIXELS`` by an integer factor first; doing
    that reduction here strip by strip (same factor, same arithmetic) gives the same score while only
    ever converting ~1 MP of the crop to float at a time.
    """

    def __init__(self, metrics, mask_crop: np.ndarray, linear: bool):
        self.metrics, self.linear = metrics, linear
        h, w = mask_crop.shape
        limit = getattr(metrics, "SCORE_MAX_PIXELS", 0)
        self.f = max(1, math.ceil(math.sqrt(h * w / limit))) if limit else 1
        self.shape = (h // self.f, w // self.f)
        self.mask = self._reduce(mask_crop, _mask_float)

    def _reduce(self, a: np.ndarray, to_float: Callable) -> np.ndarray:
        """``metrics.area_downsample(to_float(a), f)`` computed in strips of ~STRIP_PIXELS input pixels."""
        f = self.f
        if f == 1:
            return to_float(a)
        out = np.empty(self.shape + ((3,) if a.ndim == 3 else ()), np.float32)  # RGB(A) scored as RGB
        step = max(1, STRIP_PIXELS // (a.shape[1] * f))
        for o0 in range(0, self.shape[0], step):
            o1 = min(o0 + step, self.shape[0])
            out[o0:o1] = self.metrics.area_downsample(to_float(a[o0 * f : o1 * f, : self.shape[1] * f]), f)
        return out

    def _float(self, crop: np.ndarray) -> np.ndarray:
        rgb, _ = im.to_float(crop)
        return im.linear_to_srgb(np.clip(rgb, 0.0, 1.0)) if self.linear else rgb

    def __call__(self, crop: np.ndarray) -> float:
        rgb = self._reduce(crop, self._float)
        try:
            return float(self.metrics.seam_score(rgb, self.mask))
        except SeamRefineError as e:  # e.g. a mask too thin or too soft to measure: refine anyway
            log.info("seam score unavailable: %s", e)
            return math.nan


def _metrics():
    try:
        from . import metrics
    except ImportError:
        return None
    return metrics


class Refiner:
    """Refines seams with one loaded model. Thread-safe to call; ``last_scores`` is the last call's."""

    def __init__(
        self,
        model_path=None,
        providers=None,
        *,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        threads: int | None = None,
        session: ModelSession | None = None,
    ):
        self.session = (
            session if session is not None else ModelSession(model_path, providers, threads=threads)
        )
        self.manifest = self.session.manifest
        self.max_pixels = int(max_pixels)
        self.last_scores: tuple[float, float] = (math.nan, math.nan)
        self.last_info: dict = {}

    @property
    def provider(self) -> str:
        return self.session.provider

    def refine(
        self,
        image,
        mask,
        *,
        strength=1.0,
        samples=1,
        band=None,
        progress=None,
        cancel=None,
        colorspace="srgb",
    ) -> np.ndarray:
        """Refine the seam around ``mask`` in ``image``; return a new array (same shape and dtype).

        image: H×W×3/4 uint8/uint16/float16/float32 (sRGB, or linear with ``colorspace="linear"``).
        mask: H×W uint8 0–255 or float [0, 1] (soft allowed), 1 = generated. strength ∈ [0, 1] scales
        the band; samples ∈ [1, 8] refines jittered variants and keeps the lowest seam_score; band
        overrides the manifest band width (px). progress(done, total) after each tile × sample;
        cancel (threading.Event) is checked between tiles and raises CancelledError.
        """
        out, _ = self.refine_with_info(
            image,
            mask,
            strength=strength,
            samples=samples,
            band=band,
            progress=progress,
            cancel=cancel,
            colorspace=colorspace,
        )
        return out

    def refine_with_info(
        self,
        image,
        mask,
        *,
        strength=1.0,
        samples=1,
        band=None,
        progress=None,
        cancel=None,
        colorspace="srgb",
    ) -> tuple[np.ndarray, dict]:
        """Like ``refine`` but also returns a dict: scores, chosen sample, tiles, box, provider, ms."""
        t0 = time.perf_counter()
        _check_params(strength, samples, band, colorspace, progress, cancel)
        if (
            isinstance(image, np.ndarray)
            and image.ndim == 3
            and image.shape[0] * image.shape[1] > self.max_pixels
        ):
            h, w = image.shape[:2]
            raise ImageTooLargeError(
                f"image is {w}×{h} ({h * w / 1e6:.1f} MP), over the limit of {self.max_pixels / 1e6:g} MP",
                (h, w),
            )
        im.check_image(image)
        m = _mask_source(mask, image.shape[:2])
        im.check_mask_region(m)
        man = self.manifest
        width = int(man["band_width"] if band is None else band)
        feather = int(man["band_feather"])
        box = im.context_box(m, max(int(man["context"]), width + feather + 1))
        crop = image[box.slices]
        mask_crop = m[box.slices]  # uint8/bool view or float32; converted piecewise (_mask_float)
        linear = colorspace == "linear"
        metrics = _metrics()
        score = _Scorer(metrics, mask_crop, linear) if metrics else (lambda a: math.nan)
        before = score(crop)
        out = image.copy()
        info = {
            "box": (box.y0, box.y1, box.x0, box.x1),
            "provider": self.provider,
            "samples": samples,
            "chosen": 0,
            "tiles": 0,
            "sample_scores": [],
        }
        if strength == 0:
            after = before
        else:
            if samples > 1 and metrics is None:
                log.warning("seamrefine.metrics is unavailable: multi-sample pooling keeps sample 0 only")
                samples = 1
            job = _Job(self, crop, mask_crop, width, feather, float(strength), linear)
            total = len(job.tiles) * samples
            info["tiles"], info["samples"] = len(job.tiles), samples
            done = [0]

            def tick() -> None:
                done[0] += 1
                if progress is not None:
                    progress(done[0], total)

            target = out[box.slices]
            candidate = np.empty_like(crop) if samples > 1 else None
            after = math.inf
            for k in range(samples):
                dest = target if k == 0 else candidate
                job.run(dest, _jitter(k), tick, cancel)
                s = score(dest)
                info["sample_scores"].append(s)
                if k == 0 or (not math.isnan(s) and (math.isnan(after) or s < after)):
                    if k > 0:
                        target[...] = candidate
                    after, info["chosen"] = s, k
        self.last_scores = (before, after)
        info["scores"] = self.last_scores
        info["elapsed_ms"] = (time.perf_counter() - t0) * 1000.0
        self.last_info = info
        return out, info


class _Job:
    """One refine call's crop geometry: which tiles to run, how to blend them, how to composite."""

    def __init__(self, refiner: Refiner, crop, mask_crop, width, feather, strength, linear):
        self.session = refiner.session
        self.crop, self.mask = crop, mask_crop
        self.width, self.feather, self.strength, self.linear = width, feather, strength, linear
        h, w = mask_crop.shape
        pm = self.session.pad_multiple
        self.hp, self.wp = h + (-h) % pm, w + (-w) % pm
        mode = "reflect" if self.hp - h < h and self.wp - w < w else "edge"  # as imagemath.pad_to_multiple
        self.rows_idx, self.cols_idx = _pad_index(h, self.hp, mode), _pad_index(w, self.wp, mode)
        man = refiner.manifest
        tile = max(pm, int(man["tile"]) - int(man["tile"]) % pm)
        overlap = min(int(man["tile_overlap"]), tile // 2)
        self.rows = _axis_tiles(self.hp, tile, overlap)
        self.cols = _axis_tiles(self.wp, tile, overlap)
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

    def _tile_input(self, y0, y1, x0, x1, jitter) -> tuple[np.ndarray, np.ndarray]:
        h, w = self.mask.shape
        if y1 <= h and x1 <= w:  # inside the crop: plain slices, no gather
            win = (slice(y0, y1), slice(x0, x1))
        else:
            win = np.ix_(self.rows_idx[y0:y1], self.cols_idx[x0:x1])
        rgb, _ = im.to_float(self.crop[win])
        np.clip(rgb, 0.0, 1.0, out=rgb)
        if self.linear:
            rgb = im.linear_to_srgb(rgb)
        if jitter is not None:
            gain, offset, seed = jitter
            noise = _hash_noise(seed, y0, y1, x0, x1, self.wp)
            rgb = np.clip(rgb * np.float32(gain) + np.float32(offset) + JITTER_NOISE * noise, 0.0, 1.0)
        mask = _mask_float(self.mask[win])
        return rgb.transpose(2, 0, 1)[None], mask[None, None]

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
                img_t, mask_t = self._tile_input(y0, y1, x0, x1, jitter)
                out = self.session.run(img_t, mask_t)[0].transpose(1, 2, 0)
                if jitter is not None:
                    out = (out - np.float32(jitter[1])) / np.float32(jitter[0])
                if self.linear:
                    out = im.srgb_to_linear(out)
                acc[:, x0:x1] += out * (wy[:, None] * wx[None, :])[..., None]
                tick()
            final = self.rows[r + 1][0] if r + 1 < len(self.rows) else self.hp
            self._flush(dest, acc, y0, final)
            acc = acc[final - y0 :]

    def _flush(self, dest, acc, f0, f1) -> None:
        """Composite finished rows [f0, f1) (accumulator row 0 = crop row f0) into ``dest`` in strips."""
        h, w = self.mask.shape
        reach = self.width + self.feather + 1
        step = max(1, STRIP_PIXELS // max(w, 1))
        for c0 in range(f0, min(f1, h), step):
            c1 = min(c0 + step, f1, h)
            lo, hi = max(0, c0 - reach), min(h, c1 + reach)
            band = im.band_weights(self.mask[lo:hi], self.width, self.feather)[c0 - lo : c1 - lo]
            if self.strength != 1.0:
                band *= np.float32(self.strength)
            if not band.any():
                dest[c0:c1] = self.crop[c0:c1]
                continue
            refined = acc[c0 - f0 : c1 - f0, :w]
            dest[c0:c1] = im.composite(self.crop[c0:c1], refined, band)


_default: Refiner | None = None
_default_lock = threading.Lock()


def default_refiner() -> Refiner:
    """The process-wide Refiner on the shipped model, created on first use (thread-safe)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Refiner()
        return _default


def refine(image, mask, *, strength=1.0, samples=1, band=None, progress=None, cancel=None, colorspace="srgb"):
    """Refine with the cached default Refiner (see ``Refiner.refine``)."""
    return default_refiner().refine(
        image,
        mask,
        strength=strength,
        samples=samples,
        band=band,
        progress=progress,
        cancel=cancel,
        colorspace=colorspace,
    )
