"""The Krita plugin inside REAL Krita (../shared/hosts/hosts.sh krita-run) against a REAL daemon.

One Krita run (tests/plugins/krita_scripts/e2e_refine.py) does all in-Krita work: U8, U16, F16 and F32
layers, a layer with alpha, the real "Seam Refine" action, undo, and the error messages. The checks on
its dumps happen here, against the real daemon's own answers (its patch and its refined image).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from seamrefine.app import install_plugin
from seamrefine.imaging.imagemath import srgb_to_linear

from .krita_host import SCRIPTS, SEL, Daemon, H, W, describe, krita_run, make_png, model_path, require_krita
from .plugin_client_servers import load_client, load_common

pytestmark = [pytest.mark.hosts, pytest.mark.slow]
START_HINT = "seam-refine serve"
policy = load_common("seamrefine_policy")
client = load_client()


def run_e2e(tmp_path, mode):
    require_krita(mode)
    work = tmp_path / "work"
    out = work / "out"
    out.mkdir(parents=True)
    png = make_png(work / "in.png")
    plugins = work / "pykrita"
    install_plugin.install("krita", plugins)
    model = model_path(work / "model")
    daemon = Daemon(model, work / "run", work / "log")
    try:
        proc = krita_run(SCRIPTS / "e2e_refine.py", plugin_dir=plugins, binds=[work], mode=mode,
                         SR_OUT=out, SR_PNG=work / "in.png", SR_DAEMON_PID=daemon.info["pid"],
                         SEAM_REFINE_RUNTIME_DIR=work / "run")
    finally:
        daemon.stop()
    assert proc.returncode == 0, "Krita run failed:\n" + describe(proc)
    summary = json.loads((out / "summary.json").read_text())
    return work, out, png, model, summary


@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    return run_e2e(tmp_path_factory.mktemp("krita"), "chroot")


def load(out, depth, name, dtype, shape):
    return np.frombuffer((out / f"{depth}_{name}.bin").read_bytes(), dtype).reshape(shape)


# "U16layer": an 8-bit image whose active layer alone was converted to 16-bit;
# "F32lin": a 32-bit float image converted to the linear-light sRGB-elle-V2-g10 profile;
# "U8alpha": an 8-bit layer with a transparent and a half-transparent stripe across the selection's edge
DEPTHS = {"U8": (np.uint8, "BGRA"), "U16": (np.uint16, "BGRA"), "F16": (np.float16, "RGBA"),
          "F32": (np.float32, "RGBA"), "U16layer": (np.uint16, "BGRA"), "F32lin": (np.float32, "RGBA"),
          "U8alpha": (np.uint8, "BGRA")}
# Krita's composite (its projection) against the daemon's refined image, where the source is opaque
COMPOSITE_TOLERANCE = {"U8": 1, "U16": 1, "F16": 2e-3, "F32": 1e-5, "U16layer": 1, "F32lin": 1e-5,
                       "U8alpha": 1}


def _top(dtype) -> float:
    return float(np.iinfo(dtype).max) if np.dtype(dtype).kind in "ui" else 1.0


def _ask_daemon(work, model, depth, run, image, mask, w, h):
    """The real daemon's patch and refined image for the crop the plug-in sent."""
    daemon = Daemon(model, work / f"run-check-{depth}", work / "log")
    dtype = np.dtype(run["dtype"])
    answers = {}
    try:
        client = load_client()
        with client.Client(daemon.info["endpoint"], token=daemon.info["token"], timeout=60) as c:
            for output in ("patch", "image"):
                pixels, _ = c.refine(image.tobytes(), w, h, 4, run["dtype"], run["order"], mask.tobytes(),
                                     colorspace="linear" if run["linear"] else "srgb", output=output)
                answers[output] = np.frombuffer(pixels, dtype).reshape(h, w, 4)
    finally:
        daemon.stop()
    return answers


@pytest.fixture(scope="module")
def answers(e2e):
    work, out, png, model, summary = e2e
    found = {}
    for depth, (dtype, _) in DEPTHS.items():
        run = summary["runs"][depth]
        x, y, w, h = run["box"]
        found[depth] = _ask_daemon(work, model, depth, run, load(out, depth, "image", dtype, (h, w, 4)),
                                   load(out, depth, "mask", np.uint8, (h, w)), w, h)
    return found


@pytest.mark.parametrize("depth", list(DEPTHS))
def test_what_the_plugin_sends(e2e, depth):
    work, out, png, model, summary = e2e
    run = summary["runs"][depth]
    x, y, w, h = run["box"]
    dtype, order = DEPTHS[depth]
    assert run["dtype"] == np.dtype(dtype).name and run["order"] == order
    assert run["layer_color"] == ["RGBA", "U8" if depth.startswith("U8") else depth[:3]]
    assert run["linear"] == (depth == "F32lin"), run["layer_profile"]
    image = load(out, depth, "image", dtype, (h, w, 4))
    mask = load(out, depth, "mask", np.uint8, (h, w))

    # the layer's BGRA pixels over the selection's bounds plus context …
    # (8/16-bit integer layers are B,G,R,A; float layers R,G,B,A; conversions are Krita's own, via lcms)
    rgb = png[y:y + h, x:x + w]
    if depth.startswith("U8"):
        expected = np.concatenate([rgb[..., ::-1], np.full((h, w, 1), 255, np.uint8)], -1)
        if depth == "U8alpha":
            expected[:, SEL[0] - 10 - x:SEL[0] - x, 3] = 0
            expected[:, SEL[0] - x:SEL[0] + 10 - x, 3] = 128
        np.testing.assert_array_equal(image, expected)
    elif depth.startswith("U16"):
        expected = np.concatenate([rgb[..., ::-1], np.full((h, w, 1), 255, np.uint8)], -1).astype(int) * 257
        np.testing.assert_allclose(image.astype(int), expected, atol=16, rtol=0)
    else:
        values = rgb / 255.0
        if depth == "F32lin":  # lcms converted the sRGB-encoded values to linear light
            values = srgb_to_linear(values)
        expected = np.concatenate([values, np.ones((h, w, 1))], -1)
        np.testing.assert_allclose(image.astype(np.float64), expected, atol=2e-3, rtol=0)
    # … and the soft selection (feather kept), context around it unselected
    sx, sy, sw, sh = SEL
    assert (mask[sy - y + 8:sy - y + sh - 8, sx - x + 8:sx - x + sw - 8] == 255).all()
    assert mask[0, 0] == 0 and mask[-1, -1] == 0
    assert ((mask > 0) & (mask < 255)).sum() > 100
    assert 0 < x or 0 < y or w < W or h < H
    assert run["header"]["type"] == "result" and "elapsed_ms" in run["header"]


@pytest.mark.parametrize("depth", list(DEPTHS))
def test_new_layer_is_the_daemons_patch(e2e, answers, depth):
    """Item 1 of issue #15: the new layer is a patch: the daemon's patch at the crop offset (refined
    pixels in the band, the band's feather as alpha), transparent everywhere else; no opaque rectangle."""
    work, out, png, model, summary = e2e
    run = summary["runs"][depth]
    x, y, w, h = run["box"]
    dtype, _ = DEPTHS[depth]
    result = load(out, depth, "result", dtype, (h, w, 4))
    np.testing.assert_array_equal(result, answers[depth]["patch"])
    np.testing.assert_array_equal(load(out, depth, "layer_box", dtype, (h, w, 4)), result)
    layer_full = load(out, depth, "layer_full", dtype, (H, W, 4))
    np.testing.assert_array_equal(layer_full[y:y + h, x:x + w], result)
    outside = layer_full.copy()
    outside[y:y + h, x:x + w] = 0
    assert not outside[..., 3].any()  # transparent (float layers may keep colour under alpha 0)
    alpha = result[..., 3].astype(np.float64) / _top(dtype)
    assert (alpha == 0).mean() > 0.3, "not the whole crop: transparent where nothing changed"
    assert ((alpha > 0) & (alpha < 1)).sum() > 100, "the band's feather as alpha"
    assert (alpha == 1).sum() > 100 or depth == "U8alpha"


@pytest.mark.parametrize("depth", list(DEPTHS))
def test_over_the_source_the_new_layer_gives_the_refined_image(e2e, answers, depth):
    """Krita's own composite (the projection: "Top" is empty, the canvas transparent) equals the
    daemon's refined image: exactly where the band is opaque, within rounding in its feather."""
    work, out, png, model, summary = e2e
    run = summary["runs"][depth]
    x, y, w, h = run["box"]
    dtype, _ = DEPTHS[depth]
    refined, patch = answers[depth]["image"], answers[depth]["patch"]
    image = load(out, depth, "image", dtype, (h, w, 4))
    assert (refined != image).any(), "the daemon must change something for this to mean anything"
    doc_dtype = np.uint8 if depth == "U16layer" else dtype  # an 8-bit image: its projection is 8-bit
    projection = load(out, depth, "projection", doc_dtype, (h, w, 4)).astype(np.float64)
    want = refined.astype(np.float64) / 257 if depth == "U16layer" else refined.astype(np.float64)
    opaque = image[..., 3] == _top(dtype)
    np.testing.assert_allclose(projection[opaque], want[opaque], atol=COMPOSITE_TOLERANCE[depth], rtol=0)
    core = opaque & (patch[..., 3] == _top(dtype))
    assert core.sum() > 100
    if depth in ("U8", "U16", "U8alpha"):
        np.testing.assert_array_equal(projection[core], want[core])
    if depth == "U8alpha":  # nothing is painted where the layer is transparent
        clear = image[..., 3] == 0
        assert clear.sum() > 100 and (patch[clear, 3] == 0).all() and (projection[clear, 3] == 0).all()
        half = image[..., 3] == 128
        assert half.sum() > 100 and (projection[half, 3] >= 128).all()


@pytest.mark.parametrize("depth", list(DEPTHS))
def test_layer_stack_and_undo(e2e, depth):
    run = e2e[4]["runs"][depth]
    before = [tuple(n) for n in run["before_stack"]]
    after = [tuple(n) for n in run["after_stack"]]
    assert before[:2] == [("Background", "paintlayer"), ("Top", "paintlayer")]
    # directly above the active layer ("Background"), nothing else added, moved or removed
    assert after == before[:1] + [("Seam Refine", "paintlayer")] + before[1:]
    assert run["parent_is_root"] and run["active_after"] == "Seam Refine"
    assert run["originals_unchanged"]
    assert [tuple(n) for n in run["undo_stack"]] == before and run["undo_pixels_unchanged"]


def test_blending_mode_and_opacity_carry_over_in_one_undo_step(e2e):
    blend = e2e[4]["blend"]
    assert blend["messages"] == [] and blend["layer_mode"] == ["multiply", 204]
    assert blend["layer_color"] == ["RGBA", "U8"]
    before = [tuple(n) for n in blend["before_stack"]]
    after = [tuple(n) for n in blend["after_stack"]]
    assert after == before[:1] + [("Seam Refine", "paintlayer")] + before[1:]
    assert [tuple(n) for n in blend["undo_stack"]] == before and blend["undo_pixels_unchanged"]
    assert blend["second_undo_reaches_own_step"]  # the refine left exactly one step in the undo history


def test_clear_messages_instead_of_layers(e2e):
    errors = e2e[4]["errors"]

    def only(key, part=1):
        assert len(errors[key]) == 1, errors[key]
        return errors[key][0][part]

    assert "Nothing is selected" in only("no_selection")
    assert "paint layer" in only("group_layer") and "grouplayer" in only("group_layer")
    # item 6 of issue #15: what happened and the one thing to do; the rest behind "Show Details…"
    for key in ("daemon_stopped", "daemon_killed"):
        msg, details = only(key), only(key, 2)
        assert msg == policy.describe_error(client.DaemonNotRunning("x")).text  # the GIMP plug-in's words
        assert "not running" in msg and START_HINT in msg and "`" not in msg + details and "/" not in msg
        assert "install-autostart" in details
    assert only("no_seam") == policy.NO_SEAM  # a clean selection: no layer, the artist is told
    assert only("no_seam", 0) == "info" and e2e[4]["no_seam_run"] == {"unchanged": True, "changed": False}
    assert only("zero_strength") == policy.ZERO_STRENGTH
    assert "endpoint.json" in only("daemon_stopped", 2)
    assert "which has ended" in only("daemon_killed", 2)  # a stale endpoint.json: its pid is not used
    assert errors["layers_added"] == 0
    assert "RGB/Alpha" in only("grayscale") and "Grayscale/Alpha" in only("grayscale")
    assert only("no_document") == "Open an image first."


def test_krita_5_1_host(tmp_path):
    """The same run on the host's Krita 5.1.5 (HOSTS_KRITA=host), where installed."""
    _, _, _, _, summary = run_e2e(tmp_path, "host")
    assert summary["krita"].startswith("5.1")
    for depth in DEPTHS:
        run = summary["runs"][depth]
        assert run["originals_unchanged"] and run["undo_pixels_unchanged"]
        assert [tuple(n) for n in run["undo_stack"]] == [tuple(n) for n in run["before_stack"]]
    blend = summary["blend"]
    assert blend["layer_mode"] == ["multiply", 204] and blend["undo_pixels_unchanged"]
    assert blend["second_undo_reaches_own_step"]
    assert START_HINT in summary["errors"]["daemon_stopped"][0][1]
    for depth in DEPTHS:
        run = summary["runs"][depth]
        assert run["layer_mode"][0] == "normal"

