"""Photo-like float test images and masks (numpy only), shared by the metric, baseline and bench tests."""

from __future__ import annotations

import numpy as np


def gaussian_blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian (reflect border), numpy only."""
    r = max(1, int(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    for axis in (0, 1):
        pad = [(0, 0)] * x.ndim
        pad[axis] = (r, r)
        p = np.pad(x, pad, mode="reflect")
        out = np.zeros_like(x)
        for i, kv in enumerate(k):
            out += kv * np.take(p, range(i, i + x.shape[axis]), axis=axis)
        x = out
    return x.astype(np.float32)


def photo(seed: int, size: int = 192) -> np.ndarray:
    """A photo-like test image: smooth colour field, a few soft shapes, fine texture and mild grain."""
    rng = np.random.default_rng(seed)
    base = gaussian_blur(rng.random((size, size, 3)).astype(np.float32), size / 8)
    base = (base - base.mean()) * 6 + rng.uniform(0.3, 0.6, 3)
    yy, xx = np.mgrid[:size, :size]
    for _ in range(4):
        cy, cx, r = rng.uniform(0, size, 2).tolist() + [rng.uniform(size / 10, size / 4)]
        shape = (np.hypot(yy - cy, xx - cx) < r).astype(np.float32)
        base += gaussian_blur(shape, 1.0)[..., None] * rng.uniform(-0.15, 0.15, 3)
    base += gaussian_blur(rng.normal(0, 0.08, (size, size, 3)).astype(np.float32), 1.2)
    base += rng.normal(0, 0.008, base.shape)
    return np.clip(base, 0, 1).astype(np.float32)


def blob_mask(seed: int, size: int = 192) -> np.ndarray:
    rng = np.random.default_rng(seed + 1000)
    yy, xx = np.mgrid[:size, :size]
    cy, cx = rng.uniform(0.4, 0.6, 2) * size
    ang = np.arctan2(yy - cy, xx - cx)
    r = 0.25 * size * (1 + 0.25 * np.sin(3 * ang + rng.uniform(0, 6)))
    return (np.hypot(yy - cy, xx - cx) < r).astype(np.float32)


def disk(size: int = 128, r: float = 32) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return (np.hypot(yy - size / 2, xx - size / 2) < r).astype(np.float32)


def paste(clean: np.ndarray, fill: np.ndarray, mask: np.ndarray) -> np.ndarray:
    soft = gaussian_blur(mask, 0.8)[..., None]
    return (clean + soft * (fill - clean)).astype(np.float32)


def make_image(rng, h=120, w=160, dtype=np.uint8, channels=3):
    """Smooth gradient + texture + a brighter, noisier 'fill' rectangle (a visible seam)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([xx / w, yy / h, 0.5 + 0.2 * np.sin(xx / 7)], axis=2) * 0.7 + 0.1
    base += rng.normal(0, 0.02, base.shape).astype(np.float32)
    mask = np.zeros((h, w), np.uint8)
    mask[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3] = 255
    base[mask > 0] += 0.1 + rng.normal(0, 0.05, ((mask > 0).sum(), 3)).astype(np.float32)
    rgb = np.clip(base, 0, 1)
    if channels == 4:
        rgb = np.concatenate([rgb, rng.random((h, w, 1), dtype=np.float32)], axis=2)
    if dtype in (np.uint8, np.uint16):
        return np.rint(rgb * np.iinfo(dtype).max).astype(dtype), mask
    return rgb.astype(dtype), mask
