"""The GIMP 3 plug-in in real GIMP 3.0 (../shared/hosts/hosts.sh gimp-run) against a real daemon.

One GIMP run (tests/plugins/gimp_scripts/refine_cases.py) drives the plug-in through the PDB and dumps what it
saw. The images are: 8-bit with layer offsets, 16-bit, float linear, 16-bit linear, grayscale, Adobe RGB
with out-of-sRGB colours, a layer inside a group, and a large crop. The error situations are: no
selection, a selection off the layer, a layer mask, a crashed daemon and a stopped daemon. The tests
below judge the dumps against the real daemon's own answer for the same crop and mask.

Needs root, Linux and ../shared/hosts (skipped otherwise). If GIMP is not set up yet,
``hosts.sh setup gimp`` runs first; only a setup that cannot download skips.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from .gimp_scripts.host_harness import (
    HOSTS,
    HOSTS_CACHE,
    REPO,
    SCRIPT,
    SEL_U16,
    ensure_gimp,
    install_plugin_folder,
    load_client,
    make_photo,
    model_for_tests,
    start_daemon,
    write_png8,
    write_png16,
)

PLUGIN_TIMEOUT = 8  # s, through $SEAM_REFINE_PLUGIN_TIMEOUT: long for these crops, short for the hung daemon

pytestmark = [pytest.mark.hosts, pytest.mark.slow]

SEL_U8 = {"kind": "ellipse", "x": 24 + 110, "y": 16 + 80, "w": 44, "h": 34, "feather": 10}
SEL_FLOAT = {"kind": "rectangle", "x": 30, "y": 20, "w": 60, "h": 50, "feather": 8}
# crop of ~780×650 px: past the daemon's 400k-pixel seam-score downsampling threshold
SEL_LARGE = {"kind": "ellipse", "x": 250, "y": 200, "w": 500, "h": 350, "feather": 20}


def _cases(d: Path) -> list[dict]:
    png8, png16, large = str(d / "photo8.png"), str(d / "photo16.png"), str(d / "large8.png")
    return [
        {"name": "u8_offset", "png": png8, "canvas_pad": [24, 16, 8, 8], "select": SEL_U8,
         "strength": 0.8, "samples": 2},
        {"name": "u16", "png": png16, "select": SEL_U16, "strength": 1.0, "samples": 1},
        {"name": "float_linear", "png": png16, "precision": "float-linear", "select": SEL_FLOAT,
         "strength": 0.6, "samples": 1},
        {"name": "gray_u8", "png": png8, "gray": True, "select": SEL_U16, "strength": 1.0},
        {"name": "in_group", "png": png8, "in_group": True, "select": SEL_U16, "strength": 1.0},
        {"name": "u16_linear", "png": png16, "precision": "u16-linear", "select": SEL_U16, "strength": 1.0},
        {"name": "adobe_u8", "png": png8, "adobe_rgb": True, "select": SEL_U16, "strength": 1.0},
        {"name": "large_u8", "png": large, "select": SEL_LARGE, "strength": 1.0},
        {"name": "no_selection", "png": png8, "select": None},
        {"name": "layer_mask", "png": png8, "target": "mask", "select": SEL_U16},
        {"name": "all_selected", "png": png8,
         "select": {"kind": "rectangle", "x": 0, "y": 0, "w": 256, "h": 192, "feather": 0}},
        {"name": "outside_layer", "png": png8, "canvas_pad": [40, 0, 0, 0],
         "select": {"kind": "rectangle", "x": 2, "y": 2, "w": 30, "h": 30, "feather": 0}},
        {"name": "daemon_paused", "png": png8, "select": SEL_U16, "stop_daemon": True},
        {"name": "daemon_killed", "png": png8, "select": SEL_U16, "stop_daemon": True},
        {"name": "daemon_gone", "png": png8, "select": SEL_U16, "stop_daemon": True},
    ]


def _succeeded(res: dict) -> dict:
    assert res["status"] == "success", f"{res['name']}: {res['message']}"
    return res


def _read(out: Path, res: dict, key: str, dtype: str, channels: int) -> np.ndarray:
    w, h = res["new"]["size"]
    data = np.frombuffer((out / res["files"][key]).read_bytes(), dtype)
    return data.reshape((h, w, channels) if channels > 1 else (h, w))


def _expected(client_mod, runtime: Path, out: Path, results: list[dict]) -> dict:
    """Ask the daemon, from outside GIMP, for the answer to each dumped crop + mask."""
    answers = {}
    info = json.loads((runtime / "endpoint.json").read_text())
    with client_mod.Client(endpoint=info["endpoint"], token=info["token"], timeout=120) as client:
        for res in results:
            if "files" not in res:
                continue
            case = res["case"]
            w, h = res["new"]["size"]
            crop = (out / res["files"]["crop"]).read_bytes()
            mask = (out / res["files"]["mask"]).read_bytes()
            pixels, header = client.refine(crop, w, h, 4, res["dtype"], "RGBA", mask, mask_dtype="uint8",
                                           strength=case.get("strength", 1.0), samples=case.get("samples", 1))
            answers[res["name"]] = np.frombuffer(pixels, res["dtype"]).reshape(h, w, 4)
    return answers


@pytest.fixture(scope="module")
def gimp_run(tmp_path_factory):
    """Run all cases in one real GIMP; yields (results by name, out dir, daemon answers, GIMP output, s)."""
    ensure_gimp()
    root = tmp_path_factory.mktemp("gimp")
    out, runtime, logs = root / "out", root / "runtime", root / "logs"
    for d in (out, runtime, logs):
        d.mkdir()
    photo = make_photo(np.random.default_rng(7), 192, 256)
    write_png8(root / "photo8.png", photo)
    write_png16(root / "photo16.png", photo)
    write_png8(root / "large8.png", make_photo(np.random.default_rng(8), 750, 1000))
    plugin = install_plugin_folder(root / "plug-ins")
    client_mod = load_client(plugin)
    cases = _cases(root)
    spec = {"out_dir": str(out), "plugin_dir": str(plugin), "cases": cases}
    (root / "spec.json").write_text(json.dumps(spec))
    daemon = start_daemon(model_for_tests(root), runtime, logs)
    env = dict(os.environ, HOSTS_CACHE=str(HOSTS_CACHE), GIMP_PLUGIN_DIRS=str(plugin), HOSTS_BIND=str(root),
               SEAM_REFINE_RUNTIME_DIR=str(runtime), SEAM_REFINE_PLUGIN_TIMEOUT=str(PLUGIN_TIMEOUT))
    answers: dict = {}
    t0 = time.monotonic()
    gimp_log = root / "gimp.log"
    with open(gimp_log, "w") as sink:
        gimp = subprocess.Popen([str(HOSTS), "gimp-run", str(SCRIPT), str(root / "spec.json")], cwd=REPO,
                                env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        handled = set()
        while gimp.poll() is None:
            for case in cases:
                name = case["name"]
                if name in handled or not (out / f"{name}.stop").exists():
                    continue
                if name == "daemon_paused":
                    daemon.send_signal(signal.SIGSTOP)  # hung: accepts connections, never answers
                elif name == "daemon_killed":
                    daemon.send_signal(signal.SIGCONT)
                    done = json.loads((out / "results.json").read_text())
                    for res in done:
                        res["case"] = next(c for c in cases if c["name"] == res["name"])
                    t_ask = time.monotonic()
                    answers = _expected(client_mod, runtime, out, done)
                    print(f"daemon answers for {len(answers)} crops: {time.monotonic() - t_ask:.2f} s")
                    daemon.send_signal(signal.SIGKILL)  # a crash: endpoint.json stays behind
                    daemon.wait(30)
                    assert (runtime / "endpoint.json").is_file()
                else:
                    (runtime / "endpoint.json").unlink()
                (out / f"{name}.stopped").touch()
                handled.add(name)
            time.sleep(0.05)
    finally:
        if gimp.poll() is None:
            gimp.kill()
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGCONT)
            daemon.terminate()
            daemon.wait(30)
    elapsed = time.monotonic() - t0
    log = gimp_log.read_text(errors="replace")
    assert gimp.returncode == 0, f"GIMP run failed (rc {gimp.returncode}):\n{log[-6000:]}"
    results = {r["name"]: r for r in json.loads((out / "results.json").read_text())}
    assert list(results) == [c["name"] for c in cases], log[-3000:]
    for res in results.values():
        res["case"] = next(c for c in cases if c["name"] == res["name"])
    print(f"GIMP run with {len(cases)} cases: {elapsed:.1f} s; plug-in run times: "
          + ", ".join(f"{n} {r['run_s']:.2f} s" for n, r in results.items()))
    yield results, out, answers, log


def srgb_gray_u8(rgba: np.ndarray) -> np.ndarray:
    """What GIMP stores when R'G'B' u8 pixels are written into a grayscale (Y') layer: Rec.709 luminance
    of the linear values, encoded back with the sRGB curve."""
    c = rgba[..., :3].astype(np.float64) / 255
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    y = lin @ np.array([0.2126, 0.7152, 0.0722])
    enc = np.where(y <= 0.0031308, y * 12.92, 1.055 * y ** (1 / 2.4) - 0.055)
    return np.round(enc * 255)


SRGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]])
ADOBE_TO_XYZ = np.array([[0.5767309, 0.1855540, 0.1881852], [0.2973769, 0.6273491, 0.0752741],
                         [0.0270343, 0.0706872, 0.9911085]])


def adobe_u8_codes(rgba: np.ndarray) -> np.ndarray:
    """The Adobe RGB (1998) 8-bit codes of R'G'B' float pixels, clipped to the gamut as storing them in
    a u8 Adobe RGB layer does. Like babl, the sRGB curve continues below 0 with its linear segment."""
    c = rgba[..., :3].astype(np.float64)
    lin = np.where(c <= 0.04045, c / 12.92, ((np.maximum(c, 0.04045) + 0.055) / 1.055) ** 2.4)
    adobe = np.clip(lin @ (np.linalg.inv(ADOBE_TO_XYZ) @ SRGB_TO_XYZ).T, 0.0, 1.0)
    return 255 * adobe ** (256 / 563)


# How closely the new layer, read back in the wire format, must equal the daemon's answer: exact where
# the wire format is the storage format; else within the storage precision (linear float: float
# rounding; linear u16 and Adobe RGB u8 travel as float and are stored back as integers).
ANSWER_TOLERANCE = {"u8_offset": 0, "u16": 0, "in_group": 0, "large_u8": 0, "float_linear": 2e-6,
                    "u16_linear": 2e-4, "adobe_u8": None}
SUCCESS_CASES = list(ANSWER_TOLERANCE) + ["gray_u8"]


@pytest.mark.parametrize("name", list(ANSWER_TOLERANCE))
def test_new_layer_is_the_daemons_answer(gimp_run, name):
    results, out, answers, _ = gimp_run
    res = results[name]
    assert res["status"] == "success", res["message"]
    assert res["new_layers"] == 1 and res["new"]["name"] == "Seam Refine"
    new = _read(out, res, "new", res["dtype"], 4)
    want = answers[name]
    if name == "adobe_u8":
        # The layer stores Adobe RGB u8: compare in those codes (±1 rounding, plus the matrices' own
        # rounding). Where the refiner mixed the out-of-sRGB stripe with its neighbours the answer can
        # leave the Adobe RGB gamut too, and the layer holds it clipped.
        np.testing.assert_allclose(adobe_u8_codes(new), adobe_u8_codes(want), atol=1.5, rtol=0)
        np.testing.assert_array_equal(new[..., 3], want[..., 3])
    elif ANSWER_TOLERANCE[name] == 0:
        np.testing.assert_array_equal(new, want)
    else:
        np.testing.assert_allclose(new, want, atol=ANSWER_TOLERANCE[name], rtol=0)


@pytest.mark.parametrize("name", SUCCESS_CASES)
def test_outside_the_band_the_new_layer_is_bit_identical(gimp_run, name):
    """Where the daemon changed nothing, the new layer holds exactly the original's stored values."""
    results, out, answers, _ = gimp_run
    res = _succeeded(results[name])
    unchanged = np.all(answers[name] == _read(out, res, "crop", res["dtype"], 4), axis=-1)
    assert unchanged.mean() > 0.1, "the band should be a small part of the crop"
    native = res["native"]
    new = _read(out, res, "new_native", native["dtype"], native["channels"])
    orig = _read(out, res, "crop_native", native["dtype"], native["channels"])
    if name == "float_linear":  # linear float → R'G'B' float → linear float: float rounding only
        np.testing.assert_allclose(new[unchanged], orig[unchanged], atol=1e-6, rtol=0)
    else:
        np.testing.assert_array_equal(new[unchanged], orig[unchanged])


def test_out_of_srgb_gamut_colours_survive(gimp_run):
    res = gimp_run[0]["adobe_u8"]
    assert res["dtype"] == "float32"
    crop = _read(gimp_run[1], res, "crop", "float32", 4)
    assert crop[..., :3].min() < -0.05, "the Adobe RGB stripe must reach the daemon unclipped"


WIRE_DTYPES = [("u8_offset", "uint8"), ("u16", "uint16"), ("float_linear", "float32"),
               ("u16_linear", "float32"), ("adobe_u8", "float32"), ("gray_u8", "uint8")]


@pytest.mark.parametrize("name,dtype", WIRE_DTYPES)
def test_precision_is_kept(gimp_run, name, dtype):
    res = _succeeded(gimp_run[0][name])
    assert res["dtype"] == dtype
    crop = _read(gimp_run[1], res, "crop", dtype, 4)
    if dtype == "uint16":
        assert np.any(crop[..., :3] % 257 != 0), "16-bit test data must not be 8-bit values"


def test_grayscale_image_gets_a_gray_layer_of_the_answer(gimp_run):
    results, out, answers, _ = gimp_run
    res = results["gray_u8"]
    assert res["status"] == "success", res["message"]
    assert res["new"]["is_gray"] and res["new"]["has_alpha"]
    new = _read(out, res, "new", "uint8", 4)
    crop = _read(out, res, "crop", "uint8", 4)
    assert np.array_equal(crop[..., 0], crop[..., 1]) and np.array_equal(crop[..., 0], crop[..., 2])
    assert np.abs(new[..., 0].astype(int) - srgb_gray_u8(answers["gray_u8"])).max() <= 1
    np.testing.assert_array_equal(new[..., 3], answers["gray_u8"][..., 3])


def test_layer_in_a_group_gets_its_result_inside_the_group(gimp_run):
    res = gimp_run[0]["in_group"]
    assert res["status"] == "success", res["message"]
    assert res["layers"] == ["Group", "Seam Refine", "Background"]
    assert res["new"]["parent"] == "Group"
    assert res["new"]["index"] == res["new"]["original_index"] - 1 == 0


@pytest.mark.parametrize("name", ["u8_offset", "u16", "float_linear", "gray_u8"])
def test_soft_selection_is_sent_and_alpha_kept(gimp_run, name):
    results, out, answers, _ = gimp_run
    res = _succeeded(results[name])
    mask = _read(out, res, "mask", "uint8", 1)
    assert np.count_nonzero((mask > 0) & (mask < 255)) > 50, "feathered selection must stay soft"
    crop = _read(out, res, "crop", res["dtype"], 4)
    new = _read(out, res, "new", res["dtype"], 4)
    np.testing.assert_array_equal(new[..., 3], crop[..., 3])


def test_the_daemon_really_refined_something(gimp_run):
    """Keeps the equality tests meaningful: the answers differ from the crops somewhere. (How much a
    model changes is its business; a well-matched fill may legitimately change little.)"""
    results, out, answers, _ = gimp_run
    changed = 0
    for name in ("u8_offset", "u16", "float_linear"):
        res = _succeeded(results[name])
        crop = _read(out, res, "crop", res["dtype"], 4)
        changed += int(np.any(answers[name][..., :3] != crop[..., :3], axis=-1).sum())
    assert changed > 20


@pytest.mark.parametrize("name", SUCCESS_CASES)
def test_new_layer_placement(gimp_run, name):
    res = _succeeded(gimp_run[0][name])
    lx, ly = res["layer"]["offsets"]
    lw, lh = res["layer"]["size"]
    ok, ix, iy, iw, ih = res["mask_intersect"]
    assert ok
    nx, ny = res["new"]["offsets"]
    nw, nh = res["new"]["size"]
    # the selection's box on the layer, grown by the context and clipped to the layer
    # context: a quarter of the longer side, clamped to 64–256 px (64 for the small selections here)
    context = min(256, max(64, round(max(iw, ih) / 4)))
    assert context == (135 if name == "large_u8" else 64)
    x0, y0 = max(0, ix - context), max(0, iy - context)
    x1, y1 = min(lw, ix + iw + context), min(lh, iy + ih + context)
    assert (nx, ny, nw, nh) == (lx + x0, ly + y0, x1 - x0, y1 - y0)
    assert res["new"]["index"] == res["new"]["original_index"] - 1, "new layer must sit right above"
    assert res["new"]["mode"] == "normal" and res["new"]["opacity"] == 100.0 and res["new"]["has_alpha"]
    assert res["selected_layers"] == ["Seam Refine"]


def test_layer_offsets_are_respected(gimp_run):
    res = gimp_run[0]["u8_offset"]
    assert res["layer"]["offsets"] == [24, 16]
    assert res["new"]["offsets"][0] > 24 and res["new"]["offsets"][1] > 16


def test_float_crop_is_clipped_to_the_layer(gimp_run):
    res = gimp_run[0]["float_linear"]
    assert res["new"]["offsets"] == [0, 0]


ALL_CASES = SUCCESS_CASES + ["no_selection", "layer_mask", "all_selected", "outside_layer", "daemon_paused",
                             "daemon_killed", "daemon_gone"]


@pytest.mark.parametrize("name", ALL_CASES)
def test_existing_layers_untouched(gimp_run, name):
    res = gimp_run[0][name]
    assert res["original_unchanged"] and res["old_layers_kept"]
    assert res["undo_enabled"]


def test_undo_groups_are_balanced(gimp_run):
    # GIMP 3 has no PDB procedure to undo (no gimp-image-undo; undo is a GUI action), so batch runs
    # cannot undo (test_gimp_dialog.py presses Ctrl+Z in the GUI). GIMP itself reports a plug-in that
    # leaves an undo group open, on every path: success and each error.
    log = gimp_run[3]
    assert "left image undo in inconsistent state" not in log
    assert "Seam Refine" in " ".join(gimp_run[0]["u8_offset"]["layers"])


@pytest.mark.parametrize("name,needle", [
    ("no_selection", "needs a selection"),
    ("layer_mask", "Select a layer"),
    ("all_selected", "no seam to blend into"),
    ("outside_layer", "does not overlap"),
    ("daemon_paused", f"did not answer within {PLUGIN_TIMEOUT} s"),
    ("daemon_killed", "seam-refine serve"),
    ("daemon_gone", "not running"),
])
def test_errors_are_execution_errors_without_a_layer(gimp_run, name, needle):
    res = gimp_run[0][name]
    assert res["status"] == "execution-error"
    assert needle in res["message"], res["message"]
    assert res["new_layers"] == 0 and res["layers"] == ["Background"]
    if name in ("daemon_killed", "daemon_gone"):
        assert "seam-refine serve" in res["message"]


def test_a_hung_daemon_times_out_on_time(gimp_run):
    assert PLUGIN_TIMEOUT - 0.5 < gimp_run[0]["daemon_paused"]["run_s"] < PLUGIN_TIMEOUT + 10
