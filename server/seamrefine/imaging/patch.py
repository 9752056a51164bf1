"""The refinement as a patch layer: colour and alpha that, laid over the source, give the refined image.

A refine changes only the band around the mask: ``refined = source + b·Δ`` where ``b`` is the band's
weight (1 on and near the mask, ramping to 0 over its feather, times the strength) and ``Δ`` the model's
change. The host plug-ins add the result as a new layer above the source; an opaque copy of the whole
crop would cover every later retouch of the source with a hard-edged rectangle. A *patch* is
transparent outside the band, has the band's feather ``w`` as its alpha inside it, and a colour ``P``
such that the "normal" (over) composite gives the refined value::

    w·P + (1 − w)·S = R      ⇔      P = S + (R − S) / w

which is the fully refined value ``S + strength·Δ``: where the band is opaque (``w = 1``), ``P = R``.
Integer layers store alpha and colour quantized; the alpha is then raised just enough that ``P``
stays in range, and ``P`` is computed against the stored alpha, so the composite is within half a code
value of ``R`` before the host's own rounding.

Layers that have alpha: the patch's alpha is ``w`` times the source's alpha, so nothing is painted where
the source is transparent. Where the source is opaque the composite is exact as above; where it is
partly transparent the refinement fades with it (exact only over a backdrop of the source's own colour,
since a layer above cannot take back what shows through from below).
"""

from __future__ import annotations

import numpy as np


def _alpha_needed(source: np.ndarray, diff: np.ndarray, top: float) -> np.ndarray:
    """The least alpha for which ``source + diff / alpha`` stays within [0, top], per pixel."""
    room = np.where(diff > 0, top - source, source)
    with np.errstate(divide="ignore", invalid="ignore"):
        need = np.where(diff != 0, np.abs(diff) / np.maximum(room, 1e-12), 0.0)
    return np.minimum(need.max(axis=-1), 1.0)


def patch_layer(source: np.ndarray, refined: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The patch (same shape and dtype) that composited over ``source`` gives ``refined``.

    ``source`` and ``refined`` are H×W×C with alpha last (C = 2: grey + alpha, or 4: RGBA/BGRA; the
    colour channels may be in any order), uint8/uint16/float16/float32; ``refined`` differs from
    ``source`` only in colour and only where ``weight`` (H×W, the band's feather in [0, 1]) is above 0.
    """
    if source.shape != refined.shape or source.dtype != refined.dtype:
        raise ValueError(f"source {source.shape} {source.dtype} and refined {refined.shape} {refined.dtype}")
    if source.ndim != 3 or source.shape[2] not in (2, 4):
        raise ValueError(f"a patch needs colour channels and an alpha channel, got shape {source.shape}")
    if weight.shape != source.shape[:2]:
        raise ValueError(f"weight {weight.shape} does not match the image {source.shape[:2]}")
    s = source[..., :-1].astype(np.float64)
    diff = refined[..., :-1].astype(np.float64) - s
    w = np.clip(weight.astype(np.float64), 0.0, 1.0)
    integer = source.dtype.kind in "ui"
    top = float(np.iinfo(source.dtype).max) if integer else 1.0
    if integer:
        # alpha as stored: the band's feather, at least what keeps P in range, at least 1 where changed
        code = np.maximum(np.rint(w * top), np.ceil(_alpha_needed(s, diff, top) * top - 1e-9))
        code = np.where((diff != 0).any(axis=-1), np.maximum(code, 1.0), code)
        alpha = code / top
    else:  # a change where the band is 0 cannot happen; if it did, an opaque pixel keeps it exact
        alpha = np.where((diff != 0).any(axis=-1) & (w <= 0), 1.0, w)
    with np.errstate(divide="ignore", invalid="ignore"):
        colour = np.where(alpha[..., None] > 0, s + diff / alpha[..., None], s)
    out = np.empty_like(source)
    src_alpha = source[..., -1].astype(np.float64)
    if integer:
        out[..., :-1] = np.clip(np.rint(colour), 0, top)
        out[..., -1] = np.rint(alpha * src_alpha)
    else:
        out[..., :-1] = colour
        out[..., -1] = alpha * src_alpha
    return out


def patch_image(source: np.ndarray, refined: np.ndarray, weight: np.ndarray, box) -> np.ndarray:
    """``patch_layer`` over the whole image: ``weight`` covers ``box`` (a ``Box`` with ``slices``); the
    patch is transparent everywhere else (colour kept, alpha 0)."""
    out = source.copy()
    out[..., -1] = 0
    out[box.slices] = patch_layer(source[box.slices], refined[box.slices], weight)
    return out
