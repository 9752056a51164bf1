"""A tiny REAL ONNX model obeying the Seam Refine model contract, plus its manifest, for tests.

The graph computes something real and deterministic (no weights to train):

- ``kind="blur"`` (default): ``refined = image + mask · (blur5(image) − image)`` where blur5 is a 5×5
  box filter over a reflect-padded image, i.e. the fill is smoothed and the background kept. Not
  pointwise, so tiling differs slightly at tile borders (as a real model does).
- ``kind="pointwise"``: ``refined = image + mask · (0.8·image + 0.1 − image)``, a per-pixel colour
  pull. Tiling is exact for it, which makes it a known-value check of the tile blending.

Inputs ``image`` [N,3,H,W] and ``mask`` [N,1,H,W] float32, output ``refined`` [N,3,H,W] float32, H/W
dynamic. Tests import it as ``from ..support.onnx_fixture import make_fixture_model``; the session-wide
``fixture_model`` and ``daemon_model`` fixtures in ``tests/conftest.py`` are built with it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from seamrefine.imaging import imagemath as im

DEFAULT_MANIFEST = {
    "pad_multiple": 8,
    "band_width": 16,
    "band_feather": 8,
    "context": 32,
    "tile": 512,
    "tile_overlap": 64,
}


def _graph(kind: str, fp16: bool) -> onnx.ModelProto:
    """Build the fixture graph; ``fp16`` computes in float16 behind float32 inputs/outputs."""
    ft = TensorProto.FLOAT16 if fp16 else TensorProto.FLOAT
    np_ft = np.float16 if fp16 else np.float32
    nodes, inits = [], []
    img, msk = "image", "mask"
    if fp16:
        nodes += [
            helper.make_node("Cast", ["image"], ["img_h"], to=ft),
            helper.make_node("Cast", ["mask"], ["msk_h"], to=ft),
        ]
        img, msk = "img_h", "msk_h"
    if kind == "blur":
        inits += [
            numpy_helper.from_array(np.array([0, 0, 2, 2, 0, 0, 2, 2], np.int64), "pads"),
            numpy_helper.from_array(np.full((3, 1, 5, 5), 1 / 25, np_ft), "box5"),
        ]
        nodes += [
            helper.make_node("Pad", [img, "pads"], ["padded"], mode="reflect"),
            helper.make_node("Conv", ["padded", "box5"], ["target"], group=3, kernel_shape=[5, 5]),
        ]
    elif kind == "pointwise":
        inits += [
            numpy_helper.from_array(np.array(0.8, np_ft), "gain"),
            numpy_helper.from_array(np.array(0.1, np_ft), "offset"),
        ]
        nodes += [
            helper.make_node("Mul", [img, "gain"], ["scaled"]),
            helper.make_node("Add", ["scaled", "offset"], ["target"]),
        ]
    else:
        raise ValueError(f"unknown fixture kind {kind!r}")
    out = "refined_h" if fp16 else "refined"
    nodes += [
        helper.make_node("Sub", ["target", img], ["delta"]),
        helper.make_node("Mul", [msk, "delta"], ["masked"]),
        helper.make_node("Add", [img, "masked"], [out]),
    ]
    if fp16:
        nodes.append(helper.make_node("Cast", [out], ["refined"], to=TensorProto.FLOAT))
    graph = helper.make_graph(
        nodes,
        f"seam_refine_fixture_{kind}",
        [
            helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"]),
            helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["N", 1, "H", "W"]),
        ],
        [helper.make_tensor_value_info("refined", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        initializer=inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="onnx_fixture"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_fixture_model(
    directory: str | Path, *, kind: str = "blur", name: str = "fixture", fp16: bool = False, **manifest
) -> Path:
    """Write ``<name>.onnx`` and its manifest ``<name>.json`` into ``directory``; return the .onnx path.

    Keyword overrides go into the manifest (e.g. ``tile=64, tile_overlap=16`` to force tiling).
    ``fp16=True`` also writes ``<name>_fp16.onnx`` and names it in ``fp16_file``/``fp16_sha256``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.onnx"
    onnx.save(_graph(kind, fp16=False), path)
    data = {
        "name": f"fixture-{kind}",
        "file": path.name,
        "sha256": _sha256(path),
        "inputs": ["image", "mask"],
        "outputs": ["refined"],
        **DEFAULT_MANIFEST,
        "training": {"fixture": True, "kind": kind},
        "val_metrics": {},
    }
    if fp16:
        half = directory / f"{name}_fp16.onnx"
        onnx.save(_graph(kind, fp16=True), half)
        data["fp16_file"] = half.name
        data["fp16_sha256"] = _sha256(half)
    data.update(manifest)
    (directory / f"{name}.json").write_text(json.dumps(data, indent=2))
    return path


def reference_refine(kind: str, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """NumPy reference of the fixture graph on float HWC ``image`` and HW ``mask`` (for known values)."""
    if kind == "pointwise":
        target = image * np.float32(0.8) + np.float32(0.1)
    else:
        p = np.pad(image, ((2, 2), (2, 2), (0, 0)), mode="reflect")
        h, w = image.shape[:2]
        target = sum(p[dy : dy + h, dx : dx + w] for dy in range(5) for dx in range(5)) / np.float32(25)
    return image + mask[..., None] * (target - image)


def reference_composite(kind, image, mask_u8, width=16, feather=8, strength=1.0):
    """Full-image numpy reference of the fixture model ``kind`` on ``image``, composited by the band
    (the mask grown by ``width``, feathered over ``feather``, times ``strength``); also the band."""
    rgb, _ = im.to_float(image)
    m = im.mask_to_float(mask_u8, mask_u8.shape)
    band = im.band_weights(m, width, feather) * np.float32(strength)
    return im.composite(image, reference_refine(kind, np.clip(rgb, 0, 1), m), band), band
