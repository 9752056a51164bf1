"""Seam quality metrics (pure numpy; ships in the runtime, so no cv2/scipy/torch).

Full-reference metrics compare a refined image with the clean photo the synthetic case was made from:
``band_psnr``, ``band_delta_e`` (mean CIEDE2000), ``boundary_gradient_error`` (ASUKA "Grad").
Ring statistics measure how the fill differs from its surroundings right at the mask edge:
``noise_mismatch`` and ``blur_mismatch`` are signed log-ratios inner ring / outer ring, and the
``*_vs_clean`` helpers give |log-ratio(out) − log-ratio(clean)|.

The colour science (``srgb_to_lab``, ``ciede2000``) lives in :mod:`seamrefine.imaging.colour`, the
no-reference seam score (lower = less visible seam; what multi-sample pooling minimises and users
are shown) in :mod:`seamrefine.imaging.seam_score`.

All functions take H×W×3 float sRGB images in [0, 1] and H×W float masks in [0, 1] (1 = generated).
"""

from __future__ import annotations

import numpy as np

from ..errors import EmptyMaskError, InputError, ShapeError
from .colour import ciede2000, srgb_to_lab
from .imagemath import distance_to_region, mask_to_float
from .metric_filters import IMMERKAER, shift_sum, sobel
from .metric_inputs import MaskTooThinError, float_image, inside_region

PSNR_CAP_DB = 100.0
RING_GAP = 2  # pixels right at the edge are skipped by the ring statistics (soft edges, kernel overlap)
RING_WIDTH = 10
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


# ----------------------------------------------------------------------------- input checks
def _pair(out: object, clean: object) -> tuple[np.ndarray, np.ndarray]:
    a, b = float_image(out, "out"), float_image(clean, "clean")
    if a.shape != b.shape:
        raise ShapeError(f"out is {a.shape} but clean is {b.shape}", (a.shape, b.shape))
    return a, b


def _weights(band: object, shape: tuple[int, int], name: str = "band") -> np.ndarray:
    w = mask_to_float(band, shape)
    if not (w > 0).any():
        raise EmptyMaskError(f"{name} is empty: nothing to measure", 0.0)
    return w


def _rings(inside: np.ndarray, gap: int = RING_GAP, width: int = RING_WIDTH) -> tuple[np.ndarray, np.ndarray]:
    """Inner ring (inside, gap < distance to outside ≤ gap+width) and the matching outer ring."""
    reach = gap + width
    d_in = distance_to_region(~inside, reach)
    d_out = distance_to_region(inside, reach)
    inner = inside & (d_in > gap) & (d_in <= reach)
    outer = ~inside & (d_out > gap) & (d_out <= reach)
    if not inner.any() or not outer.any():
        side = "inside" if not inner.any() else "outside"
        raise MaskTooThinError(
            f"the mask leaves no pixels {gap + 1}–{reach} px {side} its edge to compare", (gap, width)
        )
    return inner, outer


def _luma(img: np.ndarray) -> np.ndarray:
    return img @ _LUMA


# ----------------------------------------------------------------------------- full-reference
def band_psnr(out: np.ndarray, clean: np.ndarray, band: np.ndarray) -> float:
    """Band-weighted PSNR in dB (peak 1.0): MSE = Σ w·mean_c(out − clean)² / Σ w over pixels with w > 0.

    ``band`` is any H×W weight in [0, 1] (a binary mask or ``imagemath.band_weights``). Identical
    images give ``PSNR_CAP_DB`` (100 dB) instead of infinity so that means stay finite.
    """
    o, c = _pair(out, clean)
    w = _weights(band, o.shape[:2])
    err = ((o - c) ** 2).mean(axis=2, dtype=np.float64)
    mse = float((err * w).sum() / w.sum())
    if mse <= 10 ** (-PSNR_CAP_DB / 10):
        return PSNR_CAP_DB
    return float(-10.0 * np.log10(mse))


def band_delta_e(out: np.ndarray, clean: np.ndarray, band: np.ndarray) -> float:
    """Band-weighted mean CIEDE2000 between ``out`` and ``clean`` (sRGB → Lab D65)."""
    o, c = _pair(out, clean)
    w = _weights(band, o.shape[:2])
    sel = w > 0
    de = ciede2000(srgb_to_lab(o[sel]), srgb_to_lab(c[sel]))
    return float((de * w[sel]).sum() / w[sel].sum())


def edge_ring(mask: np.ndarray, ring: int = 3) -> np.ndarray:
    """Pixels within ``ring`` px of the mask edge on either side (inside = mask ≥ 0.5)."""
    if int(ring) < 1:
        raise InputError(f"ring must be ≥ 1 pixel, got {ring}", ring)
    inside = inside_region(mask, np.shape(mask)[:2])
    d_in = distance_to_region(~inside, int(ring))
    d_out = distance_to_region(inside, int(ring))
    return (inside & (d_in <= ring)) | (~inside & (d_out <= ring))


def boundary_gradient_error(out: np.ndarray, clean: np.ndarray, mask: np.ndarray, ring: int = 3) -> float:
    """ASUKA "Grad": mean |Sobel(out) − Sobel(clean)| over x/y, channels and the ±``ring`` px edge ring.

    Sobel is normalised to unit slope, so adding a ramp of slope s (per pixel, along x) gives s/2.
    """
    o, c = _pair(out, clean)
    sel = edge_ring(mask_to_float(mask, o.shape[:2]), ring)
    gxo, gyo = sobel(o)
    gxc, gyc = sobel(c)
    return float((np.abs(gxo - gxc)[sel].mean() + np.abs(gyo - gyc)[sel].mean()) / 2)


# ----------------------------------------------------------------------------- ring statistics
def noise_sigma(gray: np.ndarray, region: np.ndarray | None = None) -> float:
    """Immerkær (1996) noise σ of a grey image, robust form: median |I ⊛ N| / (0.6745·6) over ``region``.

    N = [[1,−2,1],[−2,4,−2],[1,−2,1]] annihilates locally planar image content; for i.i.d. Gaussian
    noise the response is N(0, 36σ²), hence the 6 and the Gaussian MAD constant 0.6745.
    """
    r = np.abs(shift_sum(gray.astype(np.float32), IMMERKAER))
    vals = r[1:-1, 1:-1] if region is None else r[region & _interior(gray.shape)]
    if vals.size == 0:
        raise EmptyMaskError("no pixels to estimate noise on", 0)
    return float(np.median(vals) / (0.6745 * 6.0))


def _interior(shape: tuple[int, ...]) -> np.ndarray:
    m = np.zeros(shape[:2], bool)
    m[1:-1, 1:-1] = True
    return m


def noise_mismatch(img: np.ndarray, mask: np.ndarray) -> float:
    """log(σ_inner / σ_outer): Immerkær noise on the luma of a ring just inside vs just outside the edge.

    Rings are ``RING_GAP`` < d ≤ ``RING_GAP + RING_WIDTH`` px from the edge (inside = mask ≥ 0.5).
    0 means the grain matches; > 0 the fill is noisier. σ is floored at 0.5/255 (8-bit quantisation).
    """
    x = float_image(img)
    inner, outer = _rings(inside_region(mask, x.shape[:2]))
    g = _luma(x)
    floor = 0.5 / 255
    return float(np.log(max(noise_sigma(g, inner), floor) / max(noise_sigma(g, outer), floor)))


def blur_mismatch(img: np.ndarray, mask: np.ndarray) -> float:
    """0.5·log(E_inner / E_outer) with E the mean squared Sobel gradient magnitude of the luma.

    Same rings as ``noise_mismatch``; < 0 means the fill is softer than its surroundings.
    E is floored at (1/255)² so flat regions don't explode the ratio.
    """
    x = float_image(img)
    inner, outer = _rings(inside_region(mask, x.shape[:2]))
    gx, gy = sobel(_luma(x))
    e = gx * gx + gy * gy
    floor = (1 / 255) ** 2
    return float(0.5 * np.log(max(float(e[inner].mean()), floor) / max(float(e[outer].mean()), floor)))


def noise_mismatch_vs_clean(out: np.ndarray, clean: np.ndarray, mask: np.ndarray) -> float:
    """|noise_mismatch(out) − noise_mismatch(clean)|: grain mismatch the edit adds over the photo's own."""
    o, c = _pair(out, clean)
    return abs(noise_mismatch(o, mask) - noise_mismatch(c, mask))


def blur_mismatch_vs_clean(out: np.ndarray, clean: np.ndarray, mask: np.ndarray) -> float:
    """|blur_mismatch(out) − blur_mismatch(clean)|: sharpness mismatch beyond the photo's own."""
    o, c = _pair(out, clean)
    return abs(blur_mismatch(o, mask) - blur_mismatch(c, mask))


__all__ = [
    "band_psnr",
    "band_delta_e",
    "boundary_gradient_error",
    "noise_mismatch",
    "blur_mismatch",
    "noise_mismatch_vs_clean",
    "blur_mismatch_vs_clean",
    "noise_sigma",
    "edge_ring",
]
