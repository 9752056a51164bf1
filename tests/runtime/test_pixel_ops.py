"""pixel_ops: OpenCV's passes give numpy's floats."""

from __future__ import annotations

import numpy as np
import pytest
from seamrefine.runtime.pixel_ops import add_clipped, clip_unit


@pytest.mark.parametrize("shape", [(64, 48, 3), (1, 1, 3), (4, 4), (1, 1, 1), (3,)])
def test_add_clipped_is_numpys_clip_of_the_sum_bit_for_bit(shape):
    # small 1-D shapes included: OpenCV would read a length-≤ 4 vector as a scalar
    rng = np.random.default_rng(1)
    a = (rng.random(shape, dtype=np.float32) * 2 - 0.5).astype(np.float32)
    b = (rng.random(shape, dtype=np.float32) * 0.4 - 0.2).astype(np.float32)
    got = add_clipped(a, b)
    assert got.shape == a.shape and got.dtype == np.float32
    np.testing.assert_array_equal(got, np.clip(a + b, 0.0, 1.0))


def test_add_clipped_known_values_and_non_contiguous_input():
    a = np.array([[[-0.5, 0.25, 0.9]]], np.float32)
    b = np.array([[[0.25, 0.5, 0.2]]], np.float32)
    np.testing.assert_array_equal(add_clipped(a, b), [[[0.0, 0.75, 1.0]]])
    wide = np.zeros((4, 6, 3), np.float32) + 0.75
    np.testing.assert_array_equal(add_clipped(wide[:, ::2], wide[:, 1::2]), np.ones((4, 3, 3)))


def test_add_clipped_rejects_other_dtypes_and_shapes_by_name():
    a = np.zeros((2, 2, 3), np.float32)
    with pytest.raises(TypeError, match=r"float32 arrays of one shape, got float64\(2, 2, 3\)"):
        add_clipped(a.astype(np.float64), a)
    with pytest.raises(TypeError, match=r"\(2, 2, 3\) and float32\(2, 2\)"):
        add_clipped(a, a[..., 0])


def test_clip_unit_in_place_and_on_strided_views():
    rng = np.random.default_rng(2)
    a = (rng.random((30, 20, 3), dtype=np.float32) * 3 - 1).astype(np.float32)
    want = np.clip(a, 0.0, 1.0)
    b = a.copy()
    assert clip_unit(b) is b
    np.testing.assert_array_equal(b, want)
    c = a.copy()
    view = c[:, ::2]
    clip_unit(view)  # not contiguous: numpy's own clip, still in place
    np.testing.assert_array_equal(c[:, ::2], want[:, ::2])
    np.testing.assert_array_equal(c[:, 1::2], a[:, 1::2])
