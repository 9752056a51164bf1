"""How wide a found seam is: the zone of ring boundaries its colour step is spread over, and how the
step builds up across it.

A candidate seam (position s, half-width g; ``harmonise.CANDIDATES``) spans the ring boundaries
s − g … s + g of a ``RingProfile``. The seam ranker's pick is often narrower than a feathered
paste's ramp: narrow bands see more alike content, so their step is more significant though smaller.
``grow_zone`` widens it while the one-ring steps beside it continue the seam's step, so that the
colour map is fitted across the whole ramp; ``ramp_profile`` reads how the step builds up across the
zone, so that the map is applied with the weight the paste was blended with.

Pure numpy on a ``RingProfile``, shared by serving (``harmonise``) and the rankers' trainers.
"""

from __future__ import annotations

import numpy as np

from .ring_profile import RingProfile, robust_z

GROW_Z = 3.0  # robust z a one-ring step beside the zone needs, along the seam's step, to join the zone
GROW_Z_SOFT = 1.5  # ... or this much, when it also stands out from the two steps beyond it
GROW_EXCESS_Z = 2.0  # ... by this robust z (forty-third session: a feather's tail, not a content slope)
GROW_SHARE = 0.1  # ... and is at least this share of the zone's step
MAX_GAP = 8  # half-width of the widest zone (feathers up to ~16 px)


def grow_zone(profile: RingProfile, position: int, gap: int, tails: bool = True) -> tuple[int, int]:
    """The zone of (``position``, ``gap``) (ring boundaries position − gap … position + gap) grown one
    boundary at a time, inwards and then outwards, while the next boundary continues the seam
    (``continues_seam``; without a ramp's faint ``tails``, only where its step's z passes
    ``GROW_Z``): a feathered paste's ramp goes on there. Returns the (position, gap) whose
    zone covers the grown one (gap ≤ ``MAX_GAP``). Measured on training photos (MODEL.md): mostly
    +0.3 to +1.3 dB on the colour families (ninth session); the tails, pooled half and half with
    the zone without them (``harmonise.pooled_zones``), +0.017 … +0.119 dB over all artifact cases
    on eight draws (forty-third session); a patchy drift's map refitted across a grown zone can be
    worse."""
    step = median_step(profile, position, gap, min_samples=16)
    if step is None:
        return position, gap
    size = float(np.linalg.norm(step))
    direction = step / size
    lo, hi = position - gap, position + gap
    while hi - lo < 2 * MAX_GAP and continues_seam(profile, hi + 1, 1, direction, size, tails):
        hi += 1
    while hi - lo < 2 * MAX_GAP and continues_seam(profile, lo - 1, -1, direction, size, tails):
        lo -= 1
    if (lo, hi) == (position - gap, position + gap):
        return position, gap
    half = (hi - lo + 1) // 2
    return lo + half, half


def continues_seam(profile: RingProfile, k: int, out: int, direction: np.ndarray, size: float,
                   tails: bool = True) -> bool:
    """Whether ring boundary ``k``, next to a zone whose median step is ``size`` · ``direction`` (a unit
    colour vector), continues its ramp; ``out`` (+1 inwards, −1 outwards) points away from the zone.
    Its one-ring steps along ``direction`` need a positive median and a robust z above ``GROW_Z``;
    or, for a ramp's faint tail (where ``tails``), above ``GROW_Z_SOFT`` with a median of at least
    ``GROW_SHARE`` · ``size``, while exceeding the mean of the two boundaries beyond it (k + out,
    k + 2·out) by a robust z above ``GROW_EXCESS_Z``: a content slope steps as much there, a
    feather's tail does not."""
    step, ok = profile.step(k, 0)
    n = int(ok.sum())
    if n < 16:
        return False
    root_n = np.sqrt(n / profile.samples_per_box(k, 0))
    along = step @ direction
    z, med = robust_z(along[ok][:, None], root_n)
    if not med[0] > 0:
        return False
    if z[0] > GROW_Z:
        return True
    if not (tails and z[0] > GROW_Z_SOFT and med[0] >= GROW_SHARE * size):
        return False
    (step1, ok1), (step2, ok2) = profile.step(k + out, 0), profile.step(k + 2 * out, 0)
    both = ok & ok1 & ok2
    if both.sum() < 16:
        return False
    excess = along - 0.5 * (step1 @ direction + step2 @ direction)
    z_excess, _ = robust_z(excess[both][:, None], root_n)
    return bool(z_excess[0] > GROW_EXCESS_Z)


def median_step(profile: RingProfile, s: int, g: int, min_samples: int) -> np.ndarray | None:
    """The zone (``s``, ``g``)'s median colour step along the contour (3,); None when fewer than
    ``min_samples`` contour pixels measure it or it is (nearly) zero."""
    total, ok = profile.step(s, g)
    if ok.sum() < min_samples:
        return None
    step = np.median(total[ok], 0)
    return step if float(np.linalg.norm(step)) >= 1e-6 else None


def ramp_profile(profile: RingProfile, position: int, gap: int) -> tuple[np.ndarray, np.ndarray]:
    """How a seam's step builds up across its zone, ring by ring: (ring edges, share of the step
    reached there). The zone of (s, g) = (``position``, ``gap``) spans the ring boundaries s − g …
    s + g; the step across each boundary (the coherent one-ring step, projected on the whole step's
    direction, negatives dropped) is accumulated, so a sharp edge between two pixel rings or a soft
    feather both get the blend they were pasted with. Rings before the zone get 0, after it 1."""
    s, g = position, gap
    direction = median_step(profile, s, g, min_samples=1)
    bounds = np.arange(s - g, s + g + 1)
    if direction is None:
        return bounds.astype(np.float64), np.linspace(0.0, 1.0, bounds.size)
    norm = float(np.linalg.norm(direction))
    parts = []
    for k in bounds:
        step, ok_k = profile.step(int(k), 0)
        parts.append(max(float(np.median(step[ok_k], 0) @ direction) / norm, 0.0) if ok_k.sum() >= 8 else 0.0)
    cum = np.cumsum(parts)
    share = cum / cum[-1] if cum[-1] > 0 else np.linspace(0.0, 1.0, bounds.size)
    return bounds.astype(np.float64), share
