"""seamrefine.runtime.grain: the local noise estimate (known values), the floors and features, the
change in both directions (calibrated to the target floor, zero outside the fill, deterministic), the
gate, typed errors; and seamrefine.runtime.classical, which runs it after the texture stage."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from seamrefine.errors import DTypeError, ModelError, ShapeError
from seamrefine.runtime import classical, grain
from seamrefine.runtime.ring_profile import signed_distance
from seamrefine.runtime.seam_gate import GateModel

N = len(grain.GRAIN_FEATURES)


def field(seed: int, h: int = 160, w: int = 200) -> np.ndarray:
    """A smooth colour field (no grain)."""
    rng = np.random.default_rng(seed)
    f = cv2.GaussianBlur(rng.normal(0, 1, (h, w, 3)).astype(np.float32), (0, 0), 8.0)
    return (0.5 + f * (0.06 / f.std())).astype(np.float32)


def disc(h: int = 160, w: int = 200) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return ((yy - 80) / 50) ** 2 + ((xx - 100) / 60) ** 2 <= 1.0


def with_grain(x: np.ndarray, where: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, sigma, x.shape[:2] + (1,)) * 0.8 + rng.normal(0, sigma, x.shape) * 0.6
    return np.where(where[..., None], np.clip(x + noise, 0, 1), x).astype(np.float32)


def always_open() -> GateModel:
    return GateModel(np.zeros(N), np.ones(N), np.zeros(N), 0.0, -10.0, -9.0, grain.GRAIN_FEATURES)


def test_local_noise_known_values():
    yy, xx = np.mgrid[:64, :80].astype(np.float32)
    assert np.abs(grain.local_noise(0.2 + 0.003 * yy - 0.002 * xx)[2:-2, 2:-2]).max() < 1e-5  # planes: 0
    rng = np.random.default_rng(0)
    s = grain.local_noise((0.5 + rng.normal(0, 0.02, (200, 200))).astype(np.float32))
    assert abs(float(np.median(s)) / 0.02 - 1) < 0.05


def test_a_clean_fill_in_a_grainy_photo_measures_too_clean():
    inside = disc()
    x = with_grain(field(1), ~inside, 0.03, 2)
    m = grain.measure_grain(x, inside)
    assert len(m.features) == N and m.ratio < -1.0
    assert m.floors[1] > 0.02 and m.floors[0] < 0.005
    assert grain.channel_floors(x, m)[2] > 0.3  # most of the grain is common to the channels


def test_too_clean_gets_grain_up_to_the_target_floor():
    inside = disc()
    x = with_grain(field(1), ~inside, 0.03, 2)
    sd = signed_distance(inside)
    m = grain.measure_grain(x, inside, sd)
    change = grain.grain_change(x, sd, m, 1.0)
    assert np.all(change[sd <= 0.5] == 0)
    ring = (sd > grain.RING[0]) & (sd <= grain.RING[1])
    luma = (x + change) @ np.array([0.299, 0.587, 0.114], np.float32)
    after = float(np.percentile(grain.local_noise(luma)[ring], grain.PERCENTILE))
    assert abs(after / grain.target_floor(m) - 1) < 0.1
    np.testing.assert_array_equal(change, grain.grain_change(x, sd, m, 1.0))  # deterministic
    np.testing.assert_allclose(grain.grain_change(x, sd, m, 0.5), 0.5 * change, atol=1e-6)


def test_too_noisy_is_denoised_to_the_photo_floor():
    inside = disc()
    base = with_grain(field(3), np.ones_like(inside), 0.01, 4)
    x = with_grain(base, inside, 0.04, 5)
    sd = signed_distance(inside)
    m = grain.measure_grain(x, inside, sd)
    assert m.ratio > 1.0
    change = grain.grain_change(x, sd, m, 1.0)
    assert np.all(change[sd <= 0.5] == 0)
    m2 = grain.measure_grain(np.clip(x + change, 0, 1).astype(np.float32), inside, sd)
    assert abs(m2.ratio) < 0.35
    assert np.abs(x + change - base)[inside].mean() < np.abs(x - base)[inside].mean()  # closer to the truth


def test_the_same_grain_on_both_sides_keeps_the_gate_shut():
    inside = disc()
    x = with_grain(field(6), np.ones_like(inside), 0.02, 7)
    change, info = grain.match_grain(x, inside.astype(np.float32))
    assert info["gate"] == 0.0 and not change.any()


def test_the_shipped_gate_opens_on_a_clean_fill_in_grain():
    inside = disc()
    x = with_grain(field(8), ~inside, 0.03, 9)
    change, info = grain.match_grain(x, inside.astype(np.float32))
    assert info["gate"] > 0 and info["ratio"] < -1.0
    assert change[inside].std() > 0.005 and not change[~inside].any()


def test_empty_full_and_thin_masks_change_nothing():
    x = field(10)
    for mask in (np.zeros((160, 200), np.float32), np.ones((160, 200), np.float32)):
        change, info = grain.match_grain(x, mask)
        assert info == {"gate": 0.0} and not change.any()
    thin = np.zeros((160, 200), bool)
    thin[80, 20:180] = True
    assert grain.measure_grain(x, thin) is None


def test_bad_input_raises_typed_errors():
    with pytest.raises(DTypeError) as e:
        grain.match_grain(field(0).astype(np.float64), disc().astype(np.float32))
    assert "float32" in str(e.value)
    with pytest.raises(ShapeError) as e:
        grain.match_grain(field(0), np.zeros((10, 10), np.float32))
    assert e.value.value == (10, 10)


def test_load_gate_rejects_a_malformed_file(tmp_path):
    p = tmp_path / "g.json"
    p.write_text(json.dumps({"features": ["x"], "mean": [0], "scale": [1], "weights": [0], "bias": 0,
                             "lo": 0, "hi": 1}))
    with pytest.raises(ModelError):
        grain.load_gate(p)
    assert grain.load_gate().features == grain.GRAIN_FEATURES


def test_classical_stage_reports_and_applies_the_grain(monkeypatch):
    inside = disc()
    x = with_grain(field(11), ~inside, 0.03, 12)
    monkeypatch.setattr(grain, "load_gate", always_open)
    change, info = classical.classical_change(x, inside.astype(np.float32))
    assert info["grain"]["gate"] == 1.0
    assert change[inside].std() > 0.005


def test_refiner_lets_the_grained_fill_stand_without_the_network(models):
    from seamrefine.imaging import imagemath as im
    from seamrefine.runtime.inference import Refiner
    from seamrefine.runtime.params import RefineParams

    inside = disc()
    x = with_grain(field(13), ~inside, 0.03, 14)
    mask = inside.astype(np.float32)
    refiner = Refiner(models["blur"], ["CPUExecutionProvider"], threads=1)
    out, info = refiner.refine(x, mask, RefineParams(samples=3))
    assert info["grain"]["gate"] > 0 and info["samples"] == 1
    inner = (signed_distance(inside) > 2) & (signed_distance(inside) <= 16)
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    before, after = (np.percentile(grain.local_noise(im @ luma)[inner], 25) for im in (x, out))
    assert after > 3 * before  # the blur fixture would have smoothed the grain away
    band = im.band_weights(mask, 16, 8)
    assert np.array_equal(out[band == 0], x[band == 0])


def test_close_floors_skip_the_gate():
    inside = disc()
    x = with_grain(field(15), np.ones_like(inside), 0.02, 16)
    m = grain.measure_grain(x, inside, ratio_min=grain.RATIO_MIN)
    assert abs(m.ratio) < grain.RATIO_MIN and m.features == ()
    assert len(grain.measure_grain(x, inside).features) == N  # the trainer's call computes them all
    change, info = grain.match_grain(x, inside.astype(np.float32))
    assert info == {"gate": 0.0, "ratio": m.ratio} and not change.any()
