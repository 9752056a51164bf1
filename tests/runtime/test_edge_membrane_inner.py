"""seamrefine.runtime.edge_membrane on a hard seam found inside a larger selection: where its edge lies
(known value: a paste 5 px inside), a feather left alone, the membrane there (a drift removed, the
selection's pixels outside the paste untouched), its gates, and the classical stage running it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from seamrefine.imaging import imagemath
from seamrefine.imaging import metrics as M
from seamrefine.runtime import classical, edge_membrane
from seamrefine.runtime.ring_profile import signed_distance

SAMPLE = Path(edge_membrane.__file__).resolve().parents[1] / "samples" / "coffee.png"
DEPTH = 5  # px: the paste's edge inside the selection's


def inner_drift(feather: float = 0.0):
    """The sample with an ellipse selected and a paste DEPTH px inside it whose colour drifts left to
    right (+2 … +8 %), hard-edged or feathered over ``feather`` px: (composite, selection, its signed
    distance, clean)."""
    clean = np.asarray(Image.open(SAMPLE).convert("RGB"), np.float32) / 255.0
    h, w = clean.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    selection = ((yy - 200) / 115.0) ** 2 + ((xx - 300) / 175.0) ** 2 < 1.0
    sd = signed_distance(selection)
    alpha = (sd >= DEPTH).astype(np.float32)
    if feather:
        t = np.clip((sd - DEPTH + feather / 2) / feather, 0.0, 1.0)
        alpha = (t * t * (3 - 2 * t)).astype(np.float32)
    drift = (0.02 + 0.06 * (xx - 125) / 350.0)[..., None] * np.float32([1.0, 0.7, 0.3])
    comp = np.clip(clean + alpha[..., None] * drift, 0, 1).astype(np.float32)
    return comp, selection, sd, clean


def test_sharp_inner_edge_finds_a_hard_paste_inside_the_selection():
    comp, _, sd, _ = inner_drift()
    assert edge_membrane.sharp_inner_edge(comp, sd, DEPTH) == DEPTH
    assert edge_membrane.sharp_inner_edge(comp, sd, DEPTH - 1, reach=1) == DEPTH
    assert edge_membrane.sharp_inner_edge(comp, sd, DEPTH - 1) is None  # the step is one px further in


def test_sharp_inner_edge_leaves_a_feathered_paste_alone():
    comp, _, sd, _ = inner_drift(feather=8.0)
    assert edge_membrane.sharp_inner_edge(comp, sd, DEPTH) is None


def test_coherent_size_of_a_step_is_its_size():
    inside = np.zeros((64, 80), bool)
    inside[16:48, 20:60] = True
    x = np.full((64, 80, 3), 0.4, np.float32)
    x[inside] += np.float32([0.03, 0.04, 0.0])
    assert edge_membrane.coherent_size(x, inside) == pytest.approx(0.05, rel=1e-6)
    assert edge_membrane.coherent_size(x, np.zeros_like(inside)) == 0.0


def test_inner_membrane_removes_the_drift_and_leaves_the_selection_outside_the_paste():
    comp, selection, sd, clean = inner_drift()
    change, info = edge_membrane.inner_membrane(comp, comp, sd, DEPTH, 0, 10.0, 1.0)
    assert info["gate"] == 1.0 and info["depth"] == DEPTH and change.dtype == np.float32
    assert not change[sd < DEPTH].any()
    band = imagemath.band_weights(selection.astype(np.float32), 16, 8)
    assert M.band_psnr(comp + change, clean, band) > M.band_psnr(comp, clean, band) + 10.0  # measured +15.5


@pytest.mark.parametrize(("z", "confidence"), [(edge_membrane.MIN_Z - 0.01, 1.0), (10.0, 0.0),
                                               (float("nan"), 1.0)])
def test_inner_membrane_waits_for_its_z_and_the_seam_gate(z, confidence):
    comp, _, sd, _ = inner_drift()
    change, info = edge_membrane.inner_membrane(comp, comp, sd, DEPTH, 0, z, confidence)
    assert info["gate"] == 0.0 and "depth" not in info and not change.any()


def test_inner_membrane_leaves_a_feather_to_the_colour_map():
    comp, _, sd, _ = inner_drift(feather=8.0)
    change, info = edge_membrane.inner_membrane(comp, comp, sd, DEPTH, 0, 10.0, 1.0)
    assert info["gate"] == 0.0 and not change.any()


def test_classical_runs_the_membrane_on_a_hard_seam_inside_the_selection():
    comp, selection, sd, clean = inner_drift()
    change, info = classical.classical_change(comp, selection.astype(np.float32))
    assert info["harmonise"]["position"] == DEPTH and info["harmonise"]["gap"] == 0
    assert info["membrane"]["gate"] == 1.0 and info["membrane"]["depth"] == DEPTH
    assert not change[~selection].any()


def test_classical_tries_the_seams_own_edge_before_the_selections(membrane_calls):
    comp, selection, sd, _ = inner_drift()
    classical.classical_change(comp, selection.astype(np.float32))
    assert len(membrane_calls) == 1
    np.testing.assert_array_equal(membrane_calls[0][0], sd >= DEPTH)
