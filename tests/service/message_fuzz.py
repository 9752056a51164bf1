"""Random corruptions of a valid refine message, for the protocol and daemon fuzz tests, and hand-made
msgpack that msgpack.packb will not write (nesting deeper than 512, maps as map keys)."""

from __future__ import annotations

import math

import msgpack
import numpy as np
from seamrefine.service.protocol import encode_refine

KINDS = 16


def nested(depth: int) -> bytes:
    """msgpack for [[[…nil…]]], ``depth`` arrays deep."""
    return b"\x91" * depth + b"\xc0"


def header_with_raw(fields: dict, key: str, raw: bytes) -> bytes:
    """A header map with ``fields`` plus ``key`` whose value is the msgpack bytes ``raw`` as they are."""
    body = b"".join(msgpack.packb(k) + msgpack.packb(v) for k, v in fields.items())
    return bytes([0x80 | (len(fields) + 1)]) + body + msgpack.packb(key) + raw


def mutate(rng: np.random.Generator, frames: list[bytes]) -> list[bytes]:
    """One random corruption of a valid refine message (frames after the routing identity)."""
    frames = list(frames)
    h = msgpack.unpackb(frames[1])
    junk = [None, -1, 0, 2**40, 1.5, math.nan, math.inf, "", "x" * 100, [], {}, [1, "a"], b"\x00", True]
    kind = int(rng.integers(0, KINDS))
    if kind == 0:  # replace a header field with junk
        key = ["v", "op", "id", "token", "params", "frames"][int(rng.integers(0, 6))]
        h[key] = junk[int(rng.integers(0, len(junk)))]
    elif kind == 1:  # junk in a frame descriptor
        fd = h["frames"][int(rng.integers(0, 2))]
        fd[["name", "shape", "dtype", "order"][int(rng.integers(0, 4))]] = junk[
            int(rng.integers(0, len(junk)))
        ]
    elif kind == 2:  # wrong/huge dims
        fd = h["frames"][int(rng.integers(0, 2))]
        fd["shape"] = [
            int(x) for x in rng.choice([0, 1, 7, 65535, 2**31, 2**62], size=int(rng.integers(1, 5)))
        ]
    elif kind == 3:  # junk param
        h["params"] = {
            ["strength", "samples", "band", "zzz"][int(rng.integers(0, 4))]: junk[
                int(rng.integers(0, len(junk)))
            ]
        }
    elif kind == 4:  # flip header bytes
        raw = bytearray(frames[1])
        for _ in range(int(rng.integers(1, 6))):
            raw[int(rng.integers(0, len(raw)))] = int(rng.integers(0, 256))
        frames[1] = bytes(raw)
        return frames
    elif kind == 5:  # truncate or extend a data frame
        i = int(rng.integers(2, len(frames)))
        frames[i] = (
            frames[i][: int(rng.integers(0, len(frames[i])))] if rng.random() < 0.5 else frames[i] + b"\0"
        )
    elif kind == 6:  # drop or add frames
        frames = frames[: int(rng.integers(0, len(frames)))] if rng.random() < 0.5 else frames + [b"zz"]
        return frames
    elif kind == 7:  # pure garbage
        return [rng.bytes(int(rng.integers(0, 64))) for _ in range(int(rng.integers(1, 5)))]
    elif kind == 8:  # non-map header
        frames[1] = msgpack.packb(junk[int(rng.integers(0, len(junk)))])
        return frames
    elif kind == 9:  # dtype/order swaps that change the byte count
        fd = h["frames"][0]
        fd["dtype"] = ["uint8", "uint16", "float16", "float32", "int8"][int(rng.integers(0, 5))]
        fd["order"] = ["RGB", "RGBA", "BGR", "BGRA", "Y", "rgb"][int(rng.integers(0, 6))]
    elif kind == 10:  # NaNs in a float image
        img = np.full((6, 5, 3), np.nan, np.float32)
        mask = np.zeros((6, 5), np.uint8)
        mask[2:4, 1:3] = 255
        return [bytes(x) for x in encode_refine(h.get("id", "f"), str(h.get("token", "")), img, mask)]
    elif kind == 11:  # delimiter missing
        return frames[1:]
    elif kind == 12:  # a field nested deeply (beyond the header depth limit, or msgpack's own)
        key = ["params", "op", "v", "token", "frames", "extra"][int(rng.integers(0, 6))]
        h.pop(key, None)
        depth = int(rng.choice([17, 40, 300, 1000, 1100]))
        frames[1] = header_with_raw(h, key, nested(depth))
        return frames
    elif kind == 13:  # a version that equals 1 in Python but is not the integer 1
        h["v"] = [True, 1.0, "1", 1 + 2**-52][int(rng.integers(0, 4))]
    elif kind == 14:  # more frames than a request may have
        return frames + [b"x" * int(rng.integers(0, 64)) for _ in range(int(rng.integers(1, 4)))]
    else:  # a map or an array as a map key
        frames[1] = b"\x81" + [b"\x81\xa1k\x01", b"\x91\x01"][int(rng.integers(0, 2))] + b"\x01"
        return frames
    frames[1] = msgpack.packb(h)
    return frames
