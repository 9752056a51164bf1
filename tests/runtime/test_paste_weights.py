"""paste_weights: the colour map's per-pixel weights (ramp per ring, per pixel in narrow zones)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from seamrefine.runtime import ring_profile as R
from seamrefine.runtime.paste_weights import PIXEL_ALPHA_MAX_GAP, paste_weights, pixel_alpha

from .test_harmonise import ellipse


def half_pasted(mask: np.ndarray, axis: int):
    """Ring 1 of ``mask``'s fill holds pasted (0.6) and unpasted (0.3) pixels side by side (every
    other one along ``axis``); ring ≥ 2 is pasted. Returns (x, sd, ring, pasted)."""
    sd = R.signed_distance(mask > 0.5)
    ring = np.floor(sd)
    alternate = np.arange(mask.shape[axis]) % 2 == 0
    pasted_px = (ring >= 2) | ((ring == 1) & (alternate[None, :] if axis == 1 else alternate[:, None]))
    x = np.where(pasted_px[..., None], 0.6, 0.3).astype(np.float32) * np.ones(3, np.float32)
    return x, sd, ring, pasted_px


def _pixel_alpha_of(x, ring, zone):
    """``pixel_alpha`` over the whole image, with the ramp 0 / ½ / 1 over ring boundaries 0 … 2."""
    w = np.interp(ring, [0, 1, 2], [0.0, 0.5, 1.0], left=0.0, right=1.0)
    band = np.arange(ring.size)
    got = pixel_alpha(x, band, ring.reshape(-1), w.reshape(-1), zone, 1).reshape(ring.shape)
    return got, w


def test_pixel_alpha_separates_pasted_from_unpasted_pixels_in_a_ring():
    # flat photo 0.3, flat fill 0.6; the paste edge runs between pixel centres, so ring 1 holds
    # pasted and unpasted pixels side by side: each gets its own weight, not the ring's share
    x, _, ring, pasted_px = half_pasted(ellipse(), axis=1)
    got, w = _pixel_alpha_of(x, ring, (1, 1))  # the ramp over boundaries 0 … 2
    r1 = ring == 1
    np.testing.assert_allclose(got[r1 & pasted_px], 1.0, atol=0.02)
    np.testing.assert_allclose(got[r1 & ~pasted_px], 0.0, atol=0.02)
    assert np.array_equal(got[ring != 1], w[ring != 1])  # only the ramp's inner rings are re-weighted


def test_pixel_alpha_at_the_image_border():
    # a fill that runs off three sides of the image: its ramp's box reaches the border
    mask = np.zeros((60, 80), np.float32)
    mask[:, :40] = 1.0
    x, _, ring, pasted_px = half_pasted(mask, axis=0)
    got, w = _pixel_alpha_of(x, ring, (1, 1))
    r1 = ring == 1
    np.testing.assert_allclose(got[r1 & pasted_px], 1.0, atol=0.02)
    np.testing.assert_allclose(got[r1 & ~pasted_px], 0.0, atol=0.02)
    assert np.array_equal(got[ring != 1], w[ring != 1]) and got.shape == w.shape


def test_pixel_alpha_without_a_ramp_pixel_changes_nothing():
    ring = np.array([-3.0, -1.0, 4.0])
    w = np.array([0.0, 0.0, 1.0])
    x = np.zeros((1, 3, 3), np.float32)
    assert pixel_alpha(x, np.arange(3), ring, w, (0, 1), 1) is w


def reference_weights(x, sd, f, ramp, zone, conf, reach):
    """The weights as computed before the ring lookup was confined to the zone (twenty-sixth
    session): every pixel's ring looked up, per-pixel weights over the whole image."""
    edges, share = ramp
    ring = np.floor(sd / f)
    lo, hi = int(edges[0]) - 1, int(edges[-1]) + 1
    lut = np.interp(np.arange(lo, hi + 1), edges, share, left=0.0, right=1.0)
    w = lut[np.clip(ring, lo, hi).astype(np.intp) - lo] * (sd > -reach)
    if zone[1] <= PIXEL_ALPHA_MAX_GAP:
        w = pixel_alpha(x, np.arange(w.size), ring.reshape(-1), w.reshape(-1), zone, f).reshape(w.shape)
    return (conf * w).astype(np.float32)


@pytest.mark.parametrize(("zone", "f", "reach"), [((1, 1), 1, 16), ((-2, 2), 1, 3), ((4, 5), 1, 16),
                                                  ((0, 1), 2, 16), ((5, 0), 1, 0)])
def test_paste_weights_are_the_whole_image_lookup_bit_for_bit(zone, f, reach):
    rng = np.random.default_rng(3)
    mask = cv2.GaussianBlur(rng.random((150, 170)).astype(np.float32), (0, 0), 12) > 0.5
    sd = R.signed_distance(mask)
    x = rng.random((*mask.shape, 3)).astype(np.float32)
    s, g = zone
    edges = np.arange(s - g, s + g + 1).astype(np.float64)
    share = np.sort(rng.random(edges.size))
    share = (share - share[0]) / (share[-1] - share[0]) if edges.size > 1 else np.ones(1)
    got = paste_weights(x, sd, f, (edges, share), zone, 0.7, reach)
    want = reference_weights(x, sd, f, (edges, share), zone, 0.7, reach)
    assert got.dtype == np.float32 and got.shape == mask.shape
    np.testing.assert_array_equal(got, want)
    # known values: conf past the zone, 0 before it and beyond the reach
    assert np.all(got[sd >= (s + g + 1) * f] == np.float32(0.7))
    assert not got[(sd < (s - g - 1) * f) | (sd <= -reach)].any()
