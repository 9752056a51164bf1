"""Wire protocol v1 (docs/protocol.md): typed messages and their multipart-frame encoding.

A message is ``[b"", msgpack header, raw frame…]``. Requests decode into :class:`Request` (hello, ping,
cancel) or :class:`RefineJob` (refine, with numpy arrays already swapped from BGR(A) to RGB(A));
replies are :class:`Reply`. Every decoding failure raises a typed :class:`~seamrefine.errors.SeamRefineError`
carrying the bad value, with ``request_id`` set to the request's id when it could be read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import msgpack
import numpy as np

from . import PROTOCOL_VERSION
from .errors import (
    AuthError,
    DTypeError,
    ImageTooLargeError,
    InputError,
    ProtocolError,
    SeamRefineError,
    ShapeError,
)

OPS = ("hello", "ping", "refine", "cancel")
REPLY_TYPES = ("info", "pong", "progress", "result", "ok", "error")
DTYPES = {n: np.dtype(n).newbyteorder("<") for n in ("uint8", "uint16", "float16", "float32")}
IMAGE_ORDERS = {"RGB": 3, "RGBA": 4, "BGR": 3, "BGRA": 4}
MASK_DTYPES = ("uint8", "float32")
MAX_ID_LEN = 64
MAX_HEADER_BYTES = 64 * 1024
MAX_SAMPLES = 8
MAX_BAND = 512
DEFAULT_MAX_PIXELS = 8192 * 8192
DEFAULT_MAX_MESSAGE_BYTES = 1 << 30
REFINE_PARAMS = ("strength", "samples", "band")


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
            raise ProtocolError(f"frames[{index}] must be a map, got {type(obj).__name__}", _safe(obj))
        for key in ("name", "dtype", "order"):
            if not isinstance(obj.get(key), str):
                raise ProtocolError(f"frames[{index}].{key} must be a string", _safe(obj.get(key)))
        shape = obj.get("shape")
        if not isinstance(shape, list) or not 1 <= len(shape) <= 4:
            raise ProtocolError(f"frames[{index}].shape must be a list of 1–4 ints", _safe(shape))
        if any(type(d) is not int for d in shape):
            raise ProtocolError(f"frames[{index}].shape must hold ints", _safe(shape))
        if obj["dtype"] not in DTYPES:
            raise DTypeError(f"frames[{index}]: unknown dtype {obj['dtype']!r}", _safe(obj["dtype"]))
        if any(d < 0 for d in shape):
            raise ShapeError(f"frames[{index}]: negative dimension in shape {shape}", shape)
        return cls(obj["name"], tuple(shape), obj["dtype"], obj["order"])


@dataclass(frozen=True)
class RefineParams:
    """Refine parameters: ``strength`` 0–1, ``samples`` 1–8, ``band`` px or None (model default)."""

    strength: float = 1.0
    samples: int = 1
    band: int | None = None

    def to_wire(self) -> dict:
        return {"strength": float(self.strength), "samples": int(self.samples), "band": self.band}

    @classmethod
    def from_wire(cls, obj: Any) -> RefineParams:
        if obj is None:
            return cls()
        if not isinstance(obj, dict):
            raise ProtocolError(f"params must be a map, got {type(obj).__name__}", _safe(obj))
        unknown = sorted(str(k) for k in obj if k not in REFINE_PARAMS)
        if unknown:
            raise InputError(f"unknown refine parameter(s): {', '.join(unknown)}", unknown)
        strength = obj.get("strength", 1.0)
        if isinstance(strength, bool) or not isinstance(strength, (int, float)):
            raise InputError("strength must be a number in [0, 1]", _safe(strength))
        if not math.isfinite(strength) or not 0.0 <= strength <= 1.0:
            raise InputError(f"strength must be a number in [0, 1], got {strength}", strength)
        samples = obj.get("samples", 1)
        if type(samples) is not int or not 1 <= samples <= MAX_SAMPLES:
            raise InputError(f"samples must be an int in [1, {MAX_SAMPLES}], got {samples!r}", _safe(samples))
        band = obj.get("band")
        if band is not None and (type(band) is not int or not 0 <= band <= MAX_BAND):
            raise InputError(f"band must be nil or an int in [0, {MAX_BAND}], got {band!r}", _safe(band))
        return cls(float(strength), samples, band)


@dataclass
class Request:
    """A decoded request header (hello, ping, cancel; refine's header inside :class:`RefineJob`)."""

    op: str
    id: str
    token: str = ""
    params: dict = field(default_factory=dict)
    frames: list[FrameDesc] = field(default_factory=list)
    v: int = PROTOCOL_VERSION

    def header(self) -> dict:
        h: dict = {"v": self.v, "op": self.op, "id": self.id, "token": self.token}
        if self.params:
            h["params"] = self.params
        if self.frames:
            h["frames"] = [f.to_wire() for f in self.frames]
        return h


@dataclass
class RefineJob:
    """A decoded refine request: ``image`` is RGB(A) (swapped from BGR(A)), ``mask`` H×W."""

    request: Request
    image: np.ndarray
    mask: np.ndarray
    params: RefineParams
    image_desc: FrameDesc

    @property
    def id(self) -> str:
        return self.request.id


@dataclass
class Reply:
    """A reply: ``type``, echoed ``id``, extra header ``fields``, and data ``frames``."""

    type: str
    id: str | None
    fields: dict = field(default_factory=dict)
    frames: list[tuple[FrameDesc, Any]] = field(default_factory=list)

    def header(self) -> dict:
        h = {"v": PROTOCOL_VERSION, "id": self.id, "type": self.type, **self.fields}
        if self.frames:
            h["frames"] = [d.to_wire() for d, _ in self.frames]
        return h

    def encode(self) -> list:
        return [b"", _pack(self.header())] + [_as_buffer(data) for _, data in self.frames]

    @classmethod
    def decode(cls, frames: list) -> Reply:
        """Client side: parse a reply (frames as received by a DEALER, starting with b"")."""
        header = decode_header(frames)
        rtype = header.get("type")
        if rtype not in REPLY_TYPES:
            raise ProtocolError(f"unknown reply type {rtype!r}", _safe(rtype))
        descs = _descriptors(header, len(frames) - 2)
        arrays = []
        for i, d in enumerate(descs):
            arrays.append((d, _frame_array(frames[i + 2], d, i)))
        fields = {k: v for k, v in header.items() if k not in ("v", "id", "type", "frames")}
        return cls(rtype, header.get("id"), fields, arrays)

    def raise_for_error(self) -> None:
        """Raise the typed error an ``error`` reply stands for."""
        if self.type == "error":
            raise error_from_code(
                self.fields.get("code"), self.fields.get("message"), self.fields.get("value")
            )


def error_reply(request_id: str | None, exc: BaseException) -> Reply:
    """An ``error`` reply for ``exc`` (SeamRefineError keeps its code, anything else is ``internal``)."""
    if isinstance(exc, SeamRefineError):
        fields = {"code": exc.code, "message": exc.message}
        if exc.value is not None:
            fields["value"] = _safe(exc.value)
    else:
        fields = {"code": "internal", "message": f"internal error: {type(exc).__name__}: {exc}"[:500]}
    return Reply("error", request_id, fields)


def error_from_code(code: Any, message: Any, value: Any = None) -> SeamRefineError:
    """The SeamRefineError subclass for a wire error ``code``."""
    from . import errors

    classes = {
        c.code: c
        for c in (
            errors.ProtocolError,
            errors.AuthError,
            errors.InputError,
            errors.EmptyMaskError,
            errors.FullMaskError,
            errors.ImageTooLargeError,
            errors.BusyError,
            errors.CancelledError,
            errors.ModelError,
        )
    }
    cls = classes.get(code, SeamRefineError)
    exc = cls(str(message or code), value)
    if cls is SeamRefineError:
        exc.code = str(code)
    return exc


def _pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def _as_buffer(data: Any) -> Any:
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data).data.cast("B") if data.size else b""
    return data


def _bytes(frame: Any) -> memoryview:
    """A read-only byte view of a frame (bytes, zmq.Frame or buffer)."""
    buf = getattr(frame, "buffer", frame)
    view = memoryview(buf)
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


def _safe(value: Any, depth: int = 0) -> Any:
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
        return [_safe(v, depth + 1) for v in list(value)[:16]]
    if isinstance(value, np.generic):
        return value.item()
    return repr(value)[:200]


def decode_header(frames: list) -> dict:
    """Check the delimiter and unpack the msgpack header map (ProtocolError on anything else)."""
    if len(frames) < 2:
        raise ProtocolError(
            f"a message needs at least 2 frames (b'' and a header), got {len(frames)}", len(frames)
        )
    if len(_bytes(frames[0])) != 0:
        raise ProtocolError("frame 0 must be the empty delimiter", f"<{len(_bytes(frames[0]))} bytes>")
    raw = _bytes(frames[1])
    if len(raw) > MAX_HEADER_BYTES:
        raise ProtocolError(f"header is {len(raw)} bytes, more than {MAX_HEADER_BYTES}", len(raw))
    try:
        header = msgpack.unpackb(raw, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises many types (ExtraData, ValueError, UnicodeDecodeError…)
        raise ProtocolError(
            f"header is not valid msgpack: {type(exc).__name__}", f"<{len(raw)} bytes>"
        ) from None
    if not isinstance(header, dict):
        raise ProtocolError(f"header must be a msgpack map, got {type(header).__name__}", _safe(header))
    return header


def peek_id(header: dict) -> str | None:
    """The request id, if the header carries a valid one."""
    rid = header.get("id")
    return rid if isinstance(rid, str) and 0 < len(rid) <= MAX_ID_LEN else None


def _descriptors(header: dict, n_data: int) -> list[FrameDesc]:
    descs = header.get("frames", [])
    if descs is None:
        descs = []
    if not isinstance(descs, list):
        raise ProtocolError("header.frames must be an array of maps", _safe(descs))
    if len(descs) != n_data:
        raise ProtocolError(
            f"header describes {len(descs)} data frame(s) but {n_data} arrived", [len(descs), n_data]
        )
    return [FrameDesc.from_wire(d, i) for i, d in enumerate(descs)]


def _frame_array(frame: Any, desc: FrameDesc, index: int) -> np.ndarray:
    view = _bytes(frame)
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


def decode_request(
    frames: list,
    *,
    token: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> Request | RefineJob:
    """Decode a request (frames after the routing identity, starting with b""), validating strictly.

    ``token``: the expected token (None skips the check). Raises SeamRefineError with ``request_id``.
    """
    rid = None
    try:
        total = sum(len(_bytes(f)) for f in frames)
        header = decode_header(frames)
        rid = peek_id(header)
        if rid is None:
            raise ProtocolError(
                f"header.id must be a string of 1–{MAX_ID_LEN} chars", _safe(header.get("id"))
            )
        if header.get("v") != PROTOCOL_VERSION:
            raise ProtocolError(
                f"protocol version {header.get('v')!r} is not supported (this daemon speaks "
                f"{PROTOCOL_VERSION})",
                _safe(header.get("v")),
            )
        if token is not None:
            import hmac

            got = header.get("token")
            if not isinstance(got, str) or not hmac.compare_digest(got.encode(), token.encode()):
                raise AuthError("missing or wrong token (read it from endpoint.json)", None)
        op = header.get("op")
        if op not in OPS:
            raise ProtocolError(f"unknown op {op!r}; expected one of {', '.join(OPS)}", _safe(op))
        if total > max_message_bytes:
            raise ImageTooLargeError(
                f"message is {total} bytes, more than the limit {max_message_bytes}", total
            )
        params = header.get("params") or {}
        if not isinstance(params, dict):
            raise ProtocolError(f"params must be a map, got {type(params).__name__}", _safe(params))
        descs = _descriptors(header, len(frames) - 2)
        req = Request(op, rid, header.get("token") or "", params, descs)
        if op == "refine":
            return _decode_refine(req, frames, max_pixels)
        if descs:
            raise ProtocolError(f"op {op!r} takes no data frames, got {len(descs)}", len(descs))
        if op == "cancel":
            target = params.get("target")
            if not isinstance(target, str) or not 0 < len(target) <= MAX_ID_LEN:
                raise InputError("cancel needs params.target: the id of the request to cancel", _safe(target))
        return req
    except SeamRefineError as exc:
        exc.request_id = rid
        raise


def _decode_refine(req: Request, frames: list, max_pixels: int) -> RefineJob:
    params = RefineParams.from_wire(req.params)
    by_name: dict[str, int] = {}
    for i, d in enumerate(req.frames):
        if d.name in by_name:
            raise InputError(f"frame name {d.name!r} appears twice", d.name)
        by_name[d.name] = i
    if set(by_name) != {"image", "mask"}:
        raise InputError(
            f"refine needs exactly the frames 'image' and 'mask', got {sorted(by_name)}", sorted(by_name)
        )
    idesc, mdesc = req.frames[by_name["image"]], req.frames[by_name["mask"]]
    if idesc.order not in IMAGE_ORDERS:
        raise InputError(
            f"image order must be one of {', '.join(IMAGE_ORDERS)}, got {idesc.order!r}", idesc.order
        )
    channels = IMAGE_ORDERS[idesc.order]
    if len(idesc.shape) != 3 or idesc.shape[2] != channels:
        raise ShapeError(
            f"image shape must be [H, W, {channels}] for order {idesc.order}, got {list(idesc.shape)}",
            list(idesc.shape),
        )
    h, w = idesc.shape[:2]
    if h < 1 or w < 1:
        raise ShapeError(f"image must be at least 1×1, got {h}×{w}", [h, w])
    if h * w > max_pixels:
        raise ImageTooLargeError(f"image has {h * w} pixels, more than the limit {max_pixels}", h * w)
    if mdesc.order != "Y":
        raise InputError(f"mask order must be 'Y', got {mdesc.order!r}", mdesc.order)
    if mdesc.dtype not in MASK_DTYPES:
        raise DTypeError(f"mask dtype must be uint8 or float32, got {mdesc.dtype}", mdesc.dtype)
    if list(mdesc.shape) != [h, w]:
        raise ShapeError(
            f"mask shape {list(mdesc.shape)} does not match the image's {h}×{w}", list(mdesc.shape)
        )
    image = _frame_array(frames[2 + by_name["image"]], idesc, by_name["image"])
    mask = _frame_array(frames[2 + by_name["mask"]], mdesc, by_name["mask"])
    if image.dtype.kind == "f" and not np.isfinite(image).all():
        raise InputError("image contains NaN or infinite values", "non-finite")
    if mask.dtype.kind == "f":
        if not np.isfinite(mask).all():
            raise InputError("mask contains NaN or infinite values", "non-finite")
        if mask.min() < 0.0 or mask.max() > 1.0:
            raise InputError("float mask must lie in [0, 1]", [float(mask.min()), float(mask.max())])
    image = swap_order(image, idesc.order)
    return RefineJob(req, image, mask, params, idesc)


def encode_refine(
    request_id: str,
    token: str,
    image: np.ndarray,
    mask: np.ndarray,
    *,
    order: str | None = None,
    params: RefineParams | None = None,
) -> list:
    """Client side: the frames of a refine request (``image`` is sent as is, in ``order``)."""
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ShapeError(f"image must be H×W×3 or H×W×4, got shape {image.shape}", image.shape)
    order = order or ("RGBA" if image.shape[2] == 4 else "RGB")
    name = image.dtype.name
    if name not in DTYPES:
        raise DTypeError(f"image dtype must be one of {', '.join(DTYPES)}, got {name}", name)
    if mask.dtype == np.bool_:
        mask = mask.astype(np.uint8) * 255
    if mask.dtype.name not in MASK_DTYPES:
        mask = mask.astype(np.float32)
    image = np.ascontiguousarray(image, dtype=DTYPES[name])
    mask = np.ascontiguousarray(mask, dtype=DTYPES[mask.dtype.name])
    frames = [
        FrameDesc("image", tuple(image.shape), name, order),
        FrameDesc("mask", tuple(mask.shape), mask.dtype.name, "Y"),
    ]
    req = Request("refine", request_id, token, (params or RefineParams()).to_wire(), frames)
    return [b"", _pack(req.header()), _as_buffer(image), _as_buffer(mask)]


def encode_request(req: Request) -> list:
    """Client side: the frames of a request without data (hello, ping, cancel)."""
    return [b"", _pack(req.header())]


def result_reply(job: RefineJob, refined: np.ndarray, **fields: Any) -> Reply:
    """The ``result`` reply for ``job``: ``refined`` (RGB(A), same shape and dtype) in the request's order."""
    d = job.image_desc
    if refined.shape != d.shape or refined.dtype.name != d.dtype:
        raise SeamRefineError(
            f"refiner returned {refined.shape} {refined.dtype}, expected {d.shape} {d.dtype}",
            list(refined.shape),
        )
    out = np.ascontiguousarray(swap_order(refined, d.order), dtype=DTYPES[d.dtype])
    return Reply("result", job.id, dict(fields), [(d, out)])
