"""seamrefine.runtime.colour_map: known values of the change and the prediction, the fit, guards."""

from __future__ import annotations

import numpy as np
import pytest
from seamrefine.runtime import colour_map as C
from seamrefine.runtime import ring_profile as R
from seamrefine.runtime.fill_runs import STRIP

from .test_harmonise import ellipse, pasted, texture


def test_colour_map_change_known_values():
    gain, offset = np.array([0.5, 1.0, 2.0]), np.array([0.1, 0.2, -0.3])
    cmap = C.ColourMap(gain, offset, np.zeros((2, 3)), (0.0, 0.0), 1.0)
    x = np.full((2, 2, 3), 0.4, np.float32)
    full = cmap.change(x, 1, np.ones((2, 2), np.float32))
    np.testing.assert_allclose(full[0, 0], [0.4 * 0.5 + 0.1 - 0.4, 0.2, 0.4 * 2.0 - 0.3 - 0.4], atol=1e-6)
    assert not cmap.change(x, 1, np.zeros((2, 2), np.float32)).any()
    # a half-pasted pixel x = c + ½·(F(c) − c), F the inverse map: the change recovers c exactly
    c = np.float32(0.3)
    fc = (c - 0.1) / 0.5  # red channel: F(c) = (c − b) / g
    half = np.full((1, 1, 3), c + 0.5 * (fc - c), np.float32)
    got = half + cmap.change(half, 1, np.full((1, 1), 0.5, np.float32))
    assert got[0, 0, 0] == pytest.approx(c, abs=1e-6)



def test_change_of_a_strided_view_is_that_of_its_copy():
    rng = np.random.default_rng(3)
    cmap = C.ColourMap(np.array([0.9, 1.1, 1.0]), np.array([0.02, -0.01, 0.0]),
                       np.array([[0.01, 0.0, -0.02], [0.0, 0.03, 0.01]]), (10.0, 12.0), 20.0)
    big = rng.random((40, 50, 3)).astype(np.float32)
    alpha = (rng.random((40, 50)) < 0.5).astype(np.float32) * rng.random((40, 50)).astype(np.float32)
    view = big[5:35:2, 3:48]  # not C-contiguous
    got = cmap.change(view, 1, alpha[5:35:2, 3:48])
    np.testing.assert_array_equal(got, cmap.change(np.ascontiguousarray(view), 1,
                                                   np.ascontiguousarray(alpha[5:35:2, 3:48])))
    assert not got[alpha[5:35:2, 3:48] == 0].any() and got[alpha[5:35:2, 3:48] > 0].any()


def test_change_is_the_formula_at_every_pixel_across_strips():
    rng = np.random.default_rng(4)
    cmap = C.ColourMap(np.array([0.9, 1.2, 1.0]), np.array([0.03, -0.02, 0.01]),
                       np.array([[0.02, -0.01, 0.0], [0.01, 0.0, -0.03]]), (30.0, 20.0), 40.0)
    x = rng.random((3 * STRIP + 7, 70, 3)).astype(np.float32)
    alpha = rng.random(x.shape[:2]).astype(np.float32) * (rng.random(x.shape[:2]) < 0.3)
    alpha[STRIP : 2 * STRIP] = 0.0  # a strip with nothing pasted
    alpha[:, :9] = 0.0
    alpha[STRIP :, 15 : 16 + STRIP] = 0.0  # two runs of columns in the last strip
    f = 2
    ys, xs = np.mgrid[0 : x.shape[0], 0 : x.shape[1]]
    gx, gy = ((xs + 0.5) / f - 0.5 - 20.0) / 40.0, ((ys + 0.5) / f - 0.5 - 30.0) / 40.0
    shift = (cmap.offset + gx[..., None] * cmap.slopes[0] + gy[..., None] * cmap.slopes[1]) / cmap.gain
    a = alpha[..., None].astype(np.float64)
    want = (x + a * shift) / (1.0 + a * (1.0 / cmap.gain - 1.0)) - x
    got = cmap.change(x, f, alpha)
    np.testing.assert_allclose(got, want, atol=2e-6)
    assert not got[alpha == 0].any()


def test_pooled_known_values():
    # two maps about different centres and scales: where the fill is wholly pasted the pooled map's
    # change is the weighted mean of theirs
    rng = np.random.default_rng(5)
    one = C.ColourMap(np.array([0.9, 1.1, 1.0]), np.array([0.02, -0.01, 0.0]),
                      np.array([[0.01, 0.0, -0.02], [0.0, 0.03, 0.01]]), (10.0, 12.0), 20.0)
    two = C.ColourMap(np.array([1.2, 1.0, 0.8]), np.array([-0.03, 0.02, 0.05]),
                      np.array([[0.04, -0.02, 0.0], [0.01, 0.0, -0.05]]), (25.0, 30.0), 35.0)
    x = rng.random((40, 50, 3)).astype(np.float32)
    full = np.ones((40, 50), np.float32)
    both = C.pooled([one, two], [0.25, 0.75])
    assert both.centre == one.centre and both.scale == one.scale
    np.testing.assert_allclose(both.gain, 0.25 * one.gain + 0.75 * two.gain)
    want = 0.25 * one.change(x, 1, full) + 0.75 * two.change(x, 1, full)
    np.testing.assert_allclose(both.change(x, 1, full), want, atol=2e-6)
    alone = C.pooled([two], [1.0])
    for a, b in ((alone.gain, two.gain), (alone.offset, two.offset), (alone.slopes, two.slopes)):
        np.testing.assert_allclose(a, b, atol=1e-15)


def test_matrix_change_known_values():
    # a symmetric matrix gain mixes the channels: where α = 1 the change is G·x + b − x, and a
    # half-pasted pixel x = c + ½·(F(c) − c), F(c) = G⁻¹·(c − b), is taken back to c exactly
    g = np.array([[1.1, 0.05, -0.02], [0.05, 0.9, 0.03], [-0.02, 0.03, 1.0]])
    offset = np.array([0.02, -0.01, 0.03])
    cmap = C.ColourMap(g, offset, np.zeros((2, 3)), (0.0, 0.0), 1.0)
    x = np.array([[[0.2, 0.5, 0.7]]], np.float32)
    full = cmap.change(x, 1, np.ones((1, 1), np.float32))
    np.testing.assert_allclose(full[0, 0], g @ x[0, 0] + offset - x[0, 0], atol=1e-6)
    c = np.array([0.3, 0.6, 0.4])
    half = (c + 0.5 * (np.linalg.solve(g, c - offset) - c)).astype(np.float32)[None, None]
    got = half + cmap.change(half, 1, np.full((1, 1), 0.5, np.float32))
    np.testing.assert_allclose(got[0, 0], c, atol=1e-6)
    assert not cmap.change(half, 1, np.zeros((1, 1), np.float32)).any()


def test_general_matrix_change_takes_pasted_pixels_back():
    # a gain that is not symmetric (a hue rotation after a stretch): x = c + α·(F(c) − c) is taken
    # back to c for every α, with a plane across the crop as well
    g = C._grey_rotation(0.2) @ np.array([[1.1, 0.05, 0.0], [0.05, 0.9, 0.0], [0.0, 0.0, 1.0]])
    cmap = C.ColourMap(g, np.array([0.02, -0.01, 0.03]), np.array([[0.01, 0.0, -0.02], [0.0, 0.02, 0.01]]),
                       (2.0, 3.0), 4.0)
    rng = np.random.default_rng(8)
    c = rng.random((5, 6, 3))
    alpha = rng.random((5, 6)).astype(np.float32)
    alpha[0, 0], alpha[0, 1] = 1.0, 0.0
    ys, xs = np.mgrid[0:5, 0:6]
    plane = (((xs - 3.0) / 4.0)[..., None] * cmap.slopes[0] + ((ys - 2.0) / 4.0)[..., None] * cmap.slopes[1])
    fc = np.linalg.solve(g, (c - cmap.offset - plane).reshape(-1, 3).T).T.reshape(c.shape)  # F(c)
    x = (c + alpha[..., None] * (fc - c)).astype(np.float32)
    got = x + cmap.change(x, 1, alpha)
    np.testing.assert_allclose(got[alpha > 0], c[alpha > 0], atol=2e-6)
    assert not cmap.change(x, 1, alpha)[0, 1].any()


def test_grey_rotation_known_values():
    np.testing.assert_allclose(C._grey_rotation(0.0), np.eye(3), atol=1e-12)
    r = C._grey_rotation(0.3)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(r @ np.ones(3), np.ones(3), atol=1e-12)  # grey stays grey
    red = np.array([1.0, 0.0, 0.0]) - 1 / 3  # a chroma vector turns by 0.3 rad about the grey axis
    assert np.dot(r @ red, red) / np.dot(red, red) == pytest.approx(np.cos(0.3))


def test_chroma_rotation_known_values():
    rng = np.random.default_rng(9)
    predicted = rng.random((3, 200))
    for theta in (0.1, -0.2):
        outer = C._grey_rotation(theta) @ predicted + 0.05
        assert C._chroma_rotation(predicted, outer, None) == pytest.approx(theta, abs=1e-9)
    turned = C._grey_rotation(1.0) @ predicted
    assert C._chroma_rotation(predicted, turned, np.full(200, 1 / 200)) == C.HUE_LIMIT


def test_fit_follows_a_hue_rotation():
    # the fill is the photo turned 0.15 rad about the grey axis: the rotation fitted takes most of it
    # back, where the symmetric gain alone cannot
    clean, mask = texture(3), ellipse()
    fake = np.clip(clean @ C._grey_rotation(-0.15).T, 0, 1).astype(np.float32)
    x = pasted(clean, mask, fake)
    profile, inside = profile_of(x, mask), mask > 0.5
    errors = []
    for rotate in (False, True):
        cmap = C.fit_colour_map(profile, 0, 0, rotate=rotate)
        errors.append(float(np.abs(x + cmap.change(x, 1, inside.astype(np.float32)) - clean)[inside].mean()))
    assert errors[1] < 0.6 * errors[0]


def test_matrix_change_is_the_per_channel_change_for_a_diagonal_matrix():
    rng = np.random.default_rng(6)
    diag = C.ColourMap(np.array([0.9, 1.2, 1.0]), np.array([0.03, -0.02, 0.01]),
                       np.array([[0.02, -0.01, 0.0], [0.01, 0.0, -0.03]]), (30.0, 20.0), 40.0)
    matrix = C.ColourMap(np.diag(diag.gain), diag.offset, diag.slopes, diag.centre, diag.scale)
    x = rng.random((2 * STRIP + 5, 60, 3)).astype(np.float32)
    alpha = rng.random(x.shape[:2]).astype(np.float32) * (rng.random(x.shape[:2]) < 0.4)
    np.testing.assert_allclose(matrix.change(x, 2, alpha), diag.change(x, 2, alpha), atol=2e-6)
    ys, xs = np.array([10.0, 50.0]), np.array([5.0, 33.0])
    np.testing.assert_allclose(matrix.predict(x[0, :2], ys, xs), diag.predict(x[0, :2], ys, xs), atol=1e-12)


def test_pooled_mixes_matrix_and_per_channel_gains():
    one = C.ColourMap(np.array([0.9, 1.1, 1.0]), np.zeros(3), np.zeros((2, 3)), (0.0, 0.0), 1.0)
    g = np.array([[1.0, 0.1, 0.0], [0.1, 1.0, 0.0], [0.0, 0.0, 1.2]])
    two = C.ColourMap(g, np.zeros(3), np.zeros((2, 3)), (0.0, 0.0), 1.0)
    np.testing.assert_allclose(C.pooled([one, two], [0.5, 0.5]).gain, 0.5 * np.diag(one.gain) + 0.5 * g)


def test_monge_kantorovich_known_values():
    # diagonal covariances: per-channel spread ratios; in general T·S·T = D with T symmetric
    s, d = np.diag([0.04, 0.01, 0.09]), np.diag([0.01, 0.04, 0.09])
    np.testing.assert_allclose(C.monge_kantorovich(s, d, eps=0.0), np.diag([0.5, 2.0, 1.0]), atol=1e-9)
    a, b = np.random.default_rng(7).normal(size=(2, 3, 3))
    s, d = a @ a.T + 0.1 * np.eye(3), b @ b.T + 0.1 * np.eye(3)
    t = C.monge_kantorovich(s, d, eps=0.0)
    np.testing.assert_allclose(t, t.T, atol=1e-9)
    np.testing.assert_allclose(t @ s @ t, d, atol=1e-9)


def test_pixel_covariance_known_value():
    means = np.array([[0.4, 0.6], [0.5, 0.5], [0.2, 0.4]])  # 3 channels × 2 samples
    squares = np.array([[0.17, 0.37], [0.26, 0.26], [0.05, 0.17]]).T
    products = np.array([[0.21, 0.31], [0.09, 0.25], [0.1, 0.2]]).T  # local means of r·g, r·b, g·b
    got = C._pixel_covariance(means, squares, products)
    # mean of the local second moments less the outer product of the means (0.5, 0.5, 0.3)
    want = np.array([[0.27 - 0.25, 0.26 - 0.25, 0.17 - 0.15],
                     [0.26 - 0.25, 0.26 - 0.25, 0.15 - 0.15],
                     [0.17 - 0.15, 0.15 - 0.15, 0.11 - 0.09]])
    np.testing.assert_allclose(got, want, atol=1e-12)
    np.testing.assert_allclose(np.diag(got), C._pixel_variance(means, squares), atol=1e-12)


def test_fit_recovers_a_saturation_shift_better_with_the_matrix():
    # the fill is the photo with its chroma scaled by 0.8 about the grey of each pixel: channels mix,
    # which per-channel gains cannot undo; the matrix map takes the fill much closer to the photo
    clean, mask = texture(3), ellipse()
    grey = clean.mean(2, keepdims=True)
    fake = grey + 0.8 * (clean - grey)
    x = pasted(clean, mask, fake)
    profile = profile_of(x, mask)
    inside = mask > 0.5
    errors = []
    for share in (0.0, C.MATRIX_SHARE):
        cmap = C.fit_colour_map(profile, 0, 0, matrix_share=share)
        out = x + cmap.change(x, 1, inside.astype(np.float32))
        errors.append(float(np.abs(out - clean)[inside].mean()))
    assert errors[1] < 0.8 * errors[0]


@pytest.mark.filterwarnings("error")
def test_fit_on_flat_bands_is_finite():
    # no spread on either side (singular covariances, no chroma to turn): the matrix stays finite
    # and the fill's step is undone by the offset
    mask = ellipse()
    x = np.where(mask[..., None], 0.6, 0.5).astype(np.float32) * np.ones(3, np.float32)
    cmap = C.fit_colour_map(profile_of(x, mask), 0, 0)
    assert np.isfinite(cmap.gain).all() and np.isfinite(cmap.offset).all()
    got = cmap.change(x, 1, mask.astype(np.float32))
    np.testing.assert_allclose(got[mask > 0.5], -0.1, atol=1e-3)


def test_pooled_needs_a_weight_per_map():
    one = C.IDENTITY_MAP
    with pytest.raises(ValueError, match="zip"):
        C.pooled([one, one], [1.0])


def test_predict_known_values():
    cmap = C.ColourMap(np.array([1.1, 1.0, 0.9]), np.array([0.0, 0.05, 0.0]),
                       np.array([[0.1, 0.0, 0.0], [0.0, 0.0, -0.2]]), (10.0, 20.0), 10.0)
    got = cmap.predict(np.full((2, 3), 0.5), np.array([10.0, 20.0]), np.array([30.0, 20.0]))
    # first sample: X = 1, Y = 0; second: X = 0, Y = 1
    np.testing.assert_allclose(got, [[0.55 + 0.1, 0.55, 0.45], [0.55, 0.55, 0.45 - 0.2]], atol=1e-12)


def profile_of(x: np.ndarray, mask: np.ndarray) -> R.RingProfile:
    return R.RingProfile(x, R.signed_distance(mask > 0.5))


def test_fit_recovers_a_gain_and_an_offset():
    clean, mask = texture(3), ellipse()
    fake = np.clip((clean - 0.05) / 1.15, 0, 1)  # the photo's side is 1.15·fill + 0.05
    cmap = C.fit_colour_map(profile_of(pasted(clean, mask, fake), mask), 0, 0)
    np.testing.assert_allclose(cmap.gain, 1.15 * np.eye(3), atol=0.06)
    np.testing.assert_allclose(cmap.offset, 0.05, atol=0.03)


@pytest.mark.parametrize(("drift", "tol"), [(0.0, 0.02), (0.05, 0.07)])
def test_fit_reads_the_gain_from_the_pixels_spread(drift, tol):
    # fine grey noise either side, the photo's spreading 1.2 times as far as the fill's (known value:
    # gain 1.2), and a drift across the fill of ±drift: the box means' spread alone gave 1.10 without
    # the drift and 0.55 with it (clipped to 0.8), since the drift spreads the fill's means
    mask = ellipse()
    noise = np.random.default_rng(1).normal(0.0, 0.08, mask.shape).astype(np.float32)
    photo = np.repeat((0.5 + noise)[..., None], 3, 2)
    across = np.linspace(-1.0, 1.0, mask.shape[1], dtype=np.float32)[None, :, None]
    fill = 0.5 + (photo - 0.5) / 1.2 + drift * across
    profile = profile_of(np.where(mask[..., None], fill, photo), mask)
    np.testing.assert_allclose(C.fit_colour_map(profile, 0, 0, matrix_share=0.0, rotate=False).gain, 1.2,
                               atol=tol)
    grey = np.ones(3) / np.sqrt(3.0)  # the noise is grey: along grey the matrix scales it by 1.2 too
    np.testing.assert_allclose(C.fit_colour_map(profile, 0, 0).gain @ grey, 1.2 * grey, atol=tol)
    means_only = C.fit_colour_map(profile, 0, 0, pixel_gain=False).gain  # what the seam gate judges
    np.testing.assert_allclose(means_only, 1.10 if drift == 0.0 else C.GAIN_LIMITS[0], atol=0.01)


def test_fit_clips_the_pixels_gain_to_the_limits_it_is_given():
    # grey noise either side, the photo's spreading 1.4 times as far as the fill's (known value: gain
    # 1.4 along grey), beyond GAIN_LIMITS and within CONFIDENT_GAIN_LIMITS
    mask = ellipse()
    noise = np.random.default_rng(2).normal(0.0, 0.08, mask.shape).astype(np.float32)
    photo = np.repeat((0.5 + noise)[..., None], 3, 2)
    profile = profile_of(np.where(mask[..., None], 0.5 + (photo - 0.5) / 1.4, photo), mask)
    grey = np.ones(3) / np.sqrt(3.0)
    narrow = C.fit_colour_map(profile, 0, 0)
    wide = C.fit_colour_map(profile, 0, 0, limits=C.CONFIDENT_GAIN_LIMITS)
    np.testing.assert_allclose(narrow.gain @ grey, C.GAIN_LIMITS[1] * grey, atol=1e-3)
    np.testing.assert_allclose(wide.gain @ grey, 1.4 * grey, atol=0.03)
    means_only = C.fit_colour_map(profile, 0, 0, pixel_gain=False, limits=C.CONFIDENT_GAIN_LIMITS).gain
    np.testing.assert_array_equal(means_only, C.fit_colour_map(profile, 0, 0, pixel_gain=False).gain)


def test_fit_takes_a_given_gain_as_it_is():
    clean, mask = texture(3), ellipse()
    profile = profile_of(pasted(clean, mask, np.clip((clean - 0.05) / 1.15, 0, 1)), mask)
    fitted = C.fit_colour_map(profile, 0, 0)
    again = C.fit_colour_map(profile, 0, 0, gain=fitted.gain)  # the same gain: the same map
    np.testing.assert_array_equal(again.offset, fitted.offset)
    np.testing.assert_array_equal(again.slopes, fitted.slopes)
    given = C.fit_colour_map(profile, 0, 0, gain=np.array([1.5, 1.0, 0.7]))  # not clipped to the limits
    np.testing.assert_array_equal(given.gain, [1.5, 1.0, 0.7])
    assert not np.allclose(given.offset, fitted.offset)  # the offset follows the gain


def test_pixel_variance_known_value():
    means = np.array([[0.4, 0.6], [0.5, 0.5], [0.0, 0.0]])  # 3 channels × 2 samples
    squares = np.array([[0.17, 0.37], [0.24, 0.24], [0.0, 0.0]])  # local mean of x² per sample
    # mean(x²) − mean(x)²: 0.27 − 0.25, 0.24 − 0.25 (rounding below 0: clipped), 0
    np.testing.assert_allclose(C._pixel_variance(means, squares.T), [0.02, 0.0, 0.0], atol=1e-12)


def test_fit_is_the_identity_without_samples():
    clean = texture(4)
    tiny = np.zeros(clean.shape[:2], np.float32)
    tiny[80, 100] = 1.0  # one pixel: too few contour samples for any statistic
    cmap = C.fit_colour_map(profile_of(clean, tiny), 0, 0)
    assert cmap is C.IDENTITY_MAP


def test_weighted_median_known_value():
    values, share = np.array([3.0, 1.0, 2.0, 10.0]), np.array([0.1, 0.2, 0.3, 0.4])
    # sorted 1, 2, 3, 10 with cumulative shares 0.2, 0.5, 0.6, 1.0: ½ is reached at 2
    assert C._weighted_median(values, share) == 2.0
    assert C._weighted_median(values, np.array([0.0, 0.0, 0.0, 1.0])) == 10.0


def test_weighted_pixel_variance_known_value():
    means = np.array([[0.4, 0.6], [0.5, 0.5], [0.0, 0.0]])
    squares = np.array([[0.17, 0.37], [0.24, 0.24], [0.0, 0.0]])
    # 0.75·0.17 + 0.25·0.37 − (0.75·0.4 + 0.25·0.6)² = 0.22 − 0.2025
    got = C._pixel_variance(means, squares.T, np.array([0.75, 0.25]))
    np.testing.assert_allclose(got, [0.0175, 0.0, 0.0], atol=1e-12)


def test_weights_leave_out_the_samples_where_the_content_steps():
    # the fill is the photo less 0.05; on the right 60 % of the contour the photo's side is also
    # 0.2 brighter than what continues into the fill (an object's edge on the seam): the plain fit reads
    # that content step as contrast (gain at its limit) and offset, the samples weighed out read the
    # fill's drift
    clean, mask = texture(3), ellipse()
    fake = clean - 0.05
    right = np.arange(mask.shape[1])[None, :] > 83
    photo = clean + 0.2 * (right & (mask == 0))[..., None]
    profile = profile_of(pasted(photo, mask, fake), mask)
    _, xs = profile.positions(np.ones(profile.num.shape[1], bool))
    plain = C.fit_colour_map(profile, 0, 0, matrix_share=0.0, rotate=False)
    # weighed out: every sample whose box reaches the brighter part
    weighed = C.fit_colour_map(profile, 0, 0, weights=np.where(xs > 83 - R.BOX, 1e-9, 1.0),
                               matrix_share=0.0, rotate=False)
    assert (plain.gain == C.GAIN_LIMITS[1]).all() and (np.abs(plain.offset - 0.05) > 0.04).all()
    np.testing.assert_allclose(weighed.offset, 0.05, atol=0.025)
    np.testing.assert_allclose(weighed.gain, 1.0, atol=0.07)


def test_equal_weights_give_the_plain_fit():
    clean, mask = texture(5), ellipse()
    profile = profile_of(pasted(clean, mask, np.clip((clean - 0.05) / 1.15, 0, 1)), mask)
    plain = C.fit_colour_map(profile, 0, 0, rotate=False)
    equal = C.fit_colour_map(profile, 0, 0, weights=np.full(profile.num.shape[1], 3.0), rotate=False)
    np.testing.assert_allclose(equal.gain, plain.gain, rtol=1e-9)
    np.testing.assert_allclose(equal.offset, plain.offset, atol=2e-3)  # the median of an even count
    np.testing.assert_allclose(equal.slopes, plain.slopes, atol=2e-3)
