"""Artifact-pair synthesis: invariants per family, determinism, config, known values, photo I/O."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from seamrefine.errors import InputError
from seamrefine.imaging.imagemath import band_weights
from seamrefine_train import artifacts
from seamrefine_train.masks import MASK_KINDS, paste_alpha_and_mask, random_shape
from seamrefine_train.synthesis import (
    FAMILIES,
    Case,
    SynthConfig,
    list_photos,
    load_photo,
    make_case,
    photo_sides,
    photos_for,
    random_crop,
)


def textured_photo(h: int = 96, w: int = 112, seed: int = 0) -> np.ndarray:
    """Smooth gradients, a few hard-edged shapes, stripes and mild noise: a stand-in photo."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([0.2 + 0.6 * xx / w, 0.3 + 0.4 * yy / h, 0.5 + 0.3 * np.sin(xx / 9.0 + yy / 13.0)], -1)
    img[(yy - h / 3) ** 2 + (xx - w / 3) ** 2 < (h / 6) ** 2] = (0.8, 0.2, 0.1)
    img[int(h * 0.6) : int(h * 0.8), int(w * 0.5) : int(w * 0.9)] = (0.1, 0.3, 0.7)
    img[:, ::7] *= 0.85
    img += rng.normal(0, 0.01, img.shape)
    return np.clip(img, 0, 1).astype(np.float32)


PHOTO = textured_photo()


WIDEST_EDGES = SynthConfig(p_leak=1.0, p_hard_edge=0.0, feather_range=(16.0, 16.0), paste_offset_range=(3, 3),
                           user_dilate_range=(0, 0), leak_width_range=(12.0, 12.0))


@pytest.mark.parametrize("config", [None, WIDEST_EDGES], ids=["default", "widest_edges"])
@pytest.mark.parametrize("family", FAMILIES)
def test_family_changes_only_the_pasted_band(family, config):
    for index in range(4):
        case = make_case(PHOTO, 7, index, family, config)
        assert isinstance(case, Case) and case.family == family
        assert case.composite.shape == PHOTO.shape and case.clean.shape == PHOTO.shape
        assert case.mask.shape == PHOTO.shape[:2]
        for arr in (case.composite, case.clean, case.mask, case.alpha):
            assert arr.dtype == np.float32
            assert float(arr.min()) >= 0.0 and float(arr.max()) <= 1.0
        band = band_weights(case.mask, 16, 8)
        untouched = (case.alpha == 0) | (band == 0)
        np.testing.assert_array_equal(case.composite[untouched], case.clean[untouched])
        assert not ((case.alpha > 0) & (band == 0)).any()
        if family != "clean":
            assert np.abs(case.composite - case.clean).max() > 0


@pytest.mark.parametrize("family", FAMILIES)
def test_reproducible_per_seed_index_and_different_across_indices(family):
    a, b = make_case(PHOTO, 3, 5, family), make_case(PHOTO, 3, 5, family)
    np.testing.assert_array_equal(a.composite, b.composite)
    np.testing.assert_array_equal(a.mask, b.mask)
    np.testing.assert_array_equal(a.clean, b.clean)
    assert a.params == b.params
    c = make_case(PHOTO, 3, 6, family)
    d = make_case(PHOTO, 4, 5, family)
    assert not np.array_equal(a.mask, c.mask) or not np.array_equal(a.composite, c.composite)
    assert not np.array_equal(a.mask, d.mask)


def test_clean_family_is_exactly_the_photo():
    case = make_case(PHOTO, 0, 0, "clean")
    np.testing.assert_array_equal(case.composite, PHOTO)
    np.testing.assert_array_equal(case.clean, PHOTO)
    assert not case.alpha.any()


def test_mask_area_kinds_and_borders():
    cfg = SynthConfig()
    h, w = 64, 80
    kinds, touched = set(), 0
    for i in range(60):
        shape, p = random_shape(h, w, np.random.default_rng([1, i]), cfg)
        assert 0.05 <= shape.mean() <= 0.5, p
        kinds.add(p["kind"])
        touched += bool(shape[0].any() or shape[-1].any() or shape[:, 0].any() or shape[:, -1].any())
        case = make_case(textured_photo(h, w), 1, i)
        selected = (case.mask > 0).mean()
        assert 0.05 <= selected < 1.0
    assert kinds == set(MASK_KINDS)
    assert touched >= 5


def test_paste_alpha_stays_near_the_shape_with_leak_and_feather():
    cfg = SynthConfig(p_leak=1.0, p_hard_edge=0.0, feather_range=(16.0, 16.0), paste_offset_range=(3, 3))
    shape = np.zeros((80, 80), bool)
    shape[30:50, 30:50] = True
    alpha, mask, p = paste_alpha_and_mask(shape, np.random.default_rng(0), cfg)
    assert p["leak"] > 0 and p["edge"] == "feathered"
    assert (mask[shape] == 1).all()
    assert not ((alpha > 0) & (band_weights(mask, 16, 8) < 1)).any()


def test_families_switchable_by_weights():
    cfg = SynthConfig(family_weights={"blur": 1.0, "jpeg": 1.0})
    seen = {make_case(PHOTO, 0, i, config=cfg).family for i in range(20)}
    assert seen == {"blur", "jpeg"}
    only_clean = SynthConfig(family_weights={"clean": 1.0})
    assert make_case(PHOTO, 0, 0, config=only_clean).family == "clean"


def test_unknown_family_raises_input_error_with_value():
    with pytest.raises(InputError, match="unknown synthesis family") as info:
        make_case(PHOTO, 0, 0, "sepia")
    assert info.value.value == "sepia"
    with pytest.raises(InputError) as info:
        SynthConfig(family_weights={"sepia": 1.0})
    assert info.value.value == "sepia"
    with pytest.raises(InputError):
        SynthConfig(family_weights={"blur": 0.0})


def test_bad_photo_raises_input_error():
    with pytest.raises(InputError):
        make_case(np.zeros((32, 32), np.float32), 0, 0)
    with pytest.raises(InputError):
        make_case(np.zeros((4, 32, 3), np.float32), 0, 0)


def test_uint8_photo_is_scaled():
    u8 = (PHOTO * 255).round().astype(np.uint8)
    case = make_case(u8, 0, 0, "clean")
    np.testing.assert_allclose(case.clean, u8 / 255.0, atol=1e-7)


@pytest.mark.parametrize("hw", [(8, 8), (9, 40), (300, 17)])
def test_tiny_and_thin_photos_give_valid_masks(hw):
    photo = textured_photo(*hw)
    for i in range(15):
        case = make_case(photo, 5, i)
        assert (case.mask > 0).any() and not (case.mask > 0).all()
        band = band_weights(case.mask, 16, 8)
        untouched = (case.alpha == 0) | (band == 0)
        np.testing.assert_array_equal(case.composite[untouched], case.clean[untouched])


def test_brightness_jitter_scales_mean():
    a, b = artifacts.jitter_matrix(brightness=0.04)
    x = np.full((4, 4, 3), 0.5, np.float32)
    np.testing.assert_allclose(artifacts.apply_affine(x, a, b), 0.52, atol=1e-6)
    a, b = artifacts.jitter_matrix(saturation=-1.0)  # full desaturation → luma grey
    y = artifacts.apply_affine(np.array([[[1.0, 0.0, 0.0]]], np.float32), a, b)
    np.testing.assert_allclose(y[0, 0], [0.299] * 3, atol=1e-6)
    a, b = artifacts.jitter_matrix(hue=0.3)  # hue rotation keeps grey grey
    np.testing.assert_allclose(artifacts.apply_affine(x, a, b), 0.5, atol=1e-5)


def test_jitter_magnitudes_are_mostly_subtle():
    rng = np.random.default_rng(0)
    mags = np.abs([artifacts.small_signed(rng, 0.15, 1 / 15) for _ in range(2000)])
    assert mags.min() >= 0.01 - 1e-9 and mags.max() <= 0.15
    assert 0.45 < np.mean(mags <= 0.05) < 0.75


def test_sensor_noise_level_and_correlation():
    x = np.full((128, 128, 3), 0.5, np.float32)
    flat = artifacts.sensor_noise(x, np.random.default_rng(0), 0.02, 0.5, 0.0, 0.3, False)
    assert abs(float((flat - x).std()) - 0.02) < 0.002
    corr = artifacts.sensor_noise(x, np.random.default_rng(0), 0.02, 0.5, 1.0, 0.3, False)
    d = corr - x
    lag1 = np.corrcoef(d[:, :-1].ravel(), d[:, 1:].ravel())[0, 1]
    assert abs(float(d.std()) - 0.02) < 0.003 and lag1 > 0.4


def test_jpeg_roundtrip_quality_orders_error():
    img = PHOTO
    e_lo = np.abs(artifacts.jpeg_roundtrip(img, 30, 2) - img).mean()
    e_hi = np.abs(artifacts.jpeg_roundtrip(img, 95, 0) - img).mean()
    assert e_hi < e_lo


def test_random_crop_scales_pads_and_is_deterministic():
    big = textured_photo(200, 300)
    c1 = random_crop(big, 64, np.random.default_rng(2))
    c2 = random_crop(big, 64, np.random.default_rng(2))
    assert c1.shape == (64, 64, 3) and c1.dtype == np.float32
    np.testing.assert_array_equal(c1, c2)
    small = random_crop(textured_photo(20, 30), (50, 70), np.random.default_rng(0))
    assert small.shape == (50, 70, 3)
    with pytest.raises(InputError):
        random_crop(big, 0, np.random.default_rng(0))


def test_load_and_list_photos(tmp_path):
    arr = (PHOTO * 255).round().astype(np.uint8)
    Image.fromarray(arr).save(tmp_path / "b.png")
    Image.fromarray(arr).convert("RGBA").save(tmp_path / "a.PNG")
    Image.fromarray(arr).save(tmp_path / "c.jpg", quality=95)
    (tmp_path / "notes.txt").write_text("x")
    names = [p.name for p in list_photos(tmp_path)]
    assert names == ["a.PNG", "b.png", "c.jpg"]
    img = load_photo(tmp_path / "b.png")
    assert img.dtype == np.float32 and img.shape == PHOTO.shape
    np.testing.assert_allclose(img, arr / 255.0, atol=1e-6)
    assert load_photo(tmp_path / "a.PNG").shape == PHOTO.shape
    with pytest.raises(InputError) as info:
        load_photo(tmp_path / "notes.txt")
    assert "notes.txt" in info.value.value
    with pytest.raises(InputError):
        list_photos(tmp_path / "missing")


@pytest.mark.parametrize(("p_inpaint", "mode"), [(1.0, "inpaint_ring"), (0.0, "misalign")])
def test_truncation_modes(p_inpaint, mode):
    case = make_case(PHOTO, 2, 0, "truncation", SynthConfig(p_truncation_inpaint=p_inpaint))
    assert case.params["steps"][0]["mode"] == mode
    assert np.abs(case.composite - case.clean).max() > 0.01


def test_truncation_ring_lies_inside_a_shrunk_paste():
    """Regression: a 2–3 px ring measured from the shape vanished when the paste was shrunk by 3 px."""
    cfg = SynthConfig(p_truncation_inpaint=1.0, paste_offset_range=(-3, -3), p_hard_edge=1.0,
                      truncation_ring_range=(2.0, 2.0))
    for i in range(4):
        case = make_case(PHOTO, 0, i, "truncation", cfg)
        assert np.abs(case.composite - case.clean).max() > 0.01, i


def test_mixed_combines_two_or_three_families():
    for i in range(10):
        steps = [s["family"] for s in make_case(PHOTO, 0, i, "mixed").params["steps"]]
        assert 2 <= len(steps) <= 3 and len(set(steps)) == len(steps)
        assert "clean" not in steps and "mixed" not in steps


def test_large_crops_come_from_large_photos(tmp_path):
    paths = [tmp_path / f"p{i}.png" for i in range(3)]
    for p, side in zip(paths, (200, 500, 900), strict=True):
        Image.new("RGB", (side + 50, side)).save(p)
    sides = photo_sides(paths)
    assert sides == [200, 500, 900]
    assert photos_for(paths, sides, 256) == paths  # shorter side ≥ 0.75 × 256 = 192
    assert photos_for(paths, sides, 300) == paths[1:]
    assert photos_for(paths, sides, 768) == paths[2:]
    assert photos_for(paths, sides, 4096) == paths  # none large enough: all
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    assert photo_sides([*paths, bad]) == [200, 500, 900, 0]  # unreadable: never large enough
