"""Random corruptions of a valid refine message, for the protocol and daemon fuzz tests."""

from __future__ import annotations

import math

import msgpack
import numpy as np
from seamrefine.service.protocol import encode_refine


def mutate(rng: np.random.Generator, frames: list[bytes]) -> list[bytes]:
    """One random corruption of a valid refine message (frames after the routing identity)."""
    frames = list(frames)
    h = msgpack.unpackb(frames[1])
    junk = [None, -1, 0, 2**40, 1.5, math.nan, math.inf, "", "x" * 100, [], {}, [1, "a"], b"\x00", True]
    kind = int(rng.integers(0, 12))
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
    else:  # delimiter missing
        return frames[1:]
    frames[1] = msgpack.packb(h)
    return frames
