"""The stdlib plugin client against hostile or broken peers: trusted discovery only (planted endpoint files
are never used), no frame larger than the request can bring back is allocated, every decode failure is a
ClientError, and a daemon killed mid-request is reported as `connection_lost` (stale endpoint skipped)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import msgpack
import numpy as np
import pytest

from ..support.daemon_harness import launch, sample_pair, stop
from .plugin_client_servers import RawZmtpServer, RouterDaemon, load_client, write_endpoint

sc = load_client()
POSIX = os.name == "posix"
LINUX = os.path.exists("/proc/self/clear_refs")


@pytest.fixture
def fake():
    """A fake daemon that answers anything; the tests check that it never hears from the client."""
    d = RouterDaemon(token="planted")
    yield d
    d.close()


@pytest.fixture
def linux_env(tmp_path, monkeypatch):
    """No override, TMPDIR in tmp_path, no system runtime folder (/run/user/<uid>)."""
    for name in ("SEAM_REFINE_RUNTIME_DIR", "XDG_RUNTIME_DIR"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    no_run_user = tmp_path / "no-run-user"
    monkeypatch.setattr(sc, "_system_runtime_base", lambda platform, uid: no_run_user, raising=False)
    return tmp_path / "tmp" / f"runtime-{os.getuid()}" / "seam-refine"


def plant(folder: Path, endpoint: str, mode: int = 0o777, file_mode: int = 0o600) -> Path:
    """endpoint.json naming ``endpoint`` and this (live) pid, in ``folder`` with ``mode``."""
    path = write_endpoint(folder, {"endpoint": endpoint, "token": "planted", "pid": os.getpid()})
    folder.chmod(mode)
    path.chmod(file_mode)
    return path


# ---------------------------------------------------------------- discovery
@pytest.mark.skipif(not POSIX, reason="owner and mode")
def test_tmp_fallback_is_ignored_when_a_runtime_folder_exists(linux_env, fake, tmp_path, monkeypatch):
    """The client tried <TMPDIR>/runtime-<uid>/seam-refine even with XDG_RUNTIME_DIR set, and sent a
    refine request, pixels included, to whatever endpoint.json it found there."""
    plant(linux_env, fake.endpoint)
    (tmp_path / "xdg").mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "xdg"))
    with pytest.raises(sc.DaemonNotRunning) as e:
        sc.Client(timeout=2).refine(bytes(12), 2, 2, 3, "uint8", "RGB", bytes(4))
    assert e.value.code == "not_running" and str(tmp_path / "xdg" / "seam-refine") in e.value.message
    assert fake.received == []


@pytest.mark.skipif(not POSIX, reason="owner and mode")
@pytest.mark.parametrize("where", ["folder", "runtime-uid", "file", "owner"])
def test_planted_endpoint_is_refused(linux_env, fake, monkeypatch, where):
    path = plant(linux_env, fake.endpoint, 0o777 if where == "folder" else 0o700,
                 0o644 if where == "file" else 0o600)
    linux_env.parent.chmod(0o777 if where == "runtime-uid" else 0o700)
    if where == "owner":  # the files are this user's: seen by another user, they are someone else's
        monkeypatch.setenv("SEAM_REFINE_RUNTIME_DIR", str(linux_env))
        monkeypatch.setattr(sc, "_uid", lambda: os.getuid() + 1, raising=False)
    with pytest.raises(sc.ClientError) as e:
        sc.Client(timeout=2).refine(bytes(12), 2, 2, 3, "uint8", "RGB", bytes(4))
    assert e.value.code == "untrusted_endpoint" and "seam-refine serve" in e.value.message
    bad = {"folder": linux_env, "runtime-uid": linux_env.parent, "file": path, "owner": linux_env}[where]
    assert e.value.value == str(bad)
    needle = {"folder": "has mode 0777; it must be 0700", "runtime-uid": "has mode 0777; it must be 0700",
              "file": "has mode 0644; it must be 0600", "owner": "not to you"}[where]
    assert needle in e.value.message
    assert fake.received == []


@pytest.mark.skipif(not POSIX, reason="a pid is not probed on Windows")
def test_stale_endpoint_of_a_dead_pid_is_skipped(tmp_path, monkeypatch, fake):
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_endpoint(tmp_path, {"endpoint": fake.endpoint, "token": "planted", "pid": dead.pid})
    monkeypatch.setenv("SEAM_REFINE_RUNTIME_DIR", str(tmp_path))
    with pytest.raises(sc.DaemonNotRunning, match=f"left over from process {dead.pid}, which has ended"):
        sc.Client(timeout=2).ping()
    assert fake.received == []


# ---------------------------------------------------------------- bounded frames
def announcing(size: int):
    """A server that answers any request with a frame announcing ``size`` bytes, then waits."""

    def behave(server, conn, n):
        server.read_message(conn)
        conn.sendall(b"\x01\x00" + b"\x02" + size.to_bytes(8, "big") + b"abc")
        time.sleep(3)

    return behave


@pytest.mark.parametrize("size", [2**31, 2**32, 2**36])
@pytest.mark.parametrize("op", ["hello", "refine"])
def test_announced_frame_sizes_are_bounded_by_the_expected_reply(size, op):
    """Announcing 2 GiB raised the client's RSS to 2 GiB inside the host; 4 GiB gave a bare MemoryError."""
    measured = LINUX
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        measured = False
    before = _peak_kib()
    server = RawZmtpServer(announcing(size), sc)
    try:
        c = sc.Client(server.endpoint, token="t", timeout=5)
        t0 = time.monotonic()
        with pytest.raises(sc.ClientError) as e:
            c.hello() if op == "hello" else c.refine(bytes(64 * 48 * 4), 64, 48, 4, "uint8", "RGBA",
                                                     bytes(64 * 48))
        assert time.monotonic() - t0 < 2
    finally:
        server.close()
    assert e.value.code == "protocol" and e.value.value == size and "at most" in e.value.message
    if measured:
        assert _peak_kib() - before < 32 * 1024


def _peak_kib() -> int:
    if not LINUX:
        return 0
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1])


def test_a_reply_frame_may_be_as_large_as_the_image_and_no_larger():
    w, h = 200, 100  # 80,000 bytes of RGBA: more than a header may be

    def behave(server, conn, n):
        frames = server.read_message(conn)
        header = msgpack.unpackb(frames[1])
        head = msgpack.packb({"v": 1, "id": header["id"], "type": "result"})
        body = bytes(w * h * 4 + n - 1)  # connection 1: the image's size; 2: one byte more
        conn.sendall(b"\x01\x00" + b"\x01" + bytes([len(head)]) + head + b"\x02"
                     + len(body).to_bytes(8, "big") + body)
        time.sleep(0.5)

    server = RawZmtpServer(behave, sc)
    args = (bytes(w * h * 4), w, h, 4, "uint8", "RGBA", bytes(w * h))
    try:
        assert sc.Client(server.endpoint, token="t", timeout=5).refine(*args)[0] == bytes(w * h * 4)
        with pytest.raises(sc.ClientError, match="frame of 80001 bytes where at most 80000 can come"):
            sc.Client(server.endpoint, token="t", timeout=5).refine(*args)
    finally:
        server.close()


def test_a_message_of_endless_frames_is_refused():
    def behave(server, conn, n):
        server.read_message(conn)
        conn.sendall(b"\x01\x00" * 100 + b"\x00\x00")
        time.sleep(0.5)

    server = RawZmtpServer(behave, sc)
    try:
        with pytest.raises(sc.ClientError, match="more than 2 frames") as e:
            sc.Client(server.endpoint, token="t", timeout=5).hello()
        assert e.value.code == "protocol"
    finally:
        server.close()


# ---------------------------------------------------------------- decoder
@pytest.mark.parametrize("raw,fragment", [
    (b"\x81\x81\xa1k\x01\x01", "cannot be a map key"),  # a map as a key (was TypeError)
    (b"\x81\x92\x01\x91\x02\x01", "cannot be a map key"),  # an array holding an array as a key
    (b"\x91" * 1000 + b"\xc0", "nested more than 32 deep"),  # was RecursionError
    (b"\x91" * 33 + b"\xc0", "nested more than 32 deep"),
])
def test_every_decode_failure_is_a_value_error(raw, fragment):
    with pytest.raises(ValueError, match=fragment):
        sc.unpackb(raw)


def test_decoder_depth_limit_and_flat_array_keys():
    assert sc.unpackb(b"\x91" * 32 + b"\xc0") == json.loads("[" * 32 + "null" + "]" * 32)
    assert sc.unpackb(b"\x81\x92\x01\x02\xa1v") == {(1, 2): "v"}


@pytest.mark.parametrize("header", [b"\x81\x81\xa1k\x01\x01", b"\x81\xa2id" + b"\x91" * 1000 + b"\xc0"])
def test_undecodable_reply_headers_surface_as_client_error(header):
    def behave(server, conn, n):
        server.read_message(conn)
        conn.sendall(b"\x01\x00" + b"\x02" + len(header).to_bytes(8, "big") + header)
        time.sleep(0.5)

    server = RawZmtpServer(behave, sc)
    try:
        with pytest.raises(sc.ClientError) as e:
            sc.Client(server.endpoint, token="t", timeout=5).hello()
        assert e.value.code == "protocol" and "Unreadable reply header" in e.value.message
    finally:
        server.close()


@pytest.mark.parametrize("done", ["x", [1], None, float("inf")])
def test_junk_progress_counts_are_a_client_error(done):
    def handler(header, data):
        return [({"type": "progress", "done": done, "total": 4}, [])]

    d = RouterDaemon(handler)
    try:
        with pytest.raises(sc.ClientError, match="bad 'done'") as e:
            sc.Client(d.endpoint, token=d.token, timeout=5).refine(
                bytes(12), 2, 2, 3, "uint8", "RGB", bytes(4), progress=lambda *a: None)
        assert e.value.code == "protocol"
    finally:
        d.close()


# ---------------------------------------------------------------- a killed daemon
@pytest.mark.skipif(not POSIX, reason="SIGKILL")
def test_daemon_killed_mid_request_is_connection_lost_and_recovered(tmp_path, daemon_model, monkeypatch):
    """The client re-sent the request to the stale endpoint and then said `not_running`."""
    rt = tmp_path / "rt"
    proc, _ = launch(rt, daemon_model)
    monkeypatch.setenv("SEAM_REFINE_RUNTIME_DIR", str(rt))
    img, mask = sample_pair(np.random.default_rng(4), 2048, 2048, channels=4)
    client = sc.Client(timeout=30)
    started, outcome = threading.Event(), {}

    def run():
        try:
            client.refine(img.tobytes(), 2048, 2048, 4, "uint8", "RGBA", mask.tobytes(), samples=8,
                          progress=lambda d, t: started.set())
        except BaseException as exc:  # checked below
            outcome["exc"] = exc
        outcome["t"] = time.monotonic()

    th = threading.Thread(target=run)
    th.start()
    try:
        assert started.wait(30)
        t_kill = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        th.join(30)
        exc = outcome.get("exc")
        assert isinstance(exc, sc.DaemonNotRunning) and exc.code == "connection_lost", exc
        assert "in the middle of a request" in exc.message and "seam-refine serve" in exc.message
        reported = outcome["t"] - t_kill
        assert reported < 3
        with pytest.raises(sc.DaemonNotRunning, match="which has ended"):  # the stale file is skipped
            client.ping()
        proc, _ = launch(rt, daemon_model)
        assert client.ping()["type"] == "pong"  # the same client finds the restarted daemon
        recovered = time.monotonic() - t_kill
        print(f"SIGKILL → connection_lost in {reported:.2f} s; a restarted daemon answered "
              f"{recovered:.2f} s after the kill")
    finally:
        th.join(30)
        client.close()
        stop(proc)


@pytest.mark.parametrize("env", ["override", "xdg", "run-user", "tmp"])
def test_client_and_daemon_choose_the_same_folder(tmp_path, monkeypatch, env):
    from seamrefine.service import paths

    base = tmp_path / "run-user" / str(os.getuid() if POSIX else 0)
    if env == "run-user":
        base.mkdir(parents=True)
    monkeypatch.setattr(paths, "system_runtime_base", lambda platform=None: base)
    monkeypatch.setattr(sc, "_system_runtime_base", lambda platform, uid: base)
    for name in ("SEAM_REFINE_RUNTIME_DIR", "XDG_RUNTIME_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    if env == "override":
        monkeypatch.setenv("SEAM_REFINE_RUNTIME_DIR", str(tmp_path / "rt"))
    if env == "xdg":
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "xdg"))
    assert sc.candidate_dirs() == [paths.runtime_dir()]
