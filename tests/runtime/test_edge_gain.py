"""seamrefine.runtime.edge_gain: the pairs across an edge, the robust ridge fit of the gain (known
value), Huber's weights (known value), content alone giving no gain, a gain seam found and removed
inside the fill only, too few pairs, and the edge membrane applying the gain before its own jumps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from seamrefine.imaging import imagemath
from seamrefine.imaging import metrics as M
from seamrefine.runtime import edge_gain, edge_membrane

SAMPLE = Path(edge_gain.__file__).resolve().parents[1] / "samples" / "coffee.png"


def photo() -> np.ndarray:
    return np.asarray(Image.open(SAMPLE).convert("RGB"), np.float32) / 255.0


def ellipse(shape: tuple[int, int]) -> np.ndarray:
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    return ((yy - 200) / 110.0) ** 2 + ((xx - 300) / 170.0) ** 2 < 1.0


def gain_seam(gain: float = 1.1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sample with a hard-edged ellipse whose contrast is ``gain`` times the photo's about its
    mean, selected exactly: (composite, inside, clean)."""
    clean = photo()
    inside = ellipse(clean.shape[:2])
    mean = clean[inside].mean(0)
    comp = np.where(inside[..., None], np.clip(mean + gain * (clean - mean), 0, 1), clean)
    return comp.astype(np.float32), inside, clean


def test_edge_pairs_of_a_square_are_its_perimeter_and_skip_the_border():
    inside = np.zeros((64, 80), bool)
    inside[16:48, 20:60] = True
    pairs = edge_gain.edge_pairs(inside)
    assert sum(ys.size for ys, _, _, _ in pairs) == 2 * (32 + 40)
    for ys, xs, dy, dx in pairs:
        assert inside[ys, xs].all() and not inside[ys + dy, xs + dx].any()
    inside = np.zeros((20, 20), bool)
    inside[:, :10] = True  # touches three borders: only the edge at column 10 has pairs
    assert [(ys.size, dx) for ys, _, _, dx in edge_gain.edge_pairs(inside) if ys.size] == [(20, 1)]


def test_fit_gain_known_value_with_its_ridge():
    # midpoints with orthogonal centred channels: the ridge of r times their scatter divides the slope
    # by 1 + r exactly (no reweighting)
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(400, 3)) - 0.0)[0] * 20.0
    mids = basis - basis.mean(0) + 0.5
    true = np.array([[0.10, 0.02, 0.0], [0.0, -0.05, 0.0], [0.01, 0.0, 0.03]])
    jumps = (mids - mids.mean(0)) @ true.T + np.array([0.02, 0.0, -0.01])
    gain, mu = edge_gain.fit_gain(jumps, mids, ridge=0.0, rounds=0)
    np.testing.assert_allclose(gain, true, atol=1e-9)
    np.testing.assert_allclose(mu, mids.mean(0), atol=1e-12)
    gain, _ = edge_gain.fit_gain(jumps, mids, ridge=1.0, rounds=0)
    np.testing.assert_allclose(gain, true / 2.0, atol=1e-3)  # the centred columns are orthogonal to ±1e-3


def test_content_alone_gives_no_gain():
    clean = photo()
    change, info = edge_gain.edge_gain(clean, ellipse(clean.shape[:2]))
    assert np.abs(np.asarray(info["gain"])).max() < 0.01 and np.abs(change).max() < 0.01


def test_edge_gain_removes_a_contrast_seam_inside_the_fill_only():
    comp, inside, clean = gain_seam(1.1)
    change, info = edge_gain.edge_gain(comp, inside)
    assert change.dtype == np.float32 and not change[~inside].any()
    assert 0.5 < info["kept"] <= 1.0
    # the jump's share of the colour is 0.1/1.05 per channel; the ridge of the channels' own scatter
    # takes about half of it (the photo's channels are correlated, so it spreads over the rows)
    np.testing.assert_allclose(np.asarray(info["gain"]).sum(1), 0.045, atol=0.015)
    band = imagemath.band_weights(inside.astype(np.float32), 16, 8)
    assert M.band_psnr(comp + change, clean, band) > M.band_psnr(comp, clean, band) + 3.0


def test_edge_gain_needs_pairs_on_every_fold():
    comp, _, _ = gain_seam(1.1)
    inside = np.zeros(comp.shape[:2], bool)
    inside[100:104, 100:104] = True  # 16 pairs, in one block
    change, info = edge_gain.edge_gain(comp, inside)
    assert info["kept"] == 0.0 and not change.any()


def test_edge_membrane_removes_the_gain_first(monkeypatch):
    comp, inside, clean = gain_seam(1.1)
    band = imagemath.band_weights(inside.astype(np.float32), 16, 8)
    change, info = edge_membrane.edge_membrane(comp, inside, 10.0)
    assert info["gate"] == 1.0 and info["gain_kept"] > 0.5 and not change[~inside].any()
    with_gain = M.band_psnr(comp + change, clean, band)
    monkeypatch.setattr(edge_membrane, "edge_gain",
                        lambda x, inside: (np.zeros_like(x), {"gain": [], "kept": 0.0}))
    change, info = edge_membrane.edge_membrane(comp, inside, 10.0)
    assert info["gain_kept"] == 0.0
    assert with_gain > M.band_psnr(comp + change, clean, band) + 3.0


def test_huber_weights_known_value():
    # median 1, so the scale is 1.4826: the residual of 10 gets 0.14826, the rest 1; no scale, all 1
    np.testing.assert_allclose(edge_gain.huber_weights(np.array([1.0, 1.0, 1.0, 1.0, 10.0]), 1.0),
                               [1.0, 1.0, 1.0, 1.0, 0.14826])
    np.testing.assert_array_equal(edge_gain.huber_weights(np.zeros(4), 1.0), np.ones(4))
