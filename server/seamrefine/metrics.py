"""Seam quality metrics (pure numpy; ships in the runtime, so no cv2/scipy/torch).

Full-reference metrics compare a refined image with the clean photo the synthetic case was made from:
``band_psnr``, ``band_delta_e`` (mean CIEDE2000), ``boundary_gradient_error`` (ASUKA "Grad").
Ring statistics measure how the fill differs from its surroundings right at the mask edge:
``noise_mismatch`` and ``blur_mismatch`` are signed log-ratios inner ring / outer ring, and the
``*_vs_clean`` helpers give |log-ratio(out) − log-ratio(clean)|. ``seam_score`` is no-reference
(lower = less visible seam) and is what multi-sample pooling minimises and what users are shown.

All functions take H×W×3 float sRGB images in [0, 1] and H×W float masks in [0, 1] (1 = generated).
"""

from __future__ import annotations

import numpy as np

from .errors import DTypeError, EmptyMaskError, FullMaskError, InputError, ShapeError
from .imagemath import distance_to_region, mask_to_float, srgb_to_linear

PSNR_CAP_DB = 100.0
RING_GAP = 2  # pixels right at the edge are skipped by the ring statistics (soft edges, kernel overlap)
RING_WIDTH = 10
_D65_WHITE = np.array([0.95047, 1.0, 1.08883], np.float64)
_RGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


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


def _pair(out: object, clean: object) -> tuple[np.ndarray, np.ndarray]:
    a, b = _image(out, "out"), _image(clean, "clean")
    if a.shape != b.shape:
        raise ShapeError(f"out is {a.shape} but clean is {b.shape}", (a.shape, b.shape))
    return a, b


def _weights(band: object, shape: tuple[int, int], name: str = "band") -> np.ndarray:
    w = mask_to_float(band, shape)
    if not (w > 0).any():
        raise EmptyMaskError(f"{name} is empty: nothing to measure", 0.0)
    return w


def _edge_mask(mask: object, shape: tuple[int, int]) -> np.ndarray:
    """Binary 'inside' (mask ≥ 0.5) that has both an inside and an outside."""
    inside = mask_to_float(mask, shape) >= 0.5
    if not inside.any():
        raise EmptyMaskError("the mask is empty (no pixel ≥ 0.5): there is no seam to measure", 0.0)
    if inside.all():
        raise FullMaskError("the mask covers the whole image: there is no seam to measure", 1.0)
    return inside


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


def _luma(img: np.ndarray) -> np.ndarray:
    return img @ _LUMA


# ----------------------------------------------------------------------------- colour
def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] (…×3) → CIE L*a*b* (D65 white, 2° observer), float64."""
    lin = srgb_to_linear(np.clip(rgb, 0.0, 1.0)).astype(np.float64)
    xyz = lin @ _RGB_TO_XYZ.T / _D65_WHITE
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    lab = np.empty_like(f)
    lab[..., 0] = 116 * f[..., 1] - 16
    lab[..., 1] = 500 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200 * (f[..., 1] - f[..., 2])
    return lab


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference (kL = kC = kH = 1) of Lab arrays (…×3), per Sharma, Wu & Dalal 2005."""
    lab1, lab2 = np.asarray(lab1, np.float64), np.asarray(lab2, np.float64)
    L1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    L2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_bar**7 / (c_bar**7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    zero = (c1p * c2p) == 0
    dLp = L2 - L1
    dCp = c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(zero, 0.0, dh)
    dHp = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    L_bar = (L1 + L2) / 2
    C_bar = (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_bar = np.where(
        np.abs(h1p - h2p) <= 180, h_sum / 2, np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2)
    )
    h_bar = np.where(zero, h_sum, h_bar)
    t = (
        1
        - 0.17 * np.cos(np.radians(h_bar - 30))
        + 0.24 * np.cos(np.radians(2 * h_bar))
        + 0.32 * np.cos(np.radians(3 * h_bar + 6))
        - 0.20 * np.cos(np.radians(4 * h_bar - 63))
    )
    d_theta = 30 * np.exp(-(((h_bar - 275) / 25) ** 2))
    r_c = 2 * np.sqrt(C_bar**7 / (C_bar**7 + 25.0**7))
    s_l = 1 + 0.015 * (L_bar - 50) ** 2 / np.sqrt(20 + (L_bar - 50) ** 2)
    s_c = 1 + 0.045 * C_bar
    s_h = 1 + 0.015 * C_bar * t
    r_t = -np.sin(np.radians(2 * d_theta)) * r_c
    tl, tc, th = dLp / s_l, dCp / s_c, dHp / s_h
    return np.sqrt(tl**2 + tc**2 + th**2 + r_t * tc * th)


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
    inside = _edge_mask(mask, np.shape(mask)[:2])
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
    r = np.abs(_shift_sum(gray.astype(np.float32), _IMMERKAER))
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
    x = _image(img)
    inner, outer = _rings(_edge_mask(mask, x.shape[:2]))
    g = _luma(x)
    floor = 0.5 / 255
    return float(np.log(max(noise_sigma(g, inner), floor) / max(noise_sigma(g, outer), floor)))


def blur_mismatch(img: np.ndarray, mask: np.ndarray) -> float:
    """0.5·log(E_inner / E_outer) with E the mean squared Sobel gradient magnitude of the luma.

    Same rings as ``noise_mismatch``; < 0 means the fill is softer than its surroundings.
    E is floored at (1/255)² so flat regions don't explode the ratio.
    """
    x = _image(img)
    inner, outer = _rings(_edge_mask(mask, x.shape[:2]))
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


# ----------------------------------------------------------------------------- no-reference seam score
SCORE_MAX_PIXELS = 400_000  # larger inputs are area-downsampled by an integer factor first (speed)
SCORE_MAX_POINTS = 512  # edge points sampled (evenly along the raster order of the edge)
SCORE_CELL = 40  # edge points are pooled in cells of this many pixels (after downsampling)
SCORE_WEIGHTS = {"color": 1.0, "tone": 2.0, "step": 1.0, "gradient": 0.5, "noise": 1.0, "sharpness": 1.0}
_R = 8  # half-size of the window around each edge point


def _opponent(x: np.ndarray) -> np.ndarray:
    """Cheap opponent space in roughly Lab units (no pow/cbrt: sRGB is already gamma-coded)."""
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    return np.stack([100 * (0.299 * r + 0.587 * g + 0.114 * b), 90 * (r - g), 60 * (0.5 * (r + g) - b)], -1)


def area_downsample(x: np.ndarray, f: int) -> np.ndarray:
    """Mean over f×f blocks (trailing rows/columns that don't fill a block are dropped)."""
    h, w = x.shape[0] // f, x.shape[1] // f
    acc = np.zeros((h, w, *x.shape[2:]), np.float32)
    for dy in range(f):
        for dx in range(f):
            acc += x[dy : h * f : f, dx : w * f : f]
    return acc / np.float32(f * f)


def _cell_abs_mean(v: np.ndarray, cells: np.ndarray) -> float:
    """Mean over cells of |mean of the signed per-point values ``v`` (K or K×C) in that cell|."""
    v = v.reshape(len(v), -1)
    _, inv, counts = np.unique(cells, return_inverse=True, return_counts=True)
    sums = np.zeros((len(counts), v.shape[1]))
    np.add.at(sums, inv, v)
    norms = np.linalg.norm(sums / counts[:, None], axis=1)
    return float((norms * counts).sum() / counts.sum())


def _cell_tone_step(opp: np.ndarray, d: np.ndarray) -> float:
    """Texture-normalised colour difference between the rings 4–12 px inside and outside the edge, per
    ``SCORE_CELL`` cell (cells with ≥ 10 pixels on both sides), weighted mean over cells."""
    h, w = d.shape
    cell = (np.arange(h)[:, None] // SCORE_CELL) * (w // SCORE_CELL + 1) + np.arange(w)[None, :] // SCORE_CELL
    n = int(cell.max()) + 1

    def stats(sel: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        c, v = cell[sel], opp[sel].astype(np.float64)
        cnt = np.bincount(c, minlength=n).astype(np.float64)
        k = np.maximum(cnt, 1)[:, None]
        mu = np.stack([np.bincount(c, v[:, i], n) for i in range(3)], 1) / k
        sq = np.stack([np.bincount(c, v[:, i] ** 2, n) for i in range(3)], 1) / k
        return cnt, mu, np.sqrt(np.maximum(sq - mu**2, 0)).mean(1)

    ci, mi, si = stats((d > 3) & (d <= 12))
    co, mo, so = stats((d < -3) & (d >= -12))
    ok = (ci >= 10) & (co >= 10)
    if not ok.any():
        return 0.0
    wgt = np.minimum(ci, co)[ok]
    diff = np.linalg.norm(mi - mo, axis=1)[ok] / (2.0 + 0.5 * (si + so)[ok])
    return float((diff * wgt).sum() / wgt.sum())


def seam_components(img: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """The terms of ``seam_score`` (each ≥ 0, ~0 where the seam is invisible).

    Measured in (2·8+1)² windows centred on up to ``SCORE_MAX_POINTS`` pixels on the mask edge
    (inside = mask ≥ 0.5), using strips at signed distance A_in = 1…4, B_in = 5…8 px inside and
    A_out, B_out likewise outside, in a cheap opponent colour space in ≈ Lab units:

    * ``color``: the signed step Δ = mean(A_in) − mean(A_out), divided by 2 + the strips' standard
      deviation (texture hides a step), averaged per ``SCORE_CELL`` cell, norm, mean over cells. Natural
      differences vary in direction along the edge and cancel; a fill's colour cast does not.
    * ``tone``: the same colour step between wider rings 4–12 px inside and outside (where a feathered
      paste has finished its ramp), pooled per cell with bincount: see ``_cell_tone_step``.
    * ``step``: log((|Δ| + 2) / (|Δ_ctrl| + 2)), positive part, mean over points, where Δ_ctrl is the
      same difference between parallel strips A and B on one side (no edge between them): any seam —
      colour, misaligned or truncated structure — is a step that only exists on the mask boundary.
    * ``gradient``: log of the gradient magnitude on the 1-px rows either side of the edge over that
      3–5 px away, positive part, mean over points.
    * ``noise`` / ``sharpness``: cell-pooled |log(inner/outer)| of the Immerkær noise response and the
      RMS gradient on strips 2–6 px each side.
    """
    x = _image(img)
    m = mask_to_float(mask, x.shape[:2])
    _edge_mask(m, x.shape[:2])
    f = int(np.ceil(np.sqrt(x.shape[0] * x.shape[1] / SCORE_MAX_PIXELS)))
    if f > 1:
        x, m = area_downsample(x, f), area_downsample(m, f)
    inside = m >= 0.5
    if inside.all() or not inside.any():
        raise MaskTooThinError("the mask is too thin to score at this image size", f)
    d_in = distance_to_region(~inside, 12)
    d_out = distance_to_region(inside, 12)
    d = np.where(inside, d_in, -d_out)  # signed distance: ≥ 1 inside, ≤ −1 outside
    ys, xs = np.nonzero(d == 1)
    if ys.size > SCORE_MAX_POINTS:
        keep = np.linspace(0, ys.size - 1, SCORE_MAX_POINTS).round().astype(np.int64)
        ys, xs = ys[keep], xs[keep]
    cells = (ys // SCORE_CELL) * (x.shape[1] // SCORE_CELL + 1) + xs // SCORE_CELL

    off = np.arange(-_R, _R + 1)
    wy = ys[:, None, None] + _R + off[None, :, None]
    wx = xs[:, None, None] + _R + off[None, None, :]

    def windows(a: np.ndarray) -> np.ndarray:
        p = np.pad(a, [(_R, _R), (_R, _R)] + [(0, 0)] * (a.ndim - 2), mode="constant")
        return p[wy, wx]

    def mean_on(v: np.ndarray, sel: np.ndarray) -> np.ndarray:
        n = np.maximum(sel.sum(axis=(1, 2)), 1)
        if v.ndim == 4:
            return (v * sel[..., None]).sum(axis=(1, 2)) / n[:, None]
        return (v * sel).sum(axis=(1, 2)) / n

    dw = windows(d)  # 0 outside the image: never selected
    a_in, b_in = (dw >= 1) & (dw <= 4), (dw > 4) & (dw <= 8)
    a_out, b_out = (dw <= -1) & (dw >= -4), (dw < -4) & (dw >= -8)

    opp = _opponent(x)
    ow = windows(opp)
    mu_ai, mu_ao, mu_bi, mu_bo = (mean_on(ow, s) for s in (a_in, a_out, b_in, b_out))
    sd = [
        np.sqrt(np.maximum(mean_on(ow * ow, s) - mu**2, 0)).mean(1)
        for s, mu in ((a_in, mu_ai), (a_out, mu_ao))
    ]
    step = mu_ai - mu_ao
    color = _cell_abs_mean(step / (2.0 + 0.5 * (sd[0] + sd[1]))[:, None], cells)
    ctrl = 0.5 * (np.linalg.norm(mu_ai - mu_bi, axis=1) + np.linalg.norm(mu_ao - mu_bo, axis=1))
    step_excess = float(np.mean(np.maximum(np.log((np.linalg.norm(step, axis=1) + 2) / (ctrl + 2)), 0)))

    luma = opp[..., 0]
    gx, gy = sobel(luma)
    gw = windows(np.sqrt(gx * gx + gy * gy))
    g_edge = mean_on(gw, np.abs(dw) == 1)
    g_par = mean_on(gw, (np.abs(dw) >= 3) & (np.abs(dw) <= 5))
    gradient = float(np.mean(np.maximum(np.log((g_edge + 1.0) / (g_par + 1.0)), 0.0)))

    t_in, t_out = (dw >= 2) & (dw <= 6), (dw <= -2) & (dw >= -6)
    nw = windows(np.abs(_shift_sum(luma, _IMMERKAER)) / 6.0)
    n_lr = np.log((mean_on(nw, t_in) + 0.2) / (mean_on(nw, t_out) + 0.2))
    e_lr = 0.5 * np.log((mean_on(gw * gw, t_in) + 0.25) / (mean_on(gw * gw, t_out) + 0.25))
    return {
        "color": color,
        "tone": _cell_tone_step(opp, d),
        "step": step_excess,
        "gradient": gradient,
        "noise": _cell_abs_mean(n_lr, cells),
        "sharpness": _cell_abs_mean(e_lr, cells),
    }


def seam_score(img: np.ndarray, mask: np.ndarray) -> float:
    """No-reference visibility of the seam along the mask edge; lower is better (≈0.2–0.6 for none).

    Weighted sum (``SCORE_WEIGHTS``) of ``seam_components``: colour cast across the edge normalised by
    texture, step excess over parallel control strips, gradient excess on the edge, grain and sharpness
    log-ratios across it. Needs no clean image; inputs above ``SCORE_MAX_PIXELS`` are area-downsampled
    by an integer factor first, so a 1 MP crop costs tens of milliseconds.
    """
    c = seam_components(img, mask)
    return float(sum(SCORE_WEIGHTS[k] * v for k, v in c.items()))


__all__ = [
    "band_psnr",
    "band_delta_e",
    "boundary_gradient_error",
    "noise_mismatch",
    "blur_mismatch",
    "noise_mismatch_vs_clean",
    "blur_mismatch_vs_clean",
    "seam_score",
    "seam_components",
    "srgb_to_lab",
    "ciede2000",
    "sobel",
    "noise_sigma",
    "edge_ring",
]
