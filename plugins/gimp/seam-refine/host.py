"""GIMP 3 host adapter of Seam Refine: the only module that talks to GIMP (Gimp, GimpUi, Gegl, Gtk).

Registers the ImageProcedure ``python-fu-seam-refine`` (Filters ▸ Enhance ▸ Seam Refine…). A run:

1. reads the selected layer's pixels around the selection through its Gegl buffer, as sRGB values
   in u8, u16 or float, whichever keeps every stored value (see refine_job.pixel_format);
2. reads the selection as a soft, linear 8-bit mask;
3. sends both to the Seam Refine daemon through the shared stdlib client ``seamrefine_client``
   (crop, timeout, texts: the shared ``seamrefine_policy``), asking for a *patch*; a watcher process
   (cancel_watch.py) cancels the request if GIMP kills the plug-in (the status-bar Cancel);
4. inserts the patch as a new layer "Seam Refine" right above the layer, inside one undo group: the
   refined pixels inside the band, the band's feather as alpha, transparent elsewhere, composited in
   perceptual (sRGB-curve) space like the values it was computed on, so that over the layer it gives
   the refined image. The new layer remembers its source (a parasite); run again on it (Filters ▸
   Repeat), the plug-in refines that source instead. Where the daemon found no seam and changed
   nothing, no layer is added; the artist is told so (a message, not an error).

Nothing else is modified. Failures in interactive runs are shown in the plug-in's own dialog (text,
and the technical detail behind "Details"); non-interactive calls get them as an EXECUTION_ERROR.
"""

from __future__ import annotations

import json
import os
import sys
import traceback

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, GLib, GObject  # noqa: E402

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import cancel_watch  # noqa: E402
import refine_job  # noqa: E402
import seamrefine_policy as policy  # noqa: E402
from refine_job import Box, PluginError  # noqa: E402

PROCEDURE = "python-fu-seam-refine"
SOURCE_PARASITE = "seam-refine-source"  # on a result layer: the tattoo of the layer it was made from
TEST_DUMP_ENV = "SEAM_REFINE_TEST_DUMP"  # tests: a folder where the plug-in's dialogs describe themselves


def _rect(box: Box) -> Gegl.Rectangle:
    return Gegl.Rectangle.new(box.x, box.y, box.width, box.height)


def uses_srgb(image: Gimp.Image) -> bool:
    """True when the image's colours are GIMP's built-in sRGB (RGB) or sRGB-curve D65 gray (gray)."""
    if image.get_base_type() == Gimp.ImageBaseType.RGB:
        builtin = Gimp.ColorProfile.new_rgb_srgb()
    else:
        builtin = Gimp.ColorProfile.new_d65_gray_srgb_trc()
    return image.get_effective_color_profile().is_equal(builtin)


def read_region(image: Gimp.Image, drawable: Gimp.Drawable):
    """Read what the daemon needs: returns (box in drawable coordinates, pixel format, RGBA bytes, mask
    bytes). Raises PluginError when there is nothing to refine."""
    if Gimp.Selection.is_empty(image):
        raise PluginError(policy.NO_SELECTION)
    ok, sx, sy, sw, sh = drawable.mask_intersect()
    if not ok or sw <= 0 or sh <= 0:
        raise PluginError("The selection does not overlap the selected layer. Select the generated region "
                          "on this layer, or select the layer that holds it.")
    box = Box(*policy.crop_box(sx, sy, sw, sh, drawable.get_width(), drawable.get_height()))
    fmt = refine_job.pixel_format(image.get_precision().value_nick, uses_srgb(image))
    pixels = drawable.get_buffer().get(_rect(box), 1.0, fmt.babl, Gegl.AbyssPolicy.NONE)
    _, off_x, off_y = drawable.get_offsets()
    # The selection lives in image coordinates; "Y u8" is linear, so soft edges stay soft.
    sel_box = Box(off_x + box.x, off_y + box.y, box.width, box.height)
    mask = image.get_selection().get_buffer().get(
        _rect(sel_box), 1.0, refine_job.MASK_BABL, Gegl.AbyssPolicy.NONE
    )
    return box, fmt, bytes(pixels), bytes(mask)


def request_refine(box: Box, fmt, pixels: bytes, mask: bytes, settings: dict, progress_text: str):
    """Send the crop to the daemon, keeping GIMP's progress bar alive; returns the patch's bytes and
    the result header."""
    import seamrefine_client

    state = refine_job.ProgressState()
    timeout = policy.refine_timeout(os.environ)
    request_id = seamrefine_client.new_request_id()

    def call():
        client = seamrefine_client.Client(timeout=timeout)
        try:
            return client.refine(
                pixels, box.width, box.height, 4, fmt.dtype, "RGBA", mask,
                mask_dtype="uint8", strength=float(settings["strength"]), samples=int(settings["samples"]),
                band=int(settings["band"]) or None, progress=state.report, output="patch",
                request_id=request_id, scores=False,  # no score is shown: skipping them saves ~20 %
            )
        finally:
            client.close()

    def tick():
        fraction = state.fraction
        if fraction is None:
            Gimp.progress_pulse()
        else:
            Gimp.progress_update(min(1.0, max(0.0, fraction)))

    Gimp.progress_init(progress_text)
    watch = cancel_watch.start(request_id)  # GIMP's Cancel kills this process: the watcher tells the daemon
    try:
        out, header = refine_job.run_in_background(call, tick)
    except (seamrefine_client.ClientError, OSError) as exc:
        raise PluginError(*policy.describe_error(exc, timeout)) from exc
    finally:
        watch.done()
    Gimp.progress_update(1.0)
    expected = box.pixels * 4 * fmt.itemsize
    if len(out) != expected:
        raise PluginError(f"The daemon answered {len(out)} bytes, expected {expected}.")
    return bytes(out), header


def insert_result(image: Gimp.Image, drawable: Gimp.Drawable, box: Box, fmt, patch: bytes):
    """Insert the patch as a new layer above ``drawable``, in one undo group; it remembers its source."""
    _, off_x, off_y = drawable.get_offsets()
    rgb = image.get_base_type() == Gimp.ImageBaseType.RGB
    layer_type = Gimp.ImageType.RGBA_IMAGE if rgb else Gimp.ImageType.GRAYA_IMAGE
    layer = Gimp.Layer.new(
        image, policy.LAYER_NAME, box.width, box.height, layer_type, 100.0, Gimp.LayerMode.NORMAL
    )
    # the patch's colours are sRGB-curve values blended by its alpha: composite in that space too
    layer.set_composite_space(Gimp.LayerColorSpace.RGB_PERCEPTUAL)
    # before the layer is in the image, so that attaching it is no (un-undoable) step of its own
    source = str(drawable.get_tattoo()).encode()
    layer.attach_parasite(Gimp.Parasite.new(SOURCE_PARASITE, Gimp.PARASITE_PERSISTENT, list(source)))
    image.undo_group_start()
    try:
        image.insert_layer(layer, drawable.get_parent(), image.get_item_position(drawable))
        layer.set_offsets(off_x + box.x, off_y + box.y)
        buffer = layer.get_buffer()
        buffer.set(Gegl.Rectangle.new(0, 0, box.width, box.height), fmt.babl, patch)
        buffer.flush()
        layer.update(0, 0, box.width, box.height)
    finally:
        image.undo_group_end()
    image.set_selected_layers([layer])
    return layer


def source_of(image: Gimp.Image, drawable: Gimp.Drawable):
    """The layer to refine: ``drawable`` itself, or, when it is the result of an earlier run (Filters ▸
    Repeat runs on the new layer), the layer that result was made from."""
    parasite = drawable.get_parasite(SOURCE_PARASITE)
    if parasite is None:
        return drawable
    try:
        source = image.get_layer_by_tattoo(int(bytes(parasite.get_data()).decode()))
    except ValueError:
        source = None
    if source is None or not source.is_valid():
        raise PluginError(policy.SOURCE_GONE.format(layer=drawable.get_name()))
    return source


def refine_drawable(image, drawable, settings: dict):
    """The whole run: read, ask the daemon, insert. Returns the new layer, or None when the daemon found
    no seam and changed nothing (then no layer is added)."""
    if not isinstance(drawable, Gimp.Layer):
        raise PluginError("Select a layer (not a layer mask or channel) to refine.")
    source = source_of(image, drawable)
    text = policy.PROGRESS
    if source.get_id() != drawable.get_id():
        text = policy.PROGRESS_ON_SOURCE.format(source=source.get_name())
    box, fmt, pixels, mask = read_region(image, source)
    try:
        patch, header = request_refine(box, fmt, pixels, mask, settings, text)
    finally:
        Gimp.progress_end()
    if not policy.changed(header):
        return None
    if not (image.is_valid() and source.is_valid()):  # closed or deleted while the daemon worked
        raise PluginError("The image or layer went away while Seam Refine was working; nothing was added.")
    return insert_result(image, source, box, fmt, patch)


def _dump(widget, name: str) -> None:
    """Tests: write the texts and tooltips a dialog shows to $SEAM_REFINE_TEST_DUMP/<name>.json."""
    folder = os.environ.get(TEST_DUMP_ENV)
    if not folder:
        return
    texts, tips = [], []

    def walk(w):
        if hasattr(w, "get_text") and type(w).__name__ == "Label":
            texts.append(w.get_text())
        if w.get_tooltip_text():
            tips.append(w.get_tooltip_text())
        if hasattr(w, "get_children"):
            for child in w.get_children():
                walk(child)

    walk(widget)
    size = [widget.get_allocated_width(), widget.get_allocated_height()]
    with open(os.path.join(folder, name + ".json"), "w", encoding="utf-8") as f:
        json.dump({"title": widget.get_title(), "texts": texts, "tooltips": tips, "size": size}, f)


def _dump_when_shown(dialog, name: str) -> None:
    if os.environ.get(TEST_DUMP_ENV):
        dialog.connect("map", lambda w: GLib.timeout_add(300, lambda: bool(_dump(w, name))))


def _ui():
    gi.require_version("GimpUi", "3.0")
    gi.require_version("Gtk", "3.0")
    from gi.repository import GimpUi, Gtk

    GimpUi.init(PROCEDURE)
    return GimpUi, Gtk


def _show_dialog(procedure, config) -> bool:
    GimpUi, Gtk = _ui()
    dialog = GimpUi.ProcedureDialog.new(procedure, config, "Seam Refine")
    dialog.get_scale_entry("strength", 1.0)  # a slider for the 0–1 strength; samples stay a spin button
    description = dialog.get_label("description", policy.DESCRIPTION, False, False)
    description.set_line_wrap(True)
    description.set_max_width_chars(52)
    description.set_xalign(0.0)
    dialog.fill(["description", "strength", "samples", "band"])
    _dump_when_shown(dialog, "procedure-dialog")
    try:
        return bool(dialog.run())
    finally:
        dialog.destroy()


def _show_message(text: str, details: str, kind: str = "WARNING") -> None:
    """The artist's message in the plug-in's own dialog, the technical detail behind "Details";
    ``kind`` names the Gtk.MessageType (WARNING, INFO)."""
    GimpUi, Gtk = _ui()
    dialog = Gtk.MessageDialog(message_type=getattr(Gtk.MessageType, kind), buttons=Gtk.ButtonsType.OK,
                               text=text)
    dialog.set_title("Seam Refine")
    if details:
        expander = Gtk.Expander.new_with_mnemonic("_Details")
        label = Gtk.Label(label=details, selectable=True, wrap=True, xalign=0.0, max_width_chars=60)
        expander.add(label)
        dialog.get_message_area().pack_end(expander, False, False, 0)
        expander.show_all()
    dialog.set_default_response(Gtk.ResponseType.OK)  # Return closes it, also with Details open
    ok = dialog.get_widget_for_response(Gtk.ResponseType.OK)
    dialog.connect("show", lambda w: ok.grab_focus())
    GimpUi.window_set_transient(dialog)
    _dump_when_shown(dialog, "message-dialog")
    try:
        dialog.run()
    finally:
        dialog.destroy()


def _failed(procedure, run_mode, exc: PluginError):
    """An interactive run shows its own dialog and returns no text, so GIMP adds no "Execution error"
    box; a non-interactive call gets text and details as its error message."""
    if run_mode != Gimp.RunMode.NONINTERACTIVE:
        _show_message(exc.text, exc.details)
        return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, None)
    return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(exc.full()))


class SeamRefine(Gimp.PlugIn):
    """The plug-in: one image procedure."""

    def do_query_procedures(self):
        return [PROCEDURE]

    def do_set_i18n(self, name):
        return False

    def do_create_procedure(self, name):
        proc = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, self.run, None)
        proc.set_image_types("RGB*, GRAY*")
        proc.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
        proc.set_menu_label(policy.MENU_LABEL)
        proc.add_menu_path("<Image>/Filters/Enhance")
        proc.set_documentation("Remove the seam around a generative fill", policy.DESCRIPTION, name)
        proc.set_attribution("Seam Refine", "Seam Refine", "2026")
        flags = GObject.ParamFlags.READWRITE
        proc.add_double_argument(
            "strength", policy.label("strength"), policy.tooltip("strength"), 0.0, 1.0, 1.0, flags
        )
        proc.add_int_argument("samples", policy.label("samples"), policy.tooltip("samples"), 1, 8, 1, flags)
        proc.add_int_argument("band", policy.label("band"), policy.tooltip("band"), 0, 512, 0, flags)
        return proc

    def run(self, procedure, run_mode, image, drawables, config, run_data):
        """One run: the dialog (interactive), then refine_drawable; failures as _failed describes."""
        if len(drawables) != 1:
            return _failed(procedure, run_mode, PluginError(policy.ONE_LAYER))
        if run_mode == Gimp.RunMode.INTERACTIVE and not _show_dialog(procedure, config):
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
        settings = {name: config.get_property(name) for name in ("strength", "samples", "band")}
        try:
            layer = refine_drawable(image, drawables[0], settings)
        except PluginError as exc:
            return _failed(procedure, run_mode, exc)
        except Exception as exc:  # an unexpected failure still ends as a message, not a crash
            traceback.print_exc()
            return _failed(procedure, run_mode, PluginError(*policy.describe_error(exc)))
        if layer is None:  # no seam found: nothing changed, which the artist is told (not an error)
            text = policy.unchanged_message(settings["strength"])
            if run_mode == Gimp.RunMode.NONINTERACTIVE:
                Gimp.message(text)
            else:
                _show_message(text, "", "INFO")
        Gimp.displays_flush()
        return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())


def main(argv):
    """Entry point called by seam-refine.py."""
    Gimp.main(SeamRefine.__gtype__, argv)
