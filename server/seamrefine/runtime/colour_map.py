"""The colour map that takes a fill's side of its seam onto the photo's side.

Fitted on the band means either side of a seam (``RingProfile.across``; the gain on the bands' pixel
spreads and covariances, ``RingProfile.across_squares`` and ``across_products``): a gain (per channel,
or a 3×3 matrix: a symmetric stretch, turned about the grey axis for hue shifts), an offset, and a
plane for drifts across the fill (``fit_colour_map``).
``ColourMap.change`` undoes it on the image, ``ColourMap.predict`` applies it to contour samples
(the gate's features).

Pure numpy/OpenCV on float RGB, shared by serving and the benchmark (through ``harmonise``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .fill_runs import over_runs
from .ring_profile import RingProfile

GAIN_LIMITS = (0.8, 1.25)  # the gain's range: the seam gate's maps, and the applied one by default
CONFIDENT_GAIN_LIMITS = (0.67, 1.5)  # ... the applied one's where the gate is sure (``harmonise.find_seam``)
PLANE_RIDGE = 0.05  # ridge on the plane's slopes, relative to the number of contour samples
IRLS_ROUNDS = 4
HUE_LIMIT = 0.35  # radians: the largest rotation of the chroma plane a fitted map may hold
MATRIX_SHARE = 0.5  # of the Monge–Kantorovich matrix in the gain applied; the rest per-channel ratios


@dataclass(frozen=True)
class ColourMap:
    """x → G·x + b + sx·X + sy·Y per pixel, with (X, Y) the position relative to the contour's
    centroid ``centre`` (y, x) in units of its extent ``scale`` (working-resolution px). G is
    ``gain``: per-channel gains (3,), or a 3×3 matrix (saturation and hue shifts mix the channels)."""

    gain: np.ndarray  # (3,) or (3, 3)
    offset: np.ndarray  # (3,)
    slopes: np.ndarray  # (2, 3): d/dX, d/dY
    centre: tuple[float, float]
    scale: float

    def change(self, x: np.ndarray, f: int, alpha: np.ndarray) -> np.ndarray:
        """The change that undoes the fill's colour on a full-resolution image (working px × ``f``)
        whose pixels were pasted with weight ``alpha`` (H×W): with F the inverse of this map, a pixel
        is x = c + α·(F(c) − c); solved for the photo's c per channel,
        c = (x + α·(b + plane)/g) / (1 + α·(1/g − 1)), which is g·x + b + plane where α = 1 (for a
        matrix gain, ``_matrix_change``). Computed on the runs of columns with α > 0 within strips
        of rows (``fill_runs``; 0 elsewhere), in two threads."""
        out = np.zeros(x.shape, x.dtype)
        f32 = np.float32
        if self.gain.ndim == 2:
            return self._matrix_change(x, f, alpha, out)
        inv = (1.0 / self.gain).astype(f32)
        slopes = (self.slopes * inv).astype(f32)
        offset = (self.offset * inv).astype(f32)

        def block(win: tuple[slice, slice]) -> None:
            shift = self._plane_shift(win, f, offset, slopes)  # (b + plane) / g
            a = alpha[win][..., None].astype(f32, copy=False)
            px = x[win]
            num = a * shift
            num += px
            den = a * (inv - 1.0)
            den += 1.0
            np.divide(num, den, out=num)
            np.subtract(num, px, out=out[win])

        over_runs(block, alpha > 0)  # disjoint blocks, large numpy passes: two threads
        return out

    def _matrix_change(self, x: np.ndarray, f: int, alpha: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``change`` for a 3×3 gain G: c = A⁻¹·(x + α·G⁻¹·(b + plane)) with A = I + α·H, H = G⁻¹ − I,
        whose inverse is adj(A) / det(A) by Cayley–Hamilton, polynomials in α: adj(A) = I + α·(t·I − H)
        + α²·(H² − t·H + e₂·I), det(A) = 1 + α·t + α²·e₂ + α³·det(H) (t = tr H, e₂ = ½(t² − tr H²))."""
        f32 = np.float32
        g_inv = np.linalg.inv(self.gain)
        h = g_inv - np.eye(3)
        t = np.trace(h)
        e2 = 0.5 * (t * t - np.trace(h @ h))
        d3 = np.linalg.det(h)
        p1 = t * np.eye(3) - h  # per pixel P·y: cv2.transform
        p2 = h @ h - t * h + e2 * np.eye(3)
        offset = (self.offset @ g_inv.T).astype(f32)
        slopes = (self.slopes @ g_inv.T).astype(f32)

        def block(win: tuple[slice, slice]) -> None:
            shift = self._plane_shift(win, f, offset, slopes)  # G⁻¹·(b + plane)
            a = alpha[win][..., None].astype(f32, copy=False)
            px = x[win]
            y = a * shift
            y += px
            c = cv2.transform(y, p2)
            c *= a
            c += cv2.transform(y, p1)
            c *= a
            c += y
            det = ((f32(d3) * a + f32(e2)) * a + f32(t)) * a + f32(1.0)
            np.divide(c, det, out=c)
            np.subtract(c, px, out=out[win])

        over_runs(block, alpha > 0)
        return out

    def _plane_shift(self, win: tuple[slice, slice], f: int, offset: np.ndarray,
                     slopes: np.ndarray) -> np.ndarray:
        """``offset`` + X·``slopes``[0] + Y·``slopes``[1] (float32, (rows, cols, 3)) on the full-resolution
        window ``win``, (X, Y) each pixel centre's working-resolution position as ``predict`` takes it."""
        f32 = np.float32
        rows, cols = (np.arange(s.start, s.stop) for s in win)
        gx = (((cols + 0.5) / f - 0.5 - self.centre[1]) / self.scale).astype(f32)
        gy = (((rows + 0.5) / f - 0.5 - self.centre[0]) / self.scale).astype(f32)
        shift = (gx[:, None] * slopes[0] + offset)[None]
        return shift + (gy[:, None] * slopes[1])[:, None]

    def predict(self, colours: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """The map applied to N×3 ``colours`` at working-resolution positions (``ys``, ``xs``): the
        photo's side of the seam as this map predicts it from the fill's side."""
        gx = ((xs - self.centre[1]) / self.scale)[:, None]
        gy = ((ys - self.centre[0]) / self.scale)[:, None]
        scaled = colours @ self.gain.T if self.gain.ndim == 2 else colours * self.gain
        return scaled + self.offset + gx * self.slopes[0] + gy * self.slopes[1]


IDENTITY_MAP = ColourMap(np.ones(3), np.zeros(3), np.zeros((2, 3)), (0.0, 0.0), 1.0)


def pooled(maps: list[ColourMap], weights) -> ColourMap:
    """The ``weights``-weighted mean (weights summing to 1) of the affine maps ``maps``, about the first
    one's centre and scale: gain Σ wᵢgᵢ, and each plane re-expressed there, bᵢ + sᵢ·(c₀ − cᵢ)/rᵢ
    added to the offset and sᵢ·r₀/rᵢ to the slopes (c the centre, r the scale, s the slopes). Where a
    pixel is wholly pasted (α = 1) its change is then exactly Σ wᵢ · (map i's change)."""
    ref = maps[0]
    matrix = any(m.gain.ndim == 2 for m in maps)
    gain, offset, slopes = np.zeros((3, 3) if matrix else 3), np.zeros(3), np.zeros((2, 3))
    for m, w in zip(maps, weights, strict=True):
        dy, dx = ((c0 - c) / m.scale for c0, c in zip(ref.centre, m.centre, strict=True))
        gain += w * (np.diag(m.gain) if matrix and m.gain.ndim == 1 else m.gain)
        offset += w * (m.offset + dx * m.slopes[0] + dy * m.slopes[1])
        slopes += w * m.slopes * (ref.scale / m.scale)
    return ColourMap(gain, offset, slopes, ref.centre, ref.scale)


def fit_colour_map(profile: RingProfile, position: int, gap: int, pixel_gain: bool = True,
                   gain: np.ndarray | None = None, weights: np.ndarray | None = None,
                   matrix_share: float = MATRIX_SHARE, rotate: bool = True,
                   limits: tuple[float, float] = GAIN_LIMITS) -> ColourMap:
    """The colour map that takes the fill's side of the seam onto the photo's, from the band means
    either side of the seam's ramp at each contour pixel (both bands see the same content up to the
    seam): a gain G (``_pixel_gain``; with ``pixel_gain`` False, per channel the ratio of the local
    means' spreads, as the seam gate's features were learned on, clipped to ``GAIN_LIMITS``), offset
    b = median(outer − G·inner), and a plane through the jump that is left, fitted by Huber-weighted
    ridge least squares (``IRLS_ROUNDS``, ridge ``PLANE_RIDGE`` on the slopes), so a colour drift
    across the fill is followed. With ``pixel_gain`` and ``rotate``, that map is then turned about
    the grey axis by the rotation of the chroma plane it leaves between its prediction and the
    photo's side (``_chroma_rotation``: hue shifts), and the offset and plane are fitted again after
    it. ``gain``, when given (3 values or 3×3), is taken as it is instead, unrotated (diagnostics: an
    oracle's gain with this fitter's offset). ``weights``, when given (one per contour sample,
    ``content_step.sample_weights``), weigh the samples in the pixel spreads, the offset's median and
    the plane's least squares; without them every sample counts alike. ``limits``: the range the
    pixels' gain (its per-channel ratios and its eigenvalues) is clipped to; the local means' gain
    keeps ``GAIN_LIMITS``, as the seam gate learned it.

    Measured on training photos: a regression of outer on inner means gives worse gains than the
    spread ratio (the content's difference across the seam regresses to the mean), and a free
    intercept in the plane worse offsets than the median; the pixels' spread errs 20–31 % less in log
    gain than the local means' alone (twenty-third session), whose ratio drifts with the content's
    spread from ring to ring. Half the Monge–Kantorovich matrix gained +0.06 … +0.16 dB over
    per-channel gains on each of five draws of colour seams (the whole matrix +0.03 … +0.18), and the
    rotation +0.05 … +0.09 dB more (thirty-seventh session).
    """
    outer, inner, ok = profile.across(position, gap)
    n = int(ok.sum())
    if n < 16:
        return IDENTITY_MAP
    # channel rows (3×n): every statistic below runs along contiguous memory
    inner, outer = inner[ok].T.astype(np.float64, order="C"), outer[ok].T.astype(np.float64, order="C")
    share = None if weights is None else np.asarray(weights, np.float64)[ok] / np.sum(weights[ok])
    if gain is not None:
        gain, rotate = np.asarray(gain, np.float64), False
    elif pixel_gain:
        squares = tuple(sq[ok] for sq in profile.across_squares(position, gap))
        products = (tuple(pr[ok] for pr in profile.across_products(position, gap))
                    if matrix_share > 0 else None)
        gain = _pixel_gain(outer, inner, squares, products, share, matrix_share, limits)
    else:
        gain, rotate = np.clip((outer.std(1) + 1e-3) / (inner.std(1) + 1e-3), *GAIN_LIMITS), False
    ys, xs = profile.positions(ok)
    cmap = _offset_and_plane(gain, inner, outer, share, ys, xs)
    if rotate:
        theta = _chroma_rotation(cmap.predict(inner.T, ys, xs).T, outer, share)
        matrix = cmap.gain if cmap.gain.ndim == 2 else np.diag(cmap.gain)
        cmap = _offset_and_plane(_grey_rotation(theta) @ matrix, inner, outer, share, ys, xs)
    return cmap


def _pixel_gain(outer: np.ndarray, inner: np.ndarray, squares: tuple[np.ndarray, np.ndarray],
                products: tuple[np.ndarray, np.ndarray] | None, share: np.ndarray | None,
                matrix_share: float, limits: tuple[float, float] = GAIN_LIMITS) -> np.ndarray:
    """The gain from the two bands' pixels (band means 3×n, local means of the squares and, for a
    matrix, of the cross products, n×3 each, (outer, inner)): per channel the ratio of the pixels'
    spreads (``_pixel_variance``: the local means' spread along the contour plus the spread within
    each box) clipped to ``limits``; given ``products``, the symmetric 3×3 matrix of
    ``matrix_share`` of the Monge–Kantorovich map between the bands' pixel covariances
    (``monge_kantorovich``: saturation and hue shifts mix the channels) and the rest those ratios,
    its eigenvalues clipped."""
    spread_out = _pixel_variance(outer, squares[0], share)
    spread_in = _pixel_variance(inner, squares[1], share)
    gain = np.clip(np.sqrt((spread_out + 1e-6) / (spread_in + 1e-6)), *limits)
    if products is None:
        return gain
    cov_out = _pixel_covariance(outer, squares[0], products[0], share)
    cov_in = _pixel_covariance(inner, squares[1], products[1], share)
    mixed = (1 - matrix_share) * np.diag(gain) + matrix_share * monge_kantorovich(cov_in, cov_out)
    d, v = np.linalg.eigh(0.5 * (mixed + mixed.T))
    return (v * np.clip(d, *limits)) @ v.T


def _offset_and_plane(gain: np.ndarray, inner: np.ndarray, outer: np.ndarray, share: np.ndarray | None,
                      ys: np.ndarray, xs: np.ndarray) -> ColourMap:
    """The map with ``gain`` whose offset is the (``share``-weighted) median of outer − gain·inner
    (3×n band means) and whose plane is fitted through the jump left, by Huber-weighted ridge least
    squares over the samples' positions (``ys``, ``xs``)."""
    n = inner.shape[1]
    scaled = gain @ inner if gain.ndim == 2 else inner * gain[:, None]
    jump = outer - scaled
    offset = (np.median(jump, axis=1) if share is None
              else np.array([_weighted_median(v, share) for v in jump]))
    residual = outer - (scaled + offset[:, None])
    cy, cx, scale = float(ys.mean()), float(xs.mean()), max(float(np.ptp(ys)), float(np.ptp(xs)), 1.0)
    a = np.stack([(xs - cx) / scale, (ys - cy) / scale])  # 2×n
    wts = np.ones((3, n))
    sample = np.ones(n) if share is None else share * n  # mean 1: the ridge keeps its scale
    ridge = PLANE_RIDGE * n * np.eye(2)
    for round_ in range(IRLS_ROUNDS):
        aw = a * (wts * sample)[:, None]  # 3×2×n: the three channels' systems solved at once
        lhs, rhs = aw @ a.T + ridge, aw @ residual[:, :, None]  # 3×2×2, 3×2×1
        slopes = np.linalg.solve(lhs, rhs)[..., 0].T  # 2×3
        if round_ == IRLS_ROUNDS - 1:
            break
        res = np.abs(residual - slopes.T @ a)
        k = 1.345 * np.median(res, 1) / 0.6745 + 1e-9
        wts = np.minimum(1.0, k[:, None] / np.maximum(res, 1e-12))
    return ColourMap(gain, offset, slopes, (cy, cx), scale)


_CHROMA = np.array([[1.0, -1.0, 0.0], [1.0, 1.0, -2.0]]) / np.array([[np.sqrt(2.0)], [np.sqrt(6.0)]])  # 2×3


def _chroma_rotation(predicted: np.ndarray, outer: np.ndarray, share: np.ndarray | None) -> float:
    """The rotation (radians, within ±``HUE_LIMIT``) about the grey axis that best takes the
    ``predicted`` photo-side colours (3×n) onto the ``outer`` ones in the chroma plane: orthogonal
    Procrustes on the (``share``-weighted) centred samples, θ = atan2(C₂₁ − C₁₂, C₁₁ + C₂₂) for
    their cross-covariance C. Content that differs across the seam scatters C but, uncorrelated
    with the chroma, does not turn it."""
    w = np.full(outer.shape[1], 1.0 / outer.shape[1]) if share is None else share
    p, o = _CHROMA @ predicted, _CHROMA @ outer
    p = p - (p @ w)[:, None]
    o = o - (o @ w)[:, None]
    c = (o * w) @ p.T
    theta = float(np.arctan2(c[1, 0] - c[0, 1], c[0, 0] + c[1, 1]))
    return float(np.clip(theta, -HUE_LIMIT, HUE_LIMIT))


def _grey_rotation(theta: float) -> np.ndarray:
    """The 3×3 rotation by ``theta`` about the grey axis."""
    co, si = np.cos(theta), np.sin(theta)
    rot = np.array([[co, -si], [si, co]])
    grey = np.ones(3) / np.sqrt(3.0)
    return np.outer(grey, grey) + _CHROMA.T @ rot @ _CHROMA


def _pixel_variance(means: np.ndarray, squares: np.ndarray, share: np.ndarray | None = None) -> np.ndarray:
    """Per channel, the variance of a band's pixels over the contour's boxes: the spread of the local
    ``means`` (3×n) along the contour plus the mean spread within each box, i.e. mean(local mean of
    x²) − mean(local mean)², from the local means of the squares ``squares`` (n×3); the means
    weighted by ``share`` (n, summing to 1) when given."""
    if share is None:
        return np.maximum(squares.mean(0, dtype=np.float64) - means.mean(1) ** 2, 0.0)
    return np.maximum(share @ squares.astype(np.float64) - (means @ share) ** 2, 0.0)


def _pixel_covariance(means: np.ndarray, squares: np.ndarray, products: np.ndarray,
                      share: np.ndarray | None = None) -> np.ndarray:
    """The 3×3 covariance of a band's pixels over the contour's boxes (``_pixel_variance`` with the
    channels' cross products ``products``, n×3: r·g, r·b, g·b)."""
    w = np.full(means.shape[1], 1.0 / means.shape[1]) if share is None else share
    sq, pr = w @ squares.astype(np.float64), w @ products.astype(np.float64)
    second = np.array([[sq[0], pr[0], pr[1]], [pr[0], sq[1], pr[2]], [pr[1], pr[2], sq[2]]])
    mu = means @ w
    return second - np.outer(mu, mu)


def monge_kantorovich(cov_src: np.ndarray, cov_dst: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """The symmetric linear map T with T·cov_src·T = cov_dst that moves colours least (Pitié &
    Kokaram's MKL): T = S^{-1/2} (S^{1/2} D S^{1/2})^{1/2} S^{-1/2}, S and D regularised by ``eps``."""
    def sqrtm(a: np.ndarray, power: float = 0.5) -> np.ndarray:
        d, v = np.linalg.eigh(0.5 * (a + a.T))
        return (v * np.maximum(d, 1e-12) ** power) @ v.T

    s = cov_src + eps * np.eye(3)
    root, inv_root = sqrtm(s), sqrtm(s, -0.5)
    return inv_root @ sqrtm(root @ (cov_dst + eps * np.eye(3)) @ root) @ inv_root


def _weighted_median(values: np.ndarray, share: np.ndarray) -> float:
    """The smallest of ``values`` (n) at which the cumulative ``share`` (n, summing to 1) reaches ½."""
    order = np.argsort(values)
    return float(values[order][np.searchsorted(np.cumsum(share[order]), 0.5)])
