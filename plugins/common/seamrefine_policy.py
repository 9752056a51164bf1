"""What the Krita and GIMP plug-ins do alike (Python standard library only, no host API).

Which region travels to the daemon (the selection's bounds grown by a context margin, clipped to the
layer), how long a refine may take, the name of the new layer, the words of both settings dialogs,
and the message an artist reads when a request fails: one short text saying what happened and the one
thing to do, and the technical detail for a "Details" section. ``seam-refine install-plugin`` copies
this file next to each plug-in, like ``seamrefine_client.py``.
"""

from collections import namedtuple

LAYER_NAME = "Seam Refine"
MENU_LABEL = "Seam Re_fine…"  # GIMP's menu entry; the underscore marks the mnemonic (Alt+F is free there)

# Unselected surroundings sent with the selection: colour, grain and structure for the refiner to match.
# At least the model's own context (64 px), a quarter of the selection's longer side, at most 256 px.
CONTEXT_MIN = 64
CONTEXT_MAX = 256
CONTEXT_FRACTION = 0.25

REFINE_TIMEOUT_S = 600.0  # seconds of daemon silence before a request is given up (and cancelled)
TIMEOUT_ENV = "SEAM_REFINE_PLUGIN_TIMEOUT"
START_COMMAND = "seam-refine serve"
AUTOSTART_COMMAND = "seam-refine daemon install-autostart"

# ---------------------------------------------------------------- the settings dialogs
DESCRIPTION = (
    "Blends a generated fill into the picture: colour, grain and sharpness continue across the edge "
    "of the selection. The result is a new layer “Seam Refine” above this one; nothing else changes."
)
# name → (label with its mnemonic marked by "_", tooltip); the labels and tooltips of both dialogs
FIELDS = {
    "strength": ("S_trength", "How much of the refinement to apply: 1 applies all of it, 0 changes nothing."),
    "samples": ("Sa_mples", "How many variants to refine; the one with the least visible seam is kept. "
                            "More is slower and steadier (1–8)."),
    "band": ("_Band width (px)", "How far outside the selection pixels may change, in pixels. "
                                 "0 lets the model choose (16 px, fading out over 8 px more)."),
    "endpoint": ("Service _address", "Leave empty to find the running Seam Refine service by itself, or "
                                     "enter an address such as tcp://127.0.0.1:5555."),
    "timeout": ("_Give up after", "How long to wait for the Seam Refine service before giving up."),
}
ENDPOINT_PLACEHOLDER = "automatic"
BAND_AUTOMATIC = "automatic"


def label(name, mnemonic="_"):
    """The label of setting ``name`` with its mnemonic marked by ``mnemonic`` ("_" for GTK, "&" for Qt,
    "" for none)."""
    return FIELDS[name][0].replace("_", mnemonic)


def tooltip(name):
    """The explanation of setting ``name`` (a tooltip in Krita, the argument's description in GIMP)."""
    return FIELDS[name][1]


# ---------------------------------------------------------------- texts
NO_SELECTION = ("Nothing is selected. Select the generated region (a soft or feathered selection works "
                "best), then run Seam Refine.")
ONE_LAYER = "Select exactly one layer, then run Seam Refine."
CANCELLED = "Seam Refine was cancelled. Nothing was changed."
PROGRESS = "Seam Refine: refining the seam…"
PROGRESS_ON_SOURCE = "Seam Refine: refining “{source}”, the layer under the last result…"
REPEAT_ON_RESULT = ("“{layer}” is the result of an earlier run, so Seam Refine refined the layer it was "
                    "made from, “{source}”, and put the new result right above it.")
NO_SEAM = ("Seam Refine found no visible seam along the edge of the selection, so nothing was changed "
           "and no layer was added.\nIf you can see a seam, select the generated region along its own "
           "edge, then try again.")
ZERO_STRENGTH = ("Strength is 0, so Seam Refine changed nothing and added no layer. Raise Strength in the "
                 "settings, then try again.")
SOURCE_GONE = ("“{layer}” is the result of an earlier run, and the layer it was made from is gone. "
               "Select the layer to refine, then run Seam Refine again.")


def changed(header):
    """Whether a refine's result differs from the layer: False only when the daemon's result header says
    ``changed: false`` (no seam found, or strength 0: the plug-ins then add no layer and show
    ``unchanged_message``); a daemon that does not report it counts as a change."""
    return header.get("changed", True) is not False


def unchanged_message(strength):
    """What the artist reads when a refine changed nothing (``changed``): ``NO_SEAM``, or
    ``ZERO_STRENGTH`` when the run asked for strength 0."""
    return ZERO_STRENGTH if float(strength) == 0 else NO_SEAM


def refine_timeout(environ, default=REFINE_TIMEOUT_S):
    """Seconds to wait for the daemon: ``$SEAM_REFINE_PLUGIN_TIMEOUT`` when it is a positive number,
    else ``default``."""
    try:
        value = float(environ.get(TIMEOUT_ENV, ""))
    except ValueError:
        return default
    return value if 0 < value < float("inf") else default


def context_margin(width, height):
    """Context in pixels around a selection of ``width`` × ``height``: a quarter of its longer side,
    clamped to [CONTEXT_MIN, CONTEXT_MAX]."""
    return int(min(CONTEXT_MAX, max(CONTEXT_MIN, round(CONTEXT_FRACTION * max(width, height)))))


def crop_box(x, y, width, height, layer_width, layer_height, context=None):
    """The crop sent to the daemon, as (x, y, width, height): the selection's bounds (layer
    coordinates) grown by ``context`` pixels (default: ``context_margin``) on every side and clipped to
    the layer. Width or height is 0 when the selection lies outside the layer."""
    if context is None:
        context = context_margin(width, height)
    x0, y0 = max(0, x - context), max(0, y - context)
    x1, y1 = min(layer_width, x + width + context), min(layer_height, y + height + context)
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


# ---------------------------------------------------------------- messages for a failed request
class Message(namedtuple("Message", "text details")):
    """What an artist reads: ``text`` says what happened and the one thing to do; ``details`` holds
    the technical detail, shown behind a "Details" section (may be empty)."""

    __slots__ = ()

    def full(self):
        """Text and details in one string, for places without a Details section (scripts, logs)."""
        return f"{self.text}\n\nDetails:\n{self.details}" if self.details else self.text


def seconds(value):
    """``value`` seconds as an artist reads it: "300 s", "1.5 s", "10 min"."""
    if value >= 120 and value % 60 == 0:
        return f"{value / 60:g} min"
    return f"{value:g} s"


def _raw(exc):
    """The exception's own message, without the client's start hint and with no backticks."""
    text = str(getattr(exc, "message", None) or exc)
    hint = getattr(type(exc).__init__, "__globals__", {}).get("START_HINT")  # the client module's
    if hint and text.endswith(hint):
        text = text[: -len(hint)].rstrip()
    return text.replace("`", "")


def _not_running(raw, lost):
    if lost:
        text = (f"The Seam Refine service stopped while it was working, so nothing was changed.\n"
                f"Start it again (run {START_COMMAND} in a terminal), then try again.")
    else:
        text = (f"The Seam Refine service is not running, so nothing was changed.\n"
                f"Start it (run {START_COMMAND} in a terminal), then try again.")
    details = (f"{raw}\n\nSeam Refine does its work in a background service on this computer. To have it "
               f"start with your session, run once: {AUTOSTART_COMMAND}")
    return Message(text, details)


def describe_error(exc, timeout_s=REFINE_TIMEOUT_S):
    """The Message for a failed request: ``exc`` is a ``seamrefine_client.ClientError`` (or anything
    else that went wrong); ``timeout_s`` is the limit the request ran under."""
    name = type(exc).__name__
    code = getattr(exc, "code", None)
    raw = _raw(exc)
    if name == "DaemonNotRunning" or code in ("not_running", "connection_lost"):
        return _not_running(raw, code == "connection_lost")
    if name == "DaemonBusy" or code == "busy":
        return Message("The Seam Refine service is busy with other pictures. Wait a moment, then try again.",
                       raw)
    if name == "DaemonTimeout" or code == "timeout":
        return Message(
            f"The Seam Refine service did not answer within {seconds(timeout_s)}, so Seam Refine gave up "
            "and nothing was changed.\nTry again with a smaller selection.",
            f"{raw}\n\nThe service may be busy with a large picture, or stuck: check it with "
            f"seam-refine daemon status. The limit is the Timeout setting (Krita) or ${TIMEOUT_ENV}.",
        )
    if code == "cancelled":
        return Message(CANCELLED, "")
    if code == "empty_mask":
        return Message("The selection is empty on this layer. Select the generated region, then try again.",
                       raw)
    if code == "full_mask":
        return Message("Everything around the selection is selected, so there is no edge to blend into. "
                       "Select only the generated region, then try again.", raw)
    if code == "untrusted_endpoint":
        return Message("Seam Refine did not connect, because the service's address file could belong to "
                       "someone else. Nothing was sent and nothing was changed.\nRestart the Seam Refine "
                       f"service ({START_COMMAND}).", raw)
    if code == "too_large":
        return Message("The selection is too large for Seam Refine. Select a smaller region, then try again.",
                       raw)
    if code is not None:
        return Message("Seam Refine failed, so nothing was changed. Try again; if it keeps failing, restart "
                       f"the Seam Refine service ({START_COMMAND}).", f"{code}: {raw}")
    return Message("Seam Refine failed unexpectedly, so nothing was changed. Try again.", f"{name}: {raw}")
