"""Train the texture gate (``seamrefine.runtime.texture``) on synthetic seams from the training photos.

    python -m seamrefine_train train_texture_gate [--photos ../shared/data/train] [--cases 3000]
        [--seed 0] [--sizes 256,320,384,512] [--out server/seamrefine/models/texture_gate.json]

The same recipe as the colour gate (``train_gate``), on what serving does after stage 1: draw a case
(texture families weighted up, ``FAMILY_WEIGHTS``), harmonise its colour as serving does, measure the
texture features on that result, apply the full texture correction (gate = 1) and record what it
gains (band PSNR over the harmonised crop). Then the cost-weighted logistic regression of
``train_gate.fit_logistic``, in which the cases the correction makes worse weigh at least
``HARM_WEIGHT``. A texture correction on a clean photo is small (gains near 1), so clean cases may open
the gate as long as they stay ≥ ``CLEAN_MIN_DB`` from their input (``clean_threshold``); and the ramp
starts where at most ``WORSE_SHARE`` of the artifact cases would be opened and made worse
(``harm_threshold``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from seamrefine.errors import InputError, SeamRefineError
from seamrefine.imaging import imagemath
from seamrefine.imaging import metrics as M
from seamrefine.runtime import harmonise, texture
from seamrefine.runtime.ring_profile import signed_distance
from seamrefine.runtime.seam_gate import GateModel

from . import synthesis
from .train_gate import DEFAULT_PHOTOS, EDGE_ALIGNED, P_EDGE_ALIGNED, fit_logistic, photo_sides, photos_for

FAMILY_WEIGHTS = {
    "clean": 0.2, "color_uniform": 0.05, "color_gradient": 0.04, "color_nonuniform": 0.04, "noise": 0.13,
    "blur": 0.13, "jpeg": 0.1, "latent_smear": 0.13, "truncation": 0.08, "mixed": 0.1,
}
SIZES = (256, 320, 384, 512)
GAIN_OK = 0.3  # dB
CLEAN_WEIGHT = 10.0
MARGIN = 0.25
CLEAN_MIN_DB = 50.0  # every clean training case stays at least this close to its input
WORSE_SHARE = 0.02  # at most this share of the artifact cases may be opened and made worse
HARM_WEIGHT = 5.0  # least weight of a case the correction makes worse
RAMP = 1.5
DEFAULT_OUT = texture.DEFAULT_PATH


def _case(args: tuple[list[Path], list[int], int, int, tuple[int, ...]]) -> dict | None:
    """One case's texture features, measured on its stage-1 result, and what the full correction gains."""
    paths, sides, seed, index, sizes = args
    rng = np.random.default_rng([seed, index])
    names = list(FAMILY_WEIGHTS)
    p = np.array([FAMILY_WEIGHTS[n] for n in names])
    family = names[int(rng.choice(len(names), p=p / p.sum()))]
    cfg = synthesis.SynthConfig(**EDGE_ALIGNED) if rng.random() < P_EDGE_ALIGNED else None
    size = int(rng.choice(sizes))
    pool = photos_for(paths, sides, size)
    photo = synthesis.load_photo(pool[int(rng.integers(len(pool)))])
    case = synthesis.make_case(synthesis.random_crop(photo, size, rng), seed, index, family, cfg)
    try:
        change, _ = harmonise.harmonise(case.composite, case.mask)
    except SeamRefineError:
        return None
    x = np.clip(case.composite + change, 0.0, 1.0).astype(np.float32)
    inside = case.mask >= 0.5
    sd = signed_distance(inside)
    measured = texture.measure_texture(x, inside, sd)
    if measured is None:
        return None
    gains, features, bands = measured
    out = np.clip(x + texture.texture_change(bands, sd, gains, 1.0), 0.0, 1.0)
    band = imagemath.band_weights(case.mask, 16, 8)
    base = M.band_psnr(x, case.clean, band)
    return {"family": family, "features": list(features), "gain": M.band_psnr(out, case.clean, band) - base,
            "psnr_in": M.band_psnr(out, x, band)}


def clean_threshold(logits: np.ndarray, psnr_full: np.ndarray, floor_db: float = CLEAN_MIN_DB) -> float:
    """The lowest ramp start ``lo`` that keeps every clean case at PSNR(out, in) ≥ ``floor_db``.

    The change is linear in the gate's confidence c, so a case whose full correction gives
    PSNR(out, in) = P keeps P − 20·log10(c) ≥ floor_db while c ≤ 10^((P − floor_db)/20); with
    c = (logit − lo) / RAMP that bounds lo from below. ``MARGIN`` is added on top."""
    if logits.size == 0:
        return 0.0
    allowed = np.clip(10.0 ** ((psnr_full - floor_db) / 20.0), 0.0, 1.0)
    return float(np.max(logits - allowed * RAMP) + MARGIN)


def harm_threshold(logits: np.ndarray, gain: np.ndarray, share: float = WORSE_SHARE) -> float:
    """The lowest ``lo`` at which the artifact cases the gate would open and the correction makes
    worse (gain < −0.1 dB) are at most ``share`` of all artifact cases."""
    harmful = np.sort(logits[gain < -0.1])[::-1]  # highest first
    allowed = int(np.floor(share * logits.size))
    return float(harmful[allowed]) if harmful.size > allowed else float("-inf")


def record(rows: list[dict], model: GateModel) -> dict:
    """Per family: cases, mean gain and share worse (< −0.1 dB) with the gate at its midpoint, and the
    share it opens."""
    out = {}
    for fam in FAMILY_WEIGHTS:
        rs = [r for r in rows if r["family"] == fam]
        if not rs:
            continue
        conf = np.array([model.confidence(np.array(r["features"])) for r in rs])
        gains = np.where(conf >= 0.5, [r["gain"] for r in rs], 0.0)
        out[fam] = {"cases": len(rs), "gain_db": round(float(gains.mean()), 3),
                    "worse": round(float((gains < -0.1).mean()), 4),
                    "opened": round(float((conf > 0).mean()), 4)}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m seamrefine_train train_texture_gate",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    ap.add_argument("--cases", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)), help="crop sizes in px, comma-separated")
    ap.add_argument("--rows", type=Path, default=None, help="also save every case's features and gain (.npz)")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    try:
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
    except SeamRefineError as e:
        print(f"train_texture_gate: {e.message}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    sides = photo_sides(paths)
    jobs = [(paths, sides, args.seed, i, sizes) for i in range(args.cases)]
    if args.workers > 1:
        with Pool(args.workers) as pool:
            rows = [r for r in pool.imap(_case, jobs, chunksize=8) if r is not None]
    else:
        rows = [r for r in map(_case, jobs) if r is not None]
    x = np.array([r["features"] for r in rows])
    gain = np.array([r["gain"] for r in rows])
    clean = np.array([r["family"] == "clean" for r in rows])
    y = ((gain > GAIN_OK) & ~clean).astype(float)
    w = np.where(clean, CLEAN_WEIGHT, np.clip(np.abs(gain), 0.3, 10.0))
    w = np.where(~clean & (gain < -0.1), np.maximum(w, HARM_WEIGHT), w)
    mean, scale, weights, bias = fit_logistic(x, y, w)
    logits = ((x - mean) / scale) @ weights + bias
    psnr_in = np.array([r["psnr_in"] for r in rows])
    lo = max(clean_threshold(logits[clean], psnr_in[clean]), harm_threshold(logits[~clean], gain[~clean]))
    model = GateModel(mean, scale, weights, bias, lo, lo + RAMP, texture.TEXTURE_FEATURES)
    doc = model.to_dict()
    cmd = " ".join(sys.argv[1:] if argv is None else argv)
    doc["training"] = {
        "command": f"python -m seamrefine_train train_texture_gate {cmd}".strip(),
        "photos": str(args.photos), "cases": len(rows), "seed": args.seed,
        "seconds": round(time.perf_counter() - t0, 1), "per_family": record(rows, model),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    if args.rows:
        np.savez_compressed(args.rows, features=x, gain=gain, psnr_in=psnr_in,
                            family=np.array([r["family"] for r in rows]))
    print(json.dumps(doc["training"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
