"""seamrefine.imaging.imagemath: per function a smoke test, an error-message test and a known-value test."""

from __future__ import annotations

import numpy as np
import pytest
from seamrefine.errors import DTypeError, EmptyMaskError, FullMaskError, InputError, ShapeError
from seamrefine.imaging import imagemath as im

DTYPES = [np.uint8, np.uint16, np.float16, np.float32]


def rand_image(rng, h, w, dtype, channels=3):
    x = rng.random((h, w, channels), dtype=np.float32)
    if dtype in (np.uint8, np.uint16):
        return np.rint(x * np.iinfo(dtype).max).astype(dtype)
    return x.astype(dtype)


# check_image


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels", [3, 4])
def test_check_image_accepts(dtype, channels):
    im.check_image(np.zeros((2, 3, channels), dtype))


@pytest.mark.parametrize(
    ("image", "error", "pattern"),
    [
        ([[1, 2, 3]], DTypeError, "numpy array, got list"),
        (np.zeros((4, 4), np.uint8), ShapeError, r"got shape \(4, 4\)"),
        (np.zeros((4, 4, 2), np.uint8), ShapeError, r"got shape \(4, 4, 2\)"),
        (np.zeros((0, 4, 3), np.uint8), ShapeError, r"at least 1×1, got shape \(0, 4, 3\)"),
        (np.zeros((4, 4, 3), np.int32), DTypeError, "got int32"),
        (np.full((4, 4, 3), np.inf, np.float32), InputError, "NaN or infinite"),
    ],
)
def test_check_image_errors(image, error, pattern):
    with pytest.raises(error, match=pattern):
        im.check_image(image)


# to_float / from_float


def test_to_float_known_values():
    img = np.array([[[0, 128, 255, 77]]], np.uint8)
    rgb, alpha = im.to_float(img)
    assert rgb.dtype == np.float32 and rgb.shape == (1, 1, 3)
    np.testing.assert_allclose(rgb[0, 0], [0.0, 128 / 255, 1.0])
    assert alpha.dtype == np.uint8 and alpha[0, 0] == 77
    rgb16, none = im.to_float(np.array([[[65535, 0, 32768]]], np.uint16))
    assert none is None
    np.testing.assert_allclose(rgb16[0, 0], [1.0, 0.0, 32768 / 65535])
    f = np.array([[[1.5, -0.25, 0.5]]], np.float16)
    np.testing.assert_array_equal(im.to_float(f)[0], f.astype(np.float32))  # floats as given


def test_to_float_error():
    with pytest.raises(DTypeError, match="got float64"):
        im.to_float(np.zeros((2, 2, 3)))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_from_float_round_trip_exact(dtype):
    top = np.iinfo(dtype).max
    values = np.arange(0, top + 1, 1 if dtype == np.uint8 else 7, dtype=np.int64)
    img = np.resize(values, (1, values.size // 3 * 3)).reshape(1, -1, 3).astype(dtype)
    rgb, _ = im.to_float(img)
    np.testing.assert_array_equal(im.from_float(rgb, img), img)


def test_from_float_clips_rounds_and_keeps_alpha():
    like = np.array([[[0, 0, 0, 42]]], np.uint8)
    out = im.from_float(np.array([[[1.5, -0.2, 0.5]]], np.float32), like)
    np.testing.assert_array_equal(out, [[[255, 0, 128, 42]]])
    half = im.from_float(np.array([[[1.5, -0.2, 0.5]]], np.float32), np.zeros((1, 1, 3), np.float16))
    assert half.dtype == np.float16 and half[0, 0, 0] == np.float16(1.5)


# mask_to_float / check_mask_region


def test_mask_to_float_known_values():
    np.testing.assert_allclose(im.mask_to_float(np.array([[0, 51, 255]], np.uint8), (1, 3)), [[0, 0.2, 1]])
    np.testing.assert_array_equal(im.mask_to_float(np.array([[True, False]]), (1, 2)), [[1, 0]])
    m = im.mask_to_float(np.full((2, 2, 1), 0.25, np.float64), (2, 2))
    assert m.dtype == np.float32 and m.shape == (2, 2) and m[0, 0] == 0.25


@pytest.mark.parametrize(
    ("mask", "error", "pattern"),
    [
        ("mask", DTypeError, "numpy array, got str"),
        (np.zeros((4, 4, 3), np.uint8), ShapeError, r"H×W, got shape \(4, 4, 3\)"),
        (np.zeros((3, 4), np.uint8), ShapeError, "the mask is 4×3 px but the image is 4×4 px: they must be"),
        (np.full((4, 4), 1.5, np.float32), InputError, r"\[0, 1\], got range \[1.5, 1.5\]"),
        (np.full((4, 4), 1.000001, np.float32), InputError, r"got range \[1.00000095"),  # a blur's overshoot
        (np.full((4, 4), np.nan, np.float32), InputError, "NaN"),
        (np.zeros((4, 4), np.int16), DTypeError, "got int16"),
    ],
)
def test_mask_to_float_errors(mask, error, pattern):
    with pytest.raises(error, match=pattern):
        im.mask_to_float(mask, (4, 4))


def test_check_mask_region():
    m = np.zeros((4, 4), np.float32)
    with pytest.raises(EmptyMaskError, match="mask is empty") as e:
        im.check_mask_region(m)
    assert e.value.code == "empty_mask"
    m[1, 1] = 1e-6  # a soft touch counts
    im.check_mask_region(m)
    with pytest.raises(FullMaskError, match="covers the whole image") as e:
        im.check_mask_region(np.full((4, 4), 0.5, np.float32))
    assert e.value.code == "full_mask"


# distance_to_region / band_weights


def test_distance_known_values():
    inside = np.zeros((11, 11), bool)
    inside[5, 5] = True
    d = im.distance_to_region(inside, 8)
    assert d.dtype == np.float32 and d[5, 5] == 0
    assert d[5 + 3, 5 + 4] == 5.0 and d[5, 0] == 5.0 and d[0, 0] == pytest.approx(np.hypot(5, 5))
    np.testing.assert_array_equal(im.distance_to_region(np.zeros((3, 4), bool), 6), np.full((3, 4), 7.0))


@pytest.mark.parametrize("max_dist", [3, 10, 40])
def test_distance_matches_scipy_within_exact_range(max_dist):
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(max_dist)
    inside = np.zeros((70, 90), bool)
    inside[20:35, 30:60] = True
    inside |= rng.random(inside.shape) > 0.998
    d = im.distance_to_region(inside, max_dist)
    ref = ndimage.distance_transform_edt(~inside)
    exact = ref <= max_dist
    np.testing.assert_allclose(d[exact], ref[exact], atol=1e-5)
    assert (d[~exact] > max_dist).all() and (d[~exact] <= max_dist + 1).all()


def test_band_weights_ramp_known_values():
    mask = np.zeros((5, 30), np.float32)
    mask[:, :10] = 1.0  # last selected column is 9; distance of column c is c - 9
    band = im.band_weights(mask, 4, 4)
    np.testing.assert_allclose(band[2, :14], 1.0)
    np.testing.assert_allclose(band[2, 14:18], [0.75, 0.5, 0.25, 0.0])
    np.testing.assert_array_equal(band[:, 17:], 0.0)  # exactly zero beyond width + feather
    hard = im.band_weights(mask, 4, 0)
    np.testing.assert_array_equal(hard[2, 12:15], [1, 1, 0])
    assert band.dtype == np.float32


def test_band_weights_soft_mask_counts_as_inside():
    mask = np.zeros((1, 12), np.float32)
    mask[0, 0] = 0.01
    np.testing.assert_allclose(im.band_weights(mask, 2, 2)[0, :6], [1, 1, 1, 0.5, 0, 0])


def test_band_weights_errors():
    with pytest.raises(InputError, match="got -1, 4") as e:
        im.band_weights(np.ones((2, 2)), -1, 4)
    assert e.value.value == (-1, 4)


# Box / mask_bbox / context_box


def test_mask_bbox_and_box():
    mask = np.zeros((20, 30), np.uint8)
    mask[5:9, 10:25] = 255
    b = im.mask_bbox(mask)
    assert b == im.Box(5, 9, 10, 25) and b.height == 4 and b.width == 15
    assert mask[b.slices].all()
    with pytest.raises(EmptyMaskError):
        im.mask_bbox(np.zeros((3, 3)))


def test_context_box_grows_and_clips():
    mask = np.zeros((200, 300), np.uint8)
    mask[100:110, 150:160] = 1
    assert im.context_box(mask, 32) == im.Box(68, 142, 118, 192)
    corner = np.zeros((200, 300), np.uint8)
    corner[0:10, 290:300] = 1
    assert im.context_box(corner, 32) == im.Box(0, 42, 258, 300)
    big = np.zeros((200, 300), np.uint8)
    big[50:150, 100:140] = 1  # longer side 100 → grows by 50 > context
    assert im.context_box(big, 32) == im.Box(0, 200, 50, 190)


# pad_to_multiple


def test_pad_reflect_known_values():
    x = np.arange(5, dtype=np.float32)[None, :].repeat(6, axis=0)  # 6×5
    p = im.pad_to_multiple(x, 4)
    assert p.shape == (8, 8)
    np.testing.assert_array_equal(p[0], [0, 1, 2, 3, 4, 3, 2, 1])
    np.testing.assert_array_equal(p[6:, 0], [0, 0])


def test_pad_edge_when_too_small_and_noop():
    x = np.arange(6, dtype=np.uint8).reshape(2, 3, 1)
    p = im.pad_to_multiple(x, 8)
    assert p.shape == (8, 8, 1)
    np.testing.assert_array_equal(p[0, :, 0], [0, 1, 2, 2, 2, 2, 2, 2])
    np.testing.assert_array_equal(p[7, :3, 0], [3, 4, 5])
    y = np.zeros((16, 8, 3))
    assert im.pad_to_multiple(y, 8) is y


# composite


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels", [3, 4])
def test_composite_bit_exact_outside_band(dtype, channels):
    rng = np.random.default_rng(0)
    original = rand_image(rng, 24, 32, dtype, channels)
    keep = original.copy()
    refined = rng.random((24, 32, 3), dtype=np.float32)
    mask = np.zeros((24, 32), np.float32)
    mask[8:16, 10:20] = 1
    band = im.band_weights(mask, 3, 2)
    out = im.composite(original, refined, band)
    assert out.dtype == original.dtype and out.shape == original.shape
    np.testing.assert_array_equal(original, keep)
    np.testing.assert_array_equal(out[band == 0], original[band == 0])
    if channels == 4:
        np.testing.assert_array_equal(out[..., 3], original[..., 3])
    np.testing.assert_array_equal(out[band == 1][:, :3], im.from_float(refined, original)[band == 1][:, :3])


def test_composite_known_value():
    original = np.full((1, 2, 3), 100, np.uint8)
    refined = np.full((1, 2, 3), 200 / 255, np.float32)
    out = im.composite(original, refined, np.array([[0.5, 0.0]], np.float32))
    np.testing.assert_array_equal(out[0, :, 0], [150, 100])


def test_composite_error():
    with pytest.raises(ShapeError):
        im.composite(np.zeros((2, 2), np.uint8), np.zeros((2, 2, 3), np.float32), np.zeros((2, 2)))


# sRGB


def test_srgb_known_values():
    assert im.srgb_to_linear(np.float32(0.5)) == pytest.approx(0.21404, abs=1e-5)
    assert im.linear_to_srgb(np.float32(0.21404)) == pytest.approx(0.5, abs=1e-5)
    np.testing.assert_allclose(
        im.srgb_to_linear(np.array([0.0, 0.04045, 1.0])), [0.0, 0.04045 / 12.92, 1.0], atol=1e-7
    )
    np.testing.assert_allclose(
        im.linear_to_srgb(np.array([0.0, 0.0031308, 1.0])), [0.0, 0.0031308 * 12.92, 1.0], atol=1e-6
    )


def test_srgb_round_trip_and_monotone():
    x = np.linspace(0, 1, 4097, dtype=np.float32)
    lin = im.srgb_to_linear(x)
    assert lin.dtype == np.float32 and (np.diff(lin) > 0).all()
    np.testing.assert_allclose(im.linear_to_srgb(lin), x, atol=2e-6)
    assert im.srgb_to_linear([[0.5]]).shape == (1, 1)


def test_add_change_in_band_known_values():
    img = np.array([[[10, 20, 30, 77], [200, 100, 0, 5]]], np.uint8)
    change = np.full((1, 2, 3), 10 / 255, np.float32)
    out = im.add_change_in_band(img, change, np.array([[1.0, 0.0]], np.float32))
    assert out.tolist() == [[[20, 30, 40, 77], [200, 100, 0, 5]]]  # alpha and band-0 pixels untouched
    hdr = np.array([[[4.0, -0.5, 0.5]]], np.float32)
    out = im.add_change_in_band(hdr, np.full((1, 1, 3), 0.1, np.float32), np.array([[0.5]], np.float32))
    np.testing.assert_allclose(out, [[[4.05, -0.45, 0.55]]], atol=1e-6)  # no clip to [0, 1]
    refined = np.full((1, 2, 3), 0.5, np.float32)
    rgb = img[..., :3].astype(np.float32) / 255
    np.testing.assert_array_equal(im.composite(img, refined, np.ones((1, 2), np.float32)),
                                  im.add_change_in_band(img, refined - rgb, np.ones((1, 2), np.float32)))


def test_capped_strength_known_values():
    from seamrefine.imaging import metrics
    from seamrefine.runtime.ring_profile import signed_distance

    mask = np.zeros((40, 50), np.float32)
    mask[10:30, 10:40] = 1.0
    change = np.zeros((40, 50, 3), np.float32)
    change[mask > 0] = 0.01  # 40 dB over the fill
    w = im.band_weights(mask, 16, 8)
    mse = 1e-4 * float(w[mask > 0].sum() / w.sum())
    want = np.sqrt(10 ** (-46.0 / 10) / mse)
    sd = signed_distance(mask > 0)
    got = im.capped_strength(change, sd, 16, 8, 46.0)
    assert got == pytest.approx(want, rel=0.02) and want < 1
    x = np.full((40, 50, 3), 0.5, np.float32)
    assert metrics.band_psnr(x + got * change, x, w) == pytest.approx(46.0, abs=0.1)  # what it promises
    assert im.capped_strength(change * 0.01, sd, 16, 8, 46.0) == 1.0  # a small change is not capped
    assert im.capped_strength(np.zeros_like(change), sd, 16, 8, 46.0) == 1.0


def test_capped_strength_leaves_out_what_was_spent_and_band_rms_known_value():
    from seamrefine.runtime.ring_profile import signed_distance

    mask = np.zeros((40, 50), np.float32)
    mask[10:30, 10:40] = 1.0
    sd = signed_distance(mask > 0)
    change = np.zeros((40, 50, 3), np.float32)
    change[mask > 0] = 0.01
    w_sum = float(np.clip((16 + 8 - 0.5 + sd) / 8, 0, 1).sum())
    assert im.band_rms(change, sd, 16, 8) == pytest.approx(np.sqrt(600 * 1e-4 / w_sum), rel=1e-6)
    budget = 10 ** (-46.0 / 20)
    full = im.capped_strength(change, sd, 16, 8, 46.0)
    assert im.capped_strength(change, sd, 16, 8, 46.0, spent=budget / 4) == pytest.approx(0.75 * full)
    assert im.capped_strength(change, sd, 16, 8, 46.0, spent=budget) == 0.0
    assert im.capped_strength(change, sd, 16, 8, 46.0, spent=2 * budget) == 0.0
