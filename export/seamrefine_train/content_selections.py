"""Selections whose edge follows the photo's own content edges, as an artist's colour or wand selection does.

The synthesis draws selections across content (blobs, strokes, rectangles), so the seam gate never saw
a selection that runs along an object's border, where the step is coherent and no seam is there.
Two generators, each returning an H×W float32 mask in {0, 1} covering ``AREA`` of the crop, or None:

* ``colour_cluster`` (what ``train_content_edge`` trains on): 2–4 k-means clusters of the smoothed Lab
  colours, the largest connected part of one, opened and closed, grown 0–3 px;
* ``magic_wand`` (a held-out check): the pixels connected to a random seed point whose smoothed colour
  lies within a tolerance of it (a flood fill, as GIMP's and Krita's wand tools do), closed, grown 0–3 px.
"""

from __future__ import annotations

import cv2
import numpy as np

AREA = (0.05, 0.4)  # of the crop
GROW = 3  # px: the most a selection is grown beyond the content edge


def _finish(region: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """The region closed (7 px), kept when its area is within ``AREA``, then grown 0–``GROW`` px."""
    region = cv2.morphologyEx(region.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    if not AREA[0] <= region.mean() <= AREA[1]:
        return None
    grow = int(rng.integers(0, GROW + 1))
    if grow:
        disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
        region = cv2.dilate(region, disk)
    return region.astype(np.float32)


def _lab(crop: np.ndarray) -> np.ndarray:
    smooth = cv2.GaussianBlur(np.ascontiguousarray(crop, np.float32), (0, 0), 2.0)
    return cv2.cvtColor(smooth, cv2.COLOR_RGB2Lab)


def colour_cluster(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """The largest connected part of one of 2–4 k-means colour clusters (Lab, smoothed σ 2 px), the
    clusters tried in a random order until one fits ``AREA``; None when none does."""
    lab = _lab(crop).reshape(-1, 3)
    k = int(rng.integers(2, 5))
    cv2.setRNGSeed(int(rng.integers(1 << 30)))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    _, labels, _ = cv2.kmeans(lab, k, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    labels = labels.reshape(crop.shape[:2])
    for c in rng.permutation(k):
        member = cv2.morphologyEx((labels == c).astype(np.uint8), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
        n, parts, stats, _ = cv2.connectedComponentsWithStats(member, connectivity=8)
        if n < 2:
            continue
        largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        mask = _finish(parts == largest, rng)
        if mask is not None:
            return mask
    return None


def magic_wand(crop: np.ndarray, rng: np.random.Generator, tries: int = 8) -> np.ndarray | None:
    """A flood fill from a random seed point over the smoothed Lab colours within a random tolerance
    (8–24 ΔE76 of the seed), ``tries`` seeds at most; None when no fill fits ``AREA``."""
    lab = _lab(crop)
    h, w = lab.shape[:2]
    for _ in range(tries):
        y, x = int(rng.integers(h)), int(rng.integers(w))
        tol = float(rng.uniform(8.0, 24.0))
        within = (np.linalg.norm(lab - lab[y, x], axis=2) <= tol).astype(np.uint8)
        _, parts = cv2.connectedComponents(within, connectivity=8)
        mask = _finish(parts == parts[y, x], rng)
        if mask is not None:
            return mask
    return None


GENERATORS = {"colour_cluster": colour_cluster, "magic_wand": magic_wand}
