"""Image files for the commands (seamrefine.app.imagefiles): 16-bit PNGs, grey files, output formats and
the pixel limit."""

from __future__ import annotations

import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image
from seamrefine.app import imagefiles
from seamrefine.errors import ImageTooLargeError, InputError
from seamrefine.runtime.limits import MAX_PIXELS


def png(path, width: int, height: int, rows: bytes | None = None) -> None:
    """An 8-bit grey PNG; ``rows`` None = all black (compresses to almost nothing at any size)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    raw = rows if rows is not None else bytes((width + 1) * height)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 1))
        + chunk(b"IEND", b"")
    )


def test_png16_encoder_known_values(tmp_path):
    rgba = np.array([[[0, 1, 256, 65535], [4660, 22136, 39612, 57005]]], np.uint16)
    p = tmp_path / "k.png"
    p.write_bytes(imagefiles.encode_png16(rgba))
    assert imagefiles.load_image(p).tolist() == rgba.tolist()
    grey = np.array([[0, 32768, 65535]], np.uint16)
    p.write_bytes(imagefiles.encode_png16(grey))
    assert np.asarray(Image.open(p)).tolist() == grey.tolist()
    assert imagefiles.load_image(p).tolist() == grey.tolist()  # 16-bit grey stays grey
    mask = imagefiles.load_mask(p)
    assert mask.dtype == np.float32 and mask.tolist() == [[0.0, pytest.approx(32768 / 65535), 1.0]]


@pytest.mark.parametrize(
    "mode,shape", [("L", (6, 5)), ("LA", (6, 5, 2)), ("RGB", (6, 5, 3)), ("RGBA", (6, 5, 4))]
)
def test_files_keep_their_channel_layout(tmp_path, mode, shape):
    pixels = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    p = tmp_path / "in.png"
    Image.fromarray(pixels, mode).save(p)
    loaded = imagefiles.load_image(p)
    assert loaded.shape == shape
    imagefiles.save_image(tmp_path / "out.png", loaded)
    with Image.open(tmp_path / "out.png") as written:
        assert written.mode == mode
        np.testing.assert_array_equal(np.asarray(written), pixels)


def test_our_limit_is_below_pillows_bomb_warning(tmp_path):
    """The one pixel limit (runtime.limits) reads quietly up to itself; Pillow warns only from 89.5 MP, so
    a 90 MP file is refused by our limit, without a Pillow warning, before decoding."""
    assert MAX_PIXELS == 8192 * 8192 < Image.MAX_IMAGE_PIXELS
    p = tmp_path / "big.png"
    png(p, 9500, 9500, rows=b"")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageTooLargeError, match="9500×9500 .* over the limit of 67.1 MP; crop or"):
            imagefiles.load_mask(p)


def test_the_limit_itself_passes_the_size_check(tmp_path):
    p = tmp_path / "limit.png"
    png(p, 8192, 8192, rows=b"")  # no pixel data: past the size check, decoding fails
    with pytest.raises(InputError, match="cannot read") as e:
        imagefiles.load_mask(p)
    assert not isinstance(e.value, ImageTooLargeError)


def test_over_our_limit_is_refused_before_decoding(tmp_path):
    p = tmp_path / "huge.png"
    png(p, 10_001, 10_000, rows=b"")  # no pixel data: only the header is ever read
    with pytest.raises(ImageTooLargeError, match="10001×10000 .* over the limit of 67.1 MP"):
        imagefiles.load_image(p)
    with pytest.raises(ImageTooLargeError):
        imagefiles.load_mask(p)


@pytest.mark.parametrize(
    "name,image,fragment",
    [
        ("out.xyz", np.zeros((2, 2, 3), np.uint8), ".xyz is not an image format"),
        ("out", np.zeros((2, 2, 3), np.uint8), "no extension is not an image format"),
        ("out.tif", np.zeros((2, 2, 3), np.uint16), "16-bit output must be a .png"),
        ("out.jpg", np.zeros((2, 2, 4), np.uint8), "JPEG has no alpha channel"),
    ],
)
def test_check_writable_refuses(tmp_path, name, image, fragment):
    with pytest.raises(InputError, match=fragment):
        imagefiles.check_writable(tmp_path / name, image)
    with pytest.raises(InputError, match=fragment):
        imagefiles.save_image(tmp_path / name, image)
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize("name", ["o.png", "o.PNG", "o.jpg", "o.jpeg", "o.tif", "o.webp", "o.bmp"])
def test_check_writable_accepts(tmp_path, name):
    image = np.full((4, 4, 3), 128, np.uint8)
    imagefiles.check_writable(tmp_path / name, image)
    imagefiles.save_image(tmp_path / name, image)
    assert imagefiles.load_image(tmp_path / name).shape == (4, 4, 3)
