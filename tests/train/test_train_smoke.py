"""A few real training steps on generated photos: loss logged, checkpoint written, resume continues."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from seamrefine.errors import InputError
from seamrefine_train import train
from seamrefine_train.export_onnx import load_checkpoint
from seamrefine_train.model import ModelConfig

TINY = ["--model.lowres=32", "--model.low_ch=8,8,8", "--model.ctx_ch=2", "--model.hi_ch=8",
        "--model.hi_layers=1", "--model.noise_tile=16"]


def _photos(folder, n=4, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir()
    for i in range(n):
        yy, xx = np.mgrid[0:96, 0:128] / 96.0
        base = np.stack([np.sin(3 * xx + i), np.cos(2 * yy - i), xx * yy], -1) * 0.4 + 0.5
        img = np.clip(base + 0.03 * rng.standard_normal(base.shape), 0, 1)
        Image.fromarray((img * 255).astype(np.uint8)).save(folder / f"p{i}.png")
    return folder


def test_train_resume_and_checkpoint(tmp_path, capsys):
    photos = _photos(tmp_path / "photos")
    out = tmp_path / "run"
    common = [f"--photos={photos}", f"--val_photos={photos}", f"--out_dir={out}", "--crop=48", "--batch=2",
              "--threads=1", "--log_every=1", "--val_every=3", "--ckpt_every=2", "--disc_warmup=1",
              "--disc_ramp=1", "--val_per_family=1", "--val_crop=48", "--lr_warmup=1", *TINY]
    assert train.main([*common, "--steps=3"]) == 0
    first = capsys.readouterr().out
    assert "step 3" in first and "val" in first
    model, ck = load_checkpoint(out / "ckpt_last.pt")
    assert ck["step"] == 3
    assert ck["model_config"] == ModelConfig.from_dict(ck["model_config"]).to_dict()
    assert ck["config"]["crop"] == 48 and "optimizer" in ck and ck["val_metrics"]["step"] == 3
    assert "clean" in ck["val_metrics"] and "mean_gain_db" in ck["val_metrics"]

    assert train.main([*common, "--steps=5"]) == 0
    second = capsys.readouterr().out
    assert "resumed" in second and "step 4" in second and "step 1 " not in second
    _, ck2 = load_checkpoint(out / "ckpt_last.pt")
    assert ck2["step"] == 5
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "step" in r] == [1, 2, 3, 4, 5]
    with torch.no_grad():
        x = torch.rand(1, 3, 32, 32)
        m = torch.zeros(1, 1, 32, 32)
        m[..., 8:20, 8:20] = 1
        assert model(x, m).shape == (1, 3, 32, 32)


def test_same_batch_for_same_step(tmp_path):
    from seamrefine_train.data import CaseStream

    photos = _photos(tmp_path / "photos", n=3, seed=1)
    a = CaseStream(photos, 48, seed=5).batch(7, 2)
    b = CaseStream(photos, 48, seed=5).batch(7, 2)
    assert torch.equal(a.composite, b.composite) and torch.equal(a.band, b.band)
    assert a.families == b.families
    c = CaseStream(photos, 48, seed=5).batch(8, 2)
    assert not torch.equal(a.composite, c.composite)


def test_bad_override_is_a_typed_error():
    with pytest.raises(InputError, match="unknown option"):
        train.parse_overrides(["--no_such=1"])
    with pytest.raises(InputError, match="--key=value"):
        train.parse_overrides(["crop=3"])
    cfg = train.parse_overrides(["--crop=64", "--model.low_ch=8,16,32", "--loss.w_disc=0", "--resume=false"])
    assert cfg.crop == 64 and cfg.model.low_ch == (8, 16, 32) and cfg.loss.w_disc == 0.0 and not cfg.resume


def test_init_from_checkpoint_starts_fresh_run(tmp_path, capsys):
    photos = _photos(tmp_path / "photos", n=2)
    common = [f"--photos={photos}", "--val_photos=", "--crop=48", "--batch=2", "--threads=1", "--log_every=1",
              "--lr_warmup=1", *TINY]
    assert train.main([*common, f"--out_dir={tmp_path / 'a'}", "--steps=2"]) == 0
    base, _ = load_checkpoint(tmp_path / "a" / "ckpt_last.pt")
    args = [*common, f"--out_dir={tmp_path / 'b'}", f"--init={tmp_path / 'a' / 'ckpt_last.pt'}",
            "--steps=1", "--loss.w_psnr=0.002"]
    assert train.main(args) == 0
    assert "initialised from" in capsys.readouterr().out
    tuned, ck = load_checkpoint(tmp_path / "b" / "ckpt_last.pt")
    assert ck["step"] == 1 and ck["loss_config"]["w_psnr"] == 0.002
    moved = [not torch.equal(a, b) for a, b in zip(base.state_dict().values(), tuned.state_dict().values(),
                                                    strict=True)]
    assert any(moved)
    from seamrefine.errors import InputError

    rescaled = [*args[:-2], f"--out_dir={tmp_path / 'd'}", "--model.stat_scale=20", "--steps=1"]
    assert train.main(rescaled) == 0  # only stat_scale differs: the weights are retargeted
    with pytest.raises(InputError, match="does not exist"):
        train.main([*common, f"--out_dir={tmp_path / 'e'}", f"--init={tmp_path / 'missing.pt'}", "--steps=1"])
    with pytest.raises(InputError, match="another model config"):
        train.main([*common, f"--out_dir={tmp_path / 'c'}", f"--init={tmp_path / 'a' / 'ckpt_last.pt'}",
                    "--steps=1", "--model.hi_ch=4"])


def test_families_option_restricts_the_synthesis(tmp_path, capsys):
    photos = _photos(tmp_path / "photos", n=2)
    argv = [f"--photos={photos}", "--val_photos=", "--crop=48", "--batch=2", "--threads=1", "--steps=1",
            f"--out_dir={tmp_path / 'r'}", "--families=clean,blur", *TINY]
    assert train.main(argv) == 0
    from seamrefine_train.data import CaseStream
    from seamrefine_train.synthesis import SynthConfig

    stream = CaseStream(photos, 48, 0, SynthConfig(family_weights={"clean": 1.0, "blur": 1.0}))
    assert {stream.case(i).family for i in range(12)} <= {"clean", "blur"}
    with pytest.raises(InputError, match="unknown synthesis family"):
        train.main([*argv[:-len(TINY) - 1], "--families=nope", *TINY])


def test_classical_inputs_are_stage_one(tmp_path):
    """With ``classical`` the network's input is the composite after stage 1 (a strong uniform colour
    seam is changed inside the fill, nothing outside); without it, the composite itself."""
    from seamrefine_train.data import collate, stage_one
    from seamrefine_train.synthesis import make_case

    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:128, 0:128] / 128.0
    photo = np.stack([0.5 + 0.2 * np.sin(6 * xx), 0.4 + 0.2 * yy, 0.3 + 0.1 * xx], -1)
    photo = np.clip(photo + 0.01 * rng.standard_normal(photo.shape), 0, 1).astype(np.float32)
    case = make_case(photo, 0, 0, family="clean")
    case.composite[case.mask >= 0.5] = np.clip(case.composite[case.mask >= 0.5] * 1.15 + 0.05, 0, 1)
    plain, staged = collate([case]), collate([case], classical=True)
    assert torch.equal(plain.inputs, plain.composite)
    assert torch.equal(staged.composite, plain.composite)
    expected = torch.from_numpy(stage_one(case).transpose(2, 0, 1))[None]
    assert torch.equal(staged.inputs, expected)
    changed = (staged.inputs != staged.composite).any(1)[0].numpy()
    assert changed[case.mask >= 0.5].mean() > 0.5


def test_init_from_exported_onnx(tmp_path, capsys):
    from seamrefine_train.export_onnx import export_model
    from seamrefine_train.model import SeamRefiner

    photos = _photos(tmp_path / "photos", n=2)
    torch.manual_seed(0)
    cfg = train.parse_overrides(TINY).model
    model = SeamRefiner(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))  # off the zero init, which the exporter folds away
    (tmp_path / "m").mkdir()
    export_model(model, tmp_path / "m" / "seam_refiner.onnx", fp16=False, check=False)
    argv = [f"--photos={photos}", "--val_photos=", "--crop=48", "--batch=2", "--threads=1", "--steps=1",
            f"--out_dir={tmp_path / 'r'}", f"--init={tmp_path / 'm' / 'seam_refiner.onnx'}", *TINY]
    assert train.main(argv) == 0
    assert "initialised from" in capsys.readouterr().out
