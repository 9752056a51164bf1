"""Export a trained refiner checkpoint to ONNX (fp32 + fp16 variant) with its manifest JSON.

    python -m seamrefine_train export --ckpt runs/main/ckpt_last.pt \
        --out server/seamrefine/models/seam_refiner.onnx
    python -m seamrefine_train export --from-onnx server/seamrefine/models/seam_refiner.onnx \
        --prune-dead-detail --out /tmp/pruned/seam_refiner.onnx

Exporter: ``torch.onnx.export(..., dynamo=True)`` (the torch.export-based exporter, pinned
explicitly), opset 18 (needed for Resize with ``antialias``), dynamic N, H and W (H, W even). The
fp16 file casts inputs to float16 inside the graph and the output back to float32, so both files
have the same float32 interface; it is meant for CUDA (onnxruntime's CPU provider lacks most fp16
kernels). After export the fp32 file is checked against torch on random inputs at two sizes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

from .model import ModelConfig, SeamRefiner, prune_dead_detail

OPSET = 18
PAD_MULTIPLE = 8
BAND_WIDTH = 16
BAND_FEATHER = 8
CONTEXT = 64
TILE = 2048
TILE_OVERLAP = 256
NET_PIXELS = 320 * 320  # larger tiles run area-reduced (``tiling.run_reduced``), near the training scale


class _Fp16Wrapper(torch.nn.Module):
    """float32 in → float16 network → float32 out."""

    def __init__(self, model: SeamRefiner):
        super().__init__()
        self.model = model.half()

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.model(image.half(), mask.half()).float()


def _quiet_export(module: torch.nn.Module, path: Path) -> None:
    """torch.onnx.export with dynamo=True, dynamic N/H/W, weights embedded in one file."""
    n = torch.export.Dim("N", min=1, max=64)
    h2 = torch.export.Dim("H2", min=8, max=8192)
    w2 = torch.export.Dim("W2", min=8, max=8192)
    dyn = {0: n, 2: 2 * h2, 3: 2 * w2}
    example = (torch.rand(2, 3, 96, 128), (torch.rand(2, 1, 96, 128) > 0.5).float())
    path.parent.mkdir(parents=True, exist_ok=True)
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            example,
            str(path),
            dynamo=True,
            opset_version=OPSET,
            input_names=["image", "mask"],
            output_names=["refined"],
            dynamic_shapes={"image": dyn, "mask": dyn},
            external_data=False,
            verbose=False,
        )
    data_file = Path(str(path) + ".data")
    if data_file.exists():  # everything must live in the one .onnx file
        raise RuntimeError(f"exporter wrote external data {data_file}; model too large?")


def ort_session(path: str | Path, threads: int = 2):
    """A CPU onnxruntime session with ``threads`` intra-op threads."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def parity_error(model: SeamRefiner, path: str | Path, sizes=((64, 96), (130, 74)), seed: int = 0) -> float:
    """Max |torch − onnxruntime| over random images + random box masks at the given (even) sizes."""
    sess = ort_session(path, threads=1)
    rng = np.random.default_rng(seed)
    worst = 0.0
    model = model.float().eval()
    for h, w in sizes:
        image = rng.random((2, 3, h, w), dtype=np.float32)
        mask = np.zeros((2, 1, h, w), np.float32)
        mask[:, :, h // 4 : 3 * h // 4, w // 3 : 2 * w // 3] = 1.0
        (got,) = sess.run(None, {"image": image, "mask": mask})
        with torch.no_grad():
            want = model(torch.from_numpy(image), torch.from_numpy(mask)).numpy()
        worst = max(worst, float(np.abs(got - want).max()))
    return worst


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def export_model(
    model: SeamRefiner,
    out: str | Path,
    *,
    fp16: bool = True,
    training: dict | None = None,
    val_metrics: dict | None = None,
    name: str = "seam_refiner",
    check: bool = True,
) -> dict:
    """Write ``out`` (.onnx), optionally ``<stem>_fp16.onnx``, and ``<stem>.json``; return the manifest."""
    out = Path(out)
    model = model.float().eval()
    _quiet_export(model, out)
    if check:
        err = parity_error(model, out)
        if err > 1e-3:
            raise RuntimeError(f"ONNX parity check failed: max abs error {err:.2e} > 1e-3")
    manifest = {
        "name": name,
        "file": out.name,
        "sha256": sha256_of(out),
        "fp16_file": None,
        "fp16_sha256": None,
        "inputs": [
            {"name": "image", "shape": ["N", 3, "H", "W"], "dtype": "float32", "range": "sRGB 0..1"},
            {"name": "mask", "shape": ["N", 1, "H", "W"], "dtype": "float32", "range": "0..1, 1 = fill"},
        ],
        "outputs": [{"name": "refined", "shape": ["N", 3, "H", "W"], "dtype": "float32"}],
        "pad_multiple": PAD_MULTIPLE,
        "band_width": BAND_WIDTH,
        "band_feather": BAND_FEATHER,
        "context": CONTEXT,
        "tile": TILE,
        "tile_overlap": TILE_OVERLAP,
        "net_pixels": NET_PIXELS,
        "model_config": model.cfg.to_dict(),
        "training": training or {},
        "val_metrics": val_metrics or {},
    }
    if fp16:
        fp16_path = out.with_name(out.stem + "_fp16.onnx")
        half = SeamRefiner(ModelConfig.from_dict(model.cfg.to_dict()))
        half.load_state_dict(model.state_dict())
        _quiet_export(_Fp16Wrapper(half).eval(), fp16_path)
        manifest["fp16_file"] = fp16_path.name
        manifest["fp16_sha256"] = sha256_of(fp16_path)
        manifest["fp16_note"] = "float32 inputs/outputs, float16 inside; for CUDA"
    out.with_suffix(".json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def load_checkpoint(path: str | Path) -> tuple[SeamRefiner, dict]:
    """Model (eval, float32, CPU) and the whole checkpoint dict from a train.py checkpoint."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    model = SeamRefiner(ModelConfig.from_dict(ckpt["model_config"]))
    model.load_state_dict(ckpt["model"])
    return model.eval(), ckpt


def load_onnx_weights(path: str | Path) -> tuple[SeamRefiner, dict]:
    """Model (eval, float32, CPU) rebuilt from an exported ``.onnx`` and its ``.json`` manifest: every
    parameter is an ONNX initializer of the same name (``export_model`` keeps the names; a buffer the
    exporter folded away is rebuilt from the config), so a shipped model can be fine-tuned without its
    training checkpoint. Raises ValueError when a parameter is missing or its shape differs."""
    import onnx
    from onnx import numpy_helper

    path = Path(path)
    manifest = json.loads(path.with_suffix(".json").read_text())
    model = SeamRefiner(ModelConfig.from_dict(manifest["model_config"]))
    inits = {i.name: i for i in onnx.load(str(path)).graph.initializer}
    params = {name for name, _ in model.named_parameters()}
    state = model.state_dict()  # buffers (the fixed noise tile) follow from the config when folded
    for key, ref in model.state_dict().items():
        if key not in inits:
            if key in params:
                raise ValueError(f"{path.name} has no initializer {key!r}")
            continue
        value = torch.from_numpy(numpy_helper.to_array(inits[key]).copy())
        if value.shape != ref.shape:
            raise ValueError(f"{path.name}: {key!r} has shape {tuple(value.shape)}, "
                             f"expected {tuple(ref.shape)}")
        state[key] = value.to(ref.dtype)
    model.load_state_dict(state)
    return model.eval(), manifest


def checkpoint_record(ckpt: dict, path: str) -> dict:
    """The manifest's training record from a train.py checkpoint."""
    tcfg = ckpt.get("config", {})
    return {
        "data": "../shared/data/train: 1401 photos, see ../shared/data/MANIFEST.csv",
        "photos_dir": tcfg.get("photos"),
        "steps": ckpt.get("step"),
        "wall_minutes": round(ckpt.get("wall_seconds", 0.0) / 60.0, 1),
        "hardware": ckpt.get("hardware"),
        "config": tcfg,
        "checkpoint": Path(path).name,
        "loss_config": ckpt.get("loss_config"),
    }


def detail_probes(seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Probe (image, mask) pairs for ``prune_dead_detail``: uniform noise, smooth colour fields with grain,
    hard and soft box masks, at two sizes."""
    rng = np.random.default_rng(seed)
    probes = []
    for h, w in ((64, 96), (160, 224)):
        smooth = np.cumsum(rng.normal(0, 0.02, (2, 3, h, w)), axis=2).astype(np.float32)
        images = [rng.random((2, 3, h, w), dtype=np.float32),
                  np.clip(0.5 + smooth + rng.normal(0, 0.03, smooth.shape), 0, 1).astype(np.float32)]
        mask = np.zeros((2, 1, h, w), np.float32)
        mask[0, :, h // 4 : 3 * h // 4, w // 3 : 2 * w // 3] = 1.0
        yy, xx = np.mgrid[:h, :w]
        mask[1, 0] = np.clip(1.5 - np.hypot((yy - h / 2) / (h / 4), (xx - w / 2) / (w / 4)), 0, 1)
        probes += [(torch.from_numpy(im), torch.from_numpy(mask)) for im in images]
    return probes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="seamrefine_train export", description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--ckpt", help="a train.py checkpoint")
    src.add_argument("--from-onnx", help="an exported model (its manifest's training record is kept)")
    ap.add_argument("--prune-dead-detail", action="store_true",
                    help="leave out a detail branch that changes no output (checked on probe images)")
    ap.add_argument("--out", default="server/seamrefine/models/seam_refiner.onnx")
    ap.add_argument("--no-fp16", action="store_true")
    ap.add_argument("--val-metrics", default=None, help="JSON file to store as val_metrics (default: ckpt's)")
    ap.add_argument("--note", default=None, help="free text stored as training.note (e.g. run history)")
    args = ap.parse_args(argv)
    if args.from_onnx:
        model, old = load_onnx_weights(args.from_onnx)
        training, val = dict(old.get("training", {})), old.get("val_metrics", {})
    else:
        model, ckpt = load_checkpoint(args.ckpt)
        training, val = checkpoint_record(ckpt, args.ckpt), ckpt.get("val_metrics", {})
    if args.prune_dead_detail:
        model = prune_dead_detail(model, detail_probes())
        training["pruned"] = "detail branch left out: its last ReLUs never fire (export --prune-dead-detail)"
    if args.note:
        training["note"] = args.note
    if args.val_metrics:
        val = json.loads(Path(args.val_metrics).read_text())
    manifest = export_model(model, args.out, fp16=not args.no_fp16, training=training, val_metrics=val)
    size = Path(args.out).stat().st_size
    print(f"wrote {args.out} ({size / 1e6:.2f} MB, sha256 {manifest['sha256'][:12]}…)", file=sys.stderr)
    return 0
