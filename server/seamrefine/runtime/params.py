"""The refine parameters, declared and checked in one place.

The Python API (``seamrefine.refine``, :class:`~seamrefine.runtime.inference.Refiner`), the wire
protocol (the ``params`` map of a refine request), the pyzmq client and the CLI all carry a
:class:`RefineParams`; constructing one checks every value. The plug-ins' stdlib client cannot import
this package; ``tests/plugins`` checks that it sends the same map.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from numbers import Integral, Real
from typing import Any

from ..errors import InputError, ProtocolError
from ..imaging.imagemath import COLORSPACES

MAX_SAMPLES = 8
MAX_BAND = 512  # px
OUTPUTS = ("image", "patch")


def _shown(value: Any) -> str:
    """``value`` for an error message, cut short (wire values can be long)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


@dataclass(frozen=True)
class RefineParams:
    """How to refine: checked on construction (InputError naming the bad value).

    strength: 0–1, how much of the refinement is applied inside the band (0 returns the input).
    samples: 1–8; above 1, jittered variants are refined and the one with the lowest seam score kept.
    band: band width in px around the mask that may change, 0–512, or None for the model's own.
    colorspace: how the image values are encoded, ``"srgb"`` (the default) or ``"linear"``
        (linear light, e.g. float EXR-style data; refined in sRGB and converted back).
    output: ``"image"`` (the default: the refined image) or ``"patch"``: a layer to lay over the image
        (``seamrefine.imaging.patch``): transparent outside the band, the band's feather as alpha, and
        colours that composite ("normal" mode) to the refined image. Needs an image with alpha.
    scores: whether to measure the no-reference seam score before and after (the result's
        ``seam_score_before``/``seam_score_after``, ~0.1 s at 1 MP); False leaves them None, except
        that ``samples`` > 1 still scores its variants to choose one. The plug-ins, which show no
        score, send False.
    """

    strength: float = 1.0
    samples: int = 1
    band: int | None = None
    colorspace: str = "srgb"
    output: str = "image"
    scores: bool = True

    def __post_init__(self) -> None:
        s = self.strength
        if isinstance(s, bool) or not isinstance(s, Real) or not (math.isfinite(s) and 0.0 <= s <= 1.0):
            raise InputError(f"strength must be a number in [0, 1], got {_shown(s)}", s)
        if not _is_int(self.samples) or not 1 <= self.samples <= MAX_SAMPLES:
            raise InputError(
                f"samples must be an integer in [1, {MAX_SAMPLES}], got {_shown(self.samples)}", self.samples
            )
        if self.band is not None and (not _is_int(self.band) or not 0 <= self.band <= MAX_BAND):
            raise InputError(
                f"band must be None or an integer in [0, {MAX_BAND}] px, got {_shown(self.band)}", self.band
            )
        if not isinstance(self.colorspace, str) or self.colorspace not in COLORSPACES:
            raise InputError(
                f"colorspace must be 'srgb' or 'linear', got {_shown(self.colorspace)}", self.colorspace
            )
        if not isinstance(self.output, str) or self.output not in OUTPUTS:
            raise InputError(f"output must be 'image' or 'patch', got {_shown(self.output)}", self.output)
        if not isinstance(self.scores, bool):
            raise InputError(f"scores must be true or false, got {_shown(self.scores)}", self.scores)
        object.__setattr__(self, "strength", float(s))
        object.__setattr__(self, "samples", int(self.samples))
        object.__setattr__(self, "band", None if self.band is None else int(self.band))

    def to_wire(self) -> dict:
        """The ``params`` map of a refine request (docs/protocol.md)."""
        wire = asdict(self)
        if self.colorspace == "srgb":  # absent = sRGB: sRGB requests stay as they were before the key
            del wire["colorspace"]
        if self.output == "image":  # likewise: absent = the refined image
            del wire["output"]
        if self.scores:  # and absent = scored
            del wire["scores"]
        return wire

    @classmethod
    def from_wire(cls, obj: Any) -> RefineParams:
        """The parameters of a request's ``params`` map (None: all defaults)."""
        if obj is None:
            return cls()
        if not isinstance(obj, dict):
            raise ProtocolError(f"params must be a map, got {type(obj).__name__}", type(obj).__name__)
        unknown = sorted(str(k) for k in obj if k not in cls.__dataclass_fields__)
        if unknown:
            raise InputError(f"unknown refine parameter(s): {', '.join(unknown)}", unknown)
        return cls(**obj)
