"""Runs INSIDE real GIMP 3 with its GUI (gui_driver.py, test_gimp_cancel.py): the status bar's Cancel.

Spec: {"out_dir", "png"}. The image gets a window; the driver photographs its idle status bar, then
the plug-in runs (as from the menu, its progress shows in that status bar) against a scripted daemon
that answers with progress and then waits. When the test has seen the request (out_dir/refine.seen),
the driver clicks the status bar's Cancel button (a real pointer click). Writes out_dir/cancel.json.
"""

import json
import os
import sys
import time

import gi

gi.require_version("Gimp", "3.0")
from gi.repository import Gimp, Gio  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gui_steps import Steps  # noqa: E402

PROCEDURE = "python-fu-seam-refine"


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    out = spec["out_dir"]
    steps = Steps(out)
    image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(spec["png"]))
    image.select_ellipse(Gimp.ChannelOps.REPLACE, 100, 70, 50, 40)
    Gimp.Selection.feather(image, 12.0)
    display = Gimp.Display.new(image)
    Gimp.displays_flush()
    result = {"window": steps.ask(wait_title="– GIMP", sleep=1.0, snapshot="idle.xwd", geometry=True)}
    steps.ask(wait=False, wait_file=os.path.join(out, "refine.seen"), wait_title="– GIMP", sleep=1.0,
              click_cancel="idle.xwd", geometry=True)
    proc = Gimp.get_pdb().lookup_procedure(PROCEDURE)
    cfg = proc.create_config()
    cfg.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    cfg.set_property("image", image)
    cfg.set_core_object_array("drawables", image.get_selected_drawables())
    t0 = time.monotonic()
    values = proc.run(cfg)
    result.update(status=values.index(0).value_nick, run_s=time.monotonic() - t0,
                  message=values.index(1) if values.length() > 1 else None,
                  layers=[layer.get_name() for layer in image.get_layers()], click=steps.last())
    result["after"] = steps.ask(sleep=1.0, titles=True, snapshot="after.xwd")
    with open(os.path.join(out, "cancel.json"), "w") as f:
        json.dump(result, f, indent=1)
    image.clean_all()
    display.delete()
    print("cancel_case:", result, flush=True)


main()
