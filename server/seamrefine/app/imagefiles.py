"""Image and mask files for the commands: read (8/16-bit PNG, JPEG, TIFF, WebP, BMP) and write PNGs."""

from __future__ import annotations

import struct
import warnings
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import ImageTooLargeError, InputError
from ..runtime.limits import MAX_PIXELS, megapixels

CROP_HINT = "; crop or downscale it first"
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")


@contextmanager
def _opened(path: Path, what: str):
    """The file opened and decoded by Pillow, after checking its size against our own pixel limit
    (``runtime.limits.MAX_PIXELS``, below Pillow's decompression-bomb warning at 89 MP)."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} not found: {path}", str(path))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except Image.DecompressionBombError:
        raise ImageTooLargeError(
            f"{what} {path} is over the limit of {megapixels(MAX_PIXELS)}{CROP_HINT}", str(path)
        ) from None
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc}", str(path)) from None
    with image:
        _check_pixels(path, what, *image.size)
        try:
            image.load()
        except OSError as exc:
            raise InputError(f"cannot read {what} {path}: {exc}", str(path)) from None
        yield image


def _check_pixels(path: Path, what: str, width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise ImageTooLargeError(
            f"{what} {path} is {width}×{height} ({width * height / 1e6:.1f} MP), over the limit of "
            f"{megapixels(MAX_PIXELS)}{CROP_HINT}",
            [height, width],
        )


def load_image(path: Path) -> np.ndarray:
    """The image as uint8 or uint16: H×W×3/4 RGB(A), or H×W / H×W×2 for grey / grey + alpha files.
    16-bit colour PNGs are read with OpenCV (Pillow reads them as 8-bit)."""
    path = Path(path)
    if path.is_file():
        with open(path, "rb") as f:
            head = f.read(26)
        if len(head) == 26 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[24] == 16 and head[25] in (2, 6):
            _check_pixels(path, "image", *struct.unpack(">II", head[16:24]))
            return _load_png16(path)
    with _opened(path, "image") as im:
        if im.mode in ("I;16", "I;16B", "I;16L", "I"):
            return np.asarray(im).astype(np.uint16)
        if im.mode in ("L", "LA", "1"):
            keep = "LA" if im.mode == "LA" or "transparency" in im.info else "L"
        else:
            keep = "RGBA" if im.mode in ("RGBA", "PA") or "transparency" in im.info else "RGB"
        return np.asarray(im.convert(keep))


def _load_png16(path: Path) -> np.ndarray:
    import cv2

    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise InputError(f"cannot read image {path}", str(path))
    return arr[..., [2, 1, 0, 3][: arr.shape[2]]]


def load_mask(path: Path) -> np.ndarray:
    """H×W mask: uint8 0–255 (8-bit files) or float32 0–1 (16-bit/float files); colour is converted to L."""
    with _opened(path, "mask") as im:
        if im.mode in ("I;16", "I;16B", "I;16L", "I"):
            return (np.asarray(im).astype(np.float32) / 65535.0).clip(0.0, 1.0)
        if im.mode == "F":
            return np.asarray(im).astype(np.float32).clip(0.0, 1.0)
        return np.asarray(im.convert("L"))


def check_writable(path: Path, image: np.ndarray) -> None:
    """Raise InputError unless ``image`` can be written to ``path``: called before refining, so a bad
    output name fails at once instead of after the work."""
    from PIL import Image

    path = Path(path)
    suffix = path.suffix.lower()
    fmt = Image.registered_extensions().get(suffix)
    if fmt is None or fmt not in Image.SAVE:
        raise InputError(
            f"cannot write {path.name}: {suffix or 'no extension'} is not an image format seam-refine "
            "writes (use .png, .tif, .webp, .jpg or .bmp)",
            str(path),
        )
    if image.dtype == np.uint16 and fmt != "PNG":
        raise InputError(f"16-bit output must be a .png, got {path.name}", str(path))
    if image.ndim == 3 and image.shape[2] in (2, 4) and fmt in ("JPEG", "BMP"):
        raise InputError(f"{path.name}: {fmt} has no alpha channel; write a .png to keep it", str(path))


def save_image(path: Path, image: np.ndarray) -> None:
    """Write uint8 (Pillow) or uint16 (own PNG encoder, lossless 16-bit) RGB(A), grey or grey + alpha;
    parent dirs are made."""
    from PIL import Image

    path = Path(path)
    check_writable(path, image)
    path.parent.mkdir(parents=True, exist_ok=True)
    if image.dtype == np.uint16:
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
