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
(``harm_threshold``), ``MARGIN`` higher, which held-out clean cases needed.

Serving caps the change (``texture.CAP_DB``) so that a wrongly opened gate cannot spoil a clean photo.
The gate's ``certain`` logit says where that cap may lift: ``CERTAIN_MARGIN`` above every clean case
whose full change would move it further than the cap allows (``certain_threshold``), judged on the
training cases and on ``--clean-cases`` more clean ones drawn for this alone (indices after the
training cases', so never the same crops).

    python -m seamrefine_train train_texture_gate --recalibrate --seed 5 --clean-cases 5000 \
        --sizes 256,320,384,512,640,768

keeps the gate in ``--out`` (weights, ``lo``) and only raises its ``certain`` logit where clean cases
of a fresh draw (``--seed``, indices 0 … ``--clean-cases`` − 1) need it (``recalibrate``); the record
of each recalibration is appended to the file's training record.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from seamrefine.errors import SeamRefineError
from seamrefine.imaging import imagemath
from seamrefine.imaging import metrics as M
from seamrefine.runtime import harmonise, seam_gate, texture
from seamrefine.runtime.ring_profile import signed_distance
from seamrefine.runtime.seam_gate import GateModel

from .train_gate import draw_case, fit_rows, gate_parser, gather, save

FAMILY_WEIGHTS = {
    "clean": 0.2, "color_uniform": 0.05, "color_gradient": 0.04, "color_nonuniform": 0.04, "noise": 0.13,
    "blur": 0.13, "jpeg": 0.1, "latent_smear": 0.13, "truncation": 0.08, "mixed": 0.1,
}
SIZES = (256, 320, 384, 512)
GAIN_OK = 0.3  # dB
CLEAN_WEIGHT = 10.0
MARGIN = 0.0  # logit units above both thresholds. Before the serving-side cap (``texture.CAP_DB``) it
# was 1: with 0 one of 391 held-out clean cases (seed 1) fell to 36.7 dB; the cap bounds that at 46 dB
CLEAN_MIN_DB = 50.0  # every clean training case stays at least this close to its input
WORSE_SHARE = 0.03  # at most this share of the artifact cases may be opened and made worse
HARM_WEIGHT = 5.0  # least weight of a case the correction makes worse
RAMP = 0.5  # logit units; 1.5 before the seventh session, when the cap alone held clean cases
CERTAIN_MARGIN = 0.5  # logit units above the highest clean case the cap had to hold back
CLEAN_CASES = 3000
CLEAN_ONLY = {"clean": 1.0}
DEFAULT_OUT = texture.DEFAULT_PATH


def _case(args: tuple[list[Path], list[int], int, int, tuple[int, ...]],
          weights: dict = FAMILY_WEIGHTS) -> dict | None:
    """One case's texture features, measured on its stage-1 result, and what the full correction gains."""
    family, case = draw_case(args, weights)
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
    gains, features = measured
    out = np.clip(x + texture.texture_change(x, sd, gains, 1.0), 0.0, 1.0)
    band = imagemath.band_weights(case.mask, 16, 8)
    base = M.band_psnr(x, case.clean, band)
    return {"family": family, "features": list(features), "gain": M.band_psnr(out, case.clean, band) - base,
            "psnr_in": M.band_psnr(out, x, band), "base": base}


def _clean_case(args: tuple[list[Path], list[int], int, int, tuple[int, ...]]) -> dict | None:
    """``_case`` for a clean-only draw (the calibration of ``certain``)."""
    return _case(args, CLEAN_ONLY)


def certain_threshold(logits: np.ndarray, psnr_full: np.ndarray, lo: float, cap_db: float = texture.CAP_DB,
                      margin: float = CERTAIN_MARGIN) -> float:
    """``margin`` above the highest logit of a clean case whose full change leaves it below ``cap_db``
    PSNR from its input (one the cap had to hold back); ``lo`` when there is none, never below it."""
    held = logits[psnr_full < cap_db]
    return float(max(lo, held.max() + margin)) if held.size else float(lo)


def clean_threshold(logits: np.ndarray, psnr_full: np.ndarray, floor_db: float = CLEAN_MIN_DB,
                    ramp: float = RAMP) -> float:
    """The lowest ramp start ``lo`` that keeps every clean case at PSNR(out, in) ≥ ``floor_db``.

    The change is linear in the gate's confidence c, so a case whose full correction gives
    PSNR(out, in) = P keeps P − 20·log10(c) ≥ floor_db while c ≤ 10^((P − floor_db)/20); with
    c = (logit − lo) / ``ramp`` (the calling gate's ramp) that bounds lo from below. A case with
    P ≥ ``floor_db`` bounds nothing (c never exceeds 1); when no case is below it, the bound is the
    highest logit minus ``ramp``, as if one were. ``MARGIN`` is added on top."""
    if logits.size == 0:
        return 0.0
    below = psnr_full < floor_db
    if not below.any():
        return float(np.max(logits) - ramp + MARGIN)
    allowed = 10.0 ** ((psnr_full[below] - floor_db) / 20.0)
    return float(np.max(logits[below] - allowed * ramp) + MARGIN)


def harm_threshold(logits: np.ndarray, gain: np.ndarray, share: float = WORSE_SHARE) -> float:
    """The lowest ``lo`` at which the artifact cases the gate would open and the correction makes
    worse (gain < −0.1 dB) are at most ``share`` of all artifact cases."""
    harmful = np.sort(logits[gain < -0.1])[::-1]  # highest first
    allowed = int(np.floor(share * logits.size))
    return float(harmful[allowed]) if harmful.size > allowed else float("-inf")


def recalibrate(args, command: str) -> dict:
    """Raise the ``certain`` logit of the gate in ``args.out`` to what ``args.clean_cases`` clean cases
    of seed ``args.seed`` need (never lower it); write it back with the recalibration appended to its
    training record, and return that record. InputError/ModelError on bad options or a bad file."""
    t0 = time.perf_counter()
    seam_gate.forget(args.out)  # the file as it is now, not as this process last read it
    model = seam_gate.load(args.out, texture.TEXTURE_FEATURES, "texture gate")
    rows = gather(args, _clean_case, range(args.clean_cases))
    logits = np.array([model.logit(np.array(r["features"])) for r in rows])
    psnr = np.array([r["psnr_in"] for r in rows])
    certain = max(model.certain, certain_threshold(logits, psnr, model.lo, texture.CAP_DB))
    doc = json.loads(Path(args.out).read_text())
    doc["certain"] = certain
    entry = {"command": command, "seed": args.seed, "sizes": args.sizes, "clean_cases": len(rows),
             "beyond_cap": int((psnr < texture.CAP_DB).sum()), "certain_before": model.certain,
             "certain": certain, "seconds": round(time.perf_counter() - t0, 1)}
    doc.setdefault("training", {}).setdefault("recalibrations", []).append(entry)
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    seam_gate.forget(args.out)
    return entry


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = gate_parser("python -m seamrefine_train train_texture_gate", __doc__, DEFAULT_OUT, SIZES)
    parser.add_argument("--clean-cases", type=int, default=CLEAN_CASES,
                        help="extra clean cases that place the cap's lift (the gate's 'certain' logit)")
    parser.add_argument("--recalibrate", action="store_true",
                        help="keep the gate in --out and only raise its 'certain' logit on --clean-cases")
    args = parser.parse_args(argv)
    if args.clean_cases < 0:
        print(f"train_texture_gate: need --clean-cases ≥ 0, got {args.clean_cases}", file=sys.stderr)
        return 2
    command = f"python -m seamrefine_train train_texture_gate {' '.join(argv)}".strip()
    if args.recalibrate:
        try:
            print(json.dumps(recalibrate(args, command), indent=1))
        except SeamRefineError as e:
            print(f"train_texture_gate: {e.message}", file=sys.stderr)
            return 2
        return 0
    t0 = time.perf_counter()
    try:
        rows = gather(args, _case)
        extra = gather(args, _clean_case, range(args.cases, args.cases + args.clean_cases))
    except SeamRefineError as e:
        print(f"train_texture_gate: {e.message}", file=sys.stderr)
        return 2
    (mean, scale, weights, bias), logits, gain, clean = fit_rows(rows, GAIN_OK, CLEAN_WEIGHT, HARM_WEIGHT)
    psnr_in = np.array([r["psnr_in"] for r in rows])
    harm = harm_threshold(logits[~clean], gain[~clean])
    lo = max(clean_threshold(logits[clean], psnr_in[clean]), harm + MARGIN)
    extra_x = np.array([r["features"] for r in extra]).reshape(len(extra), len(texture.TEXTURE_FEATURES))
    clean_logits = np.concatenate([logits[clean], ((extra_x - mean) / scale) @ weights + bias])
    clean_psnr = np.concatenate([psnr_in[clean], [r["psnr_in"] for r in extra]])
    certain = certain_threshold(clean_logits, clean_psnr, lo)
    model = GateModel(mean, scale, weights, bias, lo, lo + RAMP, texture.TEXTURE_FEATURES, certain)
    save(model, rows, args, command, time.perf_counter() - t0, FAMILY_WEIGHTS,
         {"certain_from_clean_cases": int(clean_logits.size)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
