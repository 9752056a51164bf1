"""seamrefine.runtime.content_edge: the shipped check, a known-value check file, errors, and what
harmonise and the classical stage do where it fires."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from seamrefine.errors import ModelError
from seamrefine.imaging import imagemath
from seamrefine.imaging import metrics as M
from seamrefine.runtime import classical, content_edge, seam_gate
from seamrefine.runtime import harmonise as H

from ..support.synthetic_images import gaussian_blur
from .test_harmonise import ellipse, pasted, texture


def check_file(tmp_path, threshold_change: float):
    """A check that reads only the log mean change and fires from ``threshold_change`` on."""
    n = len(content_edge.FEATURES)
    weights = [0.0] * (n - 1) + [1.0]
    lo = math.log(threshold_change + content_edge.MEAN_CHANGE_FLOOR)
    doc = {"features": list(content_edge.FEATURES), "mean": [0.0] * n, "scale": [1.0] * n,
           "weights": weights, "bias": 0.0, "lo": lo, "hi": lo + 1.0}
    path = tmp_path / "content_edge.json"
    path.write_text(json.dumps(doc))
    seam_gate.forget(path)
    return path


def test_the_shipped_check_loads_and_answers():
    model = content_edge.load()
    assert model.features == content_edge.FEATURES and len(model.features) == len(seam_gate.FEATURES) + 1
    features = (0.5,) * len(seam_gate.FEATURES)
    assert isinstance(content_edge.follows_content_edge(features, 0.02), bool)
    assert content_edge.follows_content_edge((), 0.3) is False  # no seam measured: nothing to check
    doc = json.loads(content_edge.PATH.read_text())
    command = "python -m seamrefine_train train_content_edge --cases 3000 --aligned 1200"
    assert doc["training"]["command"].startswith(command)


def test_known_values(tmp_path):
    path = check_file(tmp_path, 0.05)
    features = (1.0,) * len(seam_gate.FEATURES)
    np.testing.assert_allclose(content_edge.features(features, 0.05)[-1], math.log(0.05 + 1e-4))
    assert content_edge.logit(features, 0.05, path) == pytest.approx(math.log(0.0501))
    assert content_edge.follows_content_edge(features, 0.06, path)
    assert not content_edge.follows_content_edge(features, 0.04, path)


def test_a_malformed_file_is_named(tmp_path):
    path = tmp_path / "content_edge.json"
    path.write_text(json.dumps({"features": ["x"]}))
    with pytest.raises(ModelError, match="do not match") as e:
        content_edge.load(path)
    assert e.value.value == ["x"]
    with pytest.raises(ModelError, match="cannot read the content-edge check"):
        content_edge.load(tmp_path / "missing.json")


def test_where_it_fires_a_sure_seam_is_held_at_the_cap(monkeypatch):
    clean, mask = texture(3), ellipse()
    comp = pasted(clean, mask, clean + np.float32([0.06, 0.02, -0.03]))
    m = H.measure(comp, mask)
    monkeypatch.setattr(H.content_edge, "follows_content_edge", lambda *a: False)
    served, info = H.apply(comp, m)
    assert info["gate"] == 1.0 and info["content_edge"] is False
    monkeypatch.setattr(H.content_edge, "follows_content_edge", lambda *a: True)
    held, info = H.apply(comp, m)
    assert info["content_edge"] is True and info["confidence"] == 1.0 and 0.0 < info["gate"] <= H.CAPPED_MAX
    full, _ = H.correction(comp, m, 1.0)
    np.testing.assert_allclose(held, full * np.float32(info["gate"]), atol=1e-7)
    band = imagemath.band_weights(mask, *H.CAP_BAND)
    assert M.band_psnr(comp + held, comp, band) >= H.CAP_DB - 0.1  # within the cap of the input
    assert M.band_psnr(comp + served, comp, band) < H.CAP_DB - 3


def test_where_it_fires_no_edge_membrane_runs(monkeypatch):
    clean = texture(5)
    mask = ellipse()
    comp = pasted(clean, mask, clean + np.float32([0.05, 0.05, 0.05]))
    confidences = []

    def membrane(x, inside, edge_z, gap, confidence, sigma):
        confidences.append(confidence)
        return np.zeros_like(x), {"gate": 0.0}

    monkeypatch.setattr(classical.edge_membrane, "edge_membrane", membrane)
    monkeypatch.setattr(H.content_edge, "follows_content_edge", lambda *a: False)
    classical.classical_change(comp, mask)
    monkeypatch.setattr(H.content_edge, "follows_content_edge", lambda *a: True)
    classical.classical_change(comp, mask)
    assert confidences[0] > 0 and confidences[-1] == 0.0


def sky_over_grass(seed: int, h: int = 192, w: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """A smooth blue sky over textured grass along a wavy horizon, and the sky's mask: what a magic
    wand selects to regenerate the sky."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    sky = yy < h * 0.4 + 10 * np.sin(xx / 23.0 + seed) + 5 * np.sin(xx / 7.0)
    blue = np.stack([0.45 + 0.1 * yy / h, 0.6 + 0.1 * yy / h, np.full_like(yy, 0.85)], -1)
    grain = gaussian_blur(rng.normal(0, 0.08, (h, w, 3)).astype(np.float32), 1.5)
    grass = np.float32([0.3, 0.45, 0.2]) + grain
    img = np.where(sky[..., None], blue, grass) + rng.normal(0, 0.01, (h, w, 3))
    return np.clip(img, 0, 1).astype(np.float32), sky.astype(np.float32)


@pytest.mark.parametrize("seed", [0, 3])
def test_a_sky_selected_along_the_horizon_stays_as_it_was(seed):
    img, mask = sky_over_grass(seed)
    change, info = classical.classical_change(img, mask)
    # the map from grass to sky is refused as too large for a seam; the membrane of the horizon's
    # jump ran all the same before the forty-fifth session and turned the sky to grass (9 dB)
    assert info["harmonise"]["refused_mean_change"] > H.MAX_MEAN_CHANGE and info["membrane"]["gate"] == 0.0
    assert not change.any()
