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
ENDPOINT_DIRS = "/run/user/1000/seam-refine, /tmp/runtime-1000/seam-refine"


def _not_running():
    text = f"The Seam Refine daemon is not running (no endpoint.json in {ENDPOINT_DIRS})."
    return client.DaemonNotRunning(text)


def test_not_running_says_what_happened_and_the_one_thing_to_do():
    msg = policy.describe_error(_not_running())
    assert isinstance(msg, policy.Message)
    assert msg.text.startswith("The Seam Refine service is not running, so nothing was changed.")
    assert msg.text.count("seam-refine serve") == 1 and "then try again" in msg.text
    # written for an artist: no backticks, no paths, no second command; the rest is behind Details
    assert "`" not in msg.full() and "/" not in msg.text and "install-autostart" not in msg.text
    assert ENDPOINT_DIRS in msg.details and "seam-refine daemon install-autostart" in msg.details
    assert "Start it with" not in msg.details  # the client's own hint is not repeated


def test_connection_lost_message():
    lost = client.DaemonNotRunning("Refused at tcp://127.0.0.1:5", code="connection_lost")
    msg = policy.describe_error(lost)
    assert "stopped while it was working" in msg.text and "seam-refine serve" in msg.text
    assert "tcp://127.0.0.1:5" in msg.details and "tcp://" not in msg.text


def test_full_puts_the_details_after_the_text():
    msg = policy.describe_error(_not_running())
    assert msg.full() == f"{msg.text}\n\nDetails:\n{msg.details}"
    assert policy.Message("Just this.", "").full() == "Just this."


def test_busy_message():
    msg = policy.describe_error(client.DaemonBusy("busy", "queue full"))
    assert "busy" in msg.text and "try again" in msg.text and msg.details == "queue full"


def test_timeout_message_names_the_limit():
    msg = policy.describe_error(client.DaemonTimeout("no answer"), timeout_s=300)
    assert msg.text.startswith("The Seam Refine service did not answer within 5 min")
    assert "smaller selection" in msg.text
    assert "seam-refine daemon status" in msg.details and "no answer" in msg.details
    assert "within 2.5 s" in policy.describe_error(client.DaemonTimeout("no answer"), timeout_s=2.5).text


@pytest.mark.parametrize("value,text", [(600.0, "10 min"), (300, "5 min"), (90, "90 s"), (1.5, "1.5 s"),
                                        (45.0, "45 s")])
def test_seconds_for_people(value, text):
    assert policy.seconds(value) == text


@pytest.mark.parametrize("code,needle", [
    ("empty_mask", "selection is empty"),
    ("full_mask", "no edge"),
    ("too_large", "smaller region"),
    ("cancelled", "cancelled"),
    ("model", "Seam Refine failed"),
    ("untrusted_endpoint", "someone else"),
])
def test_daemon_error_messages(code, needle):
    msg = policy.describe_error(client.DaemonError(code, "it broke"))
    assert needle in msg.text
    assert "it broke" not in msg.text and (code == "cancelled" or "it broke" in msg.details)


def test_untrusted_endpoint_message_from_the_real_client_error():
    """The stdlib client's own refusal (a planted endpoint file) reads as a message, path in the details."""
    err = client.ClientError("untrusted_endpoint", "Not using /run/x/endpoint.json: mode 0644")
    msg = policy.describe_error(err)
    assert "Nothing was sent" in msg.text and "/" not in msg.text
    assert "endpoint.json" in msg.details


def test_unexpected_error_keeps_the_type_in_the_details():
    msg = policy.describe_error(OSError("disk on fire"))
    assert msg.text == "Seam Refine failed unexpectedly, so nothing was changed. Try again."
    assert msg.details == "OSError: disk on fire"


@pytest.mark.parametrize("header,changed", [({"changed": False}, False), ({"changed": True}, True),
                                            ({"seam_score_before": 3.0}, True), ({}, True)])
def test_changed_reads_the_result_header(header, changed):
    """Only a daemon that says ``changed: false`` makes the plug-ins skip the layer; an older daemon that
    does not report it still gets its layer."""
    assert policy.changed(header) is changed


def test_no_seam_message_says_nothing_changed_and_what_to_do():
    text, _, hint = policy.NO_SEAM.partition("\n")
    assert "no visible seam" in text and "nothing was changed" in text and "no layer was added" in text
    assert hint.startswith("If you can see a seam, select")


@pytest.mark.parametrize("strength,text", [(1.0, "NO_SEAM"), (0.3, "NO_SEAM"), (0, "ZERO_STRENGTH"),
                                           (0.0, "ZERO_STRENGTH")])
def test_unchanged_message_tells_a_zero_strength_from_no_seam(strength, text):
    assert policy.unchanged_message(strength) == getattr(policy, text)


def test_no_message_text_has_backticks():
    texts = [policy.NO_SELECTION, policy.CANCELLED, policy.DESCRIPTION, policy.REPEAT_ON_RESULT,
             policy.SOURCE_GONE, policy.NO_SEAM, policy.ZERO_STRENGTH,
             *(policy.tooltip(n) for n in policy.FIELDS)]
    for exc in (_not_running(), client.DaemonBusy("busy", "x"), client.DaemonTimeout("x"), OSError("x"),
                client.DaemonNotRunning("x", code="connection_lost"), client.DaemonError("model", "x")):
        texts += list(policy.describe_error(exc))
    assert texts and not [t for t in texts if "`" in t]


# ---------------------------------------------------------------- the settings dialogs
def test_labels_carry_one_mnemonic_for_each_host():
    for name in policy.FIELDS:
        assert policy.label(name).count("_") == 1
        assert policy.label(name, "&").count("&") == 1 and "_" not in policy.label(name, "&")
        assert "_" not in policy.label(name, "") and policy.tooltip(name).endswith((".", ")"))
    assert policy.label("band", "") == "Band width (px)"
    assert policy.MENU_LABEL.count("_") == 1


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
