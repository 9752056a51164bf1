"""Input checks shared by :mod:`.metrics` and :mod:`.seam_score`: a float sRGB image, a mask with both
an inside and an outside, and the error for masks too thin to measure."""

from __future__ import annotations

import numpy as np

from ..errors import DTypeError, EmptyMaskError, FullMaskError, InputError, ShapeError
from .imagemath import mask_to_float


def float_image(x: object, name: str = "image") -> np.ndarray:
    """``x`` as float32 if it is a finite H×W×3 float sRGB image with H, W ≥ 3; a typed error if not."""
    if not isinstance(x, np.ndarray):
        raise DTypeError(f"{name} must be a numpy array, got {type(x).__name__}", type(x).__name__)
    if x.ndim != 3 or x.shape[2] != 3 or x.shape[0] < 3 or x.shape[1] < 3:
        raise ShapeError(f"{name} must be H×W×3 with H, W ≥ 3, got shape {x.shape}", x.shape)
    if x.dtype.kind != "f":
        raise DTypeError(f"{name} must be float sRGB in [0, 1], got dtype {x.dtype}", str(x.dtype))
    if not np.isfinite(x).all():
        raise InputError(f"{name} contains NaN or infinite values", "non-finite")
    return x.astype(np.float32, copy=False)


def inside_region(mask: object, shape: tuple[int, int]) -> np.ndarray:
    """Binary 'inside' (mask ≥ 0.5) that has both an inside and an outside."""
    inside = mask_to_float(mask, shape) >= 0.5
    if not inside.any():
        raise EmptyMaskError("the mask is empty (no pixel ≥ 0.5): there is no seam to measure", 0.0)
    if inside.all():
        raise FullMaskError("the mask covers the whole image: there is no seam to measure", 1.0)
    return inside


class MaskTooThinError(EmptyMaskError):
    """The selection (or what is left around it) is thinner than the measuring rings."""
