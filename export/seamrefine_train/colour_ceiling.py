"""How much of a colour seam can be recovered at all? Oracles and simple estimators on bench cases.

    python -m seamrefine_train colour_ceiling [--photos DIR] [--per-family 12] [--size 320] [--seed 0]

Per family it prints the identity band PSNR and the band PSNR *gain* of:

* ``oracle_affine``: one global affine colour map (3×3 + offset) fitted by least squares from the
  composite to the **clean** image on the fully pasted pixels, applied with the mask as weight — the
  best a single per-image colour transform could do (it cheats: it sees the clean image);
* ``oracle_offset``: the same with only a constant offset (mean clean − composite, cheating too);
* ``ring_offset``: the offset estimated from the image alone, as the difference between the median
  colour of a 1 px ring ``RING_PX`` px outside the mask edge and one ``RING_PX`` px inside;
* ``ring_offset_shrunk``: that estimate per 40 px cell, the median over cells, shrunk towards zero by
  its standard error (James–Stein style, factor ``1 − 2·se²/e²``).

It answers whether the colour targets are limited by the network or by the information in the
composite: when an honest estimator loses against identity, the content difference across the seam
is larger than the colour step, and no refiner can see the step either.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from seamrefine.errors import SeamRefineError
from seamrefine.imaging import imagemath
from seamrefine.imaging import metrics as M

from .bench import COLOR, DEFAULT_PHOTOS, build_cases
from .masks import signed_distance

RING_PX = 2
CELL_PX = 40
METHODS = ("oracle_affine", "oracle_offset", "ring_offset", "ring_offset_shrunk")


def _fully_pasted(alpha: np.ndarray) -> np.ndarray:
    """Pixels with alpha ≥ 0.99, or ≥ 0.5 when fewer than 50 are fully pasted (narrow strokes)."""
    sel = alpha >= 0.99
    return sel if sel.sum() >= 50 else alpha >= 0.5


def oracle_affine(
    composite: np.ndarray, clean: np.ndarray, alpha: np.ndarray, mask: np.ndarray
) -> np.ndarray:
    """Least-squares affine map composite → clean on pixels with alpha ≥ 0.99, applied with weight mask."""
    sel = _fully_pasted(alpha)
    x = np.concatenate([composite[sel], np.ones((int(sel.sum()), 1), np.float32)], 1)
    coef, *_ = np.linalg.lstsq(x, clean[sel], rcond=None)
    flat = np.concatenate([composite.reshape(-1, 3), np.ones((composite[..., 0].size, 1), np.float32)], 1)
    mapped = (flat @ coef).reshape(composite.shape)
    return np.clip(composite + mask[..., None] * (mapped - composite), 0, 1).astype(np.float32)


def oracle_offset(
    composite: np.ndarray, clean: np.ndarray, alpha: np.ndarray, mask: np.ndarray
) -> np.ndarray:
    """The mean clean − composite offset over the fully pasted pixels, applied with weight mask."""
    sel = _fully_pasted(alpha)
    off = (clean[sel] - composite[sel]).mean(0)
    return np.clip(composite + mask[..., None] * off, 0, 1).astype(np.float32)


def ring_offset(composite: np.ndarray, mask: np.ndarray, shrink: bool) -> np.ndarray:
    """Offset = median(outer ring) − median(inner ring), optionally per cell with shrinkage (see module)."""
    sd = signed_distance(mask >= 0.5, 40)
    inner = (sd >= RING_PX - 0.5) & (sd < RING_PX + 0.5)
    outer = (sd <= 0.5 - RING_PX) & (sd > -0.5 - RING_PX)
    if not shrink:
        if inner.sum() < 10 or outer.sum() < 10:
            return composite.copy()
        off = np.median(composite[outer], 0) - np.median(composite[inner], 0)
    else:
        h, w = mask.shape
        yy, xx = np.mgrid[0:h, 0:w]
        cell = (yy // CELL_PX) * (w // CELL_PX + 1) + xx // CELL_PX
        ests = []
        for c in np.unique(cell[inner | outer]):
            i, o = inner & (cell == c), outer & (cell == c)
            if i.sum() >= 5 and o.sum() >= 5:
                ests.append(np.median(composite[o], 0) - np.median(composite[i], 0))
        if len(ests) < 3:
            return composite.copy()
        e = np.array(ests)
        off = np.median(e, 0)
        se = 1.25 * e.std(0) / np.sqrt(len(e))
        off = off * np.clip(1.0 - 2.0 * se**2 / np.maximum(off**2, 1e-12), 0.0, 1.0)
    return np.clip(composite + mask[..., None] * off, 0, 1).astype(np.float32)


def gains(case) -> dict[str, float]:
    """Band PSNR of identity and the gain of every method in ``METHODS`` for one synthetic case."""
    band = imagemath.band_weights(case.mask, 16, 8)
    base = M.band_psnr(case.composite, case.clean, band)
    outs = {
        "oracle_affine": oracle_affine(case.composite, case.clean, case.alpha, case.mask),
        "oracle_offset": oracle_offset(case.composite, case.clean, case.alpha, case.mask),
        "ring_offset": ring_offset(case.composite, case.mask, shrink=False),
        "ring_offset_shrunk": ring_offset(case.composite, case.mask, shrink=True),
    }
    res = {"identity": base}
    for name, out in outs.items():
        out = imagemath.composite(case.composite, out, band)
        res[name] = M.band_psnr(out, case.clean, band) - base
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m seamrefine_train colour_ceiling", description=__doc__.split("\n")[0]
    )
    p.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    p.add_argument("--per-family", type=int, default=12)
    p.add_argument("--size", type=int, default=320)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--families", default=",".join((*COLOR, "latent_smear", "mixed")))
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    fams = [f for f in args.families.split(",") if f]
    per: dict[str, list[dict]] = {}
    try:
        cases = build_cases(args.photos, args.per_family, args.size, args.seed, fams)
    except SeamRefineError as e:
        print(f"colour_ceiling: {e.message}", file=sys.stderr)
        return 2
    for case in cases:
        per.setdefault(case.family, []).append(gains(case))
    print(f"band PSNR gain over identity, dB ({args.per_family}/family, {args.size} px, seed {args.seed})")
    print(f"| family | identity | {' | '.join(METHODS)} |\n|---|---|{'---|' * len(METHODS)}")
    for fam, rows in per.items():
        vals = " | ".join(f"{np.mean([r[m] for r in rows]):+.2f}" for m in METHODS)
        print(f"| {fam} | {np.mean([r['identity'] for r in rows]):.2f} | {vals} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
