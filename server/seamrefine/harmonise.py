"""Classical colour harmonisation of a pasted fill: seam gate, band gain + offset, membrane of the jump.

A generative fill's colour seam shows in the jump between the pixels just inside and just outside the
mask edge, not in statistics of wide rings (the content differs across the seam). So everything here is
measured on thin bands that straddle a contour (``BAND`` px each side), as Gaussian-local means along
the contour (normalised convolution, ``SIGMA_ALONG`` px):

* **Gate.** The step across the mask contour is compared with the steps across parallel contours
  ``SHIFTS`` px inside and outside; those measure how much the content itself varies. A fill whose edge
  step stands out (``SeamFeatures.ratio``) is corrected; one whose step is like its neighbourhood's is
  left alone (``gate``).
* **Gain + offset.** One per-channel affine map ``x → (x − μ_in)·g + μ_out`` from the thin bands either
  side of the edge: the two bands see the same content up to the seam, so their means and spreads agree
  but for the fill's colour drift (Reinhard's transfer, but on bands 1–3 px from the edge, not rings).
* **Membrane.** The jump left after the affine map, measured per contour pixel, weighted down where an
  edge of the content crosses the seam (Tao, Johnson & Paris: error-tolerant compositing), is spread
  into the fill by a harmonic membrane (Laplace with the jump as boundary value), solved coarse to fine.

All functions are pure numpy/OpenCV on H×W×3 float32 RGB and H×W float32 masks in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

BAND = 3  # rings (px) in each band either side of a seam position
BOX = 13  # px: side of the box that localises band means along the contour
RINGS = (-26, 30)  # ring k holds the pixels with floor(signed distance) == k (0: first inside)
POSITIONS = tuple(range(-3, 6))  # candidate seam positions: between ring s − 1 and ring s
GAPS = (0, 2, 4, 6)  # half-widths of the ramp a seam may be spread over (feathered pastes)
REF_STEPS = (1, 3, 5)  # reference positions lie this far beyond the measured zone, both sides
GAIN_LIMITS = (0.85, 1.18)
GATE_RANGE = (3.5, 5.5)  # robust z of the coherent edge step: no correction below, full above
PLANE = True
PLANE_RIDGE = 0.05
WORK_PIXELS = 250_000  # features and membrane are computed on the crop area-reduced to this size


@dataclass(frozen=True)
class Seam:
    """Where the seam was found and how much it stands out.

    position: px inside the mask edge (working resolution); gap: half-width of its ramp; ratio: its
    mean local step over the median step at reference positions beyond it; coherence: |mean step| /
    its coherent step |mean step| over the same at the reference positions."""

    position: int
    gap: int
    ratio: float
    coherence: float
    z: float = 0.0


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
    their count. Any band of rings then has the local mean Σ num / Σ den (normalised convolution), so
    steps across every candidate seam position come from one pass of boxes.
    """

    def __init__(self, x: np.ndarray, sd: np.ndarray):
        ring = np.floor(sd).astype(np.int32)
        self.contour = ring == 0
        self.lo = RINGS[0]
        n = RINGS[1] - RINGS[0]
        nc = int(self.contour.sum())
        self.num = np.zeros((n, nc, 3), np.float32)
        self.den = np.zeros((n, nc), np.float32)
        for j in range(n):
            sel = (ring == self.lo + j).astype(np.float32)
            if not sel.any():
                continue
            stack = np.concatenate([x * sel[..., None], sel[..., None]], axis=2)
            box = cv2.boxFilter(stack, -1, (BOX, BOX), normalize=False, borderType=cv2.BORDER_CONSTANT)
            self.num[j], self.den[j] = box[self.contour, :3], box[self.contour, 3]

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

    def stats(self, s: int, g: int) -> tuple[float, float]:
        """Mean |local step| and |mean local step| along the contour across (s, g); NaN when too few."""
        step, ok = self.step(s, g)
        if ok.sum() < 8:
            return float("nan"), float("nan")
        v = step[ok]
        return float(np.linalg.norm(v, axis=-1).mean()), float(np.linalg.norm(v.mean(0)))


def find_seam(profile: RingProfile) -> Seam:
    """The candidate (position, gap) whose step stands out most against steps measured the same way
    beyond it on both sides (they see only the content's own variation): the score is the product of
    the local-magnitude ratio and the coherent (contour-mean) step ratio."""
    best, best_score = Seam(0, 0, 0.0, 0.0), 0.0
    for g in GAPS:
        for s in POSITIONS:
            mag, coh = profile.stats(s, g)
            if not np.isfinite(mag):
                continue
            reach = 2 * g + BAND
            refs = [profile.stats(s + sign * (reach + d), g) for d in REF_STEPS for sign in (1, -1)]
            refs = np.array([r for r in refs if np.isfinite(r[0])])
            if len(refs) < 2:
                continue
            r_mag = mag / max(float(np.median(refs[:, 0])), 1e-4)
            r_coh = coh / max(float(np.median(refs[:, 1])), 1e-4)
            score = r_mag * min(r_coh, 10.0)
            if score > best_score:
                best, best_score = Seam(s, g, float(r_mag), float(r_coh)), score
    step, ok = profile.step(best.position, best.gap)
    if ok.sum() >= 8:
        v = step[ok]
        med = np.median(v, 0)
        mad = 1.4826 * np.median(np.abs(v - med), 0) + 1e-5
        z = float(np.linalg.norm(med / (mad / np.sqrt(ok.sum() / BOX))) / np.sqrt(3.0))
        best = Seam(best.position, best.gap, best.ratio, best.coherence, z)
    return best


def gate(seam: Seam) -> float:
    """Confidence in [0, 1] that the fill has a colour seam: a ramp of the step ratio over GATE_RANGE."""
    lo, hi = GATE_RANGE
    return float(np.clip((seam.z - lo) / (hi - lo), 0.0, 1.0))


def band_affine(profile: RingProfile, seam: Seam) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel gain g and offset b that map the fill's side of the seam onto the photo's, from the
    local band means either side of it at each contour pixel: g = spread of the outer means along the
    contour over that of the inner means (clipped to ``GAIN_LIMITS``), b = median(outer − g·inner).
    Both sides see the same content up to the seam, so content cancels. Returns (g, b): x → x·g + b."""
    s, gap = seam.position, seam.gap
    m_out, d_out = profile.band(s - gap - BAND, s - gap)
    m_in, d_in = profile.band(s + gap, s + gap + BAND)
    ok = (d_out >= 2) & (d_in >= 2)
    if ok.sum() < 8:
        return np.ones(3, np.float32), np.zeros(3, np.float32)
    g = np.clip((m_out[ok].std(0) + 1e-3) / (m_in[ok].std(0) + 1e-3), *GAIN_LIMITS)
    b = np.median(m_out[ok] - m_in[ok] * g, axis=0)
    return g.astype(np.float32), b.astype(np.float32)


def plane_field(profile, seam, g, b, shape, f) -> np.ndarray:
    """Robust (Huber IRLS) least-squares slopes of the jump left after the affine map across the
    contour, as a plane through zero at the contour's centroid, on the full-resolution grid."""
    s, gap = seam.position, seam.gap
    m_out, d_out = profile.band(s - gap - BAND, s - gap)
    m_in, d_in = profile.band(s + gap, s + gap + BAND)
    ok = (d_out >= 2) & (d_in >= 2)
    ys, xs = np.nonzero(profile.contour)
    ys, xs = ys[ok], xs[ok]
    r = (m_out - (m_in * g + b))[ok].astype(np.float64)
    if ys.size < 16:
        return np.zeros(shape + (3,), np.float32)
    cy, cx, scale = ys.mean(), xs.mean(), max(float(np.ptp(ys)), float(np.ptp(xs)), 1.0)
    a = np.stack([(xs - cx) / scale, (ys - cy) / scale], 1)
    coef = np.zeros((2, 3))
    wts = np.ones((ys.size, 3))
    for _ in range(4):
        for c in range(3):
            aw = a * wts[:, c:c + 1]
            coef[:, c] = np.linalg.solve(aw.T @ a + PLANE_RIDGE * ys.size * np.eye(2), aw.T @ r[:, c])
        res = np.abs(r - a @ coef)
        k = 1.345 * np.median(res, 0) / 0.6745 + 1e-6
        wts = np.minimum(1.0, k / np.maximum(res, 1e-9))
    h, w = shape
    gx = ((np.arange(w) + 0.5) / f - 0.5 - cx) / scale
    gy = ((np.arange(h) + 0.5) / f - 0.5 - cy) / scale
    return (gx[None, :, None] * coef[0] + gy[:, None, None] * coef[1]).astype(np.float32)


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def harmonise(x: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, dict]:
    """Remove the colour seam of the fill ``mask`` in ``x`` (H×W×3 float32 RGB, H×W mask in [0, 1]).

    On the crop area-reduced to ≤ ``WORK_PIXELS``: find the seam (``find_seam``) and its confidence
    (``gate``), fit the band affine map, measure the jump that is left at each contour pixel and spread
    it over the fill with a harmonic membrane. At full resolution the change is
    ``gate · w · (x·g + b − x + membrane)`` with w the seam's ramp (0 outside it, 1 past it).
    Returns (change, info): ``x + change`` is the harmonised image; info holds the seam and the map.
    """
    h, w = mask.shape
    f = max(1, int(np.ceil(np.sqrt(h * w / WORK_PIXELS))))
    inside = mask >= 0.5
    if not inside.any():
        inside = mask > 0
    small = x if f == 1 else cv2.resize(x, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
    small_in = inside if f == 1 else cv2.resize(
        inside.astype(np.float32), small.shape[1::-1], interpolation=cv2.INTER_AREA) >= 0.5
    sd = signed_distance(small_in)
    ring = np.floor(sd).astype(np.int32)
    profile = RingProfile(small, sd)
    seam = find_seam(profile)
    conf = gate(seam)
    info = {"ratio": seam.ratio, "coherence": seam.coherence, "z": seam.z, "position": seam.position * f,
            "gap": seam.gap * f, "gate": conf, "scale": f}
    if conf <= 0.0:
        return np.zeros_like(x), info
    g, b = band_affine(profile, seam)
    start = seam.position - seam.gap  # the ramp's outer end, in rings
    u = plane_field(profile, seam, g, b, (h, w), f) if PLANE else 0.0
    sd_full = signed_distance(inside) / f
    ramp = _smoothstep((sd_full - start) / max(2.0 * seam.gap, 1e-3))[..., None]
    change = conf * ramp * (x * (g - 1.0) + b + u)
    info.update(gain=g.tolist(), offset=b.tolist())
    return change.astype(np.float32), info
