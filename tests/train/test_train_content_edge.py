"""seamrefine_train.content_selections and train_content_edge: selections along content edges, the
check's fit on known rows, a smoke run and its errors."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from seamrefine.runtime import content_edge, harmonise, seam_gate
from seamrefine_train import content_selections as C
from seamrefine_train import train_content_edge as T

from ..support.synthetic_images import noise_photo_folder


def two_regions(seed: int = 0, size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """A greenish textured field with a bluish disc (a quarter of the crop) and the disc's mask."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    disc = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 <= (size * 0.28) ** 2
    img = np.where(disc[..., None], [0.3, 0.45, 0.8], [0.35, 0.6, 0.25]).astype(np.float32)
    img += rng.normal(0, 0.02, img.shape).astype(np.float32)
    return np.clip(img, 0, 1), disc


@pytest.mark.parametrize("name", list(C.GENERATORS))
def test_selections_follow_the_content_edge(name):
    img, disc = two_regions()
    for seed in range(6):
        mask = C.GENERATORS[name](img, np.random.default_rng(seed))
        if mask is None:
            continue
        assert mask.dtype == np.float32 and set(np.unique(mask)) <= {0.0, 1.0}
        assert C.AREA[0] <= (mask > 0).mean() <= C.AREA[1] + 0.1  # grown by up to GROW px after the check
        inside = mask > 0
        # the disc (a quarter of the crop) is the only region within the area range: the selection is
        # (most of) the disc, grown by at most GROW px, so its edge runs along the disc's
        grown = cv2.dilate(disc.astype(np.uint8), np.ones((2 * C.GROW + 3,) * 2, np.uint8)) > 0
        assert (inside & disc).sum() >= 0.8 * disc.sum() and not (inside & ~grown).any()
        return
    pytest.fail(f"{name} found no selection in six tries")


def test_a_flat_crop_has_no_content_selection():
    flat = np.full((64, 64, 3), 0.5, np.float32)
    assert C.magic_wand(flat, np.random.default_rng(0)) is None  # the whole crop: over the area range


def rows(n_pos: int, n_neg: int) -> list[dict]:
    """Rows whose first feature tells content edges (high) from opened seams (low), with the seam
    gate's logit past its ramp and a map that halves the error on the seams (6 dB), its mean change
    under the refusal."""
    gate = seam_gate.load()
    rng = np.random.default_rng(0)
    out = []
    for i in range(n_pos + n_neg):
        pos = i < n_pos
        f = rng.normal(0, 1, len(seam_gate.FEATURES))
        f[0] += 3.0 if pos else -3.0
        # band moments of a change that halves the error: dd·1 + 2·dc + cc = 0.25 of cc
        out.append({"family": "content_edge" if pos else "color_uniform", "features": f.tolist(),
                    "logit": gate.hi + 1.0, "mean_change": 0.05, "dd": 0.25, "dc": -0.5,
                    "cc": 1.0, "base": 30.0})
    return out


def test_fit_separates_known_rows():
    assert harmonise.MAX_MEAN_CHANGE > 0.05
    model, record = T.fit(rows(40, 200), keep=0.95)
    assert model.features == content_edge.FEATURES
    assert record["positives"] == 40 and record["negatives"] == 200
    assert record["positives_held"] == 1.0 and record["negatives_held"] == pytest.approx(0.05, abs=0.01)
    assert 0.0 < record["served_gain_held"] < 0.1
    assert model.lo < model.hi


def test_fit_needs_both_kinds():
    with pytest.raises(T.InputError, match="need ≥ 5 content-edge selections") as e:
        T.fit(rows(2, 50))
    assert e.value.value == (2, 50)


def test_smoke_run_and_errors(tmp_path, capsys):
    photos = noise_photo_folder(tmp_path / "photos", seed=3)
    out = tmp_path / "check.json"
    argv = ["--photos", str(photos), "--cases", "20", "--aligned", "20", "--workers", "1", "--sizes", "160",
            "--out", str(out)]
    code = T.main(argv)
    err = capsys.readouterr().err
    if code == 0:  # noise photos may hold too few content edges the gate opens on
        model = content_edge.load(out)
        assert model.lo < model.hi and "served_gain_held" in json.loads(out.read_text())["training"]
    else:
        assert code == 2 and "need ≥ 5 content-edge selections" in err
    assert T.main([*argv, "--keep", "1.5"]) == 2
    assert "need 0.5 ≤ --keep < 1" in capsys.readouterr().err


def test_probe_prints_both_variants(tmp_path, capsys):
    from seamrefine_train import content_edge_probe as P

    photos = noise_photo_folder(tmp_path / "photos", seed=4)
    assert P.main(["--photos", str(photos), "--cases", "3", "--selections", "colour_cluster"]) in (0, 2)
    out, err = capsys.readouterr()
    assert ("check off:" in out and "as served:" in out) or "no selection could be drawn" in err
    assert P.main(["--photos", str(tmp_path / "none"), "--cases", "3"]) == 2
    assert "need photos" in capsys.readouterr().err
    psnr = np.array([100.0, 44.0, 30.0])
    assert P.summary("x", psnr) == ("x: 3 selections, below 45 dB 2 (66.7%), below 35 dB 1, lowest 30.0 dB, "
                                    "touched 2")
