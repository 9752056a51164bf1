"""The stdlib plugin client against real libzmq (pyzmq ROUTER) and real msgpack."""

from __future__ import annotations

import math
import os
import socket
import threading
import time

import msgpack
import platformdirs
import pytest
import zmq
from seamrefine.runtime.params import RefineParams

from ..support.synthetic_images import seam_image
from .krita_host import Daemon
from .plugin_client_servers import ChoppingProxy, RawZmtpServer, RouterDaemon, load_client, write_endpoint

sc = load_client()

EDGE_INTS = [0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1, -1, -31, -32, -33,
             -127, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, -(2**63)]
VALUES = EDGE_INTS + [
    None, True, False, 0.0, -0.0, 1.5, -2.25e300, 1e-310, math.inf, -math.inf,
    "", "a", "a" * 31, "a" * 32, "a" * 255, "a" * 256, "é✓", "x" * 65536,
    b"", b"\x00", b"x" * 255, b"x" * 256, b"x" * 65536,
    [], list(range(15)), list(range(16)), list(range(65536)), [1, [2, [3, "four", b"5"]]],
    {}, {str(i): i for i in range(15)}, {str(i): i for i in range(16)}, {str(i): i for i in range(70000)},
    {"v": 1, "op": "refine", "params": {"strength": 0.5, "band": None, "nested": {"deep": [1.0, True]}},
     "frames": [{"name": "image", "shape": [2, 3, 4], "dtype": "uint8", "order": "BGRA"}]},
]


@pytest.fixture
def daemon():
    d = RouterDaemon()
    yield d
    d.close()


def make_client(d, **kw):
    return sc.Client(d.endpoint, token=d.token, **kw)


# ---------------------------------------------------------------- msgpack
@pytest.mark.parametrize("value", VALUES, ids=lambda v: repr(v)[:30])
def test_msgpack_encoding_is_byte_identical(value):
    assert sc.packb(value) == msgpack.packb(value)


@pytest.mark.parametrize("value", VALUES, ids=lambda v: repr(v)[:30])
def test_msgpack_decodes_what_msgpack_encodes(value):
    assert sc.unpackb(msgpack.packb(value)) == msgpack.unpackb(msgpack.packb(value), strict_map_key=False)


def test_msgpack_float32_tuple_and_bytearray():
    assert sc.unpackb(msgpack.packb(1.5, use_single_float=True)) == 1.5
    assert sc.packb((1, 2)) == msgpack.packb([1, 2])
    assert sc.packb(bytearray(b"ab")) == msgpack.packb(b"ab")
    assert sc.packb(memoryview(b"abc")) == msgpack.packb(b"abc")
    assert math.isnan(sc.unpackb(msgpack.packb(math.nan)))


def test_msgpack_errors_are_clear():
    with pytest.raises(ValueError, match="too large"):
        sc.packb(2**64)
    with pytest.raises(ValueError, match="too small"):
        sc.packb(-(2**63) - 1)
    with pytest.raises(TypeError, match="cannot encode set"):
        sc.packb({1, 2})
    with pytest.raises(ValueError, match="truncated"):
        sc.unpackb(msgpack.packb("hello")[:-1])
    with pytest.raises(ValueError, match="trailing"):
        sc.unpackb(msgpack.packb(1) + b"\x00")
    with pytest.raises(ValueError, match="unsupported type byte 0xc1"):
        sc.unpackb(b"\xc1")


# ---------------------------------------------------------------- discovery
def test_candidate_dirs_per_platform(tmp_path, monkeypatch):
    """One folder, the daemon's: the /tmp fallback only when there is no runtime folder at all."""
    home = tmp_path / "home"
    assert sc.candidate_dirs({"SEAM_REFINE_RUNTIME_DIR": "/x/y"}, "linux", 5, home) == [sc.Path("/x/y")]
    linux = sc.candidate_dirs({"XDG_RUNTIME_DIR": "/run/user/7", "TMPDIR": "/tmpx"}, "linux", 7, home)
    assert [str(p) for p in linux] == ["/run/user/7/seam-refine"]
    monkeypatch.setattr(sc, "_system_runtime_base", lambda platform, uid: tmp_path / "run" / str(uid))
    assert [str(p) for p in sc.candidate_dirs({"TMPDIR": "/tmpx"}, "linux", 7, home)] == [
        "/tmpx/runtime-7/seam-refine"]
    (tmp_path / "run" / "7").mkdir(parents=True)
    run_user = tmp_path / "run" / "7" / "seam-refine"
    assert sc.candidate_dirs({"TMPDIR": "/tmpx"}, "linux", 7, home) == [run_user]
    mac = sc.candidate_dirs({}, "darwin", 501, home)
    assert mac == [home / "Library" / "Caches" / "TemporaryItems" / "seam-refine"]
    win = sc.candidate_dirs({"LOCALAPPDATA": r"C:\Users\a\AppData\Local"}, "win32", 0, home)
    assert str(win[0]).endswith("seam-refine") and "Temp" in str(win[0])


def test_first_linux_candidate_matches_platformdirs(tmp_path, monkeypatch):
    xdg = tmp_path / "xdg"
    xdg.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(xdg))
    monkeypatch.delenv("SEAM_REFINE_RUNTIME_DIR", raising=False)
    expected = platformdirs.user_runtime_dir("seam-refine", appauthor=False)
    assert str(sc.candidate_dirs(platform="linux")[0]) == expected


def test_discover_reads_endpoint_json_and_reports_missing_daemon(tmp_path, monkeypatch):
    monkeypatch.setenv("SEAM_REFINE_RUNTIME_DIR", str(tmp_path))
    with pytest.raises(sc.DaemonNotRunning, match="seam-refine serve") as info:
        sc.Client().ping()
    assert info.value.code == "not_running" and str(tmp_path) in info.value.message
    write_endpoint(tmp_path, {"endpoint": "tcp://127.0.0.1:9", "token": "t"})
    assert sc.discover()["token"] == "t"


def test_connection_refused_says_how_to_start(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(sc.DaemonNotRunning, match="install-autostart"):
        sc.Client(f"tcp://127.0.0.1:{port}", token="x", timeout=5).hello()


def test_ipc_only_endpoint_works_through_unix_socket(tmp_path, monkeypatch):
    d = RouterDaemon(endpoint=f"ipc://{tmp_path}/sock")
    try:
        monkeypatch.setenv("SEAM_REFINE_RUNTIME_DIR", str(tmp_path))
        write_endpoint(tmp_path, {"ipc": d.endpoint, "token": d.token})
        assert sc.Client(timeout=5).hello()["type"] == "info"
    finally:
        d.close()


def test_ipc_only_without_unix_sockets_says_so(monkeypatch):
    monkeypatch.delattr(sc.socket, "AF_UNIX")
    with pytest.raises(sc.ClientError, match="listens on ipc:///x/sock only") as info:
        sc.Client("ipc:///x/sock", token="t").ping()
    assert info.value.code == "ipc_only" and "tcp://" in info.value.message


def test_bad_endpoint_message():
    with pytest.raises(sc.ClientError, match="Unsupported endpoint"):
        sc.Client("udp://1.2.3.4:5", token="x").ping()


# ---------------------------------------------------------------- round trips
def test_hello_ping_refine_round_trip(daemon):
    seen = []
    with make_client(daemon, timeout=10) as c:
        assert c.hello()["version"] == "test"
        assert c.ping()["type"] == "pong"
        img = bytes(range(256)) * 48  # 64×48×4 uint8
        mask = bytes(64 * 48)
        pixels, header = c.refine(img, 64, 48, 4, "uint8", "BGRA", mask, strength=0.5, samples=2, band=12,
                                  progress=lambda done, total: seen.append((done, total)))
    assert pixels == img and header["type"] == "result" and seen == [(1, 1)]
    req = daemon.received[-1]
    assert req["v"] == 1 and req["op"] == "refine" and req["token"] == "secret"
    assert req["params"] == {"strength": 0.5, "samples": 2, "band": 12}
    assert req["frames"] == [{"name": "image", "shape": [48, 64, 4], "dtype": "uint8", "order": "BGRA"},
                             {"name": "mask", "shape": [48, 64], "dtype": "uint8", "order": "Y"}]
    assert len({h["id"] for h in daemon.received}) == 3


@pytest.mark.slow
def test_large_frames_round_trip_fast(daemon):
    w, h = 4096, 4096  # 64 MiB RGBA8 image + 16 MiB mask
    img = os.urandom(w * h * 4)
    mask = bytes(w * h)
    with make_client(daemon, timeout=60) as c:
        t0 = time.perf_counter()
        pixels, _ = c.refine(img, w, h, 4, "uint8", "RGBA", mask)
        elapsed = time.perf_counter() - t0
    assert pixels == img
    assert elapsed < 10, f"64 MB round trip took {elapsed:.1f}s"


def test_fragmented_reads_through_chopping_proxy(daemon):
    proxy = ChoppingProxy(int(daemon.endpoint.rsplit(":", 1)[1]))
    try:
        with sc.Client(proxy.endpoint, token=daemon.token, timeout=30) as c:
            assert c.hello()["type"] == "info"
            img = bytes(range(256)) * 3 + bytes(300 * 4 * 3 - 768)  # 300×3 RGBA8: a long frame
            pixels, _ = c.refine(img, 300, 3, 4, "uint8", "RGBA", bytes(900))
        assert pixels == img
        assert proxy.pieces > 500
    finally:
        proxy.close()


def test_float_and_uint16_frames(daemon):
    with make_client(daemon, timeout=10) as c:
        img16 = bytes(range(256)) * 3  # 8×8×3 uint16 = 384 bytes... use 16×8
        img16 = (img16 * 2)[: 16 * 8 * 3 * 2]
        pixels, _ = c.refine(img16, 16, 8, 3, "uint16", "RGB", bytes(16 * 8 * 4), mask_dtype="float32")
        assert pixels == img16
    assert daemon.received[-1]["frames"][1]["dtype"] == "float32"


def test_wrong_token_is_unauthorized(daemon):
    with sc.Client(daemon.endpoint, token="wrong", timeout=5) as c:
        with pytest.raises(sc.DaemonError) as info:
            c.hello()
    assert info.value.code == "unauthorized" and info.value.message == "wrong token"


def test_busy_and_daemon_errors_are_typed():
    def handler(header, data):
        code = "busy" if header["op"] == "refine" else "internal"
        return [({"type": "error", "code": code, "message": "msg " + code, "value": 3}, [])]

    d = RouterDaemon(handler)
    try:
        with make_client(d, timeout=5) as c:
            with pytest.raises(sc.DaemonBusy) as info:
                c.refine(bytes(12), 2, 2, 3, "uint8", "RGB", bytes(4))
            assert info.value.code == "busy" and info.value.value == 3
            with pytest.raises(sc.DaemonError, match="msg internal"):
                c.hello()
    finally:
        d.close()


def test_bad_input_sizes_fail_before_sending(daemon):
    with make_client(daemon) as c:
        with pytest.raises(sc.ClientError, match="image has 11 bytes, expected 12") as info:
            c.refine(bytes(11), 2, 2, 3, "uint8", "RGB", bytes(4))
        assert info.value.code == "bad_input"
        with pytest.raises(sc.ClientError, match="Unsupported mask dtype"):
            c.refine(bytes(12), 2, 2, 3, "uint8", "RGB", bytes(4), mask_dtype="int8")
    assert daemon.received == []


@pytest.mark.parametrize("kwargs", [{}, {"strength": 0.25, "samples": 3}, {"band": 24},
                                    {"colorspace": "linear"}, {"output": "patch"}, {"scores": False},
                                    {"strength": 1, "samples": 8, "band": 0, "colorspace": "srgb"}])
def test_params_map_is_the_one_refine_params_writes(daemon, kwargs):
    """The stdlib client cannot import seamrefine: its params map is RefineParams.to_wire's, byte for byte
    (and sRGB leaves the colorspace key out)."""
    with make_client(daemon, timeout=10) as c:
        c.refine(bytes(16 * 3 * 4), 4, 4, 3, "float32", "RGB", bytes(16), **kwargs)
    sent = daemon.received[-1]["params"]
    assert msgpack.packb(sent) == msgpack.packb(RefineParams(**kwargs).to_wire())


def test_timeout_when_daemon_never_answers():
    d = RouterDaemon(lambda h, data: None)
    try:
        with make_client(d, timeout=0.6) as c:
            t0 = time.monotonic()
            with pytest.raises(sc.DaemonTimeout, match="did not answer in time"):
                c.refine(bytes(12), 2, 2, 3, "uint8", "RGB", bytes(4))
            assert time.monotonic() - t0 < 3
        time.sleep(0.2)
        assert [h["op"] for h in d.received] == ["refine", "cancel"]  # the timed-out work is cancelled
    finally:
        d.close()


def test_cancel_sends_cancel_op_and_raises_cancelled():
    def handler(header, data):
        if header["op"] == "refine":
            handler.rid = header["id"]
            return [({"type": "progress", "done": 0, "total": 4}, [])]
        assert header["params"]["target"] == handler.rid
        return [({"type": "ok"}, []),
                ({"type": "error", "code": "cancelled", "message": "Cancelled.", "id": handler.rid}, [])]

    d = RouterDaemon(handler)
    stop = threading.Event()
    try:
        with make_client(d, timeout=10) as c:
            with pytest.raises(sc.Cancelled):
                c.refine(bytes(12), 2, 2, 3, "uint8", "RGB", bytes(4), progress=lambda *a: stop.set(),
                         cancel=stop)
        assert [h["op"] for h in d.received] == ["refine", "cancel"]
    finally:
        d.close()


def test_heartbeat_pings_are_answered():
    """libzmq drops a peer that does not PONG within HEARTBEAT_TIMEOUT (200 ms); the reply comes at 1.5 s."""
    d = RouterDaemon(heartbeat_ms=50)
    d.handler = lambda h, data: d.send_later(d.last_identity, 1.5, {"v": 1, "id": h["id"], "type": "pong"})
    try:
        with make_client(d, timeout=5) as c:
            assert c.ping()["type"] == "pong"
        assert len(d.received) == 1  # no reconnect was needed
    finally:
        d.close()


# ---------------------------------------------------------------- broken connections
def test_server_closing_mid_message_gives_clear_error():
    def behave(server, conn, n):
        server.read_message(conn)
        conn.sendall(b"\x01\x00")  # empty delimiter frame with MORE … then a long frame cut short
        conn.sendall(b"\x02" + (1000).to_bytes(8, "big") + b"partial")

    server = RawZmtpServer(behave, sc)
    try:
        with pytest.raises(sc.DaemonNotRunning, match="closed the connection in the middle") as info:
            sc.Client(server.endpoint, token="t", timeout=5).hello()
        assert info.value.code == "connection_lost" and "seam-refine serve" in info.value.message
        assert server.connections == 2  # one reconnect-and-retry
    finally:
        server.close()


def test_lazy_pirate_retries_once_after_a_dropped_request():
    def behave(server, conn, n):
        frames = server.read_message(conn)
        if n == 1:
            return  # drop the connection before replying
        header = msgpack.unpackb(frames[1])
        reply = msgpack.packb({"v": 1, "id": header["id"], "type": "info"})
        conn.sendall(b"\x01\x00" + bytes([0, len(reply)]) + reply)
        time.sleep(0.2)

    server = RawZmtpServer(behave, sc)
    try:
        assert sc.Client(server.endpoint, token="t", timeout=5).hello()["type"] == "info"
        assert server.connections == 2
    finally:
        server.close()


def test_reconnects_to_a_restarted_daemon(tmp_path, monkeypatch):
    monkeypatch.setenv("SEAM_REFINE_RUNTIME_DIR", str(tmp_path))
    first = RouterDaemon(token="one")
    write_endpoint(tmp_path, {"endpoint": first.endpoint, "token": "one"})
    c = sc.Client(timeout=5)
    assert c.ping()["type"] == "pong"
    first.close()
    second = RouterDaemon(token="two")
    try:
        write_endpoint(tmp_path, {"endpoint": second.endpoint, "token": "two"})
        time.sleep(0.1)
        assert c.hello()["type"] == "info"
        assert second.received[-1]["token"] == "two"
    finally:
        c.close()
        second.close()


def test_zmq_version_is_real():
    assert zmq.zmq_version_info() >= (4, 0)


# ---------------------------------------------------------------- the real daemon
@pytest.fixture(scope="module")
def real_daemon(tmp_path_factory, fixture_model):
    work = tmp_path_factory.mktemp("real-daemon")
    daemon = Daemon(fixture_model, work / "run", work / "log")
    yield daemon
    daemon.stop()


@pytest.mark.slow
def test_real_daemon_end_to_end(real_daemon, monkeypatch):
    import numpy as np

    monkeypatch.setenv("SEAM_REFINE_RUNTIME_DIR", str(real_daemon.runtime_dir))
    with sc.Client(timeout=60) as c:  # endpoint + token discovered from endpoint.json
        info = c.hello()
        assert info["type"] == "info" and info["protocol"] == 1 and info["model"]["name"]
        assert info["provider"] == "CPUExecutionProvider"
        mask = np.zeros((64, 96), np.uint8)
        mask[16:48, 32:64] = 255
        img = seam_image(np.random.default_rng(0), mask, channels=4)
        seen = []
        pixels, header = c.refine(img.tobytes(), 96, 64, 4, "uint8", "BGRA", mask.tobytes(),
                                  progress=lambda d, t: seen.append((d, t)))
        out = np.frombuffer(pixels, np.uint8).reshape(64, 96, 4)
        assert header["type"] == "result" and header["elapsed_ms"] > 0 and seen
        assert (out[..., 3] == img[..., 3]).all()  # alpha copied unchanged
        assert (out[:4] == img[:4]).all() and (out != img).any()  # far from the seam: untouched
        fimg = img.astype(np.float32) / 255
        fmask = (mask / 255).astype(np.float32).tobytes()
        fpx, _ = c.refine(fimg.tobytes(), 96, 64, 4, "float32", "RGBA", fmask, mask_dtype="float32")
        assert len(fpx) == fimg.nbytes
        with pytest.raises(sc.DaemonError) as err:
            c.refine(img.tobytes(), 96, 64, 4, "uint8", "BGRA", bytes(96 * 64))
        assert err.value.code == "empty_mask" and "select" in err.value.message
        with pytest.raises(sc.DaemonError) as err:  # the parameters are checked by the daemon
            c.refine(img.tobytes(), 96, 64, 4, "uint8", "BGRA", mask.tobytes(), colorspace="rgb")
        assert err.value.code == "bad_input" and err.value.value == "rgb"
        assert err.value.message == "colorspace must be 'srgb' or 'linear', got 'rgb'"
    with pytest.raises(sc.DaemonError) as err:
        sc.Client(real_daemon.info["endpoint"], token="0" * 32, timeout=10).hello()
    assert err.value.code == "unauthorized"
    if real_daemon.info.get("ipc"):
        with sc.Client(real_daemon.info["ipc"], token=real_daemon.info["token"], timeout=10) as c:
            assert c.ping()["type"] == "pong"
