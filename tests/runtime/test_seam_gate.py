"""seamrefine.runtime.seam_gate (the learned gate) and seamrefine_train.train_gate (what trains it)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from seamrefine.errors import ModelError
from seamrefine.runtime import seam_gate
from seamrefine_train import synthesis, train_gate

from ..support.synthetic_images import noise_photo_folder

N = len(seam_gate.FEATURES)


def model(**kw) -> seam_gate.GateModel:
    base = dict(mean=np.zeros(N), scale=np.ones(N), weights=np.eye(N)[0], bias=0.0, lo=0.0, hi=2.0)
    return seam_gate.GateModel(**{**base, **kw})


def test_confidence_known_values():
    m = model()
    f = np.zeros(N)
    assert m.confidence(f) == 0.0  # logit 0 = lo
    f[0] = 1.0
    assert m.logit(f) == 1.0 and m.confidence(f) == pytest.approx(0.5)
    f[0] = 5.0
    assert m.confidence(f) == 1.0
    standardised = model(mean=np.full(N, 1.0), scale=np.full(N, 2.0))
    assert standardised.logit(np.full(N, 3.0)) == pytest.approx(1.0)  # (3 − 1) / 2 · 1


def test_certainty_known_values_and_round_trip():
    m = model()
    assert m.certain == float("inf") and m.certainty(np.full(N, 9.0), 0.5) == 0.0
    assert "certain" not in m.to_dict()  # JSON has no infinity: an absent field means "never"
    sure = seam_gate.GateModel(m.mean, m.scale, m.weights, m.bias, m.lo, m.hi, m.features, 2.0)
    f = np.zeros(N)
    for logit, want in ((1.0, 0.0), (2.0, 0.0), (2.25, 0.5), (3.0, 1.0)):
        f[0] = logit
        assert sure.certainty(f, 0.5) == pytest.approx(want)
    back = seam_gate.GateModel.from_dict(json.loads(json.dumps(sure.to_dict())))
    assert back.certain == 2.0


def test_round_trip_and_shipped_model():
    m = model(bias=0.5)
    back = seam_gate.GateModel.from_dict(json.loads(json.dumps(m.to_dict())))
    assert back.logit(np.ones(N)) == pytest.approx(m.logit(np.ones(N)))
    shipped = seam_gate.load()
    doc = json.loads(seam_gate.DEFAULT_PATH.read_text())
    assert doc["training"]["cases"] >= 1000 and "train_gate" in doc["training"]["command"]
    assert 0.0 <= shipped.confidence(np.zeros(N)) <= 1.0


def test_hidden_layer_known_value_and_round_trip():
    hidden = np.zeros((2, N))
    hidden[0, 0], hidden[1, 1] = 1.0, 2.0
    m = model(hidden=hidden, hidden_bias=np.array([0.0, 0.5]), weights=np.array([2.0, -1.0]), bias=0.25)
    f = np.zeros(N)
    f[0], f[1] = 0.3, -0.4
    want = 2.0 * np.tanh(0.3) - np.tanh(2.0 * -0.4 + 0.5) + 0.25
    assert m.logit(f) == pytest.approx(want)
    back = seam_gate.GateModel.from_dict(json.loads(json.dumps(m.to_dict())))
    assert back.hidden.shape == (2, N) and back.logit(f) == pytest.approx(want)
    assert "hidden" not in model().to_dict()  # a logistic gate's file has no layer


def test_the_shipped_seam_gate_has_its_hidden_layer():
    shipped = seam_gate.load()
    assert shipped.hidden is not None and shipped.hidden.shape == (40, N) and shipped.weights.shape == (40,)
    assert shipped.hi - shipped.lo == pytest.approx(train_gate.RAMP)  # what the trainer now writes


@pytest.mark.parametrize(
    ("change", "fragment", "value"),
    [
        ({"hidden": [[0.0] * N]}, "'hidden' and 'hidden_bias' must be", "hidden"),
        ({"hidden": [[0.0] * (N - 1)], "hidden_bias": [0.0]}, f"must be H×{N}", "hidden"),
        ({"hidden": [[float("nan")] * N], "hidden_bias": [0.0], "weights": [1.0]}, "finite", "hidden"),
        ({"hidden": [[0.0] * N] * 2, "hidden_bias": [0.0, 0.0]}, "'weights' must be 2", "weights"),
        ({"hidden": "x", "hidden_bias": [0.0]}, "'hidden' and 'hidden_bias' must be", "hidden"),
    ],
)
def test_bad_hidden_layers_are_typed_errors(change, fragment, value):
    doc = {**model().to_dict(), **change}
    with pytest.raises(ModelError, match=fragment) as e:
        seam_gate.GateModel.from_dict(doc)
    assert e.value.value == value


def test_gate_mlp_is_the_mean_of_its_members_and_learns_the_direction():
    from seamrefine_train import gate_mlp

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    y = (x[:, 0] > 0).astype(float)
    mean, scale, w1, b1, w2, b2 = gate_mlp.fit_members(x, y, np.ones(200), seed=0, hidden=3, members=2)
    assert w1.shape == (6, 2) and b1.shape == (6,) and w2.shape == (6,)
    gate = seam_gate.GateModel(mean, scale, w2, b2, 0.0, 1.0, ("a", "b"), hidden=w1, hidden_bias=b1)
    assert gate.logit(np.array([2.0, 0.0])) > 2.0 > -2.0 > gate.logit(np.array([-2.0, 0.0]))
    z = (x - mean) / scale
    members = [gate_mlp.fit_member(z, y, np.ones(200), 3, k) for k in (0, 1)]  # fit_members' seeds
    each = [np.tanh(z[:5] @ a.T + b) @ c + d for a, b, c, d in members]
    merged = [gate.logit(v) for v in x[:5]]
    np.testing.assert_allclose(merged, np.mean(each, 0), atol=1e-9)


@pytest.mark.parametrize(
    ("change", "fragment", "value"),
    [
        ({"features": ["z"]}, "do not match", ["z"]),
        ({"weights": [1.0, 2.0]}, "'weights' must be", "weights"),
        ({"scale": [0.0] * N}, "positive", "scale"),
        ({"lo": 2.0, "hi": 1.0}, "lo < hi", [0.0, 2.0, 1.0]),
        ({"certain": -1.0}, "'certain' must be", -1.0),
        ({"certain": "high"}, "'certain' must be", "high"),
    ],
)
def test_bad_gate_files_are_typed_errors(change, fragment, value):
    doc = {**model().to_dict(), **change}
    with pytest.raises(ModelError, match=fragment) as e:
        seam_gate.GateModel.from_dict(doc)
    assert e.value.value == value


def test_missing_or_garbage_file(tmp_path):
    with pytest.raises(ModelError, match="cannot read the seam gate"):
        seam_gate.load(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ModelError, match="not a JSON object"):
        seam_gate.load(bad)


def test_fit_logistic_known_direction_and_weighting():
    x = np.array([[-2.0], [-1.0], [1.0], [2.0]])
    y = np.array([0.0, 0.0, 1.0, 1.0])
    mean, scale, w, b = train_gate.fit_logistic(x, y, np.ones(4))
    assert mean[0] == 0.0 and w[0] > 0 and abs(b) < 1e-6  # symmetric data: no bias
    # a heavy weight on a positive point near the boundary pulls the boundary towards the negatives
    x2 = np.array([[-2.0], [-1.0], [0.5], [2.0]])
    m2, s2, w2, b2 = train_gate.fit_logistic(x2, y, np.array([1, 1, 20, 1.0]))
    assert ((np.array([0.0]) - m2) / s2 @ w2 + b2) > 0  # x = 0 is now on the positive side


def test_train_gate_smoke(tmp_path, capsys):
    rng = np.random.default_rng(0)
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        img = np.clip(0.5 + 0.2 * rng.standard_normal((8, 8, 3)), 0, 1)
        big = np.asarray(Image.fromarray((img * 255).astype(np.uint8)).resize((300, 300), Image.BICUBIC))
        Image.fromarray(big).save(photos / f"p{i}.png")
    out = tmp_path / "gate.json"
    argv = ["--photos", str(photos), "--cases", "40", "--workers", "1", "--sizes", "128,192",
            "--out", str(out), "--rows", str(tmp_path / "rows.npz")]
    assert train_gate.main(argv) == 0
    rows = np.load(tmp_path / "rows.npz")
    assert rows["features"].shape[1] == len(seam_gate.FEATURES)
    assert {"gain", "base", "psnr_in"} <= set(rows.files)  # what a soft calibration needs
    assert {"dd", "dc", "cc", "mean_change"} <= set(rows.files)  # any gate's gain, exactly (gated_gain)
    full = train_gate.gated_gain(rows["dd"], rows["dc"], rows["cc"], 1.0)
    unclipped = rows["family"] != "clean"
    assert np.allclose(full[unclipped], rows["gain"][unclipped], atol=0.5)  # only clipping differs
    trained = seam_gate.load(out)
    doc = json.loads(out.read_text())
    assert doc["training"]["cases"] >= 30 and "clean" in doc["training"]["per_family"]
    assert doc["training"]["per_family"]["clean"]["opened"] == 0.0  # the ramp starts above every clean case
    assert trained.hi - trained.lo == pytest.approx(train_gate.RAMP)
    assert trained.hidden.shape == (40, len(seam_gate.FEATURES))
    assert '"per_family"' in capsys.readouterr().out
    logistic = tmp_path / "logistic.json"
    assert train_gate.main([*argv[:-4], "--out", str(logistic), "--hidden", "0"]) == 0
    assert seam_gate.load(logistic).hidden is None and "hidden" not in json.loads(logistic.read_text())
    # refitted from the saved rows: the same weights in seconds; --margin moves only the ramp
    again, lower = tmp_path / "again.json", tmp_path / "lower.json"
    assert train_gate.main(["--from-rows", str(tmp_path / "rows.npz"), "--out", str(again)]) == 0
    assert train_gate.main(["--from-rows", str(tmp_path / "rows.npz"), "--out", str(lower),
                            "--margin", str(train_gate.MARGIN - 0.5)]) == 0
    refit = json.loads(again.read_text())
    weights = {k: v for k, v in doc.items() if k != "training"}
    assert {k: v for k, v in refit.items() if k != "training"} == weights
    assert refit["training"]["from_rows"] == str(tmp_path / "rows.npz")
    assert seam_gate.load(lower).lo == pytest.approx(trained.lo - 0.5)
    np.testing.assert_array_equal(seam_gate.load(lower).hidden, trained.hidden)


def test_train_gate_errors(tmp_path, capsys):
    assert train_gate.main(["--photos", str(tmp_path), "--cases", "40"]) == 2
    assert "no .jpg/.png photos" in capsys.readouterr().err
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "a.png")
    assert train_gate.main(["--photos", str(tmp_path), "--cases", "5"]) == 2
    assert "--cases ≥ 20" in capsys.readouterr().err
    for bad in ("32", "a,b"):
        assert train_gate.main(["--photos", str(tmp_path), "--cases", "40", "--sizes", bad]) == 2
        assert "--sizes must list crop sizes" in capsys.readouterr().err
    assert train_gate.main(["--photos", str(tmp_path), "--cases", "40", "--members", "0"]) == 2
    assert "need --hidden ≥ 0 and --members ≥ 1, got 8 and 0" in capsys.readouterr().err
    (tmp_path / "garbage.npz").write_bytes(b"not a zip")
    assert train_gate.main(["--from-rows", str(tmp_path / "garbage.npz")]) == 2
    assert f"cannot read the rows in {str(tmp_path / 'garbage.npz')!r}" in capsys.readouterr().err
    np.savez(tmp_path / "narrow.npz", features=np.zeros((3, 23)), family=np.array(["clean"] * 3),
             gain=np.zeros(3))
    assert train_gate.main(["--from-rows", str(tmp_path / "narrow.npz")]) == 2
    err = capsys.readouterr().err
    assert f"holds no gate rows of {len(seam_gate.FEATURES)} features (features width 23" in err


def test_texture_gate_clean_threshold_known_value():
    from seamrefine_train import train_texture_gate as T

    # a clean case at logit 2 whose full correction gives 56 dB may open fully and bounds nothing;
    # one at logit 1 giving 44 dB may open only to c = 10^(−6/20) ≈ 0.501: lo ≥ 1 − 0.501·ramp
    lo = T.clean_threshold(np.array([2.0, 1.0]), np.array([56.0, 44.0]), floor_db=50.0, ramp=1.5)
    assert lo == pytest.approx(1.0 - 10 ** (-0.3) * 1.5 + T.MARGIN)
    assert T.clean_threshold(np.array([2.0]), np.array([56.0]), floor_db=50.0, ramp=0.5) == 1.5 + T.MARGIN
    assert T.clean_threshold(np.array([]), np.array([])) == 0.0


def test_texture_gate_harm_threshold_known_value():
    from seamrefine_train import train_texture_gate as T

    logits = np.array([3.0, 2.0, 1.0, 0.5, 0.0, -1.0, -2.0, -3.0, -4.0, -5.0])
    gains = np.array([-1.0, 2.0, -0.5, 1.0, -2.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    # 10 artifact cases, 20 % may be opened and made worse: the two most confident harmful ones (3, 1)
    # may open, the third (0) may not: the ramp starts at its logit
    assert T.harm_threshold(logits, gains, share=0.2) == 0.0
    assert T.harm_threshold(logits, gains, share=0.0) == 3.0
    assert T.harm_threshold(logits, np.ones(10), share=0.0) == float("-inf")


def test_texture_gate_certain_threshold_known_value():
    from seamrefine_train import train_texture_gate as T

    logits = np.array([3.0, 1.0, 2.0, -1.0])
    psnr_full = np.array([60.0, 40.0, 47.0, 30.0])  # only the cases at 1.0 and −1.0 needed the 46 dB cap
    assert T.certain_threshold(logits, psnr_full, lo=0.0, cap_db=46.0, margin=0.5) == 1.5
    assert T.certain_threshold(logits, psnr_full, lo=2.0, cap_db=46.0, margin=0.5) == 2.0  # never below lo
    assert T.certain_threshold(logits, np.full(4, 60.0), lo=0.25) == 0.25  # nothing held back


def test_train_texture_gate_smoke(tmp_path, capsys):
    from seamrefine.runtime import texture
    from seamrefine_train import train_texture_gate

    photos = noise_photo_folder(tmp_path / "photos", seed=1)
    out, rows = tmp_path / "texture_gate.json", tmp_path / "rows.npz"
    argv = ["--photos", str(photos), "--cases", "40", "--workers", "1", "--sizes", "160",
            "--out", str(out), "--rows", str(rows), "--clean-cases", "10"]
    assert train_texture_gate.main(argv) == 0
    trained = texture.load_gate(out)
    assert trained.features == texture.TEXTURE_FEATURES and trained.lo < trained.hi
    assert trained.lo <= trained.certain < float("inf")
    assert json.loads(out.read_text())["training"]["certain_from_clean_cases"] >= 10
    assert np.load(rows)["features"].shape[1] == len(texture.TEXTURE_FEATURES)
    assert '"per_family"' in capsys.readouterr().out
    assert train_texture_gate.main([*argv[:-1], "-1"]) == 2
    assert "need --clean-cases ≥ 0, got -1" in capsys.readouterr().err


def test_the_family_does_not_decide_the_selection_shape(tmp_path):
    # draw_case once shared make_case's random stream, so the draw that picked the family also picked
    # the shape: every clean case was a blob and every mixed one a rectangle; the gate never saw a
    # clean rectangle and opened on them
    paths = [tmp_path / f"p{i}.png" for i in range(2)]
    for p in paths:
        Image.fromarray(np.full((96, 96, 3), 128, np.uint8)).save(p)
    sides = synthesis.photo_sides(paths)
    kinds: dict[str, set] = {}
    for index in range(60):
        family, case = train_gate.draw_case((paths, sides, 0, index, (64,)), {"clean": 1.0, "mixed": 1.0})
        kinds.setdefault(family, set()).add(case.params["mask"]["kind"])
    assert kinds["clean"] == kinds["mixed"] == {"object", "stroke", "rect"}


def _recalibration_job(tmp_path, doc: dict) -> tuple:
    """The texture gate ``doc`` written to a scratch file, and the argv that recalibrates it on 24
    clean cases of generated photos: (path, argv)."""
    out = tmp_path / "texture_gate.json"
    out.write_text(json.dumps(doc))
    photos = noise_photo_folder(tmp_path / "photos", seed=2)
    argv = ["--recalibrate", "--photos", str(photos), "--clean-cases", "24", "--workers", "1",
            "--sizes", "160", "--out", str(out), "--seed", "3"]
    return out, argv


def test_texture_gate_recalibration_only_raises_certain(tmp_path, capsys):
    from seamrefine.runtime import texture
    from seamrefine_train import train_texture_gate

    doc = json.loads(texture.DEFAULT_PATH.read_text())
    doc["certain"] = doc["lo"]  # a gate whose cap lifts at once: any clean case held back raises it
    out, argv = _recalibration_job(tmp_path, doc)
    assert train_texture_gate.main(argv) == 0
    after = json.loads(out.read_text())
    entry = after["training"]["recalibrations"][-1]
    assert entry["clean_cases"] >= 20 and entry["certain_before"] == doc["lo"]
    assert after["certain"] == entry["certain"] >= doc["lo"]
    assert after["weights"] == doc["weights"] and after["lo"] == doc["lo"]  # only 'certain' moves
    assert texture.load_gate(out).certain == after["certain"]  # the cache was dropped
    assert '"certain_before"' in capsys.readouterr().out
    # never lowered: a gate already certain only above 99 stays there
    after["certain"] = 99.0
    out.write_text(json.dumps(after))
    assert train_texture_gate.main(argv) == 0
    assert json.loads(out.read_text())["certain"] == 99.0
    assert train_texture_gate.main([*argv[:-4], "--out", str(tmp_path / "none.json")]) == 2
    assert "cannot read the texture gate" in capsys.readouterr().err


def test_texture_gate_recalibration_raises_certain_above_held_back_clean_cases(tmp_path, monkeypatch):
    from seamrefine.runtime import texture
    from seamrefine_train import train_texture_gate

    # a cap no change can meet: every clean case is one the cap holds back, so 'certain' must rise
    # to CERTAIN_MARGIN above the highest of their logits
    monkeypatch.setattr(texture, "CAP_DB", 1000.0)
    doc = json.loads(texture.DEFAULT_PATH.read_text())
    doc["certain"] = doc["lo"] = -50.0
    doc["hi"] = -49.5
    out, argv = _recalibration_job(tmp_path, doc)
    assert train_texture_gate.main(argv) == 0
    after = json.loads(out.read_text())
    entry = after["training"]["recalibrations"][-1]
    assert entry["beyond_cap"] == entry["clean_cases"] >= 20
    assert after["certain"] > -50.0 + train_texture_gate.CERTAIN_MARGIN


def test_forget_drops_the_cached_model(tmp_path):
    path = tmp_path / "gate.json"
    path.write_text(json.dumps(model().to_dict()))
    assert seam_gate.load(path).bias == 0.0
    path.write_text(json.dumps(model(bias=1.5).to_dict()))
    assert seam_gate.load(path).bias == 0.0  # cached
    seam_gate.forget(path)
    assert seam_gate.load(path).bias == 1.5


def test_gated_gain_known_values_and_agreement_with_band_psnr():
    from seamrefine.imaging import metrics as M

    # a change that exactly undoes a uniform error of 0.1: half of it leaves a quarter of the MSE
    dd, dc, cc = 0.01, -0.01, 0.01
    assert train_gate.gated_gain(dd, dc, cc, 0.0) == 0.0
    assert train_gate.gated_gain(dd, dc, cc, 0.5) == pytest.approx(10 * np.log10(4.0))
    assert train_gate.gated_gain(dd, dc, cc, 1.0) == pytest.approx(80.0)  # MSE 0: the 100 dB cap
    assert train_gate.gated_gain(0.01, 0.0, 0.0, 0.1) == pytest.approx(40.0 - 100.0)  # clean: 40 dB moved
    rng = np.random.default_rng(4)
    clean = rng.uniform(0.2, 0.8, (40, 50, 3)).astype(np.float32)
    composite = clean + rng.normal(0, 0.05, clean.shape).astype(np.float32)
    change = rng.normal(0, 0.05, clean.shape).astype(np.float32)
    band = rng.uniform(0, 1, (40, 50)).astype(np.float32)
    moments = train_gate.band_moments(change, composite - clean, band)
    for c in (0.0, 0.3, 1.0):
        want = M.band_psnr(composite + c * change, clean, band) - M.band_psnr(composite, clean, band)
        assert train_gate.gated_gain(*moments, c) == pytest.approx(want, abs=1e-4)
