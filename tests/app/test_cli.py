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
from ..support.synthetic_images import photo


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


def test_refine_16bit_colour_png(tmp_path, model, refiner):
    """A 16-bit RGB PNG is read at 16 bits (not as Pillow's 8-bit) and written back at 16 bits."""
    p, m, img, mask = _write_pair(tmp_path, dtype=np.uint16)
    assert img.shape[2] == 3 and (img > 255).any()
    loaded = imagefiles.load_image(p)
    assert loaded.dtype == np.uint16
    np.testing.assert_array_equal(loaded, img)
    out = tmp_path / "r16.png"
    assert _refine_in_process(p, m, out, model) == 0
    got = imagefiles.load_image(out)
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got, refiner.refine(img, mask)[0])


def test_refine_colorspace_option(tmp_path, model, refiner):
    p, m, img, mask = _write_pair(tmp_path, dtype=np.uint16)
    out = tmp_path / "lin.png"
    argv = ["refine", str(p), "--mask", str(m), "-o", str(out), "--no-daemon", "--model", str(model), "--cpu"]
    assert cli.main([*argv, "--colorspace", "linear"]) == 0
    want, _ = refiner.refine(img, mask, RefineParams(colorspace="linear"))
    np.testing.assert_array_equal(imagefiles.load_image(out), want)
    with pytest.raises(SystemExit):
        cli.main([*argv, "--colorspace", "rgb"])


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


def test_a_missing_extra_is_named(monkeypatch, capsys):
    def no_torch(name):
        raise ModuleNotFoundError("No module named 'torch'", name="torch")

    monkeypatch.setattr(cli.importlib, "import_module", no_torch)
    assert cli.main(["train", "--help"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "`train` needs torch" in err and "pip install 'seam-refine[train]'" in err
    assert cli.extra_providing("scipy") == "dev" and cli.extra_providing("numpy") is None


def test_train_help(capsys):
    pytest.importorskip("torch")
    assert cli.main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--key=value" in out and "--minutes=" in out and "--model.hi_ch=" in out


def test_unknown_output_format_fails_before_refining(tmp_path, monkeypatch, capsys):
    p, m, _, _ = _write_pair(tmp_path)
    monkeypatch.setattr(cli, "open_refiner", lambda *a, **k: pytest.fail("refined before checking -o"))
    assert cli.main(["refine", str(p), "--mask", str(m), "-o", str(tmp_path / "out.xyz"), "--no-daemon"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("seam-refine: cannot write out.xyz") and "Traceback" not in err
    p16, m16, _, _ = _write_pair(tmp_path, "b", dtype=np.uint16)
    argv = ["refine", str(p16), "--mask", str(m16), "-o", str(tmp_path / "b.jpg"), "--no-daemon"]
    assert cli.main(argv) == 1
    assert "16-bit output must be a .png" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["--no-daemon", "--daemon"])
def test_a_clean_picture_is_written_unchanged_and_the_line_says_so(tmp_path, model, daemon, monkeypatch,
                                                                   capsys, where):
    monkeypatch.setenv("SEAM_REFINE_RUNTIME_DIR", str(daemon))
    clean = (photo(3, 160) * 255).round().astype(np.uint8)
    mask = np.zeros((160, 160), np.uint8)
    mask[50:110, 40:120] = 255
    Image.fromarray(clean).save(tmp_path / "c.png")
    Image.fromarray(mask).save(tmp_path / "m.png")
    argv = ["refine", str(tmp_path / "c.png"), "--mask", str(tmp_path / "m.png"), "-o",
            str(tmp_path / "o.png"), where]
    assert cli.main(argv + (["--model", str(model), "--cpu"] if where == "--no-daemon" else [])) == 0
    assert capsys.readouterr().out.rstrip().endswith("; no seam found, the image is unchanged")
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "o.png")), clean)
    if where == "--no-daemon":  # a seam at strength 0 is left alone too, and the line says why
        p, m, _, _ = _write_pair(tmp_path)
        argv = ["refine", str(p), "--mask", str(m), "-o", str(tmp_path / "z.png"), "--strength", "0", where]
        assert cli.main(argv + ["--model", str(model), "--cpu"]) == 0
        assert capsys.readouterr().out.rstrip().endswith("; strength 0, the image is unchanged")


@pytest.mark.parametrize("where", ["--no-daemon", "--daemon"])
def test_both_paths_print_and_word_alike(tmp_path, model, daemon, monkeypatch, capsys, where):
    """An unmeasurable seam score reads n/a in-process as through the daemon (not nan), and a mask of
    the wrong size gets the same message."""
    monkeypatch.setenv("SEAM_REFINE_RUNTIME_DIR", str(daemon))
    p, m, _, mask = _write_pair(tmp_path)
    Image.fromarray((mask // 3).astype(np.uint8)).save(m)  # soft everywhere: no edge to measure
    argv = ["refine", str(p), "--mask", str(m), "-o", str(tmp_path / "o.png"), where]
    argv += ["--model", str(model), "--cpu"] if where == "--no-daemon" else []
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "seam score n/a → n/a" in out and "nan" not in out
    Image.fromarray(mask[:-1]).save(m)
    assert cli.main(argv) == 1
    assert capsys.readouterr().err == (
        "seam-refine: the mask is 96×79 px but the image is 96×80 px: they must be the same size\n"
    )


@pytest.mark.parametrize("where", ["--no-daemon", "--daemon"])
def test_grey_in_grey_out(tmp_path, model, daemon, refiner, monkeypatch, where):
    monkeypatch.setenv("SEAM_REFINE_RUNTIME_DIR", str(daemon))
    p, m, img, mask = _write_pair(tmp_path)
    Image.fromarray(img[..., 0]).save(p)  # an 8-bit grey PNG ("L")
    out = tmp_path / "grey.png"
    argv = ["refine", str(p), "--mask", str(m), "-o", str(out), where]
    assert cli.main(argv + (["--model", str(model), "--cpu"] if where == "--no-daemon" else [])) == 0
    with Image.open(out) as written:
        assert written.mode == "L"
        np.testing.assert_array_equal(np.asarray(written), refiner.refine(img[..., 0], mask)[0])


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


def test_a_daemon_with_a_lower_limit_says_what_to_do(tmp_path, model, monkeypatch, capsys):
    """The CLI, the in-process refiner and the daemon share one pixel limit; a daemon started with a lower
    --max-pixels refuses, and the CLI says how to refine the image anyway."""
    rt = tmp_path / "small"
    proc, _ = launch(rt, model, "--max-pixels", "5000")
    try:
        monkeypatch.setenv("SEAM_REFINE_RUNTIME_DIR", str(rt))
        p, m, _, _ = _write_pair(tmp_path)  # 96×80 = 7680 px
        assert cli.main(["refine", str(p), "--mask", str(m), "-o", str(tmp_path / "o.png")]) == 1
        err = capsys.readouterr().err
        assert "image is 96×80 (0.0 MP), over the limit of 0.005 MP" in err and "--no-daemon" in err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert _refine_in_process(p, m, tmp_path / "o.png", model) == 0
    finally:
        stop(proc)
