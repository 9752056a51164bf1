"""seamrefine_train.map_decompose: the oracle map's known values, every variant on a case, the CLI."""

from __future__ import annotations

import numpy as np
from seamrefine.runtime.colour_map import ColourMap
from seamrefine_train import map_decompose as md
from seamrefine_train.__main__ import main as cli
from seamrefine_train.synthesis import Case

from ..support.synthetic_images import photo, photo_folder

LIKE = ColourMap(np.ones(3), np.zeros(3), np.zeros((2, 3)), (48.0, 48.0), 96.0)


def _drifted(h=96, w=96):
    clean = photo(2, h)[:h, :w].astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    gx, gy = (xx - 48.0) / 96.0, (yy - 48.0) / 96.0
    gain, offset, sx, sy = np.array([1.1, 0.95, 1.0]), np.array([0.02, -0.03, 0.01]), 0.04, -0.02
    # the fill as pasted: the map takes it back to the clean photo, clean = g·fill + b + sx·X + sy·Y
    fill = (clean - offset - (sx * gx + sy * gy)[..., None]) / gain
    return clean, fill.astype(np.float32), gain, offset


def test_oracle_map_recovers_the_drift_it_was_made_with():
    clean, fill, gain, offset = _drifted()
    fit = np.ones(clean.shape[:2], bool)
    cmap = md.oracle_map(fill, clean, fit, LIKE)
    np.testing.assert_allclose(cmap.gain, gain, atol=1e-5)
    np.testing.assert_allclose(cmap.offset, offset, atol=1e-5)
    np.testing.assert_allclose(cmap.slopes, [[0.04] * 3, [-0.02] * 3], atol=1e-5)
    fixed = md.oracle_map(fill, clean, fit, LIKE, gain=gain)  # the gain given: offset and plane fitted
    np.testing.assert_allclose(fixed.offset, offset, atol=1e-5)


def test_decompose_scores_every_variant_and_the_oracle_removes_the_seam():
    clean, fill, _, _ = _drifted()
    mask = np.zeros(clean.shape[:2], np.float32)
    mask[24:72, 20:76] = 1
    comp = np.where(mask[..., None] > 0, fill, clean).astype(np.float32)
    case = Case(comp, mask, clean, "color_gradient", {"edge": {"edge": "hard"}}, mask.copy())
    row = md.decompose(case)
    assert row is not None and set(md.VARIANTS) <= set(row)
    assert row["oracle_true_alpha"] > 30  # the map's form holds this drift exactly
    assert all(np.isfinite(row[v]) for v in md.VARIANTS)
    assert "| color_gradient | hard | 1 |" in md.format_table([row])


def test_decompose_skips_a_case_without_a_pasted_region():
    clean, _, _, _ = _drifted()
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
