"""How far the photo's content itself steps across a seam at each contour sample, learned, so that the
colour map leans on the samples where the content barely steps (``sample_weights``).

The colour map is fitted on the band means either side of the seam (``colour_map.fit_colour_map``);
where the content differs across the zone (an object's edge, a shadow, a texture that changes), the
step there is not the fill's drift. A small regression on the composite's own ring profile
(``FEATURES``: the steps between neighbouring rings beside the zone, the spread within the boxes, how
far the sample's step lies from the contour's median step) predicts log |content step| per sample;
the map weighs each sample by 1 / (predicted step² + ``EPS``²). Its weights are ours:
``python -m seamrefine_train train_content_step`` fits them on synthetic seams from the training
photos, where the clean photo gives the content's true step, and writes ``models/content_step.json``
(the seam gate's file format: a one-hidden-layer tanh network on standardised features; its ``lo``
and ``hi`` are unused).

Pure numpy on the profile's float32 means, shared by serving and the trainer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import seam_gate
from .ring_profile import RingProfile

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "models" / "content_step.json"
EPS = 0.05  # content step (RSS over channels) at which a sample's weight is half its largest
STEPS = 5  # one-ring steps read on each side of the zone
SPREAD_RINGS = (-2, 0, 0, 2)  # the within-box spread is read on these rings, relative to the zone's edges

FEATURES = (
    *(f"log_step_out_{k}" for k in range(STEPS, 0, -1)),  # one-ring steps on the photo's side, outwards
    *(f"log_step_in_{k}" for k in range(STEPS)),  # one-ring steps on the fill's side, inwards
    "log_spread_out_2", "log_spread_out_0", "log_spread_in_0", "log_spread_in_2",  # within the boxes
    "log_step_deviation",  # |step across the zone − the contour's median step|
    "log_step",  # |step across the zone|
    "log_wide_deviation",  # the same as the deviation across five rings either side
    "log_deviation_1", "log_deviation_2",  # ... across the zone widened by one and two rings
    "deviation_r", "deviation_g", "deviation_b",  # the deviation's sign and log size per channel
    "log_curvature",  # |the step on the photo's side − the step on the fill's side| at the zone
)


def _log_norm(v: np.ndarray) -> np.ndarray:
    return np.log(np.linalg.norm(v, axis=-1) + 1e-3)


def sample_features(profile: RingProfile, position: int, gap: int) -> np.ndarray:
    """``FEATURES`` of every contour sample of ``profile`` for the zone (``position``, ``gap``) (N×F
    float32; samples where a band is empty read zeros there and are left out by the fit)."""
    o, i = position - gap - 1, position + gap  # the zone's outer and inner ring (``RingProfile.across``)

    def mean(k: int) -> np.ndarray:
        return profile.band(k, k + 1)[0]

    feats = [_log_norm(mean(k + 1) - mean(k)) for k in range(o - STEPS, o)]
    feats += [_log_norm(mean(k + 1) - mean(k)) for k in range(i, i + STEPS)]
    for k in (o + SPREAD_RINGS[0], o + SPREAD_RINGS[1], i + SPREAD_RINGS[2], i + SPREAD_RINGS[3]):
        var = np.maximum(profile.band_squares(k, k + 1) - mean(k) ** 2, 0.0).sum(1)
        feats.append(0.5 * np.log(var + 1e-6))
    step = mean(o) - mean(i)
    _, _, ok = profile.across(position, gap)
    median = np.median(step[ok], 0) if ok.any() else np.zeros(3, step.dtype)
    deviation = step - median
    feats += [_log_norm(deviation), _log_norm(step),
              _log_norm(profile.band(o - 4, o + 1)[0] - profile.band(i, i + 5)[0] - median)]
    feats += [_log_norm(mean(o - d) - mean(i + d) - median) for d in (1, 2)]
    feats += [np.sign(deviation[:, c]) * np.log1p(np.abs(deviation[:, c]) / 0.01) for c in range(3)]
    feats.append(_log_norm(mean(o) - mean(o - 1) - (mean(i + 1) - mean(i))))
    return np.stack(feats, 1).astype(np.float32)


def load(path: Path | str = DEFAULT_PATH) -> seam_gate.GateModel:
    """The content-step regression in ``path`` (cached); ModelError when missing or malformed."""
    return seam_gate.load(path, FEATURES, what="content-step model")


def sample_weights(profile: RingProfile, position: int, gap: int,
                   model: seam_gate.GateModel | None = None) -> np.ndarray:
    """Each contour sample's weight in the colour map's fit (N, float64): 1 / (s² + ``EPS``²) with s the
    content step ``model`` (default: the shipped one) predicts there."""
    model = load() if model is None else model
    predicted = np.exp(2.0 * model.logits(sample_features(profile, position, gap)))
    return 1.0 / (predicted + EPS**2)
