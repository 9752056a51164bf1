"""The ``seam-refine`` CLI: refine (in-process and through a real daemon), 8/16-bit PNG I/O, batch with a
progress bar, daemon status, demo end to end, lazy subcommands, one-line errors."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
from PIL import Image
from seamrefine.app import cli, imagefiles
from seamrefine.runtime.inference import Refiner
from seamrefine.runtime.params import RefineParams

from ..support.daemon_harness import launch, sample_pair, stop


@pytest.fixture(scope="module")
def model(fixture_model):
    return fixture_model


@pytest.fixture(scope="module")
def refiner(model):
    return Refiner(model, ["CPUExecutionProvider"], threads=1)


@pytest.fixture(autouse=True)
def isolated_runtime(tmp_path, monkeypatch):
    """No test here may find (or disturb) a daemon the developer runs."""
    monkeypatch.setenv("SEAM_REFINE_RUNTIME_DIR", str(tmp_path / "no-daemon"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, model):
    rt = tmp_path_factory.mktemp("rt")
    proc, info = launch(rt, model)
    yield rt
    stop(proc)


def _write_pair(tmp_path, name="a", dtype=np.uint8, seed=0):
    img, mask = sample_pair(np.random.default_rng(seed), 80, 96, dtype=dtype)
    p = tmp_path / f"{name}.png"
    if dtype == np.uint16:
        p.write_bytes(imagefiles.encode_png16(img))
    else:
        Image.fromarray(img).save(p)
    m = tmp_path / f"{name}_mask.png"
    Image.fromarray(mask).save(m)
    return p, m, img, mask


def _refine_in_process(image_path, mask_path, out, model) -> int:
    argv = ["refine", str(image_path), "--mask", str(mask_path), "-o", str(out), "--no-daemon"]
    return cli.main([*argv, "--model", str(model), "--cpu"])


def test_refine_in_process_8bit(tmp_path, model, refiner, capsys):
    p, m, img, mask = _write_pair(tmp_path)
    out = tmp_path / "out" / "r.png"
    assert _refine_in_process(p, m, out, model) == 0
    got = np.asarray(Image.open(out))
    np.testing.assert_array_equal(got, refiner.refine(img, mask)[0])
    assert "in-process" in capsys.readouterr().out


def test_refine_16bit_round_trip(tmp_path, model, refiner):
    pytest.importorskip("cv2")
    p, m, img, mask = _write_pair(tmp_path, dtype=np.uint16)
    loaded = imagefiles.load_image(p)
    assert loaded.dtype == np.uint16
    np.testing.assert_array_equal(loaded, img)
    out = tmp_path / "r16.png"
    assert _refine_in_process(p, m, out, model) == 0
    got = imagefiles.load_image(out)
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got, refiner.refine(img, mask)[0])


def test_refine_colorspace_option(tmp_path, model, refiner):
    pytest.importorskip("cv2")
    p, m, img, mask = _write_pair(tmp_path, dtype=np.uint16)
    out = tmp_path / "lin.png"
    argv = ["refine", str(p), "--mask", str(m), "-o", str(out), "--no-daemon", "--model", str(model), "--cpu"]
    assert cli.main([*argv, "--colorspace", "linear"]) == 0
    want, _ = refiner.refine(img, mask, RefineParams(colorspace="linear"))
    np.testing.assert_array_equal(imagefiles.load_image(out), want)
    with pytest.raises(SystemExit):
        cli.main([*argv, "--colorspace", "rgb"])


def test_png16_encoder_known_values(tmp_path):
    rgba = np.array([[[0, 1, 256, 65535], [4660, 22136, 39612, 57005]]], np.uint16)
    p = tmp_path / "k.png"
    p.write_bytes(imagefiles.encode_png16(rgba))
    if _has_cv2():
        assert imagefiles.load_image(p).tolist() == rgba.tolist()
    grey = np.array([[0, 32768, 65535]], np.uint16)
    p.write_bytes(imagefiles.encode_png16(grey))
    assert np.asarray(Image.open(p)).tolist() == grey.tolist()
    mask = imagefiles.load_mask(p)
    assert mask.dtype == np.float32 and mask.tolist() == [[0.0, pytest.approx(32768 / 65535), 1.0]]


def _has_cv2() -> bool:
    try:
        import cv2  # noqa: F401
    except ImportError:
        return False
    return True


def test_refine_through_daemon(tmp_path, daemon, refiner, monkeypatch, capsys):
    monkeypatch.setenv("SEAM_REFINE_RUNTIME_DIR", str(daemon))
    p, m, img, mask = _write_pair(tmp_path)
    out = tmp_path / "d.png"
    assert cli.main(["refine", str(p), "--mask", str(m), "-o", str(out), "--daemon"]) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(out)), refiner.refine(img, mask)[0])
    assert "(daemon," in capsys.readouterr().out
    assert cli.main(["daemon", "status"]) == 0
    status = capsys.readouterr().out
    assert "daemon: running" in status and "provider CPUExecutionProvider" in status


def test_batch_with_progress_and_a_missing_mask(tmp_path, model, capsys):
    indir, masks = tmp_path / "in", tmp_path / "masks"
    indir.mkdir()
    masks.mkdir()
    for i, name in enumerate(["one", "two", "three"]):
        p, m, _, _ = _write_pair(indir, name, seed=i)
        if name == "two":
            m.unlink()
        else:
            m.rename(masks / (name + ".png" if name == "one" else m.name))  # both naming styles
    out = tmp_path / "out"
    rc = cli.main(
        ["batch", str(indir), "--masks", str(masks), "-o", str(out), "--model", str(model), "--cpu"]
    )
    captured = capsys.readouterr()
    assert rc == 1
    assert sorted(p.name for p in out.iterdir()) == ["one.png", "three.png"]
    assert "[" in captured.err and "3/3" in captured.err and "no mask for two.png" in captured.err
    assert "2 of 3 refined" in captured.out


def test_one_line_errors(tmp_path, capsys):
    assert cli.main(["refine", str(tmp_path / "missing.png"), "--mask", "x.png", "-o", "o.png"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("seam-refine: image not found") and err.count("\n") == 1 and "Traceback" not in err
    p, m, _, _ = _write_pair(tmp_path)
    assert cli.main(["refine", str(p), "--mask", str(m), "-o", str(tmp_path / "o.png"), "--daemon"]) == 1
    assert "no Seam Refine daemon is running" in capsys.readouterr().err
    empty = tmp_path / "empty.png"
    Image.fromarray(np.zeros((80, 96), np.uint8)).save(empty)
    assert (
        cli.main(
            [
                "refine",
                str(p),
                "--mask",
                str(empty),
                "-o",
                str(tmp_path / "o.png"),
                "--no-daemon",
                "--model",
                str(tmp_path / "nope.onnx"),
            ]
        )
        == 1
    )
    assert "model file not found" in capsys.readouterr().err
    assert cli.main(["daemon", "status"]) == 3
    assert "not running" in capsys.readouterr().out


def test_lazy_subcommands_dispatch(monkeypatch):
    seen = []
    fake = types.ModuleType("seamrefine_train.bench")
    fake.main = lambda argv: seen.append(argv) or 0
    monkeypatch.setitem(sys.modules, "seamrefine_train.bench", fake)
    assert cli.main(["bench", "--quick", "x"]) == 0
    assert seen == [["--quick", "x"]]
    monkeypatch.setitem(sys.modules, "seamrefine_train.train", None)  # import fails → clean message
    assert cli.main(["train"]) == 1


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for name in ("serve", "refine", "batch", "daemon", "demo", "bench", "install-plugin", "train"):
        assert name in out


def test_demo_end_to_end(tmp_path, model, capsys):
    out = tmp_path / "demo"
    assert cli.main(["demo", "-o", str(out), "--model", str(model), "--cpu"]) == 0
    text = capsys.readouterr().out
    assert "seam score (lower is better): before" in text and "daemon stopped (exit code 0)" in text
    before, after = np.asarray(Image.open(out / "before.png")), np.asarray(Image.open(out / "after.png"))
    assert before.shape == after.shape and (before != after).any()
    pair = np.asarray(Image.open(out / "before_after.png"))
    assert pair.shape[1] >= 2 * before.shape[1] and pair.shape[0] > before.shape[0]
    assert np.array_equal(pair[: before.shape[0], : before.shape[1]], before[..., :3])
