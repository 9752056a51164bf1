"""Runtime files: the runtime dir rule, the per-user instance lock, trusted endpoint discovery (owner and
mode of the folder and the file, planted files refused), private log files, sd_notify."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from seamrefine.errors import UntrustedEndpointError
from seamrefine.service import paths


def test_runtime_dir_override(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.ENV_RUNTIME_DIR, str(tmp_path))
    assert paths.runtime_dir() == tmp_path
    assert paths.endpoint_path() == tmp_path / "endpoint.json"
    if os.name == "posix":
        assert paths.ipc_endpoint() == f"ipc://{tmp_path / 'sock'}"
        assert paths.ipc_endpoint(tmp_path / ("x" * 120)) is None  # too long for sun_path


@pytest.fixture()
def linux_env(tmp_path, monkeypatch):
    """No override, TMPDIR in tmp_path, and a system runtime folder (/run/user/<uid>) that does not exist."""
    monkeypatch.delenv(paths.ENV_RUNTIME_DIR, raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setattr(paths, "system_runtime_base", lambda platform=None: tmp_path / "no-run-user")
    (tmp_path / "tmp").mkdir()
    return tmp_path


def planted(folder, mode=0o777, endpoint="tcp://127.0.0.1:9", pid=None):
    """A fake endpoint.json in ``folder`` (made with ``mode``), naming a live pid."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(mode)
    info = {"endpoint": endpoint, "token": "planted", "pid": pid or os.getpid()}
    (folder / "endpoint.json").write_text(json.dumps(info))
    return folder / "endpoint.json"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux rule")
def test_tmp_fallback_only_without_a_runtime_folder(linux_env, monkeypatch):
    """The clients tried <TMPDIR>/runtime-<uid>/seam-refine even with XDG_RUNTIME_DIR set."""
    uid = os.getuid()
    fallback = linux_env / "tmp" / f"runtime-{uid}" / "seam-refine"
    assert paths.runtime_dir() == fallback
    planted(fallback)
    xdg = linux_env / "xdg"
    xdg.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(xdg))
    assert paths.runtime_dir() == xdg / "seam-refine"
    assert paths.read_endpoint() is None  # the planted fallback is never looked at
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    run_user = linux_env / "run-user"
    run_user.mkdir()
    monkeypatch.setattr(paths, "system_runtime_base", lambda platform=None: run_user)
    assert paths.runtime_dir() == run_user / "seam-refine" and paths.read_endpoint() is None


@pytest.mark.skipif(os.name != "posix", reason="owner and mode")
def test_planted_endpoint_in_an_open_folder_is_refused(linux_env):
    fallback = linux_env / "tmp" / f"runtime-{os.getuid()}" / "seam-refine"
    planted(fallback, 0o777)
    fallback.parent.chmod(0o700)
    with pytest.raises(UntrustedEndpointError, match="has mode 0777; it must be 0700") as e:
        paths.read_endpoint()
    assert e.value.value == str(fallback) and e.value.code == "untrusted_endpoint"
    fallback.chmod(0o700)
    fallback.parent.chmod(0o777)  # the /tmp fallback's runtime-<uid> is checked too
    with pytest.raises(UntrustedEndpointError, match=f"runtime-{os.getuid()} has mode 0777"):
        paths.read_endpoint()


@pytest.mark.skipif(os.name != "posix", reason="owner and mode")
def test_endpoint_file_must_be_private_and_ours(tmp_path, monkeypatch):
    ep = planted(tmp_path / "rt", 0o700)
    ep.chmod(0o644)
    with pytest.raises(UntrustedEndpointError, match="has mode 0644; it must be 0600"):
        paths.read_endpoint(tmp_path / "rt")
    ep.chmod(0o600)
    assert paths.read_endpoint(tmp_path / "rt")["token"] == "planted"
    monkeypatch.setattr(paths, "_uid", lambda: os.getuid() + 1)  # as seen by another user
    with pytest.raises(UntrustedEndpointError, match=f"belongs to uid {os.getuid()}, not to you"):
        paths.read_endpoint(tmp_path / "rt")
    link = tmp_path / "rt2"
    link.mkdir(mode=0o700)
    monkeypatch.undo()
    (link / "endpoint.json").symlink_to(ep)
    with pytest.raises(UntrustedEndpointError, match="is not a regular file"):
        paths.read_endpoint(link)


@pytest.mark.skipif(os.name != "posix", reason="owner and mode")
def test_pyzmq_client_never_talks_to_a_planted_endpoint(tmp_path):
    import zmq
    from seamrefine.service.client import Client

    ctx = zmq.Context()
    fake = ctx.socket(zmq.ROUTER)
    fake.setsockopt(zmq.LINGER, 0)
    fake.bind("tcp://127.0.0.1:*")
    try:
        ep = planted(tmp_path / "rt", 0o777, fake.getsockopt_string(zmq.LAST_ENDPOINT))
        ep.chmod(0o600)
        with Client(runtime_dir=tmp_path / "rt", timeout=2) as c, pytest.raises(UntrustedEndpointError):
            c.ping()
        assert fake.poll(300) == 0  # not even a connection attempt carried a request
    finally:
        fake.close(0)
        ctx.term()


@pytest.mark.skipif(os.name != "posix", reason="owner and mode")
def test_runtime_dir_is_created_private_and_checked(linux_env):
    base = linux_env / "tmp" / f"runtime-{os.getuid()}"
    root = paths.runtime_dir(create=True)
    assert root == base / "seam-refine"
    assert (base.stat().st_mode & 0o777, root.stat().st_mode & 0o777) == (0o700, 0o700)
    root.chmod(0o755)  # ours, and nobody else could write into it: tightened
    paths.runtime_dir(create=True)
    assert root.stat().st_mode & 0o777 == 0o700
    root.chmod(0o777)  # anybody could have planted files in it: refused
    with pytest.raises(UntrustedEndpointError, match="has mode 0777"):
        paths.runtime_dir(create=True)
    root.chmod(0o700)
    base.chmod(0o777)
    with pytest.raises(UntrustedEndpointError, match=f"runtime-{os.getuid()} has mode 0777"):
        paths.runtime_dir(create=True)


@pytest.mark.skipif(os.name != "posix", reason="owner and mode")
def test_daemon_refuses_an_open_runtime_folder(tmp_path):
    rt = tmp_path / "rt"
    rt.mkdir()
    rt.chmod(0o777)
    env = {**os.environ, paths.ENV_RUNTIME_DIR: str(rt), paths.ENV_LOG_DIR: str(tmp_path / "log")}
    r = subprocess.run([sys.executable, "-m", "seamrefine.app.cli", "serve", "--model", "none.onnx"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"cannot start: not using {rt}: the folder {rt} has mode 0777; it must be 0700" in r.stderr
    assert not (rt / "endpoint.json").exists() and not (rt / "daemon.lock").exists()


@pytest.mark.skipif(os.name != "posix", reason="owner and mode")
def test_log_folder_and_files_are_private(tmp_path, monkeypatch):
    """The daemon log was readable by other users."""
    import logging

    from seamrefine.app.serve import PrivateLogFile

    logs = tmp_path / "log"
    logs.mkdir(mode=0o755)
    monkeypatch.setenv(paths.ENV_LOG_DIR, str(logs))
    assert paths.log_dir(create=True) == logs and logs.stat().st_mode & 0o777 == 0o700
    (logs / "daemon.log").write_text("old\n")
    (logs / "daemon.log").chmod(0o644)
    handler = PrivateLogFile(logs / "daemon.log", maxBytes=200, backupCount=2, encoding="utf-8")
    record = logging.LogRecord("seamrefine", logging.INFO, __file__, 1, "x" * 80, None, None)
    for _ in range(8):  # rotates a few times
        handler.emit(record)
    handler.close()
    files = sorted(p.name for p in logs.iterdir())
    assert files == ["daemon.log", "daemon.log.1", "daemon.log.2"]
    assert {(logs / f).stat().st_mode & 0o777 for f in files} == {0o600}


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
    assert paths.read_endpoint(tmp_path / "missing") is None
    assert paths.read_endpoint(tmp_path) is None
    ep.write_text("{garbage")
    assert paths.read_endpoint(tmp_path) is None
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for pid in (dead.pid, None, "1", [1], 0):  # dead, missing or junk: a stale file, never used
        ep.write_text(json.dumps({"endpoint": "tcp://127.0.0.1:1", "pid": pid, "token": "t"}))
        assert paths.read_endpoint(tmp_path) is None
    ep.write_text(json.dumps({"endpoint": "tcp://127.0.0.1:1", "pid": os.getpid(), "token": "t"}))
    ep.chmod(0o600)
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
