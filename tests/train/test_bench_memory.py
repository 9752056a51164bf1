"""seamrefine_train.bench_memory: the frame case and the CLI line (a small image; real onnxruntime)."""

from __future__ import annotations

import numpy as np
from seamrefine_train import bench_memory as bm
from seamrefine_train.__main__ import main as cli


def test_frame_case_is_a_drifted_frame():
    image, mask = bm.frame_case(200, 30)
    assert image.shape == (200, 200, 3) and image.dtype == np.uint8 and mask.dtype == np.uint8
    a = 6  # 3 % of the side
    assert mask[a, a] == 255 and mask[a - 1, a - 1] == 0 and mask[100, 100] == 0  # hole in the middle
    assert int((mask > 0).sum()) == 188**2 - 128**2
    fill, photo = image[mask > 0].mean(0), image[mask == 0].mean(0)
    assert fill[0] / fill[2] > 1.15 * photo[0] / photo[2]  # warmer inside: a seam for every stage


def test_peak_rss_is_positive_mib():
    assert 1.0 < bm.peak_rss_mib() < 1e6


def test_cli_prints_time_and_peak_memory(capsys):
    assert cli(["bench_memory", "--side", "256", "--frame", "40"]) == 0
    out = capsys.readouterr().out
    assert "256×256 uint8" in out and "peak RSS" in out and "MiB" in out
