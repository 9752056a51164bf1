"""Classical colour harmonisation of a pasted fill: find the seam, gate it, and map the fill's colour.

A generative fill's colour seam shows in the jump between pixels just inside and just outside its
edge, not in statistics of wide rings (the content differs across the seam). So everything here is
measured on thin bands of ``BAND`` one-pixel rings either side of a candidate seam contour, as local
means along the contour (``RingProfile``: box sums of each ring, sampled at the mask's contour pixels):

* **Where.** A fill's colour step may sit a few px outside or up to 7 px inside the user's mask edge
  (a selection grown beyond the paste), and a feathered paste spreads it over a ramp. Each candidate
  (position, ramp half-width ``gap``) is measured by the robust z of its coherent step (the median
  local step along the contour over its MAD-based standard error; content steps change sign along a
  contour, a fill's colour drift does not) and a few more step statistics, and a small learned
  ranker (``seam_rank``) picks the one whose map should remove the most (twenty-first session; the
  largest z before; since the twenty-ninth session a second ranker, which also reads the step's
  whitened z, picks where the map is fitted, while the gate judges the first one's pick; since the
  thirty-first session the maps of the candidates it scores nearly as high are averaged in).
* **Whether.** A smooth colour gradient crossing the edge (a sky) is coherent too, but it steps as
  much across the parallel contours beside the seam zone, so the *excess* step over theirs matters
  too; and a colour seam is one map between the two sides, so that map should explain the local
  jumps. ``gate`` is a small learned classifier on such features (``seam_features``,
  ``seam_gate``). Well below its ramp nothing changes (clean edges and texture mismatches stay
  bit-identical); just below it (from ``CAPPED_BELOW`` logit units under it) and on its lower part
  (up to ``CAPPED_MAX``), the correction applies only as far as moves the band ``CAP_DB``
  (``apply``), so a clean photo the gate misjudges stays that close to its input.
* **How wide.** The candidate picked is often narrower than a feathered paste's ramp
  (narrow bands see more alike content, so their step is more significant though smaller). The zone
  is grown ring by ring while the one-ring step at its border still continues the seam's step
  (``seam_zone.grow_zone``), so the map is fitted across the whole ramp, not across its steepest part.
* **How.** One colour map (``colour_map.fit_colour_map``): a gain (a 3×3 matrix, since saturation
  and hue shifts mix the channels: a stretch from the bands' pixel spreads and covariances, turned
  about the grey axis by the hue rotation it leaves; its range wider where the gate is sure of the
  seam, ``CONFIDENT_LOGIT``) and an offset from the band means either side
  of the ramp (both sides see the same content up to the seam) and a robust plane for drifts across
  the fill. It is applied past the ramp in full and, inside the ramp, with the weight the seam was
  measured to build up with (``seam_zone.ramp_profile``; in narrow zones per pixel, where the fill's and the
  photo's colours tell pasted from unpasted pixels, ``paste_weights``), so brightness, contrast and
  saturation are fixed in the whole fill, not only near its edge. Without the per-pixel weight a
  hard edge that runs between pixel centres leaves a thin line (the demo); across a wide feather it
  is misled by content and cost 0.1–0.9 dB on training photos.
* **Where it varies.** Where the maps fitted on each half of the contour depart from that map, part
  of the change goes from one half's map to the other's across the fill (``split_map``, forty-second
  session): a gradient blends two maps, a patchy drift varies more than a plane.

Measured on training photos (MODEL.md): a harmonic (Poisson) membrane of the per-pixel jump left after
the map, tried here too, lost 1.4–5 dB against the map alone on every colour family, because that jump
is dominated by content; it is not used.

All functions are pure numpy/OpenCV on H×W×3 float32 RGB and H×W float32 masks in [0, 1], shared by
serving (``seamrefine.runtime.inference``) and the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import EmptyMaskError
from ..imaging.imagemath import band_rms, capped_strength, check_stage_input
from . import content_edge, content_step, seam_gate, seam_rank, seam_zone
from .colour_map import CONFIDENT_GAIN_LIMITS, GAIN_LIMITS, IDENTITY_MAP, ColourMap, fit_colour_map, pooled
from .paste_weights import paste_weights
from .ring_profile import REACH, CandidateStats, RingProfile, signed_distance
from .seam_features import judged_features
from .split_map import SplitMap, fit_split

POSITIONS = tuple(range(-3, 8))  # candidate seam positions: between ring s − 1 and ring s
GAPS = (0, 2, 4, 6)  # half-widths of the ramp a seam may be spread over (feathered pastes)
CANDIDATES = [(s, g) for g in GAPS for s in POSITIONS]
WORK_PIXELS = 1_100_000  # the rings are measured on the region they reach, area-reduced to at most this
BIN_PIXELS = 150_000  # their box means are taken on bins of b×b px, b the least that brings them to this
MAX_MEAN_CHANGE = 0.15  # mean |change| in the fill (full map) beyond which the correction is refused
CAPPED_BELOW = 1.0  # logit units under the gate's ramp start from which the correction applies capped
# (2.15 until the twenty-eighth session's gate, whose logits spread wider: there 2.15 made 1.55 % of the
# held-out artifact cases worse instead of 0.87 %, for +0.03 dB)
CAP_DB = 46.0  # ... at the strength that moves the band (CAP_BAND: the fill + 16 px, feathered 8) this far
CAP_BAND = (16, 8)
CAPPED_MAX = 0.5  # ... and at most this strength (a small change is not capped, but still uncertain);
# up to this confidence on the gate's ramp the cap holds too
CONFIDENT_LOGIT = 1.5  # gate logit units past its ramp's end from which the map's gain may reach
# CONFIDENT_GAIN_LIMITS (thirty-ninth session: wider limits for every seam made single cases worse)


@dataclass(frozen=True)
class Seam:
    """Where the seam was found and how much it stands out.

    position: px inside the mask edge (working resolution); gap: half-width of its ramp (both after
    ``seam_zone.grow_zone``); z: the robust significance of the found candidate's excess coherent step (see
    ``RingProfile.stats``); step: that step's size; features: what the learned gate sees
    (``seam_gate.FEATURES``, of the found candidate, the runners-up and their maps); colour_map: the
    map applied, fitted across the grown zone and averaged with the maps of the zones pooled with it
    (``find_seam``; None when no candidate could be measured); edge_z: the excess z
    of the candidate right at the selection's edge (position 0, gap 0; 0 when it cannot be measured),
    which ``edge_membrane`` runs from; split: the maps per half of the contour mixed into the map's
    change (``split_map``; None where they do not depart from it)."""

    position: int
    gap: int
    z: float
    step: float
    features: tuple[float, ...]
    colour_map: ColourMap | None = None
    edge_z: float = 0.0
    split: SplitMap | None = None


def find_seam(profile: RingProfile, weigh: bool = True) -> Seam:
    """The candidate (position, gap) the gate's ranker picks (``seam_rank.GATE``) and the features the
    learned gate judges it by (``seam_gate.FEATURES``: of that ranker's ``seam_gate.JUDGED`` best
    candidates); the colour map: the mean of the maps fitted
    across the candidates the map's ranker pools (``pooled_zones``: ``seam_rank.MAP``, which also
    reads the step's whitened z), each zone grown to the whole ramp (``seam_zone.grow_zone``) and its samples
    weighed by the content step learned there (``zone_map``; every sample alike with ``weigh`` False,
    as its trainer asks), their gains within ``CONFIDENT_GAIN_LIMITS`` where the gate's logit is at
    least ``CONFIDENT_LOGIT`` past its ramp's end, else ``GAIN_LIMITS``; the seam's position and gap
    are the ranker's pick's zone, whose ramp the change follows."""
    cands = [st for st in profile.all_stats(CANDIDATES) if st is not None]
    if not cands:
        return Seam(0, 0, 0.0, 0.0, ())
    edge_z = next((c.z_excess for c in cands if c.position == 0 and c.gap == 0), 0.0)
    ranked = seam_rank.top(cands, seam_gate.JUDGED, seam_rank.GATE)
    best = ranked[0]
    # the gate judges the maps it was trained on (gain from the local means' spread); the map applied
    # takes its gain from the pixels' spread, which errs less but makes more clean selections look
    # explained by a map (twenty-third session: with the gate retrained on it, 9 instead of 6 of 3000
    # fresh clean selections below 45 dB)
    features = judged_features(profile, ranked, cands, seam_gate.JUDGED)
    zones = pooled_zones(profile, cands)
    model = seam_gate.load()
    sure = model.logit(np.asarray(features)) >= model.hi + CONFIDENT_LOGIT
    limits = CONFIDENT_GAIN_LIMITS if sure else GAIN_LIMITS
    (position, gap), maps = next(iter(zones)), [zone_map(profile, *z, weigh, limits) for z in zones]
    cmap = pooled(maps, list(zones.values()))
    return Seam(position, gap, best.z_excess, best.step, features, cmap, edge_z,
                fit_split(profile, zones, cmap, weigh, limits))


def pooled_zones(profile: RingProfile, cands: list[CandidateStats],
                 temperature: float | None = None) -> dict[tuple[int, int], float]:
    """The map ranker's pool of ``cands`` (``seam_rank.pool`` at ``temperature``, default its own),
    each grown to its zone (``seam_zone.grow_zone``), half of its weight with the ramp's faint tails
    and half without: {(position, gap): summed weight}, the pick's zone with its tails first.
    Its maps averaged (``colour_map.pooled``) gained more than the pick's map alone on training colour
    seams (MODEL.md, thirty-first session; ``python -m seamrefine_train pool_sweep``); the zones
    without the tails, fitted across fewer rings of content, halve the worst losses of the tails'
    (forty-third session)."""
    zones: dict[tuple[int, int], float] = {}
    for cand, weight in seam_rank.pool(cands, seam_rank.MAP, temperature=temperature):
        for tails in (True, False):
            zone = seam_zone.grow_zone(profile, cand.position, cand.gap, tails)
            zones[zone] = zones.get(zone, 0.0) + weight / 2
    return zones


def zone_map(profile: RingProfile, position: int, gap: int, weigh: bool = True,
             limits: tuple[float, float] = GAIN_LIMITS) -> ColourMap:
    """The colour map served across the zone (``position``, ``gap``): fitted to its contour samples,
    each weighed by the content step learned there (``content_step.sample_weights``; every sample
    alike with ``weigh`` False), its gain within ``limits``. The seam ranker's trainer labels
    candidates by it."""
    weights = content_step.sample_weights(profile, position, gap) if weigh else None
    return fit_colour_map(profile, position, gap, weights=weights, limits=limits)


def gate(seam: Seam) -> float:
    """Confidence in [0, 1] that the fill has a colour seam worth correcting: the learned seam gate
    (``seam_gate``) on the seam's features; 0 when no candidate could be measured."""
    if not seam.features:
        return 0.0
    return seam_gate.load().confidence(np.asarray(seam.features))


def gate_logit(seam: Seam) -> float:
    """The learned seam gate's logit for the seam (−inf when no candidate could be measured)."""
    if not seam.features:
        return -np.inf
    return seam_gate.load().logit(np.asarray(seam.features))


def capped_from() -> float:
    """The gate logit from which, below the learned gate's ramp, the correction applies capped
    (``apply``): ``CAPPED_BELOW`` under the ramp's start."""
    return seam_gate.load().lo - CAPPED_BELOW


def _check(x: object, mask: object) -> None:
    check_stage_input(x, mask, "harmonise")
    if not (mask >= 0.5).any() and not (mask > 0).any():
        raise EmptyMaskError("the mask is empty: nothing to harmonise", 0.0)


@dataclass(frozen=True)
class Measurement:
    """What ``measure`` found: the working-resolution factor, the fill, its ring profile and seam."""

    f: int
    inside: np.ndarray
    profile: RingProfile
    seam: Seam
    sd: np.ndarray | None = None  # signed distance to the fill's edge at full resolution (``measure``)


def _grown_box(where: np.ndarray, margin: int) -> tuple[slice, slice]:
    """The bounding box of the True pixels of ``where`` grown by ``margin`` px, clipped to the image
    (the whole image when there are none)."""
    rows, cols = np.flatnonzero(where.any(1)), np.flatnonzero(where.any(0))
    if rows.size == 0:
        return slice(0, where.shape[0]), slice(0, where.shape[1])
    h, w = where.shape
    return (slice(max(0, rows[0] - margin), min(h, rows[-1] + 1 + margin)),
            slice(max(0, cols[0] - margin), min(w, cols[-1] + 1 + margin)))


def _reach_box(inside: np.ndarray, margin: int) -> tuple[slice, slice]:
    """The bounding box of the edge of ``inside`` grown by ``margin`` px, clipped to the image."""
    edge = inside ^ cv2.erode(inside.astype(np.uint8), np.ones((3, 3), np.uint8),
                              borderType=cv2.BORDER_REPLICATE).astype(bool)
    return _grown_box(edge, margin)


def measure(x: np.ndarray, mask: np.ndarray) -> Measurement:
    """Find the seam of the fill ``mask`` in ``x`` (``ring_profile_of``, ``find_seam``), with the fill's
    full-resolution signed distance, measured once here for the correction and the later stages
    (~35 ms at 2 MP)."""
    f, inside, profile, sd = ring_profile_of(x, mask)
    seam = find_seam(profile)
    return Measurement(f, inside, profile, seam, signed_distance(inside) if sd is None else sd)


def ring_profile_of(x: np.ndarray, mask: np.ndarray
                    ) -> tuple[int, np.ndarray, RingProfile, np.ndarray | None]:
    """The fill's ring profile, measured only where the rings reach: around the edge of the fill
    (``REACH`` working px), area-reduced by the smallest integer factor f that brings that region to
    ≤ ``WORK_PIXELS``. Returns (f, the fill ``mask`` ≥ ½ (> 0 where none is), the profile, the
    full-resolution signed distance when f is 1, else None)."""
    _check(x, mask)
    h, w = mask.shape
    inside = mask >= 0.5
    if not inside.any():
        inside = mask > 0
    ys, xs = _reach_box(inside, REACH)
    area = (ys.stop - ys.start) * (xs.stop - xs.start)
    f = max(1, int(np.ceil(np.sqrt(area / WORK_PIXELS))))
    small = x if f == 1 else cv2.resize(x, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
    small_in = inside if f == 1 else cv2.resize(
        inside.astype(np.float32), small.shape[1::-1], interpolation=cv2.INTER_AREA) >= 0.5
    sd = signed_distance(small_in)
    ys, xs = _reach_box(small_in, REACH)
    area = (ys.stop - ys.start) * (xs.stop - xs.start)
    b = max(1, int(np.ceil(np.sqrt(area / BIN_PIXELS))))
    profile = RingProfile(small[ys, xs], sd[ys, xs], (ys.start, xs.start), b)
    return f, inside, profile, sd if f == 1 else None


def correction(x: np.ndarray, m: Measurement, conf: float, reach: int = 16,
               sd: np.ndarray | None = None) -> tuple[np.ndarray, ColourMap]:
    """The fitted colour map's change for pixels pasted with weight conf · w, w the seam's measured
    ramp (``seam_zone.ramp_profile``: 0 before the seam, 1 past it; inside it per ring, and per pixel
    where the zone's half-width is at most ``PIXEL_ALPHA_MAX_GAP``: ``paste_weights``) and 0 beyond
    ``reach`` px outside the mask; mixed with the maps per half of the contour where the seam has them
    (``Seam.split``). ``sd``: the fill's full-resolution signed distance, when the caller has it
    (``full_distance``). H×W×3 float32."""
    cmap = m.seam.colour_map or IDENTITY_MAP
    sd = full_distance(m) if sd is None else sd
    zone = (m.seam.position, m.seam.gap)
    alpha = paste_weights(x, sd, m.f, seam_zone.ramp_profile(m.profile, *zone), zone, conf, reach)
    change = cmap.change(x, m.f, alpha)
    if m.seam.split is not None and m.seam.colour_map is not None:
        change = m.seam.split.change(change, x, m.f, alpha, cmap)
    return change, cmap


def full_distance(m: Measurement) -> np.ndarray:
    """The fill's signed distance at full resolution: ``measure`` holds it; a Measurement built from
    ``ring_profile_of`` on a reduced image does not."""
    return signed_distance(m.inside) if m.sd is None else m.sd


def harmonise(x: np.ndarray, mask: np.ndarray, reach: int = 16) -> tuple[np.ndarray, dict]:
    """Remove the colour seam of the fill ``mask`` in ``x`` (H×W×3 float32 RGB, H×W mask in [0, 1]).

    ``measure`` the seam, ask the learned ``gate`` how sure it is, and apply the ``correction``
    scaled by that confidence. Returns (change, info): ``x + change`` is the harmonised image; info
    holds the seam (position and gap in px), its excess z and step, the gate, and when the gate is
    open the gain and offset. Raises DTypeError/ShapeError/EmptyMaskError on bad input.
    """
    return apply(x, measure(x, mask), reach)


def apply(x: np.ndarray, m: Measurement, reach: int = 16) -> tuple[np.ndarray, dict]:
    """``harmonise`` on a seam already measured in ``x`` (``measure``): (change, info).

    The correction comes in with the gate's confidence from ``CAPPED_MAX`` up its ramp; below that, on
    the ramp's lower part and under the ramp from logit ``capped_from()`` on, it is applied at the
    strength that moves the band ``CAP_DB`` from where it was (``imagemath.capped_strength``), at most
    ``CAPPED_MAX``, whatever the ramp gives: a clean photo the gate misjudges stays within ``CAP_DB``
    (until the forty-fourth session the ramp's strength stood where it exceeded the cap, and took one
    of 9,000 fresh clean selections to 32.8 dB), and a seam the gate is unsure of is still partly
    corrected (held-out training cases, MODEL.md: all artifacts +2.22 → +2.36 dB, 0.4 → 1.0 % of
    them worse). info["gate"] is the strength applied (0: unchanged),
    info["confidence"] the gate's own; a capped change's band RMS is ``capped_rms``, which the texture
    stage's own cap then leaves out of its budget (``classical``), so the two together stay within
    ``CAP_DB`` of a clean photo.

    A seam the gate is sure of is held at the cap all the same where the selection may follow a content
    edge of the photo (``content_edge``: a sky selected against grass; info["content_edge"], which
    also keeps ``classical``'s edge membrane from running).

    A correction whose full map would change the fill by more than ``MAX_MEAN_CHANGE`` on average is
    refused (no change, ``gate`` 0, ``refused_mean_change`` in info): on 400 held-out training cases
    the gate opened, the largest was 0.18 (a wrong map, −7.3 dB) and the 99th percentile 0.12, while a
    clean selection aligned with a window grid opened fully at 0.28 (band 14 dB from its input)."""
    conf, logit = gate(m.seam), gate_logit(m.seam)
    info = {"z": m.seam.z, "step": m.seam.step, "position": m.seam.position * m.f,
            "gap": m.seam.gap * m.f, "gate": conf, "confidence": conf, "scale": m.f}
    if conf <= 0.0 and not logit >= capped_from():
        return np.zeros_like(x), info
    sd = full_distance(m)
    # from CAPPED_MAX up the ramp decides alone (the capped strength is never more): one correction
    strength = 1.0 if conf < CAPPED_MAX else conf
    change, cmap = correction(x, m, strength, reach, sd)
    info.update(gain=cmap.gain.tolist(), offset=cmap.offset.tolist())
    # the mean |change| in the fill, summed by OpenCV (a boolean gather of 1 MP takes 10 ms)
    count = np.count_nonzero(m.inside)
    inside_u8 = np.ascontiguousarray(m.inside).view(np.uint8)
    size = cv2.norm(change, cv2.NORM_L1, mask=inside_u8) / (3.0 * count) / strength if count else 0.0
    if size > MAX_MEAN_CHANGE:  # larger than any seam the gate learned to open on: not a seam
        info.update(gate=0.0, refused_mean_change=size)
        return np.zeros_like(x), info
    # a selection along a content edge of the photo: held at the cap however sure the gate is
    info["content_edge"] = content_edge.follows_content_edge(m.seam.features, size)
    if conf >= CAPPED_MAX:
        if not info["content_edge"]:
            return change, info
        change, _ = correction(x, m, 1.0, reach, sd)  # the cap is taken from the full map's change
    capped = min(capped_strength(change, sd, *CAP_BAND, CAP_DB), CAPPED_MAX)  # change: the full map's
    info.update(gate=capped, capped_rms=capped * band_rms(change, sd, *CAP_BAND))
    change *= np.float32(capped)
    return change, info
