"""Host-independent part of the GIMP Seam Refine plug-in (standard library only).

Everything here is plain Python so it can be tested without GIMP: which region of the layer is sent,
which pixel format keeps the image's precision, how long to wait, and how a failure is explained to
the artist. ``host.py`` is the only module that talks to GIMP.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

# Context around the selection that the refiner gets to look at (colour, grain and structure to match).
CONTEXT_MIN = 64
CONTEXT_MAX = 256
CONTEXT_FRACTION = 0.25

LAYER_NAME = "Seam Refine"
REFINE_TIMEOUT_S = 600.0
TIMEOUT_ENV = "SEAM_REFINE_PLUGIN_TIMEOUT"
START_HINT = (
    "Start it with `seam-refine serve` in a terminal (or once: `seam-refine daemon install-autostart` "
    "so it starts with your session), then run Seam Refine again."
)


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


def context_margin(width: int, height: int) -> int:
    """Context in pixels around a selection of ``width`` × ``height``: a quarter of its longer side,
    clamped to [CONTEXT_MIN, CONTEXT_MAX]."""
    return int(min(CONTEXT_MAX, max(CONTEXT_MIN, round(CONTEXT_FRACTION * max(width, height)))))


def crop_box(selection: Box, drawable_width: int, drawable_height: int, context: int | None = None) -> Box:
    """The crop sent to the daemon: ``selection`` (drawable coordinates, as returned by
    ``mask_intersect``) grown by ``context`` pixels on every side and clipped to the drawable."""
    if context is None:
        context = context_margin(selection.width, selection.height)
    x0 = max(0, selection.x - context)
    y0 = max(0, selection.y - context)
    x1 = min(drawable_width, selection.x + selection.width + context)
    y1 = min(drawable_height, selection.y + selection.height + context)
    return Box(x0, y0, max(0, x1 - x0), max(0, y1 - y0))


def refine_timeout(environ) -> float:
    """Seconds to wait for the daemon's answer: ``$SEAM_REFINE_PLUGIN_TIMEOUT`` when it is a positive
    number, else REFINE_TIMEOUT_S."""
    try:
        value = float(environ.get(TIMEOUT_ENV, ""))
    except ValueError:
        return REFINE_TIMEOUT_S
    return value if 0 < value < float("inf") else REFINE_TIMEOUT_S


class PluginError(Exception):
    """A failure to show the artist; ``str()`` is the message."""


def explain(exc: BaseException, timeout_s: float = REFINE_TIMEOUT_S) -> str:
    """Turn a client exception (``seamrefine_client.ClientError`` or an OSError) into a message an
    artist can act on."""
    if isinstance(exc, PluginError):
        return str(exc)
    name = type(exc).__name__
    code = getattr(exc, "code", None)
    text = str(getattr(exc, "message", None) or exc)
    if name == "DaemonNotRunning" or code in ("not_running", "connection_lost"):
        return text if "seam-refine serve" in text else f"{text} {START_HINT}"
    if name == "DaemonBusy" or code == "busy":
        return "The Seam Refine daemon is busy with other images. Wait a moment and try again."
    if name == "DaemonTimeout" or code == "timeout":
        return (
            f"The Seam Refine daemon did not answer within {timeout_s:g} s. It may be stuck or busy "
            "with a large image: check it with `seam-refine daemon status`, or refine a smaller selection."
        )
    if code == "cancelled":
        return "Seam Refine was cancelled."
    if code == "empty_mask":
        return "The selection is empty on this layer: select the region to refine and try again."
    if code == "full_mask":
        return (
            "Everything around the selection is selected, so there is no seam to blend into: "
            "select only the generated region."
        )
    if code == "too_large":
        return f"The selection is too large for the daemon ({text}). Refine a smaller region."
    if code is not None:
        return f"Seam Refine failed ({code}): {text}"
    return f"Seam Refine failed: {name}: {text}"


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
