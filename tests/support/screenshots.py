"""Screenshots of the plug-ins in their real hosts, for docs/: read (PNG, or an ``Xvfb -fbdir`` XWD
framebuffer), check, shrink, and, with SEAMREFINE_UPDATE_SCREENSHOTS=1, write into docs/.

The capture tests (tests/plugins/test_krita_ux.py, test_gimp_dialog.py) always capture into a temporary
folder and check that each picture is plausible; only with the environment variable set do they
replace the committed pictures. Rerun them that way whenever the plug-ins' UI changes.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
UPDATE_ENV = "SEAMREFINE_UPDATE_SCREENSHOTS"
MAX_BYTES = 300_000


def read_xwd(path: Path) -> np.ndarray:
    """An ``Xvfb -fbdir`` screen (XWD, 24/32-bit TrueColor) as H×W×3 uint8 RGB."""
    data = Path(path).read_bytes()
    f = struct.unpack(">25I", data[:100])
    header, width, height, order, bpp, line, ncolors = f[0], f[4], f[5], f[7], f[11], f[12], f[19]
    if bpp != 32:
        raise ValueError(f"{path}: {bpp} bits per pixel, expected 32")
    start = header + ncolors * 12
    rows = np.frombuffer(data, np.uint8, line * height, start).reshape(height, line)[:, : width * 4]
    px = rows.reshape(height, width, 4)
    return px[..., 2::-1].copy() if order == 0 else px[..., 1:4].copy()  # LSBFirst: B G R X


def crop_box(rgb: np.ndarray, box) -> np.ndarray:
    """``rgb`` cut to ``box`` = (x, y, width, height), clipped to the picture."""
    x, y, w, h = (int(v) for v in box)
    return rgb[max(0, y): y + h, max(0, x): x + w]


def content_box(rgb: np.ndarray, background=(0, 0, 0)) -> tuple[int, int, int, int]:
    """The bounding box (x, y, width, height) of everything that is not ``background`` (an Xvfb screen
    is black where no window is)."""
    ys, xs = np.nonzero(np.any(rgb != np.asarray(background, np.uint8), axis=-1))
    if ys.size == 0:
        return 0, 0, 0, 0
    return int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


def check_plausible(rgb: np.ndarray, min_size=(200, 60)) -> None:
    """A screenshot of a window: big enough, and not one flat colour (a blank or failed grab)."""
    h, w = rgb.shape[:2]
    assert w >= min_size[0] and h >= min_size[1], f"screenshot is only {w}×{h}"
    colours = np.unique(rgb.reshape(-1, rgb.shape[-1])[:: max(1, h * w // 20000)], axis=0)
    assert len(colours) > 16, f"screenshot has {len(colours)} colours: blank?"
    assert rgb.std() > 8, "screenshot is nearly flat"


def save(rgb: np.ndarray, name: str, tmp_dir: Path, max_width: int = 960) -> Path:
    """Write ``rgb`` as ``tmp_dir/name`` (PNG, at most ``max_width`` wide, true colour or, where that is
    over 300 KB, a dithered 256-colour palette); with SEAMREFINE_UPDATE_SCREENSHOTS=1 also to
    ``docs/name``. Returns the file."""
    image = Image.fromarray(np.ascontiguousarray(rgb[..., :3]), "RGB")
    if image.width > max_width:
        image = image.resize((max_width, round(image.height * max_width / image.width)), Image.LANCZOS)
    out = Path(tmp_dir) / name
    image.save(out, optimize=True)
    if out.stat().st_size >= MAX_BYTES:
        image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG).save(
            out, optimize=True)
    assert out.stat().st_size < MAX_BYTES, f"{name}: {out.stat().st_size} bytes"
    if os.environ.get(UPDATE_ENV) == "1":
        DOCS.mkdir(exist_ok=True)
        (DOCS / name).write_bytes(out.read_bytes())
    return out


def committed(name: str) -> Path:
    """The picture as committed in docs/ (the README shows it)."""
    return DOCS / name
