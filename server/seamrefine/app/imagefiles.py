"""Image and mask files for the commands: read (8/16-bit PNG, JPEG, TIFF, WebP, BMP) and write PNGs."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import InputError

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")


def load_image(path: Path) -> np.ndarray:
    """H×W×3/4 uint8 or uint16 RGB(A). 16-bit colour PNGs are read with OpenCV (Pillow reads them as
    8-bit)."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise InputError(f"image not found: {path}", str(path))
    with open(path, "rb") as f:
        head = f.read(26)
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[24] == 16 and head[25] in (2, 6):
        return _load_png16(path)
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                g = np.asarray(im).astype(np.uint16)
                return np.repeat(g[..., None], 3, axis=2)
            keep = "RGBA" if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info else "RGB"
            return np.asarray(im.convert(keep))
    except OSError as exc:
        raise InputError(f"cannot read image {path}: {exc}", str(path)) from None


def _load_png16(path: Path) -> np.ndarray:
    import cv2

    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise InputError(f"cannot read image {path}", str(path))
    return arr[..., [2, 1, 0, 3][: arr.shape[2]]]


def load_mask(path: Path) -> np.ndarray:
    """H×W mask: uint8 0–255 (8-bit files) or float32 0–1 (16-bit/float files); colour is converted to L."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise InputError(f"mask not found: {path}", str(path))
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                return (np.asarray(im).astype(np.float32) / 65535.0).clip(0.0, 1.0)
            if im.mode == "F":
                return np.asarray(im).astype(np.float32).clip(0.0, 1.0)
            return np.asarray(im.convert("L"))
    except OSError as exc:
        raise InputError(f"cannot read mask {path}: {exc}", str(path)) from None


def save_image(path: Path, image: np.ndarray) -> None:
    """Write uint8 (Pillow) or uint16 (own PNG encoder, lossless 16-bit) RGB(A); parent dirs are made."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if image.dtype == np.uint16:
        if path.suffix.lower() != ".png":
            raise InputError(f"16-bit output must be a .png, got {path.name}", str(path))
        path.write_bytes(encode_png16(image))
    else:
        Image.fromarray(np.ascontiguousarray(image)).save(path)


def encode_png16(image: np.ndarray) -> bytes:
    """A 16-bit PNG (grey, grey+alpha, RGB or RGBA by channel count) with filter 0 and zlib level 6."""
    img = image if image.ndim == 3 else image[..., None]
    h, w, c = img.shape
    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    raw = np.zeros((h, 1 + w * c * 2), np.uint8)
    raw[:, 1:] = np.ascontiguousarray(img, dtype=">u2").reshape(h, -1).view(np.uint8)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, ctype, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
        + chunk(b"IEND", b"")
    )
