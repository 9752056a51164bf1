"""Helpers for the daemon/CLI tests: a real ``seam-refine serve`` subprocess, a raw DEALER peer and
sample images. The fixture models these daemons load come from ``tests/conftest.py``."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import zmq
from seamrefine.app.demo import start_daemon, stop_daemon
from seamrefine.service.protocol import Reply

from .synthetic_images import seam_image

# Keep the daemons light on a shared 2-core machine.
DAEMON_ENV = {"OMP_NUM_THREADS": "1", "SEAM_REFINE_THREADS": "1"}


def launch(runtime_dir: Path, model: Path, *args: str, env: dict | None = None, cpu: bool = True):
    """Start a daemon; returns (process, endpoint info)."""
    return start_daemon(runtime_dir, model=model, cpu=cpu, args=list(args), env={**DAEMON_ENV, **(env or {})})


def stop(proc) -> int:
    return stop_daemon(proc)


def rss_kib(pid: int) -> int:
    """VmRSS of ``pid`` in KiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def peak_rss_kib(pid: int) -> int:
    """VmHWM (peak resident set) of ``pid`` in KiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def reset_peak_rss(pid: int) -> bool:
    """Reset ``pid``'s VmHWM to its current RSS (``5`` into /proc/PID/clear_refs, Linux ≥ 4.0)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def sample_pair(rng: np.random.Generator, h: int = 96, w: int = 128, channels: int = 3, dtype=np.uint8):
    """An image with a rectangle mask in the middle (uint8 0/255) pasted with a visible colour seam
    (``synthetic_images.seam_image``), so the refiner changes it."""
    mask = np.zeros((h, w), np.uint8)
    mask[h // 4 : 3 * h // 4, w // 3 : 2 * w // 3] = 255
    return seam_image(rng, mask, channels, dtype), mask


class RawPeer:
    """A bare DEALER for sending hand-made (also malformed) frames and reading replies."""

    def __init__(self, endpoint: str):
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)

    def send(self, frames: list) -> None:
        self.sock.send_multipart(frames)

    def recv(self, timeout: float = 5.0) -> Reply:
        if not self.sock.poll(int(timeout * 1000)):
            raise TimeoutError(f"no reply within {timeout} s")
        return Reply.decode(self.sock.recv_multipart())

    def final(self, timeout: float = 10.0) -> tuple[Reply, int]:
        """The next final reply (skipping progress); also how many progress replies came first."""
        n = 0
        deadline = time.monotonic() + timeout
        while True:
            r = self.recv(max(0.01, deadline - time.monotonic()))
            if r.type != "progress":
                return r, n
            n += 1

    def close(self) -> None:
        self.sock.close(0)
        self.ctx.term()


def no_cuda_device() -> bool:
    return not any(os.path.exists(p) for p in ("/dev/nvidia0", "/dev/nvidiactl"))
