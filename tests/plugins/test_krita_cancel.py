"""Cancel, busy and timeout inside REAL Krita, against a scripted pyzmq ROUTER (no refining involved)."""

from __future__ import annotations

import json

import pytest
from seamrefine.app import install_plugin

from .krita_host import SCRIPTS, describe, krita_run, make_png, require_krita
from .plugin_client_servers import RouterDaemon, load_client, load_common, write_endpoint

pytestmark = [pytest.mark.hosts, pytest.mark.slow]
policy = load_common("seamrefine_policy")
client = load_client()


class Script:
    """1st refine: progress 1/4 then wait for cancel; 2nd: busy; 3rd: no answer; 4th: a model error."""

    def __init__(self):
        self.refines = []

    def __call__(self, header, data):
        if header["op"] == "cancel":
            target = header["params"]["target"]
            return [({"type": "ok"}, []),
                    ({"type": "error", "code": "cancelled", "message": "Cancelled.", "id": target}, [])]
        if header["op"] != "refine":
            return [({"type": "pong"}, [])]
        self.refines.append(header)
        if len(self.refines) == 1:
            return [({"type": "progress", "done": 1, "total": 4}, [])]
        if len(self.refines) == 2:
            return [({"type": "error", "code": "busy", "message": "queue full"}, [])]
        if len(self.refines) == 3:
            return None
        return [({"type": "error", "code": "model", "message": "the model file is corrupt"}, [])]


def test_cancel_busy_timeout_in_krita(tmp_path):
    require_krita()
    script = Script()
    server = RouterDaemon(script)
    try:
        write_endpoint(tmp_path / "run", {"endpoint": server.endpoint, "token": server.token})
        make_png(tmp_path / "in.png")
        install_plugin.install("krita", tmp_path / "pykrita")
        proc = krita_run(SCRIPTS / "e2e_cancel.py", plugin_dir=tmp_path / "pykrita", binds=[tmp_path],
                         SR_OUT=tmp_path, SR_PNG=tmp_path / "in.png",
                         SEAM_REFINE_RUNTIME_DIR=tmp_path / "run")
        assert proc.returncode == 0, "Krita run failed:\n" + describe(proc)
        ops = [(h["op"], h.get("params", {}).get("target")) for h in server.received]
    finally:
        server.close()
    summary = json.loads((tmp_path / "cancel.json").read_text())
    ids = [h["id"] for h in script.refines]
    assert len(ids) == 4
    # the Cancel button sends the cancel op for the running request; no message, no layer
    assert ("cancel", ids[0]) in ops
    dialog = summary["dialog"]
    assert dialog["value"] == 1 and dialog["maximum"] == 4 and dialog["modal"]
    assert summary["cancel"] == {"cancelled": True, "messages": [], "dialog_hidden": True}
    # the GUI thread never stalls while the request is in flight
    assert summary["max_gui_gap_s"] < 0.5
    assert "busy" in summary["busy"][0][1]
    assert "did not answer within 1.5 s" in summary["timeout"]["messages"][0][1]
    assert 1.4 < summary["timeout"]["after_s"] < 10
    assert ("cancel", ids[2]) in ops  # the timed-out work is cancelled on the daemon
    # settings from the dialog are stored in Krita's settings and sent with the next request
    assert summary["settings_dialog"] == "SettingsDialog"
    assert float(summary["settings"]["strength"]) == 0.5 and summary["settings"]["samples"] == "3"
    # the plug-in asks for the layer to lay over, and no seam scores (it shows none)
    assert script.refines[3]["params"] == {"strength": 0.5, "samples": 3, "band": 24, "output": "patch",
                                           "scores": False}
    assert script.refines[0]["params"] == {"strength": 1.0, "samples": 1, "band": None, "output": "patch",
                                           "scores": False}
    failed = policy.describe_error(client.DaemonError("model", "the model file is corrupt"))
    assert summary["daemon_error"] == [["warning", failed.text, "model: the model file is corrupt"]]
    assert summary["layers_added"] == 0
