"""seamrefine_train.map_decompose: every variant on a case, a case it skips, the CLI."""

from __future__ import annotations

import numpy as np
from seamrefine_train import map_decompose as md
from seamrefine_train.__main__ import main as cli
from seamrefine_train.synthesis import Case

from ..support.synthetic_images import photo_folder
from .test_colour_ceiling import drifted_fill


def test_decompose_scores_every_variant_and_the_oracle_removes_the_seam():
    clean, fill, _, _ = drifted_fill()
    mask = np.zeros(clean.shape[:2], np.float32)
    mask[24:72, 20:76] = 1
    comp = np.where(mask[..., None] > 0, fill, clean).astype(np.float32)
    case = Case(comp, mask, clean, "color_gradient", {"edge": {"edge": "hard"}}, mask.copy())
    row = md.decompose(case)
    assert row is not None and set(md.VARIANTS) <= set(row)
    assert row["oracle_true_alpha"] > 30  # the map's form holds this drift exactly
    # a seam this clear opens the gate fully: served is the map applied in full, through the same ramp
    assert row["served"] == row["est"] and row["served_oracle"] == row["oracle"]
    assert all(np.isfinite(row[v]) for v in md.VARIANTS)
    assert "| color_gradient | hard | 1 |" in md.format_table([row])


def test_decompose_skips_a_case_without_a_pasted_region():
    clean, _, _, _ = drifted_fill()
    mask = np.zeros(clean.shape[:2], np.float32)
    mask[40:50, 40:50] = 1
    assert md.decompose(Case(clean, mask, clean, "clean", {}, np.zeros_like(mask))) is None


def test_cli_prints_the_table(tmp_path, capsys):
    argv = ["map_decompose", "--photos", str(photo_folder(tmp_path)), "--per-family", "2", "--size", "128"]
    assert cli(argv) == 0
    out = capsys.readouterr().out
    assert "| family | edges | cases | est |" in out and "| color_uniform |" in out


def test_cli_missing_folder_is_a_clear_error(capsys):
    assert md.main(["--photos", "/nonexistent/photos"]) == 2
    assert "does not exist" in capsys.readouterr().err
