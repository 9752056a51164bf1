"""The learned seam gate: how sure we are that a fill has a colour seam worth correcting.

A small classifier on features of the candidate seams its ranker scores highest (``FEATURES``: the
``CANDIDATE_FEATURES`` of its pick, and their largest, smallest and mean values over the runners-up among
the ``JUDGED`` best; computed by ``seam_features.judged_features`` for ``harmonise.find_seam``; of the
pick alone until the thirty-third session): since the seventeenth session the mean
logit of five one-hidden-layer networks (8 tanh units each), stored as one layer of 40; the texture
and grain gates are logistic regressions (no hidden layer). Its weights are ours:
``python -m seamrefine_train train_gate`` fits them on synthetic seams from the training photos and
writes ``models/seam_gate.json`` (weights, feature standardisation, the logit ramp and the training
record). The confidence is the logit ramped linearly from 0 at ``lo`` to 1 at ``hi``, where ``lo``
lies above every clean case of the training set.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelError

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "models" / "seam_gate.json"

CANDIDATE_FEATURES = (
    "log1p_z",  # robust z of the candidate's coherent step
    "log1p_z_excess",  # the same for its excess over the steps beside it (colour gradients cancel)
    "log_step_excess",  # size of that excess step
    "log1p_max_z_excess",  # the largest excess z among all candidates
    "position",  # px inside the mask edge / 4
    "gap",  # ramp half-width / 4
    "log_contour",  # contour pixels that see all bands
    "log_busy",  # mean |local step|: how much the content changes across the contour
    "coherence",  # |median step| / mean |local step|
    "abs_log_gain",  # mean |log gain| of the colour map fitted to it
    "gain_clipped",  # share of channels whose gain hit GAIN_LIMITS (the fit is not to be trusted)
    "map_reduction",  # log mean |jump| over mean |jump left after the fitted map| (seam_features)
    "map_reduction_excess",  # the same minus the largest of the maps fitted beside it
    "log1p_z_map",  # robust z of the per-sample jump reduction by the map
    "log1p_z_map_excess",  # the same minus the largest beside it
    "log1p_z_log_step",  # robust z of the step in log colour (gains and contrast changes)
    "log1p_z_log_step_excess",  # the same minus the largest beside it
    "log1p_null_step",  # the step as robust z against all parallel ring pairs clear of the seam
    "log1p_null_spread",  # the log spread ratio, the same way
    "log1p_z_white",  # robust z of the step along its whitened direction (ring_profile.whitened_z)
    "log1p_z_white_excess",  # the same for the excess step
    "log1p_max_z_white",  # the largest whitened z among all candidates
    "log1p_max_z_white_excess",  # ... and of the excess step
)
JUDGED = 4  # the gate ranker's best candidates whose features the gate reads: its pick and the runners-up
RUNNER_UP_STATS = ("max", "min", "mean")  # per feature, over the runners-up
FEATURES = (*CANDIDATE_FEATURES,
            *(f"{stat}_runner_up_{name}" for stat in RUNNER_UP_STATS for name in CANDIDATE_FEATURES))


@dataclass(frozen=True)
class GateModel:
    """Standardised logistic regression, logit = z · weights + bias with z = (f − mean) / scale; or,
    with a ``hidden`` layer (H×F) and its ``hidden_bias`` (H), logit = tanh(hidden · z + hidden_bias) ·
    weights + bias (``weights`` then has H entries)."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    lo: float
    hi: float
    features: tuple[str, ...] = FEATURES  # the names of what it reads, in order
    certain: float = math.inf  # the logit above which no clean calibration case needed holding back
    hidden: np.ndarray | None = None
    hidden_bias: np.ndarray | None = None

    def logits(self, features: np.ndarray) -> np.ndarray:
        """The logits of N×F feature rows (N), or of one F-vector (a 0-d array)."""
        f = (np.asarray(features, np.float64) - self.mean) / self.scale
        if self.hidden is not None:
            f = np.tanh(f @ self.hidden.T + self.hidden_bias)
        return f @ self.weights + self.bias

    def logit(self, features: np.ndarray) -> float:
        return float(self.logits(features))

    def confidence(self, features: np.ndarray) -> float:
        """The gate in [0, 1]: 0 below ``lo``, 1 above ``hi``, linear between."""
        return float(np.clip((self.logit(features) - self.lo) / (self.hi - self.lo), 0.0, 1.0))

    def certainty(self, features: np.ndarray, ramp: float) -> float:
        """0 up to ``certain``, rising linearly to 1 over ``ramp`` logit units beyond it."""
        return float(np.clip((self.logit(features) - self.certain) / ramp, 0.0, 1.0))

    def to_dict(self) -> dict:
        extra = {"certain": self.certain} if math.isfinite(self.certain) else {}
        if self.hidden is not None:
            extra.update(hidden=self.hidden.tolist(), hidden_bias=self.hidden_bias.tolist())
        return {
            "features": list(self.features),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "weights": self.weights.tolist(),
            "bias": self.bias,
            "lo": self.lo,
            "hi": self.hi,
            **extra,
        }

    @classmethod
    def from_dict(cls, doc: dict, features: tuple[str, ...] = FEATURES) -> GateModel:
        """Validate and build a gate on ``features``; ModelError (carrying the bad field) when the file
        does not fit."""
        if list(doc.get("features", [])) != list(features):
            raise ModelError(f"gate features {doc.get('features')!r} do not match {list(features)}",
                             doc.get("features"))
        hidden = _layer(doc, len(features))
        arrays = {}
        for key in ("mean", "scale", "weights"):
            a = np.asarray(doc.get(key), np.float64)
            n = len(features) if key != "weights" or hidden is None else len(hidden[1])
            if a.shape != (n,) or not np.isfinite(a).all():
                raise ModelError(f"gate field {key!r} must be {n} finite numbers", key)
            arrays[key] = a
        if (arrays["scale"] <= 0).any():
            raise ModelError("seam gate scales must be positive", "scale")
        nums = [doc.get(k) for k in ("bias", "lo", "hi")]
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in nums) or not nums[1] < nums[2]:
            raise ModelError(f"seam gate bias/lo/hi must be finite numbers with lo < hi, got {nums}", nums)
        certain = doc.get("certain", math.inf)
        if not isinstance(certain, (int, float)) or math.isnan(certain) or certain < nums[1]:
            raise ModelError(f"gate field 'certain' must be a number ≥ lo, got {certain!r}", certain)
        return cls(arrays["mean"], arrays["scale"], arrays["weights"], *map(float, nums), tuple(features),
                   float(certain), *(hidden or (None, None)))


def _layer(doc: dict, n_features: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The gate file's hidden layer (H×F weights, H biases), None when it has none; ModelError when
    only one of the two is there or their shapes or values are wrong."""
    if "hidden" not in doc and "hidden_bias" not in doc:
        return None
    try:
        w = np.asarray(doc.get("hidden"), np.float64)
        b = np.asarray(doc.get("hidden_bias"), np.float64)
    except (TypeError, ValueError):
        w = b = np.zeros(0)
    if w.ndim != 2 or w.shape[1] != n_features or w.shape[0] < 1 or b.shape != (w.shape[0],) or not (
            np.isfinite(w).all() and np.isfinite(b).all()):
        raise ModelError(f"gate fields 'hidden' and 'hidden_bias' must be H×{n_features} and H finite "
                         f"numbers, got shapes {w.shape} and {b.shape}", "hidden")
    return w, b


_cache: dict[tuple[Path, tuple[str, ...]], GateModel] = {}
_lock = threading.Lock()


def load(path: Path | str = DEFAULT_PATH, features: tuple[str, ...] = FEATURES,
         what: str = "seam gate") -> GateModel:
    """The gate model on ``features`` in ``path`` (cached per path); ModelError naming ``what`` when the
    file is missing or malformed."""
    p = Path(path)
    with _lock:
        if (p, features) not in _cache:
            try:
                doc = json.loads(p.read_text())
            except (OSError, ValueError) as e:
                raise ModelError(f"cannot read the {what} {str(p)!r}: {e}", str(p)) from e
            if not isinstance(doc, dict):
                raise ModelError(f"the {what} {str(p)!r} is not a JSON object", str(p))
            _cache[(p, features)] = GateModel.from_dict(doc, features)
        return _cache[(p, features)]


def forget(path: Path | str) -> None:
    """Drop the cached models read from ``path`` (a trainer rewrote it), so the next ``load`` reads it."""
    p = Path(path)
    with _lock:
        for key in [k for k in _cache if k[0] == p]:
            del _cache[key]
