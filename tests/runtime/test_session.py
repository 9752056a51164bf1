"""ModelSession on a real onnxruntime with the fixture model (CPU)."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from seamrefine.errors import ModelError, ShapeError
from seamrefine.runtime import session as session_mod
from seamrefine.runtime.session import CPU, ModelSession, default_threads, sha256_file

from ..support.onnx_fixture import DEFAULT_MANIFEST, make_fixture_model, reference_refine

CPU_ONLY = [CPU]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("session_models")
    make_fixture_model(d, kind="blur", name="blur", fp16=True)
    make_fixture_model(d, kind="pointwise", name="pointwise")
    return d


@pytest.fixture(scope="module")
def sess(model_dir):
    return ModelSession(model_dir / "blur.onnx", CPU_ONLY, threads=1)


def _inputs(rng, h=32, w=48):
    image = rng.random((1, 3, h, w), dtype=np.float32)
    mask = (rng.random((1, 1, h, w)) > 0.5).astype(np.float32)
    return image, mask


def _copy_model(model_dir, tmp_path, name="blur"):
    for ext in (".onnx", ".json"):
        (tmp_path / f"m{ext}").write_bytes((model_dir / f"{name}{ext}").read_bytes())
    return tmp_path / "m.onnx"


def test_smoke_provider_and_manifest(sess):
    assert sess.provider == CPU
    assert sess.provider == sess._sess.get_providers()[0]
    assert sess.manifest["pad_multiple"] == 8 and sess.manifest["tile"] == 512
    assert sess.sha256 == sha256_file(sess.model_path)
    assert sess.name == "fixture-blur"


@pytest.mark.parametrize("name", ["blur", "pointwise"])
def test_run_known_value(model_dir, name):
    s = ModelSession(model_dir / f"{name}.onnx", CPU_ONLY, threads=1)
    image, mask = _inputs(np.random.default_rng(1))
    out = s.run(image, mask)
    assert out.shape == image.shape and out.dtype == np.float32
    ref = reference_refine(name, image[0].transpose(1, 2, 0), mask[0, 0]).transpose(2, 0, 1)
    np.testing.assert_allclose(out[0], ref, atol=1e-6)


def test_run_accepts_float64_and_batches(sess):
    image, mask = _inputs(np.random.default_rng(2))
    image2 = np.concatenate([image, image[:, :, ::-1]]).astype(np.float64)
    out = sess.run(image2, np.concatenate([mask, mask]))
    assert out.shape == (2, 3, 32, 48)
    np.testing.assert_allclose(out[0], sess.run(image, mask)[0], atol=1e-6)


def test_run_bad_shapes_name_the_shape(sess):
    image, mask = _inputs(np.random.default_rng(3))
    with pytest.raises(ShapeError, match=r"N×3×H×W, got \(3, 32, 48\)"):
        sess.run(image[0], mask)
    with pytest.raises(ShapeError, match=r"1×1×32×48.*\(1, 1, 32, 40\)"):
        sess.run(image, mask[..., :40])
    with pytest.raises(ShapeError, match=r"30×48 is not a positive multiple of 8"):
        sess.run(image[:, :, :30], mask[:, :, :30])


def test_io_binding_path_matches_plain_run(model_dir, sess):
    bound = ModelSession(model_dir / "blur.onnx", CPU_ONLY, threads=1, io_binding=True)
    image, mask = _inputs(np.random.default_rng(4))
    np.testing.assert_array_equal(bound.run(image, mask), sess.run(image, mask))
    assert bound._io_binding  # still on: the CPU binding worked


def test_fp16_file_ignored_on_cpu(sess, model_dir):
    assert sess.manifest["fp16_file"] == "blur_fp16.onnx"
    assert sess.model_file == model_dir / "blur.onnx"
    assert not sess._half_io


def test_default_providers_report_the_truth(model_dir):
    """Requesting CUDA where it cannot start must fall back, and .provider must say so."""
    s = ModelSession(model_dir / "pointwise.onnx", threads=1)
    assert s.provider == s._sess.get_providers()[0]
    assert s.provider in ("CUDAExecutionProvider", CPU)


def test_warmup(sess):
    sess.warmup()
    sess.warmup(size=13)


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelError, match="model file not found: .*nope.onnx") as e:
        ModelSession(tmp_path / "nope.onnx", CPU_ONLY)
    assert e.value.value.endswith("nope.onnx") and e.value.code == "model"


def test_default_model_missing_is_model_error():
    if session_mod.DEFAULT_MODEL.is_file():
        pytest.skip("the shipped model exists")
    with pytest.raises(ModelError, match="shipped model"):
        ModelSession(providers=CPU_ONLY)


def test_missing_manifest(model_dir, tmp_path):
    path = _copy_model(model_dir, tmp_path)
    path.with_suffix(".json").unlink()
    with pytest.raises(ModelError, match=r"manifest not found: .*m\.json"):
        ModelSession(path, CPU_ONLY)


def test_corrupt_model(model_dir, tmp_path):
    path = _copy_model(model_dir, tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="corrupt or does not match its manifest") as e:
        ModelSession(path, CPU_ONLY)
    assert e.value.value == sha256_file(path)


def test_manifest_sha_mismatch(model_dir, tmp_path):
    path = _copy_model(model_dir, tmp_path)
    manifest = json.loads(path.with_suffix(".json").read_text())
    manifest["sha256"] = "0" * 64
    path.with_suffix(".json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="manifest says 000000000000"):
        ModelSession(path, CPU_ONLY)


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        ({"tile": None}, "lacks tile"),
        ({"pad_multiple": 0}, "pad_multiple must be a non-negative integer, got 0"),
        ({"tile_overlap": 300}, "tile_overlap=300"),
        ({"net_pixels": 10}, "net_pixels must be an integer ≥ pad_multiple², or absent, got 10"),
        ({"net_pixels": 1e5}, "net_pixels must be an integer"),
        ({"inputs": ["img", "mask"]}, r"lists inputs \['img', 'mask'\]"),
    ],
)
def test_bad_manifest_fields(model_dir, tmp_path, edit, pattern):
    path = _copy_model(model_dir, tmp_path)
    manifest = json.loads(path.with_suffix(".json").read_text())
    for k, v in edit.items():
        if v is None:
            del manifest[k]
        else:
            manifest[k] = v
    path.with_suffix(".json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match=pattern):
        ModelSession(path, CPU_ONLY)


def test_manifest_not_json(model_dir, tmp_path):
    path = _copy_model(model_dir, tmp_path)
    path.with_suffix(".json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        ModelSession(path, CPU_ONLY)


def test_model_with_wrong_input_names(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Identity", ["img"], ["refined"])],
        "wrong",
        [helper.make_tensor_value_info("img", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("refined", TensorProto.FLOAT, ["N", 3, "H", "W"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "wrong.onnx"
    onnx.save(model, path)
    manifest = {"sha256": sha256_file(path), **DEFAULT_MANIFEST}
    path.with_suffix(".json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match=r"must take input 'image'.*'img'"):
        ModelSession(path, CPU_ONLY)


def test_garbage_model_file(tmp_path):
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"this is not an onnx model")
    manifest = {"sha256": sha256_file(path), **DEFAULT_MANIFEST}
    path.with_suffix(".json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="cannot load model junk.onnx"):
        ModelSession(path, CPU_ONLY)


def test_threads_env(monkeypatch):
    monkeypatch.setenv("SEAM_REFINE_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.setenv("SEAM_REFINE_THREADS", "lots")
    assert default_threads() >= 1
    monkeypatch.delenv("SEAM_REFINE_THREADS")
    assert default_threads() >= 1


def test_arena_kept_for_small_runs_and_shrunk_after_large_ones(sess, monkeypatch):
    assert sess._run_options(session_mod.ARENA_KEEP_PIXELS) is None
    options = sess._run_options(session_mod.ARENA_KEEP_PIXELS + 1)
    assert options.get_run_config_entry("memory.enable_memory_arena_shrinkage") == "cpu:0"
    # a large run with the shrink option gives the same pixels as a kept-arena run
    image, mask = _inputs(np.random.default_rng(3), 64, 64)
    kept = sess.run(image, mask)
    monkeypatch.setattr(session_mod, "ARENA_KEEP_PIXELS", 100)
    np.testing.assert_array_equal(sess.run(image, mask), kept)
