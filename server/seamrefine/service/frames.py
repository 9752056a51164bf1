"""Low-level frame codec of the wire protocol (docs/protocol.md), shared by requests and replies.

A message is ``[b"", msgpack header, raw frame…]``: this module packs and unpacks the header
(``decode_header``), describes and validates raw data frames (:class:`FrameDesc`, ``frame_descriptors``),
views them as numpy arrays (``frame_array``) or buffers (``as_buffer``), swaps BGR(A) ↔ RGB(A)
(``swap_order``), reduces bad values to something small and msgpack-safe for error replies
(``wire_safe``, ``shown``), and derives the byte caps on frames and messages from the pixel limit
(``frame_cap``, ``message_cap``).
"""

from __future__ import annotations

import math
import reprlib
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np

from ..errors import DTypeError, ProtocolError, ShapeError

DTYPES = {n: np.dtype(n).newbyteorder("<") for n in ("uint8", "uint16", "float16", "float32")}
MAX_HEADER_BYTES = 64 * 1024
MAX_HEADER_DEPTH = 16  # maps and arrays inside each other; a refine header needs 4
MAX_FRAMES = 4  # delimiter, header, image, mask
IMAGE_BYTES_PER_PIXEL = 16  # RGBA float32: the largest image frame per pixel
MASK_BYTES_PER_PIXEL = 4  # float32


def frame_cap(max_pixels: int) -> int:
    """The largest frame a request may hold: the image of ``max_pixels`` in RGBA float32 (or a header)."""
    return max(MAX_HEADER_BYTES, max_pixels * IMAGE_BYTES_PER_PIXEL)


def message_cap(max_pixels: int) -> int:
    """The largest refine request: header, RGBA float32 image and float32 mask of ``max_pixels``."""
    return MAX_HEADER_BYTES + max_pixels * (IMAGE_BYTES_PER_PIXEL + MASK_BYTES_PER_PIXEL)


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 3, 80, 80
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = 8


def shown(value: Any) -> str:
    """``repr(value)`` for a message, bounded in depth and length whatever ``value`` holds."""
    try:
        return _SHORT.repr(value)[:200]
    except Exception:  # a repr that fails (or recurses) must not break the error path
        return f"<{type(value).__name__}>"


@dataclass(frozen=True)
class FrameDesc:
    """Descriptor of one raw data frame: ``{"name", "shape", "dtype", "order"}``."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    order: str

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * DTYPES[self.dtype].itemsize

    def to_wire(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, "order": self.order}

    @classmethod
    def from_wire(cls, obj: Any, index: int) -> FrameDesc:
        """Validate a descriptor map (types only; shape limits are checked by the op)."""
        if not isinstance(obj, dict):
            raise ProtocolError(f"frames[{index}] must be a map, got {type(obj).__name__}", wire_safe(obj))
        for key in ("name", "dtype", "order"):
            if not isinstance(obj.get(key), str):
                raise ProtocolError(f"frames[{index}].{key} must be a string", wire_safe(obj.get(key)))
        shape = obj.get("shape")
        if not isinstance(shape, list) or not 1 <= len(shape) <= 4:
            raise ProtocolError(f"frames[{index}].shape must be a list of 1–4 ints", wire_safe(shape))
        if any(type(d) is not int for d in shape):
            raise ProtocolError(f"frames[{index}].shape must hold ints", wire_safe(shape))
        if obj["dtype"] not in DTYPES:
            raise DTypeError(f"frames[{index}]: unknown dtype {obj['dtype']!r}", wire_safe(obj["dtype"]))
        if any(d < 0 for d in shape):
            raise ShapeError(f"frames[{index}]: negative dimension in shape {shape}", shape)
        return cls(obj["name"], tuple(shape), obj["dtype"], obj["order"])


def pack_header(obj: Any) -> bytes:
    """``obj`` (a header map) as msgpack, bin type for bytes."""
    return msgpack.packb(obj, use_bin_type=True)


def as_buffer(data: Any) -> Any:
    """A frame payload for pyzmq: numpy arrays as a contiguous byte view (b"" when empty)."""
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data).data.cast("B") if data.size else b""
    return data


def frame_bytes(frame: Any) -> memoryview:
    """A read-only byte view of a frame (bytes, zmq.Frame or buffer)."""
    buf = getattr(frame, "buffer", frame)
    view = memoryview(buf)
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


def wire_safe(value: Any, depth: int = 0) -> Any:
    """``value`` reduced to something small and msgpack-safe for an error reply."""
    if value is None or isinstance(value, (bool, int, float)):
        if isinstance(value, int) and not -(2**63) <= value < 2**64:
            return str(value)[:64]
        return value
    if isinstance(value, str):
        return value[:200]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    if isinstance(value, (list, tuple)) and depth < 2:
        return [wire_safe(v, depth + 1) for v in list(value)[:16]]
    if isinstance(value, np.generic):
        return value.item()
    return shown(value)


def decode_header(frames: list) -> dict:
    """Check the delimiter and unpack the msgpack header map (ProtocolError on anything else)."""
    if len(frames) < 2:
        raise ProtocolError(
            f"a message needs at least 2 frames (b'' and a header), got {len(frames)}", len(frames)
        )
    if len(frame_bytes(frames[0])) != 0:
        raise ProtocolError("frame 0 must be the empty delimiter", f"<{len(frame_bytes(frames[0]))} bytes>")
    raw = frame_bytes(frames[1])
    if len(raw) > MAX_HEADER_BYTES:
        raise ProtocolError(f"header is {len(raw)} bytes, more than {MAX_HEADER_BYTES}", len(raw))
    try:
        header = msgpack.unpackb(raw, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises many types (ExtraData, ValueError, UnicodeDecodeError…)
        raise ProtocolError(
            f"header is not valid msgpack: {type(exc).__name__}", f"<{len(raw)} bytes>"
        ) from None
    if not isinstance(header, dict):
        raise ProtocolError(f"header must be a msgpack map, got {type(header).__name__}", wire_safe(header))
    return header


def too_deep(obj: Any, limit: int = MAX_HEADER_DEPTH) -> bool:
    """Whether maps and arrays nest more than ``limit`` levels deep in ``obj`` (iterative: no recursion)."""
    stack = [(obj, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = [*item.keys(), *item.values()]
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def frame_descriptors(header: dict, n_data: int) -> list[FrameDesc]:
    """The header's ``frames`` list as FrameDescs, checked against the ``n_data`` frames that arrived."""
    descs = header.get("frames", [])
    if descs is None:
        descs = []
    if not isinstance(descs, list):
        raise ProtocolError("header.frames must be an array of maps", wire_safe(descs))
    if len(descs) != n_data:
        raise ProtocolError(
            f"header describes {len(descs)} data frame(s) but {n_data} arrived", [len(descs), n_data]
        )
    return [FrameDesc.from_wire(d, i) for i, d in enumerate(descs)]


def frame_array(frame: Any, desc: FrameDesc, index: int) -> np.ndarray:
    """Data frame ``index`` as an array of ``desc``'s shape and dtype (a view, no copy)."""
    view = frame_bytes(frame)
    if len(view) != desc.nbytes:
        raise ProtocolError(
            f"frame {desc.name!r} is {len(view)} bytes but shape {list(desc.shape)} × {desc.dtype} needs "
            f"{desc.nbytes}",
            [len(view), desc.nbytes],
        )
    return np.frombuffer(view, dtype=DTYPES[desc.dtype]).reshape(desc.shape)


def swap_order(image: np.ndarray, order: str) -> np.ndarray:
    """BGR(A) ↔ RGB(A) (its own inverse); RGB(A) is returned unchanged."""
    if order in ("BGR", "BGRA"):
        idx = [2, 1, 0, 3][: image.shape[2]]
        return image[..., idx]
    return image

