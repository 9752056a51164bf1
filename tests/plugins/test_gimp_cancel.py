"""GIMP's status-bar Cancel, in the real GIMP 3 GUI (issue #15 item 4): clicking it ends the run with no
layer, and the daemon is told to stop the work.

GIMP ends a plug-in on Cancel by killing it (10 ms after asking it to quit), so the plug-in cannot say
anything itself; its watcher process (plugins/gimp/seam-refine/cancel_watch.py) sends the cancel. The
daemon here is scripted (a pyzmq ROUTER): it answers the refine with progress and waits, so the
progress stays up until the real pointer click on Cancel (gui_driver.py finds the button as the part of
the status bar that appeared with the progress).
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

from .gimp_scripts.host_harness import (
    GUI_SCRIPTS,
    HOSTS_CACHE,
    ensure_gimp,
    install_plugin_folder,
    make_photo,
    run_gui,
    write_png8,
)
from .plugin_client_servers import RouterDaemon, write_endpoint

pytestmark = [pytest.mark.hosts, pytest.mark.slow]


@pytest.fixture(scope="module")
def cancel_run(tmp_path_factory):
    ensure_gimp()
    root = tmp_path_factory.mktemp("gimp_cancel")
    out, runtime = root / "out", root / "runtime"
    out.mkdir()
    runtime.mkdir()
    write_png8(root / "photo8.png", make_photo(np.random.default_rng(7), 192, 256))
    plugin = install_plugin_folder(root / "plug-ins")
    seen = {"cancels": []}

    def handler(header, data):
        if header["op"] == "refine":
            seen["refine"] = header["id"]
            (out / "refine.seen").touch()
            return [({"type": "progress", "done": 1, "total": 4}, [])]
        if header["op"] == "cancel":
            seen["cancels"].append((header["params"]["target"], time.monotonic()))
            return [({"type": "ok", "target": header["params"]["target"]}, [])]
        return None

    router = RouterDaemon(handler)
    write_endpoint(runtime, {"endpoint": router.endpoint, "token": router.token})
    env = dict(os.environ, HOSTS_CACHE=str(HOSTS_CACHE), HOSTS_BIND=str(root),
               SEAM_REFINE_RUNTIME_DIR=str(runtime), SEAM_REFINE_PLUGIN_TIMEOUT="120")
    try:
        spec = {"out_dir": str(out), "png": str(root / "photo8.png")}
        rc, log = run_gui(root, plugin, GUI_SCRIPTS / "cancel_case.py", spec, env)
        time.sleep(2)  # the watcher's cancel may come just after GIMP is gone
    finally:
        router.close()
    assert rc == 0, f"GIMP GUI run failed (rc {rc}):\n{log[-6000:]}"
    return json.loads((out / "cancel.json").read_text()), seen, log


def test_the_click_hit_the_status_bar_cancel(cancel_run):
    result = cancel_run[0]
    assert "error" not in result["click"], result["click"]
    x, y = result["click"]["clicked"]
    wx, wy, ww, wh = result["window"]["geometry"]
    assert wx + ww / 2 < x < wx + ww and wy + wh - 40 < y < wy + wh


def test_cancel_ends_the_run_without_a_layer(cancel_run):
    result = cancel_run[0]
    assert result["status"] == "cancel", result
    assert result["layers"] == ["Background"]
    assert result["run_s"] < 60, "cancelled, not timed out"


def test_the_daemon_is_told_to_stop(cancel_run):
    result, seen, _ = cancel_run
    assert seen.get("refine"), "the plug-in never reached the daemon"
    assert [target for target, _ in seen["cancels"]] == [seen["refine"]]
