"""Whether a fill's selection may follow a content edge of the photo: the learned check on the colour map.

An artist who selects a sky, an object or a wall with a colour or magic-wand selection gets an edge
that runs along the photo's own border between two materials. The step across it is coherent (sky
against grass all along), and the seam gate, trained on selections drawn across content, reads it as
a seam: on training photos 20–40 % of such selections of clean photos ended below 45 dB from their
input, the sky turned towards the grass (MODEL.md, "Stage 1", forty-fifth session). A logistic
regression on the seam gate's features and the full map's mean change in the fill (``FEATURES``)
tells them from seams. It is trained by ``python -m seamrefine_train train_content_edge`` on clean
selections along content edges against the seam gate trainer's draw, and stored in the seam gate's
file format (``models/content_edge.json``; its ``lo`` is the threshold, ``hi`` unused). From that
threshold on, ``harmonise.apply`` holds the correction at the seam gate's cap, as for a seam the gate
is unsure of, so such a selection stays within ``harmonise.CAP_DB`` of its input. It reads the seam
gate's features and learns from the cases that gate opens on: retrain it after the gate.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from . import seam_gate
from .seam_gate import load as load_gate_file  # bound here: tests replace seam_gate.load

PATH = Path(__file__).resolve().parents[1] / "models" / "content_edge.json"
FEATURES = (*seam_gate.FEATURES, "log_mean_change")
MEAN_CHANGE_FLOOR = 1e-4  # added before the log: a map that changes nothing


def features(seam_features: tuple[float, ...], mean_change: float) -> np.ndarray:
    """The check's inputs: the seam gate's features and log(``mean_change`` + ``MEAN_CHANGE_FLOOR``),
    the full map's mean |change| in the fill (colour range 1)."""
    return np.array([*seam_features, math.log(mean_change + MEAN_CHANGE_FLOOR)], np.float64)


def load(path: Path | str = PATH) -> seam_gate.GateModel:
    """The check's weights (cached); ModelError when the file is missing or malformed."""
    return load_gate_file(path, FEATURES, "content-edge check")


def logit(seam_features: tuple[float, ...], mean_change: float, path: Path | str = PATH) -> float:
    """The check's logit: how much more the seam looks like a content edge the selection follows than
    like a colour seam."""
    return load(path).logit(features(seam_features, mean_change))


def follows_content_edge(seam_features: tuple[float, ...], mean_change: float,
                         path: Path | str = PATH) -> bool:
    """Whether the logit reaches the check's threshold (its ``lo``); False without seam features."""
    if not seam_features:
        return False
    return logit(seam_features, mean_change, path) >= load(path).lo
