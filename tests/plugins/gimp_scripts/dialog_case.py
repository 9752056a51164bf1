"""Runs INSIDE real GIMP 3 with its GUI (gui_driver.py): the plug-in's interactive path, as an artist meets
it, on the bundled coffee picture with a soft selection.

Spec: {"out_dir", "png", "mask_png", "dump_dir"}. With the image in a window:
1. Seam Refine, interactively: the driver photographs the dialog and presses Return (OK); the plug-in
   describes its dialog in dump_dir. 2. Again, Escape (Cancel). 3. Ctrl+Z and Ctrl+Y in the image
   window (GIMP 3 has no PDB undo). Then photographs of the result, and of the new layer alone.
4. The test stops the daemon (handshake files daemon.stop / daemon.stopped); Seam Refine again: OK in
   its dialog, then the plug-in's own message; the driver photographs it, presses Return, and lists the
   windows then open (no "GIMP Message" box may follow).
Writes out_dir/dialog.json.
"""

import json
import os
import sys

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, Gio  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gui_steps import Steps, wait_for  # noqa: E402

PROCEDURE = "python-fu-seam-refine"


def names(image):
    return [layer.get_name() for layer in image.get_layers()]


def call(image):
    proc = Gimp.get_pdb().lookup_procedure(PROCEDURE)
    assert proc is not None, PROCEDURE + " is not registered"
    cfg = proc.create_config()
    cfg.set_property("run-mode", Gimp.RunMode.INTERACTIVE)
    cfg.set_property("image", image)
    cfg.set_core_object_array("drawables", image.get_selected_drawables())
    values = proc.run(cfg)
    return {"status": values.index(0).value_nick,
            "message": values.index(1) if values.length() > 1 else None, "layers": names(image)}


def select_mask(image, mask_png):
    """The selection from a black/white picture, feathered: a soft selection."""
    layer = Gimp.file_load_layer(Gimp.RunMode.NONINTERACTIVE, image, Gio.File.new_for_path(mask_png))
    rect = Gegl.Rectangle.new(0, 0, image.get_width(), image.get_height())
    data = layer.get_buffer().get(rect, 1.0, "Y u8", Gegl.AbyssPolicy.NONE)
    selection = image.get_selection()
    selection.get_buffer().set(rect, "Y u8", data)
    selection.get_buffer().flush()
    selection.update(0, 0, image.get_width(), image.get_height())
    layer.delete()
    Gimp.Selection.feather(image, 8.0)


def undo_step(steps, image, keys):
    before = names(image)
    steps.ask(wait_title="– GIMP", keys=[keys])
    for _ in range(100):
        if names(image) != before:
            break
        steps.ask(sleep=0.1)
    return names(image)


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    out = spec["out_dir"]
    steps = Steps(out)
    image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(spec["png"]))
    select_mask(image, spec["mask_png"])
    display = Gimp.Display.new(image)
    Gimp.displays_flush()
    results = {"window": steps.ask(wait_title="– GIMP", sleep=1.0, geometry=True),
               "menu_label": Gimp.get_pdb().lookup_procedure(PROCEDURE).get_menu_label()}

    source = image.get_layers()[0]
    steps.ask(wait=False, wait_title="Seam Refine", snapshot="dialog.xwd", geometry=True, keys=["Return"])
    results["ok"] = call(image)
    results["ok_dialog"] = steps.last()
    steps.ask(wait=False, wait_title="Seam Refine", keys=["Escape"])
    results["cancel"] = call(image)
    results["after_undo"] = undo_step(steps, image, "ctrl+z")
    results["after_redo"] = undo_step(steps, image, "ctrl+y")

    Gimp.Selection.none(image)  # no marching ants on the pictures
    Gimp.displays_flush()
    results["result_shot"] = steps.ask(wait_title="– GIMP", sleep=1.5, snapshot="result.xwd", geometry=True)
    source.set_visible(False)
    Gimp.displays_flush()
    steps.ask(sleep=1.5, snapshot="result_patch.xwd")
    source.set_visible(True)
    select_mask(image, spec["mask_png"])
    image.set_selected_layers([source])
    Gimp.displays_flush()

    open(os.path.join(out, "daemon.stop"), "w").close()
    results["daemon_stopped"] = wait_for(os.path.join(out, "daemon.stopped"))
    steps.ask(wait=False, wait_title="Seam Refine", keys=["Return"])  # its dialog: OK
    steps.ask(wait=False, wait_file=os.path.join(spec["dump_dir"], "message-dialog.json"),
              wait_title="Seam Refine", snapshot="message.xwd", geometry=True, keys=["Return"])
    results["daemon_down"] = call(image)
    results["message_dialog"] = steps.last()
    results["after_message"] = steps.ask(sleep=2.0, titles=True)

    with open(os.path.join(out, "dialog.json"), "w") as f:
        json.dump(results, f, indent=1)
    image.clean_all()
    display.delete()
    print("dialog_case:", results, flush=True)


main()
