"""The daemon's caps through real sockets: large frames with a wrong token do not fill its memory (RSS
measured), every frame and message cap gets its typed reply or its disconnect, and a bounded fuzz of
10,000+ malformed messages, each answered by a typed error carrying its id where the id was readable."""

from __future__ import annotations

import os
import time

import msgpack
import numpy as np
import pytest
import zmq
from seamrefine.errors import SeamRefineError
from seamrefine.service.frames import frame_cap, message_cap
from seamrefine.service.protocol import Request, decode_request, encode_refine, encode_request
from zmq.utils.monitor import recv_monitor_message

from ..support.daemon_harness import RawPeer, launch, peak_rss_kib, reset_peak_rss, rss_kib, sample_pair, stop
from .message_fuzz import header_with_raw, mutate, nested

MAX_PIXELS = 512 * 512
FRAME_CAP = frame_cap(MAX_PIXELS)  # 4 MiB: an RGBA float32 image of 512×512
MESSAGE_CAP = message_cap(MAX_PIXELS)  # 5 MiB + 64 KiB
FUZZ_MESSAGES = 10_000
FUZZ_SECONDS = 60  # the bound; unloaded this runs in a few seconds
SLACK_KIB = 12 * 1024  # log lines, Python objects: what the daemon may grow by besides the buffers
LINUX = os.path.exists("/proc/self/status")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, daemon_model):
    rt = tmp_path_factory.mktemp("rt")
    proc, info = launch(rt, daemon_model, "--max-pixels", str(MAX_PIXELS), "--queue", "16")
    yield proc, info
    assert stop(proc) == 0


@pytest.fixture()
def peer(daemon):
    p = RawPeer(daemon[1]["endpoint"])
    yield p
    p.close()


def header(token: str, rid: str, n_frames: int = 0, **extra) -> bytes:
    frames = [{"name": f"f{i}", "shape": [1], "dtype": "uint8", "order": "Y"} for i in range(n_frames)]
    return msgpack.packb({"v": 1, "op": "refine", "id": rid, "token": token, "frames": frames, **extra})


def test_hello_states_the_caps(peer, daemon):
    peer.send(encode_request(Request("hello", "h", daemon[1]["token"])))
    limits = peer.final()[0].fields["limits"]
    assert limits == {"max_pixels": MAX_PIXELS, "max_message_bytes": MESSAGE_CAP,
                      "max_frame_bytes": FRAME_CAP, "max_frames": 4, "queue": 16}


@pytest.mark.skipif(not LINUX, reason="reads the daemon's RSS from /proc")
def test_wrong_token_with_large_frames_does_not_fill_memory(daemon):
    """Eight 100 MB frames with a wrong token raised the daemon's RSS to 838 MiB before it replied
    `unauthorized`. libzmq now refuses the first of them after reading its size (ZMQ_MAXMSGSIZE is the
    frame cap), so the daemon's peak RSS grows by less than one frame cap, and the peer is disconnected."""
    pid = daemon[0].pid
    if not reset_peak_rss(pid):
        pytest.skip("cannot reset the daemon's VmHWM through /proc/PID/clear_refs here")
    before = peak_rss_kib(pid)
    big = bytes(100_000_000)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
    try:
        sock.connect(daemon[1]["endpoint"])
        t0 = time.monotonic()
        sock.send_multipart([b"", header("f" * 32, "big", 8), *[big] * 8], copy=False)
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(monitor, zmq.POLLIN)
        events = dict(poller.poll(60_000))
        assert sock not in events, "the daemon answered a message it should never have buffered"
        assert monitor in events and recv_monitor_message(monitor)["event"] == zmq.EVENT_DISCONNECTED
        elapsed = time.monotonic() - t0
    finally:
        sock.disable_monitor()
        monitor.close(0)
        sock.close(0)
        ctx.term()
    del big
    grown = peak_rss_kib(pid) - before
    print(f"8 × 100 MB, wrong token: disconnected after {elapsed:.2f} s, daemon peak RSS "
          f"+{grown / 1024:.1f} MiB (frame cap {FRAME_CAP / 2**20:.0f} MiB)")
    assert grown < FRAME_CAP // 1024 + SLACK_KIB
    assert daemon[0].poll() is None


@pytest.mark.skipif(not LINUX, reason="reads the daemon's RSS from /proc")
def test_frames_under_the_frame_cap_are_dropped_uncopied(daemon, peer):
    """Frames under the frame cap reach the daemon whole (a ROUTER receives whole messages: libzmq has
    buffered them); it checks the header and token first and drops the rest without copying them."""
    pid = daemon[0].pid
    token = daemon[1]["token"]
    frame = bytes(FRAME_CAP - 1024)
    for rid, tok, n, code in (("mid", "f" * 32, 8, "unauthorized"), ("over", token, 3, "too_large"),
                              ("many", token, 4, "bad_request")):
        data = [frame] * n if rid != "many" else [b"x"] * n
        if not reset_peak_rss(pid):
            pytest.skip("cannot reset the daemon's VmHWM through /proc/PID/clear_refs here")
        before = peak_rss_kib(pid)
        peer.send([b"", header(tok, rid, n), *data])
        reply = peer.recv(30)
        grown = peak_rss_kib(pid) - before
        sent = sum(map(len, data))
        print(f"{rid}: {n} frames, {sent / 2**20:.1f} MiB → {code}; daemon peak RSS +{grown / 1024:.1f} MiB")
        assert (reply.type, reply.id, reply.fields["code"]) == ("error", rid, code)
        assert grown < sent // 1024 + SLACK_KIB  # what libzmq buffered, never a copy on top


def test_pixel_cap_gets_too_large_with_the_id(daemon, peer):
    token = daemon[1]["token"]
    img, mask = sample_pair(np.random.default_rng(0), 600, 600)  # 360,000 px > 512²: header says too large
    peer.send(encode_refine("px", token, img, mask))
    reply = peer.recv(10)
    assert (reply.id, reply.fields["code"]) == ("px", "too_large")
    assert reply.fields["message"] == "image is 600×600 (0.4 MP), over the limit of 0.262 MP"


@pytest.mark.parametrize("key", ["params", "op", "v", "token"])
def test_deep_nesting_gets_bad_request_with_the_id(daemon, peer, key):
    """A field nested 1000 deep broke the error path: `internal` without an id."""
    h = {"v": 1, "op": "ping", "id": f"deep-{key}", "token": daemon[1]["token"]}
    h.pop(key, None)
    peer.send([b"", header_with_raw(h, key, nested(1000))])
    reply = peer.recv(10)
    assert (reply.type, reply.id, reply.fields["code"]) == ("error", f"deep-{key}", "bad_request")


@pytest.mark.parametrize("version", [True, 1.0])
def test_version_true_or_float_is_refused(daemon, peer, version):
    h = {"v": version, "op": "ping", "id": "v", "token": daemon[1]["token"]}
    peer.send([b"", msgpack.packb(h)])
    reply = peer.recv(10)
    assert (reply.id, reply.fields["code"]) == ("v", "bad_request") and "version" in reply.fields["message"]


def expected(frames: list[bytes], token: str) -> tuple[str, str | None] | None:
    """(code, id) the daemon must answer, from the in-process decoder; None for a valid message."""
    try:
        decode_request(frames, token=token, max_pixels=MAX_PIXELS, max_message_bytes=MESSAGE_CAP)
    except SeamRefineError as exc:
        return exc.code, exc.request_id
    return None


def test_bounded_fuzz(daemon):
    """10,000+ malformed messages in under a minute: the daemon never crashes, and each message gets one
    typed error, with the id the in-process decoder read (nil where no id was readable)."""
    proc, info = daemon
    token = info["token"]
    rng = np.random.default_rng(20261212)
    img, mask = sample_pair(rng, 24, 20)
    base = [bytes(f) for f in encode_refine("fz", token, img, mask)]
    peer = RawPeer(info["endpoint"])
    codes: dict[str, int] = {}
    with_id = sent = 0
    rss_before = rss_kib(proc.pid) if LINUX else 0
    t0 = time.monotonic()
    try:
        while sent < FUZZ_MESSAGES:
            batch = []
            while len(batch) < 250:
                frames = mutate(rng, base) or [b""]
                if rng.random() < 0.1:  # a wrong or missing token on an otherwise valid message
                    h = msgpack.unpackb(base[1])
                    h.pop("token") if rng.random() < 0.5 else h.update(token="f" * 32)
                    frames = [b"", msgpack.packb(h), *base[2:]]
                want = expected(frames, token)
                if want is not None:
                    batch.append((frames, want))
            for frames, _ in batch:
                peer.send(frames)
            for frames, (code, rid) in batch:
                reply = peer.recv(30)
                assert reply.type == "error" and (reply.fields["code"], reply.id) == (code, rid), (
                    frames[:2], reply)
                codes[code] = codes.get(code, 0) + 1
                with_id += rid is not None
            sent += len(batch)
        elapsed = time.monotonic() - t0
        peer.send(encode_request(Request("ping", "after", token)))
        assert peer.final()[0].type == "pong"
    finally:
        peer.close()
    grown = (rss_kib(proc.pid) - rss_before) / 1024 if LINUX else 0.0
    print(f"fuzz: {sent} malformed messages in {elapsed:.1f} s ({sent / elapsed:.0f}/s), {with_id} with "
          f"an id; by code {codes}; daemon RSS {grown:+.1f} MiB")
    assert elapsed < FUZZ_SECONDS
    assert proc.poll() is None
    assert codes.get("bad_request", 0) > 3000 and codes.get("unauthorized", 0) > 500
    assert codes.get("bad_input", 0) > 300 and with_id > sent // 2
