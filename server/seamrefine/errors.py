"""Typed errors. Each carries the offending value and a stable ``code`` used on the wire."""

from __future__ import annotations

from typing import Any


class SeamRefineError(Exception):
    """Base class. ``code`` is the protocol error code; ``value`` the bad value, if any."""

    code = "error"

    def __init__(self, message: str, value: Any = None):
        super().__init__(message)
        self.message = message
        self.value = value


class InputError(SeamRefineError, ValueError):
    """The caller's image, mask or parameter is not acceptable."""

    code = "bad_input"


class ShapeError(InputError):
    """An array has the wrong number of dimensions, channels or size."""


class DTypeError(InputError, TypeError):
    """An array has a dtype that is not supported."""


class MaskError(InputError):
    """The mask does not describe a refinable region."""


class EmptyMaskError(MaskError):
    """Nothing is selected: there is no seam to refine."""

    code = "empty_mask"


class FullMaskError(MaskError):
    """Everything is selected: there are no untouched pixels to harmonise against."""

    code = "full_mask"


class ImageTooLargeError(InputError):
    """The image exceeds the configured pixel or byte limit."""

    code = "too_large"


class ModelError(SeamRefineError):
    """The model file is missing, corrupt, or does not match its manifest."""

    code = "model"


class ProtocolError(SeamRefineError):
    """A message does not follow docs/protocol.md."""

    code = "bad_request"


class AuthError(ProtocolError):
    code = "unauthorized"


class BusyError(SeamRefineError):
    code = "busy"


class CancelledError(SeamRefineError):
    code = "cancelled"


class DaemonUnavailableError(SeamRefineError):
    """No daemon answered (not running, stopped mid-request, or timed out)."""

    code = "unavailable"


class UntrustedEndpointError(DaemonUnavailableError):
    """A runtime folder or ``endpoint.json`` another user could have written: not used.

    Trusted are only a folder the user owns with mode 0700 and a file the user owns with mode 0600
    (docs/daemon.md, "Discovery"); ``value`` is the offending path."""

    code = "untrusted_endpoint"
