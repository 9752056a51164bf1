"""Runs INSIDE real GIMP 3 (``hosts.sh gimp-run``): drives the Seam Refine plug-in through the PDB.

Argument: a JSON spec ``{"out_dir": str, "plugin_dir": str, "cases": [case, ...]}``; each case is
``{"name", "png", "precision" (nick, optional), "gray": bool, "adobe_rgb": bool (convert to Adobe RGB and
paint an out-of-sRGB-gamut stripe through the middle), "in_group": bool, "target": "layer"|"mask",
"canvas_pad" [left, top, right, bottom] (optional), "alpha_holes": bool (the layer gets alpha: a
transparent and a half-transparent stripe across the selection's left edge), "select": {"kind":
"ellipse"|"rectangle", "x", "y", "w", "h", "feather"} or null, "strength", "samples", "band",
"stop_daemon": bool, "repeat": bool (run again as Filters ▸ Repeat does, on the layers then
selected)}``.
Nothing is judged here beyond API sanity: every observation goes to ``out_dir/results.json`` plus raw
pixel dumps, and tests/plugins/test_gimp.py judges them. The wire format of the dumps is the one the plug-in
picks (its own refine_job/host modules decide), so they compare with the daemon's answer byte for byte;
``*_native`` dumps are in the new layer's own storage format. ``merged`` is the new layer merged down
onto the source by GIMP itself (the composite an artist sees).

With ``stop_daemon`` the script first writes ``out_dir/<name>.stop`` and waits for the test to stop the
daemon and write ``out_dir/<name>.stopped``.
"""

import hashlib
import json
import os
import struct
import sys
import time

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, Gio  # noqa: E402

PROCEDURE = "python-fu-seam-refine"
NATIVE_DTYPES = {"u8": "uint8", "u16": "uint16", "u32": "uint32", "half": "float16", "float": "float32",
                 "double": "float64"}


def read(drawable, x, y, w, h, fmt):
    return bytes(drawable.get_buffer().get(Gegl.Rectangle.new(x, y, w, h), 1.0, fmt, Gegl.AbyssPolicy.NONE))


def dump(out_dir, name, data):
    with open(os.path.join(out_dir, name), "wb") as f:
        f.write(data)
    return name


def all_layers(items):
    """Every layer in the tree, groups included, top to bottom."""
    found = []
    for item in items:
        found.append(item)
        if item.is_group():
            found.extend(all_layers(item.get_children()))
    return found


def siblings(image, item):
    parent = item.get_parent()
    return parent.get_children() if parent is not None else image.get_layers()


def wait_for_stop(out_dir, name, timeout=60.0):
    open(os.path.join(out_dir, name + ".stop"), "w").close()
    flag = os.path.join(out_dir, name + ".stopped")
    end = time.monotonic() + timeout
    while not os.path.exists(flag):
        if time.monotonic() > end:
            raise RuntimeError("the test did not stop the daemon")
        time.sleep(0.05)


def add_alpha_holes(layer, sel):
    """Give ``layer`` alpha: fully transparent, then half transparent, 12-px stripes across the left edge
    of the selection ``sel`` (both inside the band, where the refinement changes pixels)."""
    layer.add_alpha()
    h = layer.get_height()
    for x0, alpha in ((sel["x"] - 12, 0), (sel["x"], 128)):
        rect = Gegl.Rectangle.new(x0, 0, 12, h)
        rgba = bytearray(layer.get_buffer().get(rect, 1.0, "R'G'B'A u8", Gegl.AbyssPolicy.NONE))
        rgba[3::4] = bytes([alpha]) * (len(rgba) // 4)
        layer.get_buffer().set(rect, "R'G'B'A u8", bytes(rgba))
    layer.get_buffer().flush()


def repeat_run(image, proc, source, out_dir, name, fmt):
    """Filters ▸ Repeat: run again, with the last values, on the layers now selected (the new layer)."""
    first = image.get_selected_layers()
    cfg = proc.create_config()
    cfg.set_property("run-mode", Gimp.RunMode.WITH_LAST_VALS)
    cfg.set_property("image", image)
    cfg.set_core_object_array("drawables", first)
    values = proc.run(cfg)
    peers = [item.get_name() for item in siblings(image, source)]
    second = image.get_selected_layers()
    res = {"status": values.index(0).value_nick, "message": values.index(1) if values.length() > 1 else None,
           "ran_on": [item.get_name() for item in first], "layers": peers,
           "selected": [item.get_id() for item in second], "first_id": first[0].get_id()}
    if len(second) == 1 and second[0].get_id() != first[0].get_id():
        ids = [item.get_id() for item in siblings(image, source)]
        res["index"] = ids.index(second[0].get_id())
        res["source_index"] = ids.index(source.get_id())
        res["first_index"] = ids.index(first[0].get_id())
        _, x, y = second[0].get_offsets()
        res["offsets"] = [x, y]
        res["size"] = [second[0].get_width(), second[0].get_height()]
        w, h = res["size"]
        res["file"] = dump(out_dir, name + "_repeat.bin", read(second[0], 0, 0, w, h, fmt))
        image.remove_layer(second[0])  # the checks below look at the first run's layer
        image.set_selected_layers(first)
    return res


def run_case(case, out_dir):
    name = case["name"]
    image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(case["png"]))
    assert image is not None, "load failed: " + case["png"]
    if case.get("precision"):
        image.convert_precision(getattr(Gimp.Precision, case["precision"].upper().replace("-", "_")))
    if case.get("canvas_pad"):
        left, top, right, bottom = case["canvas_pad"]
        image.resize(image.get_width() + left + right, image.get_height() + top + bottom, left, top)
    if case.get("gray"):
        image.convert_grayscale()
    if case.get("adobe_rgb"):
        image.convert_color_profile(Gimp.ColorProfile.new_rgb_adobe(),
                                    Gimp.ColorRenderingIntent.RELATIVE_COLORIMETRIC, False)
        first = image.get_layers()[0]
        w, y0 = first.get_width(), first.get_height() // 2 - 5
        stripe = struct.pack("<3f", -0.3, 0.9, -0.2) * (w * 10)  # a green sRGB cannot show
        first.get_buffer().set(Gegl.Rectangle.new(0, y0, w, 10), "R'G'B' float", stripe)
        first.get_buffer().flush()
    layer = image.get_layers()[0]
    if case.get("alpha_holes"):
        add_alpha_holes(layer, case["select"])
    if case.get("in_group"):
        group = Gimp.GroupLayer.new(image, "Group")
        image.insert_layer(group, None, 0)
        image.reorder_item(layer, group, 0)
    target = layer
    if case.get("target") == "mask":
        target = layer.create_mask(Gimp.AddMaskType.WHITE)
        layer.add_mask(target)
    wire = refine_job.pixel_format(image.get_precision().value_nick, host.uses_srgb(image))
    fmt, dtype = wire.babl, wire.dtype
    sel = case.get("select")
    if sel:
        op = Gimp.ChannelOps.REPLACE
        if sel["kind"] == "ellipse":
            image.select_ellipse(op, sel["x"], sel["y"], sel["w"], sel["h"])
        else:
            image.select_rectangle(op, sel["x"], sel["y"], sel["w"], sel["h"])
        if sel.get("feather"):
            Gimp.Selection.feather(image, float(sel["feather"]))
    res = {"name": name, "precision": image.get_precision().value_nick, "dtype": dtype,
           "image_size": [image.get_width(), image.get_height()]}
    _, lx, ly = layer.get_offsets()
    lw, lh = layer.get_width(), layer.get_height()
    res["layer"] = {"offsets": [lx, ly], "size": [lw, lh]}
    bounds = Gimp.Selection.bounds(image)
    res["selection_bounds"] = [bounds[1], bounds[2], bounds[3], bounds[4], bounds[5]]
    ok, ix, iy, iw, ih = layer.mask_intersect()
    res["mask_intersect"] = [ok, ix, iy, iw, ih]
    before = read(layer, 0, 0, lw, lh, fmt)
    ids_before = [item.get_id() for item in all_layers(image.get_layers())]

    if case.get("stop_daemon"):
        wait_for_stop(out_dir, name)

    proc = Gimp.get_pdb().lookup_procedure(PROCEDURE)
    assert proc is not None, PROCEDURE + " is not registered"
    cfg = proc.create_config()
    cfg.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    cfg.set_property("image", image)
    cfg.set_core_object_array("drawables", [target])
    cfg.set_property("strength", float(case.get("strength", 1.0)))
    cfg.set_property("samples", int(case.get("samples", 1)))
    cfg.set_property("band", int(case.get("band", 0)))
    t0 = time.monotonic()
    values = proc.run(cfg)
    res["run_s"] = time.monotonic() - t0
    res["status"] = values.index(0).value_nick
    res["message"] = values.index(1) if values.length() > 1 else None
    if case.get("repeat"):
        res["repeat"] = repeat_run(image, proc, layer, out_dir, name, fmt)

    layers = all_layers(image.get_layers())
    res["layers"] = [item.get_name() for item in layers]
    res["old_layers_kept"] = [item.get_id() for item in layers if item.get_id() in ids_before] == ids_before
    res["selected_layers"] = [item.get_name() for item in image.get_selected_layers()]
    after = read(layer, 0, 0, lw, lh, fmt)
    res["original_unchanged"] = after == before
    res["original_sha"] = hashlib.sha256(before).hexdigest()
    res["undo_enabled"] = image.undo_is_enabled()
    new = [item for item in layers if item.get_id() not in ids_before]
    res["new_layers"] = len(new)
    if len(new) == 1:
        nl = new[0]
        _, nx, ny = nl.get_offsets()
        nw, nh = nl.get_width(), nl.get_height()
        peers = [item.get_id() for item in siblings(image, layer)]
        parent = nl.get_parent()
        res["new"] = {"name": nl.get_name(), "offsets": [nx, ny], "size": [nw, nh],
                      "index": peers.index(nl.get_id()) if nl.get_id() in peers else None,
                      "original_index": peers.index(layer.get_id()),
                      "has_alpha": nl.has_alpha(), "is_gray": nl.is_gray(), "mode": nl.get_mode().value_nick,
                      "opacity": nl.get_opacity(), "parent": parent.get_name() if parent else None,
                      "composite_space": nl.get_composite_space().value_nick,
                      "source_parasite": bytes(nl.get_parasite("seam-refine-source").get_data()).decode()
                      if nl.get_parasite("seam-refine-source") else None, "source_tattoo": layer.get_tattoo()}
        res["files"] = {
            "new": dump(out_dir, name + "_new.bin", read(nl, 0, 0, nw, nh, fmt)),
            # what the plug-in should have sent: the layer crop under the new layer, and the selection
            "crop": dump(out_dir, name + "_crop.bin", read(layer, nx - lx, ny - ly, nw, nh, fmt)),
            "mask": dump(out_dir, name + "_mask.bin", read(image.get_selection(), nx, ny, nw, nh, "Y u8")),
            "new_native": dump(out_dir, name + "_new_native.bin", read(nl, 0, 0, nw, nh, None)),
        }
        # the original in the new layer's storage format: a copy with alpha added
        twin = Gimp.Layer.new_from_drawable(layer, image)
        image.insert_layer(twin, None, len(image.get_layers()))
        if not twin.has_alpha():
            twin.add_alpha()
        assert twin.get_bpp() == nl.get_bpp(), (twin.get_bpp(), nl.get_bpp())
        res["files"]["crop_native"] = dump(out_dir, name + "_crop_native.bin",
                                           read(twin, nx - lx, ny - ly, nw, nh, None))
        # what an artist sees: GIMP composites the new layer onto the layer below
        merged = image.merge_down(nl, Gimp.MergeType.EXPAND_AS_NECESSARY)
        _, mx, my = merged.get_offsets()
        res["files"]["merged"] = dump(out_dir, name + "_merged.bin",
                                      read(merged, nx - mx, ny - my, nw, nh, fmt))
        res["files"]["merged_native"] = dump(out_dir, name + "_merged_native.bin",
                                             read(merged, nx - mx, ny - my, nw, nh, None))
        channels = 4 if image.get_base_type() == Gimp.ImageBaseType.RGB else 2
        res["native"] = {"channels": channels,
                         "dtype": NATIVE_DTYPES[image.get_precision().value_nick.split("-")[0]]}
    image.delete()
    return res


def main():
    global host, refine_job
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    sys.path.insert(0, spec["plugin_dir"])
    import host
    import refine_job
    out_dir = spec["out_dir"]
    results = []
    for case in spec["cases"]:
        results.append(run_case(case, out_dir))
        with open(os.path.join(out_dir, "results.json"), "w") as f:
            json.dump(results, f, indent=1)
    print(f"refine_cases: {len(results)} cases done")


main()
