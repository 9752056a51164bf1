"""What the learned seam gate sees of candidate seams (``seam_gate.FEATURES``: ``judged_features``, the
``gate_features`` of the gate ranker's few best candidates side by side).

Per candidate, four groups, all from the ring profile along the fill's contour (``RingProfile``):

* **The step** (``RingProfile.stats``): its robust z along the contour, its excess over the parallel
  contours beside it, its size, where it sits and how busy the content is there.
* **The map.** A colour seam is one colour map between the two sides, so the map fitted across the
  seam (``colour_map.fit_colour_map``) should explain the local jumps: the jump's size with and
  without the map (``map_reduction``), the robust z of that reduction, and the robust z of the step in
  log colour (a gain or contrast change steps by a share of the colour, which varies along the contour
  while its log does not). Each also as its excess over maps fitted at the parallel positions beside it.
* **The null.** Every pair of parallel rings away from the seam is a sample of how much this image's
  content alone steps and changes spread (``null_scores``): the seam's step and spread ratio, as
  robust z against those.
* **The whitened step.** Content steps mostly in brightness, in all channels together; a hue or
  saturation drift steps across that. The step's robust z along the direction that best tells it
  from the content's scatter (``ring_profile.whitened_z``), of the candidate and the largest among
  all candidates, plain and excess (twenty-eighth session).

Pure numpy on the profile's float32 means; shared by serving and the gate trainer.
"""

from __future__ import annotations

import numpy as np

from .colour_map import GAIN_LIMITS, ColourMap, fit_colour_map
from .ring_profile import BAND, RINGS, CandidateStats, RingProfile, robust_z, thin

LOG_FLOOR = 0.02  # added to colours before their log, so dark noise does not dominate log steps
MIN_NULL = 8  # parallel ring pairs needed for the null


def map_reduction(profile: RingProfile, s: int, g: int,
                  cmap: ColourMap | None = None) -> tuple[float, float, float] | None:
    """How well one colour map explains the jump across position ``s`` with gap ``g`` (the map fitted
    there unless ``cmap`` is given): (log of mean |jump| over mean |jump left after the map|, robust z of
    the per-sample reduction (signed), robust z of the step in log colour); None when too few samples."""
    outer, inner, ok = profile.across(s, g)
    if ok.sum() < 16:
        return None
    root_n = np.sqrt(ok.sum() / profile.samples_per_box(s, g))  # independent samples along the contour
    ok = thin(ok)
    cmap = fit_colour_map(profile, s, g, pixel_gain=False) if cmap is None else cmap
    o, i = outer[ok].astype(np.float64), inner[ok].astype(np.float64)
    ys, xs = profile.positions(ok)
    before = np.linalg.norm(o - i, axis=1)
    after = np.linalg.norm(o - cmap.predict(i, ys, xs), axis=1)
    z_gained = float(robust_z((before - after)[:, None], root_n)[0][0])  # signed
    z_log = robust_z(np.log(o + LOG_FLOOR) - np.log(i + LOG_FLOOR), root_n)[0]
    return (float(np.log(before.mean() + 1e-4) - np.log(after.mean() + 1e-4)), z_gained,
            float(np.linalg.norm(z_log) / np.sqrt(3)))


def _pairs(profile: RingProfile, ks: list[int], g: int) -> dict[int, np.ndarray]:
    """Median step and log spread ratio (6,) across each position k in ``ks`` with gap ``g``, for the
    positions with ≥ 16 samples. Positions sharing their samples are computed together."""
    groups: dict[bytes, tuple[np.ndarray, list]] = {}
    for k in ks:
        outer, inner, ok = profile.across(k, g)
        if ok.sum() >= 16:
            groups.setdefault(ok.tobytes(), (ok, []))[1].append((k, outer, inner))
    out = {}
    for ok, members in groups.values():
        ok = thin(ok)
        n = int(ok.sum())
        # (K·3)×N: the statistics run along contiguous rows of a 2-D array (a reduction over the last
        # axis of a K×3×N array takes ~6× longer)
        o, i = (np.stack([m[j] for m in members])[:, ok].transpose(0, 2, 1).reshape(-1, n).astype(np.float64)
                for j in (1, 2))
        spread = np.log((o.std(1) + 1e-3) / (i.std(1) + 1e-3)).reshape(-1, 3)
        stats = np.concatenate([np.median(o - i, 1).reshape(-1, 3), spread], 1)
        out.update({m[0]: row for m, row in zip(members, stats, strict=True)})
    return out


def null_scores(profile: RingProfile, s: int, g: int,
                memo: dict | None = None) -> tuple[float, float] | None:
    """The seam (s, g)'s median step and log spread ratio as robust z against the same statistics of
    every parallel ring pair with gap ``g`` clear of its zone (median and MAD over those pairs): RMS
    over channels of each; None when fewer than ``MIN_NULL`` pairs or the seam cannot be measured.
    With a ``memo`` (a dict kept for one profile) the pairs of every position with gap ``g`` are
    measured once and kept there, as candidates sharing the gap share them."""
    every = range(RINGS[0] + g + BAND, RINGS[1] - g - BAND + 1)
    clear = 2 * g + 2 * BAND + 1
    ks = [k for k in every if abs(k - s) > clear]
    if memo is None:
        stats = _pairs(profile, [s, *ks], g)
    else:
        if ("pairs", g) not in memo:
            memo[("pairs", g)] = _pairs(profile, list(every), g)
        stats = memo[("pairs", g)]
        if s not in every:
            stats = {**stats, **_pairs(profile, [s], g)}
    if s not in stats or sum(k in stats for k in ks) < MIN_NULL:
        return None
    null = np.array([stats[k] for k in ks if k in stats])
    centre = np.median(null, 0)
    scale = 1.4826 * np.median(np.abs(null - centre), 0) + 1e-4
    v = (stats[s] - centre) / scale
    return float(np.linalg.norm(v[:3]) / np.sqrt(3)), float(np.linalg.norm(v[3:]) / np.sqrt(3))


def step_features(c: CandidateStats, max_z_excess: float) -> tuple[float, ...]:
    """What the candidate's step statistics alone say (``seam_gate.FEATURES``' first nine, all the
    gate's ranker reads, the first nine the map's reads): its z, excess z, excess step, the largest
    excess z among all candidates, where it sits (px / 4), how many contour pixels see it, how busy
    the content is, how coherent."""
    return (np.log1p(c.z), np.log1p(c.z_excess), np.log(c.step + 1e-3), np.log1p(max_z_excess),
            c.position / 4.0, c.gap / 4.0, np.log(c.n), np.log(c.busy + 1e-3), c.coherent / max(c.busy, 1e-6))


def whitened_features(c: CandidateStats) -> tuple[float, float]:
    """The candidate's whitened z, plain and excess (``ring_profile.whitened_z``), as the gate reads
    them: log1p of the non-negative part (a projection's median can fall against its direction). The
    map's ranker reads them after the ``step_features`` (``seam_rank.MAP``)."""
    return float(np.log1p(max(c.z_white, 0.0))), float(np.log1p(max(c.z_white_excess, 0.0)))


def judged_features(profile: RingProfile, ranked: list[CandidateStats], cands: list[CandidateStats],
                    count: int) -> tuple[float, ...]:
    """The gate's features (``seam_gate.FEATURES``) of the first ``count`` (≥ 2) of the ``ranked``
    candidates (best first, at least one), each with the map fitted across it as the gate learned it
    (gain from the local means' spread): the pick's ``gate_features``, then per feature the largest,
    smallest and mean value over the runners-up (``seam_gate.RUNNER_UP_STATS``; the pick stands in for
    those missing where fewer are ranked).

    Measured (thirty-third session, MODEL.md "Stage 1"): a gate that also sees the runners-up opens
    more often on feathered seams, whose ramp the ranker's candidates share out among them."""
    if count < 2 or not ranked:
        raise ValueError(f"the gate reads a pick and at least one runner-up: count must be ≥ 2 and a "
                         f"candidate ranked, got count {count!r} and {len(ranked)} ranked")
    memo: dict = {}  # what the candidates share
    rows = []
    for c in ranked[:count]:
        judged = fit_colour_map(profile, c.position, c.gap, pixel_gain=False)
        rows.append(gate_features(profile, c, cands, judged, memo))
    runners = np.array(rows[1:] + [rows[0]] * (count - len(rows)))  # (count − 1)×F
    pooled = (runners.max(0), runners.min(0), runners.mean(0))
    return tuple(float(f) for f in np.concatenate([rows[0], *pooled]))


def gate_features(profile: RingProfile, best: CandidateStats, cands: list[CandidateStats],
                  cmap: ColourMap, memo: dict | None = None) -> tuple[float, ...]:
    """One candidate's features (``seam_gate.CANDIDATE_FEATURES``, in order) of the candidate ``best``,
    whose fitted map is ``cmap``, among all candidates ``cands`` (their largest excess z, plain and
    whitened). A ``memo`` (a dict kept for one profile) keeps what candidates can share: the maps
    fitted beside the seam and the null's ring pairs."""
    memo = {} if memo is None else memo
    s, g = best.position, best.gap
    max_z_excess = max(c.z_excess for c in cands)
    gain = cmap.gain
    clipped = np.isclose(gain, GAIN_LIMITS[0]) | np.isclose(gain, GAIN_LIMITS[1])
    step = (*step_features(best, max_z_excess), float(np.abs(np.log(gain)).mean()), float(clipped.mean()))
    here = map_reduction(profile, s, g, cmap) or (0.0, 0.0, 0.0)
    reach = 2 * g + 2 * BAND + 1
    for k in (s - reach, s + reach):
        if ("beside", k, g) not in memo:
            memo[("beside", k, g)] = map_reduction(profile, k, g)
    beside = [r for k in (s - reach, s + reach) if (r := memo[("beside", k, g)]) is not None]
    red, z_red, z_log = here[0], np.log1p(max(here[1], 0.0)), np.log1p(here[2])
    par_red = max((r[0] for r in beside), default=0.0)
    par_z_red = np.log1p(max(max((r[1] for r in beside), default=0.0), 0.0))
    par_z_log = np.log1p(max((r[2] for r in beside), default=0.0))
    step_z, spread_z = null_scores(profile, s, g, memo) or (0.0, 0.0)
    mapped = (red, red - par_red, z_red, z_red - par_z_red, z_log, z_log - par_z_log,
              np.log1p(step_z), np.log1p(spread_z))
    largest = (np.log1p(max(max(c.z_white for c in cands), 0.0)),
               np.log1p(max(max(c.z_white_excess for c in cands), 0.0)))
    return tuple(float(f) for f in (*step, *mapped, *whitened_features(best), *largest))
