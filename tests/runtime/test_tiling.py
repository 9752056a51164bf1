"""The tile engine (seamrefine.runtime.tiling) through the Refiner: exact tiling, blend weights, noise,
cancel."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from seamrefine.errors import CancelledError
from seamrefine.runtime.session import ModelSession
from seamrefine.runtime.tiling import REDUCED_MASK_FLOOR, axis_tiles, hash_noise, run_reduced

from ..support.onnx_fixture import reference_refine
from ..support.synthetic_images import make_image


def test_tiling_is_exact_for_pointwise_model(refiners):
    image, mask = make_image(np.random.default_rng(8), h=200, w=260, dtype=np.float32)
    calls = []
    tiled, info = refiners["pointwise_tiled"].refine(image, mask, progress=lambda d, t: calls.append((d, t)))
    assert info["tiles"] > 4
    np.testing.assert_allclose(tiled, refiners["pointwise"].refine(image, mask)[0], atol=2e-6)
    assert calls == [(i + 1, len(calls)) for i in range(len(calls))]


def test_tiling_blur_has_no_seams(refiners):
    image, mask = make_image(np.random.default_rng(9), h=200, w=260, dtype=np.float32)
    tiled = refiners["blur_tiled"].refine(image, mask)[0]
    plain = refiners["blur"].refine(image, mask)[0]
    diff = np.abs(tiled - plain)
    # only the 2-px blur footprint at tile borders differs, and the cosine blend all but hides it
    assert diff.max() < 0.005 and diff.mean() < 2e-5
    ys, xs = np.nonzero(mask)
    inner = (slice(ys.min() + 2, ys.max() - 1), slice(xs.min() + 2, xs.max() - 1))
    grad = np.abs(np.diff(tiled[inner], axis=1)).mean(axis=(0, 2))
    assert grad.max() < 3 * np.median(grad)  # no column stands out as a seam


def _tile(h, w, colour, box):
    rgb = np.zeros((h, w, 3), np.float32) + np.asarray(colour, np.float32)
    mask = np.zeros((h, w), np.float32)
    mask[box[0] : box[1], box[2] : box[3]] = 1.0
    return rgb, mask


def test_reduced_run_is_the_plain_run_up_to_net_pixels(models):
    session = ModelSession(models["pointwise"], ["CPUExecutionProvider"], threads=1)
    rng = np.random.default_rng(3)
    rgb = rng.random((40, 48, 3), dtype=np.float32)
    mask = (rng.random((40, 48)) < 0.5).astype(np.float32)
    plain = session.run(rgb.transpose(2, 0, 1)[None], mask[None, None])[0].transpose(1, 2, 0)
    np.testing.assert_array_equal(run_reduced(session, rgb, mask, 40 * 48), plain)
    np.testing.assert_array_equal(run_reduced(session, rgb, mask, None), plain)


def test_reduced_run_known_values_of_a_flat_fill(models):
    """A flat colour under a hard rectangle: the pointwise model's change (−0.2·x + 0.1 inside the mask)
    comes back exactly wherever the upsampled reduced mask reaches the floor, never outside the mask."""
    session = ModelSession(models["pointwise"], ["CPUExecutionProvider"], threads=1)
    rgb, mask = _tile(160, 192, (0.3, 0.2, 0.7), (37, 121, 50, 150))
    got = run_reduced(session, rgb, mask, 40 * 48)
    assert got.shape == rgb.shape and got.dtype == np.float32
    want = reference_refine("pointwise", rgb, mask)
    inside = mask > 0
    assert not (got != rgb)[~inside].any()
    core = np.zeros_like(inside)
    core[37 + 4 : 121 - 4, 50 + 4 : 150 - 4] = True  # ≥ one reduced pixel from the edge
    np.testing.assert_allclose(got[core], want[core], atol=2e-6)
    # at the edge the change is the normalised one: at least the floor's share of the full change
    share = (got - rgb)[inside & ~core] / (want - rgb)[inside & ~core]
    assert share.min() >= REDUCED_MASK_FLOOR - 1e-5 and share.max() <= 1.0 + 1e-5


def test_refiner_runs_reduced_tiles_when_the_manifest_asks(refiners):
    image, mask = make_image(np.random.default_rng(12), h=160, w=200, dtype=np.float32)
    plain = refiners["pointwise"].refine(image, mask)[0]
    reduced = refiners["pointwise_reduced"].refine(image, mask)[0]
    diff = np.abs(reduced - plain)
    assert 0 < diff.max() < 0.2  # a textured fill: the reduced change is smooth, the plain one per pixel
    assert diff.mean() < 0.01


def test_hash_noise_is_tiling_independent():
    whole = hash_noise(7, 0, 16, 0, 24, 24)
    part = hash_noise(7, 4, 12, 10, 20, 24)
    np.testing.assert_array_equal(part, whole[4:12, 10:20])
    assert whole.min() >= -1 and whole.max() < 1 and abs(whole.mean()) < 0.1
    assert not np.array_equal(whole, hash_noise(8, 0, 16, 0, 24, 24))


@pytest.mark.parametrize(
    ("length", "tile", "overlap"), [(40, 64, 16), (200, 64, 16), (136, 64, 0), (520, 512, 64)]
)
def test_axis_tiles_partition_of_unity(length, tile, overlap):
    tiles = axis_tiles(length, tile, overlap)
    total = np.zeros(length)
    for start, w in tiles:
        assert start >= 0 and start + len(w) <= length and (w > 0).all()
        total[start : start + len(w)] += w
    np.testing.assert_allclose(total, 1.0, atol=1e-6)
    starts = [s for s, _ in tiles]
    assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:], strict=False))


def test_cancel_before_and_during(refiners):
    image, mask = make_image(np.random.default_rng(12), h=200, w=260)
    before = image.copy()
    ev = threading.Event()
    ev.set()
    with pytest.raises(CancelledError, match="cancelled"):
        refiners["blur_tiled"].refine(image, mask, cancel=ev)
    ev.clear()
    seen = []

    def progress(done, total):
        seen.append(done)
        if done == 2:
            ev.set()

    with pytest.raises(CancelledError) as e:
        refiners["blur_tiled"].refine(image, mask, cancel=ev, progress=progress)
    assert e.value.code == "cancelled" and seen == [1, 2]
    np.testing.assert_array_equal(image, before)


@pytest.mark.parametrize("strength", [1.0, 0.5])
def test_a_band_measured_beforehand_composites_the_same(refiners, strength):
    from seamrefine.imaging.imagemath import band_weights
    from seamrefine.runtime.tiling import TileJob

    image, mask = make_image(np.random.default_rng(10), h=120, w=150, dtype=np.float32)
    session = refiners["blur"].session
    band = band_weights(mask, 16, 8)
    kept = band.copy()
    outs = []
    for given in (None, band):
        dest = np.empty_like(image)
        TileJob(session, image, mask, 16, 8, strength, False, band=given).run(dest, None, lambda: None, None)
        outs.append(dest)
    assert np.array_equal(outs[0], outs[1]) and not np.array_equal(outs[0], image)
    assert np.array_equal(band, kept)  # the strength scales a copy, never the caller's band
