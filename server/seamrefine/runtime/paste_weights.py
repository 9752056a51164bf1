"""How much of the colour map each pixel gets: the seam's ramp ring by ring, and pixel by pixel where a
hard paste edge runs between pixel centres.

``paste_weights`` is the colour map's α (``ColourMap.change``), conf · w: w is 0 before the seam's
zone and beyond ``reach`` px outside the mask, 1 past the zone, the share of the step reached there
inside it (``seam_zone.ramp_profile``, per ring), and in zones at most ``PIXEL_ALPHA_MAX_GAP`` wide
each ramp pixel's own weight (``pixel_alpha``). Only the rings around the zone are looked at pixel by
pixel; the rest of the image is one threshold of the signed distance.

Pure numpy/OpenCV on H×W×3 float32 RGB and the fill's H×W float32 signed distance.
"""

from __future__ import annotations

import cv2
import numpy as np

from .background import split_work

ALPHA_TAU = 0.03  # colour distance (RSS over channels) at which a pixel's own weight is half-trusted
PIXEL_ALPHA_MAX_GAP = 2  # per-pixel weights only in zones this narrow (wide feathers: the ring's share)


def paste_weights(x: np.ndarray, sd: np.ndarray, f: int, ramp: tuple[np.ndarray, np.ndarray],
                  zone: tuple[int, int], conf: float, reach: int) -> np.ndarray:
    """conf · w (H×W float32) for the seam zone (position, gap) = ``zone`` (working px, ``f`` full px
    each) whose step builds up as ``ramp`` (ring edges, share reached there: ``ramp_profile``), on the
    image ``x`` whose fill has the signed distance ``sd``: a ring k (pixels with k ≤ sd / f < k + 1) is
    past boundary k and gets the share reached there (rings before the zone 0, after it 1), pixels
    ``reach`` px or more outside the mask 0, and in narrow zones each pixel its own (``pixel_alpha``)."""
    edges, share = ramp
    lo, hi = int(edges[0]) - 1, int(edges[-1]) + 1
    lut = np.interp(np.arange(lo, hi + 1), edges, share, left=0.0, right=1.0)  # lut[0] = 0, lut[-1] = 1
    # beyond ``top`` every pixel is past the zone (its ring > hi even after rounding sd / f) and within
    # the reach; below (lo − 1)·f every pixel is before it: those are a threshold, the rest a lookup
    top = max((hi + 2) * f, -reach)
    alpha = cv2.threshold(sd, top, float(np.float32(conf)), cv2.THRESH_BINARY)[1]
    band = np.flatnonzero(cv2.inRange(sd, (lo - 1) * f, top))
    sd_band = sd.reshape(-1)[band]
    ring = np.floor(sd_band / f)
    w = lut[np.clip(ring, lo, hi).astype(np.intp) - lo] * (sd_band > -reach)
    if zone[1] <= PIXEL_ALPHA_MAX_GAP:
        w = pixel_alpha(x, band, ring, w, zone, f)
    alpha.reshape(-1)[band] = (conf * w).astype(np.float32)
    return alpha


def pixel_alpha(x: np.ndarray, band: np.ndarray, ring: np.ndarray, w: np.ndarray, zone: tuple[int, int],
                f: int) -> np.ndarray:
    """Within the seam's ramp a ring holds pixels pasted in full and pixels not pasted at all (a hard
    paste edge between pixel centres): each such pixel's own weight is where it lies between the
    photo's local colour (the ring just outside the zone ``zone`` = (position, gap)) and the fill's
    (the ring just inside), trusted as far as those two differ (``ALPHA_TAU``); the ring's share ``w``
    is the fallback. ``band``: flat pixel indices of ``x`` holding every ring the zone touches, in
    order; ``ring``, ``w``: their rings (working px ``f``) and weights. Returns the new weights."""
    trans = (w > 0.0) & (w < 1.0)
    if not trans.any():
        return w
    s, g = zone
    side = (4 * g + 5) * f
    h, width = x.shape[:2]
    ys, xs = np.divmod(band[trans], width)
    # the box sums are needed only at the ramp's pixels: the box around them
    y0, x0 = max(0, int(ys.min()) - side), max(0, int(xs.min()) - side)
    y1, x1 = min(h, int(ys.max()) + 1 + side), min(width, int(xs.max()) + 1 + side)
    cw = x1 - x0
    xc = np.ascontiguousarray(x[y0:y1, x0:x1]).reshape(-1, 3)
    at = (ys - y0) * cw + (xs - x0)  # flat indices into the box, in raster order
    means: dict[int, np.ndarray] = {}

    def band_means(rings) -> None:
        for k in rings:
            ky, kx = np.divmod(band[ring == k], width)
            inside = (ky >= y0) & (ky < y1) & (kx >= x0) & (kx < x1)
            members = (ky[inside] - y0) * cw + (kx[inside] - x0)
            stack = np.zeros((y1 - y0, cw, 4), np.float32)
            flat = stack.reshape(-1, 4)
            flat[members, :3] = xc[members]
            flat[members, 3] = 1.0
            box = cv2.boxFilter(stack, -1, (side, side), normalize=False, borderType=cv2.BORDER_CONSTANT)
            box = box.reshape(-1, 4)[at]
            means[k] = box[:, :3] / np.maximum(box[:, 3:], 1e-6)

    split_work(band_means, (s - g - 1, s + g))  # two box filters, side by side
    photo, fill = means[s - g - 1], means[s + g]
    d = fill - photo
    d2 = (d * d).sum(1)
    alpha = np.clip(((xc[at] - photo) * d).sum(1) / np.maximum(d2, 1e-9), 0.0, 1.0)
    trust = d2 / (d2 + ALPHA_TAU**2)
    w = w.copy()
    w[trans] = trust * alpha + (1.0 - trust) * w[trans]
    return w
