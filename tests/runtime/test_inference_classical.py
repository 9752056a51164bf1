"""Refiner with its classical stage before the network (real onnxruntime, fixture models, CPU)."""

from __future__ import annotations

import numpy as np
from seamrefine.imaging import imagemath as im
from seamrefine.runtime.inference import Refiner
from seamrefine.runtime.params import RefineParams

from ..support.synthetic_images import make_image, photo

CPU_ONLY = ["CPUExecutionProvider"]


def test_classical_stage_removes_the_colour_step_before_the_model(models):
    rng = np.random.default_rng(7)
    image, mask = make_image(rng, 160, 200, np.float32)
    clean = image.copy()
    inside = mask > 0
    clean[inside] -= 0.1  # make_image's fill is 0.1 brighter (plus grain)
    both = Refiner(models["pointwise"], CPU_ONLY, threads=1)
    model_only = Refiner(models["pointwise"], CPU_ONLY, threads=1, classical=False)
    out, info = both.refine(image, mask)
    plain = model_only.refine(image, mask)[0]
    assert info["harmonise"]["gate"] == 1.0 and info["harmonise"]["position"] == 0
    band = im.band_weights(mask.astype(np.float32) / 255, 16, 8)
    assert np.array_equal(out[band == 0], image[band == 0])  # still nothing outside the band
    # the pointwise fixture model pulls colours by 0.8·x + 0.1; with the step removed first, the
    # fill and its surroundings are pulled alike, so the step across the edge nearly vanishes
    ring_in = inside & ~np.roll(inside, 3, 0)
    ring_out = np.roll(ring_in, -3, 0) & ~inside
    step = lambda a: abs(float(a[ring_in].mean() - a[ring_out].mean()))  # noqa: E731
    assert step(out) < 0.25 * step(plain)


def test_a_capped_colour_change_stands_without_the_network(models, monkeypatch):
    from seamrefine.runtime import classical, harmonise

    rng = np.random.default_rng(4)
    clean = np.clip(0.45 + 0.1 * rng.standard_normal((96, 112, 3)), 0, 1).astype(np.float32)
    mask = np.zeros((96, 112), np.float32)
    mask[30:70, 35:85] = 1.0
    comp = np.where(mask[..., None] > 0, np.clip(clean + 0.05, 0, 1), clean).astype(np.float32)
    # the seam gate unsure: below its ramp, above capped_from()
    monkeypatch.setattr(harmonise, "gate", lambda seam: 0.0)
    monkeypatch.setattr(harmonise, "gate_logit", lambda seam: harmonise.capped_from() + 1.0)
    out, info = Refiner(models["blur"], CPU_ONLY, threads=1).refine(comp, mask, RefineParams(samples=3))
    assert "capped_rms" in info["harmonise"] and info["samples"] == 1
    change, _ = classical.classical_change(comp, mask)
    inside = mask > 0
    np.testing.assert_allclose(out[inside], np.clip(comp + change, 0, 1)[inside], atol=1e-6)  # not blurred


def test_without_a_seam_the_image_comes_back_unchanged_and_the_network_does_not_run(models):
    """No stage of the classical stage sees a seam on a clean photo: the pointwise fixture, which
    pulls every colour, is not run and every pixel comes back as it was; with a seam it runs."""
    clean = photo(3, 160)
    mask = np.zeros((160, 160), np.uint8)
    mask[50:110, 40:120] = 255
    refiner = Refiner(models["pointwise"], CPU_ONLY, threads=1)
    seen = []
    out, info = refiner.refine(clean, mask, RefineParams(samples=2), progress=lambda d, t: seen.append(d))
    assert all(info[k]["gate"] == 0 for k in ("harmonise", "membrane", "texture", "grain", "jpeg"))
    np.testing.assert_array_equal(out, clean)
    assert info["tiles"] == 0 and info["samples"] == 1 and not seen
    assert info["seam_score_after"] == info["seam_score_before"] and info["changed"] is False
    seam = np.where(mask[..., None] > 0, np.clip(clean + np.float32([0.08, 0.05, 0.02]), 0, 1), clean)
    out, info = refiner.refine(seam.astype(np.float32), mask)
    assert info["harmonise"]["gate"] > 0 and info["tiles"] > 0 and info["changed"] is True
    band = im.band_weights(mask > 0, 16, 8)
    assert not np.array_equal(out[band > 0], seam[band > 0])
    assert refiner.refine(seam.astype(np.float32), mask, RefineParams(strength=0))[1]["changed"] is False
    quiet, info = refiner.refine(seam.astype(np.float32), mask, RefineParams(scores=False))
    np.testing.assert_array_equal(quiet, out)  # the scores only report: the same pixels without them
    assert info["seam_score_before"] is None and info["seam_score_after"] is None and info["changed"]
    pooled = refiner.refine(seam.astype(np.float32), mask, RefineParams(samples=2, scores=False))[1]
    assert len(pooled["sample_scores"]) == 2 and pooled["seam_score_after"] is not None  # pooling scores


def test_a_reduced_measurement_shares_one_full_resolution_distance(monkeypatch):
    # the seam found on a reduced image: the correction, texture, grain and JPEG stages all use the
    # signed distance measure() holds, so it is computed once at full resolution
    from seamrefine.runtime import classical, grain, harmonise, jpeg_match, ring_profile, texture

    monkeypatch.setattr(harmonise, "WORK_PIXELS", 20_000)
    shapes = []

    def counted(inside):
        shapes.append(inside.shape)
        return ring_profile.signed_distance(inside)

    for module in (harmonise, texture, grain, jpeg_match):
        monkeypatch.setattr(module, "signed_distance", counted)
    comp, mask = photo(3, 192), np.zeros((192, 192), np.float32)
    mask[40:150, 50:150] = 1.0
    comp[40:150, 50:150] *= np.float32(1.1)
    _, info = classical.classical_change(comp, mask)
    assert info["harmonise"]["scale"] == 2
    assert shapes.count((192, 192)) == 1 and len(shapes) == 2  # full resolution once, working once
