"""Train the learned seam gate (``seamrefine.runtime.seam_gate``) on synthetic seams from the training photos.

    python -m seamrefine_train train_gate [--photos ../shared/data/train] [--cases 3000] [--seed 0]
        [--out server/seamrefine/models/seam_gate.json] [--workers 2] [--hidden 8] [--members 5]
        [--rows ROWS.npz] [--from-rows ROWS.npz] [--margin 0.85]

Top to bottom: draw cases (a random crop, a family from ``FAMILY_WEIGHTS``, and with probability
``P_EDGE_ALIGNED`` a selection that hugs the fill's edge, else the default synthesis with grown /
shrunk selections); for each, measure the seam and its gate features, and apply the full correction
(gate = 1) to learn what it would gain (band PSNR over the composite). Then fit a cost-weighted
classifier: label = the correction gains more than ``GAIN_OK`` dB, weight = |gain| clipped to
[0.3, 10]; clean cases are labelled 0 with weight ``CLEAN_WEIGHT``. The classifier is the mean of
``--members`` small tanh networks of ``--hidden`` units (``gate_mlp``; since the seventeenth session),
or with ``--hidden 0`` an L2-regularised logistic regression (``GATE_L2``). The ramp starts
``--margin`` (default ``MARGIN``) above the highest clean logit, so no clean training case is touched.
The JSON gets the weights and a training record (command, photos, cases, per-family gains under the
gate). ``--rows`` also saves every case's features and gains; ``--from-rows`` fits on such a file
instead of drawing cases (seconds instead of half an hour: the same weights for the same rows).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from seamrefine.errors import InputError, SeamRefineError
from seamrefine.imaging import imagemath
from seamrefine.imaging import metrics as M
from seamrefine.runtime import harmonise, seam_gate

from . import gate_mlp, synthesis

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PHOTOS = REPO_ROOT.parent / "shared" / "data" / "train"
FAMILY_WEIGHTS = {
    "clean": 0.2, "color_uniform": 0.16, "color_gradient": 0.1, "color_nonuniform": 0.1, "noise": 0.08,
    "blur": 0.07, "jpeg": 0.06, "latent_smear": 0.08, "truncation": 0.05, "mixed": 0.1,
}
P_EDGE_ALIGNED = 0.5
EDGE_ALIGNED = {"paste_offset_range": (0, 0), "user_dilate_range": (0, 0), "p_leak": 0.0}
SIZES = (256, 320, 384, 512, 640, 768)
CASE_DRAW_STREAM = 7  # draw_case's generator: [seed, index, 7], as the network's data (data.py)
GAIN_OK = 0.3  # dB
CLEAN_WEIGHT = 10.0
L2 = 1e-2  # fit_logistic's default (the texture and grain gates')
GATE_L2 = 1e-3  # the seam gate's (tenth session; was L2)
MARGIN = 0.85  # logit units above the highest clean case (0.25 until the twenty-eighth session's whitened
# features, whose ramp two of 4500 fresh clean selections reached from just under it at 0.25; then 0.85;
# 1.1 in the thirty-third session, whose runners-up features spread clean logits wider; 0.85 since the
# thirty-fourth session's 12,000 cases, whose 2,500 clean ones place the ramp higher: 3 of 9,000 fresh
# clean selections below 45 dB, 9 for the 6,000-case gate at 1.1; MODEL.md, "Stage 1")
RAMP = 1.0  # logit units from no correction to full correction (1.5 before the eighteenth session)


def draw_case(args: tuple[list[Path], list[int], int, int, tuple[int, ...]], weights: dict):
    """Training case ``index`` of a gate trainer's job ``args`` = (paths, sides, seed, index, sizes):
    its family drawn from ``weights``, a hugging or a default selection (``P_EDGE_ALIGNED``), a crop
    size from ``sizes`` cut from a photo large enough for it. Returns (family, case)."""
    paths, sides, seed, index, sizes = args
    # a stream of its own: make_case seeds [seed, index], and sharing it tied the family to the
    # selection's shape (every clean training case was a blob, every mixed one a rectangle)
    rng = np.random.default_rng([seed, index, CASE_DRAW_STREAM])
    names = list(weights)
    p = np.array([weights[n] for n in names])
    family = names[int(rng.choice(len(names), p=p / p.sum()))]
    cfg = synthesis.SynthConfig(**EDGE_ALIGNED) if rng.random() < P_EDGE_ALIGNED else None
    size = int(rng.choice(sizes))
    pool = synthesis.photos_for(paths, sides, size)
    photo = synthesis.load_photo(pool[int(rng.integers(len(pool)))])
    return family, synthesis.make_case(synthesis.random_crop(photo, size, rng), seed, index, family, cfg)


def _case(args: tuple[list[Path], list[int], int, int, tuple[int, ...]]) -> dict | None:
    """One training case's gate features and what the full correction would gain."""
    family, case = draw_case(args, FAMILY_WEIGHTS)
    return measured_row(case.composite, case.mask, case.clean, family)


def measured_row(composite: np.ndarray, mask: np.ndarray, clean: np.ndarray, family: str) -> dict | None:
    """A case's gate features and what the colour map in full does there: its band PSNR gain over the
    composite, the band's PSNR from its input, ``band_moments`` and the mean |change| in the fill;
    None when no seam could be measured."""
    try:
        m = harmonise.measure(composite, mask)
    except SeamRefineError:
        return None
    if not m.seam.features:
        return None
    change, _ = harmonise.correction(composite, m, 1.0)
    band = imagemath.band_weights(mask, 16, 8)
    out = np.clip(composite + change, 0.0, 1.0)
    base = M.band_psnr(composite, clean, band)
    dd, dc, cc = band_moments(change, composite - clean, band)
    return {"family": family, "features": list(m.seam.features), "base": base,
            "gain": M.band_psnr(out, clean, band) - base,
            "psnr_in": M.band_psnr(out, composite, band), "dd": dd, "dc": dc, "cc": cc,
            "mean_change": float(np.abs(change[m.inside]).mean()) if m.inside.any() else 0.0}


def band_moments(change: np.ndarray, error: np.ndarray, band: np.ndarray) -> tuple[float, float, float]:
    """(dd, dc, cc): the band-weighted means (as ``metrics.band_psnr`` weighs) of change², change ·
    error and error², with ``error`` = composite − clean. The composite plus c · change then has the
    band MSE dd·c² + 2·dc·c + cc against the clean photo (before clipping), so any gate's gain on a
    case follows from its confidence alone (``gated_gain``)."""
    w = band.astype(np.float64)[..., None]
    total = 3.0 * float(w.sum())
    d, e = change.astype(np.float64), error.astype(np.float64)
    return tuple(float((w * a * b).sum() / total) for a, b in ((d, d), (d, e), (e, e)))


def gated_gain(dd, dc, cc, conf) -> np.ndarray:
    """Band PSNR gain over the composite of composite + conf · change (unclipped), from
    ``band_moments`` (arrays broadcast). For a clean case (cc = 0) it is PSNR(out, in) −
    ``metrics.PSNR_CAP_DB``: how far the gate moved it."""
    dd, dc, cc, c = (np.asarray(v, np.float64) for v in (dd, dc, cc, conf))
    floor = 10.0 ** (-M.PSNR_CAP_DB / 10.0)
    mse = np.maximum(dd * c * c + 2.0 * dc * c + cc, floor)
    return 10.0 * np.log10(np.maximum(cc, floor) / mse)


def fit_logistic(x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = L2, iters: int = 50):
    """Weighted, L2-regularised logistic regression by Newton's method on standardised features.

    Returns (mean, scale, weights, bias) with logit = ((x − mean)/scale)·weights + bias."""
    mean, scale = x.mean(0), x.std(0) + 1e-9
    a = np.concatenate([(x - mean) / scale, np.ones((len(x), 1))], 1)
    theta = np.zeros(a.shape[1])
    reg = l2 * w.sum() * np.diag([1.0] * (a.shape[1] - 1) + [0.0])
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(a @ theta)))
        grad = a.T @ (w * (p - y)) + reg @ theta
        hess = (a * (w * p * (1 - p))[:, None]).T @ a + reg
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.abs(step).max() < 1e-8:
            break
    return mean, scale, theta[:-1], float(theta[-1])


def fit_rows(rows: list[dict], gain_ok: float, clean_weight: float, harm_weight: float = 0.0,
             l2: float = L2):
    """The cost-weighted logistic regression of a gate trainer on its rows: label = gain > ``gain_ok``
    (clean cases 0), weight = |gain| clipped to [0.3, 10] (clean cases ``clean_weight``; cases made
    worse at least ``harm_weight``), ridge ``l2``. Returns ((mean, scale, weights, bias), logits, gain,
    clean)."""
    x, y, w, gain, clean = gate_labels(rows, gain_ok, clean_weight, harm_weight)
    mean, scale, weights, bias = fit_logistic(x, y, w, l2)
    return (mean, scale, weights, bias), ((x - mean) / scale) @ weights + bias, gain, clean


def gate_labels(rows: list[dict], gain_ok: float, clean_weight: float, harm_weight: float = 0.0):
    """A gate trainer's rows as (features N×F, labels, weights, gains, clean flags): label = gain >
    ``gain_ok`` (clean cases 0), weight = |gain| clipped to [0.3, 10] (clean cases ``clean_weight``;
    cases made worse at least ``harm_weight``)."""
    x = np.array([r["features"] for r in rows])
    gain = np.array([r["gain"] for r in rows])
    clean = np.array([r["family"] == "clean" for r in rows])
    y = ((gain > gain_ok) & ~clean).astype(float)
    w = np.where(clean, clean_weight, np.clip(np.abs(gain), 0.3, 10.0))
    w = np.where(~clean & (gain < -0.1), np.maximum(w, harm_weight), w)
    return x, y, w, gain, clean


def record(rows: list[dict], model: seam_gate.GateModel, families=FAMILY_WEIGHTS) -> dict:
    """Per family: cases, mean gain and share worse (< −0.1 dB) with the gate applied (hard at its
    midpoint: an approximation of the soft ramp), and the share of cases the gate opens."""
    out = {}
    for fam in families:
        rs = [r for r in rows if r["family"] == fam]
        if not rs:
            continue
        conf = np.array([model.confidence(np.array(r["features"])) for r in rs])
        gains = np.where(conf >= 0.5, [r["gain"] for r in rs], 0.0)
        out[fam] = {
            "cases": len(rs),
            "gain_db": round(float(gains.mean()), 3),
            "worse": round(float((gains < -0.1).mean()), 4),
            "opened": round(float((conf > 0).mean()), 4),
        }
    return out


def gate_parser(prog: str, doc: str, default_out: Path, sizes: tuple[int, ...]) -> argparse.ArgumentParser:
    """The options every gate trainer takes."""
    ap = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    ap.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    ap.add_argument("--cases", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=default_out)
    ap.add_argument("--sizes", default=",".join(map(str, sizes)), help="crop sizes in px, comma-separated")
    ap.add_argument("--rows", type=Path, default=None, help="also save every case's features and gain (.npz)")
    return ap


def add_network_options(ap: argparse.ArgumentParser, hidden: int, members: int, min_hidden: int) -> None:
    """``--hidden`` (units per network; 0 means a logistic regression where ``min_hidden`` is 0) and
    ``--members`` (networks averaged), checked by ``check_network_options``."""
    ap.add_argument("--hidden", type=int, default=hidden,
                    help="units per network" + (" (0: logistic)" if min_hidden == 0 else ""))
    ap.add_argument("--members", type=int, default=members, help="networks averaged")
    ap.set_defaults(min_hidden=min_hidden)


def check_network_options(args: argparse.Namespace) -> None:
    """InputError (carrying both values) unless --hidden and --members are in range."""
    if args.hidden < args.min_hidden or args.members < 1:
        raise InputError(f"need --hidden ≥ {args.min_hidden} and --members ≥ 1, got {args.hidden} and "
                         f"{args.members}", (args.hidden, args.members))


def gather(args: argparse.Namespace, case_fn, indices: range | None = None) -> list[dict]:
    """Check the options (InputError naming the bad one), then ``case_fn`` on every case (``indices``,
    default ``range(args.cases)``), on ``args.workers`` processes; the cases it could not measure
    (None) are dropped."""
    paths = synthesis.list_photos(args.photos)
    if not paths:
        raise InputError(f"no .jpg/.png photos in {str(args.photos)!r}", str(args.photos))
    if args.cases < 20:
        raise InputError(f"need --cases ≥ 20, got {args.cases}", args.cases)
    try:
        sizes = tuple(int(v) for v in args.sizes.split(",") if v.strip())
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 64:
        raise InputError(f"--sizes must list crop sizes ≥ 64 px, got {args.sizes!r}", args.sizes)
    sides = synthesis.photo_sides(paths)
    jobs = [(paths, sides, args.seed, i, sizes) for i in (range(args.cases) if indices is None else indices)]
    if args.workers > 1:
        with Pool(args.workers) as pool:
            return [r for r in pool.imap(case_fn, jobs, chunksize=8) if r is not None]
    return [r for r in map(case_fn, jobs) if r is not None]


def save(model: seam_gate.GateModel, rows: list[dict], args: argparse.Namespace, command: str,
         seconds: float, families, extra: dict | None = None) -> None:
    """Write the gate JSON with its training record (plus ``extra``; and ``--rows``), and print the
    record."""
    doc = model.to_dict()
    doc["training"] = {
        "command": command, "photos": str(args.photos), "cases": len(rows), "seed": args.seed,
        "seconds": round(seconds, 1), "per_family": record(rows, model, families), **(extra or {}),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    if args.rows:
        extra = {k: np.array([r[k] for r in rows]) for k in rows[0] if k not in ("family", "features")}
        np.savez_compressed(args.rows, features=np.array([r["features"] for r in rows]),
                            family=np.array([r["family"] for r in rows]), **extra)
    print(json.dumps(doc["training"], indent=1))


def load_rows(path: Path) -> list[dict]:
    """The rows a ``--rows`` file holds (features, family, gain and the band moments per case);
    InputError naming the file when it cannot be read or its features are not ``seam_gate.FEATURES``."""
    try:
        with np.load(path) as data:
            cols = {k: data[k] for k in data.files}
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read the rows in {str(path)!r}: {e}", str(path)) from e
    width = cols["features"].shape[1] if cols.get("features", np.zeros(0)).ndim == 2 else None
    if width != len(seam_gate.FEATURES) or not {"family", "gain"} <= set(cols):
        raise InputError(f"{str(path)!r} holds no gate rows of {len(seam_gate.FEATURES)} features "
                         f"(features width {width}, columns {sorted(cols)})", str(path))
    return [{k: (v[i].tolist() if k == "features" else v[i].item()) for k, v in cols.items()}
            for i in range(len(cols["gain"]))]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = gate_parser("python -m seamrefine_train train_gate", __doc__, seam_gate.DEFAULT_PATH, SIZES)
    add_network_options(ap, gate_mlp.HIDDEN, gate_mlp.MEMBERS, min_hidden=0)
    ap.add_argument("--from-rows", type=Path, default=None, help="fit on the rows a --rows file holds")
    ap.add_argument("--margin", type=float, default=MARGIN, help="ramp start above the highest clean logit")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    try:
        check_network_options(args)
        rows = load_rows(args.from_rows) if args.from_rows else gather(args, _case)
    except SeamRefineError as e:
        print(f"train_gate: {e.message}", file=sys.stderr)
        return 2
    x, y, w, gain, clean = gate_labels(rows, GAIN_OK, CLEAN_WEIGHT)
    layer = {}
    if args.hidden:
        mean, scale, w1, b1, weights, bias = gate_mlp.fit_members(x, y, w, args.seed, args.hidden,
                                                                   args.members)
        layer = {"hidden": w1, "hidden_bias": b1}
    else:
        mean, scale, weights, bias = fit_logistic(x, y, w, GATE_L2)
    fitted = seam_gate.GateModel(mean, scale, weights, bias, 0.0, RAMP, **layer)  # ramp placed below
    logits = fitted.logits(x)
    lo = float(logits[clean].max() + args.margin) if clean.any() else 0.0
    model = dataclasses.replace(fitted, lo=lo, hi=lo + RAMP)
    command = f"python -m seamrefine_train train_gate {' '.join(argv)}".strip()
    extra = {"from_rows": str(args.from_rows)} if args.from_rows else None
    save(model, rows, args, command, time.perf_counter() - t0, FAMILY_WEIGHTS, extra)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
