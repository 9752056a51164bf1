"""seamrefine.runtime.content_step: the per-sample features, the weights' known values, the shipped
model and its guards, and the seam finder's use of it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from seamrefine.errors import ModelError
from seamrefine.runtime import content_step as CS
from seamrefine.runtime import harmonise, seam_gate

from .test_colour_map import profile_of
from .test_harmonise import ellipse, pasted, texture


def seam_profile():
    clean, mask = texture(3), ellipse()
    return profile_of(pasted(clean, mask, np.clip(clean * 1.1 + 0.04, 0, 1)), mask)


def test_sample_features_smoke():
    profile = seam_profile()
    feats = CS.sample_features(profile, 0, 0)
    assert feats.shape == (profile.num.shape[1], len(CS.FEATURES)) and feats.dtype == np.float32
    assert np.isfinite(feats).all()
    assert len(set(CS.FEATURES)) == len(CS.FEATURES) == 23


def test_sample_weights_known_value():
    n = len(CS.FEATURES)
    constant = seam_gate.GateModel(np.zeros(n), np.ones(n), np.zeros(n), -3.0, 0.0, 1.0, CS.FEATURES)
    w = CS.sample_weights(seam_profile(), 0, 0, constant)  # every sample predicts a step of e^-3
    np.testing.assert_allclose(w, 1.0 / (np.exp(-6.0) + CS.EPS**2), rtol=1e-12)


def test_the_shipped_model_weighs_large_predicted_steps_down():
    model = CS.load()
    assert model.features == CS.FEATURES and model.hidden is not None
    profile = seam_profile()
    w = CS.sample_weights(profile, 0, 0)
    assert w.shape == (profile.num.shape[1],) and np.isfinite(w).all() and (w > 0).all()
    assert w.max() <= 1.0 / CS.EPS**2
    predicted = model.logits(CS.sample_features(profile, 0, 0))
    assert np.corrcoef(predicted, w)[0, 1] < 0
    record = json.loads(CS.DEFAULT_PATH.read_text())["training"]
    assert record["held_out_rank"] > 0.7 and "train_content_step" in record["command"]


def test_load_names_the_model_when_the_file_is_missing_or_wrong(tmp_path):
    with pytest.raises(ModelError, match="content-step model"):
        CS.load(tmp_path / "absent.json")
    doc = json.loads(CS.DEFAULT_PATH.read_text())
    doc["features"] = doc["features"][:-1]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(ModelError, match="features"):
        CS.load(bad)


def test_find_seam_weighs_only_the_map():
    profile = seam_profile()
    weighed, plain = harmonise.find_seam(profile), harmonise.find_seam(profile, weigh=False)
    assert (weighed.position, weighed.gap, weighed.features) == (plain.position, plain.gap, plain.features)
    assert not np.array_equal(weighed.colour_map.offset, plain.colour_map.offset)
    # the fill is 1.1·photo + 0.04: the map back is photo = fill / 1.1 − 0.04 / 1.1
    np.testing.assert_allclose(weighed.colour_map.gain, np.eye(3) / 1.1, atol=0.05)
    np.testing.assert_allclose(weighed.colour_map.offset, -0.04 / 1.1, atol=0.03)
