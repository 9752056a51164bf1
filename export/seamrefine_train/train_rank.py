"""Train a learned seam ranker (``seamrefine.runtime.seam_rank``) on synthetic colour seams.

    python -m seamrefine_train train_rank [--ranker gate|map] [--photos ../shared/data/train]
        [--cases 1600] [--seed 0] [--out the ranker's file in server/seamrefine/models/] [--workers 2]
        [--hidden 8] [--members 3] [--rows ROWS.npz]

Top to bottom: draw colour cases as the gate trainer does (``train_gate.draw_case``: a random crop,
a colour family, a hugging or a default selection); for each, measure every candidate seam
(``harmonise.CANDIDATES``) and what the colour map fitted across its grown zone, its samples weighed
by the content step as served (``harmonise.zone_map``; unweighed before the thirtieth
session), would gain applied in full (band PSNR over the composite). ``--ranker`` names one of
``seam_rank.RANKERS`` and so the features (the gate's: the nine plain step statistics; the map's:
those and the whitened z). Then fit small tanh networks (``--members`` of ``--hidden`` units,
averaged) whose scores rank each case's candidates: a listwise loss, the cross-entropy of the
scores' softmax against the softmax of the gains over ``TEMPERATURE`` dB. The JSON gets the
weights (``seam_gate.GateModel``'s format, ramp unused) and a training record: per family, the mean
gain of the candidate the ranker picks, of the one with the largest z (the rule before), and of the
best.
"""

from __future__ import annotations

import functools
import json
import sys
import time

import numpy as np
import torch
from seamrefine.errors import SeamRefineError
from seamrefine.imaging import imagemath
from seamrefine.imaging import metrics as M
from seamrefine.runtime import harmonise, seam_gate, seam_rank, seam_zone

from . import train_gate

FAMILY_WEIGHTS = {"color_uniform": 0.4, "color_gradient": 0.3, "color_nonuniform": 0.3}
SIZES = (256, 320, 384, 512, 640, 768)
TEMPERATURE = 3.0  # dB: how sharply the target prefers the best candidates
MAX_GAIN = 20.0  # dB; gains are clipped to [−MAX_GAIN / 2, MAX_GAIN] for the target
EPOCHS = 400
LEARNING_RATE = 1e-2
WEIGHT_DECAY = 1e-3
HIDDEN = 8  # tanh units per network
MEMBERS = 3  # networks whose scores are averaged


def _case(args, ranker: str) -> dict | None:
    """One case's candidates: their features for the ranker named ``ranker`` and what each one's map
    would gain."""
    family, case = train_gate.draw_case(args, FAMILY_WEIGHTS)
    try:
        f, inside, profile, sd = harmonise.ring_profile_of(case.composite, case.mask)
    except SeamRefineError:
        return None
    cands = [c for c in profile.all_stats(harmonise.CANDIDATES) if c is not None]
    if len(cands) < 2:
        return None
    band = imagemath.band_weights(case.mask, 16, 8)
    base = M.band_psnr(case.composite, case.clean, band)
    by_zone: dict[tuple[int, int], float] = {}
    gains = []
    for c in cands:
        zone = seam_zone.grow_zone(profile, c.position, c.gap)
        if zone not in by_zone:
            seam = harmonise.Seam(*zone, 0.0, 0.0, (), harmonise.zone_map(profile, *zone))
            m = harmonise.Measurement(f, inside, profile, seam, sd)
            change, _ = harmonise.correction(case.composite, m, 1.0)
            by_zone[zone] = M.band_psnr(np.clip(case.composite + change, 0.0, 1.0), case.clean, band) - base
        gains.append(by_zone[zone])
    z = [c.z for c in cands]
    features = seam_rank.candidate_features(cands, seam_rank.RANKERS[ranker])
    return {"family": family, "features": features.tolist(), "gains": gains,
            "max_z": int(np.argmax(z))}


def padded(rows: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows' candidates as N×K×F features, N×K gains and an N×K validity mask (K: the most)."""
    k = max(len(r["gains"]) for r in rows)
    n_feat = len(rows[0]["features"][0])
    x = np.zeros((len(rows), k, n_feat))
    gain = np.zeros((len(rows), k))
    valid = np.zeros((len(rows), k), bool)
    for i, r in enumerate(rows):
        n = len(r["gains"])
        x[i, :n], gain[i, :n], valid[i, :n] = r["features"], r["gains"], True
    return x, gain, valid


def fit_member(z: np.ndarray, gain: np.ndarray, valid: np.ndarray, hidden: int, seed: int):
    """One scoring network on standardised N×K×F ``z``: (W1 H×F, b1 H, w2 H, b2), score = tanh(W1 z +
    b1) · w2 + b2, trained so that each case's softmax of scores matches that of its gains."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(z.shape[2], hidden), torch.nn.Tanh(),
                              torch.nn.Linear(hidden, 1))
    x = torch.tensor(z, dtype=torch.float32)
    ok = torch.tensor(valid)
    target = torch.tensor(np.clip(gain, -MAX_GAIN / 2, MAX_GAIN) / TEMPERATURE, dtype=torch.float32)
    target = torch.softmax(target.masked_fill(~ok, -torch.inf), 1)  # N×K
    opt = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    for _ in range(EPOCHS):
        opt.zero_grad()
        score = net(x)[..., 0].masked_fill(~ok, -torch.inf)  # N×K
        loss = -(target * torch.log_softmax(score, 1).masked_fill(~ok, 0.0)).sum(1).mean()
        loss.backward()
        opt.step()
    as64 = lambda t: t.detach().double().numpy()  # noqa: E731
    return as64(net[0].weight), as64(net[0].bias), as64(net[2].weight)[0], float(net[2].bias.detach())


def fit(rows: list[dict], seed: int, hidden: int, members: int,
        ranker: seam_rank.Ranker = seam_rank.GATE) -> seam_gate.GateModel:
    """The ``ranker``'s weights: ``members`` networks of ``hidden`` units on the rows' candidates,
    merged into one layer whose score is their mean."""
    x, gain, valid = padded(rows)
    mean, scale = x[valid].mean(0), x[valid].std(0) + 1e-9
    z = np.where(valid[..., None], (x - mean) / scale, 0.0)
    parts = [fit_member(z, gain, valid, hidden, members * seed + k) for k in range(members)]
    return seam_gate.GateModel(
        mean, scale, np.concatenate([p[2] for p in parts]) / members, float(np.mean([p[3] for p in parts])),
        0.0, 1.0, ranker.features, hidden=np.concatenate([p[0] for p in parts]),
        hidden_bias=np.concatenate([p[1] for p in parts]))


def record(rows: list[dict], model: seam_gate.GateModel) -> dict:
    """Per family: cases, and the mean gain (dB, full map) of the ranker's pick, of the candidate with
    the largest z, and of the best candidate."""
    out = {}
    for fam in FAMILY_WEIGHTS:
        rs = [r for r in rows if r["family"] == fam]
        if rs:
            picked = [r["gains"][int(np.argmax(model.logits(np.array(r["features"]))))] for r in rs]
            out[fam] = {"cases": len(rs), "picked_db": round(float(np.mean(picked)), 3),
                        "max_z_db": round(float(np.mean([r["gains"][r["max_z"]] for r in rs])), 3),
                        "best_db": round(float(np.mean([max(r["gains"]) for r in rs])), 3)}
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = train_gate.gate_parser("python -m seamrefine_train train_rank", __doc__, None, SIZES)
    ap.add_argument("--ranker", choices=list(seam_rank.RANKERS), default=seam_rank.GATE.name,
                    help="which ranker to train (default: the gate's); --out defaults to its file")
    train_gate.add_network_options(ap, HIDDEN, MEMBERS, min_hidden=1)
    ap.set_defaults(cases=1600)
    args = ap.parse_args(argv)
    ranker = seam_rank.RANKERS[args.ranker]
    args.out = ranker.path if args.out is None else args.out
    t0 = time.perf_counter()
    try:
        train_gate.check_network_options(args)
        rows = train_gate.gather(args, functools.partial(_case, ranker=ranker.name))
    except SeamRefineError as e:
        print(f"train_rank: {e.message}", file=sys.stderr)
        return 2
    model = fit(rows, args.seed, args.hidden, args.members, ranker)
    doc = model.to_dict()
    doc["training"] = {
        "command": f"python -m seamrefine_train train_rank {' '.join(argv)}".strip(),
        "photos": str(args.photos), "cases": len(rows), "seed": args.seed,
        "seconds": round(time.perf_counter() - t0, 1), "per_family": record(rows, model)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    seam_gate.forget(args.out)
    if args.rows:
        x, gain, valid = padded(rows)
        np.savez_compressed(args.rows, features=x, gains=gain, valid=valid,
                            family=np.array([r["family"] for r in rows]))
    print(json.dumps(doc["training"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
