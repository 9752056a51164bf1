"""seamrefine.runtime.seam_features: the gate's map and null features on a seam and a clean edge."""

from __future__ import annotations

import numpy as np
from seamrefine.runtime import harmonise as H
from seamrefine.runtime import seam_features as F
from seamrefine.runtime import seam_gate

from .test_colour_map import profile_of
from .test_harmonise import ellipse, pasted, texture


def contrast_seam(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A fill whose contrast is 25 % higher around mid-grey: its step changes sign along the contour."""
    clean, mask = texture(seed), ellipse()
    return pasted(clean, mask, np.clip(0.5 + 1.25 * (clean - 0.5), 0, 1)), mask


def test_map_reduction_sees_a_contrast_seam_a_clean_edge_does_not():
    comp, mask = contrast_seam(1)
    seam = F.map_reduction(profile_of(comp, mask), 0, 0)
    plain = F.map_reduction(profile_of(texture(1), mask), 0, 0)
    assert seam is not None and plain is not None
    assert seam[0] > 0.2 and seam[1] > 2.0  # the map explains the jump
    assert plain[0] < 0.5 * seam[0] and plain[1] < 0.5 * seam[1]


def test_log_step_z_known_value_for_a_pure_gain():
    clean, mask = texture(2), ellipse()
    comp = pasted(clean, mask, clean * 0.8)  # log step = log 0.8 everywhere (up to the floor)
    _, _, z_log = F.map_reduction(profile_of(comp, mask), 0, 0)
    _, _, z_plain = F.map_reduction(profile_of(clean, mask), 0, 0)
    assert z_log > 10.0 > z_plain


def test_null_scores_an_offset_seam_against_the_parallel_rings():
    clean, mask = texture(3), ellipse()
    step_z, spread_z = F.null_scores(profile_of(pasted(clean, mask, clean + 0.06), mask), 0, 0)
    clean_z, _ = F.null_scores(profile_of(clean, mask), 0, 0)
    assert step_z > 5.0 > clean_z
    assert spread_z < 3.0  # an offset leaves the spread alone


def test_too_few_samples_give_none():
    clean = texture(4)
    tiny = np.zeros(clean.shape[:2], np.float32)
    tiny[80, 100] = 1.0
    profile = profile_of(clean, tiny)
    assert F.map_reduction(profile, 0, 0) is None and F.null_scores(profile, 0, 0) is None


def test_gate_features_match_the_gate():
    comp, mask = contrast_seam(5)
    seam = H.measure(comp, mask).seam
    assert len(seam.features) == len(seam_gate.FEATURES) and np.isfinite(seam.features).all()
