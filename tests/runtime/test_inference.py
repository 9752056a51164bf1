"""Refiner on a real onnxruntime with the fixture models (CPU)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from seamrefine.errors import (
    DTypeError,
    EmptyMaskError,
    FullMaskError,
    ImageTooLargeError,
    InputError,
    ModelError,
    ShapeError,
)
from seamrefine.imaging import imagemath as im
from seamrefine.imaging import seam_score
from seamrefine.runtime import inference
from seamrefine.runtime.inference import Refiner
from seamrefine.runtime.params import RefineParams

from ..support.onnx_fixture import reference_composite, reference_refine
from ..support.synthetic_images import make_image

CPU_ONLY = ["CPUExecutionProvider"]
DTYPES = [np.uint8, np.uint16, np.float16, np.float32]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels", [3, 4])
def test_smoke_dtypes_alpha_band_exact(refiners, dtype, channels):
    image, mask = make_image(np.random.default_rng(0), dtype=dtype, channels=channels)
    image_before, mask_before = image.copy(), mask.copy()
    out = refiners["blur"].refine(image, mask)[0]
    assert out.shape == image.shape and out.dtype == image.dtype
    np.testing.assert_array_equal(image, image_before)  # caller's arrays untouched
    np.testing.assert_array_equal(mask, mask_before)
    band = im.band_weights(mask > 0, 16, 8)
    outside = band == 0
    np.testing.assert_array_equal(out[outside], image[outside])  # bit-exact outside the band
    if channels == 4:
        np.testing.assert_array_equal(out[..., 3], image[..., 3])
    assert (out[mask > 0] != image[mask > 0]).any()


@pytest.mark.parametrize("kind", ["blur", "pointwise"])
def test_known_value_against_numpy_reference(refiners, kind):
    image, mask = make_image(np.random.default_rng(1), dtype=np.float32)
    out = refiners[kind].refine(image, mask)[0]
    want, _ = reference_composite(kind, image, mask)
    np.testing.assert_allclose(out, want, atol=2e-6)


def test_known_value_uint8_and_band_override(refiners):
    image, mask = make_image(np.random.default_rng(2))
    out = refiners["pointwise"].refine(image, mask, RefineParams(band=4))[0]
    want, band = reference_composite("pointwise", image, mask, width=4)
    assert np.abs(out.astype(int) - want.astype(int)).max() <= 1
    np.testing.assert_array_equal(out[band == 0], image[band == 0])


def test_strength_zero_is_identity_and_half_is_between(refiners):
    image, mask = make_image(np.random.default_rng(3), dtype=np.float32)
    none, _ = refiners["pointwise"].refine(image, mask, RefineParams(strength=0.0))
    np.testing.assert_array_equal(none, image)
    full = refiners["pointwise"].refine(image, mask)[0]
    half = refiners["pointwise"].refine(image, mask, RefineParams(strength=0.5))[0]
    np.testing.assert_allclose(half, (image + full) / 2, atol=1e-6)


def test_mask_forms_agree(refiners):
    image, mask = make_image(np.random.default_rng(4))
    r = refiners["blur"]
    out = r.refine(image, mask)[0]
    np.testing.assert_array_equal(r.refine(image, mask > 0)[0], out)
    np.testing.assert_array_equal(r.refine(image, mask[..., None])[0], out)
    np.testing.assert_array_equal(r.refine(image, mask.astype(np.float32) / 255)[0], out)


def test_soft_mask(refiners):
    image, mask = make_image(np.random.default_rng(5), dtype=np.float32)
    soft = im.mask_to_float(mask, mask.shape) * np.float32(0.5)
    out = refiners["pointwise"].refine(image, soft)[0]
    rgb = np.clip(image, 0, 1)
    want = im.composite(image, reference_refine("pointwise", rgb, soft), im.band_weights(soft, 16, 8))
    np.testing.assert_allclose(out, want, atol=2e-6)


def test_mask_at_image_corner(refiners):
    image, _ = make_image(np.random.default_rng(6), h=50, w=70)
    mask = np.zeros((50, 70), np.uint8)
    mask[:10, 60:] = 255
    out = refiners["blur"].refine(image, mask)[0]
    want, band = reference_composite("blur", image, mask)
    assert np.abs(out.astype(int) - want.astype(int)).max() <= 1
    np.testing.assert_array_equal(out[band == 0], image[band == 0])


def test_linear_colorspace_known_value(refiners):
    image, mask = make_image(np.random.default_rng(7), dtype=np.float32)
    lin = im.srgb_to_linear(image)
    out = refiners["pointwise"].refine(lin, mask, RefineParams(colorspace="linear"))[0]
    m = im.mask_to_float(mask, mask.shape)
    refined = im.srgb_to_linear(reference_refine("pointwise", im.linear_to_srgb(lin), m))
    want = im.composite(lin, refined, im.band_weights(m, 16, 8))
    np.testing.assert_allclose(out, want, atol=1e-5)
    band = im.band_weights(m, 16, 8)
    np.testing.assert_array_equal(out[band == 0], lin[band == 0])


@pytest.mark.parametrize("colorspace", ["srgb", "linear"])
def test_float_values_outside_0_1_survive_inside_the_band(refiners, colorspace):
    """HDR highlights (> 1) and negative floats in the band get the model's change added, not a clip."""
    image, mask = make_image(np.random.default_rng(11), dtype=np.float32)
    hdr = image.copy()
    hdr[45:50, 60:70] = 4.0  # inside the fill
    hdr[30:32, 40:44] = -0.25  # in the band just outside it
    out = refiners["pointwise"].refine(hdr, mask, RefineParams(colorspace=colorspace))[0]
    plain = refiners["pointwise"].refine(np.clip(hdr, 0, 1), mask, RefineParams(colorspace=colorspace))[0]
    band = im.band_weights(im.mask_to_float(mask, mask.shape), 16, 8)
    assert (band[45:50, 60:70] == 1).all() and (band[30:32, 40:44] > 0).all()
    np.testing.assert_allclose(out[45:50, 60:70], 3.0 + plain[45:50, 60:70], atol=1e-5)  # 4 + (f(1) − 1)
    np.testing.assert_allclose(out[30:32, 40:44], plain[30:32, 40:44] - 0.25, atol=1e-5)
    in_range = (hdr >= 0).all(-1) & (hdr <= 1).all(-1)
    np.testing.assert_allclose(out[in_range], plain[in_range], atol=1e-6)
    assert (plain[45:50, 60:70] != 1.0).any()  # the fixture model does change these pixels


def test_pooling_picks_min_score(refiners):
    image, mask = make_image(np.random.default_rng(10))
    r = refiners["blur"]
    calls = []
    out, info = r.refine(image, mask, RefineParams(samples=4), progress=lambda d, t: calls.append((d, t)))
    scores = info["sample_scores"]
    assert len(scores) == 4 and info["chosen"] == int(np.argmin(scores))
    assert info["seam_score_after"] == min(scores)
    assert calls[-1] == (4 * info["tiles"], 4 * info["tiles"])
    again = r.refine(image, mask, RefineParams(samples=4))[0]
    np.testing.assert_array_equal(again, out)  # deterministic
    band = im.band_weights(mask > 0, 16, 8)
    np.testing.assert_array_equal(out[band == 0], image[band == 0])

    b = info["box"]
    rgb, _ = im.to_float(out[b[0] : b[1], b[2] : b[3]])
    m = im.mask_to_float(mask[b[0] : b[1], b[2] : b[3]], rgb.shape[:2])
    assert seam_score.seam_score(rgb, m) == pytest.approx(min(scores))


def test_seam_scores_before_after(refiners):
    image, mask = make_image(np.random.default_rng(11))
    r = refiners["blur"]
    _, info = r.refine(image, mask)
    before, after = info["seam_score_before"], info["seam_score_after"]
    assert np.isfinite(before) and np.isfinite(after) and info["elapsed_ms"] > 0
    _, info = r.refine(image, mask, RefineParams(strength=0.0))
    assert (info["seam_score_before"], info["seam_score_after"]) == (before, before)

    assert info["seam_score_before"] == seam_score.seam_score(image.astype(np.float32) / 255.0, mask)


def test_before_score_runs_beside_stage_one_and_its_errors_reach_the_caller(refiners, monkeypatch):
    image, mask = make_image(np.random.default_rng(12))
    seen = []

    def failing(self, crop):
        seen.append(threading.current_thread().name)
        raise RuntimeError("score failed")

    monkeypatch.setattr(inference._Scorer, "__call__", failing)
    with pytest.raises(RuntimeError, match="score failed"):
        refiners["blur"].refine(image, mask)
    assert seen == ["seamrefine-score"]


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"strength": 1.5}, r"strength must be a number in \[0, 1\], got 1.5"),
        ({"strength": -0.1}, "got -0.1"),
        ({"strength": "1"}, "got '1'"),
        ({"samples": 0}, r"samples must be an integer in \[1, 8\], got 0"),
        ({"samples": 9}, "got 9"),
        ({"samples": 2.0}, "got 2.0"),
        ({"band": -1}, "band must be None or an integer in .* got -1"),
        ({"band": 3.5}, "got 3.5"),
        ({"colorspace": "rec2020"}, "got 'rec2020'"),
        ({"progress": 5}, "progress must be callable, got int"),
        ({"cancel": True}, "cancel must be a threading.Event, got bool"),
    ],
)
def test_bad_parameters(refiners, kwargs, pattern):
    image, mask = make_image(np.random.default_rng(13), h=32, w=32)
    callbacks = {k: kwargs.pop(k) for k in ("progress", "cancel") if k in kwargs}
    with pytest.raises(InputError, match=pattern) as e:
        refiners["blur"].refine(image, mask, RefineParams(**kwargs), **callbacks)
    assert e.value.code == "bad_input"
    if not callbacks:  # the public function checks the same way
        with pytest.raises(InputError, match=pattern):
            inference.refine(image, mask, **kwargs)


def test_bad_images_and_masks(refiners):
    r = refiners["blur"]
    image, mask = make_image(np.random.default_rng(14), h=32, w=40)
    with pytest.raises(DTypeError, match="got int32"):
        r.refine(image.astype(np.int32), mask)
    with pytest.raises(ShapeError, match=r"got shape \(32, 40, 5\)"):
        r.refine(np.concatenate([image, image[..., :2]], axis=-1), mask)
    with pytest.raises(ShapeError, match="the mask is 39×32 px but the image is 40×32 px"):
        r.refine(image, mask[:, :39])
    with pytest.raises(InputError, match=r"range \[0, 2\]"):
        r.refine(image, mask.astype(np.float32) / 127.5)
    with pytest.raises(DTypeError, match="got int64"):
        r.refine(image, mask.astype(np.int64))
    nan = image.astype(np.float32)
    nan[0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        r.refine(nan, mask)
    with pytest.raises(EmptyMaskError) as e:
        r.refine(image, np.zeros_like(mask))
    assert e.value.code == "empty_mask"
    with pytest.raises(FullMaskError):
        r.refine(image, np.full_like(mask, 255))


@pytest.mark.parametrize("layout", ["H×W", "H×W×1", "H×W×2"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_grey_comes_back_grey(refiners, layout, dtype):
    """A grey image is refined as RGB with the grey in every channel and returned in its own layout."""
    rgb, mask = make_image(np.random.default_rng(24), dtype=dtype)
    grey = rgb[..., 0]
    image = {"H×W": grey, "H×W×1": grey[..., None], "H×W×2": np.stack([grey, rgb[..., 1]], -1)}[layout]
    out, _ = refiners["blur"].refine(image, mask)
    assert out.shape == image.shape and out.dtype == image.dtype
    colour, _ = refiners["blur"].refine(np.stack([grey, grey, grey], -1), mask)
    want = colour.mean(axis=-1, dtype=np.float64)
    got = out if out.ndim == 2 else out[..., 0]
    np.testing.assert_allclose(got, want, atol=0.5 if dtype != np.float32 else 1e-6)
    band = im.band_weights(mask > 0, 16, 8)
    np.testing.assert_array_equal(got[band == 0], grey[band == 0])  # untouched outside the band, exactly
    if layout == "H×W×2":
        np.testing.assert_array_equal(out[..., 1], image[..., 1])  # alpha kept


def test_too_large(models):
    r = Refiner(models["blur"], CPU_ONLY, threads=1, max_pixels=1000)
    image, mask = make_image(np.random.default_rng(15), h=40, w=30)
    with pytest.raises(ImageTooLargeError, match=r"30×40 \(0.0 MP\), over the limit of 0.001 MP") as e:
        r.refine(image, mask)
    assert e.value.value == (40, 30) and e.value.code == "too_large"


def test_module_level_refine_uses_cached_default(refiners, monkeypatch):
    monkeypatch.setattr(inference, "_default", refiners["pointwise"])
    image, mask = make_image(np.random.default_rng(16))
    np.testing.assert_array_equal(inference.refine(image, mask), refiners["pointwise"].refine(image, mask)[0])
    assert inference.default_refiner() is refiners["pointwise"]
    import seamrefine

    np.testing.assert_array_equal(seamrefine.refine(image, mask, strength=0.0), image)


def test_default_refiner_without_shipped_model(monkeypatch, tmp_path):
    monkeypatch.setattr(inference, "_default", None)
    monkeypatch.setattr("seamrefine.runtime.session.DEFAULT_MODEL", tmp_path / "missing.onnx")
    with pytest.raises(ModelError, match="missing.onnx"):
        inference.default_refiner()
    assert inference._default is None  # a later call retries


def test_scorer_matches_seam_score_on_large_crop():
    """The strip-wise reduction must give exactly seam_score of the full float crop."""
    image, mask = make_image(np.random.default_rng(17), h=700, w=760)
    m = im.mask_to_float(mask, mask.shape)
    scorer = inference._Scorer(seam_score, m, linear=False)
    assert scorer.f > 1
    rgb, _ = im.to_float(image)
    assert scorer(image) == seam_score.seam_score(rgb, m)


def test_large_rgba_crop_is_scored(refiners):
    """RGBA crops above SCORE_MAX_PIXELS are scored on their RGB (regression: a 4-channel strip buffer)."""
    rng = np.random.default_rng(23)
    image = rng.integers(0, 256, (760, 820, 4), dtype=np.uint8)
    mask = np.zeros((760, 820), np.uint8)
    mask[200:560, 250:600] = 255
    assert image.shape[0] * image.shape[1] > seam_score.SCORE_MAX_PIXELS
    out, info = refiners["pointwise"].refine(image, mask)
    assert np.array_equal(out[..., 3], image[..., 3])
    assert np.isfinite(info["seam_score_before"]) and np.isfinite(info["seam_score_after"])


def test_unscorable_mask_still_refines(refiners):
    """A mask too soft for seam_score (all < 0.5) is still refined; the score is None, as on the wire."""
    image, mask = make_image(np.random.default_rng(18), dtype=np.float32)
    soft = im.mask_to_float(mask, mask.shape) * np.float32(0.3)
    out, info = refiners["pointwise"].refine(image, soft, RefineParams(samples=2))
    assert (out != image).any()
    assert info["seam_score_before"] is None and info["seam_score_after"] is None


@pytest.mark.parametrize("shape", [(3, 3), (1, 2), (9, 1), (1, 40)])
def test_tiny_images(refiners, shape):
    rng = np.random.default_rng(19)
    image = rng.integers(0, 256, (*shape, 4), dtype=np.uint8)
    mask = np.zeros(shape, np.uint8)
    mask[0, 0] = 255
    out = refiners["blur"].refine(image, mask, RefineParams(samples=2))[0]
    assert out.shape == image.shape and out.dtype == image.dtype
    np.testing.assert_array_equal(out[..., 3], image[..., 3])


def test_concurrent_calls_match_serial(refiners):
    image, mask = make_image(np.random.default_rng(20), h=200, w=260)
    r = refiners["blur_tiled"]
    want = r.refine(image, mask)[0]
    results = [None] * 3

    def work(i):
        results[i] = r.refine(image, mask)[0]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got in results:
        np.testing.assert_array_equal(got, want)


def test_refine_box_grows_the_masks_box_by_context_band_and_rings():
    from seamrefine.runtime.ring_profile import REACH

    mask = np.zeros((400, 500), np.uint8)
    mask[150:170, 200:260] = 255
    man = {"context": 64, "band_width": 16, "band_feather": 8}
    grow = max(64, 16 + 8 + 1, REACH)
    assert inference.refine_box(mask, man) == im.Box(150 - grow, 170 + grow, 200 - grow, 260 + grow)
    wide = inference.refine_box(mask, man, width=120)  # a wider band than the rings reach
    assert wide == im.Box(150 - 129, 170 + 129, 200 - 129, 260 + 129)
    corner = np.zeros((400, 500), bool)
    corner[:5, -5:] = True
    assert inference.refine_box(corner, man) == im.Box(0, 5 + grow, 495 - grow, 500)  # clipped
