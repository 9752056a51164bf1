"""Helpers for the real-Krita tests: find/prepare ../shared/hosts/hosts.sh, run scripts, run a daemon."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
HOSTS_SH = REPO.parent / "shared" / "hosts" / "hosts.sh"
SCRIPTS = Path(__file__).resolve().parent / "krita_scripts"
HOSTS_CACHE = os.environ.get("HOSTS_CACHE", "/var/cache/plugin-hosts")
X_RACE = "could not connect to display"
SHIPPED_MODEL = REPO / "server" / "seamrefine" / "models" / "seam_refiner.onnx"
H, W = 160, 224  # the test image the Krita scripts open (larger than the selection plus its context)
SEL = (40, 30, 60, 50)  # x, y, w, h of the selection e2e_refine.py makes (feathered by 6 px there)


def _hosts_env(**extra) -> dict:
    env = dict(os.environ, HOSTS_CACHE=HOSTS_CACHE)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def require_krita(mode: str = "chroot") -> None:
    """Skip (loudly) when real Krita cannot be run here; set it up if only the cache is missing."""
    if not HOSTS_SH.is_file():
        pytest.skip(f"REAL KRITA TESTS SKIPPED: {HOSTS_SH} not found (needs ../shared/hosts)")
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("REAL KRITA TESTS SKIPPED: hosts.sh needs root (chroot/unshare)")
    if mode == "host":
        if shutil.which("krita") is None or shutil.which("Xvfb") is None:
            proc = subprocess.run(["bash", str(HOSTS_SH), "setup", "krita-host"], env=_hosts_env(),
                                  capture_output=True, text=True, timeout=1800)
            if proc.returncode != 0 or shutil.which("krita") is None:
                pytest.skip("REAL KRITA 5.1 TEST SKIPPED: `hosts.sh setup krita-host` failed (no network?):\n"
                            + proc.stderr[-2000:])
        return
    marker = Path(HOSTS_CACHE) / "trixie-rootfs" / ".hosts-krita-ok"
    if marker.is_file():
        return
    proc = subprocess.run(["bash", str(HOSTS_SH), "setup", "krita"], env=_hosts_env(), capture_output=True,
                          text=True, timeout=1800)
    if proc.returncode != 0 or not marker.is_file():
        pytest.skip("REAL KRITA TESTS SKIPPED: `hosts.sh setup krita` failed (no network?):\n"
                    + proc.stderr[-2000:])


def krita_run(script: Path, *, plugin_dir: Path, binds: list[Path], mode: str = "chroot", timeout: int = 240,
              **env) -> subprocess.CompletedProcess:
    """Run ``script`` inside real Krita with the plugins in ``plugin_dir``; returns the finished process."""
    full_env = _hosts_env(KRITA_PLUGIN_DIRS=plugin_dir, HOSTS_BIND=":".join(str(b) for b in binds),
                          HOSTS_KRITA=mode, HOSTS_TIMEOUT=timeout, **{"SEAM_REFINE_TEST_MODE": 1, **env})
    for attempt in range(3):
        proc = subprocess.run(["bash", str(HOSTS_SH), "krita-run", str(script)], env=full_env, cwd=REPO,
                              capture_output=True, text=True, timeout=timeout + 60)
        # Krita never started: its private Xvfb display raced with another X server (harness flake)
        if proc.returncode == 0 or X_RACE not in proc.stdout + proc.stderr:
            return proc
        print(f"krita_run: Krita could not reach its Xvfb display (attempt {attempt + 1}); retrying",
              file=sys.stderr)
        time.sleep(1 + attempt)
    return proc


@contextlib.contextmanager
def profile_actions(action_file: Path, mode: str = "chroot"):
    """Put an installed ``.action`` file where the test Krita profile reads actions, for one run.

    hosts.sh copies plug-ins into the profile's ``pykrita`` folder only; Krita reads default shortcuts
    from the ``actions`` folder beside it, where ``seam-refine install-plugin krita`` (and Krita's own
    plug-in importer) put the file. Any copy an earlier run left there is replaced, then removed.
    """
    home = (Path(HOSTS_CACHE) / "trixie-rootfs" / "var/tmp/hosts/krita-home" if mode == "chroot"
            else Path(HOSTS_CACHE) / "krita-home-host")
    target = home / ".local" / "share" / "krita" / "actions" / action_file.name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(action_file.read_bytes())
    try:
        yield target
    finally:
        target.unlink(missing_ok=True)


def make_png(path: Path) -> np.ndarray:
    """Write the H×W RGB test image (gradients, a pattern and noise, and inside ``SEL`` a fake
    generative fill pasted warmer and brighter with a hard edge: a visible colour seam the refiner
    removes) to ``path``; return its pixels."""
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:H, 0:W]
    img = np.stack([xx * 255 / W, yy * 255 / H, (xx + yy) % 64 * 4], -1) + rng.normal(0, 8, (H, W, 3))
    x, y, w, h = SEL
    img[y : y + h, x : x + w] = 0.9 * img[y : y + h, x : x + w] + np.array([25.0, 12.0, 0.0])
    img = np.clip(img, 0, 255).astype(np.uint8)
    Image.fromarray(img, "RGB").save(path)
    return img


def describe(proc: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines()
             if "SyntaxWarning" not in ln and not ln.startswith(("  '", "  key", "  * "))]
    return "\n".join(lines[-60:])


def model_path(tmp_dir: Path) -> Path:
    """The shipped model if it exists, else the tiny real fixture model."""
    if SHIPPED_MODEL.is_file():
        return SHIPPED_MODEL
    from ..support.onnx_fixture import make_fixture_model

    return make_fixture_model(tmp_dir)


class Daemon:
    """A real `seam-refine serve` subprocess with its own runtime dir."""

    def __init__(self, model: Path, runtime_dir: Path, log_dir: Path, launcher: Path | None = None):
        self.runtime_dir = Path(runtime_dir)
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, SEAM_REFINE_RUNTIME_DIR=str(runtime_dir), SEAM_REFINE_LOG_DIR=str(log_dir),
                   OMP_NUM_THREADS="1")
        args = [sys.executable, "-m", "seamrefine.app.cli", "serve"]
        if launcher is not None:  # a script taking the daemon's arguments (benchmarks)
            args = [sys.executable, str(launcher)]
        self.proc = subprocess.Popen(args + ["--model", str(model), "--cpu"], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        path = self.runtime_dir / "endpoint.json"
        while not path.is_file():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("daemon did not start: " + (self.proc.stdout.read() or ""))
            time.sleep(0.05)
        time.sleep(0.05)
        self.info = json.loads(path.read_text())

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
