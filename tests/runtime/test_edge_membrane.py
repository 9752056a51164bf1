"""seamrefine.runtime.edge_membrane: the jumps across the edge (known values: a step, a content ramp),
their coherent part (a coherent jump kept, scatter shrunk away, the shrinkage's known value, a few
large jumps not pulling it), the membrane (constant and linear boundary values), the stage's gate, a
jump varying along the edge followed closer over a shorter sigma, and the classical stage running it
on a hugging drift (over ``SPLIT_SIGMA`` where the colour map was split)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from seamrefine.imaging import imagemath
from seamrefine.imaging import metrics as M
from seamrefine.runtime import classical, edge_membrane
from seamrefine.runtime.edge_membrane import coherent_jumps, edge_jumps, membrane, pull_push

SAMPLE = Path(edge_membrane.__file__).resolve().parents[1] / "samples" / "coffee.png"


def square(h: int = 64, w: int = 80) -> np.ndarray:
    inside = np.zeros((h, w), bool)
    inside[16:48, 20:60] = True
    return inside


def test_edge_jumps_of_a_step_are_the_step_once_per_pair():
    inside = square()
    x = np.full((*inside.shape, 3), 0.4, np.float32)
    x[inside] += np.float32([0.1, 0.0, -0.05])
    rows, cols, jumps = edge_jumps(x, inside)
    assert rows.size == 2 * (32 + 40)  # one pair per edge pixel side: the square's perimeter
    assert inside[rows, cols].all()
    np.testing.assert_allclose(jumps, np.tile([0.1, 0.0, -0.05], (rows.size, 1)), atol=1e-6)


def test_edge_jumps_leave_out_content_that_ramps_across_the_edge():
    inside = square()
    ramp = (0.01 * np.arange(inside.shape[1], dtype=np.float32))[None, :, None]
    x = np.broadcast_to(ramp, (*inside.shape, 3)).astype(np.float32)
    _, _, jumps = edge_jumps(x, inside)
    np.testing.assert_allclose(jumps, 0.0, atol=1e-6)


def test_edge_jumps_skip_the_image_border():
    inside = np.zeros((20, 20), bool)
    inside[:, :10] = True  # touches three borders: only the edge at column 10 has pairs
    rows, cols, _ = edge_jumps(np.zeros((20, 20, 3), np.float32), inside)
    assert rows.size == 20 and (cols == 9).all()


def test_coherent_jumps_keep_a_coherent_jump_and_shrink_scatter_away():
    inside = square(160, 160)
    rows, cols, jumps = edge_jumps(np.zeros((160, 160, 3), np.float32), inside)
    coherent = np.tile([0.03, 0.0, 0.0], (rows.size, 1))
    values, known = coherent_jumps(rows, cols, coherent, inside.shape)
    np.testing.assert_allclose(values[known], np.tile([0.03, 0.0, 0.0], (known.sum(), 1)), atol=1e-9)
    assert not values[~known].any()
    noise = np.random.default_rng(0).normal(0.0, 0.05, (rows.size, 3))
    values, known = coherent_jumps(rows, cols, noise, inside.shape)
    assert np.abs(values).max() < 0.2 * np.abs(noise).mean()


@pytest.mark.parametrize("shrink", [None, 3.0])
def test_coherent_jumps_shrink_by_their_standard_error_known_value(shrink):
    # a straight edge along row 100, jumps 0.03 ± 0.05 alternating along it: every cell of 8 px holds
    # four of each, so its Gaussian mean is 0.03 and its scatter 0.05² exactly, anywhere on the edge
    cols = np.arange(800)
    rows = np.full(cols.size, 100)
    jumps = np.zeros((cols.size, 3))
    jumps[:, 0] = 0.03 + 0.05 * np.where(cols % 2 == 0, 1.0, -1.0)
    kwargs = {} if shrink is None else {"shrink": shrink}
    values, known = coherent_jumps(rows, cols, jumps, (200, 800), **kwargs)
    se = 0.05 / np.sqrt(3.5 * edge_membrane.SIGMA)
    keep = 1.0 - (edge_membrane.SHRINK if shrink is None else shrink) * se / 0.03
    assert known.sum() == 100 and 0.0 < keep < 1.0
    np.testing.assert_allclose(values[known][:, 0], 0.03 * keep, rtol=1e-9)
    assert not values[known][:, 1:].any()


def test_coherent_jumps_are_not_pulled_by_a_few_large_jumps():
    # a straight edge along row 100 with a coherent 0.03 jump, where an object's own edge crosses it
    # over 6 px with a jump of 0.6: the plain mean is pulled far up around it, Huber's is not
    cols = np.arange(800)
    rows = np.full(cols.size, 100)
    jumps = np.zeros((cols.size, 3))
    jumps[:, 0] = 0.03
    jumps[400:406, 0] = 0.6
    plain, known = coherent_jumps(rows, cols, jumps, (200, 800), shrink=0.0, rounds=0)
    robust, _ = coherent_jumps(rows, cols, jumps, (200, 800), shrink=0.0)
    near = known.copy()
    near[:, :45] = near[:, 56:] = False  # the cells within 40 px of the crossing
    assert plain[near][:, 0].min() > 0.045  # 0.07 at the crossing
    np.testing.assert_allclose(robust[near][:, 0], 0.03, atol=0.003)
    np.testing.assert_allclose(robust[known][:, 1:], 0.0)


def test_membrane_of_constant_and_linear_boundary_values():
    region = np.zeros((12, 16), bool)
    region[2:10, 3:13] = True
    known = region & ~np.pad(np.ones((6, 8), bool), ((3, 3), (4, 4)))  # the region's outer ring
    const = np.broadcast_to(np.float64([0.2, -0.1, 0.05]), (12, 16, 3)).copy()
    np.testing.assert_allclose(membrane(const, known, region)[region], const[region], atol=1e-9)
    linear = np.zeros((12, 16, 3))
    linear[..., 0] = 0.01 * np.arange(16)[None, :]  # harmonic: the membrane reproduces it inside
    np.testing.assert_allclose(membrane(linear, known, region)[region], linear[region], atol=1e-6)


def test_pull_push_fills_from_the_known_cells():
    known = np.zeros((9, 9), bool)
    known[0, 0] = known[8, 8] = True
    values = np.zeros((9, 9, 3))
    values[known] = 0.3
    filled = pull_push(values, known)
    np.testing.assert_allclose(filled, 0.3, atol=1e-9)


def photo() -> np.ndarray:
    return np.asarray(Image.open(SAMPLE).convert("RGB"), np.float32) / 255.0


def hugging_drift() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sample with a hard-edged ellipse whose colour drifts left to right (+0 … +6 %), selected
    exactly: (composite, inside, clean)."""
    clean = photo()
    h, w = clean.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    inside = ((yy - 200) / 110.0) ** 2 + ((xx - 300) / 170.0) ** 2 < 1.0
    drift = (0.06 * (xx - 130) / 340.0)[..., None] * np.float32([1.0, 0.7, 0.3])
    comp = np.where(inside[..., None], np.clip(clean + drift, 0, 1), clean).astype(np.float32)
    return comp, inside, clean


def test_edge_membrane_removes_a_hugging_drift_and_stays_inside():
    comp, inside, clean = hugging_drift()
    change, info = edge_membrane.edge_membrane(comp, inside, 10.0)
    assert info["gate"] == 1.0 and info["rms"] > 0.005 and change.dtype == np.float32
    assert not change[~inside].any()
    band = imagemath.band_weights(inside.astype(np.float32), 16, 8)
    assert M.band_psnr(comp + change, clean, band) > M.band_psnr(comp, clean, band) + 2.0  # measured +2.6


@pytest.mark.parametrize("edge_z", [0.0, edge_membrane.MIN_Z - 0.01, float("nan")])
def test_edge_membrane_stays_shut_below_its_z(edge_z):
    comp, inside, _ = hugging_drift()
    change, info = edge_membrane.edge_membrane(comp, inside, edge_z)
    assert info["gate"] == 0.0 and "rms" not in info and not change.any()


@pytest.mark.parametrize("fill", [False, True])
def test_edge_membrane_without_an_edge_changes_nothing(fill):
    comp, inside, _ = hugging_drift()
    change, info = edge_membrane.edge_membrane(comp, np.full(inside.shape, fill), 10.0)
    assert info["gate"] == 0.0 and not change.any()


def test_classical_stage_reports_the_membrane_and_counts_it_against_the_texture_cap(monkeypatch):
    comp, inside, _ = hugging_drift()
    budgets = []
    real = classical.texture.match_texture

    def spy(x, mask, sd, spent=0.0):
        budgets.append(spent)
        return real(x, mask, sd, spent)

    monkeypatch.setattr(classical.texture, "match_texture", spy)
    change, info = classical.classical_change(comp, inside.astype(np.float32))
    assert {"gate", "edge_z"} <= set(info["membrane"]) and info["membrane"]["edge_z"] >= edge_membrane.MIN_Z
    assert info["membrane"]["gate"] == 1.0
    assert budgets == [pytest.approx(info["harmonise"].get("capped_rms", 0.0) + info["membrane"]["rms"])]
    assert not change[imagemath.band_weights(inside.astype(np.float32), 16, 8) == 0].any()


def test_edge_membrane_leaves_wide_feathers_to_the_colour_map():
    comp, inside, _ = hugging_drift()
    change, info = edge_membrane.edge_membrane(comp, inside, 10.0, edge_membrane.MAX_GAP + 1)
    assert info["gate"] == 0.0 and not change.any()
    assert edge_membrane.edge_membrane(comp, inside, 10.0, edge_membrane.MAX_GAP)[1]["gate"] == 1.0


def test_edge_membrane_waits_for_the_seam_gate():
    comp, inside, _ = hugging_drift()
    change, info = edge_membrane.edge_membrane(comp, inside, 10.0, 0, confidence=0.0)
    assert info == {"gate": 0.0, "edge_z": 10.0} and not change.any()
    assert edge_membrane.edge_membrane(comp, inside, 10.0, 0, confidence=0.01)[1]["gate"] == 1.0


def test_classical_passes_the_gates_confidence_to_the_membrane(membrane_calls):
    comp, inside, _ = hugging_drift()
    _, info = classical.classical_change(comp, inside.astype(np.float32))
    assert [conf for _, conf, _ in membrane_calls] == [info["harmonise"]["confidence"]]


def test_edge_membrane_follows_a_jump_that_varies_along_the_edge_closer_with_a_shorter_sigma():
    clean = photo()
    h, w = clean.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    inside = ((yy - 200) / 110.0) ** 2 + ((xx - 300) / 170.0) ** 2 < 1.0
    drift = (0.04 * np.sin(2 * np.pi * xx / 160.0))[..., None] * np.float32([1.0, 0.7, 0.3])
    comp = np.where(inside[..., None], np.clip(clean + drift, 0, 1), clean).astype(np.float32)
    band = imagemath.band_weights(inside.astype(np.float32), 16, 8)
    gains = [M.band_psnr(comp + edge_membrane.edge_membrane(comp, inside, 10.0, sigma=s)[0], clean, band)
             - M.band_psnr(comp, clean, band) for s in (edge_membrane.SPLIT_SIGMA, edge_membrane.SIGMA)]
    assert gains[0] > gains[1] + 0.2 and gains[1] > 0.0  # measured +1.31 and +0.92 dB


def test_classical_averages_the_jumps_over_split_sigma_where_the_map_was_split(membrane_calls, monkeypatch):
    # the hugging drift runs across the fill, so the colour map is split and the jump varies along the edge
    comp, inside, _ = hugging_drift()
    mask = inside.astype(np.float32)
    classical.classical_change(comp, mask)
    assert [sigma for *_, sigma in membrane_calls] == [edge_membrane.SPLIT_SIGMA]
    real = classical.harmonise.measure

    def unsplit(x, selection):
        m = real(x, selection)
        return dataclasses.replace(m, seam=dataclasses.replace(m.seam, split=None))

    monkeypatch.setattr(classical.harmonise, "measure", unsplit)
    membrane_calls.clear()
    classical.classical_change(comp, mask)
    assert [sigma for *_, sigma in membrane_calls] == [edge_membrane.SIGMA]
