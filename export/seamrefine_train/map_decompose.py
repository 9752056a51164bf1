"""Where the refiner's colour map loses against the edge oracle: its gain, its offset and plane, or
its ramp.

    python -m seamrefine_train map_decompose [--photos DIR] [--per-family 24] [--size 320]
                                             [--seed 2424] [--selection default|hug]

On the benchmark's colour cases (``bench.iter_cases``; by default training photos, so that val stays
for the benchmark) the classical stage measures the seam as it serves (``harmonise.measure``: the
ranker's candidate, the grown zone, ``fit_colour_map``), and the map is applied in full, without the
seam gate, in six ways, and as served, behind the shipped gate, in two. Band PSNR gain over the
composite, per family and edge kind:

* ``est``: the map as fitted, through the measured ramp (``harmonise.correction``);
* ``est_true_alpha``: the same parameters through the paste's true alpha;
* ``oracle``: the map's form (per channel gain, offset, plane) fitted by least squares to the true
  drift on the fully pasted pixels within ``colour_ceiling.STRIP_PX`` px of the paste's edge, in
  the fitted map's own coordinates, through the measured ramp;
* ``oracle_true_alpha``: those parameters through the true alpha (``colour_ceiling``'s ``edge_map``);
* ``oracle_gain``: the oracle's gain with the offset and plane the refiner's fitter finds for it
  across the found zone (its samples weighed as served, ``content_step``);
* ``oracle_offset``: the refiner's gain with the offset and plane the oracle's least squares give
  for it;
* ``served``: the classical colour stage as it serves (``harmonise.apply``: the seam gate's
  confidence, its capped lower ramp and refusal; without the edge membrane and the later stages);
* ``served_oracle``: the same gate and policy (it judges the features of the seam as measured)
  applying the ``oracle`` map instead: what an exact map would add to what is served.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
from seamrefine.errors import SeamRefineError
from seamrefine.imaging import imagemath
from seamrefine.imaging import metrics as M
from seamrefine.runtime import content_step, harmonise
from seamrefine.runtime.colour_map import fit_colour_map

from .bench import COLOR, SELECTIONS, iter_cases
from .colour_ceiling import edge_strip, fully_pasted, least_squares_map
from .train_gate import DEFAULT_PHOTOS

VARIANTS = ("est", "est_true_alpha", "oracle", "oracle_true_alpha", "oracle_gain", "oracle_offset",
            "served", "served_oracle")


def decompose(case) -> dict | None:
    """The band PSNR gain of every ``VARIANTS`` map on one case (None when there is no fully pasted
    region, no map, or the seam was measured on a reduced image)."""
    x, clean, alpha = case.composite, case.clean, case.alpha
    if alpha is None or fully_pasted(alpha).sum() < 50:
        return None
    m = harmonise.measure(x, case.mask)
    est = m.seam.colour_map
    if est is None or m.f != 1:
        return None
    strip = edge_strip(alpha)
    oracle = least_squares_map(x, clean, strip, est.centre, est.scale)
    maps = {
        "est": est, "oracle": oracle,
        "oracle_gain": fit_colour_map(m.profile, m.seam.position, m.seam.gap, gain=oracle.gain,
                                      weights=content_step.sample_weights(m.profile, m.seam.position,
                                                                          m.seam.gap)),
        "oracle_offset": least_squares_map(x, clean, strip, est.centre, est.scale, gain=est.gain),
    }
    sd = harmonise.full_distance(m)
    swapped = {name: dataclasses.replace(m, seam=dataclasses.replace(m.seam, colour_map=cmap))
               for name, cmap in maps.items()}
    changes = {name: harmonise.correction(x, mm, 1.0, sd=sd)[0] for name, mm in swapped.items()}
    changes["served"] = harmonise.apply(x, m)[0]
    changes["served_oracle"] = harmonise.apply(x, swapped["oracle"])[0]
    pasted = alpha.astype(np.float32)
    changes["est_true_alpha"] = est.change(x, 1, pasted)
    changes["oracle_true_alpha"] = oracle.change(x, 1, pasted)
    band = imagemath.band_weights(case.mask, 16, 8)
    base = M.band_psnr(x, clean, band)
    out = {"family": case.family, "edge": case.params.get("edge", {}).get("edge", "hard")}
    for name in VARIANTS:
        result = imagemath.composite(x, np.clip(x + changes[name], 0.0, 1.0), band)
        out[name] = M.band_psnr(result, clean, band) - base
    return out


def format_table(rows: list[dict]) -> str:
    """Mean gain per family and edge kind (hard / feathered / all)."""
    lines = [f"| family | edges | cases | {' | '.join(VARIANTS)} |", f"|---|---|---|{'---|' * len(VARIANTS)}"]
    for fam in dict.fromkeys(r["family"] for r in rows):
        for kind in ("hard", "feathered", "all"):
            sel = [r for r in rows if r["family"] == fam and kind in ("all", "hard" if r["edge"] == "hard"
                                                                      else "feathered")]
            if sel:
                vals = " | ".join(f"{np.mean([r[v] for r in sel]):+.2f}" for v in VARIANTS)
                lines.append(f"| {fam} | {kind} | {len(sel)} | {vals} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m seamrefine_train map_decompose",
                                description=__doc__.split("\n")[0])
    p.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    p.add_argument("--per-family", type=int, default=24)
    p.add_argument("--size", type=int, default=320)
    p.add_argument("--seed", type=int, default=2424)
    p.add_argument("--selection", default="default", choices=sorted(SELECTIONS))
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        cases = iter_cases(args.photos, args.per_family, args.size, args.seed, COLOR, args.selection)
        rows = [r for r in map(decompose, cases) if r is not None]
    except SeamRefineError as e:
        print(f"map_decompose: {e.message}", file=sys.stderr)
        return 2
    print(f"band PSNR gain over the composite, dB: the maps in full without the gate, and as served "
          f"({args.per_family}/family, "
          f"{args.size} px, seed {args.seed}, {args.selection} selections)")
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
