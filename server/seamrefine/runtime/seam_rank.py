"""The learned seam ranker: which candidate seam to fit the colour map across.

``harmonise.find_seam`` measures every candidate (position, ramp half-width) of a fill's seam
(``RingProfile.all_stats``). The one with the most significant step is often not the one whose map
removes the seam: a paste edge a few px inside a grown selection, or a ramp whose narrow middle
steps more coherently than the whole. The ranker scores each candidate from its step statistics
alone (``FEATURES``: ``seam_features.step_features``, no map fitted, so scoring all of them costs
nothing) and the highest score is fitted. Its weights are ours: ``python -m seamrefine_train
train_rank`` fits them on synthetic colour seams from the training photos, so that the score ranks
candidates by what their map gains (a listwise softmax loss), and writes ``models/seam_rank.json``:
the seam gate's file format (``seam_gate.GateModel``: standardisation, one tanh layer, weights) with
its ramp (``lo``/``hi``) unused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import seam_gate
from .ring_profile import CandidateStats
from .seam_features import step_features

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "models" / "seam_rank.json"
FEATURES = seam_gate.FEATURES[:9]  # what step_features gives, in order


def load(path: Path | str = DEFAULT_PATH) -> seam_gate.GateModel:
    """The ranker in ``path`` (cached); ModelError when it is missing or malformed."""
    return seam_gate.load(path, FEATURES, "seam ranker")


def candidate_features(cands: list[CandidateStats]) -> np.ndarray:
    """N×9 ``FEATURES`` of the candidates ``cands`` (the largest excess z is taken among them)."""
    max_z_excess = max(c.z_excess for c in cands)
    return np.array([step_features(c, max_z_excess) for c in cands], np.float64)


def pick(cands: list[CandidateStats], path: Path | str = DEFAULT_PATH) -> CandidateStats:
    """The candidate the ranker scores highest (the first of equals)."""
    return cands[int(np.argmax(load(path).logits(candidate_features(cands))))]
