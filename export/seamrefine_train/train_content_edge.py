"""Train the content-edge check (``seamrefine.runtime.content_edge``) on selections along content edges.

    python -m seamrefine_train train_content_edge [--photos ../shared/data/train] [--cases 3000]
        [--aligned 1200] [--seed 0] [--keep 0.99] [--out server/seamrefine/models/content_edge.json]
        [--workers 2] [--rows ROWS.npz]

Top to bottom: draw ``--aligned`` clean crops with a selection along their own content edges
(``content_selections.colour_cluster``) and ``--cases`` cases as the seam gate's trainer draws them
(``train_gate.draw_case``). For each, the seam's gate features, the seam gate's logit and what the
colour map in full would change and gain (``harmonise.measure`` / ``correction``). The positives are
the content-edge selections that serving changes (past the gate's capped start, under the mean-change
refusal); the negatives the artifact cases the gate opens on (its confidence above 0), each weighed
by what serving gains there (at least 0.1 dB, normalised to a mean of 1). A logistic regression on
``content_edge.FEATURES`` separates them, and its threshold (the file's ``lo``) is the ``--keep``
quantile of the negatives' logits: that share of them keeps the correction the gate gives. The JSON
gets the weights (``seam_gate.GateModel``'s format) and a training record: the counts, the shares of
positives and negatives past the threshold, and the share of the draw's served gain those negatives
held.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
from seamrefine.errors import InputError, SeamRefineError
from seamrefine.runtime import content_edge, harmonise, seam_gate

from . import content_selections, synthesis, train_gate

STREAM = 4141  # the content-edge selections' per-case stream tag, apart from the gate draw's
SIZES = (256, 320, 384, 512)
KEEP = 0.99  # of the negatives' logits below the threshold
L2 = 1e-3
MIN_WEIGHT_DB = 0.1  # a negative weighs what serving gains there, at least this


def measured_row(composite: np.ndarray, mask: np.ndarray, clean: np.ndarray, family: str) -> dict | None:
    """One case's check inputs and labels: the seam gate trainer's row (``train_gate.measured_row``:
    the gate's features, the full map's mean |change| in the fill and band moments) with the seam
    gate's logit; None when no seam could be measured."""
    row = train_gate.measured_row(composite, mask, clean, family)
    if row is not None:
        row["logit"] = seam_gate.load().logit(np.asarray(row["features"]))
    return row


def _aligned_case(args: tuple) -> dict | None:
    """A clean crop whose selection follows its content edges (``content_selections.colour_cluster``)."""
    paths, sides, seed, index, sizes = args
    rng = np.random.default_rng([seed, index, STREAM])
    size = int(rng.choice(sizes))
    pool = synthesis.photos_for(paths, sides, size)
    crop = synthesis.random_crop(synthesis.load_photo(pool[int(rng.integers(len(pool)))]), size, rng)
    mask = content_selections.colour_cluster(crop, rng)
    return None if mask is None else measured_row(crop, mask, crop, "content_edge")


def _drawn_case(args: tuple) -> dict | None:
    """A case as the seam gate's trainer draws it."""
    family, case = train_gate.draw_case(args, train_gate.FAMILY_WEIGHTS)
    return measured_row(case.composite, case.mask, case.clean, family)


def served(rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the seam gate's confidence and the band PSNR gain of the map at that strength
    (``train_gate.gated_gain``; the capped strength below the ramp left out)."""
    gate = seam_gate.load()
    logit = np.array([r["logit"] for r in rows])
    conf = np.clip((logit - gate.lo) / (gate.hi - gate.lo), 0.0, 1.0)
    gain = train_gate.gated_gain(*(np.array([r[k] for r in rows]) for k in ("dd", "dc", "cc")), conf)
    return conf, np.where(np.array([r["mean_change"] for r in rows]) > harmonise.MAX_MEAN_CHANGE, 0.0, gain)


def split(rows: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(positive, negative, weight, artifact, served gain) per row: positives are content-edge
    selections that serving changes; negatives artifact cases the gate opens on, weighed by what
    serving gains there (``served``)."""
    fam = np.array([r["family"] for r in rows])
    logit = np.array([r["logit"] for r in rows])
    small = np.array([r["mean_change"] for r in rows]) <= harmonise.MAX_MEAN_CHANGE
    conf, gain = served(rows)
    artifact = ~np.isin(fam, ["content_edge", "clean"])
    positive = (fam == "content_edge") & (logit >= harmonise.capped_from()) & small
    negative = artifact & (conf > 0) & small
    weight = np.where(negative, np.maximum(gain, MIN_WEIGHT_DB), 1.0)
    if negative.any():
        weight[negative] /= weight[negative].mean()
    return positive, negative, weight, artifact, gain


def fit(rows: list[dict], keep: float = KEEP) -> tuple[seam_gate.GateModel, dict]:
    """The check's weights and its training record. InputError (with the counts) when there are too
    few positives or negatives to fit."""
    positive, negative, weight, artifact, gain = split(rows)
    if positive.sum() < 5 or negative.sum() < 5:
        raise InputError(f"need ≥ 5 content-edge selections that serving changes and ≥ 5 opened artifact "
                         f"cases, got {int(positive.sum())} and {int(negative.sum())}",
                         (int(positive.sum()), int(negative.sum())))
    x = np.array([content_edge.features(r["features"], r["mean_change"]) for r in rows])
    used = positive | negative
    mean, scale, w, b = train_gate.fit_logistic(x[used], positive[used].astype(float), weight[used], l2=L2)
    logits = ((x - mean) / scale) @ w + b
    threshold = float(np.quantile(logits[negative], keep))
    model = seam_gate.GateModel(mean, scale, w, float(b), threshold, threshold + 1.0, content_edge.FEATURES)
    held = negative & (logits >= threshold)
    share_held = gain[held].clip(0).sum() / max(gain[artifact].clip(0).sum(), 1e-9)
    record = {"content_edge_selections": int(np.sum([r["family"] == "content_edge" for r in rows])),
              "positives": int(positive.sum()), "negatives": int(negative.sum()),
              "positives_held": round(float(np.mean(logits[positive] >= threshold)), 4),
              "negatives_held": round(float(np.mean(logits[negative] >= threshold)), 4),
              "served_gain_held": round(float(share_held), 4)}
    return model, record


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = train_gate.gate_parser("python -m seamrefine_train train_content_edge", __doc__, content_edge.PATH,
                                SIZES)
    ap.add_argument("--aligned", type=int, default=1200, help="clean selections along content edges")
    ap.add_argument("--keep", type=float, default=KEEP, help="share of the negatives under the threshold")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    try:
        if not 0.5 <= args.keep < 1.0:
            raise InputError(f"need 0.5 ≤ --keep < 1, got {args.keep}", args.keep)
        rows = train_gate.gather(args, _aligned_case, range(args.aligned))
        rows += train_gate.gather(args, _drawn_case)
        model, record = fit(rows, args.keep)
    except SeamRefineError as e:
        print(f"train_content_edge: {e.message}", file=sys.stderr)
        return 2
    doc = model.to_dict()
    doc["training"] = {"command": f"python -m seamrefine_train train_content_edge {' '.join(argv)}".strip(),
                       "photos": str(args.photos), "cases": args.cases, "aligned": args.aligned,
                       "seed": args.seed, "keep": args.keep,
                       "seconds": round(time.perf_counter() - t0, 1), **record}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    seam_gate.forget(args.out)
    if args.rows:
        np.savez_compressed(args.rows, family=np.array([r["family"] for r in rows]),
                            features=np.array([r["features"] for r in rows]),
                            **{k: np.array([r[k] for r in rows])
                               for k in ("logit", "mean_change", "dd", "dc", "cc", "base")})
    print(json.dumps(doc["training"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
