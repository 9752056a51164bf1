"""The only module that touches Krita: the Extension, reading the layer + selection, adding the result.

Flow: gather (active paint layer's pixels over the selection's bounds plus context, and the selection
mask) → worker thread sends them to the daemon, asking for a *patch* (``output="patch"``) → on the GUI
thread a new paint layer "Seam Refine" is created directly above the active layer, holding the patch
at the crop's offset: the refined pixels inside the band around the selection, the band's feather as
their alpha, transparent everywhere else, so that composited over the layer it gives the refined image
(one undo step; no existing layer is touched). Where the daemon found no seam and changed nothing, no
layer is added and a message says so. The shortcut (Ctrl+Alt+R) comes from
``seam_refine.action``, which the installer puts in Krita's actions folder.
"""

import os
import time

from krita import Extension, Krita

from . import pixels, shared, ui
from .qt import QByteArray

policy = shared.load("seamrefine_policy")

ACTION_ID = "seam_refine_run"
SETTINGS_ACTION_ID = "seam_refine_settings"
SHORTCUT = "Ctrl+Alt+R"  # the default in seam_refine.action (Krita ignores a setShortcut from here)
LAYER_NAME = policy.LAYER_NAME
SETTINGS_GROUP = "SeamRefine"
DEFAULTS = {"strength": 1.0, "samples": 1, "band": 0, "endpoint": "", "timeout": policy.REFINE_TIMEOUT_S}
SPACE_MISMATCH = ("The active layer's colour space differs from the image's. Convert the layer to the "
                  "image's colour space and try again.")
# Timings (and, in test mode, the exact request) of the last run; read by tests and the benchmark.
LAST_RUN = {}


def read_settings():
    """The plug-in's settings from Krita's settings (group ``SeamRefine``), defaults where unset."""
    app = Krita.instance()
    out = {}
    for key, default in DEFAULTS.items():
        raw = app.readSetting(SETTINGS_GROUP, key, str(default))
        try:
            out[key] = type(default)(raw)
        except ValueError:
            out[key] = default
    return out


def write_settings(values):
    """Store the settings dialog's values in Krita's settings."""
    for key, value in values.items():
        Krita.instance().writeSetting(SETTINGS_GROUP, key, str(value))


def gather(doc):
    """Everything the request needs, read on the GUI thread; raises pixels.Unsupported with a message."""
    node = doc.activeNode()
    if node is None:
        raise pixels.Unsupported("Select the paint layer that holds the generated fill first.")
    if node.type() != "paintlayer":
        raise pixels.Unsupported(f"Seam Refine works on paint layers; the active layer “{node.name()}” is a "
                                 f"{node.type()}. Select a paint layer (or convert this one) and try again.")
    dtype, itemsize, order = pixels.pixel_format(node.colorModel(), node.colorDepth())
    sel = doc.selection()
    if sel is None or sel.width() <= 0 or sel.height() <= 0:
        raise pixels.Unsupported(policy.NO_SELECTION)
    x, y, w, h = policy.crop_box(sel.x(), sel.y(), sel.width(), sel.height(), doc.width(), doc.height())
    if w <= 0 or h <= 0:
        raise pixels.Unsupported("The selection lies outside the image.")
    mask = bytes(sel.pixelData(x, y, w, h))
    if not pixels.mask_coverage(mask)[0]:
        raise pixels.Unsupported("The selection is empty. Select the generated region first.")
    image = bytes(node.pixelData(x, y, w, h))
    # Values travel as stored; a linear-light profile (float layers often have one) is declared so
    # the daemon refines in sRGB and converts back.
    linear = pixels.is_linear_profile(node.colorProfile())
    return {"node": node, "box": (x, y, w, h), "image": image, "mask": mask, "dtype": dtype,
            "order": order, "channels": 4, "linear": linear,
            "space": (node.colorModel(), node.colorDepth(), node.colorProfile())}


def _detached_layer(doc, node, space):
    """A new paint layer, not yet in ``doc``, in ``space`` with ``node``'s blending mode, made without
    leaving a step in ``doc``'s undo history.

    libkis converts colour spaces and sets blending modes through undoable commands, even on a layer
    not yet in the image: each would be one more Ctrl+Z that changes nothing the artist can see (and
    the conversion's step could land after the layer's own). So where the layer must differ from what
    ``doc.createNode`` gives, it is made in a throwaway document of that colour space and duplicated.
    """
    layer = doc.createNode(LAYER_NAME, "paintlayer")
    if (layer.colorModel(), layer.colorDepth(), layer.colorProfile()) == space and \
            layer.blendingMode() == node.blendingMode():
        return layer
    app = Krita.instance()
    scratch = app.createDocument(doc.width(), doc.height(), LAYER_NAME, *space, doc.resolution())
    try:
        made = scratch.createNode(LAYER_NAME, "paintlayer")
        made.setBlendingMode(node.blendingMode())
        layer = made.duplicate()
    finally:
        scratch.setModified(False)
        scratch.close()
    if (layer.colorModel(), layer.colorDepth()) != space[:2]:
        raise pixels.Unsupported(SPACE_MISMATCH)
    return layer


def add_result_layer(doc, req, result):
    """New paint layer above the active one holding the patch at the crop; a single undoable step."""
    node = req["node"]
    x, y, w, h = req["box"]
    layer = _detached_layer(doc, node, tuple(req["space"]))
    layer.setPixelData(QByteArray(result), x, y, w, h)
    layer.setOpacity(node.opacity())
    parent = node.parentNode() or doc.rootNode()
    parent.addChildNode(layer, node)
    doc.setActiveNode(layer)
    doc.refreshProjection()
    return layer


class SeamRefineExtension(Extension):
    def __init__(self, parent):
        super().__init__(parent)
        self.request = None

    def setup(self):
        pass

    def createActions(self, window):
        """Tools ▸ Scripts ▸ Seam Refine and its settings; the shortcut comes from seam_refine.action."""
        action = window.createAction(ACTION_ID, "Seam Refine", "tools/scripts")
        action.triggered.connect(self.run)
        settings = window.createAction(SETTINGS_ACTION_ID, "Seam Refine Settings…", "tools/scripts")
        settings.triggered.connect(self.edit_settings)

    @staticmethod
    def _parent():
        window = Krita.instance().activeWindow()
        return window.qwindow() if window is not None else None

    def edit_settings(self):
        """Tools ▸ Scripts ▸ Seam Refine Settings…: the dialog, stored when accepted."""
        dialog = ui.SettingsDialog(read_settings(), self._parent())
        if ui.exec_dialog(dialog):
            write_settings(dialog.values())

    def run(self):
        """The action: gather on the GUI thread, refine on a worker, add the patch layer (or say why
        not, also when the daemon found no seam and changed nothing)."""
        if self.request is not None:
            ui.show_message("Seam Refine is already working on a selection.", "info", self._parent())
            return
        doc = Krita.instance().activeDocument()
        if doc is None:
            ui.show_message("Open an image first.", "info", self._parent())
            return
        try:
            client = shared.load("seamrefine_client")
        except ImportError as e:
            ui.show_message(f"The Seam Refine plugin is incomplete: {e}.", "error", self._parent())
            return
        t0 = time.perf_counter()
        try:
            req = gather(doc)
        except pixels.Unsupported as e:
            ui.show_message(str(e), "warning", self._parent())
            return
        settings = read_settings()
        req["timeout"], req["strength"] = settings["timeout"], settings["strength"]
        LAST_RUN.clear()
        LAST_RUN.update(box=req["box"], dtype=req["dtype"], order=req["order"], linear=req["linear"],
                        gather_s=time.perf_counter() - t0, settings=settings)
        if ui.test_mode():
            LAST_RUN.update(image=req["image"], mask=req["mask"])
        x, y, w, h = req["box"]

        def job(progress, cancel):
            t = time.perf_counter()
            c = client.Client(endpoint=settings["endpoint"] or None, timeout=settings["timeout"])
            try:
                return c.refine(req["image"], w, h, req["channels"], req["dtype"], req["order"], req["mask"],
                                strength=settings["strength"], samples=settings["samples"],
                                band=settings["band"] or None, progress=progress, cancel=cancel,
                                colorspace="linear" if req["linear"] else "srgb", output="patch",
                                scores=False)  # no score is shown: skipping them saves ~20 %
            finally:
                c.close()
                LAST_RUN["request_s"] = time.perf_counter() - t

        self.request = ui.Request(job, lambda result, error: self._finish(client, doc, req, result, error),
                                  self._parent())
        self.request.start()

    def _finish(self, client, doc, req, result, error):
        self.request = None
        if isinstance(error, client.Cancelled):
            LAST_RUN["cancelled"] = True
            return
        if error is not None:
            message = policy.describe_error(error, req["timeout"])
            ui.show_message(message.text, "warning", self._parent(), message.details)
            return
        if not any(d == doc for d in Krita.instance().documents()):
            ui.show_message("The image was closed before the result arrived.", "info", self._parent())
            return
        pixels_out, header = result
        LAST_RUN["daemon_ms"] = float(header.get("elapsed_ms") or 0.0)
        LAST_RUN["header"] = {k: v for k, v in header.items() if k != "frames"}
        if not policy.changed(header):  # no seam found: a layer identical to the source would be clutter
            LAST_RUN["unchanged"] = True
            ui.show_message(policy.unchanged_message(req["strength"]), "info", self._parent())
            return
        t = time.perf_counter()
        try:
            add_result_layer(doc, req, pixels_out)
        except pixels.Unsupported as e:
            ui.show_message(str(e), "warning", self._parent())
            return
        except RuntimeError as e:  # e.g. the document was closed while refining
            ui.show_message(f"Could not add the result layer: {e}", "error", self._parent())
            return
        LAST_RUN["paste_s"] = time.perf_counter() - t
        if os.environ.get("SEAM_REFINE_TEST_MODE") == "1":
            LAST_RUN["result"] = pixels_out


def register():
    Krita.instance().addExtension(SeamRefineExtension(Krita.instance()))
