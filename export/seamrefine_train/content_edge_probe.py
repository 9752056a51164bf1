"""How often the classical stage changes a clean photo whose selection follows its own content edges.

    python -m seamrefine_train content_edge_probe [--photos ../shared/data/train]
        [--selections magic_wand|colour_cluster] [--cases 200] [--seed 31]

Top to bottom: per case a crop (256–512 px) of a photo, a selection along its content edges
(``content_selections``), and the classical stage (``classical.classical_change``) on the untouched
crop, with the content-edge check (``runtime.content_edge``) switched off and as served; prints, per
variant, how many selections end below 45 dB and below 35 dB from their input (band PSNR, as the
benchmark's clean cases), the lowest, and how many are touched at all. Run against an older build's
``server/`` (PYTHONPATH) without the check, it prints that build's one line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from seamrefine.errors import SeamRefineError
from seamrefine.imaging import imagemath
from seamrefine.imaging import metrics as M
from seamrefine.runtime import classical

from . import content_selections, synthesis

try:
    from seamrefine.runtime import content_edge
except ImportError:  # a build before the forty-fifth session
    content_edge = None

SIZES = (256, 320, 384, 512)
TRAIN_PHOTOS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "train"
HARM_DB = 45.0  # the clean target
BAD_DB = 35.0


def run_case(crop: np.ndarray, mask: np.ndarray, check: bool) -> float:
    """Band PSNR of the classical stage's output against its input, the check on or off."""
    if content_edge is not None:
        real = content_edge.follows_content_edge
        if not check:
            content_edge.follows_content_edge = lambda *a, **k: False
    try:
        change, _ = classical.classical_change(crop, mask)
    finally:
        if content_edge is not None:
            content_edge.follows_content_edge = real
    band = imagemath.band_weights(mask, 16, 8)
    return M.band_psnr(np.clip(crop + change, 0.0, 1.0), crop, band)


def summary(name: str, psnr: np.ndarray) -> str:
    """One line: selections below ``HARM_DB`` and ``BAD_DB``, the lowest, how many were touched."""
    return (f"{name}: {len(psnr)} selections, below {HARM_DB:g} dB {np.sum(psnr < HARM_DB)} "
            f"({np.mean(psnr < HARM_DB):.1%}), below {BAD_DB:g} dB {np.sum(psnr < BAD_DB)}, "
            f"lowest {psnr.min():.1f} dB, touched {np.sum(psnr < 99.9)}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m seamrefine_train content_edge_probe",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=Path, default=TRAIN_PHOTOS)
    ap.add_argument("--selections", choices=list(content_selections.GENERATORS), default="magic_wand")
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--seed", type=int, default=31)
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        paths = synthesis.list_photos(args.photos)
    except SeamRefineError:  # no such folder
        paths = []
    if not paths or args.cases < 1:
        print(f"content_edge_probe: need photos in {str(args.photos)!r} and --cases ≥ 1", file=sys.stderr)
        return 2
    variants = (False, True) if content_edge is not None else (True,)
    rows = []
    for i in range(args.cases):
        rng = np.random.default_rng([args.seed, i])
        size = int(rng.choice(SIZES))
        crop = synthesis.random_crop(synthesis.load_photo(paths[int(rng.integers(len(paths)))]), size, rng)
        mask = content_selections.GENERATORS[args.selections](crop, rng)
        if mask is None:
            continue
        try:
            rows.append([run_case(crop, mask, check) for check in variants])
        except SeamRefineError:
            continue
    if not rows:
        print("content_edge_probe: no selection could be drawn", file=sys.stderr)
        return 2
    psnr = np.array(rows)
    print(f"{args.selections} selections of clean crops from {args.photos}, seed {args.seed}")
    names = ("check off", "as served") if content_edge is not None else ("as served (no check here)",)
    for j, name in enumerate(names):
        print(summary(name, psnr[:, j]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
