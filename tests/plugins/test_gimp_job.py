"""The GIMP plug-in's host-independent parts (plugins/gimp/seam-refine/refine_job.py), without GIMP."""

from __future__ import annotations

import ast
import importlib.util
import os
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "plugins" / "gimp" / "seam-refine"
CLIENT = REPO / "plugins" / "common" / "seamrefine_client.py"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


job = _load("seamrefine_gimp_refine_job", PLUGIN / "refine_job.py")
client = _load("seamrefine_client_gimp_job_test", CLIENT)


# ---------------------------------------------------------------- pixel formats
@pytest.mark.parametrize("nick,babl,dtype", [
    ("u8-non-linear", "R'G'B'A u8", "uint8"),
    ("u8-linear", "R'G'B'A float", "float32"),
    ("u8-perceptual", "R'G'B'A u8", "uint8"),
    ("u16-non-linear", "R'G'B'A u16", "uint16"),
    ("u16-linear", "R'G'B'A float", "float32"),
    ("u16-perceptual", "R'G'B'A u16", "uint16"),
    ("u32-linear", "R'G'B'A float", "float32"),
    ("half-non-linear", "R'G'B'A float", "float32"),
    ("float-linear", "R'G'B'A float", "float32"),
    ("double-perceptual", "R'G'B'A float", "float32"),
])
def test_pixel_format_known_values(nick, babl, dtype):
    fmt = job.pixel_format(nick)
    assert (fmt.babl, fmt.dtype) == (babl, dtype)
    assert fmt.itemsize == {"uint8": 1, "uint16": 2, "float32": 4}[dtype]


@pytest.mark.parametrize("nick", ["u8-non-linear", "u16-non-linear", "u16-perceptual", "half-linear"])
def test_pixel_format_other_profiles_travel_as_float(nick):
    assert job.pixel_format(nick, srgb=False) == job.FLOAT


def test_pixel_format_error_names_the_precision():
    with pytest.raises(ValueError, match="u64-linear"):
        job.pixel_format("u64-linear")


# ---------------------------------------------------------------- crop geometry
@pytest.mark.parametrize("w,h,margin", [(10, 10, 64), (256, 40, 64), (600, 100, 150), (4000, 10, 256)])
def test_context_margin_known_values(w, h, margin):
    assert job.context_margin(w, h) == margin


def test_crop_box_interior_grows_by_context():
    assert job.crop_box(job.Box(100, 120, 40, 30), 1000, 800) == job.Box(36, 56, 168, 158)


def test_crop_box_clips_to_the_drawable():
    box = job.crop_box(job.Box(5, 700, 40, 90), 300, 800, context=64)
    assert box == job.Box(0, 636, 109, 164)
    assert box.pixels == 109 * 164


def test_crop_box_whole_drawable_selection():
    assert job.crop_box(job.Box(0, 0, 50, 40), 50, 40) == job.Box(0, 0, 50, 40)


@pytest.mark.parametrize("value,seconds", [("5", 5.0), ("0.5", 0.5), ("", 600.0), ("soon", 600.0),
                                           ("-3", 600.0), ("0", 600.0), ("inf", 600.0), ("nan", 600.0)])
def test_refine_timeout_from_the_environment(value, seconds):
    assert job.refine_timeout({job.TIMEOUT_ENV: value}) == seconds
    assert job.refine_timeout({}) == job.REFINE_TIMEOUT_S == 600.0


# ---------------------------------------------------------------- messages for the artist
def test_not_running_message_says_how_to_start_once():
    msg = job.explain(client.DaemonNotRunning("No endpoint.json in /run/user/1/seam-refine."))
    assert "not running" in msg.lower() or "endpoint.json" in msg
    assert msg.count("seam-refine serve") == 1


def test_connection_refused_message():
    msg = job.explain(client.DaemonNotRunning("Refused at tcp://127.0.0.1:5", code="connection_lost"))
    assert "seam-refine serve" in msg and "tcp://127.0.0.1:5" in msg


def test_busy_message():
    msg = job.explain(client.DaemonBusy("busy", "queue full"))
    assert "busy" in msg and "try again" in msg


def test_timeout_message_names_the_limit():
    msg = job.explain(client.DaemonTimeout("no answer"), timeout_s=300)
    assert msg.startswith("The Seam Refine daemon did not answer within 300 s.")
    assert "seam-refine daemon status" in msg
    assert "within 2.5 s" in job.explain(client.DaemonTimeout("no answer"), timeout_s=2.5)


@pytest.mark.parametrize("code,needle", [
    ("empty_mask", "selection is empty"),
    ("full_mask", "no seam"),
    ("too_large", "smaller region"),
    ("cancelled", "cancelled"),
    ("model", "(model): it broke"),
])
def test_daemon_error_messages(code, needle):
    assert needle in job.explain(client.DaemonError(code, "it broke"))


def test_unexpected_error_message_names_the_type():
    assert job.explain(OSError("disk on fire")) == "Seam Refine failed: OSError: disk on fire"


def test_plugin_error_passes_through():
    assert job.explain(job.PluginError("Select a layer.")) == "Select a layer."


# ---------------------------------------------------------------- waiting with progress
def test_run_in_background_ticks_while_waiting():
    ticks = []
    value = job.run_in_background(lambda: time.sleep(0.3) or 42, lambda: ticks.append(1), poll_s=0.05)
    assert value == 42
    assert len(ticks) >= 3


def test_run_in_background_reraises_on_the_caller():
    def boom():
        raise client.DaemonBusy("busy", "queue full")

    with pytest.raises(client.DaemonBusy, match="queue full"):
        job.run_in_background(boom, lambda: None, poll_s=0.01)


def test_progress_state_known_values():
    state = job.ProgressState()
    assert state.fraction is None
    worker = threading.Thread(target=state.report, args=(1, 4))
    worker.start()
    worker.join()
    assert state.fraction == 0.25
    state.report(0, 0)
    assert state.fraction is None


# ---------------------------------------------------------------- plug-in folder rules
def test_entry_point_is_an_executable_script_named_like_its_folder():
    entry = PLUGIN / f"{PLUGIN.name}.py"
    assert entry.is_file()
    assert entry.read_text().startswith("#!/usr/bin/env python3\n")
    assert os.access(entry, os.X_OK)


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_the_host_adapter_imports_gimp():
    for path in PLUGIN.glob("*.py"):
        uses_gi = any(name == "gi" or name.startswith("gi.") for name in _imports(path))
        assert uses_gi == (path.name == "host.py"), path.name


def test_plugin_modules_use_only_the_standard_library():
    allowed = {"gi", "gi.repository", "refine_job", "host", "seamrefine_client"}
    for path in PLUGIN.glob("*.py"):
        for name in _imports(path):
            assert name in allowed or name.split(".")[0] in sys.stdlib_module_names, (path.name, name)
