"""seamrefine_train.train_content_step: a case's samples and targets, the rank statistic's known
values, a smoke run of the CLI, and its refusal of an empty photo folder."""

from __future__ import annotations

import json

import numpy as np
from seamrefine.runtime import content_step
from seamrefine_train import train_content_step as T
from seamrefine_train.synthesis import Case

from ..support.synthetic_images import photo_folder
from .test_colour_ceiling import drifted_fill


def test_case_samples_target_the_clean_photos_step():
    clean, fill, _, _ = drifted_fill()
    mask = np.zeros(clean.shape[:2], np.float32)
    mask[24:72, 20:76] = 1
    comp = np.where(mask[..., None] > 0, fill, clean).astype(np.float32)
    feats, target = T.case_samples(Case(comp, mask, clean, "color_gradient", {}, mask.copy()))
    assert feats.shape == (len(target), len(content_step.FEATURES)) and len(target) >= 16
    assert np.isfinite(feats).all() and np.isfinite(target).all()
    # known value: a flat photo has no step of its own, whatever the fill's drift: log(0 + 1e-3)
    flat = np.full_like(clean, 0.4)
    drifted = np.where(mask[..., None] > 0, flat + 0.08, flat).astype(np.float32)
    _, target = T.case_samples(Case(drifted, mask, flat, "color_uniform", {}, mask.copy()))
    np.testing.assert_allclose(target, np.log(1e-3), atol=1e-3)  # float32 box means: steps ~1e-7


def test_within_case_rank_known_values():
    y = np.arange(40.0)
    cases = np.repeat([0, 1], 20)
    assert T.within_case_rank(y, y, cases) == 1.0
    flipped = np.where(cases == 1, -y, y)  # one case ranked backwards: mean of 1 and −1
    assert abs(T.within_case_rank(flipped, y, cases)) < 1e-12
    assert np.isnan(T.within_case_rank(y[:10], y[:10], np.zeros(10)))  # no case with 20 samples


def test_cli_smoke(tmp_path, capsys):
    out = tmp_path / "content_step.json"
    (tmp_path / "photos").mkdir()
    argv = ["--photos", str(photo_folder(tmp_path / "photos")), "--per-family", "1", "--sizes", "128",
            "--seeds", "1", "--held-out", "2", "--hidden", "2", "--out", str(out)]
    assert T.main(argv) == 0
    model = content_step.load(out)
    assert model.features == content_step.FEATURES and model.hidden.shape == (2, len(content_step.FEATURES))
    record = json.loads(out.read_text())["training"]
    assert record["samples"] > 0 and "--hidden 2" in record["command"]
    assert "held_out_rank" in json.loads(capsys.readouterr().out)


def test_cli_refuses_a_folder_without_photos(tmp_path, capsys):
    assert T.main(["--photos", str(tmp_path)]) == 2
    assert "train_content_step:" in capsys.readouterr().err
