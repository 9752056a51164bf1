"""Photo-like float test images and masks (numpy), shared by the metric, baseline and bench tests; and
a folder of noise photos for the gate trainers' smoke runs."""

from __future__ import annotations

from pathlib import Path

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
    return _in_dtype(np.clip(base, 0, 1), rng, channels, dtype), mask


def _in_dtype(rgb: np.ndarray, rng: np.random.Generator, channels: int, dtype) -> np.ndarray:
    """Float RGB in [0, 1] with a random alpha channel when ``channels`` is 4, as ``dtype``: float
    dtypes as they are, integers scaled to their full range."""
    if channels == 4:
        rgb = np.concatenate([rgb, rng.random(rgb.shape[:2] + (1,), dtype=np.float32)], axis=2)
    if np.dtype(dtype).kind == "f":
        return rgb.astype(dtype)
    return np.rint(rgb * np.iinfo(dtype).max).astype(dtype)


def noise_photo_folder(folder: Path, seed: int, count: int = 2, size: int = 300) -> Path:
    """``count`` grey-mean noise photos (``size``² PNG, σ 0.2 around 0.5) written into a new ``folder``."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir()
    for i in range(count):
        img = np.clip(0.5 + 0.2 * rng.standard_normal((size, size, 3)), 0, 1)
        Image.fromarray((img * 255).astype(np.uint8)).save(folder / f"p{i}.png")
    return folder


def photo_folder(folder: Path, count: int = 2, size: int = 160) -> Path:
    """``count`` synthetic photos (``photo(i, size)``, PNG) written into the existing ``folder``."""
    from PIL import Image

    for i in range(count):
        Image.fromarray((photo(i, size) * 255).astype(np.uint8)).save(folder / f"p{i}.png")
    return folder


def seam_image(rng: np.random.Generator, mask: np.ndarray, channels: int = 3, dtype=np.uint8) -> np.ndarray:
    """A photo-like picture (smooth colour gradients, mild grain) whose ``mask`` (H×W, nonzero = fill)
    was pasted warmer and brighter with a hard edge: a visible colour seam that the refiner's seam
    gate opens on. A fourth channel is random alpha. float dtypes in [0, 1], integers full range."""
    h, w = mask.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([0.3 + 0.4 * xx / w, 0.25 + 0.4 * yy / h,
                     0.45 + 0.15 * np.sin(xx / 23.0 + yy / 31.0)], axis=2)
    base += rng.normal(0, 0.015, base.shape).astype(np.float32)
    base[mask > 0] += np.float32([0.09, 0.06, 0.03])
    return _in_dtype(np.clip(base, 0, 1), rng, channels, dtype)
