"""Runs INSIDE real GIMP 3 with its GUI (gui_dialog.sh): calls the plug-in INTERACTIVELY, so its
GimpUi.ProcedureDialog opens; gui_dialog.sh presses Return (OK) in the first dialog and Escape (Cancel)
in the second. Then the image gets a window, and gui_dialog.sh presses Ctrl+Z (undo) and Ctrl+Y (redo)
in it, as an artist would. Argument: a JSON spec {"out_dir", "png", "select": {...}}; writes
out_dir/dialog.json. Handshake files in out_dir: dialog<N>.open before each call, then undo.ready /
undo.pressed and redo.ready / redo.pressed.
"""

import json
import os
import sys
import time

import gi

gi.require_version("Gimp", "3.0")
from gi.repository import Gimp, Gio  # noqa: E402

PROCEDURE = "python-fu-seam-refine"


def call(image, n, out_dir):
    proc = Gimp.get_pdb().lookup_procedure(PROCEDURE)
    assert proc is not None, PROCEDURE + " is not registered"
    cfg = proc.create_config()
    cfg.set_property("run-mode", Gimp.RunMode.INTERACTIVE)
    cfg.set_property("image", image)
    cfg.set_core_object_array("drawables", image.get_selected_drawables())
    open(os.path.join(out_dir, f"dialog{n}.open"), "w").close()
    values = proc.run(cfg)
    return {"status": values.index(0).value_nick,
            "message": values.index(1) if values.length() > 1 else None,
            "layers": [layer.get_name() for layer in image.get_layers()]}


def handshake(out_dir, step, image, timeout=30.0):
    """Ask gui_dialog.sh to press the keys of ``step``, then wait until the layer list changes."""
    before = [layer.get_name() for layer in image.get_layers()]
    open(os.path.join(out_dir, step + ".ready"), "w").close()
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if os.path.exists(os.path.join(out_dir, step + ".pressed")):
            names = [layer.get_name() for layer in image.get_layers()]
            if names != before:
                return names
        time.sleep(0.1)
    return [layer.get_name() for layer in image.get_layers()]


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    out_dir = spec["out_dir"]
    image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(spec["png"]))
    sel = spec["select"]
    image.select_ellipse(Gimp.ChannelOps.REPLACE, sel["x"], sel["y"], sel["w"], sel["h"])
    Gimp.Selection.feather(image, float(sel["feather"]))
    results = {"ok": call(image, 1, out_dir), "cancel": call(image, 2, out_dir)}
    display = Gimp.Display.new(image)
    Gimp.displays_flush()
    results["after_undo"] = handshake(out_dir, "undo", image)
    results["after_redo"] = handshake(out_dir, "redo", image)
    with open(os.path.join(out_dir, "dialog.json"), "w") as f:
        json.dump(results, f, indent=1)
    image.clean_all()
    display.delete()
    print("dialog_case:", results, flush=True)


main()
