"""Daemon benchmark: cold start to READY, idle RSS, and refine latency through the daemon vs in-process.

``python -m seamrefine.app.bench_daemon [--model PATH] [--repeats N] [--sizes 1,4] [--ipc]``

Cold start is timed from spawning ``seam-refine serve`` to its ``READY=1`` on a NOTIFY_SOCKET we own
(exactly what systemd sees). Latency is measured on the same image and mask in-process
(``Refiner.refine``) and through the pyzmq client; the transport overhead is the client round trip minus
the daemon's own ``elapsed_ms`` (the refine itself), so it does not depend on how noisy the compute is.
Medians over ``--repeats``. Linux only for RSS (``/proc``).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..runtime.allocator import keep_large_buffers
from ..service import paths


def _rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def spawn_ready(
    model: Path | None, cpu: bool, root: Path, extra: list[str] = ()
) -> tuple[subprocess.Popen, float]:
    """Start a daemon with its own NOTIFY_SOCKET; return (process, seconds until READY=1)."""
    root.mkdir(parents=True, exist_ok=True)
    sock_path = root / "notify.sock"
    sock_path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(sock_path))
    listener.settimeout(120)
    env = {
        **os.environ,
        "NOTIFY_SOCKET": str(sock_path),
        paths.ENV_RUNTIME_DIR: str(root / "rt"),
        paths.ENV_LOG_DIR: str(root / "log"),
    }
    cmd = [
        sys.executable,
        "-m",
        "seamrefine.app.cli",
        "serve",
        *(["--model", str(model)] if model else []),
        *(["--cpu"] if cpu else []),
        *extra,
    ]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while b"READY=1" not in listener.recv(4096):
            pass
    finally:
        listener.close()
    return proc, time.perf_counter() - t0


def _case(mp: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    side = int(round((mp * 1e6) ** 0.5))
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:side, 0:side].astype(np.float32)
    img = (127 + 60 * np.sin(x / 23) * np.cos(y / 31))[..., None] + rng.normal(0, 6, (side, side, 3))
    mask = np.zeros((side, side), np.uint8)
    q = side // 4
    mask[q : 3 * q, q + q // 2 : 3 * q - q // 2] = 255
    return np.clip(img, 0, 255).astype(np.uint8), mask


def run(args: argparse.Namespace) -> dict:
    from ..runtime.inference import Refiner
    from ..service.client import Client

    providers = ["CPUExecutionProvider"] if args.cpu else None
    results: dict = {"cold_start_s": [], "idle_rss_mib": [], "sizes": {}}
    with tempfile.TemporaryDirectory(prefix="seam-refine-bench-") as tmp:
        for i in range(args.start_repeats):
            proc, ready = spawn_ready(args.model, args.cpu, Path(tmp) / f"cold{i}")
            time.sleep(0.5)  # let it settle: idle means idle
            results["cold_start_s"].append(ready)
            results["idle_rss_mib"].append(_rss_mib(proc.pid))
            proc.terminate()
            proc.wait(30)
        proc, _ = spawn_ready(args.model, args.cpu, Path(tmp) / "lat", ["--no-ipc"] if not args.ipc else [])
        try:
            info = json.loads((Path(tmp) / "lat" / "rt" / "endpoint.json").read_text())
            endpoint = info["ipc"] if args.ipc else info["endpoint"]
            keep_large_buffers()  # the in-process side with the daemon's malloc settings
            refiner = Refiner(args.model, providers)
            with Client(endpoint, info["token"], timeout=600) as client:
                provider = client.hello()["provider"]
                for mp in args.sizes:
                    img, mask = _case(mp)
                    refiner.refine(img, mask)
                    client.refine(img, mask)  # warm both
                    local, remote, inside = [], [], []
                    for _ in range(args.repeats):
                        t0 = time.perf_counter()
                        refiner.refine(img, mask)
                        local.append(time.perf_counter() - t0)
                        t0 = time.perf_counter()
                        _, header = client.refine(img, mask)
                        remote.append(time.perf_counter() - t0)
                        inside.append(header["elapsed_ms"] / 1000)
                    real_mp = img.shape[0] * img.shape[1] / 1e6
                    med = statistics.median
                    results["sizes"][f"{mp:g}"] = {
                        "pixels": img.shape[0] * img.shape[1],
                        "in_process_ms": med(local) * 1000,
                        "daemon_ms": med(remote) * 1000,
                        "in_process_ms_per_mp": med(local) * 1000 / real_mp,
                        "daemon_ms_per_mp": med(remote) * 1000 / real_mp,
                        "overhead_ms": med([r - s for r, s in zip(remote, inside, strict=True)]) * 1000,
                        "difference_ms": (med(remote) - med(local)) * 1000,
                    }
            results["rss_after_mib"] = _rss_mib(proc.pid)
        finally:
            proc.terminate()
            proc.wait(30)
    results["provider"] = provider
    results["transport"] = "ipc" if args.ipc else "tcp"
    results["model"] = str(args.model or "shipped")
    return results


def report(r: dict) -> str:
    med = statistics.median
    lines = [
        f"model {r['model']} on {r['provider']}, transport {r['transport']}",
        f"cold start to READY=1: median {med(r['cold_start_s']):.2f} s over {len(r['cold_start_s'])} "
        f"(target ≤ 2 s)",
        f"idle RSS: median {med([x for x in r['idle_rss_mib'] if x]):.0f} MiB (target ≤ 250 MB); "
        f"after the latency runs {r.get('rss_after_mib') or 0:.0f} MiB",
        "size | in-process ms (ms/MP) | daemon ms (ms/MP) | overhead ms (round trip − daemon compute) | "
        "daemon − in-process ms",
    ]
    for mp, s in r["sizes"].items():
        lines.append(
            f"{mp} MP | {s['in_process_ms']:.1f} ({s['in_process_ms_per_mp']:.1f}) | {s['daemon_ms']:.1f} "
            f"({s['daemon_ms_per_mp']:.1f}) | {s['overhead_ms']:.1f} | {s['difference_ms']:+.1f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m seamrefine.app.bench_daemon", description=__doc__.splitlines()[0]
    )
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--cpu", action="store_true")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--start-repeats", type=int, default=3)
    p.add_argument("--sizes", type=lambda s: [float(x) for x in s.split(",")], default=[1.0, 4.0])
    p.add_argument("--ipc", action="store_true", help="measure over ipc:// instead of tcp://127.0.0.1")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    r = run(args)
    print(json.dumps(r, indent=1) if args.json else report(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
