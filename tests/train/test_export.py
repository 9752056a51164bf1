"""ONNX export: parity with torch (≤ 1e-3) at two sizes, dynamic N/H/W, manifest contents, fp16 file."""

import hashlib
import json

import numpy as np
import pytest
import torch
from seamrefine_train.export_onnx import export_model, ort_session, parity_error
from seamrefine_train.model import ModelConfig, SeamRefiner

pytestmark = pytest.mark.slow  # two dynamo exports, ~10–20 s on a busy CPU

SMALL = ModelConfig(lowres=32, low_ch=(8, 16, 16), ctx_ch=4, hi_ch=8, hi_layers=1, noise_tile=16)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = SeamRefiner(SMALL).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))  # leave identity init so parity means something
    out = tmp_path_factory.mktemp("onnx") / "seam_refiner.onnx"
    manifest = export_model(model, out, fp16=True, training={"steps": 0}, val_metrics={"x": 1.0})
    return model, out, manifest


def test_parity_two_sizes(exported):
    model, out, _ = exported
    assert parity_error(model, out, sizes=((48, 80), (122, 66)), seed=1) <= 1e-3


def test_dynamic_batch_and_io_names(exported):
    model, out, _ = exported
    sess = ort_session(out, threads=1)
    assert [i.name for i in sess.get_inputs()] == ["image", "mask"]
    assert [o.name for o in sess.get_outputs()] == ["refined"]
    rng = np.random.default_rng(0)
    image = rng.random((3, 3, 40, 56), dtype=np.float32)
    mask = np.zeros((3, 1, 40, 56), np.float32)
    mask[:, :, 10:30, 20:40] = 1
    (got,) = sess.run(None, {"image": image, "mask": mask})
    with torch.no_grad():
        want = model(torch.from_numpy(image), torch.from_numpy(mask)).numpy()
    assert got.shape == (3, 3, 40, 56) and got.dtype == np.float32
    assert np.abs(got - want).max() <= 1e-3


def test_manifest(exported):
    _, out, manifest = exported
    on_disk = json.loads(out.with_suffix(".json").read_text())
    assert on_disk == manifest
    for key in ("name", "file", "sha256", "fp16_file", "fp16_sha256", "inputs", "outputs", "pad_multiple",
                "band_width", "band_feather", "context", "tile", "tile_overlap", "net_pixels", "training",
                "val_metrics"):
        assert key in manifest, key
    assert manifest["file"] == "seam_refiner.onnx"
    assert manifest["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert (manifest["band_width"], manifest["band_feather"]) == (16, 8)
    assert [i["name"] for i in manifest["inputs"]] == ["image", "mask"]
    assert manifest["outputs"][0]["name"] == "refined"
    fp16 = out.with_name(manifest["fp16_file"])
    assert manifest["fp16_sha256"] == hashlib.sha256(fp16.read_bytes()).hexdigest()


def test_fp16_file_has_float32_interface(exported):
    model, out, manifest = exported
    import onnx

    m = onnx.load(str(out.with_name(manifest["fp16_file"])))
    f32 = onnx.TensorProto.FLOAT
    assert [i.type.tensor_type.elem_type for i in m.graph.input] == [f32, f32]
    assert m.graph.output[0].type.tensor_type.elem_type == f32
    try:
        sess = ort_session(out.with_name(manifest["fp16_file"]), threads=1)
    except Exception as exc:  # the CPU provider may lack fp16 kernels on some builds
        pytest.skip(f"fp16 model not runnable on the CPU provider here: {exc}")
    rng = np.random.default_rng(2)
    image = rng.random((1, 3, 32, 48), dtype=np.float32)
    mask = np.zeros((1, 1, 32, 48), np.float32)
    mask[..., 8:24, 8:24] = 1
    (got,) = sess.run(None, {"image": image, "mask": mask})
    with torch.no_grad():
        want = model(torch.from_numpy(image), torch.from_numpy(mask)).numpy()
    assert np.abs(got - want).max() < 2e-2


def test_load_onnx_weights_round_trip(exported):
    """Known value: the weights read back from the .onnx reproduce the torch model exactly."""
    from seamrefine_train.export_onnx import load_onnx_weights

    model, out, _ = exported
    back, manifest = load_onnx_weights(out)
    assert manifest["model_config"] == model.cfg.to_dict()
    for (k, a), b in zip(model.state_dict().items(), back.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_load_onnx_weights_rejects_a_foreign_file(exported, tmp_path):
    from seamrefine_train.export_onnx import load_onnx_weights

    _, out, manifest = exported
    other = dict(manifest, model_config={**manifest["model_config"], "hi_ch": 12})
    (tmp_path / "seam_refiner.onnx").write_bytes(out.read_bytes())
    (tmp_path / "seam_refiner.json").write_text(json.dumps(other))
    with pytest.raises(ValueError, match="shape"):
        load_onnx_weights(tmp_path / "seam_refiner.onnx")


def test_export_from_onnx_prunes_a_dead_detail_branch(tmp_path):
    """The CLI re-exports a shipped model without its dead detail branch: same outputs, record kept."""
    from seamrefine_train.export_onnx import main

    torch.manual_seed(1)
    model = SeamRefiner(SMALL).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
        model.detail.body[-2].weight.zero_()
        model.detail.body[-2].bias.fill_(-1.0)  # the last ReLU never fires
        model.detail.tail.bias.fill_(1e-6)  # so the branch adds next to nothing (zeros would be folded away)
    src = tmp_path / "src" / "seam_refiner.onnx"
    export_model(model, src, fp16=False, training={"steps": 7})
    out = tmp_path / "out" / "seam_refiner.onnx"
    assert main(["--from-onnx", str(src), "--prune-dead-detail", "--no-fp16", "--out", str(out)]) == 0
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert manifest["model_config"]["detail"] is False and manifest["training"]["steps"] == 7
    assert "pruned" in manifest["training"]
    image, mask = torch.rand(1, 3, 64, 96), torch.zeros(1, 1, 64, 96)
    mask[..., 16:48, 32:64] = 1.0
    (got,) = ort_session(out).run(None, {"image": image.numpy(), "mask": mask.numpy()})
    with torch.no_grad():
        want = model(image, mask).numpy()
    assert np.abs(got - want).max() < 1e-5
