"""Classical seam-fixing baselines the refiner is benchmarked against (export side: cv2/scipy allowed).

Every baseline is ``fn(composite, mask) -> out``: H×W×3 float32 sRGB in [0, 1] and an H×W float mask
(1 = generated) in, float32 out. Only the composite is known (no clean image), and nothing outside
``imagemath.band_weights(mask, BAND_WIDTH, BAND_FEATHER) > 0`` changes: results go through
``imagemath.composite`` with that band, exactly like the refiner's output.

* ``identity``: the composite unchanged.
* ``feather``: a feathered seam. The ±``FEATHER_PX`` ring across the mask edge is re-filled from its
  surroundings (``cv2.inpaint`` Telea: known pixels on both sides) and blended in with a smooth ramp that
  is 1 on the edge and 0 at ``FEATHER_PX`` — what a soft eraser / heal brush along the edge does.
* ``poisson``: gradient-domain (Pérez et al. 2003) blending. Inside Ω = mask > 0 solve Δu = div v with
  u = composite on the pixels just outside Ω (Dirichlet) and v the composite's own gradients; on pairs
  that cross ∂Ω the seam step (raw difference minus the gradient-continuity estimate from the parallel
  pairs inside and outside) is smoothed along the edge and subtracted (see ``poisson_solve``). Sparse
  direct solve (scipy ``splu``), one factorisation for the three channels. A uniform colour offset
  inside a hard mask is removed up to the texture noise of the step estimate.
* ``poisson_membrane``: the same solve with zero guidance across ∂Ω, so the whole per-pixel jump
  at the edge is spread into the fill as a harmonic membrane.
* ``color_transfer``: Reinhard et al. 2001 in CIE Lab: the masked pixels get the mean and standard
  deviation of a ring 3–16 px outside the edge, measured on a ring 1–16 px inside; std ratios are
  clipped to [0.5, 2]; applied with weight ``mask`` (the colour match of Krita AI Diffusion and
  Acly's inpaint nodes).
* ``mkl``: the linear Monge–Kantorovich colour transfer of Pitié & Kokaram 2007 (color-matcher's
  default): x → (x − μ_in)·T + μ_out with T = Σi^−½ (Σi^½ Σo Σi^½)^½ Σi^−½ from the same two rings'
  RGB covariances; applied with weight ``mask``.
* ``seamless_clone``: OpenCV's ``cv2.seamlessClone`` (NORMAL_CLONE) of the composite onto itself
  through the mask, as a user would call it on 8-bit pixels.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu
from seamrefine.errors import DTypeError, InputError, ShapeError
from seamrefine.imaging import imagemath

BAND_WIDTH = 16
BAND_FEATHER = 8
FEATHER_PX = 3
STEP_SIGMA = 6.0  # px: smoothing of the seam-step estimate along the edge (Poisson)


def _check(composite: object, mask: object) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(composite, np.ndarray):
        kind = type(composite).__name__
        raise DTypeError(f"composite must be a numpy array, got {kind}", kind)
    if composite.ndim != 3 or composite.shape[2] != 3:
        raise ShapeError(f"composite must be H×W×3, got shape {composite.shape}", composite.shape)
    if composite.dtype != np.float32:
        dt = str(composite.dtype)
        raise DTypeError(f"composite must be float32 sRGB in [0, 1], got {dt}", dt)
    if not np.isfinite(composite).all():
        raise InputError("composite contains NaN or infinite values", "non-finite")
    m = imagemath.mask_to_float(mask, composite.shape[:2])
    imagemath.check_mask_region(m)
    return composite, m


def finish(composite: np.ndarray, mask: np.ndarray, refined: np.ndarray) -> np.ndarray:
    """``refined`` pasted into ``composite`` through the benchmark band (mask + 16 px, feathered 8)."""
    band = imagemath.band_weights(mask, BAND_WIDTH, BAND_FEATHER)
    return imagemath.composite(composite, np.clip(refined, 0.0, 1.0).astype(np.float32), band)


def identity(composite: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The composite, unchanged (a copy)."""
    c, _ = _check(composite, mask)
    return c.copy()


def _signed_distance(inside: np.ndarray, reach: int) -> np.ndarray:
    d_in = imagemath.distance_to_region(~inside, reach)
    d_out = imagemath.distance_to_region(inside, reach)
    return np.where(inside, d_in - 0.5, 0.5 - d_out).astype(np.float32)  # 0 on the edge


def feather(composite: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Re-fill the ±FEATHER_PX ring across the mask edge from both sides and blend it in smoothly."""
    c, m = _check(composite, mask)
    sd = _signed_distance(m >= 0.5, FEATHER_PX + 1)
    ring = np.abs(sd) <= FEATHER_PX
    u8 = np.clip(np.rint(c * 255.0), 0, 255).astype(np.uint8)
    filled = cv2.inpaint(u8, ring.astype(np.uint8), 3.0, cv2.INPAINT_TELEA).astype(np.float32) / 255.0
    t = np.clip(np.abs(sd) / FEATHER_PX, 0.0, 1.0)
    w = (1.0 - t * t * (3.0 - 2.0 * t))[..., None]  # smoothstep: 1 on the edge, 0 at FEATHER_PX
    return finish(c, m, c + w * (filled - c))


def poisson_solve(
    image: np.ndarray, region: np.ndarray, step_sigma: float = STEP_SIGMA, zero_cross: bool = False
) -> np.ndarray:
    """Gradient-domain fill of ``region`` (bool H×W): Δu = div v inside, u = image outside (Dirichlet).

    v is the image's own gradient, except across ∂region where the image holds the seam step: there
    v = raw − δ̂, with raw = c_p − c_q (p inside, q outside) and δ̂ the seam step estimated as
    raw − (mean of the parallel gradients one pixel further inside and one further outside), smoothed
    along the boundary with a Gaussian of ``step_sigma`` px (normalised convolution). The step of a
    fill is smooth along the edge while texture is not, so texture crossing the edge is kept and a
    smooth colour/tone step is removed. With ``zero_cross`` the guidance across ∂region is 0 instead
    (the plain membrane: the whole per-pixel jump is the boundary value). Image-border pixels just lose
    that neighbour (Neumann).
    """
    h, w = region.shape
    idx = -np.ones((h, w), np.int64)
    ys, xs = np.nonzero(region)
    n = ys.size
    if n == 0:
        return image.copy()
    idx[ys, xs] = np.arange(n)
    nc = image.shape[2]
    rows, cols, vals = [np.arange(n)], [np.arange(n)], [np.zeros(n)]
    diag = np.zeros(n)
    rhs = np.zeros((n, nc))
    img = image.astype(np.float64)
    cross: list[tuple] = []  # (p index, py, px, c_q, raw, continuity estimate)

    def inb(y: np.ndarray, x: np.ndarray) -> np.ndarray:
        return (y >= 0) & (y < h) & (x >= 0) & (x < w)

    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        qy, qx = ys + dy, xs + dx
        ok = inb(qy, qx)
        p = np.flatnonzero(ok)
        qy, qx, py, px = qy[ok], qx[ok], ys[ok], xs[ok]
        diag[p] += 1
        q_idx = idx[qy, qx]
        inner = q_idx >= 0
        # neighbour inside: u_p − u_q = c_p − c_q
        rows.append(p[inner])
        cols.append(q_idx[inner])
        vals.append(-np.ones(int(inner.sum())))
        rhs[p[inner]] += img[py[inner], px[inner]] - img[qy[inner], qx[inner]]
        # neighbour outside: u_p − c_q = v_pq (see docstring)
        b = ~inner
        by, bx, bqy, bqx = py[b], px[b], qy[b], qx[b]
        est = np.zeros((b.sum(), nc))
        cnt = np.zeros((b.sum(), 1))
        pairs = ((by - dy, bx - dx, by, bx, True), (bqy, bqx, bqy + dy, bqx + dx, False))
        for sy, sx, ty, tx, pair_inside in pairs:
            ok2 = inb(sy, sx) & inb(ty, tx)
            if pair_inside:  # (p−e, p): p−e must be inside too
                ok2[ok2] &= region[sy[ok2], sx[ok2]]
            else:  # (q, q+e): q+e must be outside too
                ok2[ok2] &= ~region[ty[ok2], tx[ok2]]
            est[ok2] += img[sy[ok2], sx[ok2]] - img[ty[ok2], tx[ok2]]
            cnt[ok2] += 1
        raw = img[by, bx] - img[bqy, bqx]
        cross.append((p[b], by, bx, img[bqy, bqx], raw, est / np.maximum(cnt, 1)))

    pb, by, bx, cq, raw, est = (np.concatenate(t) for t in zip(*cross, strict=True))
    if pb.size:
        step = raw - est
        if zero_cross:
            step = raw
        elif step_sigma > 0:
            acc = np.zeros((h, w, nc), np.float64)
            num = np.zeros((h, w), np.float64)
            np.add.at(acc, (by, bx), step)
            np.add.at(num, (by, bx), 1.0)
            acc = cv2.GaussianBlur(acc, (0, 0), step_sigma).reshape(h, w, nc)
            num = cv2.GaussianBlur(num, (0, 0), step_sigma)
            step = acc[by, bx] / np.maximum(num[by, bx], 1e-12)[:, None]
        np.add.at(rhs, pb, cq + raw - step)
    vals[0] = diag
    a = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    sol = splu(a).solve(rhs)
    out = image.copy()
    out[ys, xs] = sol.astype(np.float32)
    return out


def poisson(composite: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Poisson/gradient-domain blend of the masked region into its surroundings (see module docstring)."""
    c, m = _check(composite, mask)
    return finish(c, m, poisson_solve(c, m > 0))


def _rings(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ring 1–16 px inside the fill's edge and the ring 3–16 px outside it (colour-match peers)."""
    inside = m >= 0.5
    if not inside.any():
        inside = m > 0
    sd = _signed_distance(inside, BAND_WIDTH + 1)
    inner = inside & (sd <= BAND_WIDTH)
    outer = ~inside & (sd < -2.5) & (sd >= -BAND_WIDTH)
    return inner, outer if outer.any() else ~inside


def poisson_membrane(composite: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The plain Poisson membrane: the composite's own gradients inside, zero guidance across the edge."""
    c, m = _check(composite, mask)
    return finish(c, m, poisson_solve(c, m > 0, zero_cross=True))


def color_transfer(composite: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Reinhard mean/std transfer in Lab from the ring outside the edge to the masked pixels."""
    c, m = _check(composite, mask)
    inner, outer = _rings(m)
    lab = cv2.cvtColor(c, cv2.COLOR_RGB2Lab)
    mu_i, sd_i = lab[inner].mean(0), lab[inner].std(0)
    mu_o, sd_o = lab[outer].mean(0), lab[outer].std(0)
    ratio = np.clip((sd_o + 1e-3) / (sd_i + 1e-3), 0.5, 2.0)
    moved = ((lab - mu_i) * ratio + mu_o).astype(np.float32)
    moved[..., 0] = np.clip(moved[..., 0], 0, 100)
    rgb = cv2.cvtColor(moved, cv2.COLOR_Lab2RGB)
    return finish(c, m, c + m[..., None] * (rgb - c))


def _sqrtm(a: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (eigenvalues floored at 0)."""
    w, v = np.linalg.eigh(a)
    return (v * np.sqrt(np.maximum(w, 0.0))) @ v.T


def mkl(composite: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Monge–Kantorovich linear colour transfer from the ring outside the edge to the masked pixels."""
    c, m = _check(composite, mask)
    inner, outer = _rings(m)
    a, b = c[inner].astype(np.float64), c[outer].astype(np.float64)
    eps = 1e-6 * np.eye(3)
    ci, co = np.cov(a.T) + eps, np.cov(b.T) + eps
    ci_half = _sqrtm(ci)
    ci_half_inv = np.linalg.inv(ci_half)
    t = ci_half_inv @ _sqrtm(ci_half @ co @ ci_half) @ ci_half_inv
    moved = ((c.reshape(-1, 3) - a.mean(0)) @ t + b.mean(0)).reshape(c.shape).astype(np.float32)
    return finish(c, m, c + m[..., None] * (moved - c))


def seamless_clone(composite: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``cv2.seamlessClone`` NORMAL_CLONE of the 8-bit composite onto itself through ``mask > 0``.

    OpenCV needs the mask's box inside the image with a margin, so both are reflect-padded first."""
    c, m = _check(composite, mask)
    pad = 4
    u8 = np.clip(np.rint(c * 255.0), 0, 255).astype(np.uint8)
    u8 = cv2.copyMakeBorder(u8, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    sel = np.zeros(u8.shape[:2], np.uint8)
    sel[pad:-pad, pad:-pad] = (m > 0).astype(np.uint8) * 255
    x, y, w, h = cv2.boundingRect(sel)
    out = cv2.seamlessClone(u8, u8, sel, (x + w // 2, y + h // 2), cv2.NORMAL_CLONE)
    return finish(c, m, out[pad:-pad, pad:-pad].astype(np.float32) / 255.0)


BASELINES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "identity": identity,
    "feather": feather,
    "poisson": poisson,
    "poisson_membrane": poisson_membrane,
    "color_transfer": color_transfer,
    "mkl": mkl,
    "seamless_clone": seamless_clone,
}
