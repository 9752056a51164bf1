"""Cancelling from elsewhere, without a host: the stdlib client's request ids and ``cancel_request``, and
the GIMP plug-in's watcher (cancel_watch.py), which cancels the request of a plug-in GIMP has killed.
Also the patch a real daemon sends through the stdlib client. The real-GIMP test of the status-bar
Cancel is test_gimp_cancel.py."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ..support.synthetic_images import seam_image
from .krita_host import Daemon
from .plugin_client_servers import RouterDaemon, load_client

REPO = Path(__file__).resolve().parents[2]
WATCH = REPO / "plugins" / "gimp" / "seam-refine" / "cancel_watch.py"
sc = load_client()


def _load_watch():
    spec = importlib.util.spec_from_file_location("seamrefine_gimp_cancel_watch", WATCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def holding_router():
    """A daemon that answers a refine with progress and then waits for a cancel, from any connection."""
    state = {}

    def handler(header, data):
        if header["op"] == "refine":
            state["rid"], state["identity"] = header["id"], router.last_identity
            return [({"type": "progress", "done": 1, "total": 4}, [])]
        if header["op"] == "cancel":
            target = header["params"]["target"]
            if target == state.get("rid"):
                router.send_later(state["identity"], 0, {"v": 1, "id": target, "type": "error",
                                                         "code": "cancelled", "message": "Cancelled."})
            return [({"type": "ok", "target": target}, [])]
        return None

    router = RouterDaemon(handler)
    return router, state


def test_request_ids_are_unique_and_usable():
    ids = {sc.new_request_id(n) for n in range(200)}
    assert len(ids) == 200 and all(i.startswith(f"{os.getpid()}-") and len(i) <= 64 for i in ids)


def test_cancel_request_from_another_connection():
    router, state = holding_router()
    outcome = {}

    def refine():
        with sc.Client(router.endpoint, token=router.token, timeout=20) as c:
            try:
                c.refine(bytes(12), 2, 2, 3, "uint8", "RGB", bytes(4), request_id="the-request")
            except sc.ClientError as exc:
                outcome["error"] = exc

    worker = threading.Thread(target=refine)
    try:
        worker.start()
        deadline = time.monotonic() + 10
        while "rid" not in state and time.monotonic() < deadline:
            time.sleep(0.02)
        assert state["rid"] == "the-request"
        with sc.Client(router.endpoint, token=router.token, timeout=5) as other:
            assert other.cancel_request("the-request")["type"] == "ok"
        worker.join(10)
        assert isinstance(outcome.get("error"), sc.Cancelled)
    finally:
        router.close()


def test_watch_cancels_only_when_the_pipe_ends_without_done():
    watch = _load_watch()
    calls = []
    import io

    line = json.dumps({"id": "r1", "endpoint": None, "token": None}).encode() + b"\n"
    assert watch.watch(io.BytesIO(line), calls.append) is True and calls == [{"id": "r1", "endpoint": None,
                                                                               "token": None}]
    assert watch.watch(io.BytesIO(line + watch.DONE), calls.append) is False and len(calls) == 1
    assert watch.watch(io.BytesIO(b""), calls.append) is False and len(calls) == 1


CHILD = """
import sys, time
sys.path.insert(0, {folder!r})
import cancel_watch
w = cancel_watch.start({rid!r}, {endpoint!r}, {token!r})
print("started", flush=True)
if {finish!r}:
    w.done()
    print("done", flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(os.name != "posix", reason="kills with SIGKILL, as GIMP does")
@pytest.mark.parametrize("finish", [False, True])
def test_a_killed_plugin_has_its_request_cancelled(finish, tmp_path):
    """A stand-in for the plug-in starts a watcher and is SIGKILLed (as GIMP's Cancel does): the watcher
    cancels the request. One that finished first ("done") leaves the daemon alone."""
    from seamrefine.app import install_plugin

    install_plugin.install("gimp", tmp_path)  # the plug-in folder as installed: the client beside it
    router, state = holding_router()
    try:
        code = CHILD.format(folder=str(tmp_path / "seam-refine"), rid="killed-request",
                            endpoint=router.endpoint, token=router.token, finish=finish)
        child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "started"
        if finish:
            assert child.stdout.readline().strip() == "done"
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        deadline = time.monotonic() + (2 if finish else 10)
        cancels = []
        while time.monotonic() < deadline and not cancels:
            cancels = [h for h in router.received if h["op"] == "cancel"]
            time.sleep(0.05)
        targets = [h["params"]["target"] for h in cancels]
        assert targets == ([] if finish else ["killed-request"])
    finally:
        router.close()


def test_watch_that_cannot_start_does_nothing():
    watch = _load_watch()
    w = watch.start("r", python="/nonexistent/python")
    assert w.proc is None
    w.done()


@pytest.mark.slow
def test_a_real_daemon_sends_a_patch_that_composites_to_its_image(tmp_path, fixture_model):
    daemon = Daemon(fixture_model, tmp_path / "run", tmp_path / "log")
    try:
        mask = np.zeros((128, 160), np.uint8)
        mask[40:88, 50:110] = 255
        image = seam_image(np.random.default_rng(5), mask, channels=4)
        image[..., 3] = 255
        out = {}
        with sc.Client(daemon.info["endpoint"], token=daemon.info["token"], timeout=60) as c:
            for output in ("image", "patch"):
                pixels, _ = c.refine(image.tobytes(), 160, 128, 4, "uint8", "BGRA", mask.tobytes(),
                                     output=output)
                out[output] = np.frombuffer(pixels, np.uint8).reshape(128, 160, 4)
    finally:
        daemon.stop()
    a = out["patch"][..., 3:].astype(np.float64) / 255
    over = a * out["patch"][..., :3] + (1 - a) * image[..., :3]
    assert (out["image"] != image).any()
    assert np.abs(over - out["image"][..., :3]).max() <= 0.5 + 1e-9
    assert (out["patch"][..., 3] == 0).mean() > 0.2 and (out["patch"][mask > 0, 3] == 255).all()
