"""seamrefine_train.heldout_seams: colour seams unlike the training synthesis, and the bench's --seams."""

from __future__ import annotations

import numpy as np
import pytest
from seamrefine.imaging import imagemath
from seamrefine_train import bench, heldout_seams

from ..support.synthetic_images import photo


@pytest.mark.parametrize("family", heldout_seams.FAMILIES)
def test_each_family_pastes_inside_the_band_only(family):
    crop = photo(3, 128)
    case = heldout_seams.make_case(crop, 7, 2, family)
    assert case.family == family and case.composite.dtype == np.float32
    assert case.composite.shape == crop.shape and 0.0 <= case.composite.min() <= case.composite.max() <= 1.0
    assert set(np.unique(case.mask)) == {0.0, 1.0}
    band = imagemath.band_weights(case.mask, 16, 8)
    assert np.array_equal(case.composite[band == 0], case.clean[band == 0])
    moved = np.abs(case.composite - case.clean).max()
    assert moved == 0.0 if family == "clean" else moved > 0.01
    again = heldout_seams.make_case(crop, 7, 2, family)
    assert np.array_equal(case.composite, again.composite) and np.array_equal(case.mask, again.mask)


def test_selections_hug_the_paste_or_grow_beyond_it():
    crop = photo(4, 128)
    kinds = set()
    for index in range(16):
        case = heldout_seams.make_case(crop, 1, index, "exposure")
        p = case.params
        assert p["sigma"] in heldout_seams.SIGMAS
        if p["grow"]:
            assert heldout_seams.GROW[0] <= p["grow"] <= heldout_seams.GROW[1]
            assert (case.mask[case.alpha >= 0.99] == 1.0).all()  # the fully pasted pixels are selected
        else:
            assert np.array_equal(case.mask > 0, case.alpha >= 0.5)
        kinds.add((p["grow"] > 0, p["sigma"] > 0))
    assert kinds == {(False, False), (False, True), (True, False), (True, True)}


def test_colour_operations_known_values():
    grey = np.full((2, 2, 3), 0.5, np.float32)
    assert np.allclose(heldout_seams.brightness(grey, 0.2), 0.6)
    assert np.allclose(heldout_seams.contrast(grey, 0.5), 0.5)  # the mean stays
    assert np.allclose(heldout_seams.saturation(grey, 0.5), 0.5)  # no chroma to stretch
    assert np.allclose(heldout_seams.hue(grey, 0.25), 0.5, atol=1e-6)
    # one stop in linear light: 0.5 ** 2.2 · 2 back through the power
    assert np.allclose(heldout_seams.exposure(grey, 1.0, np.ones(3)), (0.5 ** 2.2 * 2) ** (1 / 2.2))
    assert np.allclose(heldout_seams.gamma(grey, [1.0, 2.0, 0.5]), [0.5, 0.25, 0.5 ** 0.5])
    red = np.zeros((1, 1, 3), np.float32)
    red[..., 0] = 1.0
    assert np.allclose(heldout_seams.hue(red, 1 / 3), [0.0, 1.0, 0.0], atol=1e-5)  # 120°: red → green


def test_an_unknown_family_is_named():
    with pytest.raises(heldout_seams.InputError, match="unknown held-out family 'sepia'") as e:
        heldout_seams.make_case(photo(0, 64), 0, 0, "sepia")
    assert e.value.value == "sepia"


def test_bench_runs_the_heldout_seams(photos, capsys):
    argv = ["--quick", "--photos", str(photos), "--seams", "heldout", "--families", "clean,gamma,radial"]
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    assert "held-out seams" in out and "== gamma (2 cases" in out and "== radial (2 cases" in out
    assert "colour families by mean RGB shift of the fill (jitter_hsv, exposure, gamma, radial)" in out
    # the targets of families not run are left out; those over all cases stay
    assert "color_uniform: gain" not in out and "artifact cases worse ≤ 5 %" in out
    cases = bench.build_cases(photos, 1, 96, 3, ["gamma"], seams="heldout")
    assert [c.family for c in cases] == ["gamma"] and "sigma" in cases[0].params


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--seams", "heldout", "--families", "color_uniform"], "unknown families ['color_uniform']"),
        (["--seams", "heldout", "--selection", "hug"], "held-out seams draw their own selections"),
        (["--seams", "other"], "invalid choice: 'other'"),
    ],
)
def test_bench_heldout_errors(argv, fragment, photos, capsys):
    if "invalid choice" in fragment:
        with pytest.raises(SystemExit):
            bench.main([*argv, "--photos", str(photos)])
    else:
        assert bench.main([*argv, "--photos", str(photos), "--quick"]) == 2
    assert fragment in capsys.readouterr().err


def test_iter_cases_refuses_unknown_seams(photos):
    with pytest.raises(bench.InputError, match="unknown seams 'other'") as e:
        bench.build_cases(photos, 1, 64, 0, ["clean"], seams="other")
    assert e.value.value == "other"
