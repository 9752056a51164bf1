"""Daemon lifecycle through real sockets and real signals: busy with a tiny queue, cancel (queued and
running), SIGKILL mid-request then restart, SIGTERM clean-up, READY=1 to NOTIFY_SOCKET, and clear
start-up failures for a missing or corrupt model."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from seamrefine.errors import CancelledError, DaemonUnavailableError
from seamrefine.runtime.params import RefineParams
from seamrefine.service.client import Client
from seamrefine.service.protocol import Request, encode_refine, encode_request

from ..support.daemon_harness import DAEMON_ENV, RawPeer, launch, sample_pair, stop
from ..support.onnx_fixture import make_fixture_model

pytestmark = pytest.mark.skipif(os.name != "posix", reason="uses POSIX signals")


@pytest.fixture(scope="module")
def model(daemon_model):
    return daemon_model


def slow_pair(rng):
    """~2k×2k with a 1k×1k mask: thousands of 64-px fixture tiles, seconds per sample on one thread."""
    return sample_pair(rng, 2048, 2048)


def test_busy_when_queue_full_and_cancel(tmp_path, model):
    proc, info = launch(tmp_path / "rt", model, "--queue", "1")
    peer = RawPeer(info["endpoint"])
    try:
        big, bmask = slow_pair(np.random.default_rng(1))
        small, smask = sample_pair(np.random.default_rng(2), 32, 32)
        peer.send(encode_refine("slow", info["token"], big, bmask, params=RefineParams(samples=8)))
        first = peer.recv(10)
        assert first.type == "progress" and first.id == "slow"  # running, so the queue is empty
        peer.send(encode_refine("queued", info["token"], small, smask))
        peer.send(encode_refine("over", info["token"], small, smask))
        busy = peer.recv(5)
        while busy.type == "progress":
            busy = peer.recv(5)
        assert busy.type == "error" and busy.id == "over" and busy.fields["code"] == "busy"
        # cancel the queued one: it is removed and answered at once, before the slow one ends
        peer.send(encode_request(Request("cancel", "c1", info["token"], {"target": "queued"})))
        got = {}
        while len(got) < 2:
            r = peer.recv(5)
            if r.type != "progress":
                got[r.id] = r
        assert got["c1"].type == "ok" and got["c1"].fields["state"] == "queued"
        assert got["queued"].fields["code"] == "cancelled"
        # cancel the running one: it stops between tiles
        t0 = time.monotonic()
        peer.send(encode_request(Request("cancel", "c2", info["token"], {"target": "slow"})))
        got = {}
        while len(got) < 2:
            r = peer.recv(10)
            if r.type != "progress":
                got[r.id] = r
        assert got["c2"].fields["state"] == "running"
        assert got["slow"].type == "error" and got["slow"].fields["code"] == "cancelled"
        assert time.monotonic() - t0 < 3.0
        peer.send(encode_request(Request("ping", "p", info["token"])))
        assert peer.final()[0].type == "pong"
    finally:
        peer.close()
        assert stop(proc) == 0


def test_client_cancel_event(tmp_path, model):
    proc, _ = launch(tmp_path / "rt", model)
    try:
        big, mask = slow_pair(np.random.default_rng(3))
        cancel = threading.Event()
        with Client(runtime_dir=tmp_path / "rt", timeout=20) as c:
            with pytest.raises(CancelledError):
                params = RefineParams(samples=8)
                c.refine(big, mask, params, cancel=cancel, progress=lambda d, t: cancel.set())
            assert c.ping() < 1.0
    finally:
        stop(proc)


def test_sigkill_mid_request_then_restart_then_sigterm(tmp_path, model):
    rt = tmp_path / "rt"
    notify_path = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(notify_path))
    listener.settimeout(10)
    try:
        proc, info = launch(rt, model, env={"NOTIFY_SOCKET": str(notify_path)})
        ready = listener.recv(4096).decode()
        assert "READY=1" in ready and f"MAINPID={proc.pid}" in ready

        client = Client(runtime_dir=rt, timeout=15)
        big, mask = slow_pair(np.random.default_rng(4))
        started, outcome = threading.Event(), {}

        def run() -> None:
            t0 = time.monotonic()
            try:
                client.refine(big, mask, RefineParams(samples=8), progress=lambda d, t: started.set())
            except BaseException as exc:
                outcome["exc"] = exc
            outcome["t"] = time.monotonic() - t0

        th = threading.Thread(target=run)
        th.start()
        assert started.wait(15)
        t_kill = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        th.join(20)
        assert isinstance(outcome.get("exc"), DaemonUnavailableError), outcome
        print(f"SIGKILL → DaemonUnavailableError in {time.monotonic() - t_kill:.2f} s")
        assert time.monotonic() - t_kill < 5.0 < client.timeout

        # stale endpoint.json (dead pid) and ipc socket are left behind; a new daemon replaces them
        assert json.loads((rt / "endpoint.json").read_text())["pid"] == info["pid"]
        proc2, info2 = launch(rt, model, env={"NOTIFY_SOCKET": str(notify_path)})
        assert "READY=1" in listener.recv(4096).decode()
        assert info2["endpoint"] != info["endpoint"] or info2["token"] != info["token"]
        assert client.ping() < 1.0  # same client: re-read endpoint.json, reconnected
        out, _ = client.refine(*sample_pair(np.random.default_rng(5)))
        assert out.shape == (96, 128, 3)
        client.close()

        proc2.send_signal(signal.SIGTERM)
        assert proc2.wait(10) == 0
        assert "STOPPING=1" in listener.recv(4096).decode()
        assert not (rt / "endpoint.json").exists() and not (rt / "sock").exists()
        with pytest.raises(DaemonUnavailableError):
            Client(runtime_dir=rt, timeout=2).ping()
    finally:
        listener.close()


def test_sigint_during_request_exits_cleanly(tmp_path, model):
    proc, info = launch(tmp_path / "rt", model)
    peer = RawPeer(info["endpoint"])
    try:
        big, mask = slow_pair(np.random.default_rng(6))
        peer.send(encode_refine("s", info["token"], big, mask, params=RefineParams(samples=8)))
        assert peer.recv(10).type == "progress"
        proc.send_signal(signal.SIGINT)
        final, _ = peer.final(10)
        assert final.fields["code"] == "cancelled"
        assert proc.wait(10) == 0 and not (tmp_path / "rt" / "endpoint.json").exists()
    finally:
        peer.close()
        stop(proc)


def _serve(tmp_path, *args):
    env = {
        **os.environ,
        **DAEMON_ENV,
        "SEAM_REFINE_RUNTIME_DIR": str(tmp_path / "rt"),
        "SEAM_REFINE_LOG_DIR": str(tmp_path / "log"),
    }
    return subprocess.run(
        [sys.executable, "-m", "seamrefine.app.cli", "serve", "--cpu", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_missing_model_fails_clearly(tmp_path):
    r = _serve(tmp_path, "--model", str(tmp_path / "nope.onnx"))
    assert r.returncode == 1
    assert "cannot start" in r.stderr and "model file not found" in r.stderr and "nope.onnx" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "rt" / "endpoint.json").exists()


def test_corrupt_model_fails_clearly(tmp_path):
    path = make_fixture_model(tmp_path / "m", tile=64, tile_overlap=16)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    r = _serve(tmp_path, "--model", str(path))
    assert r.returncode == 1 and "corrupt" in r.stderr and "Traceback" not in r.stderr
    path.with_suffix(".json").write_text("{not json")
    r = _serve(tmp_path, "--model", str(path))
    assert r.returncode == 1 and "not valid JSON" in r.stderr


def test_hung_daemon_costs_one_timeout(tmp_path, model):
    proc, _ = launch(tmp_path / "rt", model)
    try:
        with Client(runtime_dir=tmp_path / "rt", timeout=1.0) as c:
            assert c.ping() < 1.0
            proc.send_signal(signal.SIGSTOP)
            t0 = time.monotonic()
            with pytest.raises(DaemonUnavailableError, match="no reply within 1 s"):
                c.ping()
            assert 1.0 <= time.monotonic() - t0 < 1.8
            proc.send_signal(signal.SIGCONT)
            assert c.ping() < 1.0
    finally:
        proc.send_signal(signal.SIGCONT)
        stop(proc)
