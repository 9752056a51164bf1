"""seamrefine.runtime.harmonise: smoke, known values (offset, gain, feathered ramp, plane), gate, errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from seamrefine.errors import DTypeError, EmptyMaskError, ShapeError
from seamrefine.imaging import imagemath
from seamrefine.imaging import metrics as M
from seamrefine.runtime import colour_map, seam_rank, seam_zone, split_map
from seamrefine.runtime import harmonise as H
from seamrefine.runtime import ring_profile as R
from seamrefine.runtime.paste_weights import PIXEL_ALPHA_MAX_GAP


def texture(seed: int, h: int = 160, w: int = 200) -> np.ndarray:
    """A photo-like float32 RGB image: a random smooth colour field (σ 8 px, std 0.07) plus grain."""
    rng = np.random.default_rng(seed)
    field = cv2.GaussianBlur(rng.normal(0, 1, (h, w, 3)).astype(np.float32), (0, 0), 8.0)
    field *= 0.07 / field.std()
    grain = rng.normal(0, 0.02, (h, w, 3)).astype(np.float32)
    return np.clip(0.5 + field + grain, 0.0, 1.0).astype(np.float32)


def ellipse(h: int = 160, w: int = 200, cy: float = 80, cx: float = 95, ry: float = 45, rx: float = 60):
    yy, xx = np.mgrid[:h, :w]
    return (((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0).astype(np.float32)


def pasted(clean: np.ndarray, alpha: np.ndarray, fake: np.ndarray) -> np.ndarray:
    return (clean + alpha[..., None] * (fake - clean)).astype(np.float32)


def band_gain(change: np.ndarray, comp: np.ndarray, clean: np.ndarray, mask: np.ndarray) -> float:
    band = imagemath.band_weights(mask, 16, 8)
    return M.band_psnr(comp + change, clean, band) - M.band_psnr(comp, clean, band)


def test_smoke_shape_dtype_and_info():
    clean, mask = texture(0), ellipse()
    change, info = H.harmonise(pasted(clean, mask, clean + 0.06), mask)
    assert change.shape == clean.shape and change.dtype == np.float32 and np.isfinite(change).all()
    assert {"position", "gap", "z", "step", "gate", "gain", "offset"} <= set(info)


def test_hard_uniform_offset_is_removed():
    clean, mask = texture(1), ellipse()
    comp = pasted(clean, mask, clean + np.float32([0.07, 0.03, -0.04]))
    change, info = H.harmonise(comp, mask)
    assert info["gate"] == 1.0 and info["position"] == 0 and info["gap"] == 0
    inside = mask > 0.5
    err_before = np.abs(comp - clean)[inside].mean()
    err_after = np.abs(comp + change - clean)[inside].mean()
    assert err_after < 0.15 * err_before
    assert band_gain(change, comp, clean, mask) > 12.0


def test_gain_and_offset_known_values():
    clean, mask = texture(2), ellipse()
    comp = pasted(clean, mask, clean * 1.12 - 0.02)  # brighter and more contrasty fill
    change, info = H.harmonise(comp, mask)
    assert info["gate"] == 1.0
    np.testing.assert_allclose(info["gain"], np.eye(3) / 1.12, atol=0.04)
    assert band_gain(change, comp, clean, mask) > 8.0


def test_feathered_paste_inside_the_selection():
    # the user selected 3 px more than the fill, and the fill was feathered over ~4 px
    clean = texture(3)
    shape = ellipse()
    sd = R.signed_distance(shape > 0.5)
    alpha = np.clip((sd - 3.0) / 4.0 + 0.5, 0, 1).astype(np.float32)
    comp = pasted(clean, alpha, clean + np.float32([0.06, 0.06, 0.0]))
    change, info = H.harmonise(comp, shape)
    assert info["gate"] > 0.9 and info["gap"] >= 2 and 0 <= info["position"] <= 5
    assert band_gain(change, comp, clean, shape) > 7.0


def test_colour_gradient_across_the_fill_is_followed_by_the_plane(monkeypatch):
    clean, mask = texture(4), ellipse()
    xx = np.mgrid[:160, :200][1].astype(np.float32) / 200
    drift = np.stack([0.02 + 0.1 * xx, 0.02 + 0.1 * xx, np.zeros_like(xx)], -1)
    comp = pasted(clean, mask, clean + drift)
    left, right = (mask > 0.5) & (xx < 0.35), (mask > 0.5) & (xx > 0.6)
    monkeypatch.setattr(split_map, "SHARE", 0.0)  # the plane alone: no map per half of the contour

    def errors() -> list[float]:
        change, _ = H.harmonise(comp, mask)
        return [float(np.abs(comp + change - clean)[part].mean()) for part in (left, right)]

    with_plane = errors()
    monkeypatch.setattr(colour_map, "PLANE_RIDGE", 1e9)  # slopes forced to 0: one offset for the whole fill
    flat = errors()
    for part, err, err_flat in zip((left, right), with_plane, flat, strict=True):
        assert err < 0.5 * np.abs(comp - clean)[part].mean()  # both ends corrected
        assert err < 0.8 * err_flat  # and better than a single offset


def test_clean_edges_are_left_alone_or_within_the_cap():
    untouched = []
    for seed in range(6):
        clean = texture(10 + seed)
        mask = ellipse(cy=60 + 8 * seed, cx=80 + 10 * seed, ry=30 + 3 * seed, rx=40)
        m = H.measure(clean, mask)
        change, info = H.apply(clean, m)
        if H.gate_logit(m.seam) < H.capped_from():
            assert info["gate"] == 0.0 and not change.any(), seed
        else:  # just under the gate's ramp (seed 1 since the thirtieth session's gate): capped, never more
            assert 0.0 < info["gate"] <= H.CAPPED_MAX and "capped_rms" in info, seed
            band = imagemath.band_weights(mask, *H.CAP_BAND)
            assert M.band_psnr(clean + change, clean, band) >= H.CAP_DB - 0.05, seed
        untouched.append(not change.any())
    assert sum(untouched) >= 5, untouched  # most clean edges are left bit-identical


def test_nothing_changes_beyond_reach():
    clean, mask = texture(5), ellipse()
    shape = ellipse(ry=41, rx=56)  # the paste sits 4 px inside the selection: the ramp starts inside
    comp = pasted(clean, shape, clean + 0.08)
    change, info = H.harmonise(comp, mask, reach=2)
    assert info["gate"] > 0
    far = imagemath.distance_to_region(mask > 0.5, 4) > 2
    assert not change[far].any()


def test_gate_uses_the_learned_model(monkeypatch):
    seen = []

    class Fake:
        def confidence(self, features):
            seen.append(features)
            return 0.25

    monkeypatch.setattr(H.seam_gate, "load", lambda: Fake())
    n = len(H.seam_gate.FEATURES)
    seam = H.Seam(0, 0, 3.0, 0.05, tuple(float(i) for i in range(n)))
    assert H.gate(seam) == 0.25 and list(seen[0]) == list(range(n))
    assert H.gate(H.Seam(0, 0, 0.0, 0.0, ())) == 0.0  # nothing measured: no correction


def test_features_separate_a_seam_from_a_clean_edge():
    clean, mask = texture(7), ellipse()
    seam = H.measure(pasted(clean, mask, clean + 0.06), mask).seam
    plain = H.measure(clean, mask).seam
    assert len(seam.features) == len(H.seam_gate.FEATURES)
    assert seam.features[1] > plain.features[1] + 1.0  # log1p of the excess z
    assert H.gate(seam) == 1.0 and H.gate(plain) == 0.0


def test_the_gate_judges_the_means_map_and_the_pixels_map_is_applied():
    # the gate's features were learned on the map whose gain is the local means' spread ratio; the
    # map applied takes its gain from the pixels' spread (twenty-third session), its samples weighed
    # by the content step learned there (twenty-sixth session)
    from seamrefine.runtime import content_step, seam_features

    clean, mask = texture(2), ellipse()
    profile = H.ring_profile_of(pasted(clean, mask, clean * 1.12 - 0.02), mask)[2]
    seam = H.find_seam(profile)
    cands = [c for c in profile.all_stats(H.CANDIDATES) if c is not None]
    best = seam_rank.pick(cands, seam_rank.GATE)
    judged = colour_map.fit_colour_map(profile, best.position, best.gap, pixel_gain=False)
    want = seam_features.gate_features(profile, best, cands, judged)
    np.testing.assert_array_equal(seam.features[:len(want)], want)
    weights = content_step.sample_weights(profile, seam.position, seam.gap)
    applied = colour_map.fit_colour_map(profile, seam.position, seam.gap, weights=weights)
    np.testing.assert_array_equal(seam.colour_map.gain, applied.gain)
    np.testing.assert_array_equal(seam.colour_map.offset, applied.offset)
    assert not np.allclose(applied.gain, judged.gain)


def test_errors_carry_the_bad_value():
    x, mask = texture(6), ellipse()
    with pytest.raises(DTypeError, match="float32") as e:
        H.harmonise(x.astype(np.float64), mask)
    assert e.value.value == "float64"
    with pytest.raises(ShapeError, match="H×W×3") as e:
        H.harmonise(x[..., :2].copy(), mask)
    assert e.value.value == (160, 200, 2)
    with pytest.raises(ShapeError, match="mask must be") as e:
        H.harmonise(x, mask[:10])
    assert e.value.value == (10, 200)
    with pytest.raises(EmptyMaskError):
        H.harmonise(x, np.zeros_like(mask))


@pytest.mark.parametrize("gap", [1, PIXEL_ALPHA_MAX_GAP + 1])
def test_correction_weighs_pixels_in_narrow_zones_and_rings_in_wide_ones(monkeypatch, gap):
    # the same half-pasted ring 1 as above, under a pure offset map (change = weight · offset)
    mask = ellipse()
    ring = np.floor(R.signed_distance(mask > 0.5))
    pasted_px = (ring >= 2) | ((ring == 1) & (np.arange(200)[None, :] % 2 == 0))
    x = np.where(pasted_px[..., None], 0.6, 0.3).astype(np.float32) * np.ones(3, np.float32)
    offset = np.full(3, -0.3)
    cmap = colour_map.ColourMap(np.ones(3), offset, np.zeros((2, 3)), (80.0, 95.0), 60.0)
    m = H.Measurement(1, mask > 0.5, None, H.Seam(1, gap, 9.0, 0.3, (), cmap))
    monkeypatch.setattr(seam_zone, "ramp_profile", lambda profile, position, gap: (np.array([0.0, 1.0, 2.0]),
                                                                                   np.array([0.0, 0.5, 1.0])))
    change, _ = H.correction(x, m, 1.0)
    weight = change[..., 0] / offset[0]
    r1 = ring == 1
    if gap <= PIXEL_ALPHA_MAX_GAP:
        np.testing.assert_allclose(weight[r1 & pasted_px], 1.0, atol=0.02)
        np.testing.assert_allclose(weight[r1 & ~pasted_px], 0.0, atol=0.02)
    else:
        np.testing.assert_allclose(weight[r1], 0.5, atol=1e-6)  # the ring's share, pixel by pixel
    np.testing.assert_allclose(weight[ring >= 2], 1.0, atol=1e-6)


def test_apply_on_a_measurement_is_harmonise():
    clean, mask = texture(9), ellipse()
    comp = pasted(clean, mask, clean * 0.9 + 0.03)
    change, info = H.harmonise(comp, mask)
    again, info_again = H.apply(comp, H.measure(comp, mask))
    np.testing.assert_array_equal(change, again)
    assert info == info_again and info["gate"] > 0


def test_a_seam_the_gate_is_sure_of_gets_the_wider_gain_limits(monkeypatch):
    # a fill whose contrast is 1/1.4 of the photo's: the gate's logit is past its ramp's end by more
    # than CONFIDENT_LOGIT, so the map's gain reaches 1.4 (thirty-ninth session); required further
    # past it, the gain stops at GAIN_LIMITS
    from seamrefine.runtime import seam_gate

    clean, mask = texture(2), ellipse()
    mean = clean.reshape(-1, 3).mean(0)
    profile = H.ring_profile_of(pasted(clean, mask, np.clip(mean + (clean - mean) / 1.4 + 0.03, 0, 1)),
                                mask)[2]
    seam = H.find_seam(profile)
    assert H.gate_logit(seam) >= seam_gate.load().hi + H.CONFIDENT_LOGIT
    largest = np.linalg.eigvalsh(0.5 * (seam.colour_map.gain + seam.colour_map.gain.T)).max()
    assert largest > 1.35
    monkeypatch.setattr(H, "CONFIDENT_LOGIT", np.inf)
    narrow = H.find_seam(profile).colour_map.gain
    np.testing.assert_allclose(np.linalg.eigvalsh(0.5 * (narrow + narrow.T)).max(), colour_map.GAIN_LIMITS[1],
                               atol=1e-3)
    assert H.find_seam(profile).features == seam.features  # the gate judges the same seam either way


def test_the_gate_judges_one_rankers_pick_and_the_map_is_fitted_at_the_others(monkeypatch, tmp_path):
    # twenty-ninth session: the map's ranker also reads the whitened z, the gate's does not
    import dataclasses
    import json

    from seamrefine.runtime import seam_features, seam_gate

    def linear(ranker, column):
        n = len(ranker.features)
        weights = np.eye(n)[column]
        model = seam_gate.GateModel(np.zeros(n), np.ones(n), weights, 0.0, 0.0, 1.0, ranker.features)
        path = tmp_path / f"{ranker.name}.json"
        path.write_text(json.dumps(model.to_dict()))
        seam_gate.forget(path)
        return dataclasses.replace(ranker, path=path)

    monkeypatch.setattr(seam_rank, "GATE", linear(seam_rank.GATE, 0))  # the largest z
    monkeypatch.setattr(seam_rank, "MAP", linear(seam_rank.MAP, 4))  # the deepest candidate
    clean, mask = texture(2), ellipse()
    profile = H.ring_profile_of(pasted(clean, mask, clean + np.float32([0.06, 0.0, -0.04])), mask)[2]
    seam = H.find_seam(profile)
    cands = [c for c in profile.all_stats(H.CANDIDATES) if c is not None]
    judged, fitted = max(cands, key=lambda c: c.z), max(cands, key=lambda c: c.position)
    assert (judged.position, judged.gap) != (fitted.position, fitted.gap)
    cmap = colour_map.fit_colour_map(profile, judged.position, judged.gap, pixel_gain=False)
    pick = seam_features.gate_features(profile, judged, cands, cmap)
    np.testing.assert_array_equal(seam.features[:len(pick)], pick)  # then its runners-up's
    assert (seam.position, seam.gap) == seam_zone.grow_zone(profile, fitted.position, fitted.gap)
    assert (seam.z, seam.step) == (judged.z_excess, judged.step)


def test_a_change_larger_than_any_learned_seam_is_refused():
    # the fill darkened to 55 %: its full map would change it by ~0.2 on average, beyond MAX_MEAN_CHANGE
    clean, mask = texture(9), ellipse()
    comp = pasted(clean, mask, clean * 0.55)
    m = H.measure(comp, mask)
    assert H.gate(m.seam) > 0  # the gate alone would open
    change, info = H.apply(comp, m)
    assert not change.any() and info["gate"] == 0.0
    assert info["refused_mean_change"] > H.MAX_MEAN_CHANGE
    # the same seam at a third of the size is corrected
    comp = pasted(clean, mask, clean * 0.85)
    change, info = H.harmonise(comp, mask)
    assert info["gate"] > 0 and "refused_mean_change" not in info and change.any()


class _FixedGate:
    """A seam gate with a fixed logit and confidence."""

    lo = 3.0  # its ramp's start: capped from 3.0 − CAPPED_BELOW

    def __init__(self, logit: float, confidence: float):
        self._logit, self._conf = logit, confidence

    def logit(self, features):
        return self._logit

    def confidence(self, features):
        return self._conf


def test_below_the_ramp_the_correction_is_capped(monkeypatch):
    clean, mask = texture(3), ellipse()
    comp = pasted(clean, mask, clean + np.float32([0.06, 0.02, -0.03]))
    m = H.measure(comp, mask)
    full, _ = H.correction(comp, m, 1.0)
    band = imagemath.band_weights(mask, *H.CAP_BAND)
    assert M.band_psnr(comp + full, comp, band) < H.CAP_DB - 3  # the full map moves the band further
    monkeypatch.setattr(H.seam_gate, "load", lambda: _FixedGate(_FixedGate.lo - H.CAPPED_BELOW + 0.5, 0.0))
    change, info = H.apply(comp, m)
    assert info["confidence"] == 0.0 and 0.0 < info["gate"] < 1.0
    np.testing.assert_allclose(change, full * np.float32(info["gate"]), atol=1e-7)
    assert M.band_psnr(comp + change, comp, band) == pytest.approx(H.CAP_DB, abs=0.1)
    assert info["capped_rms"] == pytest.approx(10 ** (-H.CAP_DB / 20), rel=1e-4)
    assert band_gain(change, comp, clean, mask) > 0.5  # part of the seam is gone
    capped = info["gate"]
    # on the ramp's lower part the cap holds too, though the ramp gives more (forty-fourth session)
    assert capped < H.CAPPED_MAX
    on_ramp = (capped + H.CAPPED_MAX) / 2
    monkeypatch.setattr(H.seam_gate, "load", lambda: _FixedGate(_FixedGate.lo + 0.1, on_ramp))
    change, info = H.apply(comp, m)
    assert info["confidence"] == on_ramp and info["gate"] == pytest.approx(capped, abs=1e-9)
    np.testing.assert_allclose(change, full * np.float32(capped), atol=1e-7)
    # below capped_from() nothing changes; from CAPPED_MAX up the ramp, the ramp stands
    monkeypatch.setattr(H.seam_gate, "load", lambda: _FixedGate(_FixedGate.lo - H.CAPPED_BELOW - 0.5, 0.0))
    change, info = H.apply(comp, m)
    assert not change.any() and info["gate"] == 0.0
    monkeypatch.setattr(H.seam_gate, "load", lambda: _FixedGate(5.0, 0.6))
    change, info = H.apply(comp, m)
    assert info["gate"] == info["confidence"] == 0.6
    np.testing.assert_array_equal(change, H.correction(comp, m, 0.6)[0])
    # a change the cap does not bind is still applied at CAPPED_MAX at most
    monkeypatch.setattr(H, "CAP_DB", 0.0)
    monkeypatch.setattr(H.seam_gate, "load", lambda: _FixedGate(_FixedGate.lo - H.CAPPED_BELOW + 0.5, 0.2))
    change, info = H.apply(comp, m)
    assert info["gate"] == H.CAPPED_MAX and info["confidence"] == 0.2
    np.testing.assert_allclose(change, full * np.float32(H.CAPPED_MAX), atol=1e-7)


def test_a_paste_edge_deep_inside_a_grown_selection_is_found():
    # the selection grown 6 px beyond the fill's hard edge (a tool that grows its mask): the seam sits
    # 6 px inside the selection, and the fill's offset is still removed
    for seed in (21, 22):
        clean, mask = texture(seed), ellipse()
        sd = R.signed_distance(mask > 0.5)
        alpha = (sd > 6.0).astype(np.float32)
        comp = pasted(clean, alpha, clean + np.float32([0.06, 0.02, -0.05]))
        change, info = H.harmonise(comp, mask)
        assert info["gate"] == 1.0 and info["position"] in (6, 7), info
        assert band_gain(change, comp, clean, mask) > 10.0
