"""``seam-refine demo`` — the main job: a real daemon, the real protocol, a real seam, before/after.

Starts ``seam-refine serve`` as a subprocess with an isolated runtime dir, refines the bundled sample
composite (``samples/coffee_composite.png`` + ``coffee_mask.png``; where they are missing, a composite
is synthesised from ``samples/coffee.png`` or, failing that, a procedural image) with the pyzmq
client, writes before/after PNGs and prints the seam score before and after, then stops the daemon.
``start_daemon``/``stop_daemon`` are also used by the daemon benchmark and the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..errors import DaemonUnavailableError
from ..runtime.params import RefineParams
from ..service import paths
from .console import format_score, progress_bar
from .imagefiles import load_image, load_mask, save_image

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def start_daemon(
    runtime_dir: Path,
    *,
    model: Path | None = None,
    cpu: bool = False,
    args: list[str] = (),
    env: dict | None = None,
    timeout: float = 60.0,
) -> tuple[subprocess.Popen, dict]:
    """Start ``seam-refine serve`` with ``runtime_dir`` as its runtime (and log) dir; wait until its
    ``endpoint.json`` names its pid. Returns (process, endpoint info). stderr goes to ``daemon.err``."""
    runtime_dir = Path(runtime_dir)
    runtime_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # the daemon trusts only a private folder
    cmd = [
        sys.executable,
        "-m",
        "seamrefine.app.cli",
        "serve",
        *(["--model", str(model)] if model else []),
        *(["--cpu"] if cpu else []),
        *args,
    ]
    full_env = {
        **os.environ,
        paths.ENV_RUNTIME_DIR: str(runtime_dir),
        paths.ENV_LOG_DIR: str(runtime_dir / "log"),
        **(env or {}),
    }
    err = open(runtime_dir / "daemon.err", "ab")
    proc = subprocess.Popen(cmd, env=full_env, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
    err.close()
    deadline = time.monotonic() + timeout
    ep = runtime_dir / paths.ENDPOINT_FILE
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (runtime_dir / "daemon.err").read_text(errors="replace").strip().splitlines()[-3:]
            raise DaemonUnavailableError(
                f"the daemon exited with code {proc.returncode}: {' | '.join(tail)}", proc.returncode
            )
        try:
            info = json.loads(ep.read_text())
            if info.get("pid") == proc.pid:
                return proc, info
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    stop_daemon(proc)
    raise DaemonUnavailableError(f"the daemon did not become ready within {timeout:g} s", timeout)


def stop_daemon(proc: subprocess.Popen, timeout: float = 10.0) -> int:
    """SIGTERM (clean shutdown), then SIGKILL if it does not exit within ``timeout``; exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def synthetic_composite(photo: np.ndarray | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A composite with a visible seam: inside an ellipse the fill is colour-shifted, blurred and
    de-noised (what a generative fill leaves). ``photo`` uint8 RGB, or None for a procedural image."""
    rng = np.random.default_rng(seed)
    if photo is None:
        h, w = 384, 512
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        base = np.stack([0.5 + 0.3 * np.sin(x / 41 + c) * np.cos(y / 57 - c) for c in (0.0, 1.1, 2.3)], -1)
        photo = np.clip((base + rng.normal(0, 0.04, base.shape)) * 255, 0, 255).astype(np.uint8)
    img = photo.astype(np.float32) / 255
    h, w = img.shape[:2]
    y, x = np.mgrid[0:h, 0:w]
    mask = (((y - h * 0.5) / (h * 0.28)) ** 2 + ((x - w * 0.55) / (w * 0.22)) ** 2 <= 1).astype(np.float32)
    k = 5
    pad = np.pad(img, ((k // 2,) * 2, (k // 2,) * 2, (0, 0)), mode="reflect")
    blur = sum(pad[dy : dy + h, dx : dx + w] for dy in range(k) for dx in range(k)) / k**2
    fill = np.clip(blur * np.array([1.06, 0.98, 0.9], np.float32) + 0.03, 0, 1)
    comp = img + mask[..., None] * (fill - img)
    return np.rint(comp * 255).astype(np.uint8), (mask * 255).astype(np.uint8)


def load_sample() -> tuple[np.ndarray, np.ndarray, str]:
    """(composite uint8 RGB, mask uint8, description) — the bundled sample when present."""
    comp, mask = SAMPLES / "coffee_composite.png", SAMPLES / "coffee_mask.png"
    if comp.is_file() and mask.is_file():
        return load_image(comp)[..., :3], load_mask(mask), "bundled sample coffee_composite.png"
    if (SAMPLES / "coffee.png").is_file():
        c, m = synthetic_composite(load_image(SAMPLES / "coffee.png")[..., :3])
        return c, m, "composite synthesised from samples/coffee.png"
    c, m = synthetic_composite()
    return c, m, "procedural composite"


def build_parser(p: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = p or argparse.ArgumentParser(prog="seam-refine demo", description=__doc__.splitlines()[0])
    p.add_argument("-o", "--output", type=Path, default=Path("seam-refine-demo"), help="output folder")
    p.add_argument("--model", type=Path, default=None, help="model .onnx (default: the shipped model)")
    p.add_argument("--cpu", action="store_true", help="force the CPU provider")
    p.add_argument("--samples", type=int, default=1)
    p.add_argument("--strength", type=float, default=1.0)
    p.add_argument("--timeout", type=float, default=300.0, help="seconds of daemon silence before giving up")
    return p


def run(args: argparse.Namespace) -> int:
    from ..service.client import Client

    composite, mask, source = load_sample()
    print(f"input: {source}, {composite.shape[1]}×{composite.shape[0]}")
    with tempfile.TemporaryDirectory(prefix="seam-refine-demo-") as tmp:
        t0 = time.perf_counter()
        proc, info = start_daemon(Path(tmp), model=args.model, cpu=args.cpu)
        try:
            print(
                f"daemon: pid {info['pid']} on {info['endpoint']}, ready in {time.perf_counter() - t0:.2f} s"
            )
            with Client(runtime_dir=Path(tmp), timeout=args.timeout) as client:
                hello = client.hello()
                print(
                    f"model {hello['model']['name']} ({hello['model']['sha256'][:12]}) on {hello['provider']}"
                )
                t1 = time.perf_counter()
                params = RefineParams(strength=args.strength, samples=args.samples)
                out, info = client.refine(
                    composite, mask, params, progress=lambda d, t: progress_bar(d, t, "refining")
                )
                took = time.perf_counter() - t1
        finally:
            rc = stop_daemon(proc)
    args.output.mkdir(parents=True, exist_ok=True)
    save_image(args.output / "before.png", composite)
    save_image(args.output / "after.png", out)
    save_image(args.output / "mask.png", np.repeat(mask[..., None], 3, axis=2))
    save_image(args.output / "before_after.png", side_by_side(composite, out, mask))
    before, after = info.get("seam_score_before"), info.get("seam_score_after")
    print(f"seam score (lower is better): before {format_score(before)}, after {format_score(after)}")
    changed = np.any(out != composite, axis=-1)
    print(
        f"refined in {took:.2f} s ({info.get('elapsed_ms', 0):.0f} ms in the daemon); "
        f"{changed.mean() * 100:.1f}% of pixels changed (the band around the mask)"
    )
    print(f"wrote before.png, after.png, mask.png and before_after.png in {args.output}")
    print(f"daemon stopped (exit code {rc})")
    return 0


def side_by_side(before: np.ndarray, after: np.ndarray, mask: np.ndarray, gap: int = 8) -> np.ndarray:
    """Before | after, and below them the same pair cropped to the mask's box (+24 px) and enlarged ×2."""
    from ..imaging.imagemath import mask_bbox

    b = mask_bbox(mask)
    h, w = mask.shape
    y0, y1, x0, x1 = max(0, b.y0 - 24), min(h, b.y1 + 24), max(0, b.x0 - 24), min(w, b.x1 + 24)
    white = np.iinfo(before.dtype).max if before.dtype.kind == "u" else 1.0

    def row(l: np.ndarray, r: np.ndarray) -> np.ndarray:
        return np.concatenate([l, np.full((l.shape[0], gap, 3), white, l.dtype), r], axis=1)

    top = row(before[..., :3], after[..., :3])
    zoom = row(*(np.repeat(np.repeat(x[y0:y1, x0:x1, :3], 2, 0), 2, 1) for x in (before, after)))
    width = max(top.shape[1], zoom.shape[1])

    def pad(x: np.ndarray) -> np.ndarray:
        return np.pad(x, ((0, 0), (0, width - x.shape[1]), (0, 0)), constant_values=white)

    return np.concatenate([pad(top), np.full((gap, width, 3), white, top.dtype), pad(zoom)], axis=0)


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
