"""The Krita plug-in as an artist meets it, in REAL Krita 5.2 (issue #15): the shortcut is bound, the
settings dialog explains itself, the daemon-down message is written for artists, and screenshots of
the dialog and the result (Qt's grabWindow) for docs/.

One Krita run (tests/plugins/krita_scripts/ux_checks.py) on the bundled coffee picture with a soft
selection, against a real daemon. The pictures go to a temporary folder; with
SEAMREFINE_UPDATE_SCREENSHOTS=1 they replace docs/krita_*.png (rerun so whenever the UI changes).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from seamrefine.app import install_plugin

from ..support import screenshots
from .krita_host import (
    REPO,
    SCRIPTS,
    Daemon,
    describe,
    krita_run,
    model_path,
    profile_actions,
    require_krita,
)
from .plugin_client_servers import load_client, load_common

pytestmark = [pytest.mark.hosts, pytest.mark.slow]
SAMPLES = REPO / "server" / "seamrefine" / "samples"
XKEYS = REPO / "tests" / "plugins" / "gimp_scripts" / "xkeys.py"
policy = load_common("seamrefine_policy")
client = load_client()
SHOTS = ["krita_settings.png", "krita_message.png", "krita_result.png", "krita_result_patch.png"]


def install_with_actions(data_dir):
    """Install as ``seam-refine install-plugin krita`` does into a Krita resource folder ``data_dir``:
    ``pykrita/`` and ``actions/seam_refine.action`` (the shortcut)."""
    install_plugin.install("krita", data_dir / "pykrita")
    return data_dir / "pykrita", data_dir / "actions" / install_plugin.KRITA_ACTIONS


@pytest.fixture(scope="module")
def ux(tmp_path_factory):
    require_krita()
    work = tmp_path_factory.mktemp("krita_ux")
    out = work / "out"
    out.mkdir()
    mask = np.asarray(Image.open(SAMPLES / "coffee_mask.png").convert("L"))
    (work / "mask.raw").write_bytes(mask.tobytes())
    pykrita, action_file = install_with_actions(work / "krita")
    model = model_path(work / "model")
    (work / "empty-run").mkdir()
    daemon = Daemon(model, work / "run", work / "log")
    try:
        with profile_actions(action_file):
            proc = krita_run(SCRIPTS / "ux_checks.py", plugin_dir=pykrita, binds=[work], timeout=300,
                             SR_OUT=out, SR_PNG=SAMPLES / "coffee_composite.png", SR_MASK=work / "mask.raw",
                             SR_MASK_SIZE=f"{mask.shape[1]},{mask.shape[0]}", SR_RUNTIME=work / "run",
                             SR_NO_DAEMON=work / "empty-run", SR_XKEYS=XKEYS,
                             SEAM_REFINE_RUNTIME_DIR=work / "run")
    finally:
        daemon.stop()
    assert proc.returncode == 0, "Krita run failed:\n" + describe(proc)
    return json.loads((out / "ux.json").read_text()), out, work


def test_every_check_ran(ux):
    assert not ux[0].get("failed"), "\n".join(ux[0]["failed"].values())


def test_the_shortcut_is_bound_and_works(ux):
    """Item 2 of issue #15: the action carries Ctrl+Alt+R, still after Configure Krita ▸ OK, and pressing
    it (real X key events) runs the plug-in, which with nothing selected says so."""
    shortcut = ux[0]["shortcut"]
    assert shortcut["at_start"] == "Ctrl+Alt+R", shortcut
    assert shortcut["default"] == ["Ctrl+Alt+R"], "Krita's registry (Keyboard Shortcuts' default) knows it"
    # Configure Krita ▸ OK reapplies shortcuts from Krita's registry: one set from Python would vanish
    assert shortcut["configure_dialog"]["page"] == "Keyboard Shortcuts", shortcut
    assert shortcut["action"] == "Ctrl+Alt+R", shortcut
    assert shortcut["messages"] and shortcut["messages"][0][1] == policy.NO_SELECTION, shortcut


def test_the_settings_dialog_is_roomy_and_explained(ux):
    """Item 3: wide enough for its placeholder, every setting explained, the timeout in plain seconds."""
    s = ux[0]["settings"]
    assert s["type"] == "SettingsDialog"
    assert s["size"][0] >= 400, s["size"]
    assert s["placeholder"] == policy.ENDPOINT_PLACEHOLDER
    assert s["placeholder_width"] + 16 < s["endpoint_width"], "the placeholder is cut off"
    for name in ("strength", "samples", "band", "endpoint", "timeout"):
        assert s["tooltips"][name] == policy.tooltip(name)
    assert s["texts"]["timeout"] == "600 s" and s["texts"]["band"] == policy.BAND_AUTOMATIC
    assert s["description"] == policy.DESCRIPTION and s["description_visible"]


def test_the_daemon_down_message_is_for_artists(ux):
    """Item 6: what happened and the one thing to do, in the shared words; the paths and the
    engineer's detail behind "Show Details…"; no backticks."""
    m = ux[0]["message"]
    assert m["title"] == "Seam Refine"
    assert m["text"] == policy.describe_error(client.DaemonNotRunning("x")).text
    assert "`" not in m["text"] + m["details"] and "/" not in m["text"]
    assert "endpoint.json" in m["details"] and "install-autostart" in m["details"]


def test_a_real_refine_adds_the_patch_layer(ux):
    r = ux[0]["refine"]
    assert r["messages"] == []
    assert r["layers"] == ["Background", "Seam Refine"]


@pytest.mark.parametrize("name", SHOTS)
def test_screenshots(ux, name, tmp_path):
    """Each picture was captured and looks like a window; docs/ holds one (README shows them)."""
    rgb = np.asarray(Image.open(ux[1] / name).convert("RGB"))
    screenshots.check_plausible(rgb)
    screenshots.save(rgb, name, tmp_path)
    assert screenshots.committed(name).is_file(), f"docs/{name}: rerun with SEAMREFINE_UPDATE_SCREENSHOTS=1"
