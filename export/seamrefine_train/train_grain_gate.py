"""Train the grain gate (``seamrefine.runtime.grain``) on synthetic seams from the training photos.

    python -m seamrefine_train train_grain_gate [--photos ../shared/data/train] [--cases 3000]
        [--seed 0] [--sizes 256,320,384,512] [--out server/seamrefine/models/grain_gate.json]

The recipe of the other gates, on what serving does before this stage: draw a case (grain-bearing
families weighted up, ``FAMILY_WEIGHTS``), harmonise its colour and match its texture as serving
does, measure the grain features on that result, apply the full grain change (gate = 1) and record
what it does. Grain that is added does not come back pixel for pixel, so band PSNR alone would
always say no; what the change is for is the **grain mismatch** (``metrics.noise_mismatch`` of the
result against that of the clean photo). A case's utility is therefore ``MM_DB`` dB per unit of
mismatch removed, plus its band-PSNR change where that is negative. But grain that is not the
photo's own realisation costs band PSNR, and a case that ends below its composite counts as made
worse; so a case the full change takes below its composite (by more than 0.1 dB, when it was not
there before) is *harmed*. Then the cost-weighted logistic regression of
``train_gate.fit_logistic`` (label = utility > ``GAIN_OK``, a clearly visible mismatch; harmed cases
weigh at least ``HARM_WEIGHT``). The ramp starts where every clean case stays ≥ ``CLEAN_MIN_DB`` from
its input (``clean_threshold``) and at most ``WORSE_SHARE`` of the artifact cases are opened and
harmed (``harm_threshold``), whichever is higher.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from seamrefine.errors import SeamRefineError
from seamrefine.imaging import imagemath
from seamrefine.imaging import metrics as M
from seamrefine.runtime import grain
from seamrefine.runtime.classical import colour_and_texture
from seamrefine.runtime.seam_gate import GateModel

from .train_gate import draw_case, fit_logistic, gate_parser, gather, save
from .train_texture_gate import clean_threshold

FAMILY_WEIGHTS = {
    "clean": 0.2, "color_uniform": 0.04, "color_gradient": 0.03, "color_nonuniform": 0.03, "noise": 0.2,
    "blur": 0.14, "jpeg": 0.1, "latent_smear": 0.1, "truncation": 0.06, "mixed": 0.1,
}
SIZES = (256, 320, 384, 512)
MM_DB = 4.0  # dB of utility per unit of log grain mismatch removed
GAIN_OK = 2.0  # utility a case needs to be labelled "open" (half a unit of mismatch removed at no cost)
TOL_DB = 0.1  # below its composite by more than this, a case is worse (as ``bench`` counts it)
HARM_WEIGHT = 5.0
CLEAN_WEIGHT = 10.0
CLEAN_MIN_DB = 45.0
WORSE_SHARE = 0.02
RAMP = 1.5
DEFAULT_OUT = grain.DEFAULT_PATH


def _safe_mismatch(x: np.ndarray, mask: np.ndarray) -> float:
    try:
        return M.noise_mismatch(x, mask)
    except SeamRefineError:
        return float("nan")


def _case(args: tuple[list[Path], list[int], int, int, tuple[int, ...]]) -> dict | None:
    """One case's grain features, measured after colour and texture, and what the full change does."""
    family, case = draw_case(args, FAMILY_WEIGHTS)
    try:
        x, _, sd, _ = colour_and_texture(case.composite, case.mask)
    except SeamRefineError:
        return None
    m = grain.measure_grain(x, case.mask >= 0.5, sd)
    if m is None:
        return None
    change = grain.grain_change(x, sd, m, 1.0)
    out = np.clip(x + change, 0.0, 1.0)
    band = imagemath.band_weights(case.mask, 16, 8)
    base = M.band_psnr(x, case.clean, band)
    half = M.band_psnr(np.clip(x + 0.5 * change, 0.0, 1.0), case.clean, band)  # for calibration studies
    ref = _safe_mismatch(case.clean, case.mask)
    mm_before = abs(_safe_mismatch(x, case.mask) - ref)
    mm_after = abs(_safe_mismatch(out, case.mask) - ref)
    if not np.isfinite(mm_before + mm_after):
        return None
    psnr_gain = M.band_psnr(out, case.clean, band) - base
    return {"family": family, "features": list(m.features), "psnr_gain": psnr_gain,
            "gain": MM_DB * (mm_before - mm_after) + min(psnr_gain, 0.0),
            "mm_before": mm_before, "mm_after": mm_after,
            "psnr_in": M.band_psnr(out, x, band), "base": base, "psnr_half": half - base,
            "composite": M.band_psnr(case.composite, case.clean, band)}


def harmed(rows: list[dict]) -> np.ndarray:
    """Per row: the full change takes the case below its composite (by more than ``TOL_DB``) where it
    was not below it before."""
    base = np.array([r["base"] for r in rows])
    composite = np.array([r["composite"] for r in rows])
    after = base + np.array([r["psnr_gain"] for r in rows])
    return (after < composite - TOL_DB) & (base >= composite - TOL_DB)


def harm_threshold(logits: np.ndarray, harm: np.ndarray, share: float = WORSE_SHARE) -> float:
    """The lowest ramp start at which the artifact cases (``logits``) opened and harmed are at most
    ``share`` of them."""
    harmful = np.sort(logits[harm])[::-1]
    allowed = int(np.floor(share * logits.size))
    return float(harmful[allowed]) if harmful.size > allowed else float("-inf")


def fit(rows: list[dict]) -> GateModel:
    """The gate from the rows: the weighted logistic regression, then its ramp."""
    x = np.array([r["features"] for r in rows])
    utility = np.array([r["gain"] for r in rows])
    harm = harmed(rows)
    clean = np.array([r["family"] == "clean" for r in rows])
    y = ((utility > GAIN_OK) & ~clean).astype(float)
    w = np.where(clean, CLEAN_WEIGHT, np.clip(np.abs(utility), 0.3, 10.0))
    w = np.where(~clean & harm, np.maximum(w, HARM_WEIGHT), w)
    mean, scale, weights, bias = fit_logistic(x, y, w)
    logits = ((x - mean) / scale) @ weights + bias
    psnr_in = np.array([r["psnr_in"] for r in rows])
    lo = max(clean_threshold(logits[clean], psnr_in[clean], CLEAN_MIN_DB, RAMP),
             harm_threshold(logits[~clean], harm[~clean]))
    return GateModel(mean, scale, weights, bias, lo, lo + RAMP, grain.GRAIN_FEATURES)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = gate_parser("python -m seamrefine_train train_grain_gate", __doc__, DEFAULT_OUT,
                       SIZES).parse_args(argv)
    t0 = time.perf_counter()
    try:
        rows = gather(args, _case)
    except SeamRefineError as e:
        print(f"train_grain_gate: {e.message}", file=sys.stderr)
        return 2
    model = fit(rows)
    command = f"python -m seamrefine_train train_grain_gate {' '.join(argv)}".strip()
    save(model, rows, args, command, time.perf_counter() - t0, FAMILY_WEIGHTS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
