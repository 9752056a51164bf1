"""The image size limit, declared once.

The in-process :class:`~seamrefine.runtime.inference.Refiner`, the daemon (``seam-refine serve
--max-pixels``, whose byte caps on frames and messages are derived from it in
:mod:`seamrefine.service.frames`) and the CLI's image loader all start from :data:`MAX_PIXELS`, and all
word a refusal the same way (:func:`check_pixels`).
"""

from __future__ import annotations

from ..errors import ImageTooLargeError

MAX_PIXELS = 8192 * 8192  # 67.1 MP: 8192×8192, or e.g. 9504×6336 (a 60 MP camera) with room to spare


def megapixels(pixels: int) -> str:
    """``pixels`` as megapixels for a message, three significant digits: ``"67.1 MP"``, ``"0.001 MP"``."""
    return f"{pixels / 1e6:.3g} MP"


def check_pixels(height: int, width: int, max_pixels: int = MAX_PIXELS) -> None:
    """Raise ImageTooLargeError (value ``(height, width)``) when the image has more than ``max_pixels``."""
    if height * width > max_pixels:
        raise ImageTooLargeError(
            f"image is {width}×{height} ({height * width / 1e6:.1f} MP), over the limit of "
            f"{megapixels(max_pixels)}",
            (height, width),
        )
