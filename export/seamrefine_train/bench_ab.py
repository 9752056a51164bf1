"""This build's 1 MP refine against another checkout's, taking turns (``python -m seamrefine_train
bench_ab --other DIR``).

This VM's speed drifts by a factor of two to three within minutes, so a timing is only worth its ratio
to a baseline measured in the same run (MODEL.md, "Speed and memory"). Each build runs in a worker
process of its own (``PYTHONPATH`` its checkout's ``server`` and ``export``, so the other may be any
revision that has ``Refiner`` and ``RefineParams(scores=...)``), loads its model once, refines the
same case once untimed and reports a digest of its output; then the two refine in turns, the first
of each round alternating, and each reports its wall and CPU seconds. The case is ``bench``'s 1 MP
timing case (a colour_uniform seam on a 1024 px crop of the photos), drawn by this build and
handed to both as an .npz; refines are as the plug-ins ask (no seam scores).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from . import synthesis
from .bench import DEFAULT_PHOTOS

# run by ``python -c`` in each worker: only APIs that every revision since the eighteenth session has
WORKER = r"""
import hashlib, json, sys, time
import numpy as np
import seamrefine
try:
    from seamrefine.runtime.allocator import keep_large_buffers
    keep_large_buffers()
except ImportError:
    pass
from seamrefine.runtime.inference import Refiner
from seamrefine.runtime.params import RefineParams
case = np.load(sys.argv[1])
image, mask = case["image"], case["mask"]
refiner, params = Refiner(), RefineParams(scores=False)
out = refiner.refine(image, mask, params)[0]
print(json.dumps({"digest": hashlib.sha256(out.tobytes()).hexdigest(), "module": seamrefine.__file__}),
      flush=True)
for _ in sys.stdin:
    c0, t0 = time.process_time(), time.perf_counter()
    refiner.refine(image, mask, params)
    print(json.dumps({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}), flush=True)
"""


def timing_case(photos_dir: Path, seed: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``bench``'s timing case (``bench_report.timing_1mp``) at ``size`` px: (image float32, mask)."""
    paths = synthesis.list_photos(photos_dir)
    rng = np.random.default_rng([seed, 999_999])
    crop = synthesis.random_crop(synthesis.load_photo(paths[int(rng.integers(len(paths)))]), size, rng)
    case = synthesis.make_case(crop, seed, 999_999, "color_uniform")
    return case.composite, case.mask


class Worker:
    """One build's refiner in a process of its own (``WORKER``), on the case in ``case_path``."""

    def __init__(self, checkout: Path, case_path: str):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(str(checkout / d) for d in ("server", "export")))
        self.proc = subprocess.Popen([sys.executable, "-c", WORKER, case_path], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env, cwd=checkout)
        ready = self._reply()
        if not Path(ready["module"]).resolve().is_relative_to(checkout.resolve()):
            self.close()
            raise RuntimeError(f"the worker for {checkout} imported seamrefine from {ready['module']}")
        self.digest = ready["digest"]

    def _reply(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the worker stopped (exit code {self.proc.wait()})")
        return json.loads(line)

    def refine(self) -> dict:
        """One timed refine: {"wall": s, "cpu": s}."""
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        return self._reply()

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def compare(this: Path, other: Path, case_path: str, rounds: int) -> dict:
    """Both builds' digests and per-round timings (this build's and the other's, in turns)."""
    workers: dict[str, Worker] = {}
    try:  # the first worker is closed too when the second cannot start
        workers["this"] = Worker(this, case_path)
        workers["other"] = Worker(other, case_path)
        times: dict[str, list[dict]] = {"this": [], "other": []}
        for r in range(rounds):
            for name in ("this", "other") if r % 2 == 0 else ("other", "this"):
                times[name].append(workers[name].refine())
    finally:
        for w in workers.values():
            w.close()
    return {"same_output": workers["this"].digest == workers["other"].digest, "times": times}


def summary(times: dict[str, list[dict]]) -> dict:
    """Medians per build and the quartiles of this build's per-round ratio to the other's."""
    out = {}
    for key in ("wall", "cpu"):
        this = np.array([t[key] for t in times["this"]])
        other = np.array([t[key] for t in times["other"]])
        ratio = this / other
        out[key] = {"this": float(np.median(this)), "other": float(np.median(other)),
                    "ratio": [float(np.quantile(ratio, q)) for q in (0.25, 0.5, 0.75)]}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m seamrefine_train bench_ab", description=__doc__)
    p.add_argument("--other", type=Path, required=True, help="the other checkout's root (git worktree)")
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--size", type=int, default=1024, help="crop side in px (1024: the 1 MP case)")
    p.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    this = Path(__file__).resolve().parents[2]
    image, mask = timing_case(args.photos, args.seed, args.size)
    with tempfile.TemporaryDirectory() as tmp:
        case_path = os.path.join(tmp, "case.npz")
        np.savez(case_path, image=image, mask=mask)
        result = compare(this, args.other.resolve(), case_path, args.rounds)
    stats = summary(result["times"])
    print(f"{args.size} px timing case, {args.rounds} rounds, the builds taking turns; "
          f"outputs {'identical' if result['same_output'] else 'DIFFER'}")
    for key in ("wall", "cpu"):
        s = stats[key]
        print(f"{key}: this {s['this']:.3f} s, other {s['other']:.3f} s (medians); this / other per round "
              f"{s['ratio'][1]:.3f} (quartiles {s['ratio'][0]:.3f} / {s['ratio'][2]:.3f})")
    return 0
