"""The learned seam rankers: which candidate seam the gate judges, and which the colour map is fitted across.

``harmonise.find_seam`` measures every candidate (position, ramp half-width) of a fill's seam
(``RingProfile.all_stats``). The one with the most significant step is often not the one whose map
removes the seam: a paste edge a few px inside a grown selection, or a ramp whose narrow middle
steps more coherently than the whole. A ranker scores each candidate from its step statistics alone
(no map fitted, so scoring all of them costs nothing) and the highest score wins. There are two
(``RANKERS``), both trained by ``python -m seamrefine_train train_rank [--ranker gate|map]`` on
synthetic colour seams from the training photos, so that the score ranks candidates by what their
map gains (a listwise softmax loss), and stored in the seam gate's file format
(``seam_gate.GateModel``: standardisation, one tanh layer, weights; its ramp ``lo``/``hi`` unused):

* ``GATE`` (``models/seam_rank.json``, twenty-first session) on the nine plain step statistics
  (``seam_features.step_features``): the candidate the seam gate judges.
* ``MAP`` (``models/seam_rank_map.json``, twenty-ninth session; since the thirtieth trained on 3,200
  cases whose maps are weighed as served) on those and the step's whitened z
  (``seam_features.whitened_features``): the candidate the colour map is fitted across, and since
  the thirty-first session the pool of candidates whose maps are averaged (``pool``: a softmax of
  its scores; the map ranker's pick alone gained 0.11–0.25 dB less on training colour seams). It picks
  better maps (held-out folds of its training rows: +0.27 dB for the map in full), but on clean
  selections it also picks content edges that step across the content's colour scatter, and the
  gate retrained on its picks had to start its ramp 1.6 logit units higher; so the gate keeps
  judging the plain ranker's candidate (MODEL.md, "Stage 1").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import seam_gate
from .ring_profile import CandidateStats
from .seam_features import step_features, whitened_features

MODELS = Path(__file__).resolve().parents[1] / "models"


@dataclass(frozen=True)
class Ranker:
    """One learned ranker: its name, its weights' file and the features it reads, in order."""

    name: str
    path: Path
    features: tuple[str, ...]

    @property
    def whitened(self) -> bool:
        """Whether it reads the whitened z beside the plain step statistics."""
        return len(self.features) > len(GATE_FEATURES)


GATE_FEATURES = seam_gate.CANDIDATE_FEATURES[:9]  # what step_features gives, in order
GATE = Ranker("gate", MODELS / "seam_rank.json", GATE_FEATURES)
MAP = Ranker("map", MODELS / "seam_rank_map.json", (*GATE_FEATURES, "log1p_z_white", "log1p_z_white_excess"))
RANKERS = {r.name: r for r in (GATE, MAP)}
POOL_TEMPERATURE = 0.18  # score units (a score is trained as gain / ``train_rank.TEMPERATURE``, 3 dB)
POOL_MIN_WEIGHT = 0.05  # candidates weighing less are left out of the pool


def load(ranker: Ranker = GATE, path: Path | str | None = None) -> seam_gate.GateModel:
    """The ``ranker``'s weights (from ``path`` instead of its own file when given; cached); ModelError
    when the file is missing or malformed."""
    what = f"seam ranker ({ranker.name})"
    return seam_gate.load(ranker.path if path is None else path, ranker.features, what)


def candidate_features(cands: list[CandidateStats], ranker: Ranker = GATE) -> np.ndarray:
    """N×F ``ranker.features`` of the candidates ``cands`` (the largest excess z is taken among them)."""
    max_z_excess = max(c.z_excess for c in cands)
    extra = whitened_features if ranker.whitened else (lambda c: ())
    return np.array([(*step_features(c, max_z_excess), *extra(c)) for c in cands], np.float64)


def pick(cands: list[CandidateStats], ranker: Ranker = GATE,
         path: Path | str | None = None) -> CandidateStats:
    """The candidate the ``ranker`` scores highest (the first of equals)."""
    return top(cands, 1, ranker, path)[0]


def top(cands: list[CandidateStats], count: int, ranker: Ranker = GATE,
        path: Path | str | None = None) -> list[CandidateStats]:
    """The ``count`` candidates the ``ranker`` scores highest, best first (equals in their given order,
    so the first is its ``pick``)."""
    scores = load(ranker, path).logits(candidate_features(cands, ranker))
    return [cands[int(i)] for i in np.argsort(-scores, kind="stable")[:count]]


def pool(cands: list[CandidateStats], ranker: Ranker = MAP, path: Path | str | None = None,
         temperature: float | None = None, min_weight: float | None = None
         ) -> list[tuple[CandidateStats, float]]:
    """The candidates the ``ranker``'s scores s weigh by softmax(s / ``temperature``) at least
    ``min_weight`` (defaults ``POOL_TEMPERATURE``, ``POOL_MIN_WEIGHT``), with those weights
    renormalised to sum 1: (candidate, weight) pairs, its pick (the first of equals) first and always
    kept. ValueError (naming it) unless ``temperature`` > 0."""
    temperature = POOL_TEMPERATURE if temperature is None else temperature
    min_weight = POOL_MIN_WEIGHT if min_weight is None else min_weight
    if not temperature > 0:
        raise ValueError(f"the pool's temperature must be > 0, got {temperature!r}")
    scores = load(ranker, path).logits(candidate_features(cands, ranker))
    top = int(np.argmax(scores))
    weights = np.exp((scores - scores[top]) / temperature)
    weights /= weights.sum()
    keep = [top, *(int(i) for i in np.flatnonzero(weights >= min_weight) if i != top)]
    total = float(weights[keep].sum())
    return [(cands[i], float(weights[i]) / total) for i in keep]
