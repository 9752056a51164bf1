"""seamrefine.runtime.seam_rank: the learned candidate rankers, the gate's and the map's (smoke, known
values, errors, the shipped files and their trainer)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from seamrefine.errors import ModelError
from seamrefine.runtime import colour_map, harmonise, seam_gate, seam_rank, seam_zone
from seamrefine.runtime.ring_profile import CandidateStats
from seamrefine.runtime.seam_features import gate_features, judged_features, step_features, whitened_features
from seamrefine_train import train_rank

from ..support.synthetic_images import noise_photo_folder
from .test_harmonise import ellipse, pasted, texture


def cand(s, g, z, z_excess=1.0, step=0.05, n=400, z_white=None):
    z_white = z if z_white is None else z_white
    return CandidateStats(s, g, z, z_excess, step, 0.1, 0.05, n, z_white, z_excess)


def linear_ranker(path, weights, ranker=seam_rank.GATE):
    """A ranker file without a hidden layer: score = features · weights (unit standardisation)."""
    n = len(ranker.features)
    model = seam_gate.GateModel(np.zeros(n), np.ones(n), np.asarray(weights, float), 0.0, 0.0, 1.0,
                                ranker.features)
    path.write_text(json.dumps(model.to_dict()))
    seam_gate.forget(path)
    return path


@pytest.mark.parametrize("ranker", [seam_rank.GATE, seam_rank.MAP])
def test_pick_smoke_with_the_shipped_rankers(ranker):
    cands = [cand(0, 0, 2.0), cand(3, 2, 9.0, 8.0, 0.1), cand(6, 0, 4.0)]
    assert seam_rank.pick(cands, ranker) in cands
    assert seam_rank.candidate_features(cands, ranker).shape == (3, len(ranker.features))
    assert seam_rank.load(ranker).features == ranker.features


def test_pick_known_values(tmp_path):
    cands = [cand(0, 0, 2.0), cand(3, 2, 9.0), cand(6, 0, 4.0)]
    by_z = linear_ranker(tmp_path / "z.json", [1.0] + [0.0] * 8)  # log1p(z) alone: the largest z
    assert seam_rank.pick(cands, path=by_z) is cands[1]
    by_position = linear_ranker(tmp_path / "s.json", [0.0] * 4 + [1.0] + [0.0] * 4)  # the deepest
    assert seam_rank.pick(cands, path=by_position) is cands[2]
    tie = linear_ranker(tmp_path / "tie.json", [0.0] * 9)
    assert seam_rank.pick(cands, path=tie) is cands[0]  # equals: the first


def test_pool_known_values(tmp_path):
    cands = [cand(0, 0, 2.0), cand(3, 2, 9.0), cand(6, 0, 4.0)]
    by_z = linear_ranker(tmp_path / "z.json", [1.0] + [0.0] * 8)  # score log1p(z): log 3, log 10, log 5
    # softmax at temperature 1: 3/18, 10/18, 5/18; at least 0.2 keeps the pick and z = 4
    got = seam_rank.pool(cands, seam_rank.GATE, by_z, temperature=1.0, min_weight=0.2)
    assert [c for c, _ in got] == [cands[1], cands[2]]
    assert [w for _, w in got] == pytest.approx([10 / 15, 5 / 15])
    assert seam_rank.pool(cands, seam_rank.GATE, by_z, temperature=0.01) == [(cands[1], 1.0)]
    tie = linear_ranker(tmp_path / "tie.json", [0.0] * 9)
    got = seam_rank.pool(cands, seam_rank.GATE, tie, min_weight=0.4)  # none reaches it: the pick alone
    assert got == [(cands[0], 1.0)]
    got = seam_rank.pool(cands, seam_rank.GATE, tie)
    assert [c for c, _ in got] == cands and [w for _, w in got] == pytest.approx([1 / 3] * 3)


def test_pool_needs_a_positive_temperature():
    with pytest.raises(ValueError, match="temperature must be > 0, got 0.0"):
        seam_rank.pool([cand(0, 0, 2.0)], temperature=0.0)


def test_pool_smoke_with_the_shipped_ranker():
    cands = [cand(0, 0, 2.0), cand(3, 2, 9.0, 8.0, 0.1), cand(6, 0, 4.0)]
    got = seam_rank.pool(cands)
    assert got[0][0] is seam_rank.pick(cands, seam_rank.MAP)
    assert sum(w for _, w in got) == pytest.approx(1.0) and all(w > 0 for _, w in got)


def test_the_maps_ranker_reads_the_whitened_z(tmp_path):
    hue = [cand(0, 0, 9.0, z_white=2.0), cand(3, 0, 2.0, z_white=12.0)]  # a hue step the RGB z misses
    by_z = linear_ranker(tmp_path / "z.json", [1.0] + [0.0] * 8)
    by_white = linear_ranker(tmp_path / "w.json", [0.0] * 9 + [1.0, 0.0], seam_rank.MAP)
    assert seam_rank.pick(hue, path=by_z) is hue[0]
    assert seam_rank.pick(hue, seam_rank.MAP, by_white) is hue[1]
    with pytest.raises(ModelError, match="do not match") as e:  # a file read as the wrong ranker
        seam_rank.load(seam_rank.GATE, by_white)
    assert e.value.value == list(seam_rank.MAP.features)


def test_features_are_the_gates_step_features_and_the_whitened_z():
    c = cand(2, 4, 5.0, 3.0, 0.08, 900, z_white=7.0)
    f = step_features(c, 6.0)
    assert f == pytest.approx((np.log1p(5.0), np.log1p(3.0), np.log(0.08 + 1e-3), np.log1p(6.0), 0.5,
                               1.0, np.log(900), np.log(0.1 + 1e-3), 0.5))
    assert whitened_features(c) == pytest.approx((np.log1p(7.0), np.log1p(3.0)))
    per_candidate = seam_gate.CANDIDATE_FEATURES
    assert seam_rank.GATE.features == per_candidate[:9] and not seam_rank.GATE.whitened
    assert seam_rank.MAP.features[:9] == per_candidate[:9] and seam_rank.MAP.whitened
    assert set(seam_rank.MAP.features) <= set(per_candidate)  # named and read as the gate has them
    pair = [c, cand(0, 0, 1.0, 6.0)]
    assert seam_rank.candidate_features(pair)[0] == pytest.approx(f)
    assert seam_rank.candidate_features(pair, seam_rank.MAP)[0] == pytest.approx((*f, *whitened_features(c)))
    against = CandidateStats(0, 0, 1.0, 2.0, 0.05, 0.1, 0.05, 400, -1.0, -0.5)  # projected against its median
    assert whitened_features(against) == (0.0, 0.0)


def test_top_ranks_best_first_and_starts_with_the_pick():
    cands = [cand(0, 0, 1.0, 0.5), cand(2, 2, 5.0, 4.0, 0.08), cand(1, 0, 3.0, 2.0, 0.05)]
    scores = seam_rank.load(seam_rank.GATE).logits(seam_rank.candidate_features(cands))
    ranked = seam_rank.top(cands, 3)
    assert ranked[0] is seam_rank.pick(cands)
    assert [scores[cands.index(c)] for c in ranked] == sorted(scores, reverse=True)
    assert seam_rank.top(cands, 2) == ranked[:2] and seam_rank.top(cands[:1], 4) == cands[:1]


def test_the_gate_reads_the_pick_and_its_runners_up():
    clean, mask = texture(4), ellipse()
    m = harmonise.measure(pasted(clean, mask, clean + np.float32([0.06, 0.02, -0.03])), mask)
    cands = [c for c in m.profile.all_stats(harmonise.CANDIDATES) if c is not None]
    ranked = seam_rank.top(cands, seam_gate.JUDGED)
    rows = np.array([gate_features(m.profile, c, cands, colour_map.fit_colour_map(
        m.profile, c.position, c.gap, pixel_gain=False)) for c in ranked])
    n = len(seam_gate.CANDIDATE_FEATURES)
    assert len(ranked) == seam_gate.JUDGED and len(m.seam.features) == len(seam_gate.FEATURES) == 4 * n
    want = np.concatenate([rows[0], rows[1:].max(0), rows[1:].min(0), rows[1:].mean(0)])
    np.testing.assert_array_equal(m.seam.features, want)  # what the candidates share is not changed
    alone = judged_features(m.profile, ranked[:1], cands, seam_gate.JUDGED)  # no runners-up: the pick's
    assert alone == pytest.approx(np.tile(rows[0], 4))
    assert seam_gate.FEATURES[n] == f"max_runner_up_{seam_gate.CANDIDATE_FEATURES[0]}"
    with pytest.raises(ValueError, match="count must be ≥ 2.*got count 1"):
        judged_features(m.profile, ranked, cands, 1)
    with pytest.raises(ValueError, match="0 ranked"):
        judged_features(m.profile, [], cands, 4)


def test_gate_features_start_with_the_step_features():
    clean, mask = texture(4), ellipse()
    x = pasted(clean, mask, clean + np.float32([0.06, 0.02, -0.03]))
    m = harmonise.measure(x, mask)
    cands = [c for c in m.profile.all_stats(harmonise.CANDIDATES) if c is not None]
    best = seam_rank.pick(cands, seam_rank.GATE)
    mx = max(c.z_excess for c in cands)
    judged = colour_map.fit_colour_map(m.profile, best.position, best.gap, pixel_gain=False)
    feats = gate_features(m.profile, best, cands, judged)
    assert len(feats) == len(seam_gate.CANDIDATE_FEATURES)
    assert feats[:9] == pytest.approx(step_features(best, mx))
    white = [best.z_white, best.z_white_excess, max(c.z_white for c in cands),
             max(c.z_white_excess for c in cands)]
    assert feats[-4:] == pytest.approx(np.log1p(np.maximum(white, 0.0)))


def test_missing_or_bad_ranker_is_a_typed_error(tmp_path):
    with pytest.raises(ModelError, match=r"seam ranker \(map\)"):
        seam_rank.load(seam_rank.MAP, tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"features": list(seam_gate.FEATURES)}))
    with pytest.raises(ModelError, match="do not match") as e:
        seam_rank.load(path=bad)
    assert e.value.value == list(seam_gate.FEATURES)


@pytest.mark.parametrize("ranker", seam_rank.RANKERS.values(), ids=list(seam_rank.RANKERS))
def test_shipped_ranker_records(ranker):
    doc = json.loads(ranker.path.read_text())
    assert doc["features"] == list(ranker.features)
    command = doc["training"]["command"]
    assert command.startswith("python -m seamrefine_train train_rank")
    assert ("--ranker map" in command) == (ranker is seam_rank.MAP)
    for fam, rec in doc["training"]["per_family"].items():  # the ranker's pick beats the largest z
        assert rec["picked_db"] > rec["max_z_db"], fam


@pytest.mark.parametrize("ranker", seam_rank.RANKERS.values(), ids=list(seam_rank.RANKERS))
def test_train_rank_smoke(tmp_path, capsys, ranker):
    photos = noise_photo_folder(tmp_path / "photos", seed=3)
    out = tmp_path / "rank.json"
    argv = ["--ranker", ranker.name, "--photos", str(photos), "--cases", "24", "--workers", "1", "--sizes",
            "160", "--out", str(out), "--members", "2", "--hidden", "4", "--rows", str(tmp_path / "rows.npz")]
    assert train_rank.main(argv) == 0
    n = len(ranker.features)
    rows = np.load(tmp_path / "rows.npz")
    assert rows["features"].shape[2] == n and rows["gains"].shape == rows["valid"].shape
    assert rows["valid"].sum(1).min() >= 2  # every case kept ranks at least two candidates
    model = seam_rank.load(ranker, out)
    assert model.hidden.shape == (8, n) and model.features == ranker.features
    rec = json.loads(out.read_text())["training"]
    assert rec["cases"] >= 20 and set(rec["per_family"]) <= set(train_rank.FAMILY_WEIGHTS)
    assert '"picked_db"' in capsys.readouterr().out


def test_train_rank_rejects_bad_options(tmp_path, capsys):
    assert train_rank.main(["--photos", str(tmp_path), "--cases", "40"]) == 2
    assert "no .jpg/.png photos" in capsys.readouterr().err
    assert train_rank.main(["--photos", str(tmp_path), "--hidden", "0"]) == 2
    assert "need --hidden ≥ 1" in capsys.readouterr().err


def test_padded_known_values():
    rows = [{"features": [[1.0, 2.0]], "gains": [3.0]},
            {"features": [[4.0, 5.0], [6.0, 7.0]], "gains": [1.0, 2.0]}]
    x, gain, valid = train_rank.padded(rows)
    assert x.shape == (2, 2, 2) and valid.tolist() == [[True, False], [True, True]]
    assert gain.tolist() == [[3.0, 0.0], [1.0, 2.0]] and x[1, 1].tolist() == [6.0, 7.0]


def test_train_rank_labels_are_the_served_maps_gains(monkeypatch):
    """Each candidate's label is what the map fitted across its grown zone gains as served: weighed by
    the content step, so the served zone's label is the served correction's gain (thirtieth session)
    when the pool holds the pick alone (the served map averages the pool's maps)."""
    from types import SimpleNamespace

    from seamrefine.imaging import imagemath
    from seamrefine.imaging import metrics as M
    from seamrefine.runtime import content_step, split_map

    clean, mask = texture(4), ellipse()
    xx = np.mgrid[:160, :200][1].astype(np.float32) / 200
    comp = pasted(clean, mask, clean * (1.1 - 0.1 * xx[..., None]) + np.float32([0.05, 0.02, 0.0]))
    case = SimpleNamespace(composite=comp, mask=mask, clean=clean)
    monkeypatch.setattr(train_rank.train_gate, "draw_case", lambda args, weights: ("color_uniform", case))
    monkeypatch.setattr(seam_rank, "POOL_TEMPERATURE", 1e-6)
    # the labels are the colour map's; the maps per half of the contour (forty-second session) come on top
    monkeypatch.setattr(split_map, "SHARE", 0.0)
    gains = np.array(train_rank._case(None, seam_rank.MAP.name)["gains"])
    band = imagemath.band_weights(mask, 16, 8)

    def served_gain() -> float:
        change, _ = harmonise.correction(comp, harmonise.measure(comp, mask), 1.0)
        out = np.clip(comp + change, 0.0, 1.0)
        return M.band_psnr(out, clean, band) - M.band_psnr(comp, clean, band)

    served = served_gain()
    assert np.abs(gains - served).min() < 1e-9
    monkeypatch.setattr(content_step, "sample_weights", lambda profile, s, g, model=None: None)
    assert abs(served_gain() - served) > 1e-3  # unweighed, the served zone's map gains otherwise


def test_the_served_map_is_the_mean_of_the_pools_maps():
    """A wide feather whose candidates the map's ranker scores alike: the map applied is the pool's
    weighted mean map (``colour_map.pooled``), and the seam's zone, whose ramp it follows, the pick's."""
    from seamrefine.runtime import colour_map
    from seamrefine.runtime.ring_profile import signed_distance

    clean, mask = texture(3), ellipse()
    t = np.clip((signed_distance(mask > 0.5) + 7.0) / 14.0, 0, 1)
    comp = pasted(clean, (t * t * (3 - 2 * t)).astype(np.float32), clean + np.float32([0.09, 0.05, -0.04]))
    m = harmonise.measure(comp, mask)
    cands = [c for c in m.profile.all_stats(harmonise.CANDIDATES) if c is not None]
    zones = harmonise.pooled_zones(m.profile, cands)
    assert len(zones) >= 2 and sum(zones.values()) == pytest.approx(1.0)
    picked = seam_rank.pick(cands, seam_rank.MAP)
    assert (m.seam.position, m.seam.gap) == next(iter(zones)) == seam_zone.grow_zone(
        m.profile, picked.position, picked.gap)
    want = colour_map.pooled([harmonise.zone_map(m.profile, *z) for z in zones], list(zones.values()))
    for got, exp in ((m.seam.colour_map.gain, want.gain), (m.seam.colour_map.offset, want.offset),
                     (m.seam.colour_map.slopes, want.slopes)):
        np.testing.assert_array_equal(got, exp)
    assert not np.allclose(want.offset, harmonise.zone_map(m.profile, *next(iter(zones))).offset)
