"""Wire protocol v1 (docs/protocol.md): typed messages and their multipart-frame encoding.

A message is ``[b"", msgpack header, raw frame…]``. Requests decode into :class:`Request` (hello, ping,
cancel) or :class:`RefineJob` (refine, with numpy arrays already swapped from BGR(A) to RGB(A));
replies are :class:`Reply`. Every decoding failure raises a typed :class:`~seamrefine.errors.SeamRefineError`
carrying the bad value, with ``request_id`` set to the request's id when it could be read.
The frame-level codec (header, :class:`FrameDesc`, raw frames, ``swap_order``) lives in
:mod:`seamrefine.service.frames`.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import PROTOCOL_VERSION
from ..errors import (
    AuthError,
    DTypeError,
    ImageTooLargeError,
    InputError,
    ProtocolError,
    SeamRefineError,
    ShapeError,
)
from ..imaging import imagemath
from ..runtime.limits import MAX_PIXELS, check_pixels
from ..runtime.params import RefineParams
from .frames import (
    DTYPES,
    MAX_FRAMES,
    MAX_HEADER_DEPTH,
    FrameDesc,
    as_buffer,
    decode_header,
    frame_array,
    frame_bytes,
    frame_descriptors,
    message_cap,
    pack_header,
    shown,
    swap_order,
    too_deep,
    wire_safe,
)

OPS = ("hello", "ping", "refine", "cancel")
REPLY_TYPES = ("info", "pong", "progress", "result", "ok", "error")
IMAGE_ORDERS = {"RGB": 3, "RGBA": 4, "BGR": 3, "BGRA": 4}
MASK_DTYPES = ("uint8", "float32")
MAX_ID_LEN = 64
DEFAULT_MAX_PIXELS = MAX_PIXELS  # the one pixel limit (runtime/limits.py)
DEFAULT_MAX_MESSAGE_BYTES = message_cap(MAX_PIXELS)  # header + RGBA float32 image + float32 mask


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
        return [b"", pack_header(self.header())] + [as_buffer(data) for _, data in self.frames]

    @classmethod
    def decode(cls, frames: list) -> Reply:
        """Client side: parse a reply (frames as received by a DEALER, starting with b"")."""
        header = decode_header(frames)
        if too_deep(header):
            raise ProtocolError(f"reply header nests more than {MAX_HEADER_DEPTH} deep", peek_id(header))
        rtype = header.get("type")
        if rtype not in REPLY_TYPES:
            raise ProtocolError(f"unknown reply type {shown(rtype)}", wire_safe(rtype))
        descs = frame_descriptors(header, len(frames) - 2)
        arrays = []
        for i, d in enumerate(descs):
            arrays.append((d, frame_array(frames[i + 2], d, i)))
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
            fields["value"] = wire_safe(exc.value)
    else:
        fields = {"code": "internal", "message": f"internal error: {type(exc).__name__}: {exc}"[:500]}
    return Reply("error", request_id, fields)


def error_from_code(code: Any, message: Any, value: Any = None) -> SeamRefineError:
    """The SeamRefineError subclass for a wire error ``code``."""
    from .. import errors

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


def peek_id(header: dict) -> str | None:
    """The request id, if the header carries a valid one."""
    rid = header.get("id")
    return rid if isinstance(rid, str) and 0 < len(rid) <= MAX_ID_LEN else None


def read_header(frames: list, token: str | None = None) -> tuple[dict, str]:
    """Check what the first two frames (delimiter, header) of a request say: (header, id).

    Runs the checks that need no data frame, in order: header, id, depth, version, token, op. The
    daemon runs them before it looks at any pixel frame. Raises SeamRefineError with ``request_id``.
    """
    rid = None
    try:
        header = decode_header(frames)
        rid = peek_id(header)
        if rid is None:
            raise ProtocolError(
                f"header.id must be a string of 1–{MAX_ID_LEN} chars", wire_safe(header.get("id"))
            )
        if too_deep(header):
            raise ProtocolError(f"header nests maps and arrays more than {MAX_HEADER_DEPTH} deep", rid)
        version = header.get("v")
        if type(version) is not int or version != PROTOCOL_VERSION:  # not True, not 1.0
            raise ProtocolError(
                f"protocol version {shown(version)} is not supported (this daemon speaks the integer "
                f"{PROTOCOL_VERSION})",
                wire_safe(version),
            )
        if token is not None:
            got = header.get("token")
            if not isinstance(got, str) or not hmac.compare_digest(got.encode(), token.encode()):
                raise AuthError("missing or wrong token (read it from endpoint.json)", None)
        op = header.get("op")
        if op not in OPS:
            raise ProtocolError(f"unknown op {shown(op)}; expected one of {', '.join(OPS)}", wire_safe(op))
        return header, rid
    except SeamRefineError as exc:
        exc.request_id = rid
        raise


def decode_request(
    frames: list,
    *,
    token: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> Request | RefineJob:
    """Decode a request (frames after the routing identity, starting with b""), validating strictly.

    ``token``: the expected token (None skips the check). Checks run in the order of docs/protocol.md
    (:func:`read_header`'s, then size, params, frames). Raises SeamRefineError with ``request_id``.
    """
    header, rid = read_header(frames, token)
    try:
        total = sum(len(frame_bytes(f)) for f in frames)
        if total > max_message_bytes:
            raise ImageTooLargeError(
                f"message is {total} bytes, more than the limit {max_message_bytes}", total
            )
        if len(frames) > MAX_FRAMES:
            raise ProtocolError(f"a message has at most {MAX_FRAMES} frames, got {len(frames)}", len(frames))
        params = header.get("params") or {}
        if not isinstance(params, dict):
            raise ProtocolError(f"params must be a map, got {type(params).__name__}", wire_safe(params))
        op = header["op"]
        descs = frame_descriptors(header, len(frames) - 2)
        req = Request(op, rid, header.get("token") or "", params, descs)
        if op == "refine":
            return _decode_refine(req, frames, max_pixels)
        if descs:
            raise ProtocolError(f"op {op!r} takes no data frames, got {len(descs)}", len(descs))
        if op == "cancel":
            target = params.get("target")
            if not isinstance(target, str) or not 0 < len(target) <= MAX_ID_LEN:
                raise InputError(
                    "cancel needs params.target: the id of the request to cancel", wire_safe(target)
                )
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
    check_pixels(h, w, max_pixels)
    if mdesc.order != "Y":
        raise InputError(f"mask order must be 'Y', got {mdesc.order!r}", mdesc.order)
    if mdesc.dtype not in MASK_DTYPES:
        raise DTypeError(f"mask dtype must be uint8 or float32, got {mdesc.dtype}", mdesc.dtype)
    if len(mdesc.shape) != 2:
        raise ShapeError(f"mask shape must be [H, W], got {list(mdesc.shape)}", list(mdesc.shape))
    imagemath.check_mask_size(mdesc.shape, (h, w))
    image = frame_array(frames[2 + by_name["image"]], idesc, by_name["image"])
    mask = frame_array(frames[2 + by_name["mask"]], mdesc, by_name["mask"])
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
    return [b"", pack_header(req.header()), as_buffer(image), as_buffer(mask)]


def encode_request(req: Request) -> list:
    """Client side: the frames of a request without data (hello, ping, cancel)."""
    return [b"", pack_header(req.header())]


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
