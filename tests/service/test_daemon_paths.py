"""Runtime files: candidate dirs, the per-user instance lock, endpoint discovery, sd_notify."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from seamrefine.service import paths


def test_runtime_dir_override_comes_first(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.ENV_RUNTIME_DIR, str(tmp_path))
    assert paths.runtime_dir() == tmp_path
    cands = paths.candidate_runtime_dirs()
    assert cands[0] == tmp_path and len(cands) == len(set(map(str, cands)))
    assert paths.endpoint_path() == tmp_path / "endpoint.json"
    if os.name == "posix":
        assert paths.ipc_endpoint() == f"ipc://{tmp_path / 'sock'}"
        assert paths.ipc_endpoint(tmp_path / ("x" * 120)) is None  # too long for sun_path


def test_instance_lock_is_exclusive(tmp_path):
    a, b = paths.InstanceLock(tmp_path / "l"), paths.InstanceLock(tmp_path / "l")
    assert a.acquire()
    assert not b.acquire()
    assert (tmp_path / "l").read_text() == str(os.getpid())
    a.release()
    assert b.acquire()
    b.release()


def test_lock_dies_with_its_process(tmp_path):
    code = (
        f"from seamrefine.service.paths import InstanceLock; import os; "
        f"InstanceLock(__import__('pathlib').Path({str(tmp_path / 'l')!r})).acquire(); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
    lock = paths.InstanceLock(tmp_path / "l")
    assert lock.acquire()
    lock.release()


def test_read_endpoint_ignores_dead_pids_and_garbage(tmp_path):
    ep = tmp_path / "endpoint.json"
    assert paths.read_endpoint(tmp_path) is None
    ep.write_text("{garbage")
    assert paths.read_endpoint(tmp_path) is None
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    ep.write_text(json.dumps({"endpoint": "tcp://127.0.0.1:1", "pid": dead.pid, "token": "t"}))
    assert paths.read_endpoint(tmp_path) is None
    ep.write_text(json.dumps({"endpoint": "tcp://127.0.0.1:1", "pid": os.getpid(), "token": "t"}))
    assert paths.read_endpoint(tmp_path)["token"] == "t"
    assert not paths.pid_alive(0)


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no AF_UNIX")
def test_sd_notify(tmp_path, monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert paths.sd_notify("READY=1") is False
    for addr, bind in (
        (str(tmp_path / "n.sock"), str(tmp_path / "n.sock")),
        (f"@seamrefine-test-{os.getpid()}", f"\0seamrefine-test-{os.getpid()}"),
    ):
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.bind(bind)
            monkeypatch.setenv("NOTIFY_SOCKET", addr)
            assert paths.sd_notify("READY=1\nSTATUS=x")
            assert s.recv(100) == b"READY=1\nSTATUS=x"
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    assert paths.sd_notify("READY=1") is False
