"""Seam benchmark: classical baselines and the refiner on a fixed, seeded set of synthetic seams.

    seam-refine bench [--photos DIR] [--per-family 12] [--size 320] [--model PATH] [--json OUT.json]
                      [--sheet OUT.png] [--selection default|hug] [--seams training|heldout] [--quick]
    python -m seamrefine_train.bench ...

Cases: for family f (``synthesis.FAMILIES``) and k < per-family, index = 1000·i_f + k; the photo and the
crop come from ``np.random.default_rng([seed, index])`` and the case is ``make_case(crop, seed, index, f)``,
with the synthesis's own edges or, with ``--selection hug``, those of ``SELECTIONS["hug"]``; with
``--seams heldout`` the case is ``heldout_seams.make_case(crop, seed, index, f)`` instead (colour seams
made unlike the training synthesis, with their own feathers and selections).
Per method and family it prints band PSNR (weighted by ``band_weights(mask, 16, 8)``, the pixels a
method may change), gain over the composite, band ΔE00, boundary gradient error (±3 px ring), the
reduction of noise / sharpness mismatch vs the composite (mismatch = |log-ratio inner/outer ring of the
output − that of the clean photo|; reduction = 1 − mean(method)/mean(composite)), the shares of cases
with band PSNR up / down by more than ``bench_report.TOL_DB``, mean no-reference ``seam_score`` and
median ms per megapixel. Then one PASS/FAIL line per acceptance target (``targets``; docs/benchmark.md).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
from seamrefine.errors import InputError, SeamRefineError
from seamrefine.imaging import imagemath
from seamrefine.imaging import metrics as M
from seamrefine.imaging.seam_score import seam_score
from seamrefine.runtime.allocator import keep_large_buffers
from seamrefine.runtime.classical import classical_change
from seamrefine.runtime.inference import Refiner, refine_box
from seamrefine.runtime.params import RefineParams
from seamrefine.runtime.session import DEFAULT_MODEL, load_manifest

from . import baselines, heldout_seams, synthesis
from .bench_report import (
    TIMING_RUNS,
    colour_shift,
    contact_sheet,
    format_bins,
    format_report,
    summarise,
    timing_1mp,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PHOTOS = REPO_ROOT.parent / "shared" / "data" / "val"
CLASSICAL = ("identity", "feather", "poisson", "poisson_membrane", "seamless_clone", "color_transfer", "mkl")
DEFAULT_METHODS = (*CLASSICAL, "harmonise")  # harmonise: the refiner's classical stage alone
# the fixes artists use today
PEERS = ("poisson", "poisson_membrane", "seamless_clone", "color_transfer", "mkl")
COLOR = ("color_uniform", "color_gradient", "color_nonuniform")
TEXTURE = ("noise", "blur", "jpeg")
SELECTIONS = {
    "default": {},  # the synthesis's edges: selections grown or shrunk against the fill, feathers 2–16 px
    # the selection is the pasted shape, half of them hard and half feathered over 2–6 px, fills 5–40 %
    # of the crop: where the plain Poisson membrane is at its best
    "hug": {"paste_offset_range": (0, 0), "user_dilate_range": (0, 0), "p_soft_user_mask": 0.0,
            "p_leak": 0.0, "p_hard_edge": 0.5, "feather_range": (2.0, 6.0), "area_range": (0.05, 0.4)},
}
# whose seams: the training synthesis's families, or colour seams made unlike it (``heldout_seams``)
SEAMS = {"training": synthesis.FAMILIES, "heldout": heldout_seams.FAMILIES}


def iter_cases(photos_dir: Path, per_family: int, size: int, seed: int, families,
               selection: str = "default", seams: str = "training") -> Iterator:
    """The benchmark cases in order (family by family), generated lazily, with the edges of
    ``SELECTIONS[selection]``, cut from the photos at least ``synthesis.MIN_SIDE_FRAC`` × ``size`` on
    their shorter side (all of them when none is); with ``seams`` "heldout" the seams and selections
    of ``heldout_seams`` instead (``selection`` must then be "default"). Raises InputError up front
    when the folder is missing or holds no photos, or the selection or seams are unknown."""
    if selection not in SELECTIONS:
        raise InputError(f"unknown selection {selection!r}; known: {', '.join(SELECTIONS)}", selection)
    if seams not in SEAMS:
        raise InputError(f"unknown seams {seams!r}; known: {', '.join(SEAMS)}", seams)
    if seams == "heldout" and selection != "default":
        raise InputError("held-out seams draw their own selections: leave --selection out", selection)
    config = synthesis.SynthConfig(**SELECTIONS[selection]) if SELECTIONS[selection] else None
    paths = synthesis.list_photos(photos_dir)
    if not paths:
        raise InputError(f"no .jpg/.png photos in {str(photos_dir)!r}", str(photos_dir))
    # large crops from the photos large enough for them (val's are all ≥ 240 px at the default 320)
    paths = synthesis.photos_for(paths, synthesis.photo_sides(paths), size)

    def gen() -> Iterator:
        for fi, fam in enumerate(SEAMS[seams]):
            if fam not in families:
                continue
            for k in range(per_family):
                index = 1000 * fi + k
                rng = np.random.default_rng([seed, index])
                j = int(rng.integers(len(paths)))
                crop = synthesis.random_crop(synthesis.load_photo(paths[j]), size, rng)
                case = (heldout_seams.make_case(crop, seed, index, fam) if seams == "heldout"
                        else synthesis.make_case(crop, seed, index, fam, config))
                case.params["photo"] = paths[j].name
                yield case

    return gen()


def build_cases(photos_dir: Path, per_family: int, size: int, seed: int, families,
                selection: str = "default", seams: str = "training") -> list:
    """``iter_cases`` as a list."""
    return list(iter_cases(photos_dir, per_family, size, seed, families, selection, seams))


def make_methods(names: list[str], model: str | None, samples: int) -> dict[str, Callable]:
    methods: dict[str, Callable] = {}
    refiner = None  # the session (onnxruntime, the model file) only when asked for, one for both
    for name in names:
        if name in ("refiner", "refiner_unscored"):  # unscored: without the seam scores, as the plug-ins ask
            refiner = refiner or Refiner(model)
            params = RefineParams(samples=samples, scores=name == "refiner")
            methods[name] = lambda c, m, r=refiner, p=params: r.refine(c, m, p)[0]
        elif name == "harmonise":  # the refiner's classical stage alone
            methods[name] = harmonised
        elif name in baselines.BASELINES:
            methods[name] = baselines.BASELINES[name]
        else:
            known = ", ".join([*baselines.BASELINES, "harmonise", "refiner", "refiner_unscored"])
            raise InputError(f"unknown method {name!r}; known: {known}", name)
    return methods


@functools.cache
def _shipped_manifest() -> dict:
    """The shipped model's manifest, read once (``harmonised`` runs per case)."""
    return load_manifest(DEFAULT_MODEL)


def harmonised(composite: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The refiner's classical stage alone (``seamrefine.runtime.classical``; no network) on the crop the
    refiner gives it (``inference.refine_box``), pasted through the same band as every method."""
    box, out = refine_box(mask, _shipped_manifest()), composite.copy()
    out[box.slices] += classical_change(composite[box.slices], mask[box.slices])[0]
    return baselines.finish(composite, mask, out)


def _safe(fn: Callable[[], float]) -> float:
    try:
        return float(fn())
    except SeamRefineError:  # e.g. a stroke too thin for the ring statistics
        return float("nan")


def case_metrics(out: np.ndarray, case, ref: dict) -> dict:
    """Metrics of one output; ``ref`` holds the clean photo's ring log-ratios and the band."""
    band = ref["band"]
    return {
        "psnr": M.band_psnr(out, case.clean, band),
        "psnr_in": M.band_psnr(out, case.composite, band),
        "de": M.band_delta_e(out, case.clean, band),
        "grad": _safe(lambda: M.boundary_gradient_error(out, case.clean, case.mask)),
        "noise_mm": abs(_safe(lambda: M.noise_mismatch(out, case.mask)) - ref["noise"]),
        "blur_mm": abs(_safe(lambda: M.blur_mismatch(out, case.mask)) - ref["blur"]),
        "seam": _safe(lambda: seam_score(out, case.mask)),
        "changed_outside": int((out[band == 0] != case.composite[band == 0]).any(axis=-1).sum()),
    }


def run(cases: Iterable, methods: dict[str, Callable], sheet_per_family: int = 0) -> tuple[list[dict], dict]:
    """Run every method on every case. Returns the per-(case, method) rows and the first
    ``sheet_per_family`` cases of each family by case number (their outputs kept in ``row["out"]``)."""
    rows: list[dict] = []
    kept: dict[int, object] = {}
    per_fam: dict[str, int] = {}
    for ci, case in enumerate(cases):
        keep = per_fam.get(case.family, 0) < sheet_per_family
        if keep:
            per_fam[case.family] = per_fam.get(case.family, 0) + 1
            kept[ci] = case
        band = imagemath.band_weights(case.mask, baselines.BAND_WIDTH, baselines.BAND_FEATHER)
        ref = {
            "band": band,
            "noise": _safe(lambda c=case: M.noise_mismatch(c.clean, c.mask)),
            "blur": _safe(lambda c=case: M.blur_mismatch(c.clean, c.mask)),
        }
        base = case_metrics(case.composite, case, ref)
        seam_clean = _safe(lambda c=case: seam_score(c.clean, c.mask))
        shift = colour_shift(case)
        for name, fn in methods.items():
            t0 = time.perf_counter()
            out = fn(case.composite, case.mask)
            ms = (time.perf_counter() - t0) * 1000
            mp = case.mask.size / 1e6
            row = {"case": ci, "family": case.family, "method": name, "ms_per_mp": ms / mp, "shift": shift}
            row.update(case_metrics(np.asarray(out, np.float32), case, ref))
            row["gain"] = row["psnr"] - base["psnr"]
            row["seam_clean"] = seam_clean
            for key in ("grad", "noise_mm", "blur_mm", "de", "seam"):
                row[key + "_base"] = base[key]
            if keep:
                row["out"] = out
            rows.append(row)
    return rows, kept


def targets(summary: dict, method: str) -> list[tuple[str, bool | None, str]]:
    """The acceptance targets for ``method``: (description, passed or None when n/a, measured value)."""
    res: list[tuple[str, bool | None, str]] = []

    def get(fam: str, m: str, key: str) -> float | None:
        v = summary.get(fam, {}).get(m, {}).get(key)
        return None if v is None or not np.isfinite(v) else float(v)

    def add(text: str, value: float | None, ok: Callable[[float], bool], fmt: str = "{:+.2f}") -> None:
        res.append(
            (text, None if value is None else bool(ok(value)), "n/a" if value is None else fmt.format(value))
        )

    def over_best_peer(fam: str) -> float | None:
        p = get(fam, method, "psnr")
        peers = [q for q in (get(fam, m, "psnr") for m in PEERS if m != method) if q is not None]
        return None if p is None or not peers else p - max(peers)

    for fam in COLOR:
        add(f"{fam}: gain ≥ +7 dB", get(fam, method, "gain"), lambda v: v >= 7.0)
        add(f"{fam}: ≥ best peer + 2 dB", over_best_peer(fam), lambda v: v >= 2.0)
        add(f"{fam}: ΔE00 ≤ 1.0 (visible: shift ≥ 1 %)", get(fam, method, "de_visible"), lambda v: v <= 1.0,
            "{:.2f}")
        add(f"{fam}: shift < 1 %: not below the composite", get(fam, method, "gain_subtle"),
            lambda v: v >= 0.0)
    for fam in ("latent_smear", "mixed"):
        add(f"{fam}: ≥ best peer + 1 dB", over_best_peer(fam), lambda v: v >= 1.0)
    for fam in TEXTURE:
        add(f"{fam}: PSNR not below composite", get(fam, method, "gain"), lambda v: v >= 0.0)
        add(
            f"{fam}: noise+sharpness mismatch −50 %",
            get(fam, method, "texture_reduction"),
            lambda v: v >= 0.5,
            "{:.0%}",
        )
    add(
        "truncation: boundary grad error −30 %",
        get("truncation", method, "grad_reduction"),
        lambda v: v >= 0.3,
        "{:.0%}",
    )
    add("artifact cases worse ≤ 5 %", get("all_artifacts", method, "worse"), lambda v: v <= 0.05, "{:.0%}")
    add(
        "clean: min PSNR(out, in) ≥ 45 dB", get("clean", method, "psnr_in_min"), lambda v: v >= 45.0, "{:.1f}"
    )
    changed = sum(
        s.get(method, {}).get("changed_outside", 0) for f, s in summary.items() if f != "all_artifacts"
    )
    add("zero pixels changed outside the band", float(changed), lambda v: v == 0, "{:.0f}")
    return res


def format_targets(summary: dict, methods: list[str]) -> str:
    judged = [m for m in methods if m != "identity"]
    table = {m: targets(summary, m) for m in judged}
    lines = ["", "== targets ==", f"{'target':42s} " + " ".join(f"{m:>18s}" for m in judged)]
    for i, (text, _, _) in enumerate(table[judged[0]] if judged else []):
        if all(table[m][i][1] is None for m in judged):  # no family it judges was run
            continue
        cells = []
        for m in judged:
            _, ok, val = table[m][i]
            cells.append(f"{('n/a' if ok is None else 'PASS' if ok else 'FAIL') + ' ' + val:>18s}")
        lines.append(f"{text:42s} " + " ".join(cells))
    return "\n".join(lines)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="seam-refine bench", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--photos", type=Path, default=DEFAULT_PHOTOS, help="folder of photos (default ../shared/data/val)"
    )
    p.add_argument("--per-family", type=int, default=12, help="cases per family (default 12)")
    p.add_argument("--size", type=int, default=320,
                   help="crop size in px (default 320; most val photos are 481×321)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--selection", default="default", choices=list(SELECTIONS),
                   help="how selections meet the fill: the synthesis's own edges (default) or 'hug'")
    p.add_argument("--seams", default="training", choices=list(SEAMS),
                   help="the training synthesis's seams (default) or held-out ones (heldout_seams)")
    p.add_argument("--families", default=None, help="comma-separated subset (default: all of --seams')")
    p.add_argument("--methods", default=None,
                   help=f"comma list (default {','.join(DEFAULT_METHODS)}[,refiner])")
    p.add_argument(
        "--model", default=None, help="refiner .onnx (adds the refiner method; 'shipped' = default)"
    )
    p.add_argument("--samples", type=int, default=1, help="refiner multi-sample pooling count")
    p.add_argument("--json", type=Path, default=None, help="write the summary and per-case rows as JSON")
    p.add_argument("--sheet", type=Path, default=None, help="write a PNG contact sheet")
    p.add_argument("--sheet-per-family", type=int, default=1, help="cases per family on the sheet")
    p.add_argument("--tile", type=int, default=256, help="contact sheet tile size in px")
    p.add_argument("--no-timing", action="store_true", help="skip the 1 MP refiner-vs-poisson timing")
    p.add_argument(
        "--quick", action="store_true", help="2 cases per family at 128 px, no 1 MP timing (tests)"
    )
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.quick:
        args.per_family, args.size, args.no_timing = min(args.per_family, 2), min(args.size, 128), True
    keep_large_buffers()  # the daemon's malloc settings (``seam-refine serve``), for every method alike
    try:
        if args.per_family < 1 or args.size < 32:
            raise InputError(f"need --per-family ≥ 1 and --size ≥ 32, got {args.per_family}, {args.size}",
                             args.size)
        known = SEAMS[args.seams]
        families = [f.strip() for f in (args.families or ",".join(known)).split(",") if f.strip()]
        bad = [f for f in families if f not in known]
        if bad:
            raise InputError(f"unknown families {bad}; known: {', '.join(known)}", bad)
        names = (
            args.methods.split(",")
            if args.methods
            else [*DEFAULT_METHODS] + (["refiner"] if args.model else [])
        )
        model = None if args.model in (None, "shipped") else args.model
        methods = make_methods([n.strip() for n in names if n.strip()], model, args.samples)
        cases = iter_cases(args.photos, args.per_family, args.size, args.seed, families, args.selection,
                           args.seams)
    except SeamRefineError as e:
        print(f"seam-refine bench: {e.message}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    rows, kept = run(cases, methods, args.sheet_per_family if args.sheet else 0)
    summary = summarise(rows)
    names = list(methods)
    cmd = "seam-refine bench " + " ".join(sys.argv[1:] if argv is None else argv)
    print(
        f"{cmd}\n{len({r['case'] for r in rows})} cases "
        f"({args.per_family}/family, {args.size} px, seed {args.seed}, "
        f"{'held-out seams' if args.seams == 'heldout' else args.selection + ' selections'}) "
        f"from {args.photos}; {time.perf_counter() - t0:.0f} s"
    )
    print(format_report(summary, names))
    print(format_bins(rows, names, heldout_seams.COLOUR if args.seams == "heldout" else COLOR))
    print(format_targets(summary, names))
    timing = {}
    if not args.no_timing and "poisson" in methods and "refiner" in methods:
        timed = {k: methods[k] for k in ("poisson", "refiner")}
        timed |= make_methods(["refiner_unscored"], model, args.samples)
        timing = timing_1mp(timed, args.photos, args.seed, jpeg_photo=("refiner", "refiner_unscored"))
        print(
            f"\n1 MP timing (median of {TIMING_RUNS} after a warm-up): refiner {timing['refiner']:.2f} s, "
            f"poisson {timing['poisson']:.2f} s, "
            f"ratio refiner/poisson {timing['refiner'] / timing['poisson']:.2f}; "
            f"refiner with the photo a JPEG {timing['refiner_jpeg_photo']:.2f} s; without the seam scores "
            f"(as the plug-ins ask) {timing['refiner_unscored']:.2f} s, with the photo a JPEG "
            f"{timing['refiner_unscored_jpeg_photo']:.2f} s"
        )
    if args.json:
        per_case = [{k: v for k, v in r.items() if k != "out"} for r in rows]
        judged = {
            m: [{"target": t, "pass": ok, "value": v} for t, ok, v in targets(summary, m)]
            for m in names
            if m != "identity"
        }
        doc = {
            "command": cmd,
            "config": {k: str(v) for k, v in vars(args).items()},
            "summary": summary,
            "targets": judged,
            "timing_1mp_s": timing,
            "cases": per_case,
        }
        args.json.write_text(json.dumps(doc, indent=1, default=float))
    if args.sheet:
        contact_sheet(kept, rows, names, args.sheet, args.tile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
