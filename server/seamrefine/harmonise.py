"""Classical colour harmonisation of a pasted fill: find the seam, gate it, and map the fill's colour.

A generative fill's colour seam shows in the jump between pixels just inside and just outside its
edge, not in statistics of wide rings (the content differs across the seam). So everything here is
measured on thin bands of ``BAND`` one-pixel rings either side of a candidate seam contour, as local
means along the contour (``RingProfile``: box sums of each ring, sampled at the mask's contour pixels):

* **Where.** A fill's colour step may sit a few px inside or outside the user's mask edge, and a
  feathered paste spreads it over a ramp. Each candidate (position, ramp half-width ``gap``) is scored
  by the robust z of its coherent step: the median local step along the contour over its MAD-based
  standard error. Content steps change sign along a contour, a fill's colour drift does not.
* **Whether.** A smooth colour gradient crossing the edge (a sky) is coherent too, but it steps as
  much across the parallel contours beside the seam zone. So the gate looks at the *excess* step over
  theirs: ``gate`` ramps from 0 to 1 as its z goes through ``GATE_RANGE``; below that nothing changes
  (clean edges and texture mismatches stay bit-identical).
* **How.** One per-channel gain and offset (``band_affine``) from the band means either side of the
  ramp: both sides see the same content up to the seam. What is left is removed by a robust plane
  (``plane_field``) that follows colour gradients across the fill. The change is applied past the
  ramp in full and blended over it, so brightness, contrast and saturation are fixed in the whole
  fill, not only near its edge.

Measured on training photos (MODEL.md): a per-pixel Poisson/harmonic membrane of the residual jump,
tried here too, lost 2–4 dB against this plane on every colour family, because the local jump is
dominated by content; it is not used.

All functions are pure numpy/OpenCV on H×W×3 float32 RGB and H×W float32 masks in [0, 1], shared by
serving (``seamrefine.inference``) and the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .errors import DTypeError, EmptyMaskError, ShapeError

BAND = 1  # rings (px) in each band either side of a seam position
BOX = 13  # px: side of the box that localises band means along the contour
RINGS = (-26, 30)  # ring k holds the pixels with floor(signed distance) == k (0: first inside)
POSITIONS = tuple(range(-3, 6))  # candidate seam positions: between ring s − 1 and ring s
GAPS = (0, 2, 4, 6)  # half-widths of the ramp a seam may be spread over (feathered pastes)
GAIN_LIMITS = (0.85, 1.18)
GATE_RANGE = (4.5, 5.5)  # robust z of the excess coherent step: no correction below, full above
PLANE_RIDGE = 0.05  # ridge on the plane's slopes, relative to the number of contour samples
IRLS_ROUNDS = 4
SELECT = 0
WORK_PIXELS = 250_000  # the seam is measured on the crop area-reduced to at most this size


@dataclass(frozen=True)
class Seam:
    """Where the seam was found and how much it stands out.

    position: px inside the mask edge (working resolution); gap: half-width of its ramp; z: the robust
    significance of its excess coherent step (see ``RingProfile.stats``); step: that step's size."""

    position: int
    gap: int
    z: float
    step: float


def signed_distance(inside: np.ndarray) -> np.ndarray:
    """Signed Euclidean distance to the edge of ``inside``: +0.5 on the first pixel inside, −0.5 on the
    first pixel outside, growing by 1 per pixel away from the edge (float32)."""
    u8 = inside.astype(np.uint8)
    d_in = cv2.distanceTransform(u8, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    d_out = cv2.distanceTransform(1 - u8, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.where(inside, d_in - 0.5, 0.5 - d_out).astype(np.float32)


class RingProfile:
    """Box-local means of each 1-px ring around the mask edge, sampled at the mask's contour pixels.

    For contour pixel i and ring k: ``num[k, i]`` = Σ x over ring-k pixels in the box around i, ``den``
    their count; the box's side is ``BOX`` + 2|k| px, so that rings far from the edge still reach i.
    Any band of rings then has the local mean Σ num / Σ den (normalised convolution), so steps across
    every candidate seam position come from one pass of boxes.
    """

    def __init__(self, x: np.ndarray, sd: np.ndarray):
        ring = np.floor(sd).astype(np.int32)
        self.contour = ring == 0
        self.lo = RINGS[0]
        n = RINGS[1] - RINGS[0]
        flat = ring.ravel()
        order = np.argsort(flat, kind="stable")
        bounds = np.searchsorted(flat[order], np.arange(self.lo, RINGS[1] + 1))
        x1 = np.concatenate([x, np.ones(x.shape[:2] + (1,), np.float32)], axis=2).reshape(-1, 4)
        at = np.flatnonzero(self.contour.ravel())
        self.num = np.zeros((n, at.size, 3), np.float32)
        self.den = np.zeros((n, at.size), np.float32)
        field = np.zeros_like(x1)
        for j in range(n):
            members = order[bounds[j] : bounds[j + 1]]
            if members.size == 0:
                continue
            field[members] = x1[members]
            side = BOX + 2 * abs(self.lo + j)  # far rings must still reach the contour pixels
            box = cv2.boxFilter(field.reshape(x.shape[:2] + (4,)), -1, (side, side), normalize=False,
                                borderType=cv2.BORDER_CONSTANT).reshape(-1, 4)[at]
            self.num[j], self.den[j] = box[:, :3], box[:, 3]
            field[members] = 0.0

    def band(self, k0: int, k1: int) -> tuple[np.ndarray, np.ndarray]:
        """Local mean (N×3) and pixel count (N) of rings k0 ≤ k < k1 at each contour pixel."""
        a, b = max(k0 - self.lo, 0), max(min(k1 - self.lo, len(self.den)), 0)
        num, den = self.num[a:b].sum(0), self.den[a:b].sum(0)
        return num / np.maximum(den, 1.0)[:, None], den

    def step(self, s: int, g: int) -> tuple[np.ndarray, np.ndarray]:
        """Outer minus inner band mean across position ``s`` with gap ``g``, and where both exist."""
        m_out, d_out = self.band(s - g - BAND, s - g)
        m_in, d_in = self.band(s + g, s + g + BAND)
        return m_out - m_in, (d_out >= 2) & (d_in >= 2)

    def stats(self, s: int, g: int) -> tuple[float, float, float] | None:
        """Across (s, g), or None when too few contour pixels see all the bands: the robust z of the
        coherent step, the same for the *excess* step, and the excess step's size.

        z per channel is the median over its MAD-based standard error, one independent sample per
        box side of contour, RMS over channels. The excess step is the step minus the mean of the
        steps across the parallel contours just beyond its zone on either side: a smooth colour
        gradient crossing the edge (sky) steps equally across all three and cancels there.
        """
        step, ok = self.step(s, g)
        reach = 2 * g + BAND
        before, ok_b = self.step(s - reach, g)
        after, ok_a = self.step(s + reach, g)
        both = ok & ok_b & ok_a
        if both.sum() < 8:
            return None
        side = BOX + 2 * (abs(s) + 2 * g + 2 * BAND)  # the widest box among the rings used
        n_eff = np.sqrt(both.sum() / side)

        def robust_z(v: np.ndarray) -> tuple[float, np.ndarray]:
            med = np.median(v, 0)
            mad = 1.4826 * np.median(np.abs(v - med), 0) + 1e-5
            return float(np.linalg.norm(med / mad * n_eff) / np.sqrt(3.0)), med

        z, _ = robust_z(step[both])
        z_excess, med = robust_z(step[both] - 0.5 * (before[both] + after[both]))
        return z, z_excess, float(np.linalg.norm(med) / np.sqrt(3.0))


def find_seam(profile: RingProfile) -> Seam:
    """The candidate (position, gap) with the most significant coherent step (largest robust z);
    its ``excess`` z then says whether that step is the fill's or a colour gradient's (``gate``)."""
    best, best_z = Seam(0, 0, 0.0, 0.0), 0.0
    for g in GAPS:
        for s in POSITIONS:
            st = profile.stats(s, g)
            if st is not None and st[SELECT] > best_z:
                best, best_z = Seam(s, g, st[1], st[2]), st[SELECT]
    return best


def gate(seam: Seam) -> float:
    """Confidence in [0, 1] that the fill has a colour seam: a ramp of the excess step's z over
    ``GATE_RANGE``."""
    lo, hi = GATE_RANGE
    return float(np.clip((seam.z - lo) / (hi - lo), 0.0, 1.0))


@dataclass(frozen=True)
class ColourMap:
    """Per-channel x → g·x + b + sx·X + sy·Y, with (X, Y) the position relative to the contour's
    centroid ``centre`` (y, x) in units of its extent ``scale`` (working-resolution px)."""

    gain: np.ndarray  # (3,)
    offset: np.ndarray  # (3,)
    slopes: np.ndarray  # (2, 3): d/dX, d/dY
    centre: tuple[float, float]
    scale: float

    def change(self, x: np.ndarray, f: int) -> np.ndarray:
        """The map's change ``g·x + b + plane − x`` on a full-resolution image (working px × ``f``)."""
        h, w = x.shape[:2]
        gx = ((np.arange(w) + 0.5) / f - 0.5 - self.centre[1]) / self.scale
        gy = ((np.arange(h) + 0.5) / f - 0.5 - self.centre[0]) / self.scale
        plane = gx[None, :, None] * self.slopes[0] + gy[:, None, None] * self.slopes[1]
        return (x * (self.gain - 1.0) + self.offset + plane).astype(np.float32)


IDENTITY_MAP = ColourMap(np.ones(3), np.zeros(3), np.zeros((2, 3)), (0.0, 0.0), 1.0)


def fit_colour_map(profile: RingProfile, seam: Seam) -> ColourMap:
    """The colour map that takes the fill's side of the seam onto the photo's, from the band means
    either side of the seam's ramp at each contour pixel (both bands see the same content up to the
    seam): per channel, gain g = spread of the outer means along the contour over that of the inner
    means (clipped to ``GAIN_LIMITS``), offset b = median(outer − g·inner), and a plane through the
    jump that is left, fitted by Huber-weighted ridge least squares (``IRLS_ROUNDS``, ridge
    ``PLANE_RIDGE`` on the slopes), so a colour drift across the fill is followed.

    Measured on training photos: a regression of outer on inner means gives worse gains than the
    spread ratio (the content's difference across the seam regresses to the mean), and a free
    intercept in the plane worse offsets than the median.
    """
    s, gap = seam.position, seam.gap
    m_out, d_out = profile.band(s - gap - BAND, s - gap)
    m_in, d_in = profile.band(s + gap, s + gap + BAND)
    ok = (d_out >= 2) & (d_in >= 2)
    n = int(ok.sum())
    if n < 16:
        return IDENTITY_MAP
    inner, outer = m_in[ok].astype(np.float64), m_out[ok].astype(np.float64)
    gain = np.clip((outer.std(0) + 1e-3) / (inner.std(0) + 1e-3), *GAIN_LIMITS)
    offset = np.median(outer - inner * gain, axis=0)
    residual = outer - (inner * gain + offset)
    ys, xs = np.nonzero(profile.contour)
    ys, xs = ys[ok], xs[ok]
    cy, cx, scale = float(ys.mean()), float(xs.mean()), max(float(np.ptp(ys)), float(np.ptp(xs)), 1.0)
    a = np.stack([(xs - cx) / scale, (ys - cy) / scale], 1)
    slopes = np.zeros((2, 3))
    wts = np.ones((n, 3))
    for _ in range(IRLS_ROUNDS):
        for c in range(3):
            aw = a * wts[:, c : c + 1]
            slopes[:, c] = np.linalg.solve(aw.T @ a + PLANE_RIDGE * n * np.eye(2), aw.T @ residual[:, c])
        res = np.abs(residual - a @ slopes)
        k = 1.345 * np.median(res, 0) / 0.6745 + 1e-9
        wts = np.minimum(1.0, k / np.maximum(res, 1e-12))
    return ColourMap(gain, offset, slopes, (cy, cx), scale)


def _check(x: object, mask: object) -> None:
    if not isinstance(x, np.ndarray) or x.dtype != np.float32:
        kind = getattr(x, "dtype", type(x).__name__)
        raise DTypeError(f"harmonise needs float32 RGB, got {kind}", str(kind))
    if x.ndim != 3 or x.shape[2] != 3:
        raise ShapeError(f"harmonise needs an H×W×3 image, got shape {x.shape}", x.shape)
    if not isinstance(mask, np.ndarray) or mask.shape != x.shape[:2]:
        got = getattr(mask, "shape", type(mask).__name__)
        raise ShapeError(f"mask must be H×W = {x.shape[0]}×{x.shape[1]}, got {got}", got)
    if not (mask >= 0.5).any() and not (mask > 0).any():
        raise EmptyMaskError("the mask is empty: nothing to harmonise", 0.0)


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def harmonise(x: np.ndarray, mask: np.ndarray, reach: int = 16) -> tuple[np.ndarray, dict]:
    """Remove the colour seam of the fill ``mask`` in ``x`` (H×W×3 float32 RGB, H×W mask in [0, 1]).

    On the crop area-reduced to ≤ ``WORK_PIXELS``: find the seam (``find_seam``) and its confidence
    (``gate``), fit the band affine map and the plane of the jump it leaves. At full resolution the
    change is ``gate · w · (x·g + b − x + plane)`` with w the seam's ramp (0 outside it, 1 past it)
    and 0 beyond ``reach`` px outside the mask. Returns (change, info): ``x + change`` is the
    harmonised image; info holds the seam (position and gap in px), its z and step, the gate, the
    gain and the offset. Raises DTypeError/ShapeError/EmptyMaskError on bad input.
    """
    _check(x, mask)
    h, w = mask.shape
    f = max(1, int(np.ceil(np.sqrt(h * w / WORK_PIXELS))))
    inside = mask >= 0.5
    if not inside.any():
        inside = mask > 0
    small = x if f == 1 else cv2.resize(x, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
    small_in = inside if f == 1 else cv2.resize(
        inside.astype(np.float32), small.shape[1::-1], interpolation=cv2.INTER_AREA) >= 0.5
    sd = signed_distance(small_in)
    profile = RingProfile(small, sd)
    seam = find_seam(profile)
    conf = gate(seam)
    info = {"z": seam.z, "step": seam.step, "position": seam.position * f,
            "gap": seam.gap * f, "gate": conf, "scale": f}
    if conf <= 0.0:
        return np.zeros_like(x), info
    cmap = fit_colour_map(profile, seam)
    start = seam.position - seam.gap  # the ramp's outer end, in rings
    sd_full = signed_distance(inside) / f
    ramp = _smoothstep((sd_full - start) / max(2.0 * seam.gap, 1e-3)) * (sd_full * f > -reach)
    ramp = ramp[..., None]
    change = conf * ramp * cmap.change(x, f)
    info.update(gain=cmap.gain.tolist(), offset=cmap.offset.tolist())
    return change.astype(np.float32), info
