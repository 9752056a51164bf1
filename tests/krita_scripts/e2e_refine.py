"""Runs INSIDE real Krita (hosts.sh krita-run) with the installed Seam Refine plugin and a live daemon.

Env: SR_PNG (input image), SR_OUT (output dir), SR_DAEMON_PID (stopped at the end), SEAM_REFINE_TEST_MODE=1.
For U8 and U16: open the PNG, add a layer "Top" above, keep the image layer active, make a feathered
selection, trigger the real action, dump what was sent/received and the new layer, check the layer stack,
then undo. Then the error paths: no selection, group layer, Grayscale, and a stopped daemon.
Writes SR_OUT/summary.json; the outer pytest checks pixels against the daemon.
"""
import json
import os
import signal
import time

from krita import Krita, Selection

import seam_refine.host as host
import seam_refine.ui as ui

app = Krita.instance()
OUT = os.environ["SR_OUT"]
SEL = (40, 30, 60, 50)
summary = {"runs": {}, "errors": {}}


def wait_until(pred, seconds=60.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        wait_events(50)  # noqa: F821 (provided by the hosts driver)
        if pred():
            return True
    return False


def stack(doc):
    return [(n.name(), n.type()) for n in doc.topLevelNodes()]


def full_pixels(doc):
    return {n.name(): bytes(n.pixelData(0, 0, doc.width(), doc.height())) for n in doc.topLevelNodes()
            if n.type() == "paintlayer"}


def open_doc(depth):
    doc = app.openDocument(os.environ["SR_PNG"])
    assert doc is not None
    app.activeWindow().addView(doc)
    app.setActiveDocument(doc)
    wait_events(200)  # noqa: F821
    if depth != "U8":
        assert doc.setColorSpace("RGBA", depth, "")
        doc.waitForDone()
    base = doc.topLevelNodes()[0]
    top = doc.createNode("Top", "paintlayer")
    doc.rootNode().addChildNode(top, base)
    doc.setActiveNode(base)
    doc.waitForDone()
    wait_events(200)  # noqa: F821
    return doc, base


def trigger():
    ui.MESSAGES.clear()
    host.LAST_RUN.clear()
    app.action(host.ACTION_ID).trigger()
    ok = wait_until(lambda: "paste_s" in host.LAST_RUN or ui.MESSAGES or host.LAST_RUN.get("cancelled"))
    assert ok, "the plugin neither added a layer nor said anything within 60 s"


def select(doc, soft=True):
    sel = Selection()
    sel.select(*SEL, 255)
    if soft:
        sel.feather(6)
    doc.setSelection(sel)
    doc.waitForDone()


def close(doc):
    doc.setModified(False)
    doc.close()
    wait_events(100)  # noqa: F821


# ---------------------------------------------------------------- successful runs
for depth in ("U8", "U16"):
    doc, base = open_doc(depth)
    select(doc)
    before_stack, before_px = stack(doc), full_pixels(doc)
    trigger()
    assert not ui.MESSAGES, ui.MESSAGES
    run = host.LAST_RUN
    x, y, w, h = run["box"]
    layer = doc.nodeByName(host.LAYER_NAME)
    assert layer is not None
    layer_box = bytes(layer.pixelData(x, y, w, h))
    layer_full = bytes(layer.pixelData(0, 0, doc.width(), doc.height()))
    after_stack, after_px = stack(doc), full_pixels(doc)
    parent_is_root = layer.parentNode().name() == doc.rootNode().name()
    for name, data in (("image", run["image"]), ("mask", run["mask"]), ("result", run["result"]),
                       ("layer_box", layer_box), ("layer_full", layer_full)):
        with open(os.path.join(OUT, f"{depth}_{name}.bin"), "wb") as f:
            f.write(data)
    app.action("edit_undo").trigger()
    wait_until(lambda: doc.nodeByName(host.LAYER_NAME) is None, 10)
    undo_stack, undo_px = stack(doc), full_pixels(doc)
    summary["runs"][depth] = {
        "box": [x, y, w, h], "doc": [doc.width(), doc.height()], "dtype": run["dtype"], "order": run["order"],
        "layer_color": [layer.colorModel(), layer.colorDepth()], "active_after": doc.activeNode().name(),
        "before_stack": before_stack, "after_stack": after_stack, "undo_stack": undo_stack,
        "originals_unchanged": all(after_px[k] == v for k, v in before_px.items()),
        "undo_pixels_unchanged": undo_px == before_px, "parent_is_root": parent_is_root,
        "opacity": layer.opacity(), "timings": {k: run.get(k) for k in ("gather_s", "request_s", "paste_s",
                                                                        "daemon_ms")},
        "header": run["header"],
    }
    close(doc)

# ---------------------------------------------------------------- messages instead of layers
doc, base = open_doc("U8")
doc.setSelection(Selection())
doc.waitForDone()
trigger()
summary["errors"]["no_selection"] = list(ui.MESSAGES)

select(doc)
group = doc.createNode("Group", "grouplayer")
doc.rootNode().addChildNode(group, None)
doc.setActiveNode(group)
doc.waitForDone()
wait_events(100)  # noqa: F821
trigger()
summary["errors"]["group_layer"] = list(ui.MESSAGES)
doc.setActiveNode(base)
doc.waitForDone()

# stop the real daemon (it removes endpoint.json) and try again
endpoint_json = os.path.join(os.environ["SEAM_REFINE_RUNTIME_DIR"], "endpoint.json")
stale = open(endpoint_json).read()
os.kill(int(os.environ["SR_DAEMON_PID"]), signal.SIGTERM)
assert wait_until(lambda: not os.path.exists(endpoint_json), 20), "daemon did not stop"
n_before = len(doc.topLevelNodes())
trigger()
summary["errors"]["daemon_stopped"] = list(ui.MESSAGES)
# a stale endpoint.json (daemon killed hard): connection refused
with open(endpoint_json, "w") as f:
    f.write(stale)
trigger()
summary["errors"]["daemon_killed"] = list(ui.MESSAGES)
os.unlink(endpoint_json)
summary["errors"]["layers_added"] = len(doc.topLevelNodes()) - n_before

assert doc.setColorSpace("GRAYA", "U8", "")
doc.waitForDone()
doc.setActiveNode(doc.nodeByName("Top"))
trigger()
summary["errors"]["grayscale"] = list(ui.MESSAGES)
close(doc)

doc = None
trigger_no_doc = True
for d in list(app.documents()):
    close(d)
trigger()
summary["errors"]["no_document"] = list(ui.MESSAGES)

with open(os.path.join(OUT, "summary.json"), "w") as f:
    json.dump(summary, f, indent=1)
print("e2e_refine: done", flush=True)
