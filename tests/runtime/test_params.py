"""RefineParams: the one declaration and check of the refine parameters (API, wire, clients, CLI)."""

from __future__ import annotations

import numpy as np
import pytest
from seamrefine.errors import InputError, ProtocolError
from seamrefine.runtime.params import MAX_BAND, MAX_SAMPLES, RefineParams


def test_defaults_and_normalised_types():
    assert RefineParams() == RefineParams(1.0, 1, None, "srgb")
    p = RefineParams(np.float32(0.5), np.int64(3), np.int16(12), "linear")
    assert (p.strength, p.samples, p.band) == (0.5, 3, 12)
    assert type(p.strength) is float and type(p.samples) is int and type(p.band) is int
    assert RefineParams(strength=1).strength == 1.0 and type(RefineParams(strength=1).strength) is float


@pytest.mark.parametrize(
    "kwargs,pattern",
    [
        ({"strength": float("nan")}, r"strength must be a number in \[0, 1\], got nan"),
        ({"strength": True}, "got True"),
        ({"samples": MAX_SAMPLES + 1}, rf"samples must be an integer in \[1, {MAX_SAMPLES}\]"),
        ({"samples": False}, "got False"),
        ({"band": MAX_BAND + 1}, rf"band must be None or an integer in \[0, {MAX_BAND}\] px"),
        ({"colorspace": "x" * 100}, r"got 'xxxx.*\.\.\.$"),
        ({"colorspace": None}, "colorspace must be 'srgb' or 'linear', got None"),
        ({"output": "layer"}, "output must be 'image' or 'patch', got 'layer'"),
        ({"scores": 0}, "scores must be true or false, got 0"),
    ],
)
def test_bad_values_raise_input_error_with_the_value(kwargs, pattern):
    with pytest.raises(InputError, match=pattern) as e:
        RefineParams(**kwargs)
    assert e.value.code == "bad_input"


def test_wire_round_trip_and_srgb_leaves_the_key_out():
    assert RefineParams().to_wire() == {"strength": 1.0, "samples": 1, "band": None}
    linear = RefineParams(0.5, 2, 8, "linear")
    assert linear.to_wire() == {"strength": 0.5, "samples": 2, "band": 8, "colorspace": "linear"}
    assert RefineParams.from_wire(linear.to_wire()) == linear
    assert RefineParams.from_wire(None) == RefineParams.from_wire({}) == RefineParams()
    patch = RefineParams(output="patch")
    assert patch.to_wire() == {"strength": 1.0, "samples": 1, "band": None, "output": "patch"}
    assert RefineParams.from_wire(patch.to_wire()) == patch
    quiet = RefineParams(scores=False)  # scored is the default and leaves the key out
    assert quiet.to_wire() == {"strength": 1.0, "samples": 1, "band": None, "scores": False}
    assert RefineParams.from_wire(quiet.to_wire()) == quiet


def test_from_wire_errors():
    with pytest.raises(ProtocolError, match="params must be a map, got list"):
        RefineParams.from_wire([1])
    with pytest.raises(InputError, match="unknown refine parameter"):
        RefineParams.from_wire({"strength": 1.0, "zzz": 1})
    with pytest.raises(InputError, match="samples must be an integer"):
        RefineParams.from_wire({"samples": 2.0})  # msgpack floats are not counts


def test_frozen():
    with pytest.raises(AttributeError):
        RefineParams().strength = 0.5
