"""imaging.metrics: known values, smoke, errors, and the no-reference seam score on synthetic seams."""

from __future__ import annotations

import time

import numpy as np
import pytest
from seamrefine.errors import DTypeError, EmptyMaskError, FullMaskError, InputError, ShapeError
from seamrefine.imaging import metrics as M
from seamrefine.imaging import seam_score as S
from seamrefine.imaging.colour import ciede2000, srgb_to_lab

from ..support.synthetic_images import blob_mask, disk, gaussian_blur, paste, photo

# Sharma, Wu & Dalal (2005), Table 1: L1 a1 b1 L2 a2 b2 ΔE00 (all 34 pairs).
SHARMA = """
50.0000 2.6772 -79.7751 50.0000 0.0000 -82.7485 2.0425
50.0000 3.1571 -77.2803 50.0000 0.0000 -82.7485 2.8615
50.0000 2.8361 -74.0200 50.0000 0.0000 -82.7485 3.4412
50.0000 -1.3802 -84.2814 50.0000 0.0000 -82.7485 1.0000
50.0000 -1.1848 -84.8006 50.0000 0.0000 -82.7485 1.0000
50.0000 -0.9009 -85.5211 50.0000 0.0000 -82.7485 1.0000
50.0000 0.0000 0.0000 50.0000 -1.0000 2.0000 2.3669
50.0000 -1.0000 2.0000 50.0000 0.0000 0.0000 2.3669
50.0000 2.4900 -0.0010 50.0000 -2.4900 0.0009 7.1792
50.0000 2.4900 -0.0010 50.0000 -2.4900 0.0010 7.1792
50.0000 2.4900 -0.0010 50.0000 -2.4900 0.0011 7.2195
50.0000 2.4900 -0.0010 50.0000 -2.4900 0.0012 7.2195
50.0000 -0.0010 2.4900 50.0000 0.0009 -2.4900 4.8045
50.0000 -0.0010 2.4900 50.0000 0.0010 -2.4900 4.8045
50.0000 -0.0010 2.4900 50.0000 0.0011 -2.4900 4.7461
50.0000 2.5000 0.0000 50.0000 0.0000 -2.5000 4.3065
50.0000 2.5000 0.0000 73.0000 25.0000 -18.0000 27.1492
50.0000 2.5000 0.0000 61.0000 -5.0000 29.0000 22.8977
50.0000 2.5000 0.0000 56.0000 -27.0000 -3.0000 31.9030
50.0000 2.5000 0.0000 58.0000 24.0000 15.0000 19.4535
50.0000 2.5000 0.0000 50.0000 3.1736 0.5854 1.0000
50.0000 2.5000 0.0000 50.0000 3.2972 0.0000 1.0000
50.0000 2.5000 0.0000 50.0000 1.8634 0.5757 1.0000
50.0000 2.5000 0.0000 50.0000 3.2592 0.3350 1.0000
60.2574 -34.0099 36.2677 60.4626 -34.1751 39.4387 1.2644
63.0109 -31.0961 -5.8663 62.8187 -29.7946 -4.0864 1.2630
61.2901 3.7196 -5.3901 61.4292 2.2480 -4.9620 1.8731
35.0831 -44.1164 3.7933 35.0232 -40.0716 1.5901 1.8645
22.7233 20.0904 -46.6940 23.0331 14.9730 -42.5619 2.0373
36.4612 47.8580 18.3852 36.2715 50.5065 21.2231 1.4146
90.8027 -2.0831 1.4410 91.1528 -1.6435 0.0447 1.4441
90.9257 -0.5406 -0.9208 88.6381 -0.8985 -0.7239 1.5381
6.7747 -0.2908 -2.4247 5.8714 -0.0985 -2.2286 0.6377
2.0776 0.0795 -1.1350 0.9033 -0.0636 -0.5514 0.9082
"""


F32 = np.zeros((8, 8, 3), np.float32)


# ----------------------------------------------------------------------------- colour
def test_ciede2000_sharma_pairs():
    rows = np.array([list(map(float, line.split())) for line in SHARMA.strip().splitlines()])
    assert rows.shape == (34, 7)
    np.testing.assert_allclose(ciede2000(rows[:, :3], rows[:, 3:6]), rows[:, 6], atol=1e-4)
    np.testing.assert_allclose(ciede2000(rows[:, 3:6], rows[:, :3]), rows[:, 6], atol=1e-4)


def test_srgb_to_lab_known_values():
    lab = srgb_to_lab(np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]], np.float32))
    np.testing.assert_allclose(lab[0], [53.2408, 80.0925, 67.2032], atol=1e-3)  # Lindbloom matrix
    np.testing.assert_allclose(lab[1], [100.0, 0.0, 0.0], atol=2e-3)
    np.testing.assert_allclose(lab[2], [0.0, 0.0, 0.0], atol=1e-6)


def test_band_delta_e_known_value_and_identity():
    a = np.full((16, 16, 3), [0.2, 0.5, 0.7], np.float32)
    b = np.full((16, 16, 3), [0.25, 0.45, 0.7], np.float32)
    band = disk(16, 5)
    expect = ciede2000(srgb_to_lab(a[0, 0]), srgb_to_lab(b[0, 0]))
    assert M.band_delta_e(a, b, band) == pytest.approx(float(expect), abs=1e-5)
    assert M.band_delta_e(a, a, band) == 0.0


# ----------------------------------------------------------------------------- PSNR
def test_band_psnr_constant_offset_is_40db():
    clean = np.full((32, 32, 3), 0.5, np.float32)
    assert M.band_psnr(clean + np.float32(0.01), clean, disk(32, 8)) == pytest.approx(40.0, abs=1e-3)


def test_band_psnr_ignores_pixels_outside_band_and_caps_identity():
    clean = photo(0, 64)
    band = disk(64, 16)
    out = clean.copy()
    out[band == 0] = 0.0
    assert M.band_psnr(out, clean, band) == M.PSNR_CAP_DB
    out[band > 0] += 0.1  # error 0.1 everywhere in the band (no clipping: values stay float)
    assert M.band_psnr(out, clean, band) == pytest.approx(20.0, abs=1e-3)


def test_band_psnr_soft_band_is_weighted():
    clean = np.zeros((4, 4, 3), np.float32)
    out = clean.copy()
    out[0, 0] = 0.1  # mse 0.01 on a pixel with weight 1
    band = np.zeros((4, 4), np.float32)
    band[0, 0], band[0, 1] = 1.0, 1.0  # second pixel has 0 error → mse 0.005
    assert M.band_psnr(out, clean, band) == pytest.approx(-10 * np.log10(0.005), abs=1e-4)


@pytest.mark.parametrize(
    ("out", "clean", "band", "err", "fragment"),
    [
        (np.zeros((8, 8, 3), np.uint8), F32, np.ones((8, 8)), DTypeError, "uint8"),
        (np.zeros((8, 8, 4), np.float32), F32, np.ones((8, 8)), ShapeError, "H×W×3"),
        (F32, np.zeros((9, 8, 3), np.float32), np.ones((8, 8)), ShapeError, "clean"),
        (F32, F32, np.zeros((8, 8)), EmptyMaskError, "empty"),
        (F32, F32, np.ones((7, 8)), ShapeError, "the mask is 8×7 px"),
        ([[0.0]], F32, np.ones((8, 8)), DTypeError, "numpy array"),
    ],
)
def test_band_metrics_errors(out, clean, band, err, fragment):
    for fn in (M.band_psnr, M.band_delta_e):
        with pytest.raises(err, match=fragment) as info:
            fn(out, clean, band.astype(np.float32))
        assert info.value.value is not None


def test_nan_input_is_rejected():
    bad = np.zeros((8, 8, 3), np.float32)
    bad[1, 1, 1] = np.nan
    with pytest.raises(InputError, match="NaN") as info:
        M.band_psnr(bad, np.zeros_like(bad), np.ones((8, 8), np.float32))
    assert info.value.value == "non-finite"


# ----------------------------------------------------------------------------- gradient error
def test_boundary_gradient_error_identity_and_ramp():
    clean = photo(1, 96)
    mask = disk(96, 24)
    assert M.boundary_gradient_error(clean, clean, mask) == 0.0
    s = 0.004
    ramp = clean + s * np.arange(96, dtype=np.float32)[None, :, None]
    assert M.boundary_gradient_error(ramp, clean, mask, ring=3) == pytest.approx(s / 2, rel=1e-3)


def test_boundary_gradient_error_sees_a_seam_and_checks_ring():
    clean = photo(2, 96)
    mask = disk(96, 24)
    seam = clean + 0.1 * mask[..., None]
    assert M.boundary_gradient_error(seam, clean, mask) > 0.01
    with pytest.raises(InputError, match="ring") as info:
        M.boundary_gradient_error(clean, clean, mask, ring=0)
    assert info.value.value == 0
    with pytest.raises(FullMaskError):
        M.boundary_gradient_error(clean, clean, np.ones((96, 96), np.float32))


# ----------------------------------------------------------------------------- noise / blur
@pytest.mark.parametrize("sigma", [0.01, 0.03])
def test_noise_sigma_recovers_gaussian_sigma(sigma):
    rng = np.random.default_rng(3)
    ramp = np.linspace(0.3, 0.7, 256, dtype=np.float32)[None, :] * np.ones((256, 1), np.float32)
    est = M.noise_sigma(ramp + rng.normal(0, sigma, ramp.shape).astype(np.float32))
    assert est == pytest.approx(sigma, rel=0.1)


def test_noise_mismatch_known_ratio():
    rng = np.random.default_rng(4)
    mask = disk(160, 50)
    img = np.full((160, 160, 3), 0.5, np.float32)
    sig = np.where(mask > 0, 0.04, 0.01)[..., None]
    gray_noise = rng.normal(0, 1, (160, 160, 1)).astype(np.float32)  # same noise in all channels → luma σ
    img = img + sig * gray_noise
    assert M.noise_mismatch(img, mask) == pytest.approx(np.log(4.0), abs=0.1)


def test_blur_mismatch_sign_and_vs_clean():
    clean = photo(5, 128)
    mask = disk(128, 36)
    blurred = paste(clean, gaussian_blur(clean, 2.0), mask)
    assert M.blur_mismatch(blurred, mask) < M.blur_mismatch(clean, mask) - 0.3
    assert M.blur_mismatch_vs_clean(clean, clean, mask) == 0.0
    assert M.noise_mismatch_vs_clean(clean, clean, mask) == 0.0
    assert M.blur_mismatch_vs_clean(blurred, clean, mask) > 0.3


def test_ring_metrics_errors():
    img = photo(6, 64)
    with pytest.raises(EmptyMaskError, match="empty"):
        M.noise_mismatch(img, np.zeros((64, 64), np.float32))
    with pytest.raises(FullMaskError, match="whole image"):
        M.blur_mismatch(img, np.ones((64, 64), np.float32))
    thin = np.zeros((64, 64), np.float32)
    thin[30:32, 10:50] = 1.0  # 2 px wide: no inner ring beyond the 2 px gap
    with pytest.raises(EmptyMaskError, match="inside its edge") as info:
        M.noise_mismatch(img, thin)
    assert info.value.value == (M.RING_GAP, M.RING_WIDTH)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        M.noise_mismatch(img, np.full((64, 64), 2.0, np.float32))


# ----------------------------------------------------------------------------- seam score
def test_seam_score_smoke_and_components():
    img, mask = photo(7), blob_mask(7)
    comps = S.seam_components(img, mask)
    assert set(comps) == set(S.SCORE_WEIGHTS)
    assert all(v >= 0 for v in comps.values())
    s = S.seam_score(img, mask)
    assert isinstance(s, float) and np.isfinite(s)
    assert S.seam_score(img, mask) == s  # deterministic
    assert S.seam_score(img, (mask * 255).astype(np.uint8)) == s  # uint8 masks accepted


def test_seam_geometry_is_reused_across_images():
    img, mask = photo(7), blob_mask(7)
    geometry = S.SeamGeometry(mask, img.shape[:2])
    other = np.clip(img + np.float32([0.05, 0.0, -0.03]) * (mask[..., None] > 0.5), 0, 1)
    for x in (img, other):
        assert S.seam_score(x, mask, geometry) == S.seam_score(x, mask)
        assert S.seam_components(x, mask, geometry) == S.seam_components(x, mask)


def test_seam_geometry_of_another_size_is_a_shape_error():
    img, mask = photo(7), blob_mask(7)
    geometry = S.SeamGeometry(mask[:-4], (img.shape[0] - 4, img.shape[1]))
    with pytest.raises(ShapeError, match="seam geometry was measured for") as e:
        S.seam_score(img, mask, geometry)
    assert e.value.value == img.shape


ARTIFACTS = {
    "color_uniform": lambda c, rng: np.clip(c + np.float32([0.06, -0.03, 0.02]), 0, 1),
    "color_small": lambda c, rng: np.clip(c + np.float32(0.025), 0, 1),
    "color_gradient": lambda c, rng: np.clip(
        c + np.linspace(-0.08, 0.08, c.shape[1], dtype=np.float32)[None, :, None], 0, 1
    ),
    "noise": lambda c, rng: np.clip(c + rng.normal(0, 0.04, c.shape).astype(np.float32), 0, 1),
    "blur": lambda c, rng: gaussian_blur(c, 1.5),
}


@pytest.mark.parametrize("family", sorted(ARTIFACTS))
def test_seam_score_prefers_clean_over_visible_seam(family):
    for seed in range(4):
        clean, mask = photo(seed), blob_mask(seed)
        fill = ARTIFACTS[family](clean, np.random.default_rng(seed))
        comp = paste(clean, fill, mask)
        assert S.seam_score(comp, mask) > S.seam_score(clean, mask) + 0.05, (family, seed)


def test_seam_score_grows_with_colour_offset():
    clean, mask = photo(11), blob_mask(11)
    scores = [S.seam_score(paste(clean, np.clip(clean + off, 0, 1), mask), mask) for off in (0, 0.03, 0.1)]
    assert scores[0] < scores[1] < scores[2]


def test_seam_score_is_fast_on_one_megapixel():
    rng = np.random.default_rng(12)
    img = gaussian_blur(rng.random((1000, 1000, 3)).astype(np.float32), 2.0)
    mask = np.zeros((1000, 1000), np.float32)
    mask[250:750, 200:800] = 1.0
    S.seam_score(img, mask)
    t0 = time.perf_counter()
    for _ in range(3):
        S.seam_score(img, mask)
    ms = (time.perf_counter() - t0) / 3 * 1000
    assert ms < 200  # ~35 ms alone on one core; generous for a shared CI machine


@pytest.mark.parametrize(
    ("img", "mask", "err", "fragment"),
    [
        (np.zeros((32, 32, 3), np.float32), np.zeros((32, 32), np.float32), EmptyMaskError, "empty"),
        (np.zeros((32, 32, 3), np.float32), np.ones((32, 32), np.float32), FullMaskError, "whole image"),
        (np.zeros((32, 32, 3), np.float32), np.ones((16, 32), np.float32), ShapeError, "mask is 32×16 px"),
        (np.zeros((32, 32, 3), np.uint8), disk(32, 8), DTypeError, "float sRGB"),
        (np.zeros((32, 32), np.float32), disk(32, 8), ShapeError, "H×W×3"),
    ],
)
def test_seam_score_errors(img, mask, err, fragment):
    with pytest.raises(err, match=fragment) as info:
        S.seam_score(img, mask)
    assert info.value.value is not None


@pytest.mark.parametrize(
    "family", ["color_uniform", "noise", "blur", "jpeg", "latent_smear", "truncation", "mixed"]
)
def test_seam_score_on_synthesised_cases(family):
    synthesis = pytest.importorskip("seamrefine_train.synthesis")
    deltas = []
    for i in range(6):
        case = synthesis.make_case(photo(i, 160), 3, i, family)
        deltas.append(S.seam_score(case.composite, case.mask) - S.seam_score(case.clean, case.mask))
    assert np.mean(deltas) > 0.0
    assert np.mean(np.array(deltas) > 0) >= 4 / 6


def test_area_downsample_is_the_block_mean():
    from seamrefine.imaging.seam_score import area_downsample

    x = np.arange(5 * 7 * 3, dtype=np.float32).reshape(5, 7, 3)
    got = area_downsample(x, 2)
    want = x[:4, :6].reshape(2, 2, 3, 2, 3).mean(axis=(1, 3))
    assert got.shape == (2, 3, 3) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-6)
    grey = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], np.float32)
    np.testing.assert_array_equal(area_downsample(grey, 1), grey)
    np.testing.assert_array_equal(area_downsample(grey, 2), [[2.0]])
    assert area_downsample(grey, 3).shape == (0, 1)
