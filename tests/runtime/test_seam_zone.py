"""seamrefine.runtime.seam_zone: how wide a found seam is (``grow_zone``, ``continues_seam``) and how its
step builds up (``ramp_profile``): smoke and known values on pasted textures."""

from __future__ import annotations

import numpy as np
from seamrefine.runtime import harmonise as H
from seamrefine.runtime import ring_profile as R
from seamrefine.runtime import seam_rank, seam_zone

from .test_harmonise import ellipse, pasted, texture

DRIFT = np.float32([0.06, 0.03, -0.02])


def zone_direction(profile: R.RingProfile, position: int, gap: int) -> tuple[np.ndarray, float]:
    step = seam_zone.median_step(profile, position, gap, min_samples=16)
    size = float(np.linalg.norm(step))
    return step / size, size


def tailed_seam(seed: int, tail: float) -> np.ndarray:
    """A seam at the mask's edge (ring boundary 0) whose paste reaches 1 − ``tail`` in ring 0 and 1
    from ring 1 on: a feather's faint tail across boundary 1."""
    clean, mask = texture(seed), ellipse()
    ring = np.floor(R.signed_distance(mask > 0.5))
    alpha = np.where(ring >= 1, 1.0, np.where(ring == 0, 1.0 - tail, 0.0)).astype(np.float32)
    return pasted(clean, alpha, clean + DRIFT)


def test_ramp_profile_follows_the_paste():
    clean, mask = texture(8), ellipse()
    sd = R.signed_distance(mask > 0.5)
    hard = pasted(clean, (sd > 2.0).astype(np.float32), clean + 0.08)  # rings ≥ 2 pasted
    m = H.measure(hard, mask)
    edges, share = seam_zone.ramp_profile(m.profile, m.seam.position, m.seam.gap)
    weight = lambda ring: np.interp(ring, edges, share, left=0, right=1)  # noqa: E731
    assert weight(1) < 0.2 and weight(2) > 0.8
    soft = pasted(clean, np.clip(sd / 6.0, 0, 1).astype(np.float32), clean + 0.08)  # a 6 px feather
    m = H.measure(soft, mask)
    edges, share = seam_zone.ramp_profile(m.profile, m.seam.position, m.seam.gap)
    assert m.seam.gap >= 2 and np.all(np.diff(share) >= 0)
    assert 0.2 < np.interp(3, edges, share) < 0.8  # half way through the feather


def test_grow_zone_covers_a_wide_feather():
    # a 14 px smoothstep feather centred on the mask edge: the step across the grown zone is the whole
    # drift more nearly than the step across the most significant candidate
    drift = np.float32([0.09, 0.05, -0.04])
    for seed in (11, 13, 14):
        clean, mask = texture(seed), ellipse()
        sd = R.signed_distance(mask > 0.5)
        t = np.clip((sd + 7.0) / 14.0, 0, 1)
        comp = pasted(clean, (t * t * (3 - 2 * t)).astype(np.float32), clean + drift)
        m = H.measure(comp, mask)
        cands = [st for st in m.profile.all_stats(H.CANDIDATES) if st is not None]
        found = max(cands, key=lambda c: c.z)
        position, gap = seam_zone.grow_zone(m.profile, found.position, found.gap)
        assert gap > found.gap
        picked = seam_rank.pick(cands, seam_rank.MAP)  # the seam's zone: the map's ranker's pick, grown
        assert (m.seam.position, m.seam.gap) == seam_zone.grow_zone(m.profile, picked.position, picked.gap)
        steps = [np.median(st[ok], 0) for st, ok in (m.profile.step(found.position, found.gap),
                                                     m.profile.step(position, gap))]
        share = [float(-v @ drift / (drift @ drift)) for v in steps]  # outer − inner = −drift
        assert abs(1 - share[1]) < abs(1 - share[0]) - 0.1, (seed, share)


def test_grow_zone_keeps_a_hard_seam_and_a_flat_image():
    clean, mask = texture(12), ellipse()
    comp = pasted(clean, mask, clean + 0.08)
    m = H.measure(comp, mask)
    assert seam_zone.grow_zone(m.profile, 0, 0) == (0, 0)
    flat = H.measure(np.full_like(clean, 0.4), mask)
    assert seam_zone.grow_zone(flat.profile, 1, 2) == (1, 2)  # no step to follow


def test_a_faint_tail_joins_by_standing_out_from_the_steps_beyond(monkeypatch):
    # a fifth of the seam's step across boundary 1: with the plain rule switched off, the soft rule
    # alone grows the hard seam's zone (0, 0) over it; it does not when it must stand out far more
    monkeypatch.setattr(seam_zone, "GROW_Z", np.inf)
    excess_z = seam_zone.GROW_EXCESS_Z
    for seed in (21, 22):
        profile = H.measure(tailed_seam(seed, 0.2), ellipse()).profile
        direction, size = zone_direction(profile, 0, 0)
        assert seam_zone.continues_seam(profile, 1, 1, direction, size)
        assert seam_zone.grow_zone(profile, 0, 0) == (1, 1)  # boundaries 0 … 1, covered by 0 … 2
        monkeypatch.setattr(seam_zone, "GROW_EXCESS_Z", 1e3)
        assert not seam_zone.continues_seam(profile, 1, 1, direction, size)
        monkeypatch.setattr(seam_zone, "GROW_EXCESS_Z", excess_z)


def test_a_content_slope_beside_a_hard_seam_does_not_join(monkeypatch):
    # a photo that brightens steadily inwards, along the seam's colour (a sky): every boundary steps
    # coherently, so the one-ring steps beside a hard seam pass the soft rule's z, but not its excess
    monkeypatch.setattr(seam_zone, "GROW_Z", np.inf)
    mask = ellipse()
    sd = R.signed_distance(mask > 0.5)
    unit = DRIFT / np.linalg.norm(DRIFT)
    excess_z = seam_zone.GROW_EXCESS_Z
    for seed in (23, 24):
        clean = texture(seed) + (0.012 * np.clip(sd, -12, 12))[..., None] * unit
        comp = pasted(clean.astype(np.float32), mask, clean + DRIFT)
        profile = H.measure(comp, mask).profile
        direction, size = zone_direction(profile, 0, 0)
        for k, out in ((1, 1), (-1, -1)):
            step, ok = profile.step(k, 0)
            root_n = np.sqrt(ok.sum() / profile.samples_per_box(k, 0))
            z, med = R.robust_z((step[ok] @ direction)[:, None], root_n)
            assert z[0] > seam_zone.GROW_Z_SOFT and med[0] >= seam_zone.GROW_SHARE * size  # a slope, coherent
            assert not seam_zone.continues_seam(profile, k, out, direction, size)
            monkeypatch.setattr(seam_zone, "GROW_EXCESS_Z", -np.inf)  # the excess is what holds it back
            assert seam_zone.continues_seam(profile, k, out, direction, size)
            monkeypatch.setattr(seam_zone, "GROW_EXCESS_Z", excess_z)
        assert seam_zone.grow_zone(profile, 0, 0) == (0, 0)


def test_the_pool_weighs_each_zone_half_with_and_half_without_its_tails(monkeypatch):
    # the map ranker's pool holds one candidate, the hard seam (0, 0) of a seam with a faint tail:
    # half its weight goes to the zone grown over the tail, which comes first (the seam's ramp), half
    # to the zone without it
    monkeypatch.setattr(seam_zone, "GROW_Z", np.inf)
    profile = H.measure(tailed_seam(21, 0.2), ellipse()).profile
    cand = next(c for c in profile.all_stats(H.CANDIDATES) if c is not None and (c.position, c.gap) == (0, 0))
    monkeypatch.setattr(seam_rank, "pool", lambda cands, model, temperature=None: [(cand, 1.0)])
    zones = H.pooled_zones(profile, [cand])
    assert list(zones.items()) == [((1, 1), 0.5), ((0, 0), 0.5)]
    assert seam_zone.grow_zone(profile, 0, 0, tails=False) == (0, 0)
