"""Host-independent part of the GIMP Seam Refine plug-in (standard library only).

Everything here is plain Python so it can be tested without GIMP: which pixel format keeps the image's
precision, and waiting for the daemon with progress. The crop, timeout and messages both plug-ins share
are in ``seamrefine_policy.py``. ``host.py`` is the only module that talks to GIMP.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class PixelFormat:
    """How pixels travel: the babl format GIMP converts to and the matching wire dtype."""

    babl: str
    dtype: str
    itemsize: int


U8 = PixelFormat("R'G'B'A u8", "uint8", 1)
U16 = PixelFormat("R'G'B'A u16", "uint16", 2)
FLOAT = PixelFormat("R'G'B'A float", "float32", 4)
MASK_BABL = "Y u8"


def pixel_format(precision_nick: str, srgb: bool = True) -> PixelFormat:
    """Pick the wire format for a GIMP precision nick such as ``"u8-non-linear"`` or ``"half-linear"``;
    ``srgb`` tells whether the image uses GIMP's built-in sRGB (or sRGB-curve gray) profile.

    The refiner works on sRGB (R'G'B') values, so that is what travels. 8- and 16-bit sRGB images
    stored with the sRGB curve travel as u8 / u16 unchanged. Everything else goes as float32 R'G'B':
    32-bit integer, half, float and double; *linear* 8/16-bit; and images with another colour profile
    (Adobe RGB…), whose colours may lie outside sRGB. babl's float round trip (image encoding →
    R'G'B' float → image encoding) restores every integer code exactly, where an integer R'G'B' detour
    would round or clip. Nothing is quantized.
    """
    kind, _, encoding = precision_nick.partition("-")
    if kind not in ("u8", "u16", "u32", "half", "float", "double"):
        raise ValueError(f"unknown GIMP precision {precision_nick!r}")
    if srgb and encoding != "linear" and kind == "u8":
        return U8
    if srgb and encoding != "linear" and kind == "u16":
        return U16
    return FLOAT


@dataclass(frozen=True)
class Box:
    """Axis-aligned rectangle: top-left (x, y), size (width, height)."""

    x: int
    y: int
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


class PluginError(Exception):
    """A failure to show the artist: ``text`` (also ``str()``) says what happened and what to do,
    ``details`` holds the technical detail for a "Details" section (may be empty)."""

    def __init__(self, text: str, details: str = ""):
        super().__init__(text)
        self.text = text
        self.details = details

    def full(self) -> str:
        """Text and details in one string (non-interactive calls have no Details section)."""
        return f"{self.text}\n\nDetails:\n{self.details}" if self.details else self.text


def run_in_background(call, tick, poll_s: float = 0.1):
    """Run ``call()`` in a worker thread and call ``tick()`` every ``poll_s`` seconds on this thread
    until it finishes (GIMP's progress calls must stay on the plug-in's main thread).

    Returns what ``call`` returned or raises what it raised.
    """
    box: dict = {}

    def worker():
        try:
            box["value"] = call()
        except BaseException as exc:  # re-raised on the calling thread
            box["error"] = exc

    thread = threading.Thread(target=worker, name="seam-refine-request", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(poll_s)
        if thread.is_alive():
            tick()
    if "error" in box:
        raise box["error"]
    return box["value"]


class ProgressState:
    """Latest progress reported by the daemon, shared between the request thread and the main thread."""

    def __init__(self):
        self._lock = threading.Lock()
        self._fraction: float | None = None

    def report(self, done: int, total: int) -> None:
        with self._lock:
            self._fraction = (done / total) if total else None

    @property
    def fraction(self) -> float | None:
        with self._lock:
            return self._fraction
