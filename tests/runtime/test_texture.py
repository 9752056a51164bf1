"""seamrefine.runtime.texture: detail bands, gains (known values), the change, the gate, errors; and
seamrefine.runtime.classical, which runs it after the colour stage."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from seamrefine.errors import ModelError
from seamrefine.imaging import imagemath
from seamrefine.imaging import metrics as M
from seamrefine.runtime import classical, edge_membrane, harmonise, texture
from seamrefine.runtime.ring_profile import signed_distance
from seamrefine.runtime.seam_gate import GateModel

N = len(texture.TEXTURE_FEATURES)


def grainy(seed: int, h: int = 160, w: int = 200, sigma: float = 0.04) -> np.ndarray:
    """A smooth colour field with strong grain."""
    rng = np.random.default_rng(seed)
    field = cv2.GaussianBlur(rng.normal(0, 1, (h, w, 3)).astype(np.float32), (0, 0), 8.0)
    field *= 0.06 / field.std()
    return np.clip(0.5 + field + rng.normal(0, sigma, (h, w, 3)), 0, 1).astype(np.float32)


def disc(h: int = 160, w: int = 200) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return ((yy - 80) / 50) ** 2 + ((xx - 100) / 60) ** 2 <= 1.0


def always_open() -> GateModel:
    return GateModel(np.zeros(N), np.ones(N), np.zeros(N), 0.0, -10.0, -9.0, texture.TEXTURE_FEATURES)


def test_detail_bands_known_values():
    flat = np.full((32, 40, 3), 0.3, np.float32)
    assert all(np.abs(b).max() < 1e-6 for b in texture.detail_bands(flat))
    x = grainy(0)
    b0, b1 = texture.detail_bands(x)
    low = cv2.GaussianBlur(x, (0, 0), texture.SIGMAS[-1], borderType=cv2.BORDER_REFLECT)
    np.testing.assert_allclose(b0 + b1 + low, x, atol=1e-6)


def test_gains_ask_to_sharpen_a_soft_fill_and_to_calm_a_noisy_one():
    x, inside = grainy(1), disc()
    soft = np.where(inside[..., None], cv2.GaussianBlur(x, (0, 0), 1.5), x).astype(np.float32)
    gains, features = texture.measure_texture(soft, inside)
    assert len(features) == N and gains[0] > 1.5
    rng = np.random.default_rng(2)
    noisy = np.where(inside[..., None], x + rng.normal(0, 0.06, x.shape), x).astype(np.float32)
    gains, _ = texture.measure_texture(noisy, inside)
    assert gains[0] < 0.75
    plain, _ = texture.measure_texture(x, inside)
    assert np.all(np.abs(np.log(plain)) < 0.1)  # the same grain on both sides: gains near 1


def test_luma_bands_are_the_colour_bands_luma():
    x, inside = grainy(7), disc()
    soft = np.where(inside[..., None], cv2.GaussianBlur(x, (0, 0), 1.5), x).astype(np.float32)
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    for colour, grey in zip(texture.detail_bands(soft), texture.detail_bands(soft @ luma), strict=True):
        np.testing.assert_allclose(colour @ luma, grey, atol=2e-6)
    sd = signed_distance(inside).reshape(-1)
    a, b = texture.RING
    inner, outer = sd > a, sd < -a
    inner &= sd <= b
    outer &= sd >= -b
    v2 = np.square(texture.detail_bands(soft)[0] @ luma).reshape(-1)
    _, features = texture.measure_texture(soft, inside)
    want = np.log((v2[outer].mean() + 1e-8) / (v2[inner].mean() + 1e-8))
    assert features[0] == pytest.approx(want, abs=1e-4)


def test_features_follow_the_selection_not_the_crop_around_it():
    # the same fill cut out of its photo with more or less around it (the refiner measures the mask's
    # box + 67 px, the benchmark the whole image): the cells are placed from the rings' corner
    rng = np.random.default_rng(3)
    x = np.clip(grainy(4, 260, 300) + rng.normal(0, 0.01, (260, 300, 3)), 0, 1).astype(np.float32)
    inside = np.zeros((260, 300), bool)
    inside[50:210, 50:250] = disc()
    soft = np.where(inside[..., None], cv2.GaussianBlur(x, (0, 0), 1.2), x).astype(np.float32)
    _, whole = texture.measure_texture(soft, inside)
    for y0, x0 in ((5, 13), (17, 29), (0, 31)):
        _, part = texture.measure_texture(soft[y0:, x0:], inside[y0:, x0:])
        np.testing.assert_allclose(part, whole, rtol=1e-4, atol=1e-5)


def _cells_at(v2: np.ndarray, inner: np.ndarray, outer: np.ndarray, corner, offset) -> np.ndarray:
    """One placement's cell log ratios, directly: cells of CELL px from ``corner`` − ``offset``."""
    w = v2.shape[1]
    cell = texture.CELL
    ids = [((f // w - corner[0] + offset[0]) // cell) * 1000 + (f % w - corner[1] + offset[1]) // cell
           for f in (inner, outer)]
    cells = np.union1d(*ids)
    n = [np.array([(i == c).sum() for c in cells]) for i in ids]
    e = [np.array([v2.reshape(-1)[f][i == c].mean() if (i == c).any() else 0.0 for c in cells])
         for f, i in zip((inner, outer), ids, strict=True)]
    ok = (n[0] >= 20) & (n[1] >= 20)
    return np.log((e[1][ok] + 1e-8) / (e[0][ok] + 1e-8))


def test_cell_features_are_the_mean_over_four_grid_placements():
    x, inside = grainy(5), disc()
    soft = np.where(inside[..., None], cv2.GaussianBlur(x, (0, 0), 1.5), x).astype(np.float32)
    v = signed_distance(inside).reshape(-1)
    a, b = texture.RING
    inner, outer = np.flatnonzero((v > a) & (v <= b)), np.flatnonzero((v < -a) & (v >= -b))
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    v2s = [np.square(band @ luma) for band in texture.detail_bands(soft)]
    grids = texture._CellGrids(inner, outer, inside.shape[1])
    ring = np.union1d(inner, outer)
    corner = (ring // inside.shape[1]).min(), (ring % inside.shape[1]).min()
    half = texture.CELL // 2
    offsets = ((0, 0), (0, half), (half, 0), (half, half))
    direct = [[_cells_at(v2, inner, outer, corner, off) for off in offsets] for v2 in v2s]
    binned = [grids.log_ratios(v2.reshape(-1)[inner], v2.reshape(-1)[outer]) for v2 in v2s]
    for d_band, b_band in zip(direct, binned, strict=True):
        for d, c in zip(d_band, b_band, strict=True):
            np.testing.assert_allclose(np.sort(c), np.sort(d), rtol=1e-5, atol=1e-6)
    each = [texture._cell_features([[band[k]] for band in binned], [1.0, -1.0]) for k in range(4)]
    assert len({tuple(np.round(e, 6)) for e in each}) > 1  # the placements see different cells
    np.testing.assert_allclose(texture._cell_features(binned, [1.0, -1.0]), np.mean(each, axis=0))
    # one placement: per band agreement in [0, 1], then log(1 + cells compared)
    assert all(0.0 <= e[0] <= 1.0 and 0.0 <= e[3] <= 1.0 and e[6] == np.log(1 + max(c.size for c in
               (binned[0][k], binned[1][k]))) for k, e in enumerate(each))


def test_thin_rings_cannot_be_measured():
    inside = np.zeros((40, 40), bool)
    inside[18:22, 18:22] = True
    assert texture.measure_texture(grainy(3, 40, 40), inside) is None


def test_change_stays_inside_the_fill_and_scales_with_confidence():
    x, inside = grainy(4), disc()
    sd = signed_distance(inside)
    full = texture.texture_change(x, sd, np.array([1.5, 1.2]), 1.0)
    half = texture.texture_change(x, sd, np.array([1.5, 1.2]), 0.5)
    assert not full[sd <= 0.5].any() and np.abs(full[sd > 4]).max() > 0.01
    np.testing.assert_allclose(half, 0.5 * full, atol=1e-7)
    assert not texture.texture_change(x, sd, np.ones(2), 1.0).any()
    # known value: past the ramp, the bands' sum scaled by the gains less one, as detail_bands gives them
    b0, b1 = texture.detail_bands(x)
    deep = sd > 0.5 + texture.RAMP
    np.testing.assert_array_equal(full[deep], (np.float32(0.5) * b0 + np.float32(0.2) * b1)[deep])


def upscaled_fill(seed: int = 5):
    """(clean, composite, mask, inside): a disc of ``grainy(seed)`` generated at 2/3 of the size and
    upscaled, pasted back hard."""
    clean, inside = grainy(seed), disc()
    h, w = inside.shape
    small = (round(w / 1.5), round(h / 1.5))
    upscaled = cv2.resize(cv2.resize(clean, small, interpolation=cv2.INTER_AREA), (w, h),
                          interpolation=cv2.INTER_CUBIC)
    comp = np.where(inside[..., None], upscaled, clean).astype(np.float32)
    return clean, comp, inside.astype(np.float32), inside


def test_open_gate_restores_the_sharpness_of_an_upscaled_fill(monkeypatch):
    clean, comp, mask, inside = upscaled_fill()
    monkeypatch.setattr(texture, "load_gate", always_open)
    change, info = texture.match_texture(comp, mask)
    assert info["gains"][0] > 1.5  # here at its limit, GAIN_LIMITS[1]
    # strong grain: the full correction would move the band past the cap, so it is scaled to meet it
    assert 0.5 < info["gate"] < 1.0
    band = imagemath.band_weights(mask, *texture.CAP_BAND)
    assert M.band_psnr(comp + change, comp, band) == pytest.approx(texture.CAP_DB, abs=0.05)
    before = abs(M.blur_mismatch(comp, mask) - M.blur_mismatch(clean, mask))
    after = abs(M.blur_mismatch(comp + change, mask) - M.blur_mismatch(clean, mask))
    assert after < 0.45 * before


def test_the_cap_lifts_only_beyond_the_gates_certain_logit(monkeypatch):
    _, comp, mask, inside = upscaled_fill()
    base = always_open()  # logit 0, lo −10: fully open
    for certain, want_capped in ((float("inf"), True), (0.25, True), (-0.25, None), (-0.5, False)):
        gate = GateModel(base.mean, base.scale, base.weights, base.bias, base.lo, base.hi, base.features,
                         certain)
        monkeypatch.setattr(texture, "load_gate", lambda gate=gate: gate)
        change, info = texture.match_texture(comp, mask)
        cap = imagemath.capped_strength(texture.texture_change(*_change_inputs(comp, inside), 1.0),
                                        signed_distance(inside), *texture.CAP_BAND, texture.CAP_DB)
        assert cap < 0.9
        if want_capped is True:
            assert info["gate"] == pytest.approx(cap)
        elif want_capped is False:
            assert info["gate"] == 1.0
        else:  # halfway up the lift (CERTAIN_RAMP 0.5 beyond certain)
            assert info["gate"] == pytest.approx(cap + 0.5 * (1 - cap))


def test_a_change_an_earlier_stage_made_on_its_cap_shrinks_the_texture_caps_budget(monkeypatch):
    _, comp, mask, inside = upscaled_fill()
    monkeypatch.setattr(texture, "load_gate", always_open)  # 'certain' is +inf: the cap holds
    budget = 10 ** (-texture.CAP_DB / 20)
    sd = signed_distance(inside)
    _, whole = texture.match_texture(comp, mask)
    half, info = texture.match_texture(comp, mask, spent=budget / 2)
    assert info["gate"] == pytest.approx(whole["gate"] / 2)
    assert imagemath.band_rms(half, sd, *texture.CAP_BAND) == pytest.approx(budget / 2, rel=1e-3)
    none, info = texture.match_texture(comp, mask, spent=budget)
    assert info["gate"] == 0.0 and not none.any()


def _change_inputs(x, inside):
    sd = signed_distance(inside)
    gains, _ = texture.measure_texture(x, inside, sd)
    return x, sd, gains


def test_shipped_gate_leaves_a_clean_photo_alone():
    x = grainy(6)
    change, info = texture.match_texture(x, disc().astype(np.float32))
    assert info["gate"] == 0.0 and not change.any()
    doc = json.loads(texture.DEFAULT_PATH.read_text())
    assert doc["features"] == list(texture.TEXTURE_FEATURES)
    assert "train_texture_gate" in doc["training"]["command"]


def test_gate_file_errors_carry_the_path_or_field(tmp_path):
    with pytest.raises(ModelError, match="cannot read the texture gate") as e:
        texture.load_gate(tmp_path / "missing.json")
    assert e.value.value == str(tmp_path / "missing.json")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({**always_open().to_dict(), "features": ["z"]}))
    with pytest.raises(ModelError, match="do not match") as e:
        texture.load_gate(wrong)
    assert e.value.value == ["z"]


def test_classical_stage_is_colour_then_texture(monkeypatch):
    clean, inside = grainy(7), disc()
    comp = np.where(inside[..., None], clean + np.float32([0.08, 0.02, -0.05]), clean).astype(np.float32)
    mask = inside.astype(np.float32)
    change, info = classical.classical_change(comp, mask)
    colour, colour_info = harmonise.harmonise(comp, mask)
    assert set(info) == {"harmonise", "membrane", "texture", "grain", "jpeg"}
    assert info["harmonise"]["gate"] == colour_info["gate"] == 1.0
    # then the edge membrane on the harmonised image (it runs here: a hard paste the selection hugs)
    m = harmonise.measure(comp, mask)
    edge, edge_info = edge_membrane.edge_membrane(np.clip(comp + colour, 0.0, 1.0), m.inside, m.seam.edge_z,
                                                  m.seam.gap, colour_info["confidence"])
    assert info["membrane"] == edge_info and edge_info["gate"] == 1.0
    np.testing.assert_array_equal(change, colour + edge)  # the texture gate stays closed on matching grain
    monkeypatch.setattr(texture, "load_gate", always_open)
    change, info = classical.classical_change(comp, mask)
    assert info["texture"]["gate"] == 1.0 and not np.array_equal(change, colour)


def test_a_given_signed_distance_gives_the_same_change(monkeypatch):
    clean, inside = grainy(8), disc()
    comp = np.where(inside[..., None], cv2.GaussianBlur(clean, (0, 0), 1.5), clean).astype(np.float32)
    monkeypatch.setattr(texture, "load_gate", always_open)
    mask = inside.astype(np.float32)
    own, _ = texture.match_texture(comp, mask)
    given, _ = texture.match_texture(comp, mask, signed_distance(inside))
    np.testing.assert_array_equal(own, given)
