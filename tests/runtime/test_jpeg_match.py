"""seamrefine.runtime.jpeg_match: the DCT and IJG tables (known values), grid and settings detection,
the gate (clean photo, fill already compressed, soft fill), the change, errors; and the refiner letting
the compressed fill stand without the network."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from seamrefine.errors import DTypeError, ShapeError
from seamrefine.imaging import imagemath as im
from seamrefine.runtime import classical, jpeg_blocks, jpeg_match
from seamrefine.runtime.inference import Refiner
from seamrefine.runtime.jpeg_match import match_jpeg, recompress
from seamrefine.runtime.params import RefineParams

SAMPLE = Path(jpeg_match.__file__).resolve().parents[1] / "samples" / "coffee.png"
CPU_ONLY = ["CPUExecutionProvider"]


def photo() -> np.ndarray:
    """The committed CC0 sample (600×400, never JPEG-compressed), uint8."""
    return np.asarray(Image.open(SAMPLE).convert("RGB"))


def jpeg(x8: np.ndarray, quality: int, subsampling: int, shift: tuple[int, int] = (0, 0)) -> np.ndarray:
    """``x8`` compressed with its 8×8 grid starting at ``shift`` (y, x)."""
    rolled = np.roll(x8, (-shift[0], -shift[1]), axis=(0, 1))
    return np.roll(recompress(rolled, quality, subsampling), shift, axis=(0, 1))


def box_mask(h: int = 400, w: int = 600) -> np.ndarray:
    mask = np.zeros((h, w), np.float32)
    mask[150:350, 300:560] = 1.0
    return mask


def pasted(quality: int = 60, subsampling: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A JPEG photo with the uncompressed original pasted into the box: (composite, mask, truth)."""
    x8 = photo()
    truth = jpeg(x8, quality, subsampling)
    mask = box_mask()
    comp = np.where(mask[..., None] > 0, x8, truth)
    return comp.astype(np.float32) / 255, mask, truth.astype(np.float32) / 255


def psnr(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a[where] - b[where]) ** 2)))


def test_ijg_table_known_values():
    np.testing.assert_array_equal(jpeg_blocks.ijg_table(50), jpeg_blocks.IJG_LUMA)
    assert (jpeg_blocks.ijg_table(100) == 1).all()
    assert jpeg_blocks.ijg_table(75)[0, 0] == 8 and jpeg_blocks.ijg_table(10)[0, 0] == 80


def test_dct_basis_is_orthonormal_and_coefficient_map_known_values():
    np.testing.assert_allclose(jpeg_blocks.DCT_BASIS @ jpeg_blocks.DCT_BASIS.T, np.eye(8), atol=1e-6)
    flat = np.full((24, 24), 10.0, np.float32)
    assert jpeg_blocks.coefficient_map(flat, 0, 0)[0, 0] == pytest.approx(80.0, abs=1e-3)  # DC = 8·mean
    assert abs(jpeg_blocks.coefficient_map(flat, 3, 5)[0, 0]) < 1e-4
    ramp = np.tile(np.arange(24, dtype=np.float32), (24, 1))
    assert jpeg_blocks.coefficient_map(ramp, 0, 1)[0, 0] < -1.0  # a horizontal ramp is a (0, 1) term


@pytest.mark.parametrize("shift", [(0, 0), (3, 5)])
def test_grid_is_found_where_the_photo_was_compressed(shift):
    y = jpeg(photo(), 50, 0, shift).astype(np.float32) @ jpeg_blocks.LUMA - 128
    region = np.ones(y.shape, bool)
    assert jpeg_blocks.find_grid(y, region) == shift
    fresh = photo().astype(np.float32) @ jpeg_blocks.LUMA - 128
    assert jpeg_blocks.find_grid(fresh, region) is None


def test_periodicity_known_values():
    steps = np.array([3.0, 6.0, 12.0])
    got = jpeg_blocks.periodicity(np.arange(-30, 31, 6, dtype=float), steps)
    assert got[0] == pytest.approx(1.0) and got[1] == pytest.approx(1.0) and got[2] < 0.5
    assert not jpeg_blocks.periodicity(np.array([0.1, -0.2]), steps).any()  # too few values


@pytest.mark.parametrize(("quality", "subsampling"), [(40, 2), (75, 0)])
def test_clean_fill_gets_the_photos_compression(quality, subsampling):
    comp, mask, truth = pasted(quality, subsampling)
    change, info = match_jpeg(comp, mask)
    assert info["gate"] == 1.0 and info["quality"] == quality and info["subsampling"] == subsampling
    assert not change[mask == 0].any()  # nothing outside the fill
    inner = cv2.erode(mask, np.ones((17, 17), np.uint8)) > 0
    before, after = psnr(comp, truth, inner), psnr(comp + change, truth, inner)
    assert after > before + 10 and after > 48


def test_photo_that_is_not_a_jpeg_is_left_alone():
    x = photo().astype(np.float32) / 255
    mask = box_mask()
    fill = cv2.GaussianBlur(x, (0, 0), 1.0)
    comp = np.where(mask[..., None] > 0, fill, x).astype(np.float32)
    change, info = match_jpeg(comp, mask)
    assert info == {"gate": 0.0} and not change.any()


def test_fill_compressed_with_the_photo_is_left_alone():
    _, mask, truth = pasted(60, 2)
    change, info = match_jpeg(truth, mask)
    assert info["gate"] == 0.0 and info["quality"] == 60 and not change.any()
    assert jpeg_match.compressed_with_photo(info["fill_rms"], info["fill_fresh"])


def test_fill_share_known_values():
    # clean selections of JPEG training photos measured 0.70-0.87 of the off-grid change (twenty-fifth
    # session): below 0.8 a fill counts as compressed with the photo
    assert jpeg_match.compressed_with_photo(0.75, 1.0) and jpeg_match.compressed_with_photo(0.0, 2.0)
    assert not jpeg_match.compressed_with_photo(0.85, 1.0)
    assert not jpeg_match.compressed_with_photo(0.0, 0.0)  # a flat fill is no evidence either way


def test_soft_fill_is_not_compressed():
    x8 = photo()
    truth = jpeg(x8, 50, 2)
    mask = box_mask()
    soft = cv2.resize(cv2.resize(x8, (150, 100), interpolation=cv2.INTER_AREA), (600, 400),
                      interpolation=cv2.INTER_CUBIC)
    comp = np.where(mask[..., None] > 0, soft, truth).astype(np.float32) / 255
    change, info = match_jpeg(comp, mask)
    assert info["gate"] == 0.0 and info["detail_slope"] < jpeg_match.SLOPE_MIN and not change.any()


def test_errors_carry_the_bad_value():
    comp, mask, _ = pasted()
    with pytest.raises(DTypeError, match="float32") as e:
        match_jpeg((comp * 255).astype(np.uint8), mask)
    assert e.value.value == "uint8"
    with pytest.raises(ShapeError, match="H×W×3") as e:
        match_jpeg(comp[..., 0], mask)
    assert e.value.value == comp.shape[:2]
    with pytest.raises(ShapeError, match="mask must be") as e:
        match_jpeg(comp, mask[:10])
    assert e.value.value == (10, 600)


def test_empty_and_full_masks_change_nothing():
    comp, mask, _ = pasted()
    for m in (np.zeros_like(mask), np.ones_like(mask)):
        change, info = match_jpeg(comp, m)
        assert info == {"gate": 0.0} and not change.any()


def test_classical_stage_runs_it_last():
    comp, mask, truth = pasted(50, 2)
    change, info = classical.classical_change(comp, mask)
    assert set(info) == {"harmonise", "membrane", "texture", "grain", "jpeg"} and info["jpeg"]["gate"] == 1.0
    inner = cv2.erode(mask, np.ones((17, 17), np.uint8)) > 0
    assert psnr(np.clip(comp + change, 0, 1), truth, inner) > 45


def test_refiner_lets_the_compressed_fill_stand_without_the_network(models):
    comp, mask, truth = pasted(50, 2)
    out, info = Refiner(models["blur"], CPU_ONLY, threads=1).refine(comp, mask, RefineParams(samples=3))
    assert info["jpeg"]["gate"] == 1.0 and info["samples"] == 1
    inner = cv2.erode(mask, np.ones((17, 17), np.uint8)) > 0
    assert psnr(out, truth, inner) > 45  # the blur fixture would have smoothed the blocks away
    band = im.band_weights(mask, 16, 8)
    assert np.array_equal(out[band == 0], comp[band == 0])


def test_a_high_quality_photo_is_found_but_its_fill_left_alone():
    comp, mask, _ = pasted(95, 0)
    change, info = match_jpeg(comp, mask)
    assert info["quality"] > jpeg_match.QUALITY_MAX and info["gate"] == 0.0 and not change.any()


def test_a_compressed_fill_in_a_clean_photo_is_recognised_and_stands(models):
    x8 = photo()
    mask = box_mask()
    fill = jpeg(x8, 40, 2, (3, 5))
    comp = np.where(mask[..., None] > 0, fill, x8).astype(np.float32) / 255
    change, info = match_jpeg(comp, mask)
    assert info == {"gate": 0.0, "fill_grid": [3, 5]} and not change.any()
    out, info = Refiner(models["blur"], CPU_ONLY, threads=1).refine(comp, mask, RefineParams(samples=2))
    y0, _, x0, _ = info["box"]  # the classical stage sees the crop: its grid is relative to the box
    assert info["jpeg"]["fill_grid"] == [(3 - y0) % 8, (5 - x0) % 8] and info["samples"] == 1
    np.testing.assert_array_equal(out, comp)  # no stage changed it, and the network did not run
    clean = x8.astype(np.float32) / 255
    assert "fill_grid" not in match_jpeg(clean, mask)[1]


def test_probe_rms_is_the_rms_change_of_the_regions_pixels():
    rng = np.random.default_rng(3)
    x = rng.random((48, 64, 3)).astype(np.float32)
    region = np.zeros((48, 64), bool)
    region[5:30, 10:50] = True
    win = (slice(0, 48), slice(0, 64))
    probe = jpeg_match.Probe(x, region, win)
    u8 = jpeg_match.to_u8(x, win)
    d = recompress(u8, 60, 2).astype(np.float64)[region] - u8.astype(np.float64)[region]
    assert probe.rms(60, 2) == pytest.approx(np.sqrt(np.mean(d**2)), rel=1e-12)
    assert jpeg_match.Probe(x, np.zeros_like(region), win).rms(60, 2) == np.inf


def test_block_coefficients_are_each_blocks_dct():
    rng = np.random.default_rng(4)
    x = rng.random((32, 40, 3)).astype(np.float32)
    region = np.ones((32, 40), bool)
    c = jpeg_blocks.block_coefficients(x, region, (1, 3))
    y = np.clip(np.rint(x * 255.0), 0, 255) @ jpeg_blocks.LUMA - 128.0
    b = jpeg_blocks.DCT_BASIS.astype(np.float64)
    first = y[1:9, 3:11]  # the first whole block on grid (1, 3), in raster order
    assert c.shape == (12, 8, 8)  # 3 rows × 4 columns of whole blocks
    np.testing.assert_allclose(c[0], b @ first @ b.T, atol=1e-3)


@pytest.mark.parametrize("rows", [[3], [0, 5, 9], [2, 2, 7]])
def test_window_centres_on_the_middle_pixel_in_raster_order(rows):
    region = np.zeros((40, 50), bool)
    for k, r in enumerate(rows):
        region[r, 5 + 7 * k : 12 + 7 * k] = True
    idx = np.flatnonzero(region)
    cy, cx = divmod(int(idx[idx.size // 2]), 50)
    ys, xs = jpeg_match._window(region, 16)
    assert (ys.start, xs.start) == (max(0, min(cy - 8, 24)), max(0, min(cx - 8, 34)))
    assert jpeg_match._window(np.zeros((40, 50), bool), 16) == (slice(0, 16), slice(0, 16))
