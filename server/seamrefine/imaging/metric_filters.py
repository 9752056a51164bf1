"""Building blocks shared by :mod:`seamrefine.imaging.metrics` and :mod:`seamrefine.imaging.seam_score`.

Input checks (an H×W×3 float image, a mask with both an inside and an outside), the error for masks
too thin to measure, and the 3×3 filters (edge-replicated correlation, Sobel, Immerkær's noise kernel).
"""

from __future__ import annotations

import numpy as np

from ..errors import DTypeError, EmptyMaskError, FullMaskError, InputError, ShapeError
from .imagemath import mask_to_float


# ----------------------------------------------------------------------------- input checks
def _image(x: object, name: str = "image") -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise DTypeError(f"{name} must be a numpy array, got {type(x).__name__}", type(x).__name__)
    if x.ndim != 3 or x.shape[2] != 3 or x.shape[0] < 3 or x.shape[1] < 3:
        raise ShapeError(f"{name} must be H×W×3 with H, W ≥ 3, got shape {x.shape}", x.shape)
    if x.dtype.kind != "f":
        raise DTypeError(f"{name} must be float sRGB in [0, 1], got dtype {x.dtype}", str(x.dtype))
    if not np.isfinite(x).all():
        raise InputError(f"{name} contains NaN or infinite values", "non-finite")
    return x.astype(np.float32, copy=False)


def _edge_mask(mask: object, shape: tuple[int, int]) -> np.ndarray:
    """Binary 'inside' (mask ≥ 0.5) that has both an inside and an outside."""
    inside = mask_to_float(mask, shape) >= 0.5
    if not inside.any():
        raise EmptyMaskError("the mask is empty (no pixel ≥ 0.5): there is no seam to measure", 0.0)
    if inside.all():
        raise FullMaskError("the mask covers the whole image: there is no seam to measure", 1.0)
    return inside


class MaskTooThinError(EmptyMaskError):
    """The selection (or what is left around it) is thinner than the measuring rings."""


# ----------------------------------------------------------------------------- filters
def _shift_sum(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """3×3 correlation with edge replication (x is H×W or H×W×C)."""
    pad = [(1, 1), (1, 1)] + [(0, 0)] * (x.ndim - 2)
    p = np.pad(x, pad, mode="edge")
    h, w = x.shape[:2]
    out = np.zeros_like(x, dtype=np.float32)
    for dy in range(3):
        for dx in range(3):
            k = kernel[dy, dx]
            if k != 0:
                out += np.float32(k) * p[dy : dy + h, dx : dx + w]
    return out


def sobel(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sobel derivatives (d/dx, d/dy) normalised by 1/8 so a ramp of slope s gives s."""
    p = np.pad(x, [(1, 1), (1, 1)] + [(0, 0)] * (x.ndim - 2), mode="edge")
    h, w = x.shape[:2]
    sm_y = p[0:h] + 2 * p[1 : h + 1] + p[2 : h + 2]  # smoothed along y, (h, w+2)
    gx = (sm_y[:, 2 : w + 2] - sm_y[:, 0:w]) / 8.0
    sm_x = p[:, 0:w] + 2 * p[:, 1 : w + 1] + p[:, 2 : w + 2]  # (h+2, w)
    gy = (sm_x[2 : h + 2] - sm_x[0:h]) / 8.0
    return gx.astype(np.float32), gy.astype(np.float32)


_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
