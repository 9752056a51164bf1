"""Ring profiles: local colour means of the one-pixel rings around a fill's edge, along its contour.

A generative fill's colour seam shows in the jump between pixels just inside and just outside its
edge, not in statistics of wide rings (the content differs across the seam). ``RingProfile`` gives,
at every contour pixel, the box-local mean colour of each ring of the signed distance to the edge, so
the step across any candidate seam position (``BAND`` rings either side) is two lookups; ``stats``
turns a candidate's steps into the robust significance that ``harmonise.find_seam`` ranks them by.

Pure numpy/OpenCV on H×W×3 float32 RGB, shared by serving and the benchmark (through ``harmonise``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .background import split_work

BAND = 1  # rings (px) in each band either side of a seam position
BOX = 13  # px: side of the box that localises band means along the contour
RINGS = (-26, 30)  # ring k holds the pixels with floor(signed distance) == k (0: first inside)
REACH = max(-RINGS[0], RINGS[1]) + (BOX + 2 * max(-RINGS[0], RINGS[1])) // 2 + 1  # px around the edge
WHITEN_CLIP = 3.0  # MADs at which samples are winsorised for the covariance of ``whitened_z``
MAX_SAMPLES = 2048  # contour samples a robust statistic reads: every k-th beyond this (boxes overlap anyway)
_HALF_LUT = np.where(np.arange(256) == 1, -0.5, 0.5).astype(np.float32)  # ``signed_distance``'s ∓ ½ by uint8


def _cross_products(c: np.ndarray) -> np.ndarray:
    """r·g, r·b and g·b of N×3 colours ``c`` (N×3)."""
    return np.stack([c[:, 0] * c[:, 1], c[:, 0] * c[:, 2], c[:, 1] * c[:, 2]], 1)


def signed_distance(inside: np.ndarray) -> np.ndarray:
    """Signed Euclidean distance to the edge of ``inside``: +0.5 on the first pixel inside, −0.5 on the
    first pixel outside, growing by 1 per pixel away from the edge (float32)."""
    # cv2's precise transform differs by ≤ 4e-6 px between thread counts; only floor(sd) and integer
    # thresholds of it are used here, which such differences cannot move (sd + 0.5 is √n, never k + ½)
    u8 = inside.astype(np.uint8)
    d_in = cv2.distanceTransform(u8, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    d_out = cv2.distanceTransform(1 - u8, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    # d_in − d_out ∓ ½ (each is 0 on the other side) in OpenCV's threaded passes: the same floats as
    # np.where(inside, d_in − ½, ½ − d_out)
    return cv2.add(cv2.subtract(d_in, d_out), cv2.LUT(u8, _HALF_LUT))


class RingProfile:
    """Box-local means of each 1-px ring around the mask edge, sampled at the mask's contour pixels.

    For contour pixel i and ring k: ``num[k, i]`` = Σ x over ring-k pixels in the box around i, ``den``
    their count; the box's side is ``BOX`` + 2|k| px, so that rings far from the edge still reach i.
    Any band of rings then has the local mean Σ num / Σ den (normalised convolution), so steps across
    every candidate seam position come from one pass of boxes.
    """

    def __init__(self, x: np.ndarray, sd: np.ndarray, origin: tuple[int, int] = (0, 0), bin_size: int = 1):
        ring = np.floor(sd).astype(np.int32)
        self.contour = ring == 0
        self.origin = origin  # where x[0, 0] lies in the working-resolution image
        self.lo = RINGS[0]
        self._bands: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        n = RINGS[1] - RINGS[0]
        # only the pixels of the rings take part (near a long edge of a large image, under a third)
        near = np.flatnonzero(((ring >= self.lo) & (ring < RINGS[1])).ravel())
        flat = (ring.ravel()[near] - self.lo).astype(np.int16)
        ranked = np.argsort(flat, kind="stable")  # a radix sort on int16; raster order within a ring
        self._order = near[ranked]
        self._bounds = np.searchsorted(flat[ranked], np.arange(n + 1))
        at = np.flatnonzero(self.contour.ravel())
        self.num = np.zeros((n, at.size, 3), np.float32)
        self.den = np.zeros((n, at.size), np.float32)
        self._squares: dict[int, np.ndarray] = {}
        self._products: dict[int, np.ndarray] = {}
        h, w = self._shape = ring.shape
        self._yx = (at // w + origin[0], at % w + origin[1])  # contour pixels, working resolution
        self._b = b = int(bin_size)
        self._colour = x.reshape(-1, 3)
        self._at_box = (at // w // b) * -(-w // b) + (at % w) // b if b > 1 else at

        def rings(js) -> None:
            field = np.zeros((h * w if b == 1 else -(-h // b) * -(-w // b), 4), np.float32)
            for j in js:
                members = self._order[self._bounds[j] : self._bounds[j + 1]]
                if members.size == 0:
                    continue
                x1 = np.ones((members.size, 4), np.float32)  # colour and a count
                x1[:, :3] = self._colour[members]
                box = self._box_sums(j, members, x1, field)
                self.num[j], self.den[j] = box[:, :3], box[:, 3]

        split_work(rings, range(n))  # independent rings, mostly GIL-free work: ~1.6× faster on 2 cores

    def _box_sums(self, j: int, members: np.ndarray, values: np.ndarray,
                  field: np.ndarray | None = None) -> np.ndarray:
        """Σ ``values`` (M×C, of the ring j's pixels ``members``) over the box around each contour
        pixel (N×C): on b×b bins of them when the profile is binned. ``field``: an all-zero buffer of
        (H·W)×C (unbinned) or (bins)×C (binned) to reuse, left all-zero."""
        h, w = self._shape
        b, c = self._b, values.shape[1]
        half = BOX // 2 + abs(self.lo + j)  # far rings must still reach the contour pixels
        if b > 1:  # ring pixels summed into b×b bins, boxes on the bins: ~b² times less filtering
            hb, wb = -(-h // b), -(-w // b)
            # summed over the bins they touch only (a few % of the plane), in the order a bincount over
            # the whole plane adds them: the same float64 sums, cast to float32 as before
            touched, slot = np.unique((members // w // b) * wb + (members % w) // b, return_inverse=True)
            idx = (slot[:, None] * c + np.arange(c)).ravel()
            sums = np.bincount(idx, values.ravel(), touched.size * c).astype(np.float32).reshape(-1, c)
            field = np.zeros((hb * wb, c), np.float32) if field is None else field
            field[touched] = sums
            plane = field.reshape(hb, wb, c)
            side = 2 * int(round(half / b)) + 1
        else:
            field = np.zeros((h * w, c), np.float32) if field is None else field
            touched = members
            field[members] = values
            plane = field.reshape(h, w, c)
            side = 2 * half + 1
        box = cv2.boxFilter(plane, -1, (side, side), normalize=False,
                            borderType=cv2.BORDER_CONSTANT).reshape(-1, c)[self._at_box]
        field[touched] = 0.0
        return box

    def band_squares(self, k0: int, k1: int) -> np.ndarray:
        """Local mean of the squared colour (N×3) of rings k0 ≤ k < k1 at each contour pixel (the boxes
        and pixels of ``band(k0, k1)``); each ring's box sums are taken on first use."""
        return self._band_moment(self._squares, np.square, k0, k1)

    def band_products(self, k0: int, k1: int) -> np.ndarray:
        """Local mean of the channels' cross products (N×3: r·g, r·b, g·b) of rings k0 ≤ k < k1 at
        each contour pixel, like ``band_squares``."""
        return self._band_moment(self._products, _cross_products, k0, k1)

    def _band_moment(self, cache: dict[int, np.ndarray], of, k0: int, k1: int) -> np.ndarray:
        """Local mean of ``of``(colour) (N×3) over the rings k0 ≤ k < k1, each ring's box sums kept in
        ``cache`` after their first use."""
        sums = np.zeros(self.num.shape[1:], np.float32)
        for j in range(max(k0 - self.lo, 0), max(min(k1 - self.lo, len(self.den)), 0)):
            if j not in cache:
                members = self._order[self._bounds[j] : self._bounds[j + 1]]
                cache[j] = (self._box_sums(j, members, of(self._colour[members]))
                            if members.size else np.zeros_like(sums))
            sums += cache[j]
        return sums / np.maximum(self.band(k0, k1)[1], 1.0)[:, None]

    def across_products(self, s: int, g: int) -> tuple[np.ndarray, np.ndarray]:
        """``band_products`` of the two bands of ``across(s, g)``: (outside, inside), N×3 each."""
        return self.band_products(s - g - BAND, s - g), self.band_products(s + g, s + g + BAND)

    def across_squares(self, s: int, g: int) -> tuple[np.ndarray, np.ndarray]:
        """``band_squares`` of the two bands of ``across(s, g)``: (outside, inside), N×3 each."""
        return self.band_squares(s - g - BAND, s - g), self.band_squares(s + g, s + g + BAND)

    def band(self, k0: int, k1: int) -> tuple[np.ndarray, np.ndarray]:
        """Local mean (N×3) and pixel count (N) of rings k0 ≤ k < k1 at each contour pixel (read-only
        arrays: each band is computed once, the seam finder asks for most of them many times)."""
        a, b = max(k0 - self.lo, 0), max(min(k1 - self.lo, len(self.den)), 0)
        if (a, b) not in self._bands:
            num, den = self.num[a:b].sum(0), self.den[a:b].sum(0)
            mean = num / np.maximum(den, 1.0)[:, None]
            mean.flags.writeable = den.flags.writeable = False
            self._bands[a, b] = mean, den
        return self._bands[a, b]

    def across(self, s: int, g: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The band means just outside and just inside the zone of position ``s`` with gap ``g``
        (N×3 each: rings s − g − BAND … s − g − 1 and s + g … s + g + BAND − 1), and where both exist."""
        m_out, d_out = self.band(s - g - BAND, s - g)
        m_in, d_in = self.band(s + g, s + g + BAND)
        return m_out, m_in, (d_out >= 2) & (d_in >= 2)

    def step(self, s: int, g: int) -> tuple[np.ndarray, np.ndarray]:
        """Outer minus inner band mean across position ``s`` with gap ``g``, and where both exist."""
        m_out, m_in, ok = self.across(s, g)
        return m_out - m_in, ok

    def positions(self, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Working-resolution (y, x) of the contour pixels selected by the boolean ``keep``."""
        return self._yx[0][keep], self._yx[1][keep]

    def samples_per_box(self, s: int, g: int) -> float:
        """Contour pixels per independent sample of the candidate (s, g): the side of the widest box
        among the rings its statistics use."""
        return float(BOX + 2 * (abs(s) + 2 * g + 2 * BAND))

    def stats(self, s: int, g: int) -> CandidateStats | None:
        """The candidate (s, g)'s statistics (``CandidateStats``), or None when too few contour pixels
        see all the bands.

        z per channel is the median over its MAD-based standard error, one independent sample per
        box side of contour, RMS over channels. The excess step is the step minus the mean of the
        steps across the parallel contours just beyond its zone on either side: a smooth colour
        gradient crossing the edge (sky) steps equally across all three and cancels there. z_white and
        z_white_excess are the same steps' robust z along their whitened direction (``whitened_z``).
        """
        return self.all_stats([(s, g)])[0]

    def all_stats(self, candidates: list[tuple[int, int]]) -> list[CandidateStats | None]:
        """``stats`` of each (s, g) in ``candidates``, in order: the same values, with the medians of
        all candidates taken together (``row_medians``), not four medians each (the seam finder's 44)."""
        samples, out = [], []
        for s, g in candidates:
            step, ok = self.step(s, g)
            reach = 2 * g + BAND
            before, ok_b = self.step(s - reach, g)
            after, ok_a = self.step(s + reach, g)
            both = ok & ok_b & ok_a
            n = int(both.sum())
            if n < 8:
                out.append(None)
                continue
            both = thin(both)
            v = step[both]
            samples += [v, v - 0.5 * (before[both] + after[both])]
            out.append((s, g, v, n))
        meds, mads = row_medians(samples)
        white = iter(whitened_z(samples, meds, mads))
        medians = iter(zip(meds, mads, strict=True))
        for k, c in enumerate(out):
            if c is None:
                continue
            s, g, v, n = c
            root_n = np.sqrt(n / self.samples_per_box(s, g))  # of all samples, though every k-th is read
            (med, mad), (med_excess, mad_excess) = next(medians), next(medians)
            z, z_excess = med / mad * root_n, med_excess / mad_excess * root_n
            zw, zw_excess = next(white) * root_n, next(white) * root_n
            busy = float(np.linalg.norm(v, axis=-1).mean())
            out[k] = CandidateStats(s, g, _rms(z), _rms(z_excess), _rms(med_excess), busy, _rms(med), n,
                                    zw, zw_excess)
        return out


def thin(ok: np.ndarray) -> np.ndarray:
    """``ok`` keeping every k-th of its True samples, k the least that leaves ≤ ``MAX_SAMPLES``."""
    idx = np.flatnonzero(ok)
    k = -(-idx.size // MAX_SAMPLES)
    if k <= 1:
        return ok
    out = np.zeros_like(ok)
    out[idx[::k]] = True
    return out


def robust_z(v: np.ndarray, root_n: float) -> tuple[np.ndarray, np.ndarray]:
    """Per channel of N×C samples ``v``: (median / (1.4826·MAD) · ``root_n``, median), the robust
    significance of a median when ``root_n``² of the samples are independent."""
    vt = np.ascontiguousarray(v.T)  # channel rows: the medians partition contiguous memory (~1.5× faster)
    med = np.median(vt, 1)
    mad = 1.4826 * np.median(np.abs(vt - med[:, None]), 1) + 1e-5
    return med / mad * root_n, med


def row_medians(samples: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """For each N_i×C array of ``samples`` (one dtype): its per-channel median and 1.4826·MAD + 1e-5,
    as ``robust_z`` computes them (the same values): the rows of each length partitioned at once."""
    if not samples:
        return [], []
    dtype = samples[0].dtype
    rows = [np.ascontiguousarray(v.T) for v in samples]
    lengths = np.repeat([len(v) for v in samples], [v.shape[1] for v in samples])
    buf = np.full((len(lengths), int(lengths.max())), np.inf, dtype)
    r = 0
    for v in rows:
        buf[r : r + len(v), : v.shape[1]] = v
        r += len(v)
    groups = [(n, np.flatnonzero(lengths == n)) for n in np.unique(lengths)]

    def middle(a: np.ndarray) -> np.ndarray:
        out = np.empty(len(a), dtype)
        for n, rows in groups:  # rows of one length: partitioned at the upper middle (faster than a sort)
            hi = n // 2
            part = np.partition(a[rows, :n], hi, axis=1)
            lo = part[:, :hi].max(1) if n % 2 == 0 else part[:, hi]
            out[rows] = (lo + part[:, hi]) / dtype.type(2)  # np.median's mean of the middle pair
        return out

    med = middle(buf)
    mad = dtype.type(1.4826) * middle(np.abs(buf - med[:, None])) + dtype.type(1e-5)
    bounds = np.cumsum([0] + [v.shape[1] for v in samples])
    return ([med[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)],
            [mad[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)])


def whitened_z(samples: list[np.ndarray], meds: list[np.ndarray], mads: list[np.ndarray]) -> np.ndarray:
    """For each N_i×3 array of ``samples`` (with its per-channel median and 1.4826·MAD + 1e-5 from
    ``row_medians``): the robust z (median over 1.4826·MAD, one sample per row) of its rows projected
    on the direction that best tells its median from its scatter, S⁻¹·median, S the rows' covariance
    about the median winsorised at ``WHITEN_CLIP`` MADs. Content steps mostly in brightness, all
    channels together; a hue or saturation drift steps across that, where the scatter is small, so
    it stands out far more here than channel by channel (the RMS of per-channel z). One float per
    array; the caller multiplies by √(independent samples), as for the per-channel z."""
    if not samples:
        return np.zeros(0)
    projections: list[np.ndarray | None] = [None] * len(samples)
    by_length: dict[int, list[int]] = {}
    for j, v in enumerate(samples):  # arrays of one length stacked: their systems solved at once
        by_length.setdefault(len(v), []).append(j)
    for length, js in by_length.items():
        rows = np.stack([samples[j] for j in js]).astype(np.float64)  # K×N×3
        med = np.stack([meds[j] for j in js]).astype(np.float64)[:, None]  # K×1×3
        mad = np.stack([mads[j] for j in js]).astype(np.float64)[:, None]
        d = np.clip(rows - med, -WHITEN_CLIP * mad, WHITEN_CLIP * mad)
        eye = np.eye(3) * (1e-3 * mad**2)  # a flat channel keeps the solve finite
        cov = d.transpose(0, 2, 1) @ d / length + eye  # K×3×3
        w = np.linalg.solve(cov, med.transpose(0, 2, 1))  # K×3×1
        w /= np.linalg.norm(w, axis=1, keepdims=True) + 1e-12  # a unit direction: projections in colour units
        proj = (rows @ w).astype(samples[js[0]].dtype)  # K×N×1
        for j, p in zip(js, proj, strict=True):
            projections[j] = p
    pm, pmad = row_medians(projections)
    return np.array([float(m[0] / s[0]) for m, s in zip(pm, pmad, strict=True)])


def _rms(v: np.ndarray) -> float:
    return float(np.linalg.norm(v) / np.sqrt(v.size))


@dataclass(frozen=True)
class CandidateStats:
    """One candidate seam (position s, gap g): z, z_excess, z_white and z_white_excess as in
    ``RingProfile.stats``; step: the excess step's size; busy: mean |local step|; coherent: |median
    local step|; n: contour pixels."""

    position: int
    gap: int
    z: float
    z_excess: float
    step: float
    busy: float
    coherent: float
    n: int
    z_white: float  # robust z of the step along its whitened direction (``whitened_z``)
    z_white_excess: float  # the same for the excess step
