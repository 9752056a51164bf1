"""What both plug-ins share (plugins/common/seamrefine_policy.py): crop geometry, timeout, messages."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from .plugin_client_servers import COMMON, load_client, load_common

KRITA = COMMON.parent / "krita" / "seam_refine"

policy = load_common("seamrefine_policy")
client = load_client()


# ---------------------------------------------------------------- crop geometry
@pytest.mark.parametrize("w,h,margin", [(10, 10, 64), (256, 40, 64), (600, 100, 150), (4000, 10, 256)])
def test_context_margin_known_values(w, h, margin):
    assert policy.context_margin(w, h) == margin


def test_crop_box_interior_grows_by_context():
    assert policy.crop_box(100, 120, 40, 30, 1000, 800) == (36, 56, 168, 158)


def test_crop_box_clips_to_the_layer():
    assert policy.crop_box(5, 700, 40, 90, 300, 800, context=64) == (0, 636, 109, 164)
    assert policy.crop_box(10, 20, 40, 40, 70, 1000) == (0, 0, 70, 124)


def test_crop_box_whole_layer_and_no_context():
    assert policy.crop_box(0, 0, 50, 40, 50, 40) == (0, 0, 50, 40)
    assert policy.crop_box(10, 10, 5, 5, 100, 100, context=0) == (10, 10, 5, 5)


def test_crop_box_outside_the_layer_is_empty():
    x, y, w, h = policy.crop_box(200, 200, 10, 10, 100, 100, context=0)
    assert w == 0 and h == 0


@pytest.mark.parametrize("value,seconds", [("5", 5.0), ("0.5", 0.5), ("", 600.0), ("soon", 600.0),
                                           ("-3", 600.0), ("0", 600.0), ("inf", 600.0), ("nan", 600.0)])
def test_refine_timeout_from_the_environment(value, seconds):
    assert policy.refine_timeout({policy.TIMEOUT_ENV: value}) == seconds
    assert policy.refine_timeout({}) == policy.REFINE_TIMEOUT_S == 600.0
    assert policy.refine_timeout({}, default=30.0) == 30.0


# ---------------------------------------------------------------- messages for the artist
def test_not_running_message_says_how_to_start_once():
    msg = policy.describe_error(client.DaemonNotRunning("No endpoint.json in /run/user/1/seam-refine."))
    assert "not running" in msg.lower() or "endpoint.json" in msg
    assert msg.count("seam-refine serve") == 1


def test_connection_refused_message():
    lost = client.DaemonNotRunning("Refused at tcp://127.0.0.1:5", code="connection_lost")
    msg = policy.describe_error(lost)
    assert "seam-refine serve" in msg and "tcp://127.0.0.1:5" in msg


def test_busy_message():
    msg = policy.describe_error(client.DaemonBusy("busy", "queue full"))
    assert "busy" in msg and "try again" in msg


def test_timeout_message_names_the_limit():
    msg = policy.describe_error(client.DaemonTimeout("no answer"), timeout_s=300)
    assert msg.startswith("The Seam Refine daemon did not answer within 300 s.")
    assert "seam-refine daemon status" in msg
    assert "within 2.5 s" in policy.describe_error(client.DaemonTimeout("no answer"), timeout_s=2.5)


@pytest.mark.parametrize("code,needle", [
    ("empty_mask", "selection is empty"),
    ("full_mask", "no seam"),
    ("too_large", "smaller region"),
    ("cancelled", "cancelled"),
    ("model", "(model): it broke"),
])
def test_daemon_error_messages(code, needle):
    assert needle in policy.describe_error(client.DaemonError(code, "it broke"))


def test_unexpected_error_message_names_the_type():
    assert policy.describe_error(OSError("disk on fire")) == "Seam Refine failed: OSError: disk on fire"


def test_plugins_take_their_settings_from_here():
    """Neither plug-in declares its own context margin, timeout or layer name any more."""
    from seamrefine_plugins.krita.seam_refine import pixels

    assert not hasattr(pixels, "context_margin") and not hasattr(pixels, "crop_box")
    source = (COMMON.parent / "gimp" / "seam-refine" / "refine_job.py").read_text()
    for name in ("CONTEXT_MIN", "REFINE_TIMEOUT_S", "def explain", "LAYER_NAME", "def crop_box"):
        assert name not in source, name


# ---------------------------------------------------------------- plug-in folder rules
def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_shared_modules_use_only_the_standard_library():
    for path in COMMON.glob("*.py"):
        for name in _imports(path):
            assert name.split(".")[0] in sys.stdlib_module_names, (path.name, name)


def test_only_the_krita_host_adapter_imports_krita():
    for path in KRITA.glob("*.py"):
        names = {n.split(".")[0] for n in _imports(path)}
        assert ("krita" in names) == (path.name == "host.py"), path.name
        qt = {"PyQt5", "PyQt6", "pykrita"} & names
        assert not qt or path.name == "qt.py", path.name
        assert names - qt - {"krita"} <= set(sys.stdlib_module_names), path.name
