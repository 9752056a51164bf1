"""Train the content-step regression that weighs the colour map's contour samples
(``seamrefine.runtime.content_step``).

    python -m seamrefine_train train_content_step [--photos DIR] [--per-family 24]
        [--sizes 320 512 1024] [--seeds 3101 3103 3104] [--held-out 3102] [--hidden 16] [--out PATH]

On the benchmark's colour cases (``bench.iter_cases``, default and hugging selections; training photos;
at each crop size, ``--per-family`` · 320 / size cases per family, so each size gives a like number
of contour samples; the larger ones have their box sums taken on bins of pixels)
the seam is measured as it serves (``harmonise.ring_profile_of``, ``find_seam`` without the weights),
and every contour sample of its zone gets the composite's ``content_step.FEATURES`` and, as its
target, log |step across the same zone in the clean photo's ring profile|: the step that is content,
not drift. A one-hidden-layer tanh network (``HIDDEN`` units) is fitted by L-BFGS on the smooth L1
loss; the held-out seed reports R² and the mean within-case rank correlation, the quantity the
weights use. The file takes the seam gate's format (``lo``/``hi`` unused) and a training record.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from seamrefine.errors import SeamRefineError
from seamrefine.runtime import content_step, harmonise, seam_gate

from .bench import COLOR, iter_cases
from .train_gate import DEFAULT_PHOTOS

HIDDEN = 16
MAX_ITER = 400
WEIGHT_DECAY = 1e-4
SMOOTH_L1_BETA = 0.3  # in log step: a few samples whose content steps hugely do not dominate
SELECTIONS = ("default", "hug")


def case_samples(case) -> tuple[np.ndarray, np.ndarray] | None:
    """(features N×F, log content step N) of one case's contour samples, None when no seam can be
    measured or the clean photo's rings differ (the profile was reduced)."""
    f, _, profile, _ = harmonise.ring_profile_of(case.composite, case.mask)
    seam = harmonise.find_seam(profile, weigh=False)
    if f != 1 or seam.colour_map is None:
        return None
    s, g = seam.position, seam.gap
    _, _, ok = profile.across(s, g)
    if ok.sum() < 16:
        return None
    _, _, clean_profile, _ = harmonise.ring_profile_of(case.clean, case.mask)
    outer, inner, _ = clean_profile.across(s, g)
    target = np.log(np.linalg.norm((outer - inner)[ok], axis=1) + 1e-3)
    return content_step.sample_features(profile, s, g)[ok], target


def gather(photos: Path, per_family: int, sizes: list[int], seeds: list[int]) -> tuple[np.ndarray, ...]:
    """Features, targets and a case index per sample over ``seeds`` × ``sizes`` × ``SELECTIONS``."""
    feats, targets, cases = [], [], []
    jobs = [(seed, size, sel) for seed in seeds for size in sizes for sel in SELECTIONS]
    for seed, size, selection in jobs:
        count = max(1, round(per_family * 320 / size))
        for case in iter_cases(photos, count, size, seed, COLOR, selection):
            got = case_samples(case)
            if got is not None:
                feats.append(got[0])
                targets.append(got[1])
                cases.append(np.full(len(got[1]), len(cases)))
    if not feats:
        raise SeamRefineError("no case gave contour samples", photos)
    return np.concatenate(feats), np.concatenate(targets), np.concatenate(cases)


def fit(x: np.ndarray, y: np.ndarray, hidden: int = HIDDEN, seed: int = 0) -> seam_gate.GateModel:
    """The regression of ``y`` on ``x`` (standardised), as a ``GateModel`` whose ``logits`` predict."""
    mean, scale = x.mean(0).astype(np.float64), x.std(0).astype(np.float64) + 1e-9
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.Tanh(),
                              torch.nn.Linear(hidden, 1))
    z = torch.tensor((x - mean) / scale, dtype=torch.float32)
    t = torch.tensor(y, dtype=torch.float32)
    opt = torch.optim.LBFGS(net.parameters(), max_iter=MAX_ITER, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.smooth_l1_loss(net(z)[:, 0], t, beta=SMOOTH_L1_BETA)
        loss = loss + WEIGHT_DECAY * net[0].weight.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    as64 = lambda p: p.detach().double().numpy()  # noqa: E731
    return seam_gate.GateModel(mean, scale, as64(net[2].weight)[0], float(net[2].bias.detach()), 0.0,
                               1.0, content_step.FEATURES, hidden=as64(net[0].weight),
                               hidden_bias=as64(net[0].bias))


def within_case_rank(pred: np.ndarray, y: np.ndarray, cases: np.ndarray) -> float:
    """Mean over cases (≥ 20 samples) of the rank correlation between ``pred`` and ``y``."""
    out = []
    for k in np.unique(cases):
        sel = cases == k
        if sel.sum() >= 20:
            ranks = [np.argsort(np.argsort(v[sel])) for v in (pred, y)]
            out.append(np.corrcoef(*ranks)[0, 1])
    return float(np.mean(out)) if out else float("nan")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="python -m seamrefine_train train_content_step",
                                description=__doc__.split("\n")[0])
    p.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    p.add_argument("--per-family", type=int, default=24)
    p.add_argument("--sizes", type=int, nargs="+", default=[320, 512, 1024])
    p.add_argument("--seeds", type=int, nargs="+", default=[3101, 3103, 3104])
    p.add_argument("--held-out", type=int, default=3102)
    p.add_argument("--hidden", type=int, default=HIDDEN)
    p.add_argument("--out", type=Path, default=content_step.DEFAULT_PATH)
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    try:
        x, y, _ = gather(args.photos, args.per_family, args.sizes, args.seeds)
        xh, yh, ch = gather(args.photos, args.per_family, args.sizes, [args.held_out])
    except SeamRefineError as e:
        print(f"train_content_step: {e.message}", file=sys.stderr)
        return 2
    model = fit(x, y, args.hidden)
    pred = model.logits(xh)
    record = {"samples": int(len(y)), "held_out_samples": int(len(yh)),
              "held_out_r2": float(1 - np.mean((pred - yh) ** 2) / yh.var()),
              "held_out_rank": within_case_rank(pred, yh, ch),
              "command": f"python -m seamrefine_train train_content_step {' '.join(argv)}".strip(),
              "seconds": round(time.perf_counter() - t0, 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**model.to_dict(), "training": record}, indent=1) + "\n")
    seam_gate.forget(args.out)
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
