"""Runs INSIDE real Krita (hosts.sh krita-run) with the installed Seam Refine plugin and a live daemon.

Env: SR_PNG (input image), SR_OUT (output dir), SR_DAEMON_PID (stopped near the end),
SEAM_REFINE_TEST_MODE=1 (the plugin records its messages in seam_refine.ui.MESSAGES).
For U8, U16, F16, F32, an 8-bit image with a 16-bit layer, F32 with a linear (g10) profile, and U8 with
transparent and half-transparent stripes in the layer: open the PNG, add a layer "Top", keep the image
layer active, make a feathered selection, trigger the real action, dump what was sent/received, the
new layer and Krita's projection (the new layer composited over the source), record the layer stack,
then undo ("edit_undo"): it removes exactly the new layer. On a multiply layer at 80 % opacity (a
layer made in a throwaway document, as for a layer deeper than its image) undo twice: the second
reaches the previous step of the artist's own. Then the messages:
no selection, group layer, a clean selection (no seam found), the seam at strength 0, stopped daemon,
stale endpoint.json, Grayscale, no document.
Writes SR_OUT/summary.json; the outer pytest checks it.
"""
import json
import os
import signal

import kharness
import seam_refine.host as host
import seam_refine.ui as ui
from kharness import wait_until
from krita import Krita, Selection

try:
    from PyQt5.QtCore import QByteArray
except ImportError:  # Krita 6
    from PyQt6.QtCore import QByteArray


def exited(pid):
    """The process has ended (a zombie not yet reaped by the test counts): its stale pid is skipped."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


app = Krita.instance()
OUT = os.environ["SR_OUT"]
SEL = (40, 30, 60, 50)
CLEAN_SEL = (140, 90, 50, 45)  # clean photo under it and 40 px around it (no fill there)
LINEAR_PROFILE = "sRGB-elle-V2-g10.icc"
summary = {"runs": {}, "errors": {}, "krita": app.version()}


def settled_nodes(doc):
    """The document's top-level layers, or None while Krita is changing them (Krita 5.1 lists a
    layer that an undo is removing as None for a moment; seen in CI)."""
    nodes = doc.topLevelNodes()
    return None if any(n is None for n in nodes) else nodes


def stack(doc):
    return [[n.name(), n.type()] for n in settled_nodes(doc)]


def full_pixels(doc, nodes=None):
    nodes = settled_nodes(doc) if nodes is None else nodes
    return {n.name(): bytes(n.pixelData(0, 0, doc.width(), doc.height())) for n in nodes
            if n.type() == "paintlayer"}


def open_doc(depth):
    doc = app.openDocument(os.environ["SR_PNG"])
    assert doc is not None
    app.activeWindow().addView(doc)
    app.setActiveDocument(doc)
    yield 200
    base = doc.topLevelNodes()[0]
    if depth == "U16layer":  # an 8-bit image whose active layer alone is 16-bit
        assert base.setColorSpace("RGBA", "U16", doc.colorProfile())
        doc.waitForDone()
    elif depth == "F32lin":  # a linear-light float document: values convert, the plugin says "linear"
        assert doc.setColorSpace("RGBA", "F32", LINEAR_PROFILE), "no " + LINEAR_PROFILE
        doc.waitForDone()
        base = doc.topLevelNodes()[0]
    elif depth == "U8alpha":  # a layer that already has alpha: a transparent, then a half-transparent stripe
        for x0, alpha in ((SEL[0] - 10, 0), (SEL[0], 128)):
            px = bytearray(base.pixelData(x0, 0, 10, doc.height()))
            px[3::4] = bytes([alpha]) * (len(px) // 4)
            base.setPixelData(QByteArray(bytes(px)), x0, 0, 10, doc.height())
        doc.refreshProjection()
        doc.waitForDone()
    elif depth != "U8":
        assert doc.setColorSpace("RGBA", depth, doc.colorProfile())  # keep the sRGB curve (default is linear)
        doc.waitForDone()
        base = doc.topLevelNodes()[0]
    top = doc.createNode("Top", "paintlayer")
    doc.rootNode().addChildNode(top, base)
    yield 100
    doc.setActiveNode(base)
    yield 100
    assert doc.activeNode() is not None and doc.activeNode().name() == base.name(), "cannot activate layer"
    return doc, base


def stage(name):
    print("e2e_refine: stage", name, flush=True)


def trigger():
    ui.MESSAGES.clear()
    host.LAST_RUN.clear()
    app.action(host.ACTION_ID).trigger()
    ok = yield from wait_until(lambda: "paste_s" in host.LAST_RUN or ui.MESSAGES
                               or host.LAST_RUN.get("cancelled"), 60)
    assert ok, "the plugin neither added a layer nor said anything within 60 s"
    yield 100


def select(doc):
    sel = Selection()
    sel.select(*SEL, 255)
    sel.feather(6)
    doc.setSelection(sel)
    doc.waitForDone()


def state(doc):
    """What the artist sees of the layers: names, types, blending modes, opacities, pixels (None while
    Krita is changing the layers)."""
    nodes = settled_nodes(doc)
    if nodes is None:
        return None
    return [[n.name(), n.type(), n.blendingMode(), n.opacity()] for n in nodes], full_pixels(doc, nodes)


def changed(doc, before):
    """The layers have settled into a state other than ``before``."""
    now = state(doc)
    return now is not None and now != before


def undo(doc, out):
    """Edit ▸ Undo as an artist presses it: once Krita can undo (the action enabled, this document the
    active one), and once more if after 10 s nothing at all changed (Krita dropped the request; seen
    twice in CI; counted in out["undo_retries"] with what the action and the active document were).
    A request that was only late and then applied twice shows as a wrong layer stack."""
    action = app.action("edit_undo")
    yield from wait_until(lambda: action.isEnabled() and app.activeDocument() == doc, 5)
    yield from wait_until(lambda: state(doc) is not None, 10)
    before = state(doc)
    for _ in range(2):
        action.trigger()
        if (yield from wait_until(lambda: changed(doc, before), 10)):
            return
        out.setdefault("undo_retries", []).append(
            {"enabled": action.isEnabled(), "active_is_doc": app.activeDocument() == doc})


def undo_once(doc, before_px):
    """Edit ▸ Undo once: the new layer must go and nothing else change."""
    out = {}
    yield from undo(doc, out)
    yield from wait_until(lambda: state(doc) is not None, 10)
    yield 100
    out.update(undo_stack=stack(doc), undo_pixels_unchanged=full_pixels(doc) == before_px)
    return out


def undo_twice(doc, before_px):
    """``undo_once``, then Edit ▸ Undo once more: that second step must change what the artist had (their
    own last step), not be a step the plug-in left behind (pressed once only: a retry would hide one)."""
    out = yield from undo_once(doc, before_px)
    before = state(doc)
    app.action("edit_undo").trigger()
    yield from wait_until(lambda: changed(doc, before), 10)
    out["second_undo_reaches_own_step"] = changed(doc, before)
    return out


def close(doc):
    doc.setModified(False)
    doc.close()
    yield 100


def main():
    for key, value in host.DEFAULTS.items():  # a clean slate, whatever an earlier run left in the profile
        app.writeSetting(host.SETTINGS_GROUP, key, str(value))
    for depth in ("U8", "U16", "F16", "F32", "U16layer", "F32lin", "U8alpha"):
        stage("open " + depth)
        doc, base = yield from open_doc(depth)
        select(doc)
        yield 100
        before_stack, before_px = stack(doc), full_pixels(doc)
        stage("refine " + depth)
        yield from trigger()
        assert not ui.MESSAGES, ui.MESSAGES
        run = dict(host.LAST_RUN)
        x, y, w, h = run["box"]
        layer = doc.nodeByName(host.LAYER_NAME)
        assert layer is not None
        doc.refreshProjection()
        doc.waitForDone()
        yield 100
        dumps = {"image": run["image"], "mask": run["mask"], "result": run["result"],
                 "layer_box": bytes(layer.pixelData(x, y, w, h)),
                 "layer_full": bytes(layer.pixelData(0, 0, doc.width(), doc.height())),
                 "projection": bytes(doc.pixelData(x, y, w, h))}
        for name, data in dumps.items():
            with open(os.path.join(OUT, f"{depth}_{name}.bin"), "wb") as f:
                f.write(data)
        after_stack, after_px = stack(doc), full_pixels(doc)
        info = {
            "box": [x, y, w, h], "doc": [doc.width(), doc.height()], "dtype": run["dtype"],
            "order": run["order"], "layer_color": [layer.colorModel(), layer.colorDepth()],
            "doc_color": [doc.colorModel(), doc.colorDepth()],
            "layer_mode": [layer.blendingMode(), layer.opacity()],
            "linear": run["linear"], "layer_profile": layer.colorProfile(),
            "active_after": doc.activeNode().name(), "before_stack": before_stack,
            "after_stack": after_stack, "parent_is_root": layer.parentNode().name() == doc.rootNode().name(),
            "originals_unchanged": all(after_px[k] == v for k, v in before_px.items()),
            "timings": {k: run.get(k) for k in ("gather_s", "request_s", "paste_s", "daemon_ms")},
            "header": run["header"],
        }
        stage("undo " + depth)
        info.update((yield from undo_once(doc, before_px)))
        summary["runs"][depth] = info
        stage("close " + depth)
        yield from close(doc)

    stage("blending mode")  # a multiply layer at 80 % opacity: the new layer takes both, still one step
    doc, base = yield from open_doc("U8")
    base.setBlendingMode("multiply")
    base.setOpacity(204)
    select(doc)
    yield 100
    before_stack, before_px = stack(doc), full_pixels(doc)
    yield from trigger()
    layer = doc.nodeByName(host.LAYER_NAME)
    summary["blend"] = {"messages": list(ui.MESSAGES), "before_stack": before_stack,
                        "layer_mode": layer and [layer.blendingMode(), layer.opacity()],
                        "layer_color": layer and [layer.colorModel(), layer.colorDepth()],
                        "after_stack": stack(doc)}
    summary["blend"].update((yield from undo_twice(doc, before_px)))
    yield from close(doc)

    stage("errors")
    doc, base = yield from open_doc("U8")
    yield from trigger()
    summary["errors"]["no_selection"] = list(ui.MESSAGES)

    select(doc)
    group = doc.createNode("Group", "grouplayer")
    doc.rootNode().addChildNode(group, None)
    yield 100
    doc.setActiveNode(group)
    yield 100
    yield from trigger()
    summary["errors"]["group_layer"] = list(ui.MESSAGES)
    doc.setActiveNode(base)
    yield 100

    n_before = len(doc.topLevelNodes())
    # a selection of clean photo: the daemon finds no seam, so no layer, and a message says so
    clean = Selection()
    clean.select(*CLEAN_SEL, 255)
    clean.feather(6)
    doc.setSelection(clean)
    doc.waitForDone()
    yield from trigger()
    summary["errors"]["no_seam"] = list(ui.MESSAGES)
    summary["no_seam_run"] = {"unchanged": host.LAST_RUN.get("unchanged"),
                              "changed": host.LAST_RUN.get("header", {}).get("changed")}
    select(doc)
    # the seam, at strength 0: nothing changes either, and the message says why
    app.writeSetting(host.SETTINGS_GROUP, "strength", "0")
    yield from trigger()
    summary["errors"]["zero_strength"] = list(ui.MESSAGES)
    app.writeSetting(host.SETTINGS_GROUP, "strength", str(host.DEFAULTS["strength"]))

    # stop the real daemon (it removes endpoint.json), then try again
    endpoint_json = os.path.join(os.environ["SEAM_REFINE_RUNTIME_DIR"], "endpoint.json")
    with open(endpoint_json) as f:
        stale = f.read()
    daemon_pid = int(os.environ["SR_DAEMON_PID"])
    os.kill(daemon_pid, signal.SIGTERM)
    assert (yield from wait_until(lambda: not os.path.exists(endpoint_json), 20)), "daemon did not stop"
    assert (yield from wait_until(lambda: exited(daemon_pid), 20)), "daemon did not exit"
    yield from trigger()
    summary["errors"]["daemon_stopped"] = list(ui.MESSAGES)
    with open(endpoint_json, "w") as f:  # as if the daemon had been killed hard: a stale file, pid ended
        f.write(stale)
    yield from trigger()
    summary["errors"]["daemon_killed"] = list(ui.MESSAGES)
    os.unlink(endpoint_json)
    summary["errors"]["layers_added"] = len(doc.topLevelNodes()) - n_before

    stage("grayscale")
    assert doc.setColorSpace("GRAYA", "U8", "")
    doc.waitForDone()
    yield 100
    doc.setActiveNode(doc.nodeByName("Top"))
    yield 100
    yield from trigger()
    summary["errors"]["grayscale"] = list(ui.MESSAGES)
    yield from close(doc)

    stage("no document")
    for d in list(app.documents()):
        yield from close(d)
    yield from trigger()
    summary["errors"]["no_document"] = list(ui.MESSAGES)

    with open(os.path.join(OUT, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print("e2e_refine: done", flush=True)


kharness.run(main())
