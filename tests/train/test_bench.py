"""seamrefine_train.bench: quick runs on generated photos, JSON/PNG outputs, targets, errors, refiner."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from seamrefine_train import bench

from ..support.onnx_fixture import make_fixture_model
from ..support.synthetic_images import photo


def test_quick_bench_writes_table_json_and_sheet(photos, tmp_path, capsys):
    js, png = tmp_path / "b.json", tmp_path / "b.png"
    argv = ["--quick", "--photos", str(photos), "--families", "clean,color_uniform,noise", "--json", str(js)]
    assert bench.main([*argv, "--sheet", str(png), "--tile", "96"]) == 0
    out = capsys.readouterr().out
    assert "== color_uniform (2 cases; seam score composite" in out and "== targets ==" in out
    assert "zero pixels changed outside the band" in out and "PASS 0" in out
    doc = json.loads(js.read_text())
    assert set(doc["summary"]) == {"clean", "color_uniform", "noise", "all_artifacts"}
    for fam in doc["summary"].values():
        assert list(fam) == list(bench.DEFAULT_METHODS)
        assert all(s["changed_outside"] == 0 for s in fam.values())
    ident = doc["summary"]["color_uniform"]["identity"]
    assert ident["gain"] == 0.0 and ident["worse"] == 0.0
    assert doc["summary"]["clean"]["identity"]["psnr_in_min"] == 100.0
    assert len(doc["cases"]) == 6 * len(bench.DEFAULT_METHODS)
    assert {t["target"] for t in doc["targets"]["poisson"]} >= {"artifact cases worse ≤ 5 %"}
    with Image.open(
        png
    ) as im:  # 3 families × 1 row, + a 200 % row for noise; columns composite + methods + clean
        assert im.size == (96 * (len(bench.DEFAULT_METHODS) + 1), 18 + 96 * 4)


def test_zoom_window_centres_on_the_seam():
    from seamrefine_train.bench_report import zoom_window

    mask = np.zeros((100, 120), np.float32)
    mask[30:70, 50:100] = 1.0
    y, x = zoom_window(mask, 20)
    window = mask[y : y + 20, x : x + 20]
    assert window.shape == (20, 20) and 0 < window.mean() < 1  # the edge runs through it
    assert zoom_window(np.zeros((10, 10), np.float32), 4) == (3, 3)  # no edge: the centre


def test_cases_are_deterministic(photos):
    a = bench.build_cases(photos, 2, 64, 5, ["color_uniform", "blur"])
    b = bench.build_cases(photos, 2, 64, 5, ["color_uniform", "blur"])
    assert [c.family for c in a] == ["color_uniform"] * 2 + ["blur"] * 2
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x.composite, y.composite) and np.array_equal(x.mask, y.mask)
    c = bench.build_cases(photos, 2, 64, 6, ["color_uniform"])
    assert not np.array_equal(a[0].composite, c[0].composite)


def test_large_crops_come_from_photos_large_enough(tmp_path):
    for i, side in enumerate((100, 100, 400)):
        Image.fromarray((photo(i, side) * 255).astype(np.uint8)).save(tmp_path / f"p{i}.png")
    large = bench.build_cases(tmp_path, 4, 320, 1, ["clean", "color_uniform"])
    assert {c.params["photo"] for c in large} == {"p2.png"}  # 100 px photos would be mostly mirror
    small = bench.build_cases(tmp_path, 8, 64, 1, ["clean", "color_uniform"])
    assert len({c.params["photo"] for c in small}) > 1
    # none large enough: all of them, mirrored
    assert len({c.params["photo"] for c in bench.build_cases(tmp_path, 8, 1024, 1, ["clean"])}) > 1


def test_hug_selections_are_the_pasted_shape(photos, capsys):
    cases = bench.build_cases(photos, 6, 96, 3, ["color_uniform"], selection="hug")
    default = bench.build_cases(photos, 6, 96, 3, ["color_uniform"])
    for case in cases:
        edge = case.params["edge"]
        assert edge["paste_offset"] == 0 and edge["mask_dilate"] == 0 and edge["mask_soft"] == 0.0
        assert edge["edge"] == "hard" or 2.0 <= edge["feather"] <= 6.0
        assert set(np.unique(case.mask)) <= {0.0, 1.0}
        hard = case.alpha > 0.5 if edge["edge"] == "feathered" else case.alpha > 0
        assert np.array_equal(hard, case.mask > 0.5)  # the selection is where the fill was pasted
    assert any(not np.array_equal(a.mask, b.mask) for a, b in zip(cases, default, strict=True))
    with pytest.raises(bench.InputError, match="unknown selection 'tight'") as e:
        bench.build_cases(photos, 1, 96, 3, ["clean"], selection="tight")
    assert e.value.value == "tight"
    argv = ["--quick", "--photos", str(photos), "--families", "clean,color_uniform", "--selection", "hug"]
    assert bench.main(argv) == 0
    assert "hug selections" in capsys.readouterr().out


def test_targets_known_values():
    def stats(**kw):
        base = {
            "gain": 0.0,
            "psnr": 40.0,
            "de": 0.5,
            "texture_reduction": 0.6,
            "grad_reduction": 0.4,
            "worse": 0.0,
            "psnr_in_min": 50.0,
            "changed_outside": 0,
        }
        return {**base, **kw}

    summary = {
        "color_uniform": {"m": stats(gain=8.0, psnr=45.0), "poisson": stats(psnr=42.0),
                          "mkl": stats(psnr=42.5)},
        "mixed": {"m": stats(psnr=41.0), "seamless_clone": stats(psnr=40.5)},
        "clean": {"m": stats(psnr_in_min=44.0, changed_outside=3)},
    }
    summary["color_uniform"]["m"].update(de_visible=1.2, gain_subtle=-0.3)
    res = {text: (ok, val) for text, ok, val in bench.targets(summary, "m")}
    assert res["color_uniform: gain ≥ +7 dB"] == (True, "+8.00")
    assert res["color_uniform: ΔE00 ≤ 1.0 (visible: shift ≥ 1 %)"] == (False, "1.20")
    assert res["color_uniform: shift < 1 %: not below the composite"] == (False, "-0.30")
    assert res["color_uniform: ≥ best peer + 2 dB"] == (True, "+2.50")  # the best peer is mkl
    assert res["mixed: ≥ best peer + 1 dB"] == (False, "+0.50")
    assert res["color_gradient: gain ≥ +7 dB"] == (None, "n/a")
    assert res["clean: min PSNR(out, in) ≥ 45 dB"] == (False, "44.0")
    assert res["zero pixels changed outside the band"] == (False, "3")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--photos", "/nonexistent/photos"], "does not exist"),
        (["--families", "clean,nope"], "unknown families"),
        (["--methods", "identity,magic"], "unknown method 'magic'"),
        (["--per-family", "0"], "per-family"),
    ],
)
def test_bench_errors(argv, fragment, photos, capsys):
    if "--photos" not in argv:
        argv = [*argv, "--photos", str(photos)]
    assert bench.main(argv) == 2
    assert fragment in capsys.readouterr().err


def test_empty_photo_folder(tmp_path, capsys):
    assert bench.main(["--photos", str(tmp_path)]) == 2
    assert "no .jpg/.png photos" in capsys.readouterr().err


def test_harmonise_is_what_the_refiner_serves_before_its_network(monkeypatch):
    # a small fill in a larger photo, so the refiner's crop is not the whole image
    from seamrefine.runtime import inference, session
    from seamrefine.runtime.params import RefineParams
    from seamrefine_train import synthesis

    config = synthesis.SynthConfig(**{**bench.SELECTIONS["hug"], "area_range": (0.05, 0.08)})
    case = synthesis.make_case(photo(7, 384), 3, 11, "color_uniform", config)
    box = inference.refine_box(case.mask, session.load_manifest(session.DEFAULT_MODEL))
    assert (box.height, box.width) != case.mask.shape
    stage_one = inference._classical

    def stands(*args, **kwargs):  # the classical result stands: the network is passed through
        change, _, info = stage_one(*args, **kwargs)
        return change, True, info

    monkeypatch.setattr(inference, "_classical", stands)
    served, info = inference.Refiner(threads=1).refine(case.composite, case.mask, RefineParams())
    assert info["harmonise"]["gate"] > 0  # the colour stage changed something
    np.testing.assert_allclose(bench.harmonised(case.composite, case.mask), served, atol=2e-6)


def test_bench_runs_the_refiner_with_a_real_onnx_model(photos, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("seamrefine.runtime.inference")
    model = make_fixture_model(tmp_path / "model", kind="pointwise")
    js = tmp_path / "r.json"
    argv = [
        "--quick",
        "--photos",
        str(photos),
        "--families",
        "clean,color_uniform",
        "--methods",
        "identity,poisson,harmonise,refiner,refiner_unscored",
        "--model",
        str(model),
        "--json",
        str(js),
    ]
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    assert "refiner" in out
    doc = json.loads(js.read_text())
    assert doc["summary"]["color_uniform"]["refiner"]["changed_outside"] == 0
    assert doc["summary"]["clean"]["refiner"]["psnr_in_min"] == 100.0  # no seam seen: the input comes back
    uniform = doc["summary"]["color_uniform"]
    assert uniform["refiner"]["gain"] < uniform["harmonise"]["gain"]  # the fixture pulled stage 1's colours
    # without the seam scores (as the plug-ins ask): the same pixels, so the same gain
    assert uniform["refiner_unscored"]["gain"] == uniform["refiner"]["gain"]


def test_timing_1mp_reports_the_median_after_a_warm_up(photos, monkeypatch):
    from seamrefine_train import bench_report

    clock = iter([0.0, 1.0, 10.0, 15.0, 20.0, 22.0])  # timed durations 1, 5, 2 → median 2
    monkeypatch.setattr(bench_report.time, "perf_counter", lambda: next(clock))
    calls = []

    def method(c, m):
        assert c.shape == (1024, 1024, 3) and m.shape == (1024, 1024)
        calls.append(1)

    assert bench.timing_1mp({"m": method}, photos, 0, runs=3) == {"m": 2.0}
    assert len(calls) == 4  # one warm-up + three timed


def test_timing_1mp_interleaves_the_methods(photos):
    order = []
    got = bench.timing_1mp({"a": lambda c, m: order.append("a"), "b": lambda c, m: order.append("b")},
                           photos, 0, runs=2)
    assert set(got) == {"a", "b"}
    assert order == ["a", "b"] + ["a", "b"] * 2  # warm-ups, then the methods take turns per round


def test_timing_1mp_times_the_named_methods_again_with_the_photo_a_jpeg(photos):
    from seamrefine.runtime.jpeg_match import recompress

    seen = []
    got = bench.timing_1mp({"a": lambda c, m: seen.append(c), "b": lambda c, m: None}, photos, 0, runs=1,
                           jpeg_photo=("a",))
    assert set(got) == {"a", "b", "a_jpeg_photo"}
    plain, jpeg_photo = seen[0], seen[-1]  # a's first call and its last one on the JPEG photo
    assert plain.shape == jpeg_photo.shape == (1024, 1024, 3) and jpeg_photo.dtype == np.float32
    photo = (recompress(np.rint(plain * 255).astype(np.uint8), 85, 2) / 255).astype(np.float32)
    far = np.abs(jpeg_photo - plain).max(axis=2) > 0  # only the photo changed: the fill is the same
    assert far.any()
    outside = np.all(np.abs(jpeg_photo - photo) < 1e-6, axis=2)
    assert outside.mean() > 0.5  # most of the crop is the compressed photo


def test_summarise_splits_colour_bins_known_values():
    """ΔE00 over the visible seams (shift ≥ 1 %) and the gain over the subtle ones, as the issue bins them;
    n/a (nan) where a family has none."""
    from seamrefine_train.bench_report import summarise

    def row(shift, de, gain):
        return {"case": 0, "family": "color_uniform", "method": "m", "shift": shift, "de": de, "gain": gain,
                "psnr": 40.0, "psnr_in": 50.0, "grad": 0.0, "noise_mm": 0.0, "blur_mm": 0.0, "seam": 1.0,
                "changed_outside": 0, "ms_per_mp": 1.0, "seam_clean": 1.0, "grad_base": 0.0,
                "noise_mm_base": 0.0, "blur_mm_base": 0.0, "de_base": 1.0, "seam_base": 1.0}

    stats = summarise([row(0.5, 0.2, -0.4), row(2.0, 1.0, 5.0), row(7.0, 2.0, 9.0)])["color_uniform"]["m"]
    assert stats["de"] == pytest.approx(3.2 / 3)
    assert stats["de_visible"] == pytest.approx(1.5)
    assert stats["gain_subtle"] == pytest.approx(-0.4)
    assert np.isnan(summarise([row(2.0, 1.0, 5.0)])["color_uniform"]["m"]["gain_subtle"])


def test_format_bins_gives_gain_delta_e_and_worse_per_bin():
    from seamrefine_train.bench_report import format_bins

    rows = [{"family": "color_uniform", "method": "m", "shift": s, "gain": g, "de": de}
            for s, g, de in ((0.5, -0.4, 0.2), (2.0, 5.0, 1.0), (2.5, 3.0, 2.0))]
    text = format_bins(rows, ["m"], ("color_uniform",))
    line = next(t for t in text.splitlines() if t.startswith("m "))
    assert "-0.40 ΔE 0.20 w100% n1" in line  # under 1 %: one case, worse
    assert "+4.00 ΔE 1.50 w  0% n2" in line  # 1–3 %
    assert line.count("—") == 2  # no cases above 3 %
