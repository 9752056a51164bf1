"""The daemon through real sockets (one shared daemon subprocess on the ONNX fixture model): info,
refine in every dtype/order, typed errors, 8 concurrent clients, bounded RSS, and a refused second
instance. The caps and the bounded fuzz are in test_daemon_caps.py."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import msgpack
import numpy as np
import pytest
from seamrefine import PROTOCOL_VERSION, __version__
from seamrefine.errors import AuthError, EmptyMaskError, FullMaskError, InputError, ShapeError
from seamrefine.imaging import imagemath
from seamrefine.runtime.inference import Refiner
from seamrefine.runtime.params import RefineParams
from seamrefine.service import paths
from seamrefine.service.client import Client
from seamrefine.service.frames import swap_order
from seamrefine.service.protocol import encode_refine

from ..support.daemon_harness import DAEMON_ENV, RawPeer, launch, no_cuda_device, rss_kib, sample_pair, stop
from ..support.synthetic_images import photo

CONCURRENT_CLIENTS = 8
REQUESTS_PER_CLIENT = 4


@pytest.fixture(scope="module")
def model(daemon_model):
    return daemon_model


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, model):
    """No --cpu: on a machine without CUDA the daemon must report the CPU provider it really uses."""
    rt = tmp_path_factory.mktemp("rt")
    proc, info = launch(rt, model, "--queue", "16", cpu=False)
    yield proc, info, rt
    assert stop(proc) == 0


@pytest.fixture(scope="module")
def refiner(model):
    return Refiner(model, ["CPUExecutionProvider"], threads=1)


@pytest.fixture()
def client(daemon):
    with Client(runtime_dir=daemon[2], timeout=20) as c:
        yield c


def test_endpoint_file(daemon):
    proc, info, rt = daemon
    ep = rt / "endpoint.json"
    assert (ep.stat().st_mode & 0o777) == 0o600
    if os.name == "posix":  # private runtime folder, log folder and log file
        modes = [p.stat().st_mode & 0o777 for p in (rt, rt / "log", rt / "log" / "daemon.log")]
        assert modes == [0o700, 0o700, 0o600]
    assert info["pid"] == proc.pid and info["protocol"] == PROTOCOL_VERSION and info["version"] == __version__
    assert info["endpoint"].startswith("tcp://127.0.0.1:") and len(info["token"]) == 32
    assert info.get("ipc") == paths.ipc_endpoint(rt)  # None (absent) on Windows or for over-long paths


def test_hello_reports_model_provider_limits(client, model):
    info = client.hello()
    assert info["version"] == __version__ and info["protocol"] == PROTOCOL_VERSION
    assert info["model"]["name"] == "fixture-blur" and len(info["model"]["sha256"]) == 64
    assert info["limits"]["queue"] == 16 and info["limits"]["max_pixels"] > 0
    if no_cuda_device():
        assert info["provider"] == "CPUExecutionProvider"
    assert client.ping() < 1.0


def test_ipc_endpoint_serves(daemon):
    if "ipc" not in daemon[1]:
        pytest.skip("no ipc endpoint on this platform/path")
    with Client(daemon[1]["ipc"], daemon[1]["token"], timeout=5) as c:
        assert c.hello()["protocol"] == PROTOCOL_VERSION


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_refine_matches_in_process(client, refiner, dtype):
    img, mask = sample_pair(np.random.default_rng(3), dtype=dtype)
    out, info = client.refine(img, mask)
    expect, local = refiner.refine(img, mask)
    np.testing.assert_array_equal(out, expect)
    assert out.dtype == img.dtype and info["elapsed_ms"] > 0
    assert np.isfinite(info["seam_score_before"]) and np.isfinite(info["seam_score_after"])
    # the same shape of answer in-process and through the daemon
    assert (info["seam_score_before"], info["seam_score_after"]) == (
        local["seam_score_before"],
        local["seam_score_after"],
    )
    assert info["changed"] is local["changed"] is True


def test_unscored_refine_gives_the_same_pixels_and_nil_scores(client):
    img, mask = sample_pair(np.random.default_rng(3), dtype=np.uint8)
    scored, _ = client.refine(img, mask)
    out, info = client.refine(img, mask, RefineParams(scores=False))
    np.testing.assert_array_equal(out, scored)
    assert info["seam_score_before"] is None and info["seam_score_after"] is None and info["changed"]


def test_a_clean_picture_comes_back_identical_and_the_header_says_so(client):
    clean = (photo(3, 160) * 255).round().astype(np.uint8)
    mask = np.zeros((160, 160), np.uint8)
    mask[50:110, 40:120] = 255
    out, info = client.refine(clean, mask)
    np.testing.assert_array_equal(out, clean)
    assert info["changed"] is False


def test_bgra_order_and_alpha(client, refiner):
    rgba, mask = sample_pair(np.random.default_rng(4), channels=4)
    expect = refiner.refine(rgba, mask)[0]
    out, _ = client.refine(swap_order(rgba, "BGRA"), mask, order="BGRA")
    np.testing.assert_array_equal(out, swap_order(expect, "BGRA"))
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])


def test_linear_colorspace_matches_in_process(client, refiner):
    """colorspace="linear" travels: the daemon refines linear-light values in sRGB and converts back."""
    img, mask = sample_pair(np.random.default_rng(31), dtype=np.float32)
    lin = imagemath.srgb_to_linear(img)
    out, _ = client.refine(lin, mask, RefineParams(colorspace="linear"))
    np.testing.assert_array_equal(out, refiner.refine(lin, mask, RefineParams(colorspace="linear"))[0])
    assert not np.array_equal(out, refiner.refine(lin, mask)[0])  # not treated as sRGB values
    with pytest.raises(InputError, match="colorspace must be 'srgb' or 'linear', got 'rgb'") as e:
        client.refine(img, mask, RefineParams(colorspace="rgb"))
    assert e.value.code == "bad_input"


def test_progress_and_params(client):
    img, mask = sample_pair(np.random.default_rng(5), 160, 200)
    seen = []
    params = RefineParams(samples=2, strength=0.5, band=4)
    out, _ = client.refine(img, mask, params, progress=lambda d, t: seen.append((d, t)))
    assert seen and seen[-1][0] == seen[-1][1] and len(seen) == seen[-1][1]
    assert seen[-1][1] % 2 == 0  # tiles × samples


def test_typed_errors(client, daemon):
    img, mask = sample_pair(np.random.default_rng(6))
    with pytest.raises(EmptyMaskError):
        client.refine(img, np.zeros_like(mask))
    with pytest.raises(FullMaskError):
        client.refine(img, np.full_like(mask, 255))
    with pytest.raises(InputError) as e:
        client.refine(img, mask[:-1])
    assert e.value.code == "bad_input"
    with pytest.raises(InputError):
        client.refine(img, mask, RefineParams(samples=9))
    with Client(daemon[1]["endpoint"], "0" * 32, timeout=5) as bad:
        with pytest.raises(AuthError):
            bad.ping()
    with Client(daemon[1]["endpoint"], None, timeout=5) as none:
        with pytest.raises(AuthError):
            none.hello()


def test_mismatched_sizes_read_the_same_in_process_and_through_the_daemon(client, refiner, daemon):
    img, mask = sample_pair(np.random.default_rng(32))
    with pytest.raises(ShapeError) as local:
        refiner.refine(img, mask[:-1])
    with pytest.raises(ShapeError) as remote:  # the client checks before sending the pixels
        client.refine(img, mask[:-1])
    assert remote.value.message == local.value.message == (
        "the mask is 128×95 px but the image is 128×96 px: they must be the same size"
    )
    peer = RawPeer(daemon[1]["endpoint"])  # a client that sends them anyway gets the same words
    try:
        peer.send(encode_refine("mismatch", daemon[1]["token"], img, mask[:-1]))
        reply, _ = peer.final()
    finally:
        peer.close()
    assert reply.fields["code"] == "bad_input" and reply.fields["message"] == local.value.message


@pytest.mark.parametrize("layout", ["H×W", "H×W×2"])
def test_grey_through_the_daemon_comes_back_grey(client, refiner, layout):
    rgba, mask = sample_pair(np.random.default_rng(33), channels=4)
    grey = rgba[..., 0] if layout == "H×W" else rgba[..., [0, 3]]
    out, info = client.refine(grey, mask)
    assert out.shape == grey.shape and out.dtype == grey.dtype and info["elapsed_ms"] > 0
    np.testing.assert_array_equal(out, refiner.refine(grey, mask)[0])


def test_unattributable_garbage_gets_nil_id(daemon):
    peer = RawPeer(daemon[1]["endpoint"])
    try:
        peer.send([b"", b"\xff\x00garbage"])
        r = peer.recv()
        assert r.type == "error" and r.id is None and r.fields["code"] == "bad_request"
        peer.send([b"no delimiter"])
        assert peer.recv().fields["code"] == "bad_request"
        h = {"v": PROTOCOL_VERSION, "op": "ping", "id": "dup", "token": daemon[1]["token"]}
        peer.send([b"", msgpack.packb(h)])
        assert peer.recv().id == "dup"
    finally:
        peer.close()


def test_concurrent_clients_get_their_own_results(daemon, refiner):
    """8 clients × 4 requests at once: each reply has its request's id and its image's pixels; RSS bounded."""
    pid = daemon[0].pid
    rng = np.random.default_rng(7)
    jobs = [
        [
            sample_pair(rng, int(rng.integers(48, 112)), int(rng.integers(48, 112)))
            for _ in range(REQUESTS_PER_CLIENT)
        ]
        for _ in range(CONCURRENT_CLIENTS)
    ]
    expected = [[refiner.refine(img, mask)[0] for img, mask in row] for row in jobs]
    results: dict[tuple[int, int], np.ndarray] = {}
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            with Client(runtime_dir=daemon[2], timeout=30) as c:
                for j, (img, mask) in enumerate(jobs[k]):
                    results[k, j] = c.refine(img, mask)[0]
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    def round_() -> None:
        threads = [threading.Thread(target=work, args=(k,)) for k in range(CONCURRENT_CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        for k in range(CONCURRENT_CLIENTS):
            for j in range(REQUESTS_PER_CLIENT):
                np.testing.assert_array_equal(results[k, j], expected[k][j])

    round_()
    has_proc = os.path.exists(f"/proc/{pid}/status")
    before = rss_kib(pid) if has_proc else 0
    for _ in range(3):
        results.clear()
        round_()
    if has_proc:  # Linux: the daemon's RSS must not grow with the number of requests served
        after = rss_kib(pid)
        print(f"daemon RSS {before / 1024:.1f} MiB → {after / 1024:.1f} MiB after {3 * 32} more requests")
        assert after - before < 48 * 1024


def test_second_instance_is_refused(daemon, model):
    env = {
        **os.environ,
        **DAEMON_ENV,
        "SEAM_REFINE_RUNTIME_DIR": str(daemon[2]),
        "SEAM_REFINE_LOG_DIR": str(daemon[2] / "log"),
    }
    r = subprocess.run(
        [sys.executable, "-m", "seamrefine.app.cli", "serve", "--model", str(model), "--cpu"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert "already running" in r.stderr and str(daemon[0].pid) in r.stderr
    assert "Traceback" not in r.stderr
    with Client(runtime_dir=daemon[2], timeout=5) as c:  # the first one is untouched
        assert c.ping() < 1.0


def test_duplicate_id_in_flight_is_rejected(daemon):
    info = daemon[1]
    img, mask = sample_pair(np.random.default_rng(8), 256, 256)
    peer = RawPeer(info["endpoint"])
    try:
        msg = encode_refine("same", info["token"], img, mask, params=RefineParams(samples=2))
        peer.send(msg)
        peer.send(msg)
        finals = [peer.final()[0], peer.final()[0]]
        assert sorted(r.type for r in finals) == ["error", "result"]
        err = next(r for r in finals if r.type == "error")
        assert err.fields["code"] == "bad_request" and err.id == "same"
    finally:
        peer.close()


def test_stdlib_plugin_client_interoperates(daemon):
    """The plugins' stdlib client (written from protocol.md alone) against this daemon."""
    import importlib.util
    from pathlib import Path

    src = Path(__file__).resolve().parents[2] / "plugins" / "common" / "seamrefine_client.py"
    if not src.is_file():
        pytest.skip("plugins/common/seamrefine_client.py is not there")
    spec = importlib.util.spec_from_file_location("seamrefine_client_under_test", src)
    sc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sc)
    img, mask = sample_pair(np.random.default_rng(9), 64, 80, channels=4, dtype=np.uint16)
    c = sc.Client(daemon[1]["endpoint"], daemon[1]["token"], timeout=20)
    try:
        assert c.hello()["protocol"] == PROTOCOL_VERSION
        px, header = c.refine(swap_order(img, "BGRA").tobytes(), 80, 64, 4, "uint16", "BGRA", mask.tobytes())
        out = swap_order(np.frombuffer(px, np.uint16).reshape(64, 80, 4), "BGRA")
        with Client(runtime_dir=daemon[2], timeout=20) as mine:
            np.testing.assert_array_equal(out, mine.refine(img, mask)[0])
        assert header["type"] == "result"
        with pytest.raises(sc.ClientError) as e:
            c.refine(img.tobytes(), 80, 64, 4, "uint16", "RGBA", np.zeros_like(mask).tobytes())
        assert e.value.code == "empty_mask"
        lin = imagemath.srgb_to_linear(img.astype(np.float32) / 65535)  # a linear-light float layer
        px, _ = c.refine(lin.tobytes(), 80, 64, 4, "float32", "RGBA", mask.tobytes(), colorspace="linear")
        with Client(runtime_dir=daemon[2], timeout=20) as mine:
            want = mine.refine(lin, mask, RefineParams(colorspace="linear"))[0]
        np.testing.assert_array_equal(np.frombuffer(px, np.float32).reshape(64, 80, 4), want)
    finally:
        c.close()
