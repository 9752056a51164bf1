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
    allowed = {"gi", "gi.repository", "refine_job", "host", "cancel_watch", "seamrefine_client",
               "seamrefine_policy"}
    for path in PLUGIN.glob("*.py"):
        for name in _imports(path):
            assert name in allowed or name.split(".")[0] in sys.stdlib_module_names, (path.name, name)
