"""Refiner with ``output="patch"``: the layer the plug-ins add, composited over the input, is the result."""

from __future__ import annotations

import numpy as np
import pytest
from seamrefine.errors import InputError
from seamrefine.imaging import imagemath as im
from seamrefine.runtime.params import RefineParams

from ..support.synthetic_images import make_image

DTYPES = [np.uint8, np.uint16, np.float16, np.float32]


def _opaque(image):
    image[..., -1] = np.iinfo(image.dtype).max if image.dtype.kind in "ui" else 1.0
    return image


def _over(patch, image):
    top = float(np.iinfo(patch.dtype).max) if patch.dtype.kind in "ui" else 1.0
    a = patch[..., -1:].astype(np.float64) / top
    return a * patch[..., :-1] + (1 - a) * image[..., :-1].astype(np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("params", [RefineParams(output="patch"),
                                    RefineParams(strength=0.5, band=6, output="patch"),
                                    RefineParams(colorspace="linear", output="patch")])
def test_patch_composites_to_the_refined_image(refiners, dtype, params):
    image, mask = make_image(np.random.default_rng(1), dtype=dtype, channels=4)
    image = _opaque(image)
    refined = refiners["blur"].refine(image, mask, RefineParams(params.strength, params.samples, params.band,
                                                                params.colorspace))[0]
    patch, info = refiners["blur"].refine(image, mask, params)
    assert patch.shape == image.shape and patch.dtype == image.dtype
    assert (refined != image).any(), "the fixture model must change something"
    got = _over(patch, image)
    want = refined[..., :3].astype(np.float64)
    if np.dtype(dtype).kind in "ui":
        assert np.abs(got - want).max() <= 0.5 + 1e-9
    else:
        np.testing.assert_allclose(got, want, atol=2e-3 if dtype == np.float16 else 1e-5, rtol=0)
    # transparent outside the band, opaque (and equal to the result) on the mask
    width = params.band if params.band is not None else 16
    band = im.band_weights(mask > 0, width, 8)
    assert (patch[band == 0, 3] == 0).all()
    top = np.iinfo(dtype).max if np.dtype(dtype).kind in "ui" else 1.0
    assert (patch[mask > 0, 3] == top).all()
    np.testing.assert_array_equal(patch[mask > 0, :3], refined[mask > 0, :3])


def test_grey_with_alpha(refiners):
    image, mask = make_image(np.random.default_rng(2), dtype=np.uint8, channels=4)
    image = _opaque(image)
    grey = np.stack([image[..., 0], image[..., 3]], axis=-1)
    refined = refiners["blur"].refine(grey, mask)[0]
    patch = refiners["blur"].refine(grey, mask, RefineParams(output="patch"))[0]
    assert patch.shape == grey.shape
    assert np.abs(_over(patch, grey)[..., 0] - refined[..., 0]).max() <= 1.0


@pytest.mark.parametrize("channels", [3, None])
def test_a_patch_needs_alpha(refiners, channels):
    image, mask = make_image(np.random.default_rng(3), dtype=np.uint8, channels=3)
    if channels is None:
        image = image[..., 0]
    with pytest.raises(InputError, match="needs an image with an alpha channel"):
        refiners["blur"].refine(image, mask, RefineParams(output="patch"))
