"""seamrefine.runtime.split_map: the split's weight (known values), its change across the fill
(known value), no split on a fill too small to halve, and a colour gradient across a pasted ellipse
split and corrected better than by the served map alone."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from seamrefine.imaging import imagemath
from seamrefine.imaging import metrics as M
from seamrefine.runtime import harmonise, split_map
from seamrefine.runtime.colour_map import ColourMap

SAMPLE = Path(split_map.__file__).resolve().parents[1] / "samples" / "coffee.png"


def offset_map(b: float) -> ColourMap:
    return ColourMap(np.ones(3), np.full(3, b), np.zeros((2, 3)), (0.0, 0.0), 1.0)


def test_split_weight_known_values():
    lo, hi, share = split_map.DEV_LO, split_map.DEV_HI, split_map.SHARE
    big = 1e-9  # a map whose change is tiny: the relative departure is past REL_HI
    assert split_map.split_weight(0.0, big) == 0.0
    assert split_map.split_weight(lo, big) == 0.0
    assert split_map.split_weight(0.5 * (lo + hi), big) == pytest.approx(0.5 * share)
    assert split_map.split_weight(hi, big) == share and split_map.split_weight(10 * hi, big) == share
    # a large map: the same departure counts only in proportion to its size
    rel = 0.5 * (split_map.REL_LO + split_map.REL_HI)
    assert split_map.split_weight(hi, hi / rel) == pytest.approx(0.5 * share)
    assert split_map.split_weight(hi, hi / split_map.REL_LO) == 0.0


def test_split_change_goes_from_one_half_to_the_other():
    # served map: no change; halves: +0.1 and -0.1; t = column / 10 held within -1/2 ... 3/2
    split = split_map.SplitMap(offset_map(0.1), offset_map(-0.1), (1.0, 0.0), 0.0, 10.0, 0.5)
    x = np.full((4, 24, 3), 0.5, np.float32)
    alpha = np.ones((4, 24), np.float32)
    served = np.zeros_like(x)
    out = split.change(served, x, 1, alpha, offset_map(0.0))
    t = np.clip(np.arange(24) / 10.0, -0.5, 1.5)
    expect = 0.5 * ((1 - t) * 0.1 + t * -0.1)
    np.testing.assert_allclose(out[0, :, 0], expect, atol=1e-6)
    assert (served == 0).all()  # the served change is read, not written


def photo() -> np.ndarray:
    return np.asarray(Image.open(SAMPLE).convert("RGB"), np.float32) / 255.0


def test_no_split_on_a_fill_too_small_to_halve():
    x = photo()
    mask = np.zeros(x.shape[:2], np.float32)
    mask[100:110, 100:110] = 1.0
    comp = np.where(mask[..., None] > 0, np.clip(x * 1.2, 0, 1), x).astype(np.float32)
    seam = harmonise.measure(comp, mask).seam
    assert seam.split is None


def gradient_seam() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sample with a hard-edged ellipse whose contrast and brightness rise from the photo's on its
    left to ×1.25 and +0.06 on its right: (composite, mask, clean)."""
    clean = photo()
    h, w = clean.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    inside = ((yy - 200) / 110.0) ** 2 + ((xx - 300) / 170.0) ** 2 < 1.0
    t = np.clip((xx - 130) / 340.0, 0, 1)[..., None]
    mean = clean[inside].mean(0)
    shifted = mean + 1.25 * (clean - mean) + 0.06
    comp = np.where(inside[..., None], np.clip((1 - t) * clean + t * shifted, 0, 1), clean)
    return comp.astype(np.float32), inside.astype(np.float32), clean


def test_a_gradient_is_split_and_corrected_better_than_by_one_map():
    comp, mask, clean = gradient_seam()
    m = harmonise.measure(comp, mask)
    assert m.seam.split is not None and 0 < m.seam.split.weight <= split_map.SHARE
    band = imagemath.band_weights(mask, 16, 8)
    with_split = comp + harmonise.correction(comp, m, 1.0)[0]
    one_map = dataclasses.replace(m, seam=dataclasses.replace(m.seam, split=None))
    without = comp + harmonise.correction(comp, one_map, 1.0)[0]
    gain_with, gain_without = (M.band_psnr(np.clip(o, 0, 1), clean, band) for o in (with_split, without))
    assert gain_with > gain_without + 0.2
    assert (with_split[band == 0] == comp[band == 0]).all()
