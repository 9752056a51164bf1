"""Train the seam refiner, top to bottom (nanoGPT style).

    python -m seamrefine_train train                       # defaults below
    python -m seamrefine_train train --minutes=75 --out_dir=runs/main --model.hi_ch=32
    python -m seamrefine_train train --out_dir=runs/ft --init=runs/main/ckpt_last.pt --loss.w_psnr=0.002
    python -m seamrefine_train train --out_dir=runs/s2 --init=server/seamrefine/models/seam_refiner.onnx

Every TrainConfig field can be overridden with ``--key=value`` (``--model.x`` / ``--loss.x`` for the
model and loss configs). Relative paths are relative to the repository root. A run resumes from
``<out_dir>/ckpt_last.pt`` when it exists (same data order: batch k is always cases k·B … k·B+B−1).
Checkpoints are self-describing: configs, step, model, EMA model, optimizer, wall time, val metrics.
The learning-rate schedule (warm-up, cosine) runs on progress = max(step/steps, time/minutes), so a
time-budgeted run still anneals.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from seamrefine.errors import InputError

from .data import BAND_FEATHER, BAND_WIDTH, CaseStream, band_psnr, case_band, collate, val_cases
from .export_onnx import load_onnx_weights
from .losses import LossConfig, band_composite, refiner_loss
from .model import ModelConfig, SeamRefiner, count_params, retarget_stat_scale
from .synthesis import SynthConfig

REPO = Path(__file__).resolve().parents[2]


@dataclass
class TrainConfig:
    photos: str = "../shared/data/train"
    val_photos: str = "../shared/data/val"  # empty string: no validation
    out_dir: str = "runs/main"
    crop: int = 160
    batch: int = 8
    steps: int = 200_000  # upper bound; the time budget usually ends the run first
    minutes: float = 0.0  # wall-clock budget (0 = none)
    lr: float = 1.5e-3
    min_lr: float = 1e-4
    lr_warmup: int = 200
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ema: float = 0.999
    disc_warmup: int = 1000  # steps with the PixPerfect loss off
    disc_ramp: int = 500  # then ramped linearly to full weight
    seed: int = 0
    threads: int = 2
    device: str = "auto"
    log_every: int = 25
    val_every: int = 500
    ckpt_every: int = 250
    val_per_family: int = 4
    val_crop: int = 256
    resume: bool = True
    families: str = ""  # comma list of synthesis families to train on (empty: SynthConfig's default mix)
    init: str = ""  # checkpoint (or exported .onnx) whose weights start a fresh run; same model config
    classical: bool = True  # the network sees the composite after stage 1 (harmonise), as in serving
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)


def _cast(text: str, like):
    if isinstance(like, bool):
        return text.lower() in ("1", "true", "yes", "on")
    if isinstance(like, tuple):
        return tuple(int(v) for v in text.strip("()").split(","))
    return type(like)(text)


def parse_overrides(argv: list[str]) -> TrainConfig:
    """``--key=value`` (and ``--model.key=value``, ``--loss.key=value``) onto the defaults."""
    cfg = TrainConfig()
    for arg in argv:
        if not arg.startswith("--") or "=" not in arg:
            raise InputError(f"expected --key=value, got {arg!r}", arg)
        key, value = arg[2:].split("=", 1)
        target, name = cfg, key
        if "." in key:
            head, name = key.split(".", 1)
            if head not in ("model", "loss"):
                raise InputError(f"unknown config section {head!r} in {arg!r}", arg)
            target = getattr(cfg, head)
        known = {f.name for f in fields(target)}
        if name not in known or name in ("model", "loss"):
            raise InputError(f"unknown option {key!r}; known: {', '.join(sorted(known))}", key)
        setattr(target, name, _cast(value, getattr(target, name)))
    return cfg


def resolve(path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else (REPO / p)


def lr_at(cfg: TrainConfig, step: int, progress: float) -> float:
    if step < cfg.lr_warmup:
        return cfg.lr * (step + 1) / cfg.lr_warmup
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def disc_weight_at(cfg: TrainConfig, step: int) -> float:
    if step < cfg.disc_warmup:
        return 0.0
    return min(1.0, (step - cfg.disc_warmup + 1) / max(cfg.disc_ramp, 1))


@torch.no_grad()
def evaluate(model: SeamRefiner, cases, device, classical: bool = True) -> dict:
    """Per-family mean band PSNR of the band-composited output vs the composite (identity), dB.
    PSNR is capped at 100 dB so clean cases (identical images) average sensibly."""
    model.eval()
    per: dict[str, dict[str, list[float]]] = {}
    for i in range(0, len(cases), 8):
        chunk = cases[i : i + 8]
        b = collate(chunk, classical).to(device)
        out = band_composite(b.composite, model(b.inputs, b.mask), b.band).cpu().numpy()
        for c, o in zip(chunk, out, strict=True):
            band = case_band(c)
            d = per.setdefault(c.family, {"refiner": [], "identity": []})
            d["refiner"].append(min(band_psnr(o.transpose(1, 2, 0), c.clean, band), 100.0))
            d["identity"].append(min(band_psnr(c.composite, c.clean, band), 100.0))
    model.train()
    res = {fam: {k: round(float(np.mean(v)), 3) for k, v in d.items()} for fam, d in per.items()}
    res["mean_gain_db"] = round(float(np.mean([d["refiner"] - d["identity"] for f, d in res.items()
                                               if f != "clean"])), 3)
    return res


def _init_checkpoint(path: Path) -> dict:
    """What ``--init`` starts from: a train.py checkpoint, or an exported ``.onnx`` (its weights,
    model config and step 0), e.g. the shipped model."""
    if path.suffix == ".onnx":
        model, manifest = load_onnx_weights(path)
        return {"model_config": manifest["model_config"], "model": model.state_dict(), "step": 0}
    return torch.load(path, map_location="cpu", weights_only=False)


def hardware(device: torch.device, threads: int) -> str:
    if device.type == "cuda":
        return f"CUDA {torch.cuda.get_device_name(device)}"
    return f"CPU ({platform.machine()}, {os.cpu_count()} cores visible), torch threads={threads}"


def usage() -> str:
    """This module's docstring and every ``--key=value`` option with its default."""
    cfg = TrainConfig()
    lines = [__doc__.strip(), "", "Options (with their defaults):"]
    for prefix, target in (("", cfg), ("model.", cfg.model), ("loss.", cfg.loss)):
        lines += [f"  --{prefix}{f.name}={getattr(target, f.name)!r}" for f in fields(target)
                  if f.name not in ("model", "loss")]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if any(arg in ("-h", "--help") for arg in argv):
        print(usage())
        return 0
    cfg = parse_overrides(argv)
    torch.set_num_threads(cfg.threads)
    torch.set_flush_denormal(True)  # denormals can make CPU steps many times slower
    torch.manual_seed(cfg.seed)
    if cfg.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(cfg.device)
    out_dir = resolve(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log_file = open(out_dir / "log.jsonl", "a")  # noqa: SIM115

    def log(msg: str, record: dict | None = None) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)
        if record is not None:
            log_file.write(json.dumps(record) + "\n")
            log_file.flush()

    # ---- data
    synth = None
    if cfg.families:
        synth = SynthConfig(family_weights={f.strip(): 1.0 for f in cfg.families.split(",") if f.strip()})
    stream = CaseStream(resolve(cfg.photos), cfg.crop, cfg.seed, synth, classical=cfg.classical)
    vcases = []
    if cfg.val_photos and resolve(cfg.val_photos).is_dir():
        vcases = val_cases(resolve(cfg.val_photos), cfg.val_per_family, cfg.val_crop)
    log(f"{len(stream.photos)} training photos, {len(vcases)} val cases, device {device}")

    # ---- model, EMA copy, optimiser
    model = SeamRefiner(cfg.model).to(device)
    ema = SeamRefiner(cfg.model).to(device)
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.99))
    log(f"model: {count_params(model):,} parameters")

    step, wall, val_metrics = 0, 0.0, {}
    last = out_dir / "ckpt_last.pt"
    if cfg.init and not (cfg.resume and last.exists()):
        if not resolve(cfg.init).is_file():
            raise InputError(f"--init checkpoint {cfg.init!r} does not exist", cfg.init)
        ck = _init_checkpoint(resolve(cfg.init))
        src = ModelConfig.from_dict(ck["model_config"])
        state = ck["model"]
        if src.stat_scale != cfg.model.stat_scale:  # the only change allowed: same function, new scale
            state = retarget_stat_scale(state, src.stat_scale, cfg.model.stat_scale)
            src.stat_scale = cfg.model.stat_scale
        if src.to_dict() != cfg.model.to_dict():
            raise InputError(f"{cfg.init} has another model config than this run", cfg.init)
        model.load_state_dict(state)
        ema.load_state_dict(state)
        log(f"initialised from {cfg.init} (EMA weights of step {ck['step']})")
    if cfg.resume and last.exists():
        ck = torch.load(last, map_location=device, weights_only=False)
        if ModelConfig.from_dict(ck["model_config"]).to_dict() != cfg.model.to_dict():
            raise InputError(f"{last} has another model config; use a new out_dir", str(last))
        model.load_state_dict(ck["model_raw"])
        ema.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        step, wall, val_metrics = ck["step"], ck["wall_seconds"], ck.get("val_metrics", {})
        log(f"resumed from {last} at step {step} ({wall / 60:.1f} min so far)")

    def save(path: Path) -> None:
        ck = {
            "config": {k: v for k, v in asdict(cfg).items() if k not in ("model", "loss")},
            "model_config": cfg.model.to_dict(),
            "loss_config": asdict(cfg.loss),
            "band": {"width": BAND_WIDTH, "feather": BAND_FEATHER},
            "step": step,
            "model": ema.state_dict(),  # the EMA weights are the ones exported
            "model_raw": model.state_dict(),
            "optimizer": opt.state_dict(),
            "wall_seconds": wall,
            "val_metrics": val_metrics,
            "hardware": hardware(device, cfg.threads),
        }
        tmp = path.with_suffix(".tmp")
        torch.save(ck, tmp)
        os.replace(tmp, path)

    # ---- loop
    gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
    model.train()
    t_last = t_start = time.time()
    wall0 = wall
    stats: dict[str, float] = {}
    n_stats = 0
    while step < cfg.steps:
        wall = wall0 + time.time() - t_start  # everything counts: steps, validation, checkpoints
        progress = max(step / cfg.steps, wall / (cfg.minutes * 60) if cfg.minutes > 0 else 0.0)
        if cfg.minutes > 0 and wall >= cfg.minutes * 60:
            break
        lr = lr_at(cfg, step, progress)
        for g in opt.param_groups:
            g["lr"] = lr
        batch = stream.batch(step, cfg.batch).to(device)
        net = model(batch.inputs, batch.mask)
        loss, logs = refiner_loss(net, batch.composite, batch.clean, batch.band, cfg.loss,
                                  disc_weight_at(cfg, step), gen, batch.inputs, batch.mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        with torch.no_grad():
            d = min(cfg.ema, (1 + step) / (10 + step))
            for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
                pe.lerp_(pm, 1.0 - d)
        step += 1
        wall = wall0 + time.time() - t_start
        for k, v in logs.items():
            stats[k] = stats.get(k, 0.0) + v
        n_stats += 1

        if step % cfg.log_every == 0:
            avg = {k: round(v / n_stats, 5) for k, v in stats.items()}
            dt = (time.time() - t_last) / n_stats
            log(f"step {step} {avg} lr {lr:.2e} gnorm {float(gnorm):.3f} {dt:.2f}s/step",
                {"step": step, "wall": round(wall, 1), "lr": lr, **avg})
            stats, n_stats, t_last = {}, 0, time.time()
        if vcases and step % cfg.val_every == 0:
            val_metrics = {"step": step, **evaluate(ema, vcases, device, cfg.classical)}
            log(f"val {val_metrics}", {"val": val_metrics})
        if step % cfg.ckpt_every == 0:
            save(last)

    if vcases:
        val_metrics = {"step": step, **evaluate(ema, vcases, device, cfg.classical)}
        log(f"val {val_metrics}", {"val": val_metrics})
    save(last)
    log(f"done: {step} steps, {wall / 60:.1f} min; checkpoint {last}")
    log_file.close()
    return 0
