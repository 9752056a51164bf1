"""The GIMP 3 plug-in in real GIMP 3.0 (../shared/hosts/hosts.sh gimp-run) against a real daemon.

One GIMP run (tests/gimp_scripts/refine_cases.py) drives the plug-in through the PDB on several images
(8-bit with layer offsets, 16-bit, float linear) and error situations, and dumps what it saw; the tests
below judge those dumps against the real daemon's own answer for the same crop and mask.

Needs root, Linux and ../shared/hosts (skipped otherwise). If GIMP is not set up yet,
``hosts.sh setup gimp`` runs first; only a setup that cannot download skips.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
HOSTS = REPO.parent / "shared" / "hosts" / "hosts.sh"
HOSTS_CACHE = Path(os.environ.get("HOSTS_CACHE", "/var/cache/plugin-hosts"))
SCRIPT = REPO / "tests" / "gimp_scripts" / "refine_cases.py"
PLUGIN_SRC = REPO / "plugins" / "gimp" / "seam-refine"
CLIENT_SRC = REPO / "plugins" / "common" / "seamrefine_client.py"
SHIPPED_MODEL = REPO / "server" / "seamrefine" / "models" / "seam_refiner.onnx"
CONTEXT = 64  # refine_job.CONTEXT_MIN: the margin for selections up to 256 px

pytestmark = [pytest.mark.hosts, pytest.mark.slow]

SEL_U8 = {"kind": "ellipse", "x": 24 + 110, "y": 16 + 80, "w": 44, "h": 34, "feather": 10}
SEL_U16 = {"kind": "ellipse", "x": 100, "y": 70, "w": 50, "h": 40, "feather": 12}
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
        {"name": "large_u8", "png": large, "select": SEL_LARGE, "strength": 1.0},
        {"name": "no_selection", "png": png8, "select": None},
        {"name": "layer_mask", "png": png8, "target": "mask", "select": SEL_U16},
        {"name": "outside_layer", "png": png8, "canvas_pad": [40, 0, 0, 0],
         "select": {"kind": "rectangle", "x": 2, "y": 2, "w": 30, "h": 30, "feather": 0}},
        {"name": "daemon_killed", "png": png8, "select": SEL_U16, "stop_daemon": True},
        {"name": "daemon_gone", "png": png8, "select": SEL_U16, "stop_daemon": True},
    ]


def make_photo(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A textured test picture (gradient, stripes, noise) with two fake generative fills whose colour,
    grain and sharpness differ from their surroundings; float32 H×W×3 in [0, 1]."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([xx / width, yy / height, 0.5 + 0.2 * np.sin(xx / 7 + yy / 11)], axis=-1)
    img += rng.normal(0.0, 0.04, img.shape).astype(np.float32)
    for cx, cy, r in ((160, 112, 30), (60, 45, 35)):
        inside = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
        img[inside] = 0.6 * img[inside] + np.float32([0.25, 0.1, 0.0])
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def write_png8(path: Path, img: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(np.round(img * 255).astype(np.uint8)).save(path)


def write_png16(path: Path, img: np.ndarray) -> None:
    """16-bit RGB PNG (Pillow cannot write 16-bit colour)."""
    h, w, _ = img.shape
    data = np.round(img * 65535).astype(">u2")
    raw = b"".join(b"\x00" + data[y].tobytes() for y in range(h))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))


def _load_client(plugin_dir: Path):
    """Import the very seamrefine_client.py the installed plug-in uses."""
    path = plugin_dir / "seamrefine_client.py"
    spec = importlib.util.spec_from_file_location("seamrefine_client_gimp_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def install_plugin_folder(dest: Path) -> Path:
    """Assemble the plug-in folder as users get it; returns the folder holding seam-refine.py."""
    try:
        from seamrefine import install_plugin
    except ImportError:
        install_plugin = None
    if install_plugin is not None:
        rc = install_plugin.main(["gimp", "--dest", str(dest)])
        assert rc in (0, None), f"install_plugin gimp failed: {rc}"
    else:
        folder = dest / "seam-refine"
        shutil.copytree(PLUGIN_SRC, folder, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy2(CLIENT_SRC, folder / CLIENT_SRC.name)
    found = sorted(dest.rglob("seam-refine.py"))
    assert len(found) == 1, f"expected one seam-refine.py under {dest}, found {found}"
    folder = found[0].parent
    assert folder.name == "seam-refine", folder
    assert os.access(found[0], os.X_OK), "seam-refine.py must be executable"
    assert (folder / "seamrefine_client.py").read_bytes() == CLIENT_SRC.read_bytes()
    return folder


def ensure_gimp() -> None:
    if sys.platform != "linux" or not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("real-GIMP tests need Linux and root (hosts.sh uses chroot)")
    if not HOSTS.is_file():
        pytest.skip(f"{HOSTS} is missing (../shared/hosts not checked out)")
    if (HOSTS_CACHE / "trixie-rootfs" / ".hosts-gimp-ok").is_file():
        return
    env = dict(os.environ, HOSTS_CACHE=str(HOSTS_CACHE))
    setup = subprocess.run([str(HOSTS), "setup", "gimp"], env=env, capture_output=True, text=True,
                           timeout=1800)
    if setup.returncode != 0:
        pytest.skip("!!! GIMP 3 COULD NOT BE SET UP (no network to the Debian mirror?) - real-GIMP tests "
                    f"NOT RUN !!!\n{setup.stdout[-2000:]}\n{setup.stderr[-2000:]}")


def model_for_tests(tmp: Path) -> Path:
    if SHIPPED_MODEL.is_file():
        return SHIPPED_MODEL
    from onnx_fixture import make_fixture_model

    return make_fixture_model(tmp / "model")


def start_daemon(model: Path, runtime: Path, logs: Path) -> subprocess.Popen:
    module = "seamrefine.cli" if importlib.util.find_spec("seamrefine.cli") else "seamrefine.daemon"
    argv = [sys.executable, "-m", module] + (["serve"] if module.endswith("cli") else [])
    env = dict(os.environ, SEAM_REFINE_RUNTIME_DIR=str(runtime), SEAM_REFINE_LOG_DIR=str(logs),
               OMP_NUM_THREADS="1")
    proc = subprocess.Popen(argv + ["--model", str(model), "--cpu"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not (runtime / "endpoint.json").is_file():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the daemon did not start: {proc.communicate()[0][-3000:]}")
        time.sleep(0.1)
    return proc


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
    client_mod = _load_client(plugin)
    cases = _cases(root)
    (root / "spec.json").write_text(json.dumps({"out_dir": str(out), "cases": cases}))
    daemon = start_daemon(model_for_tests(root), runtime, logs)
    env = dict(os.environ, HOSTS_CACHE=str(HOSTS_CACHE), GIMP_PLUGIN_DIRS=str(plugin), HOSTS_BIND=str(root),
               SEAM_REFINE_RUNTIME_DIR=str(runtime))
    answers: dict = {}
    t0 = time.monotonic()
    gimp = subprocess.Popen([str(HOSTS), "gimp-run", str(SCRIPT), str(root / "spec.json")], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        handled = set()
        while gimp.poll() is None:
            for case in cases:
                name = case["name"]
                if name in handled or not (out / f"{name}.stop").exists():
                    continue
                if name == "daemon_killed":
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
        log = gimp.communicate()[0]
    finally:
        if gimp.poll() is None:
            gimp.kill()
        if daemon.poll() is None:
            daemon.terminate()
            daemon.wait(30)
    elapsed = time.monotonic() - t0
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


@pytest.mark.parametrize("name", ["u8_offset", "u16", "float_linear", "in_group", "large_u8"])
def test_new_layer_is_the_daemons_answer(gimp_run, name):
    results, out, answers, _ = gimp_run
    res = results[name]
    assert res["status"] == "success", res["message"]
    assert res["new_layers"] == 1 and res["new"]["name"] == "Seam Refine"
    new = _read(out, res, "new", res["dtype"], 4)
    want = answers[name]
    if res["precision"].endswith("-linear"):
        # GIMP stores linear light; reading back as R'G'B' float is exact to float rounding only.
        np.testing.assert_allclose(new, want, atol=2e-6, rtol=0)
    else:
        np.testing.assert_array_equal(new, want)


@pytest.mark.parametrize("name,dtype", [("u8_offset", "uint8"), ("u16", "uint16"),
                                        ("float_linear", "float32")])
def test_precision_is_kept(gimp_run, name, dtype):
    res = gimp_run[0][name]
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
def test_soft_selection_is_sent_and_refined(gimp_run, name):
    results, out, answers, _ = gimp_run
    res = results[name]
    mask = _read(out, res, "mask", "uint8", 1)
    assert np.count_nonzero((mask > 0) & (mask < 255)) > 50, "feathered selection must stay soft"
    crop = _read(out, res, "crop", res["dtype"], 4)
    new = _read(out, res, "new", res["dtype"], 4)
    changed = np.any(new[..., :3] != crop[..., :3], axis=-1)
    assert changed.sum() > 20, "the refiner changed nothing"
    np.testing.assert_array_equal(new[..., 3], crop[..., 3])


@pytest.mark.parametrize("name", ["u8_offset", "u16", "float_linear"])
def test_new_layer_placement(gimp_run, name):
    res = gimp_run[0][name]
    lx, ly = res["layer"]["offsets"]
    lw, lh = res["layer"]["size"]
    ok, ix, iy, iw, ih = res["mask_intersect"]
    assert ok
    nx, ny = res["new"]["offsets"]
    nw, nh = res["new"]["size"]
    # the selection's box on the layer, grown by the context and clipped to the layer
    x0, y0 = max(0, ix - CONTEXT), max(0, iy - CONTEXT)
    x1, y1 = min(lw, ix + iw + CONTEXT), min(lh, iy + ih + CONTEXT)
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


ALL_CASES = ["u8_offset", "u16", "float_linear", "gray_u8", "in_group", "large_u8", "no_selection",
             "layer_mask", "outside_layer", "daemon_killed", "daemon_gone"]


@pytest.mark.parametrize("name", ALL_CASES)
def test_existing_layers_untouched(gimp_run, name):
    res = gimp_run[0][name]
    assert res["original_unchanged"] and res["old_layers_kept"]
    assert res["undo_enabled"]


def test_undo_groups_are_balanced(gimp_run):
    # GIMP 3 has no PDB procedure to undo (no gimp-image-undo; undo is a GUI action), so batch tests
    # cannot press Ctrl+Z. GIMP itself reports a plug-in that leaves an undo group open.
    log = gimp_run[3]
    assert "left image undo in inconsistent state" not in log
    assert "Seam Refine" in " ".join(gimp_run[0]["u8_offset"]["layers"])


@pytest.mark.parametrize("name,needle", [
    ("no_selection", "needs a selection"),
    ("layer_mask", "Select a layer"),
    ("outside_layer", "does not overlap"),
    ("daemon_killed", "seam-refine serve"),
    ("daemon_gone", "not running"),
])
def test_errors_are_execution_errors_without_a_layer(gimp_run, name, needle):
    res = gimp_run[0][name]
    assert res["status"] == "execution-error"
    assert needle in res["message"], res["message"]
    assert res["new_layers"] == 0 and res["layers"] == ["Background"]
    if name.startswith("daemon"):
        assert "seam-refine serve" in res["message"]
