"""seamrefine_train.colour_ceiling: oracles recover a known shift; estimators and the CLI run."""

from __future__ import annotations

import numpy as np
import pytest
from seamrefine_train import colour_ceiling as cc
from seamrefine_train.__main__ import main as cli
from seamrefine_train.synthesis import Case

from ..support.synthetic_images import photo, photo_folder


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


def drifted_fill(h=96, w=96):
    """A synthetic photo and the fill its colour map (known gain, offset and plane) takes back to it."""
    clean = photo(2, h)[:h, :w].astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    gx, gy = (xx - 48.0) / 96.0, (yy - 48.0) / 96.0
    gain, offset, sx, sy = np.array([1.1, 0.95, 1.0]), np.array([0.02, -0.03, 0.01]), 0.04, -0.02
    fill = (clean - offset - (sx * gx + sy * gy)[..., None]) / gain  # clean = g·fill + b + sx·X + sy·Y
    return clean, fill.astype(np.float32), gain, offset


def test_least_squares_map_recovers_the_drift_it_was_made_with():
    clean, fill, gain, offset = drifted_fill()
    fit = np.ones(clean.shape[:2], bool)
    cmap = cc.least_squares_map(fill, clean, fit, (48.0, 48.0), 96.0)
    np.testing.assert_allclose(cmap.gain, gain, atol=1e-5)
    np.testing.assert_allclose(cmap.offset, offset, atol=1e-5)
    np.testing.assert_allclose(cmap.slopes, [[0.04] * 3, [-0.02] * 3], atol=1e-5)
    fixed = cc.least_squares_map(fill, clean, fit, (48.0, 48.0), 96.0, gain=gain)  # offset, plane only
    np.testing.assert_allclose(fixed.offset, offset, atol=1e-5)
    as_matrix = cc.least_squares_map(fill, clean, fit, (48.0, 48.0), 96.0, gain=np.diag(gain))
    np.testing.assert_array_equal(as_matrix.gain, np.diag(gain))  # a matrix gain is kept as it is
    np.testing.assert_allclose(as_matrix.offset, offset, atol=1e-5)


def test_edge_strip_is_the_fully_pasted_pixels_within_three_px_of_the_edge():
    alpha = _shifted_case().alpha
    strip = cc.edge_strip(alpha)
    assert strip.sum() == 48**2 - 42**2  # the square's outer three rings
    assert strip[24, 24] and strip[26, 40] and not strip[27, 40] and not strip[10, 10]


def test_map_oracles_recover_a_gain_and_a_drift_across_the_fill():
    case = _shifted_case()
    yy = np.mgrid[0:96, 0:96][0] / 96
    inside = case.mask[..., None] > 0
    drift = np.array([1.1, 0.92, 1.05], np.float32) * case.clean + 0.05 * yy[..., None] - 0.02
    case.composite = np.where(inside, drift, case.clean).astype(np.float32)
    g = cc.gains(case)
    assert g["oracle_map"] > 40 and g["edge_map"] > 40  # the map's form holds this drift exactly
    assert g["de_edge_map"] < 0.05 < g["de_identity"]


def test_edge_harmonic_carries_a_uniform_shift_at_the_edge_into_the_fill():
    case = _shifted_case()
    out = cc.edge_harmonic(case.composite, case.clean, case.alpha)
    assert np.abs(out - case.clean).max() < 1e-4


def test_ring_offset_leaves_an_unestimable_case_alone():
    case = _shifted_case()
    tiny = np.zeros_like(case.mask)
    tiny[40, 40] = 1  # no 2 px ring: nothing to estimate from
    assert np.array_equal(cc.ring_offset(case.composite, tiny, shrink=True), case.composite)


def test_cli_prints_the_table(tmp_path, capsys):
    argv = ["colour_ceiling", "--photos", str(photo_folder(tmp_path)), "--per-family", "1", "--size", "96"]
    assert cli(argv) == 0
    out = capsys.readouterr().out
    assert "| color_uniform |" in out and "oracle_affine" in out and "edge_map" in out


def test_cli_unknown_selection_is_a_clear_error(capsys):
    with pytest.raises(SystemExit) as e:
        cc.main(["--selection", "loose"])
    assert e.value.code == 2
    assert "invalid choice: 'loose'" in capsys.readouterr().err


def test_cli_missing_folder_is_a_clear_error(capsys):
    assert cc.main(["--photos", "/nonexistent/photos"]) == 2
    assert "does not exist" in capsys.readouterr().err
