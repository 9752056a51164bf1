"""An onnxruntime session around one Seam Refine model file and its manifest (rembg BaseSession style).

The manifest is the JSON file next to the model with the same stem. It is checked before anything runs:
the model's sha256 must match, and the graph must have inputs ``image`` [N,3,H,W] and ``mask``
[N,1,H,W] and output ``refined`` [N,3,H,W]. Provider order is CUDA (when onnxruntime offers it) then
CPU; which one really runs is read back from ``get_providers()`` and exposed as ``.provider``. On CUDA
the manifest's ``fp16_file`` is used when present, and inputs/outputs go through IO binding.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError, ShapeError

log = logging.getLogger(__name__)

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "models" / "seam_refiner.onnx"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
CUDA_OPTIONS = {"cudnn_conv_algo_search": "HEURISTIC", "arena_extend_strategy": "kSameAsRequested"}
REQUIRED_KEYS = ("sha256", "pad_multiple", "band_width", "band_feather", "context", "tile", "tile_overlap")
INPUTS = {"image": 3, "mask": 1}
OUTPUT = "refined"
ARENA_KEEP_PIXELS = 1_200_000  # model inputs up to ~1 MP keep the CPU arena (~0.3 GB) between runs


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_threads() -> int:
    """Intra-op threads: ``SEAM_REFINE_THREADS`` if set, else about the number of physical cores."""
    env = os.environ.get("SEAM_REFINE_THREADS", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            n = 0
        if n > 0:
            return n
        log.warning("ignoring SEAM_REFINE_THREADS=%r (want a positive integer)", env)
    try:
        logical = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        logical = os.cpu_count() or 1
    return max(1, logical // 2) if logical >= 4 else logical


def load_manifest(model_path: Path) -> dict[str, Any]:
    """Read and sanity-check the manifest next to ``model_path`` (same stem, ``.json``)."""
    path = model_path.with_suffix(".json")
    if not path.is_file():
        raise ModelError(
            f"model manifest not found: {path} (it must sit next to {model_path.name})", str(path)
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"model manifest {path} is not valid JSON: {e}", str(path)) from e
    if not isinstance(manifest, dict):
        raise ModelError(f"model manifest {path} must be a JSON object", str(path))
    missing = [k for k in REQUIRED_KEYS if k not in manifest]
    if missing:
        raise ModelError(f"model manifest {path} lacks {', '.join(missing)}", missing)
    for key in REQUIRED_KEYS[1:]:
        v = manifest[key]
        if not isinstance(v, int) or isinstance(v, bool) or v < (1 if key in ("pad_multiple", "tile") else 0):
            raise ModelError(f"model manifest {path}: {key} must be a non-negative integer, got {v!r}", v)
    if manifest["tile"] < manifest["pad_multiple"] or manifest["tile_overlap"] * 2 > manifest["tile"]:
        raise ModelError(
            f"model manifest {path}: need pad_multiple ≤ tile and 2·tile_overlap ≤ tile, got "
            f"tile={manifest['tile']}, tile_overlap={manifest['tile_overlap']}",
            (manifest["tile"], manifest["tile_overlap"]),
        )
    net = manifest.get("net_pixels")
    if net is not None and (not isinstance(net, int) or isinstance(net, bool)
                            or net < manifest["pad_multiple"] ** 2):
        raise ModelError(f"model manifest {path}: net_pixels must be an integer ≥ pad_multiple², or absent, "
                         f"got {net!r}", net)
    return manifest


def _spec_names(spec: Any) -> list[str] | None:
    """Names from a manifest ``inputs``/``outputs`` entry: list of str, list of {"name"}, or a dict."""
    if spec is None:
        return None
    if isinstance(spec, dict):
        return [str(k) for k in spec]
    return [str(s["name"]) if isinstance(s, dict) else str(s) for s in spec]


def _verify(path: Path, expected: str | None, what: str) -> None:
    if not path.is_file():
        raise ModelError(f"{what} not found: {path}", str(path))
    actual = sha256_file(path)
    if expected is not None and actual != str(expected).lower():
        raise ModelError(
            f"{what} {path.name} is corrupt or does not match its manifest: sha256 {actual[:12]}… "
            f"but the manifest says {str(expected)[:12]}…",
            actual,
        )


def _cuda_driver_present() -> bool:
    """True when the NVIDIA driver library loads; without it asking for CUDA only prints load errors."""
    import ctypes
    import sys

    name = "nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1"
    try:
        ctypes.CDLL(name)
    except OSError:
        return False
    return True


def _requested_providers(providers: list | None) -> list:
    """Normalise the provider list, giving CUDA our options unless the caller passed its own."""
    import onnxruntime as ort

    if providers is None:
        available = ort.get_available_providers()
        providers = [CUDA, CPU] if CUDA in available and _cuda_driver_present() else [CPU]
    out = []
    for p in providers:
        if p == CUDA:
            out.append((CUDA, dict(CUDA_OPTIONS)))
        else:
            out.append(p)
    return out


class ModelSession:
    """One loaded model. ``run(image_nchw, mask_nchw)`` → refined float32 NCHW.

    ``providers``: None = CUDA (if onnxruntime has it) then CPU; tests pass ``["CPUExecutionProvider"]``.
    ``threads``: intra-op threads (None = ``default_threads()``). ``io_binding``: None = on for CUDA.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        providers: list | None = None,
        *,
        threads: int | None = None,
        io_binding: bool | None = None,
    ):
        self.model_path = Path(model_path) if model_path is not None else DEFAULT_MODEL
        if not self.model_path.is_file():
            hint = " (the shipped model has not been built yet?)" if model_path is None else ""
            raise ModelError(f"model file not found: {self.model_path}{hint}", str(self.model_path))
        self.manifest = load_manifest(self.model_path)
        _verify(self.model_path, self.manifest["sha256"], "model file")
        self.threads = threads if threads is not None else default_threads()
        requested = _requested_providers(providers)
        self.model_file = self.model_path
        self._sess = self._open(self.model_path, requested)
        self.provider = self._sess.get_providers()[0]
        fp16 = self.manifest.get("fp16_file")
        if self.provider == CUDA and fp16:
            self._try_fp16(self.model_path.parent / fp16, requested)
        self._check_io()
        self._io_binding = (self.provider == CUDA) if io_binding is None else bool(io_binding)
        self._half_io = any(i.type == "tensor(float16)" for i in self._sess.get_inputs())
        wanted = requested[0][0] if isinstance(requested[0], tuple) else requested[0]
        level = logging.WARNING if self.provider != wanted else logging.INFO
        log.log(
            level,
            "model %s (%s) on %s, %d threads (requested %s)",
            self.name,
            self.model_file.name,
            self.provider,
            self.threads,
            wanted,
        )

    @property
    def name(self) -> str:
        return str(self.manifest.get("name", self.model_path.stem))

    @property
    def sha256(self) -> str:
        return str(self.manifest["sha256"])

    @property
    def pad_multiple(self) -> int:
        return int(self.manifest["pad_multiple"])

    def _open(self, path: Path, providers: list):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = self.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        # the CPU arena keeps the buffers of the last run: without it every run page-faults ~0.5 GB of
        # fresh tensors in (1 MP: 0.35 s instead of 0.24 s); runs above ARENA_KEEP_PIXELS shrink it
        so.enable_cpu_mem_arena = True
        so.add_session_config_entry("arena_extend_strategy", "kSameAsRequested")
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")  # idle daemon: no busy-wait
        try:
            return ort.InferenceSession(str(path), sess_options=so, providers=providers)
        except Exception as e:  # onnxruntime raises its own exception types
            raise ModelError(f"cannot load model {path.name}: {e}", str(path)) from e

    def _try_fp16(self, path: Path, providers: list) -> None:
        try:
            _verify(path, self.manifest.get("fp16_sha256"), "fp16 model file")
            sess = self._open(path, providers)
        except ModelError as e:
            log.error("%s; using the float32 model", e.message)
            return
        if sess.get_providers()[0] == CUDA:
            self._sess, self.model_file = sess, path

    def _check_io(self) -> None:
        ins = {i.name: i for i in self._sess.get_inputs()}
        outs = {o.name: o for o in self._sess.get_outputs()}
        for name, channels in INPUTS.items():
            shape = ins[name].shape if name in ins else None
            ok = (
                shape is not None
                and len(shape) == 4
                and (shape[1] == channels or not isinstance(shape[1], int))
            )
            if not ok:
                raise ModelError(
                    f"model {self.model_file.name} must take input {name!r} [N,{channels},H,W]; "
                    f"inputs are {[(i.name, i.shape) for i in ins.values()]}",
                    sorted(ins),
                )
        if OUTPUT not in outs or len(outs[OUTPUT].shape) != 4:
            raise ModelError(
                f"model {self.model_file.name} must have output {OUTPUT!r} [N,3,H,W]; "
                f"outputs are {sorted(outs)}",
                sorted(outs),
            )
        for key, actual in (("inputs", sorted(ins)), ("outputs", sorted(outs))):
            declared = _spec_names(self.manifest.get(key))
            if declared is not None and sorted(declared) != actual:
                raise ModelError(
                    f"model manifest lists {key} {sorted(declared)} but the model has {actual}", declared
                )

    def run(self, image_nchw: np.ndarray, mask_nchw: np.ndarray) -> np.ndarray:
        """Run the model on ``image`` [N,3,H,W] and ``mask`` [N,1,H,W] (float, H/W multiples of
        pad_multiple); return ``refined`` [N,3,H,W] float32."""
        image_nchw, mask_nchw = np.asarray(image_nchw), np.asarray(mask_nchw)
        if image_nchw.ndim != 4 or image_nchw.shape[1] != 3:
            raise ShapeError(f"model image input must be N×3×H×W, got {image_nchw.shape}", image_nchw.shape)
        n, _, h, w = image_nchw.shape
        if mask_nchw.shape != (n, 1, h, w):
            raise ShapeError(
                f"model mask input must be {n}×1×{h}×{w} to match the image, got {mask_nchw.shape}",
                mask_nchw.shape,
            )
        m = self.pad_multiple
        if h % m or w % m or h == 0 or w == 0:
            raise ShapeError(f"model input {h}×{w} is not a positive multiple of {m}", (h, w))
        dt = np.float16 if self._half_io else np.float32
        feeds = {
            "image": np.ascontiguousarray(image_nchw, dtype=dt),
            "mask": np.ascontiguousarray(mask_nchw, dtype=dt),
        }
        try:
            if self._io_binding:
                out = self._run_bound(feeds)
            else:
                out = self._sess.run([OUTPUT], feeds, self._run_options(n * h * w))[0]
        except Exception as e:
            raise ModelError(f"the model failed on a {h}×{w} input: {e}", (h, w)) from e
        return np.asarray(out, dtype=np.float32)

    def _run_options(self, pixels: int):
        """Run options that hand the CPU arena's memory back after a run larger than
        ``ARENA_KEEP_PIXELS`` (None for smaller runs: their buffers stay for the next request)."""
        if pixels <= ARENA_KEEP_PIXELS or self.provider != CPU:
            return None
        import onnxruntime as ort

        options = ort.RunOptions()
        options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        return options

    def _run_bound(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """IO-binding path: inputs bound from host memory, output left on the device and copied once."""
        try:
            binding = self._sess.io_binding()
            for name, arr in feeds.items():
                binding.bind_cpu_input(name, arr)
            binding.bind_output(OUTPUT, "cuda" if self.provider == CUDA else "cpu")
            self._sess.run_with_iobinding(binding)
            return binding.copy_outputs_to_cpu()[0]
        except Exception as e:
            log.warning("IO binding failed (%s); falling back to plain session.run", e)
            self._io_binding = False
            return self._sess.run([OUTPUT], feeds)[0]

    def warmup(self, size: int = 64) -> None:
        """Run once on a small input so the first real request does not pay for allocation/autotune."""
        s = max(self.pad_multiple, size - size % self.pad_multiple)
        image = np.full((1, 3, s, s), 0.5, np.float32)
        mask = np.zeros((1, 1, s, s), np.float32)
        mask[..., s // 4 : 3 * s // 4, s // 4 : 3 * s // 4] = 1.0
        self.run(image, mask)
