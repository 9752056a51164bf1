"""seamrefine_train.colour_ceiling: oracles recover a known shift; estimators and the CLI run."""

from __future__ import annotations

import numpy as np
from PIL import Image
from seamrefine_train import colour_ceiling as cc
from seamrefine_train.__main__ import main as cli
from seamrefine_train.synthesis import Case

from ..support.synthetic_images import photo


def _shifted_case(shift=(0.04, -0.02, 0.03), h=96, w=96):
    yy, xx = np.mgrid[0:h, 0:w] / h
    clean = np.stack([0.3 + 0.2 * xx, 0.5 + 0.1 * yy, 0.4 + 0.05 * xx * yy], -1).astype(np.float32)
    mask = np.zeros((h, w), np.float32)
    mask[24:72, 24:72] = 1
    comp = clean.copy()
    comp[mask > 0] += np.array(shift, np.float32)
    return Case(comp, mask, clean, "color_uniform", {}, mask.copy())


def test_oracles_and_ring_estimate_recover_a_uniform_shift():
    g = cc.gains(_shifted_case())
    assert g["oracle_affine"] > 40 and g["oracle_offset"] > 40  # exact up to float rounding
    assert g["ring_offset"] > 15  # smooth image: the ring difference is the step (minus a 4 px slope)
    assert g["ring_offset_shrunk"] > 10


def test_ring_offset_leaves_an_unestimable_case_alone():
    case = _shifted_case()
    tiny = np.zeros_like(case.mask)
    tiny[40, 40] = 1  # no 2 px ring: nothing to estimate from
    assert np.array_equal(cc.ring_offset(case.composite, tiny, shrink=True), case.composite)


def test_cli_prints_the_table(tmp_path, capsys):
    for i in range(2):
        Image.fromarray((photo(i, 160) * 255).astype(np.uint8)).save(tmp_path / f"p{i}.png")
    argv = ["colour_ceiling", "--photos", str(tmp_path), "--per-family", "1", "--size", "96"]
    assert cli(argv) == 0
    out = capsys.readouterr().out
    assert "| color_uniform |" in out and "oracle_affine" in out


def test_cli_missing_folder_is_a_clear_error(capsys):
    assert cc.main(["--photos", "/nonexistent/photos"]) == 2
    assert "does not exist" in capsys.readouterr().err
