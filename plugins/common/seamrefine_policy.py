"""What the Krita and GIMP plug-ins do alike (Python standard library only, no host API).

Which region travels to the daemon (the selection's bounds grown by a context margin, clipped to the
layer), how long a refine may take, the name of the new layer, and the message an artist reads when a
request fails. ``seam-refine install-plugin`` copies this file next to each plug-in, like
``seamrefine_client.py``.
"""

LAYER_NAME = "Seam Refine"

# Unselected surroundings sent with the selection: colour, grain and structure for the refiner to match.
# At least the model's own context (64 px), a quarter of the selection's longer side, at most 256 px.
CONTEXT_MIN = 64
CONTEXT_MAX = 256
CONTEXT_FRACTION = 0.25

REFINE_TIMEOUT_S = 600.0  # seconds of daemon silence before a request is given up (and cancelled)
TIMEOUT_ENV = "SEAM_REFINE_PLUGIN_TIMEOUT"
START_HINT = (
    "Start it with `seam-refine serve` in a terminal (or once: `seam-refine daemon install-autostart` "
    "so it starts with your session), then run Seam Refine again."
)


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


def refine_timeout(environ, default=REFINE_TIMEOUT_S):
    """Seconds to wait for the daemon: ``$SEAM_REFINE_PLUGIN_TIMEOUT`` when it is a positive number,
    else ``default``."""
    try:
        value = float(environ.get(TIMEOUT_ENV, ""))
    except ValueError:
        return default
    return value if 0 < value < float("inf") else default


def describe_error(exc, timeout_s=REFINE_TIMEOUT_S):
    """The message an artist reads for a failed request: ``exc`` is a ``seamrefine_client.ClientError``
    (or anything else that went wrong); ``timeout_s`` is the limit the request ran under."""
    name = type(exc).__name__
    code = getattr(exc, "code", None)
    text = str(getattr(exc, "message", None) or exc)
    if name == "DaemonNotRunning" or code in ("not_running", "connection_lost"):
        return text if "seam-refine serve" in text else f"{text} {START_HINT}"
    if name == "DaemonBusy" or code == "busy":
        return "The Seam Refine daemon is busy with other images. Wait a moment and try again."
    if name == "DaemonTimeout" or code == "timeout":
        return (
            f"The Seam Refine daemon did not answer within {timeout_s:g} s. It may be stuck or busy "
            "with a large image: check it with `seam-refine daemon status`, or refine a smaller selection."
        )
    if code == "cancelled":
        return "Seam Refine was cancelled."
    if code == "empty_mask":
        return "The selection is empty on this layer: select the region to refine and try again."
    if code == "full_mask":
        return (
            "Everything around the selection is selected, so there is no seam to blend into: "
            "select only the generated region."
        )
    if code == "too_large":
        return f"The selection is too large for the daemon ({text}). Refine a smaller region."
    if code is not None:
        return f"Seam Refine failed ({code}): {text}"
    return f"Seam Refine failed: {name}: {text}"
