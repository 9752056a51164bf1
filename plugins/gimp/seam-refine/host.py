"""GIMP 3 host adapter of Seam Refine: the only module that talks to GIMP (Gimp, GimpUi, Gegl).

Registers the ImageProcedure ``python-fu-seam-refine`` (Filters ▸ Enhance ▸ Seam Refine…). A run:

1. reads the selected layer's pixels around the selection through its Gegl buffer, as sRGB values
   in u8, u16 or float, whichever keeps every stored value (see refine_job.pixel_format);
2. reads the selection as a soft, linear 8-bit mask;
3. sends both to the Seam Refine daemon through the shared stdlib client ``seamrefine_client``
   (crop, timeout and messages: the shared ``seamrefine_policy``);
4. inserts the answer as a new layer "Seam Refine" right above the layer, inside one undo group.

Nothing else is modified.
"""

from __future__ import annotations

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

import refine_job  # noqa: E402
import seamrefine_policy as policy  # noqa: E402
from refine_job import Box, PluginError  # noqa: E402

PROCEDURE = "python-fu-seam-refine"


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
        raise PluginError(
            "Seam Refine needs a selection: select the generated region (a feathered selection works "
            "best) and run it again."
        )
    ok, sx, sy, sw, sh = drawable.mask_intersect()
    if not ok or sw <= 0 or sh <= 0:
        raise PluginError("The selection does not overlap the selected layer.")
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


def request_refine(box: Box, fmt, pixels: bytes, mask: bytes, strength: float, samples: int):
    """Send the crop to the daemon, keeping GIMP's progress bar alive; returns the refined bytes."""
    import seamrefine_client

    state = refine_job.ProgressState()
    timeout = policy.refine_timeout(os.environ)

    def call():
        client = seamrefine_client.Client(timeout=timeout)
        try:
            out, _header = client.refine(
                pixels, box.width, box.height, 4, fmt.dtype, "RGBA", mask,
                mask_dtype="uint8", strength=float(strength), samples=int(samples),
                progress=state.report,
            )
            return out
        finally:
            client.close()

    def tick():
        fraction = state.fraction
        if fraction is None:
            Gimp.progress_pulse()
        else:
            Gimp.progress_update(min(1.0, max(0.0, fraction)))

    Gimp.progress_init("Seam Refine: refining the seam…")
    try:
        out = refine_job.run_in_background(call, tick)
    except (seamrefine_client.ClientError, OSError) as exc:
        raise PluginError(policy.describe_error(exc, timeout)) from exc
    Gimp.progress_update(1.0)
    expected = box.pixels * 4 * fmt.itemsize
    if len(out) != expected:
        raise PluginError(f"The daemon answered {len(out)} bytes, expected {expected}.")
    return bytes(out)


def insert_result(image: Gimp.Image, drawable: Gimp.Drawable, box: Box, fmt, refined: bytes):
    """Insert the refined crop as a new layer above ``drawable``, in one undo group."""
    _, off_x, off_y = drawable.get_offsets()
    rgb = image.get_base_type() == Gimp.ImageBaseType.RGB
    layer_type = Gimp.ImageType.RGBA_IMAGE if rgb else Gimp.ImageType.GRAYA_IMAGE
    layer = Gimp.Layer.new(
        image, policy.LAYER_NAME, box.width, box.height, layer_type, 100.0, Gimp.LayerMode.NORMAL
    )
    image.undo_group_start()
    try:
        image.insert_layer(layer, drawable.get_parent(), image.get_item_position(drawable))
        layer.set_offsets(off_x + box.x, off_y + box.y)
        buffer = layer.get_buffer()
        buffer.set(Gegl.Rectangle.new(0, 0, box.width, box.height), fmt.babl, refined)
        buffer.flush()
        layer.update(0, 0, box.width, box.height)
    finally:
        image.undo_group_end()
    image.set_selected_layers([layer])
    return layer


def refine_drawable(image, drawable, strength: float, samples: int):
    """The whole run: read, ask the daemon, insert. Returns the new layer."""
    if not isinstance(drawable, Gimp.Layer):
        raise PluginError("Select a layer (not a layer mask or channel) to refine.")
    box, fmt, pixels, mask = read_region(image, drawable)
    try:
        refined = request_refine(box, fmt, pixels, mask, strength, samples)
    finally:
        Gimp.progress_end()
    if not (image.is_valid() and drawable.is_valid()):  # closed or deleted while the daemon worked
        raise PluginError("The image or layer went away while Seam Refine was working; nothing was added.")
    return insert_result(image, drawable, box, fmt, refined)


def _show_dialog(procedure, config) -> bool:
    gi.require_version("GimpUi", "3.0")
    from gi.repository import GimpUi

    GimpUi.init(PROCEDURE)
    dialog = GimpUi.ProcedureDialog.new(procedure, config, "Seam Refine")
    dialog.get_scale_entry("strength", 1.0)  # a slider for the 0–1 strength; samples stay a spin button
    dialog.fill(None)
    try:
        return bool(dialog.run())
    finally:
        dialog.destroy()


def _error(procedure, message: str):
    return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(message))


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
        proc.set_menu_label("Seam Refine…")
        proc.add_menu_path("<Image>/Filters/Enhance")
        proc.set_documentation(
            "Remove the seam around a generative fill",
            "Refines the band around the selection so colour, grain, sharpness and structure continue "
            "across the edge, and adds the result as a new layer 'Seam Refine' above the selected "
            "layer. Needs the Seam Refine daemon (`seam-refine serve`).",
            name,
        )
        proc.set_attribution("Seam Refine", "Seam Refine", "2026")
        flags = GObject.ParamFlags.READWRITE
        proc.add_double_argument(
            "strength", "S_trength", "How much of the refinement to apply (0–1)", 0.0, 1.0, 1.0, flags
        )
        proc.add_int_argument(
            "samples", "Sa_mples", "Refinements pooled to pick the cleanest seam (1–8)", 1, 8, 1, flags
        )
        return proc

    def run(self, procedure, run_mode, image, drawables, config, run_data):
        if len(drawables) != 1:
            return _error(procedure, "Seam Refine works on exactly one selected layer.")
        if run_mode == Gimp.RunMode.INTERACTIVE and not _show_dialog(procedure, config):
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
        try:
            refine_drawable(image, drawables[0], config.get_property("strength"),
                            config.get_property("samples"))
        except PluginError as exc:
            return _error(procedure, str(exc))
        except Exception as exc:  # an unexpected failure still ends as a message, not a crash
            traceback.print_exc()
            return _error(procedure, policy.describe_error(exc))
        Gimp.displays_flush()
        return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())


def main(argv):
    """Entry point called by seam-refine.py."""
    Gimp.main(SeamRefine.__gtype__, argv)
