"""The patch layer (imaging/patch.py): composited over the source it gives the refined image."""

from __future__ import annotations

import numpy as np
import pytest
from seamrefine.imaging import imagemath as im
from seamrefine.imaging.patch import patch_image, patch_layer

DTYPES = [np.uint8, np.uint16, np.float16, np.float32]


def _case(dtype, seed=0, size=48, strength=1.0, alpha=None):
    """A source, the refined image the refiner would write (source + strength·w·Δ) and the band w."""
    rng = np.random.default_rng(seed)
    rgb = rng.uniform(0, 1, (size, size, 3)).astype(np.float32)
    rgb[:4] = 0.0
    rgb[-4:] = 1.0  # colours at the ends of the range, where P has the least room
    a = np.ones((size, size, 1), np.float32) if alpha is None else alpha[..., None]
    source = im.from_float(rgb, np.zeros((size, size, 4), dtype))
    if np.dtype(dtype).kind in "ui":
        source[..., 3] = np.rint(a[..., 0] * np.iinfo(dtype).max)
    else:
        source[..., 3] = a[..., 0]
    mask = np.zeros((size, size), np.uint8)
    mask[12:36, 14:34] = 255
    w = im.band_weights(mask, 4, 6)
    target = np.clip(rgb + rng.normal(0, 0.2, rgb.shape), 0, 1)  # the model answers within [0, 1]
    change = (target - im.to_float(source)[0]).astype(np.float32)
    refined = im.add_change_in_band(source, change, w * np.float32(strength))
    return source, refined, w


def _over(patch, source):
    """"Normal" compositing of ``patch`` over opaque colours ``source``, per channel, in float."""
    top = float(np.iinfo(patch.dtype).max) if patch.dtype.kind in "ui" else 1.0
    a = patch[..., 3:].astype(np.float64) / top
    return a * patch[..., :3] + (1 - a) * source[..., :3].astype(np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("strength", [1.0, 0.4])
def test_over_the_source_the_patch_gives_the_refined_image(dtype, strength):
    source, refined, w = _case(dtype, strength=strength)
    patch = patch_layer(source, refined, w)
    assert patch.shape == source.shape and patch.dtype == source.dtype
    got = _over(patch, source)
    if np.dtype(dtype).kind in "ui":  # within half a code value before the host rounds
        assert np.abs(got - refined[..., :3]).max() <= 0.5 + 1e-9
    else:
        tol = 2e-3 if dtype == np.float16 else 1e-6
        np.testing.assert_allclose(got, refined[..., :3].astype(np.float64), atol=tol, rtol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_alpha_is_the_bands_feather_and_zero_outside(dtype):
    source, refined, w = _case(dtype)
    patch = patch_layer(source, refined, w)
    top = np.iinfo(dtype).max if np.dtype(dtype).kind in "ui" else 1.0
    alpha = patch[..., 3].astype(np.float64) / top
    assert (alpha[w == 0] == 0).all()
    assert (alpha[w == 1] == 1).all()
    # inside the feather the alpha is the band's weight, raised only where P would leave the range
    step = 1 / top if np.dtype(dtype).kind in "ui" else 1e-3
    assert (alpha >= w - step).all()
    margin = 0.02 * top
    inside = ((patch[..., :3] > margin) & (patch[..., :3] < top - margin)).all(-1)  # P not at a range end
    assert (np.abs(alpha - w) <= step)[inside & (w > 0)].all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_where_the_band_is_opaque_the_patch_is_the_refined_image(dtype):
    source, refined, w = _case(dtype)
    patch = patch_layer(source, refined, w)
    np.testing.assert_array_equal(patch[w == 1, :3], refined[w == 1, :3])


def test_integer_colours_stay_in_range_at_the_ends():
    source, refined, w = _case(np.uint8, seed=3)
    patch = patch_layer(source, refined, w)
    assert np.abs(_over(patch, source) - refined[..., :3]).max() <= 0.5 + 1e-9
    assert ((patch[..., 3] > 0) | (refined[..., :3] == source[..., :3]).all(-1)).all()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_layers_with_alpha(dtype):
    """The patch's alpha is the feather times the source's: nothing is painted where the source is
    transparent, and where the source is opaque the composite is the refined image."""
    size = 48
    a = np.ones((size, size), np.float32)
    a[:, :16] = 0.0  # a transparent part of the layer
    a[:, 16:24] = 0.5
    source, refined, w = _case(dtype, alpha=a)
    patch = patch_layer(source, refined, w)
    full = patch_layer(np.concatenate([source[..., :3], np.full_like(source[..., 3:], source[0, -1, 3])], -1),
                       refined, w)  # the same layer with its alpha made opaque
    np.testing.assert_array_equal(patch[..., :3], full[..., :3])
    assert (patch[:, :16, 3] == 0).all()
    top = np.iinfo(dtype).max if np.dtype(dtype).kind in "ui" else 1.0
    np.testing.assert_allclose(patch[:, 16:24, 3].astype(np.float64),
                               full[:, 16:24, 3].astype(np.float64) * 0.5, atol=0.5 if top > 1 else 1e-6)
    opaque = a == 1
    np.testing.assert_array_equal(patch[opaque], full[opaque])
    got = _over(patch, source)[opaque]
    assert np.abs(got - refined[opaque][..., :3]).max() <= (0.5 + 1e-9 if top > 1 else 1e-5)


def test_grey_and_alpha():
    source, refined, w = _case(np.uint8)
    grey_s = source[..., [0, 3]].copy()
    grey_r = refined[..., [0, 3]].copy()
    patch = patch_layer(grey_s, grey_r, w)
    a = patch[..., 1:].astype(np.float64) / 255
    got = a[..., 0] * patch[..., 0] + (1 - a[..., 0]) * grey_s[..., 0]
    assert np.abs(got - grey_r[..., 0]).max() <= 0.5 + 1e-9


def test_patch_image_is_transparent_outside_the_box():
    source, refined, w = _case(np.uint16)
    box = im.Box(4, 44, 6, 40)
    out = patch_image(source, refined, w[box.slices], box)
    outside = np.ones(source.shape[:2], bool)
    outside[box.slices] = False
    assert (out[outside, 3] == 0).all()
    np.testing.assert_array_equal(out[box.slices], patch_layer(source[box.slices], refined[box.slices],
                                                               w[box.slices]))


def test_bad_shapes():
    source, refined, w = _case(np.uint8)
    with pytest.raises(ValueError, match="alpha channel"):
        patch_layer(source[..., :3], refined[..., :3], w)
    with pytest.raises(ValueError, match="weight"):
        patch_layer(source, refined, w[1:])
    with pytest.raises(ValueError, match="refined"):
        patch_layer(source, refined.astype(np.uint16), w)
