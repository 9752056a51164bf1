"""Host-side helpers of the real-GIMP tests (they run in pytest, not inside GIMP).

They assemble the plug-in folder, make sure GIMP 3 is set up in ../shared/hosts, start a real daemon
and write test pictures.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]
HOSTS = REPO.parent / "shared" / "hosts" / "hosts.sh"
HOSTS_CACHE = Path(os.environ.get("HOSTS_CACHE", "/var/cache/plugin-hosts"))
SCRIPT = REPO / "tests" / "plugins" / "gimp_scripts" / "refine_cases.py"
# the selection most cases refine (an ellipse on the 256×192 test photo), feathered by 12 px
SEL_U16 = {"kind": "ellipse", "x": 100, "y": 70, "w": 50, "h": 40, "feather": 12}
SEL_FLOAT = {"kind": "rectangle", "x": 30, "y": 20, "w": 60, "h": 50, "feather": 8}
# the SEL_U16 ellipse on a layer offset by (24, 16) in its canvas, less feathered
SEL_U8 = {"kind": "ellipse", "x": 24 + 100, "y": 16 + 70, "w": 50, "h": 40, "feather": 10}
# crop of ~780×650 px: past the daemon's 400k-pixel seam-score downsampling threshold
SEL_LARGE = {"kind": "ellipse", "x": 250, "y": 200, "w": 500, "h": 350, "feather": 20}
# clean photo under it and 40+ px around it: the refiner finds no seam there
SEL_CLEAN = {"kind": "ellipse", "x": 190, "y": 125, "w": 50, "h": 40, "feather": 12}
GUI_SCRIPTS = REPO / "tests" / "plugins" / "gimp_scripts"
PLUGIN_TIMEOUT = 8  # s, through $SEAM_REFINE_PLUGIN_TIMEOUT: long for these crops, short for the hung daemon
PLUGIN_SRC = REPO / "plugins" / "gimp" / "seam-refine"
CLIENT_SRC = REPO / "plugins" / "common" / "seamrefine_client.py"
SHIPPED_MODEL = REPO / "server" / "seamrefine" / "models" / "seam_refiner.onnx"


def make_photo(rng: np.random.Generator, height: int, width: int, fills=(SEL_U16, SEL_FLOAT)) -> np.ndarray:
    """A textured test picture (gradient, stripes, noise) with fake generative fills pasted warmer and
    brighter with a hard edge, one where each selection of ``fills`` (ellipse or rectangle, photo
    coordinates) selects (visible colour seams the refiner removes); float32 H×W×3 in [0, 1]."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([xx / width, yy / height, 0.5 + 0.2 * np.sin(xx / 7 + yy / 11)], axis=-1)
    img += rng.normal(0.0, 0.04, img.shape).astype(np.float32)
    for sel in fills:
        rx, ry = sel["w"] / 2, sel["h"] / 2
        if sel["kind"] == "ellipse":
            inside = ((xx - sel["x"] - rx) / rx) ** 2 + ((yy - sel["y"] - ry) / ry) ** 2 < 1
        else:
            inside = (abs(xx + 0.5 - sel["x"] - rx) < rx) & (abs(yy + 0.5 - sel["y"] - ry) < ry)
        img[inside] = 0.9 * img[inside] + np.float32([0.15, 0.1, 0.03])  # brighter: a step in grey too
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


def load_client(plugin_dir: Path):
    """Import the very seamrefine_client.py the installed plug-in uses."""
    path = plugin_dir / "seamrefine_client.py"
    spec = importlib.util.spec_from_file_location("seamrefine_client_gimp_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def install_plugin_folder(dest: Path) -> Path:
    """Assemble the plug-in folder as users get it; returns the folder holding seam-refine.py."""
    try:
        from seamrefine.app import install_plugin
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


def run_gui(root, plugin, script, spec, env, on_file=None, timeout=600):
    """gui_driver.py in the chroot; ``on_file`` maps a handshake file name in out_dir to a callback."""
    argv = [str(HOSTS), "shell", "python3", str(GUI_SCRIPTS / "gui_driver.py"), str(root), str(plugin),
            str(script), str(root / "spec.json")]
    (root / "spec.json").write_text(json.dumps(spec))
    out = root / "out"
    done = set()
    with open(root / "driver.log", "w") as log:
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        end = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < end:
            for name, callback in (on_file or {}).items():
                if name not in done and (out / name).exists():
                    callback()
                    done.add(name)
            time.sleep(0.1)
        if proc.poll() is None:
            proc.kill()
        rc = proc.wait()
    return rc, (root / "driver.log").read_text(errors="replace")


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
    """$SEAM_REFINE_TEST_MODEL if set, else the shipped model, else a fixture model (tests/onnx_fixture)."""
    override = os.environ.get("SEAM_REFINE_TEST_MODEL")
    if override:
        return Path(override)
    if SHIPPED_MODEL.is_file():
        return SHIPPED_MODEL
    from ...support.onnx_fixture import make_fixture_model

    return make_fixture_model(tmp / "model")


def start_daemon(model: Path, runtime: Path, logs: Path) -> subprocess.Popen:
    argv = [sys.executable, "-m", "seamrefine.app.cli", "serve"]
    env = dict(os.environ, SEAM_REFINE_RUNTIME_DIR=str(runtime), SEAM_REFINE_LOG_DIR=str(logs),
               OMP_NUM_THREADS="1")
    with open(logs / "daemon.out", "w") as sink:  # a file, not a pipe nobody reads
        proc = subprocess.Popen(argv + ["--model", str(model), "--cpu"], env=env, stdout=sink,
                                stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while not (runtime / "endpoint.json").is_file():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail(f"the daemon did not start: {(logs / 'daemon.out').read_text()[-3000:]}")
        time.sleep(0.1)
    return proc


def refine_cases(d: Path) -> list[dict]:
    """The cases refine_cases.py runs in one GIMP (pictures in ``d``)."""
    png8, png16, large = str(d / "photo8.png"), str(d / "photo16.png"), str(d / "large8.png")
    return [
        {"name": "u8_offset", "png": png8, "canvas_pad": [24, 16, 8, 8], "select": SEL_U8,
         "strength": 0.8, "samples": 2, "band": 12},
        {"name": "u16", "png": png16, "select": SEL_U16, "strength": 1.0, "samples": 1},
        {"name": "u8_alpha", "png": png8, "alpha_holes": True, "select": SEL_U16, "strength": 1.0},
        {"name": "repeat", "png": png8, "select": SEL_U16, "repeat": True},
        {"name": "float_linear", "png": png16, "precision": "float-linear", "select": SEL_FLOAT,
         "strength": 0.6, "samples": 1},
        {"name": "gray_u8", "png": png8, "gray": True, "select": SEL_U16, "strength": 1.0},
        {"name": "in_group", "png": png8, "in_group": True, "select": SEL_U16, "strength": 1.0},
        {"name": "u16_linear", "png": png16, "precision": "u16-linear", "select": SEL_U16, "strength": 1.0},
        {"name": "adobe_u8", "png": png8, "adobe_rgb": True, "select": SEL_U16, "strength": 1.0},
        {"name": "large_u8", "png": large, "select": SEL_LARGE, "strength": 1.0},
        {"name": "no_seam", "png": png8, "select": SEL_CLEAN},
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
