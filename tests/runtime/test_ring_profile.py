"""seamrefine.runtime.ring_profile: signed distance and ring means (known values), the cropped and binned
profile of large images, and what ``harmonise.measure`` makes of them."""

from __future__ import annotations

import numpy as np
import pytest
from seamrefine.runtime import harmonise as H
from seamrefine.runtime import ring_profile as R


def ellipse(h: int = 160, w: int = 200, cy: float = 80, cx: float = 95, ry: float = 45, rx: float = 60):
    yy, xx = np.mgrid[:h, :w]
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def two_tone(inside: np.ndarray) -> np.ndarray:
    """0.8 inside, 0.2 outside (all channels)."""
    return np.where(inside[..., None], 0.8, 0.2).astype(np.float32) * np.ones(3, np.float32)


def test_signed_distance_known_values():
    inside = np.zeros((7, 9), bool)
    inside[2:5, 3:7] = True
    sd = R.signed_distance(inside)
    assert sd[3, 4] == pytest.approx(1.5) and sd[2, 3] == pytest.approx(0.5)
    assert sd[1, 4] == pytest.approx(-0.5) and sd[3, 0] == pytest.approx(-2.5)


@pytest.mark.parametrize("bin_size", [1, 2, 3])
def test_ring_profile_band_means_known_value(bin_size):
    # rings inside are 0.8, outside 0.2: every contour pixel sees a step of -0.6 across position 0,
    # whether the boxes are taken on pixels or on bins
    inside = ellipse()
    prof = R.RingProfile(two_tone(inside), R.signed_distance(inside), bin_size=bin_size)
    step, ok = prof.step(0, 0)
    assert ok.all() and np.allclose(step, -0.6, atol=1e-5)
    mean, count = prof.band(-3, 0)
    assert np.allclose(mean, 0.2, atol=1e-5) and (count > 0).all()


def test_band_means_are_computed_once_and_read_only():
    inside = ellipse()
    prof = R.RingProfile(two_tone(inside), R.signed_distance(inside))
    mean, count = prof.band(-3, 0)
    again, _ = prof.band(-3, 0)
    assert again is mean  # the seam finder asks for the same bands for many candidates
    with pytest.raises(ValueError):
        mean[0, 0] = 1.0  # a caller that changed it would change every later candidate


@pytest.mark.parametrize("bin_size", [1, 2, 3])
def test_band_squares_known_value(bin_size):
    # the mean of x² over the same boxes and pixels as the band means: 0.8² inside, 0.2² outside
    inside = ellipse()
    prof = R.RingProfile(two_tone(inside), R.signed_distance(inside), bin_size=bin_size)
    assert np.allclose(prof.band_squares(-3, 0), 0.04, atol=1e-5)
    out, into = prof.across_squares(0, 0)
    assert np.allclose(out, 0.04, atol=1e-5) and np.allclose(into, 0.64, atol=1e-5)


@pytest.mark.parametrize("bin_size", [1, 2])
def test_band_products_known_value(bin_size):
    # the mean of r·g, r·b, g·b over the same boxes and pixels as the band means: colour (0.2, 0.4,
    # 0.5) outside the ellipse, (0.8, 0.6, 0.1) inside
    inside = ellipse()
    x = np.where(inside[..., None], [0.8, 0.6, 0.1], [0.2, 0.4, 0.5]).astype(np.float32)
    prof = R.RingProfile(x, R.signed_distance(inside), bin_size=bin_size)
    out, into = prof.across_products(0, 0)
    np.testing.assert_allclose(out, np.broadcast_to([0.08, 0.1, 0.2], out.shape), atol=1e-5)
    np.testing.assert_allclose(into, np.broadcast_to([0.48, 0.08, 0.06], into.shape), atol=1e-5)
    assert not prof.band_products(R.RINGS[1] + 5, R.RINGS[1] + 6).any()


def test_band_squares_see_the_spread_within_each_box():
    # outside the fill every pixel is 0.5 ± 0.2 at random: each box mean is near 0.5, yet the pixels
    # spread by 0.2 (variance 0.04), which the squares hold
    inside = ellipse()
    x = two_tone(inside)
    signs = np.random.default_rng(0).choice([-1.0, 1.0], inside.shape).astype(np.float32)
    x[~inside] = (0.5 + 0.2 * signs)[~inside, None]
    prof = R.RingProfile(x, R.signed_distance(inside))
    squares, (mean, _) = prof.band_squares(-1, 0), prof.band(-1, 0)
    assert np.median(squares - mean**2) == pytest.approx(0.04, abs=0.004)
    assert np.abs(mean - 0.5).max() < 0.2  # the local means alone hardly see it
    np.testing.assert_array_equal(prof.band_squares(-1, 0), squares)  # asked again: the same values


def test_band_squares_outside_the_rings_are_zero():
    inside = ellipse()
    prof = R.RingProfile(two_tone(inside), R.signed_distance(inside))
    assert not prof.band_squares(R.RINGS[1] + 5, R.RINGS[1] + 6).any()


def test_robust_z_known_values():
    v = np.array([[1.0, -2.0], [2.0, -2.0], [3.0, -4.0], [4.0, -6.0], [100.0, -6.0]], np.float32)
    z, med = R.robust_z(v, 2.0)  # medians 3 and −4; MADs 1 and 2
    np.testing.assert_allclose(med, [3.0, -4.0])
    np.testing.assert_allclose(z, [3.0 / (1.4826 + 1e-5) * 2.0, -4.0 / (2 * 1.4826 + 1e-5) * 2.0], rtol=1e-6)


def test_binned_profile_approximates_the_exact_one():
    # on a linear ramp (0.0022 per px) a box up to half a bin off, clipped differently along a curved
    # ring, moves a mean by about a pixel's worth of the slope
    inside = ellipse()
    yy, xx = np.mgrid[:160, :200].astype(np.float32)
    x = (0.2 + 0.002 * yy + 0.001 * xx)[..., None] * np.ones(3, np.float32)
    sd = R.signed_distance(inside)
    exact, binned = R.RingProfile(x, sd), R.RingProfile(x, sd, bin_size=2)
    for k0, k1 in ((-1, 0), (0, 1), (-8, -4), (4, 8)):
        a, _ = exact.band(k0, k1)
        b, _ = binned.band(k0, k1)
        assert np.abs(a - b).max() < 0.005 and np.abs(a - b).mean() < 0.001


def test_profile_of_a_crop_keeps_its_origin():
    inside = ellipse()
    x = two_tone(inside)
    sd = R.signed_distance(inside)
    whole = R.RingProfile(x, sd)
    part = R.RingProfile(x[20:150, 10:190], sd[20:150, 10:190], (20, 10))
    assert part.origin == (20, 10) and part.contour.sum() == whole.contour.sum()
    np.testing.assert_allclose(part.band(-1, 1)[0], whole.band(-1, 1)[0], atol=1e-6)


def test_large_image_is_measured_at_full_resolution_around_the_edge():
    # a 1600×1600 image whose fill edge fits in ~700×700 px: the rings need no reduction (f = 1),
    # and their boxes are binned; the seam is found where it is and the offset is recovered
    h = w = 1600
    inside = ellipse(h, w, 800, 800, 300, 320)
    rng = np.random.default_rng(1)
    x = (0.5 + 0.02 * rng.standard_normal((h, w, 3))).astype(np.float32)
    x[inside] += np.float32([0.05, 0.02, -0.03])
    m = H.measure(x, inside.astype(np.float32))
    assert m.f == 1 and m.profile.origin != (0, 0) and m.sd is not None
    assert m.seam.position == 0 and m.seam.gap == 0
    change, _ = H.correction(x, m, 1.0)
    np.testing.assert_allclose((x + change)[inside].mean(0), 0.5, atol=0.005)
    assert not change[~inside].any()


def test_reduced_measurement_holds_the_full_resolution_distance(monkeypatch):
    # the seam found on a 2× reduced image; the fill's signed distance is still held at full
    # resolution, for the correction and the later stages
    monkeypatch.setattr(H, "WORK_PIXELS", 20_000)
    inside = ellipse()
    x = two_tone(inside)
    m = H.measure(x, inside.astype(np.float32))
    assert m.f == 2 and m.sd.shape == inside.shape
    np.testing.assert_array_equal(m.sd, R.signed_distance(inside))
    assert H.full_distance(m) is m.sd


def test_thin_keeps_every_kth_sample_up_to_the_limit(monkeypatch):
    ok = np.zeros(20, bool)
    ok[[1, 3, 4, 8, 9, 12, 15]] = True
    assert R.thin(ok) is ok  # under the limit: unchanged
    monkeypatch.setattr(R, "MAX_SAMPLES", 3)
    kept = R.thin(ok)  # 7 samples, limit 3: every 3rd
    assert np.flatnonzero(kept).tolist() == [1, 8, 15]


def test_stats_on_thinned_samples_keep_the_full_count(monkeypatch):
    # z grows with √(all samples) even when every k-th is read: thinning must not shrink the significance
    inside = ellipse()
    x = two_tone(inside) + np.random.default_rng(3).normal(0, 0.05, (*inside.shape, 3)).astype(np.float32)
    prof = R.RingProfile(x, R.signed_distance(inside))
    full = prof.stats(0, 0)
    monkeypatch.setattr(R, "MAX_SAMPLES", 64)
    thinned = prof.stats(0, 0)
    assert thinned.n == full.n and full.n > 64
    assert thinned.z == pytest.approx(full.z, rel=0.25) and thinned.step == pytest.approx(full.step, rel=0.1)


def test_row_medians_give_robust_z_values_exactly():
    rng = np.random.default_rng(3)
    samples = [rng.normal(0.01, 0.05, (n, 3)).astype(np.float32) for n in (8, 9, 64, 2047, 2048)]
    meds, mads = R.row_medians(samples)
    for v, med, mad in zip(samples, meds, mads, strict=True):
        z, ref_med = R.robust_z(v, 3.5)
        np.testing.assert_array_equal(med, ref_med)
        np.testing.assert_array_equal(med / mad * 3.5, z)
    assert R.row_medians([]) == ([], [])


def test_row_medians_known_values():
    (med,), (mad,) = R.row_medians([np.array([[1.0], [5.0], [2.0], [10.0]], np.float32)])
    assert med.tolist() == [3.5]  # the mean of the middle pair, as np.median
    assert mad[0] == pytest.approx(1.4826 * 2.0 + 1e-5)  # |v − 3.5| = 2.5, 1.5, 1.5, 6.5 → 2


def test_all_stats_are_stats_one_by_one():
    inside = ellipse()
    x = two_tone(inside) + np.random.default_rng(0).normal(0, 0.02, (160, 200, 3)).astype(np.float32)
    profile = R.RingProfile(x, R.signed_distance(inside))
    cands = [*H.CANDIDATES, (40, 0)]  # the last: no rings there
    together = profile.all_stats(cands)
    assert together[-1] is None and all(st is not None for st in together[:-1])
    assert together == [profile.stats(s, g) for s, g in cands]


def test_whitened_z_smoke_and_empty():
    rng = np.random.default_rng(5)
    samples = [rng.normal(0.0, 0.05, (n, 3)).astype(np.float32) for n in (8, 300)]
    z = R.whitened_z(samples, *R.row_medians(samples))
    assert z.shape == (2,) and np.isfinite(z).all()
    assert R.whitened_z([], [], []).shape == (0,)


def test_whitened_z_of_arrays_solved_together_is_each_alone():
    # arrays of one length are stacked and solved at once: the same values as one by one
    rng = np.random.default_rng(8)
    samples = [rng.normal(0.01 * k, 0.05, (n, 3)).astype(np.float32) for k, n in enumerate((40, 300, 40, 41))]
    together = R.whitened_z(samples, *R.row_medians(samples))
    alone = [R.whitened_z([v], *R.row_medians([v]))[0] for v in samples]
    np.testing.assert_allclose(together, alone, rtol=1e-12)


def test_whitened_z_known_value_on_one_channel():
    # the step and all the scatter in the red channel alone: the whitened direction is red, and the
    # projection's robust z is that channel's
    v = np.zeros((5, 3), np.float32)
    v[:, 0] = [1.0, 2.0, 3.0, 4.0, 10.0]
    z = R.whitened_z([v], *R.row_medians([v]))
    assert z[0] == pytest.approx(3.0 / (1.4826 * 1.0 + 1e-5), rel=1e-4)


def test_whitened_z_sees_a_hue_step_across_brightness_scatter():
    # content steps in brightness (all channels alike, σ 0.1), a drift of +0.02 green / −0.02 red:
    # per channel it hides in the scatter, across it it does not
    rng = np.random.default_rng(6)
    v = (rng.normal(0.0, 0.1, (400, 1)) * np.ones(3) + rng.normal(0.0, 0.005, (400, 3))
         + [-0.02, 0.02, 0.0]).astype(np.float32)
    meds, mads = R.row_medians([v])
    per_channel = float(np.sqrt(np.mean((meds[0] / mads[0]) ** 2)))
    whitened = float(R.whitened_z([v], meds, mads)[0])
    assert per_channel < 0.5 and whitened > 2.0
    assert R.WHITEN_CLIP == 3.0


def test_candidate_stats_carry_the_whitened_z():
    inside = ellipse()
    rng = np.random.default_rng(7)
    x = two_tone(inside) + (rng.normal(0, 0.05, (160, 200, 1)) * np.ones(3)).astype(np.float32)
    x[inside] += np.float32([0.03, -0.03, 0.0])  # a hue step over brightness texture
    st = R.RingProfile(x, R.signed_distance(inside)).stats(0, 0)
    assert st.z_white > st.z and st.z_white_excess > 0
