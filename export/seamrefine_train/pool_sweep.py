"""How the map ranker's pool (``harmonise.pooled_zones``) gains against its pick alone, per temperature.

    python -m seamrefine_train pool_sweep [--photos ../shared/data/train] [--cases 400] [--seed 1]
        [--temperatures 0.1,0.14,0.18,0.25,0.4] [--workers 2]

Top to bottom: draw colour seams as the map ranker's trainer does (``train_rank``: a crop, a colour
family, a hugging or a default selection); for each, the map fitted across the ranker's pick applied
in full, then at every temperature the pooled map (``colour_map.pooled``) on the pick's ramp, as
served; print per family the mean band PSNR gain over the composite (dB) and the share of cases more
than 0.1 dB worse. Seeds 1 and 2 are cases the shipped ranker never trained on (its seed is 0).
The thirty-first session chose ``seam_rank.POOL_TEMPERATURE`` from this table (MODEL.md, "Stage 1").
"""

from __future__ import annotations

import functools
import sys

import numpy as np
from seamrefine.errors import SeamRefineError
from seamrefine.imaging import imagemath
from seamrefine.imaging import metrics as M
from seamrefine.runtime import harmonise, seam_rank, seam_zone
from seamrefine.runtime.colour_map import ColourMap, pooled

from . import train_gate, train_rank

TEMPERATURES = (0.1, 0.14, 0.18, 0.25, 0.4)


def _case(args, temperatures: tuple[float, ...]) -> dict | None:
    """One colour seam's gains: the pick's map ("pick") and the pool's at each temperature."""
    family, case = train_gate.draw_case(args, train_rank.FAMILY_WEIGHTS)
    try:
        f, inside, profile, sd = harmonise.ring_profile_of(case.composite, case.mask)
    except SeamRefineError:
        return None
    cands = [c for c in profile.all_stats(harmonise.CANDIDATES) if c is not None]
    if not cands:
        return None
    band = imagemath.band_weights(case.mask, 16, 8)
    base = M.band_psnr(case.composite, case.clean, band)
    maps: dict[tuple[int, int], ColourMap] = {}

    def gain(zones: dict[tuple[int, int], float]) -> float:
        for z in zones:
            maps.setdefault(z, harmonise.zone_map(profile, *z))
        cmap = pooled([maps[z] for z in zones], list(zones.values()))
        seam = harmonise.Seam(*next(iter(zones)), 0.0, 0.0, (), cmap)
        m = harmonise.Measurement(f, inside, profile, seam, sd)
        change, _ = harmonise.correction(case.composite, m, 1.0)
        return M.band_psnr(np.clip(case.composite + change, 0.0, 1.0), case.clean, band) - base

    picked = seam_rank.pick(cands, seam_rank.MAP)
    row = {"family": family, "pick": gain({seam_zone.grow_zone(profile, picked.position, picked.gap): 1.0})}
    for t in temperatures:
        row[f"pool {t:g}"] = gain(harmonise.pooled_zones(profile, cands, t))
    return row


def format_table(rows: list[dict]) -> str:
    """Markdown: per variant (the pick, the pool at each temperature), the mean gain of each family
    and of all cases, and the share of cases more than 0.1 dB worse."""
    families = [f for f in train_rank.FAMILY_WEIGHTS if any(r["family"] == f for r in rows)]
    lines = [f"| variant | {' | '.join(families)} | all | worse |", "|---" * (len(families) + 3) + "|"]
    for key in (k for k in rows[0] if k != "family"):
        v = np.array([r[key] for r in rows])
        fam = np.array([r["family"] for r in rows])
        cells = [f"{v[fam == f].mean():+.3f}" for f in families]
        lines.append(f"| {key} | {' | '.join(cells)} | {v.mean():+.3f} | {(v < -0.1).mean():.1%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = train_gate.gate_parser("python -m seamrefine_train pool_sweep", __doc__, None, train_rank.SIZES)
    ap.add_argument("--temperatures", default=",".join(f"{t:g}" for t in TEMPERATURES),
                    help="softmax temperatures of the pool, comma-separated")
    ap.set_defaults(cases=400, seed=1)
    args = ap.parse_args(argv)
    try:
        temperatures = tuple(float(t) for t in args.temperatures.split(",") if t.strip())
    except ValueError:
        temperatures = ()
    if not temperatures or min(temperatures) <= 0:
        print(f"pool_sweep: --temperatures must list numbers > 0, got {args.temperatures!r}", file=sys.stderr)
        return 2
    try:
        rows = train_gate.gather(args, functools.partial(_case, temperatures=temperatures))
    except SeamRefineError as e:
        print(f"pool_sweep: {e.message}", file=sys.stderr)
        return 2
    if not rows:
        print("pool_sweep: no case could be measured", file=sys.stderr)
        return 2
    print(f"{len(rows)} colour seams, seed {args.seed}, from {args.photos}\n{format_table(rows)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
