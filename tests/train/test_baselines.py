"""seamrefine_train.baselines: smoke, band-exactness, Poisson known value, errors."""

from __future__ import annotations

import numpy as np
import pytest
from seamrefine.errors import DTypeError, EmptyMaskError, FullMaskError, InputError, ShapeError
from seamrefine.imaging import imagemath
from seamrefine.imaging import metrics as M
from seamrefine.imaging.seam_score import seam_score
from seamrefine_train import baselines as B

from ..support.synthetic_images import blob_mask, disk, paste, photo

NAMES = sorted(B.BASELINES)


def offset_case(size: int = 128, seed: int = 0):
    clean = photo(seed, size)
    mask = blob_mask(seed, size)
    comp = np.where(mask[..., None] > 0, clean + np.float32([0.08, -0.05, 0.03]), clean).astype(np.float32)
    return comp, mask, clean


@pytest.mark.parametrize("name", NAMES)
def test_baseline_smoke(name):
    comp, mask, _ = offset_case()
    out = B.BASELINES[name](comp, mask)
    assert out.shape == comp.shape and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("name", NAMES)
def test_baseline_changes_nothing_outside_band(name):
    comp, mask, clean = offset_case(seed=1)
    comp = paste(clean, np.clip(clean + 0.1, 0, 1), mask)  # soft edge
    soft = np.clip(imagemath.band_weights(mask, 2, 3), 0, 1)  # a soft user selection
    for m in (mask, soft, (mask * 255).astype(np.uint8)):
        out = B.BASELINES[name](comp, m)
        outside = imagemath.band_weights(imagemath.mask_to_float(m, mask.shape), 16, 8) == 0
        assert outside.sum() > 1000
        assert np.array_equal(out[outside], comp[outside])  # bit-exact


def test_poisson_removes_uniform_offset():
    comp, mask, clean = offset_case(seed=2)
    band = imagemath.band_weights(mask, 16, 8)
    assert M.band_psnr(comp, clean, band) < 30
    out = B.poisson(comp, mask)
    assert M.band_psnr(out, clean, band) > 45  # ≈ 29 dB → ≈ 51 dB
    before, after = M.band_delta_e(comp, clean, mask), M.band_delta_e(out, clean, mask)
    assert before > 8 and after < 1.0 and after < 0.1 * before


def test_poisson_solve_exact_on_linear_image():
    # a linear image is harmonic, so gradient-continuity boundary guidance reproduces it exactly
    yy, xx = np.mgrid[:40, :50].astype(np.float32)
    img = np.stack([0.2 + 0.01 * xx, 0.1 + 0.005 * yy, 0.5 + 0.002 * (xx + yy)], -1).astype(np.float32)
    region = disk(40, 12)[:, :40] > 0
    region = np.pad(region, ((0, 0), (5, 5)))
    shifted = img + 0.2 * region[..., None]
    out = B.poisson_solve(shifted, region)
    np.testing.assert_allclose(out, img, atol=1e-5)


def test_color_transfer_and_feather_help_on_offset_case():
    comp, mask, clean = offset_case(seed=3)
    base = M.band_delta_e(comp, clean, mask)
    assert M.band_delta_e(B.color_transfer(comp, mask), clean, mask) < base
    assert seam_score(B.feather(comp, mask), mask) < seam_score(comp, mask)


def test_identity_is_a_copy():
    comp, mask, _ = offset_case()
    out = B.identity(comp, mask)
    assert np.array_equal(out, comp) and out is not comp


@pytest.mark.parametrize(
    ("comp", "mask", "err", "fragment"),
    [
        (np.zeros((16, 16, 3), np.uint8), disk(16, 4), DTypeError, "float32"),
        (np.zeros((16, 16), np.float32), disk(16, 4), ShapeError, "H×W×3"),
        (np.zeros((16, 16, 3), np.float32), disk(8, 2), ShapeError, "8×8"),
        (np.zeros((16, 16, 3), np.float32), np.zeros((16, 16), np.float32), EmptyMaskError, "empty"),
        (np.zeros((16, 16, 3), np.float32), np.ones((16, 16), np.float32), FullMaskError, "whole image"),
        (np.full((16, 16, 3), np.nan, np.float32), disk(16, 4), InputError, "NaN"),
        ("not an image", disk(16, 4), DTypeError, "numpy array"),
    ],
)
@pytest.mark.parametrize("name", NAMES)
def test_baseline_errors(name, comp, mask, err, fragment):
    with pytest.raises(err, match=fragment) as info:
        B.BASELINES[name](comp, mask)
    assert info.value.value is not None
