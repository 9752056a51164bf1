"""glibc malloc settings (``seamrefine.runtime.allocator``): the calls apply on glibc, the idle release
fires once per idle spell, and a real daemon (real sockets, the fixture model) drives it."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest
from seamrefine.runtime import allocator
from seamrefine.runtime.allocator import IdleRelease
from seamrefine.runtime.inference import Refiner
from seamrefine.service.client import Client
from seamrefine.service.daemon import Daemon

glibc = pytest.mark.skipif(allocator._libc() is None, reason="needs glibc")


@glibc
def test_settings_apply_on_glibc():
    assert allocator.one_malloc_arena() is True
    assert allocator.keep_large_buffers() is True
    big = np.ones((1 << 20, 4), np.float32)  # 16 MiB from the heap now, freed into its top
    assert float(big.sum()) == 4 << 20
    del big
    assert isinstance(allocator.release_free_memory(), bool)


def test_no_op_without_glibc(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert allocator._libc() is None
    assert allocator.keep_large_buffers() is False
    assert allocator.one_malloc_arena() is False
    assert allocator.release_free_memory() is False


def test_idle_release_known_values():
    idle = IdleRelease(allocator.release_free_memory, after_s=10.0)
    assert idle.due(100.0) is False  # nothing ran yet: nothing kept to release
    idle.busy(100.0)
    assert idle.due(109.9) is False
    assert idle.due(110.0) is True
    assert idle.due(500.0) is False  # once per idle spell
    idle.busy(600.0)
    assert idle.due(605.0) is False and idle.due(611.0) is True
    assert idle.release is allocator.release_free_memory


def test_daemon_releases_after_a_request_then_idle(tmp_path, fixture_model):
    released = threading.Event()
    idle = IdleRelease(released.set, after_s=0.2)
    daemon = Daemon(Refiner(fixture_model), root=tmp_path, use_ipc=False, idle=idle)
    daemon.bind()
    runner = threading.Thread(target=daemon.run, daemon=True)
    runner.start()
    try:
        time.sleep(1.2)  # idle from the start: no request yet, nothing released
        assert not released.is_set()
        img = np.full((64, 64, 3), 120, np.uint8)
        img[:, 32:] = 160
        mask = np.zeros((64, 64), np.uint8)
        mask[16:48, 20:44] = 255
        with Client(daemon.endpoint, daemon.token, timeout=30) as client:
            out, _ = client.refine(img, mask)
        assert out.shape == img.shape
        assert released.wait(5.0)
    finally:
        daemon.stop()
        runner.join(10)
