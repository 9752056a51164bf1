"""seamrefine_train.train_grain_gate: what counts as harm (known values), the harm threshold, a
smoke run, and the shipped grain gate's training record."""

from __future__ import annotations

import json

import numpy as np
import pytest
from seamrefine.runtime import grain
from seamrefine_train import train_grain_gate as T

from ..support.synthetic_images import noise_photo_folder


def rows_of(base, gain, composite):
    return [{"base": b, "psnr_gain": g, "composite": c}
            for b, g, c in zip(base, gain, composite, strict=True)]


def test_harm_is_ending_below_the_composite_known_values():
    rows = rows_of([30.0, 30.0, 30.0, 29.0], [-0.5, -0.5, -2.0, -1.0], [29.5, 29.0, 29.0, 30.0])
    # 30 − 0.5 = 29.5: not below 29.5 − 0.1; 29.5 vs 29: no; 28 < 28.9: harmed; already below before: not
    assert T.harmed(rows).tolist() == [False, False, True, False]


def test_harm_threshold_known_value():
    logits = np.array([3.0, 2.0, 1.0, 0.0, -1.0, -2.0, -3.0, -4.0, -5.0, -6.0])
    harm = np.array([True, False, True, True, False, False, False, False, False, False])
    assert T.harm_threshold(logits, harm, share=0.2) == 0.0  # two of ten may open harmed: 3 and 1
    assert T.harm_threshold(logits, harm, share=0.0) == 3.0
    assert T.harm_threshold(logits, np.zeros(10, bool), share=0.0) == float("-inf")


def test_train_grain_gate_smoke(tmp_path, capsys):
    photos = noise_photo_folder(tmp_path / "photos", seed=2)
    out, rows = tmp_path / "grain_gate.json", tmp_path / "rows.npz"
    argv = ["--photos", str(photos), "--cases", "40", "--workers", "1", "--sizes", "160",
            "--out", str(out), "--rows", str(rows)]
    assert T.main(argv) == 0
    trained = grain.load_gate(out)
    assert trained.features == grain.GRAIN_FEATURES and trained.lo < trained.hi
    saved = np.load(rows)
    assert saved["features"].shape[1] == len(grain.GRAIN_FEATURES)
    assert {"mm_before", "mm_after", "psnr_gain", "composite", "base"} <= set(saved.files)
    assert '"per_family"' in capsys.readouterr().out


def test_train_grain_gate_rejects_bad_options(tmp_path, capsys):
    assert T.main(["--photos", str(tmp_path), "--cases", "40"]) == 2
    assert "no .jpg/.png photos" in capsys.readouterr().err


def test_shipped_grain_gate_record():
    doc = json.loads(grain.DEFAULT_PATH.read_text())
    assert doc["features"] == list(grain.GRAIN_FEATURES)
    assert doc["training"]["command"] == "python -m seamrefine_train train_grain_gate --cases 4000 --seed 0"
    assert doc["training"]["per_family"]["clean"]["opened"] == pytest.approx(0.0)
