"""Pure image math shared by training and serving: dtypes, masks, band, crop/pad, composite, sRGB.

Conventions: float images are H×W×3 float32 RGB, sRGB-encoded, nominally in [0, 1]; masks are H×W
float32 in [0, 1] where 1 means "generated, may be changed". Nothing here allocates more than a few
copies of its input, and nothing depends on torch or onnxruntime.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DTypeError, EmptyMaskError, FullMaskError, InputError, ShapeError

SUPPORTED_DTYPES = (np.uint8, np.uint16, np.float16, np.float32)
_SCALE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


COLORSPACES = ("srgb", "linear")  # how image values are encoded: sRGB curve or linear light


def check_image(image: np.ndarray) -> None:
    """Raise ShapeError/DTypeError unless ``image`` is H×W×3 or H×W×4 of a supported dtype."""
    if not isinstance(image, np.ndarray):
        raise DTypeError(f"image must be a numpy array, got {type(image).__name__}", type(image).__name__)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ShapeError(f"image must be H×W×3 or H×W×4, got shape {image.shape}", image.shape)
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ShapeError(f"image must be at least 1×1, got shape {image.shape}", image.shape)
    if image.dtype not in [np.dtype(d) for d in SUPPORTED_DTYPES]:
        raise DTypeError(
            f"image dtype must be uint8, uint16, float16 or float32, got {image.dtype}", str(image.dtype)
        )
    if image.dtype.kind == "f" and not np.isfinite(image).all():
        raise InputError("image contains NaN or infinite values", "non-finite")


def to_float(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Split ``image`` into float32 RGB in [0, 1] (integers scaled, floats as given) and its alpha."""
    check_image(image)
    scale = _SCALE.get(image.dtype)
    rgb = image[..., :3].astype(np.float32)
    if scale is not None:
        rgb /= scale
    alpha = image[..., 3] if image.shape[2] == 4 else None
    return rgb, alpha


def from_float(rgb: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Convert float RGB back to ``like``'s dtype and channel count (alpha copied from ``like``)."""
    scale = _SCALE.get(like.dtype)
    if scale is not None:
        info = np.iinfo(like.dtype)
        scaled = rgb * scale  # one float buffer, rounded and clipped in place
        np.rint(scaled, out=scaled)
        out_rgb = np.clip(scaled, info.min, info.max, out=scaled).astype(like.dtype)
    else:
        out_rgb = rgb.astype(like.dtype)
    if like.shape[2] == 4:
        return np.concatenate([out_rgb, like[..., 3:4]], axis=2)
    return out_rgb


def mask_to_float(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Validate ``mask`` (H×W uint8 0–255, or float in [0, 1], soft allowed) against ``shape``; float32."""
    if not isinstance(mask, np.ndarray):
        raise DTypeError(f"mask must be a numpy array, got {type(mask).__name__}", type(mask).__name__)
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[..., 0]
    if mask.ndim != 2:
        raise ShapeError(f"mask must be H×W, got shape {mask.shape}", mask.shape)
    check_mask_size(mask.shape, shape)
    if mask.dtype == np.uint8:
        return mask.astype(np.float32) / 255.0
    if mask.dtype == np.bool_:
        return mask.astype(np.float32)
    if mask.dtype.kind == "f":
        if not np.isfinite(mask).all():
            raise InputError("mask contains NaN or infinite values", "non-finite")
        lo, hi = float(mask.min()), float(mask.max())
        if lo < 0.0 or hi > 1.0:
            raise InputError(f"float mask must lie in [0, 1], got range [{lo:.9g}, {hi:.9g}]", (lo, hi))
        return mask.astype(np.float32)
    raise DTypeError(f"mask dtype must be uint8, bool or float, got {mask.dtype}", str(mask.dtype))


def check_stage_input(x: object, mask: object, who: str) -> None:
    """Raise DTypeError/ShapeError (carrying the bad dtype or shape) unless ``x`` is an H×W×3
    float32 array and ``mask`` an H×W array: what the classical stages take; ``who`` names the stage."""
    if not isinstance(x, np.ndarray) or x.dtype != np.float32:
        kind = getattr(x, "dtype", type(x).__name__)
        raise DTypeError(f"{who} needs float32 RGB, got {kind}", str(kind))
    if x.ndim != 3 or x.shape[2] != 3:
        raise ShapeError(f"{who} needs an H×W×3 image, got shape {x.shape}", x.shape)
    if not isinstance(mask, np.ndarray) or mask.shape != x.shape[:2]:
        got = getattr(mask, "shape", type(mask).__name__)
        raise ShapeError(f"mask must be H×W = {x.shape[0]}×{x.shape[1]}, got {got}", got)


def check_mask_size(mask_shape: tuple, image_shape: tuple) -> None:
    """Raise ShapeError (one wording everywhere, in-process and on the wire) unless the mask's H×W is
    the image's."""
    (mh, mw), (h, w) = tuple(mask_shape)[:2], tuple(image_shape)[:2]
    if (mh, mw) != (h, w):
        raise ShapeError(
            f"the mask is {mw}×{mh} px but the image is {w}×{h} px: they must be the same size", [mh, mw]
        )


def grey_to_colour(image):
    """A grey image (H×W, H×W×1, or H×W×2 grey + alpha) as RGB(A) with the grey in all three channels;
    anything else is returned as it is (the same object)."""
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3):
        return image
    if image.ndim == 3 and image.shape[2] not in (1, 2):
        return image
    grey = image if image.ndim == 2 else image[..., 0]
    alpha = [image[..., 1]] if image.ndim == 3 and image.shape[2] == 2 else []
    return np.stack([grey, grey, grey, *alpha], axis=-1)


def colour_to_grey(refined: np.ndarray, like: np.ndarray, strip_pixels: int = 1 << 20) -> np.ndarray:
    """``refined`` (an RGB(A) result for ``grey_to_colour(like)``) back in ``like``'s layout and dtype:
    grey = mean of R, G and B (exact where they are equal, i.e. wherever nothing changed), alpha kept."""
    h, w = like.shape[:2]
    out = np.empty_like(like)
    grey = out if like.ndim == 2 else out[..., 0]
    step = max(1, strip_pixels // max(w, 1))
    for y0 in range(0, h, step):
        mean = refined[y0 : y0 + step, :, :3].mean(axis=-1, dtype=np.float64)
        if like.dtype.kind in "ui":
            limits = np.iinfo(like.dtype)
            mean = np.clip(np.rint(mean), limits.min, limits.max)
        grey[y0 : y0 + step] = mean
    if like.ndim == 3 and like.shape[2] == 2:
        out[..., 1] = refined[..., 3]
    return out


def check_mask_region(mask: np.ndarray) -> None:
    """Raise EmptyMaskError when nothing is selected, FullMaskError when nothing is left unselected."""
    if not (mask > 0).any():
        raise EmptyMaskError("the mask is empty: select the generated region first", 0.0)
    if (mask > 0).all():
        raise FullMaskError("the mask covers the whole image: nothing is left to match the fill to", 1.0)


def distance_to_region(inside: np.ndarray, max_dist: int) -> np.ndarray:
    """Euclidean distance in pixels from each pixel to the nearest True pixel of ``inside``.

    Exact up to ``max_dist``; larger distances saturate at ``max_dist + 1``. Two passes: the 1-D
    distance along each row (by running max/min of indices), then d(y,x)² = min over |dy| ≤ max_dist
    of row_d(y+dy, x)² + dy², which is the separable Euclidean transform restricted to a window.
    """
    h, w = inside.shape
    big = int(max_dist) + 1
    if not inside.any():
        return np.full((h, w), float(big), np.float32)
    idx = np.arange(w, dtype=np.int32)
    far = np.int32(2 * big + w)
    left = np.maximum.accumulate(np.where(inside, idx, -far), axis=1)
    right = np.minimum.accumulate(np.where(inside, idx, far)[:, ::-1], axis=1)[:, ::-1]
    # squared distances are small integers: exact in int16 (int32 for large reaches), half the traffic
    dt = np.int16 if 2 * big * big < np.iinfo(np.int16).max else np.int32
    row = np.minimum(np.minimum(idx - left, right - idx), big).astype(dt)
    row2 = row * row
    best = row2.copy()
    for dy in range(1, min(big, h)):
        cost = dt(dy * dy)
        np.minimum(best[dy:], row2[:-dy] + cost, out=best[dy:])
        np.minimum(best[:-dy], row2[dy:] + cost, out=best[:-dy])
    roots = np.minimum(np.sqrt(np.arange(big * big + 1, dtype=np.float32)), np.float32(big))
    return roots[np.minimum(best, dt(big * big))]


def band_weights(mask: np.ndarray, width: int, feather: int) -> np.ndarray:
    """Where refinement may act: 1 on the mask and up to ``width`` px outside it, ramping to 0 over
    ``feather`` more pixels. Exactly 0 beyond ``width + feather`` so the composite is bit-exact there."""
    if width < 0 or feather < 0:
        raise InputError(f"band width and feather must be ≥ 0, got {width}, {feather}", (width, feather))
    d = distance_to_region(mask > 0, width + feather)
    if feather == 0:
        return (d <= width).astype(np.float32)
    return np.clip((width + feather - d) / feather, 0.0, 1.0).astype(np.float32)


def band_rms(change: np.ndarray, sd: np.ndarray, width: int, feather: int) -> float:
    """The RMS of ``change`` over the band (``band_weights(mask, width, feather)``, as
    ``metrics.band_psnr`` weighs it, from the fill's signed distance ``sd``: + inside, − outside),
    the change taken to lie where the band's weight is 1 (in the fill and up to ``width`` px around
    it; elsewhere this errs on the large side)."""
    w_sum = float(np.clip((width + feather - 0.5 + sd) / feather, 0.0, 1.0).sum(dtype=np.float64))
    flat = change.reshape(-1)
    return float(np.sqrt(float(np.dot(flat, flat)) / 3.0 / max(w_sum, 1e-9)))


def capped_strength(change: np.ndarray, sd: np.ndarray, width: int, feather: int, cap_db: float,
                    spent: float = 0.0) -> float:
    """The largest strength s ≤ 1 at which ``s · change`` keeps the band within ``cap_db`` PSNR of
    where it was (``band_rms``: s = 10^(−cap/20) / RMS), when changes of band RMS ``spent`` were
    made before it (then s = (10^(−cap/20) − spent) / RMS, 0 when nothing is left: the RMS of a sum
    is at most the sum of the RMSs). It bounds what a gate that opens wrongly can do to a clean
    photo."""
    allowed = 10.0 ** (-cap_db / 20.0) - spent
    if allowed <= 0.0:
        return 0.0
    rms = band_rms(change, sd, width, feather)
    return 1.0 if rms <= 0.0 else float(min(1.0, allowed / rms))


@dataclass(frozen=True)
class Box:
    """Half-open pixel rectangle [y0, y1) × [x0, x1)."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def width(self) -> int:
        return self.x1 - self.x0


def mask_bbox(mask: np.ndarray) -> Box:
    """Bounding box of the pixels where ``mask > 0``."""
    ys = np.flatnonzero((mask > 0).any(axis=1))
    xs = np.flatnonzero((mask > 0).any(axis=0))
    if ys.size == 0:
        raise EmptyMaskError("the mask is empty: select the generated region first", 0.0)
    return Box(int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1)


def context_box(mask: np.ndarray, context: int, min_context_frac: float = 0.5) -> Box:
    """The mask's bounding box grown by max(``context``, frac × its longer side), clipped to the image."""
    b = mask_bbox(mask)
    grow = max(int(context), int(round(min_context_frac * max(b.height, b.width))))
    h, w = mask.shape[:2]
    return Box(max(0, b.y0 - grow), min(h, b.y1 + grow), max(0, b.x0 - grow), min(w, b.x1 + grow))


def pad_to_multiple(x: np.ndarray, multiple: int) -> np.ndarray:
    """Pad H and W (bottom/right) up to a multiple, mirroring the border (edge mode when too small)."""
    h, w = x.shape[:2]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x
    widths = [(0, ph), (0, pw)] + [(0, 0)] * (x.ndim - 2)
    mode = "reflect" if ph < h and pw < w else "edge"
    return np.pad(x, widths, mode=mode)


def composite(original: np.ndarray, refined_rgb: np.ndarray, band: np.ndarray) -> np.ndarray:
    """Blend float ``refined_rgb`` into ``original`` by ``band``; same dtype/shape as ``original``.

    Pixels where ``band == 0`` are copied from ``original`` bit for bit, and alpha is never touched.
    """
    return _add_in_band(original, band, lambda box, rgb: refined_rgb[box].astype(np.float32) - rgb)


def add_change_in_band(original: np.ndarray, change: np.ndarray, band: np.ndarray) -> np.ndarray:
    """``original + band·change`` on the float RGB values (``composite`` given the change instead of
    the refined image): float values outside [0, 1] keep their offset. Same guarantees as ``composite``."""
    return _add_in_band(original, band, lambda box, rgb: change[box].astype(np.float32, copy=False))


def _add_in_band(original: np.ndarray, band: np.ndarray, change_at) -> np.ndarray:
    """A copy of ``original`` with ``band · change_at(box, rgb)`` added to its float RGB where band > 0;
    only the band's bounding box is converted to float (``change_at`` gets that box and its RGB)."""
    check_image(original)
    out = original.copy()
    sel = band > 0
    rows = np.flatnonzero(sel.any(axis=1))
    if rows.size == 0:
        return out
    cols = np.flatnonzero(sel.any(axis=0))
    box = (slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
    rgb, _ = to_float(original[box])
    change = band[box][..., None].astype(np.float32, copy=False) * change_at(box, rgb)
    rgb += change  # in place: these are the crop's largest float buffers
    np.copyto(out[box][..., :3], from_float(rgb, original[box][..., :3]), where=sel[box][..., None])
    return out


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB decoding (float in, float out)."""
    x = np.asarray(x, dtype=np.float32)
    return np.where(x <= 0.04045, x / 12.92, ((np.maximum(x, 0.04045) + 0.055) / 1.055) ** 2.4).astype(
        np.float32
    )


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB encoding (float in, float out)."""
    x = np.asarray(x, dtype=np.float32)
    return np.where(
        x <= 0.0031308, x * 12.92, 1.055 * np.maximum(x, 0.0031308) ** (1 / 2.4) - 0.055
    ).astype(np.float32)
