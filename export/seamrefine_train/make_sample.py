"""Make the bundled demo composite from the CC0 sample photo with the project's own synthesis.

    python -m seamrefine_train.make_sample [--seed 7] [--index 25] [--family color_uniform]

Writes server/seamrefine/samples/coffee_composite.png and coffee_mask.png (8-bit).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from .synthesis import load_photo, make_case

SAMPLES = Path(__file__).resolve().parents[2] / "server" / "seamrefine" / "samples"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--index", type=int, default=25)
    ap.add_argument("--family", default="color_uniform")
    ap.add_argument("--out", type=Path, default=SAMPLES)
    args = ap.parse_args(argv)
    case = make_case(load_photo(SAMPLES / "coffee.png"), args.seed, args.index, family=args.family)
    args.out.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.rint(case.composite * 255).astype(np.uint8)).save(args.out / "coffee_composite.png")
    Image.fromarray(np.rint(case.mask * 255).astype(np.uint8)).save(args.out / "coffee_mask.png")
    print(f"{case.family}: {case.params.get('families', '')} -> {args.out}")


if __name__ == "__main__":
    main()
