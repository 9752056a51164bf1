"""3×3 filters shared by :mod:`.metrics` and :mod:`.seam_score`: edge-replicated correlation, Sobel,
and Immerkær's noise-estimation kernel."""

from __future__ import annotations

import numpy as np


def shift_sum(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """3×3 correlation with edge replication (x is H×W or H×W×C)."""
    pad = [(1, 1), (1, 1)] + [(0, 0)] * (x.ndim - 2)
    p = np.pad(x, pad, mode="edge")
    h, w = x.shape[:2]
    out = np.zeros_like(x, dtype=np.float32)
    for dy in range(3):
        for dx in range(3):
            k = kernel[dy, dx]
            if k != 0:
                out += np.float32(k) * p[dy : dy + h, dx : dx + w]
    return out


def sobel(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sobel derivatives (d/dx, d/dy) normalised by 1/8 so a ramp of slope s gives s."""
    p = np.pad(x, [(1, 1), (1, 1)] + [(0, 0)] * (x.ndim - 2), mode="edge")
    h, w = x.shape[:2]
    sm_y = p[0:h] + 2 * p[1 : h + 1] + p[2 : h + 2]  # smoothed along y, (h, w+2)
    gx = (sm_y[:, 2 : w + 2] - sm_y[:, 0:w]) / 8.0
    sm_x = p[:, 0:w] + 2 * p[:, 1 : w + 1] + p[:, 2 : w + 2]  # (h+2, w)
    gy = (sm_x[2 : h + 2] - sm_x[0:h]) / 8.0
    return gx.astype(np.float32), gy.astype(np.float32)


IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
