"""Wire protocol v1: encode/decode round trips, strict validation with typed errors, a seeded fuzz."""

from __future__ import annotations

import math

import msgpack
import numpy as np
import pytest
from seamrefine.errors import (
    AuthError,
    DTypeError,
    ImageTooLargeError,
    InputError,
    ProtocolError,
    SeamRefineError,
    ShapeError,
)
from seamrefine.service.frames import FrameDesc, swap_order
from seamrefine.service.protocol import (
    RefineJob,
    RefineParams,
    Reply,
    Request,
    decode_request,
    encode_refine,
    encode_request,
    error_from_code,
    error_reply,
    result_reply,
)

from .message_fuzz import header_with_raw, mutate, nested

TOKEN = "t" * 32


def _img(rng, h=6, w=5, c=3, dtype=np.uint8):
    if np.dtype(dtype).kind == "f":
        return rng.random((h, w, c)).astype(dtype)
    return rng.integers(0, np.iinfo(dtype).max, (h, w, c), dtype=dtype, endpoint=True)


def _mask(h=6, w=5):
    m = np.zeros((h, w), np.uint8)
    m[2:4, 1:3] = 255
    return m


def _refine_frames(rng=None, **kw):
    rng = rng or np.random.default_rng(0)
    return [bytes(f) for f in encode_refine("r1", TOKEN, _img(rng), _mask(), **kw)]


def _header(frames):
    return msgpack.unpackb(frames[1])


def _with_header(msg, **changes):
    h = _header(msg)
    for k, v in changes.items():
        if v is _DROP:
            h.pop(k, None)
        else:
            h[k] = v
    return [msg[0], msgpack.packb(h), *msg[2:]]


_DROP = object()


# ---- smoke / round trips ------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float16", "float32"])
@pytest.mark.parametrize("order", ["RGB", "RGBA", "BGR", "BGRA"])
def test_refine_round_trip(dtype, order):
    rng = np.random.default_rng(1)
    img = _img(rng, c=len(order), dtype=dtype)
    frames = encode_refine("abc", TOKEN, img, _mask(), order=order, params=RefineParams(0.5, 3, 7))
    job = decode_request(frames, token=TOKEN)
    assert isinstance(job, RefineJob) and job.id == "abc"
    assert job.params == RefineParams(0.5, 3, 7)
    assert job.image.dtype == np.dtype(dtype) and job.image.shape == img.shape
    expect = img[..., [2, 1, 0, 3][: len(order)]] if order.startswith("BGR") else img
    np.testing.assert_array_equal(job.image, expect)  # decoded to RGB(A)
    np.testing.assert_array_equal(job.mask, _mask())
    reply = Reply.decode(result_reply(job, job.image, elapsed_ms=1.0).encode())
    assert reply.type == "result" and reply.id == "abc" and reply.fields["elapsed_ms"] == 1.0
    ((desc, out),) = reply.frames
    assert desc.order == order and desc.dtype == dtype
    np.testing.assert_array_equal(out, img)  # swapped back to the request's order


def test_colorspace_param_round_trip_and_errors():
    img = np.zeros((*_mask().shape, 3), np.float32)
    frames = encode_refine("c", TOKEN, img, _mask(), params=RefineParams(colorspace="linear"))
    job = decode_request(frames, token=TOKEN)
    assert job.params.colorspace == "linear"
    assert "colorspace" not in RefineParams().to_wire()  # absent means sRGB
    assert RefineParams.from_wire({}).colorspace == "srgb"
    for bad in ("rgb", "", 3, None, ["linear"]):
        with pytest.raises(InputError, match="colorspace must be 'srgb' or 'linear'") as e:
            RefineParams.from_wire({"colorspace": bad})
        assert e.value.value == bad


def test_simple_requests_round_trip():
    for op in ("hello", "ping"):
        req = decode_request(encode_request(Request(op, "x", TOKEN)), token=TOKEN)
        assert isinstance(req, Request) and req.op == op and req.id == "x"
    req = decode_request(encode_request(Request("cancel", "c", TOKEN, {"target": "r1"})), token=TOKEN)
    assert req.params == {"target": "r1"}


def test_float_mask_and_defaults():
    img = np.zeros((4, 4, 3), np.float32)
    mask = np.zeros((4, 4), np.float32)
    mask[1, 1] = 0.25
    job = decode_request(encode_refine("m", TOKEN, img, mask), token=TOKEN)
    assert job.params == RefineParams() and job.mask.dtype == np.float32 and job.mask[1, 1] == 0.25


def test_swap_order_is_an_involution():
    x = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(swap_order(swap_order(x, "BGRA"), "BGRA"), x)
    assert swap_order(x, "BGRA")[0, 0].tolist() == [2, 1, 0, 3]
    assert swap_order(x, "RGBA") is x


def test_error_reply_known_values():
    exc = ShapeError("bad shape", (1, 2))
    r = Reply.decode(error_reply("q", exc).encode())
    assert r.type == "error" and r.id == "q"
    assert r.fields == {"code": "bad_input", "message": "bad shape", "value": [1, 2]}
    internal = Reply.decode(error_reply(None, KeyError("boom")).encode())
    assert internal.fields["code"] == "internal" and internal.id is None
    with pytest.raises(InputError):
        r.raise_for_error()
    e = error_from_code("busy", "later")
    assert e.code == "busy" and e.message == "later"
    assert error_from_code("weird", "w").code == "weird"


# ---- strict validation: each error is typed and carries the bad value ---------------------------
def _fails(frames, exc_type, value=..., token=TOKEN, **kw):
    with pytest.raises(exc_type) as info:
        decode_request(frames, token=token, **kw)
    if value is not ...:
        assert info.value.value == value
    return info.value


def test_frame_count_mismatch():
    f = _refine_frames()
    e = _fails(f[:-1], ProtocolError, [2, 1])
    assert e.code == "bad_request" and e.request_id == "r1"


def test_byte_length_mismatch():
    f = _refine_frames()
    e = _fails([*f[:3], f[3][:-1]], ProtocolError)
    assert "bytes" in e.message and e.value == [29, 30]


def test_unknown_dtype_and_order():
    f = _refine_frames()
    h = _header(f)
    h["frames"][0]["dtype"] = "float64"
    assert _fails([f[0], msgpack.packb(h), *f[2:]], DTypeError, "float64").code == "bad_input"
    h = _header(f)
    h["frames"][0]["order"] = "CMYK"
    _fails([f[0], msgpack.packb(h), *f[2:]], InputError, "CMYK")
    h = _header(f)
    h["frames"][1]["order"] = "RGB"
    _fails([f[0], msgpack.packb(h), *f[2:]], InputError, "RGB")


def test_huge_dims_and_shape_overflow():
    f = _refine_frames()
    h = _header(f)
    h["frames"][0]["shape"] = [100000, 100000, 3]
    h["frames"][1]["shape"] = [100000, 100000]
    e = _fails([f[0], msgpack.packb(h), *f[2:]], ImageTooLargeError, (100000, 100000))
    assert e.code == "too_large" and e.message.endswith("over the limit of 67.1 MP")
    big = 2**63 - 1  # prod overflows int64 many times over; must still be a clean error
    h["frames"][0]["shape"] = [big, big, 3]
    _fails([f[0], msgpack.packb(h), *f[2:]], ImageTooLargeError)
    h["frames"][0]["shape"] = [-1, 5, 3]
    _fails([f[0], msgpack.packb(h), *f[2:]], ShapeError)


def test_message_byte_limit():
    e = _fails(_refine_frames(), ImageTooLargeError, max_message_bytes=50)
    assert e.code == "too_large" and e.value > 50


def test_nan_params_and_pixels():
    f = _refine_frames()
    _fails(_with_header(f, params={"strength": math.nan}), InputError)
    _fails(_with_header(f, params={"strength": 1.5}), InputError, 1.5)
    _fails(_with_header(f, params={"samples": 9}), InputError, 9)
    _fails(_with_header(f, params={"samples": True}), InputError, True)
    _fails(_with_header(f, params={"band": 2.0}), InputError, 2.0)
    _fails(_with_header(f, params={"colour": 1}), InputError, ["colour"])
    img = np.zeros((6, 5, 3), np.float32)
    img[0, 0, 0] = np.nan
    _fails(encode_refine("n", TOKEN, img, _mask()), InputError, "non-finite")
    m = np.zeros((6, 5), np.float32)
    m[0, 0] = 2.0
    _fails(encode_refine("n", TOKEN, np.zeros((6, 5, 3), np.uint8), m), InputError, [0.0, 2.0])


def test_header_errors():
    f = _refine_frames()
    _fails([f[0], msgpack.packb([1, 2, 3]), *f[2:]], ProtocolError, [1, 2, 3])
    _fails([f[0], b"\xc1garbage", *f[2:]], ProtocolError)
    _fails([b"x", *f[1:]], ProtocolError)
    _fails([b""], ProtocolError, 1)
    e = _fails(_with_header(f, v=2), ProtocolError, 2)
    assert "version" in e.message and e.request_id == "r1"
    assert _fails(_with_header(f, id=_DROP), ProtocolError).request_id is None
    _fails(_with_header(f, id="x" * 65), ProtocolError)
    _fails(_with_header(f, op="explode"), ProtocolError, "explode")
    _fails(_with_header(f, params=[1]), ProtocolError)
    _fails(_with_header(f, frames={"a": 1}), ProtocolError)
    _fails([*encode_request(Request("ping", "p", TOKEN)), b"extra"], ProtocolError)
    _fails(encode_request(Request("cancel", "c", TOKEN)), InputError)


@pytest.mark.parametrize("version", [True, 1.0, "1", [1], None])
def test_version_must_be_the_integer_1(version):
    """`True == 1` and `1.0 == 1` in Python; the protocol version is an integer all the same."""
    e = _fails(_with_header(_refine_frames(), v=version), ProtocolError)
    assert e.code == "bad_request" and "version" in e.message and e.request_id == "r1"


@pytest.mark.parametrize("key", ["params", "op", "v", "token", "frames", "extra"])
@pytest.mark.parametrize("depth", [17, 200, 1000])
def test_deep_nesting_is_a_bad_request_with_the_id(key, depth):
    """A header field nested ~1000 deep used to raise RecursionError while the error was worded."""
    h = _header(_refine_frames())
    h.pop(key, None)
    frames = [b"", header_with_raw(h, key, nested(depth)), *_refine_frames()[2:]]
    e = _fails(frames, ProtocolError)
    assert e.code == "bad_request" and e.request_id == "r1" and "deep" in e.message
    msgpack.packb(error_reply(e.request_id, e).header())


def test_shallow_nesting_within_the_limit_is_fine():
    h = _header(_refine_frames())
    frames = [b"", header_with_raw(h, "extra", nested(15)), *_refine_frames()[2:]]  # 16 with the header
    assert isinstance(decode_request(frames, token=TOKEN), RefineJob)


def test_error_values_are_shown_bounded():
    deep = msgpack.unpackb(nested(1000))
    reply = error_reply("x", ProtocolError("bad", {"k": deep}))
    assert len(reply.fields["value"]) <= 200
    assert msgpack.packb(reply.header())


def test_token():
    f = _refine_frames()
    e = _fails(_with_header(f, token="wrong"), AuthError)
    assert e.code == "unauthorized" and e.request_id == "r1"
    _fails(_with_header(f, token=_DROP), AuthError)
    assert isinstance(decode_request(_with_header(f, token="anything"), token=None), RefineJob)


def test_frame_set_errors():
    f = _refine_frames()
    h = _header(f)
    h["frames"][1]["name"] = "image"
    _fails([f[0], msgpack.packb(h), *f[2:]], InputError, "image")
    h = _header(f)
    h["frames"][1]["shape"] = [5, 6]
    _fails([f[0], msgpack.packb(h), *f[2:]], ShapeError, [5, 6])
    h = _header(f)
    h["frames"][1]["dtype"] = "uint16"
    _fails([f[0], msgpack.packb(h), f[2], f[3] * 2], DTypeError, "uint16")
    h = _header(f)
    h["frames"][0]["shape"] = [6, 5, 4]
    _fails([f[0], msgpack.packb(h), *f[2:]], ShapeError, [6, 5, 4])


def test_frame_desc_validation():
    with pytest.raises(ProtocolError):
        FrameDesc.from_wire({"name": "image", "shape": [1.5, 2], "dtype": "uint8", "order": "RGB"}, 0)
    with pytest.raises(ProtocolError):
        FrameDesc.from_wire("image", 0)
    d = FrameDesc.from_wire({"name": "image", "shape": [2, 3, 4], "dtype": "uint16", "order": "RGBA"}, 0)
    assert d.nbytes == 48 and d.to_wire()["shape"] == [2, 3, 4]


# ---- fuzz ---------------------------------------------------------------------------------------
def test_fuzz_decoder_never_raises_untyped():
    rng = np.random.default_rng(20261121)
    base = _refine_frames(rng)
    n = 600
    typed = 0
    for _ in range(n):
        frames = mutate(rng, base)
        try:
            decode_request(frames, token=TOKEN, max_pixels=1 << 20)
        except SeamRefineError as exc:
            typed += 1
            assert exc.code in ("bad_request", "unauthorized", "bad_input", "too_large")
            assert isinstance(exc.message, str) and exc.message
            msgpack.packb(error_reply(getattr(exc, "request_id", None), exc).header())  # always encodable
    assert typed > n * 0.8, f"only {typed} of {n} mutations were rejected"
