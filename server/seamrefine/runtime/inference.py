"""In-process seam refinement: crop around the mask → model (tiled, streamed) → band composite.

``Refiner.refine(image, mask, params)`` returns (a new array of the image's shape and dtype, info) where
only the band around the mask (the mask plus ``band_width`` px, feathered over ``band_feather`` px) may
differ; every other pixel, and alpha, is bit-identical to the input. The caller's arrays are never
written. ``refine(image, mask, strength=…)`` (``seamrefine.refine``) does the same with the shipped
model and returns the array alone.

Memory bound. Besides the output (one copy of the image in its own dtype) a call holds, for the crop
around the mask (the mask's bounding box grown by the model's context): its float32 mask (4 B/px); when
``samples > 1`` one candidate crop in the image dtype; for ``seam_score``, the crop area-reduced to the
metric's working size (≤ ``seam_score.SCORE_MAX_PIXELS``) plus the metric's temporaries on that reduced
image. The model itself is streamed: tiles are cut from the original-dtype crop on the fly, blended
into an accumulator that spans only one row of tiles (≤ tile × crop width × 12 B), and finished rows
are composited in strips of ≤ ~0.25 MP, two at a time; the tile engine makes no full-size float copy
of the image or of its padded crop. Measured with it alone (fixture model, ``classical=False``, CPU):
8K×8K uint8 with a 4K×4K mask (crop = whole image) peaks at ~0.65 GB RSS, of which 0.26 GB are the
caller's image and mask and 0.19 GB the output. The classical stage before it works on float32 copies
of the crop and returns a crop-sized float32 change (16 MP with a 4.3 MP fill: 1.9 GB peak, MODEL.md).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

import numpy as np

from ..errors import InputError, SeamRefineError
from ..imaging import imagemath as im
from ..imaging.patch import patch_image
from .background import Background
from .classical import classical_change
from .limits import MAX_PIXELS, check_pixels
from .params import RefineParams
from .pixel_ops import clip_unit
from .ring_profile import REACH
from .session import ModelSession
from .tiling import STRIP_PIXELS, TileJob, float_mask, sample_jitter

log = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = MAX_PIXELS  # the one limit (runtime/limits.py), kept under its old name


def _check_callbacks(params, progress, cancel) -> None:
    if not isinstance(params, RefineParams):
        kind = type(params).__name__
        raise InputError(f"params must be a RefineParams, got {kind}", kind)
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
        self.mask = self._reduce(mask_crop, float_mask)
        self.geometry = None

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
            if self.geometry is None:  # the mask's part of the score, measured once for all calls
                self.geometry = self.metrics.SeamGeometry(self.mask, self.mask.shape)
            return float(self.metrics.seam_score(rgb, self.mask, self.geometry))
        except SeamRefineError as e:  # e.g. a mask too thin or too soft to measure: refine anyway
            log.info("seam score unavailable: %s", e)
            return math.nan


def _metrics():
    """The seam score module (``seam_score``, ``SeamGeometry``, ``area_downsample``,
    ``SCORE_MAX_PIXELS``), or None."""
    try:
        from ..imaging import seam_score
    except ImportError:
        return None
    return seam_score


def _classical(crop: np.ndarray, mask_crop: np.ndarray, linear: bool, width: int):
    """The classical stage's change for the crop (sRGB float32, crop-shaped), or None when all its
    gates stay closed; whether its result stands without the network (the fill was given the photo's
    JPEG compression or grain, which the network would smooth away, or the fill is a JPEG in a photo
    that is not, which the network only blurs or sharpens: −0.03 dB on average on training photos,
    never better; or the seam gate was unsure and the colour change was capped, which bounds how far
    a clean photo moves only if nothing moves it further); and its info ({"harmonise": …,
    "membrane": …, "texture": …, "grain": …, "jpeg": …})."""
    rgb, _ = im.to_float(crop)
    clip_unit(rgb)
    if linear:
        rgb = im.linear_to_srgb(rgb)
    change, info = classical_change(rgb, float_mask(mask_crop), reach=width)
    opened = any(stage["gate"] > 0 for stage in info.values())
    stands = (info["jpeg"]["gate"] > 0 or "fill_grid" in info["jpeg"] or info["grain"]["gate"] > 0
              or "capped_rms" in info["harmonise"])
    return (change if opened else None), stands, info


class _Passthrough:
    """Stands in for the model where the classical result stands: returns its image input, tiled and
    composited exactly as the model's output would be."""

    def __init__(self, session: ModelSession):
        # full-resolution tiles: a reduced run of this stand-in would only round-trip its input
        self.manifest = {k: v for k, v in session.manifest.items() if k != "net_pixels"}
        self.pad_multiple = session.pad_multiple

    def run(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return image


class Refiner:
    """Refines seams with one loaded model. Thread-safe to call.

    Each call first runs the classical stage (``seamrefine.runtime.classical``: the colour harmonisation
    behind the learned seam gate, texture matching behind the texture gate, grain matching behind the
    grain gate, JPEG block matching) on the crop, then the model on its result (not at all where
    all gates stay closed: then the image comes back unchanged; nor where the fill was given the
    photo's grain or JPEG compression or is a JPEG in a photo that is not: there the classical
    result stands, one sample); ``classical=False`` runs the model alone (tile-engine tests)."""

    def __init__(
        self,
        model_path=None,
        providers=None,
        *,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        threads: int | None = None,
        session: ModelSession | None = None,
        classical: bool = True,
    ):
        self.session = (
            session if session is not None else ModelSession(model_path, providers, threads=threads)
        )
        self.manifest = self.session.manifest
        self.max_pixels = int(max_pixels)
        self.classical = bool(classical)

    @property
    def provider(self) -> str:
        return self.session.provider

    def refine(
        self, image, mask, params: RefineParams | None = None, *, progress=None, cancel=None
    ) -> tuple[np.ndarray, dict]:
        """Refine the seam around ``mask`` in ``image``; return (a new array of the image's shape and
        dtype, info).

        image: H×W×3/4 RGB(A) uint8/uint16/float16/float32, or grey (H×W, H×W×1, H×W×2 with alpha),
        which comes back grey. mask: H×W uint8 0–255, bool or float [0, 1] (soft allowed), 1 = generated.
        params: a RefineParams (default: strength 1, one sample, the model's band, sRGB).
        progress(done, total) is called after each tile × sample; cancel (threading.Event) is checked
        between tiles and raises CancelledError. info holds ``seam_score_before``/``seam_score_after``
        (None where the score cannot be measured), ``elapsed_ms``, ``box``, ``provider``, ``tiles``,
        ``samples``, ``sample_scores``, ``chosen``, ``changed`` (False when the image comes back
        identical: no seam was found, or strength 0) and, when it ran, ``harmonise``, ``membrane``,
        ``texture``, ``grain`` and ``jpeg`` (each classical stage's info).
        """
        t0 = time.perf_counter()
        params = RefineParams() if params is None else params
        _check_callbacks(params, progress, cancel)
        colour = im.grey_to_colour(image)
        self._check_size(colour)
        im.check_image(colour)
        if params.output == "patch" and colour.shape[2] != 4:
            raise InputError("output='patch' needs an image with an alpha channel (RGBA, BGRA or grey + "
                             f"alpha), got shape {image.shape}", list(image.shape))
        out, info = self._refine_colour(colour, mask, params, progress, cancel)
        if colour is not image:
            out = im.colour_to_grey(out, image)
        info["elapsed_ms"] = (time.perf_counter() - t0) * 1000.0
        return out, info

    def _check_size(self, image) -> None:
        h, w = image.shape[:2] if isinstance(image, np.ndarray) and image.ndim == 3 else (0, 0)
        check_pixels(h, w, self.max_pixels)

    def _refine_colour(self, image, mask, params: RefineParams, progress, cancel) -> tuple[np.ndarray, dict]:
        m = _mask_source(mask, image.shape[:2])
        im.check_mask_region(m)
        man = self.manifest
        width = int(man["band_width"] if params.band is None else params.band)
        feather = int(man["band_feather"])
        box = refine_box(m, man, width)
        crop = image[box.slices]
        mask_crop = m[box.slices]  # uint8/bool view or float32; converted piecewise (float_mask)
        linear = params.colorspace == "linear"
        metrics = _metrics() if params.scores or params.samples > 1 else None
        score = _Scorer(metrics, mask_crop, linear) if metrics else (lambda a: math.nan)
        # the "before" score and, for a crop composited in one strip, its band overlap stage 1 (all
        # mostly single-threaded numpy, and the band depends on the mask alone)
        whole_band = mask_crop.size <= STRIP_PIXELS and params.strength != 0
        before_job = Background(
            lambda: (score(crop), im.band_weights(mask_crop, width, feather) if whole_band else None),
            name="seamrefine-score",
        )
        out = image.copy()
        samples = params.samples
        info = {
            "box": (box.y0, box.y1, box.x0, box.x1),
            "provider": self.provider,
            "samples": samples,
            "chosen": 0,
            "tiles": 0,
            "sample_scores": [],
        }
        band = None
        pre, stands = None, False
        if params.strength != 0 and self.classical:
            pre, stands, stages = _classical(crop, mask_crop, linear, width)
            info.update(stages)
        if params.strength == 0 or (self.classical and pre is None):
            # nothing to do, or no stage of the classical stage saw a seam: the network alone, on a
            # crop stage 1 left as it was, changed too little to matter and made clean-looking
            # composites worse (MODEL.md, "Stage 2"), so the image comes back unchanged
            before, band = before_job.result()  # the band, when measured, serves output="patch"
            after = before
            if params.strength != 0:
                info["samples"] = 1  # one result, the crop as it came
        else:
            if samples > 1 and metrics is None:
                log.warning("the seam score is unavailable: multi-sample pooling keeps sample 0 only")
                samples = 1
            before, band = before_job.result()
            model = _Passthrough(self.session) if stands else self.session
            samples = 1 if stands else samples
            job = TileJob(model, crop, mask_crop, width, feather, params.strength, linear, pre, band)
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
                job.run(dest, sample_jitter(k), tick, cancel)
                s = score(dest)
                info["sample_scores"].append(s)
                if k == 0 or (not math.isnan(s) and (math.isnan(after) or s < after)):
                    if k > 0:
                        target[...] = candidate
                    after, info["chosen"] = s, k
        info["seam_score_before"], info["seam_score_after"] = _measured(before), _measured(after)
        info["changed"] = not np.array_equal(out[box.slices], crop)
        if params.output == "patch":
            if band is None:
                band = im.band_weights(mask_crop, width, feather)
            out = patch_image(image, out, band, box)
        return out, info


def refine_box(mask: np.ndarray, manifest: dict, width: int | None = None) -> im.Box:
    """The crop of the image that a refine works on: the box of ``mask`` (H×W, nonzero = fill) grown by
    the model's context, the band (``width``, default the manifest's, plus its feather) and the rings
    stage 1 measures (``REACH``), clipped to the image. No more: the network's time grows with the
    crop, and its output did not change (±0.02 dB) with half the mask's size around."""
    width = int(manifest["band_width"] if width is None else width)
    grow = max(int(manifest["context"]), width + int(manifest["band_feather"]) + 1, REACH)
    return im.context_box(mask, grow, min_context_frac=0.0)


def _measured(score: float) -> float | None:
    """A seam score as a float, or None where it could not be measured (NaN): the same on the wire."""
    return None if math.isnan(score) else float(score)


_default: Refiner | None = None
_default_lock = threading.Lock()


def default_refiner() -> Refiner:
    """The process-wide Refiner on the shipped model, created on first use (thread-safe)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Refiner()
        return _default


def refine(
    image, mask, *, strength=1.0, samples=1, band=None, colorspace="srgb", output="image", progress=None,
    cancel=None,
):
    """Refine the seam around ``mask`` in ``image`` with the shipped model; return a new array of the
    same shape and dtype (alpha untouched). This is ``seamrefine.refine``.

    image: H×W×3/4 RGB(A) uint8/uint16/float16/float32, or grey (H×W, H×W×2 with alpha), which comes back
    grey. mask: H×W uint8 0–255 or float [0, 1] (soft allowed), 1 = generated. ``strength``,
    ``samples``, ``band``, ``colorspace`` and ``output`` are those of :class:`RefineParams`;
    ``progress`` and ``cancel`` those of :meth:`Refiner.refine`.
    """
    params = RefineParams(strength, samples, band, colorspace, output)
    return default_refiner().refine(image, mask, params, progress=progress, cancel=cancel)[0]
