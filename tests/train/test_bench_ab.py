"""seamrefine_train.bench_ab: two builds' refines in worker processes, taking turns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from seamrefine_train import bench_ab

from ..support.synthetic_images import photo

REPO = Path(__file__).resolve().parents[2]


def test_a_build_against_itself_gives_the_same_output_and_times(tmp_path, capsys):
    # the real workers (onnxruntime, the shipped model) of this checkout twice
    for i in range(2):
        Image.fromarray((photo(i, 200) * 255).astype(np.uint8)).save(tmp_path / f"p{i}.png")
    assert bench_ab.main(["--other", str(REPO), "--rounds", "2", "--size", "128",
                          "--photos", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "128 px timing case, 2 rounds" in out and "outputs identical" in out
    assert out.count("this / other per round") == 2


def test_summary_known_values():
    times = {"this": [{"wall": 1.0, "cpu": 2.0}, {"wall": 3.0, "cpu": 2.0}],
             "other": [{"wall": 2.0, "cpu": 4.0}, {"wall": 3.0, "cpu": 4.0}]}
    s = bench_ab.summary(times)
    assert s["wall"]["this"] == 2.0 and s["wall"]["other"] == 2.5
    assert s["wall"]["ratio"] == pytest.approx([0.625, 0.75, 0.875])  # per round 0.5 and 1.0
    assert s["cpu"]["ratio"] == [0.5, 0.5, 0.5]


def test_a_worker_that_cannot_start_is_reported(tmp_path):
    with pytest.raises(RuntimeError, match="the worker stopped"):
        bench_ab.Worker(tmp_path, str(tmp_path / "missing.npz"))  # no seamrefine there


def test_a_worker_that_imports_another_build_is_refused(tmp_path):
    # a "checkout" without the package: the worker finds the installed one, which is not the build asked for
    image, mask = np.full((64, 64, 3), 0.5, np.float32), np.zeros((64, 64), np.float32)
    mask[20:40, 20:40] = 1.0
    np.savez(tmp_path / "case.npz", image=image, mask=mask)
    with pytest.raises(RuntimeError, match="imported seamrefine from"):
        bench_ab.Worker(tmp_path, str(tmp_path / "case.npz"))
