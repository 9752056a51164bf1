"""A seam gate with one hidden layer: the mean logit of a few small tanh networks, fitted by L-BFGS on
the gate trainer's cost-weighted labels (``train_gate``).

Measured (seventeenth session, MODEL.md "Stage 1"): on the same 19 features, five members of 8 units
place the fresh clean cases further below the ramp than the logistic regression does, at the same
gains on held-out seams.
"""

from __future__ import annotations

import numpy as np
import torch

HIDDEN = 8  # tanh units per member
MEMBERS = 5  # networks whose logits are averaged (one layer of HIDDEN · MEMBERS units)
WEIGHT_DECAY = 1e-3  # on the weights (not the biases), against the mean weighted cross-entropy
MAX_ITER = 800  # L-BFGS iterations per member


def fit_member(z: np.ndarray, y: np.ndarray, w: np.ndarray, hidden: int, seed: int,
               weight_decay: float = WEIGHT_DECAY) -> tuple[np.ndarray, ...]:
    """One network on standardised features ``z`` (N×F), labels ``y`` (N, 0/1) and weights ``w`` (N):
    returns (W1 H×F, b1 H, w2 H, b2) as float64, logit = tanh(W1 z + b1) · w2 + b2."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(z.shape[1], hidden), torch.nn.Tanh(),
                              torch.nn.Linear(hidden, 1))
    x = torch.tensor(z, dtype=torch.float32)
    target = torch.tensor(y, dtype=torch.float32)
    weight = torch.tensor(w / w.mean(), dtype=torch.float32)
    opt = torch.optim.LBFGS(net.parameters(), max_iter=MAX_ITER, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        logit = net(x)[:, 0]  # (N,)
        loss = (weight * torch.nn.functional.binary_cross_entropy_with_logits(logit, target,
                                                                               reduction="none")).mean()
        loss = loss + weight_decay * (net[0].weight.square().sum() + net[2].weight.square().sum())
        loss.backward()
        return loss

    opt.step(closure)
    as64 = lambda t: t.detach().double().numpy()  # noqa: E731
    return as64(net[0].weight), as64(net[0].bias), as64(net[2].weight)[0], float(net[2].bias.detach())


def fit_members(x: np.ndarray, y: np.ndarray, w: np.ndarray, seed: int = 0, hidden: int = HIDDEN,
                members: int = MEMBERS) -> tuple[np.ndarray, ...]:
    """``members`` networks of ``hidden`` units (seeds members·seed + k) on raw features ``x`` (N×F),
    merged into one layer whose logit is their mean. Returns (mean F, scale F, W1 (members·hidden)×F,
    b1, w2, b2) for ``seam_gate.GateModel`` (z = (x − mean) / scale)."""
    mean, scale = x.mean(0), x.std(0) + 1e-9
    z = (x - mean) / scale
    parts = [fit_member(z, y, w, hidden, members * seed + k) for k in range(members)]
    w1 = np.concatenate([p[0] for p in parts])
    b1 = np.concatenate([p[1] for p in parts])
    w2 = np.concatenate([p[2] for p in parts]) / members
    b2 = float(np.mean([p[3] for p in parts]))
    return mean, scale, w1, b1, w2, b2
