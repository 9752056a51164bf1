"""A colour map per half of the fill's contour, blended across the fill: drifts and gradients that vary.

The served colour map (``harmonise.find_seam``) has one gain for the whole fill, and an offset and a
plane. A colour gradient blends two colour maps across the fill, and a patchy drift varies more than
a plane does, so one map misfits both ends. Here the contour samples are split in two halves across
the direction in which the map's plane drifts most. The map is fitted again on each half, on the
same zones and with the same pooling. Across the fill the change then goes linearly from one half's
map to the other's (``SplitMap.change``), and it is mixed with the served map's change.

How much of it is mixed in (``SplitMap.weight``) follows how far the halves' maps depart from the
served map at their own samples, ``dev``: the RMS over the halves of each half's mean difference.
It is 0 up to ``DEV_LO``, rising to ``SHARE`` at ``DEV_HI``, and the same departure relative to
the served map's own change must rise from ``REL_LO`` to ``REL_HI`` as well. Each half's map sees
only half the samples and so errs more, the more the larger the map (a strong contrast shift). Where
the halves agree with the served map, the split would only add that error.

Measured on training photos (MODEL.md, "Stage 1", "Forty-second session"). Pure numpy on float RGB.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import content_step
from .colour_map import ColourMap, fit_colour_map, pooled
from .ring_profile import RingProfile

SHARE = 0.35  # the most of the split's change mixed into the served map's (0.5: a longer tail of losses)
DEV_LO = 0.006  # the halves' departure from the served map (colour range 1) from which the split counts
DEV_HI = 0.015  # ... and at which it counts fully (SHARE)
REL_LO = 0.05  # the same departure over the served map's own change at those samples (RMS): from here
REL_HI = 0.15  # ... up to here the weight rises too (a large map's halves depart more by its errors)
MIN_HALF = 64  # contour samples each half needs
AWAY = 1e-12  # the weight of the other half's samples in a half's fit (zero weights would void a sum)


@dataclass(frozen=True)
class SplitMap:
    """The two halves' maps (``lo`` where the projection on ``direction`` is low, ``hi`` where it is
    high), the direction (dX, dY) in the served map's plane units, the halves' mean projections
    ``p_lo`` and ``p_hi``, and the ``weight`` of the split's change."""

    lo: ColourMap
    hi: ColourMap
    direction: tuple[float, float]
    p_lo: float
    p_hi: float
    weight: float

    def change(self, served: np.ndarray, x: np.ndarray, f: int, alpha: np.ndarray,
               cmap: ColourMap) -> np.ndarray:
        """The served map ``cmap``'s change ``served`` of ``x`` (H×W×3, working px × ``f``, pasted with
        weight ``alpha``) mixed with the split's: (1 − w)·served + w·((1 − t)·lo + t·hi), t the
        position's projection on ``direction`` (0 at ``p_lo``, 1 at ``p_hi``, held within −½ … 1½)
        and w ``weight``."""
        h, w = x.shape[:2]
        span = max(self.p_hi - self.p_lo, 1e-6)
        gx = ((np.arange(w) + 0.5) / f - 0.5 - cmap.centre[1]) / cmap.scale * self.direction[0] / span
        gy = ((np.arange(h) + 0.5) / f - 0.5 - cmap.centre[0]) / cmap.scale * self.direction[1] / span
        t = gx.astype(np.float32)[None, :] + (gy - self.p_lo / span).astype(np.float32)[:, None]
        t = np.clip(t, -0.5, 1.5, out=t)[..., None]  # float32 throughout: a 16 MP image's t is 64 MB
        c_lo, c_hi = self.lo.change(x, f, alpha), self.hi.change(x, f, alpha)
        c_hi -= c_lo
        c_hi *= t
        c_hi += c_lo  # the split's own change
        c_hi -= served
        c_hi *= np.float32(self.weight)
        c_hi += served
        return c_hi


def split_weight(dev: float, size: float) -> float:
    """The split's weight for the halves' departure ``dev`` from a served map whose change at the
    samples is ``size`` (RMS): ``SHARE`` times a ramp of ``dev`` from ``DEV_LO`` to ``DEV_HI`` and one
    of ``dev`` / ``size`` from ``REL_LO`` to ``REL_HI`` (``SHARE`` 0: no split)."""
    ramp = np.clip((dev - DEV_LO) / (DEV_HI - DEV_LO), 0.0, 1.0)
    rel = np.clip((dev / max(size, 1e-12) - REL_LO) / (REL_HI - REL_LO), 0.0, 1.0)
    return SHARE * float(ramp * rel)


def fit_split(profile: RingProfile, zones: dict[tuple[int, int], float], cmap: ColourMap,
              weigh: bool = True, limits: tuple[float, float] | None = None) -> SplitMap | None:
    """The split of the served map ``cmap`` (pooled over ``zones``, {(position, gap): weight}): each
    half's map fitted on the same zones (``fit_colour_map`` with the content-step weights, or none
    with ``weigh`` False, and gain ``limits``) and pooled with the same weights. None where a half
    has fewer than ``MIN_HALF`` samples or the weight is 0 (always with ``SHARE`` 0)."""
    if SHARE <= 0:
        return None
    ys, xs = (v.astype(np.float64) for v in profile.positions(np.ones(profile.den.shape[1], bool)))
    _, vectors = np.linalg.eigh(cmap.slopes @ cmap.slopes.T)
    u = vectors[:, -1]  # where the plane drifts most
    proj = ((xs - cmap.centre[1]) * u[0] + (ys - cmap.centre[0]) * u[1]) / cmap.scale
    upper = proj > np.median(proj)
    sides = (~upper, upper)
    if min(int(s.sum()) for s in sides) < MIN_HALF:
        return None
    kwargs = {} if limits is None else {"limits": limits}
    base = {z: content_step.sample_weights(profile, *z) if weigh else np.ones(proj.size) for z in zones}
    halves = [pooled([fit_colour_map(profile, *z, weights=np.where(side, base[z], AWAY * base[z]), **kwargs)
                      for z in zones], list(zones.values())) for side in sides]
    colours = profile.band(0, 1)[0]  # the first ring inside: what the maps apply to
    served = [cmap.predict(colours[s], ys[s], xs[s]) for s in sides]
    mean_dev = [(m.predict(colours[s], ys[s], xs[s]) - p).mean(0)
                for m, s, p in zip(halves, sides, served, strict=True)]
    size = float(np.sqrt(np.mean(np.sum((cmap.predict(colours, ys, xs) - colours) ** 2, 1))))
    weight = split_weight(float(np.sqrt(sum(float(d @ d) for d in mean_dev) / 2)), size)
    if weight <= 0:
        return None
    return SplitMap(halves[0], halves[1], (float(u[0]), float(u[1])), float(proj[sides[0]].mean()),
                    float(proj[sides[1]].mean()), weight)
