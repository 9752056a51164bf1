"""Pure helpers of the Krita plugin (no Krita needed): pixel formats, mask coverage, linear profiles."""

from __future__ import annotations

import pytest
from seamrefine_plugins.krita.seam_refine import pixels


@pytest.mark.parametrize("depth,expected", [("U8", ("uint8", 1, "BGRA")), ("U16", ("uint16", 2, "BGRA")),
                                            ("F16", ("float16", 2, "RGBA")), ("F32", ("float32", 4, "RGBA"))])
def test_pixel_format_rgba(depth, expected):
    assert pixels.pixel_format("RGBA", depth) == expected


def test_pixel_format_messages():
    with pytest.raises(pixels.Unsupported, match="this layer is CMYK/Alpha. Convert it"):
        pixels.pixel_format("CMYKA", "U8")
    with pytest.raises(pixels.Unsupported, match="this layer is Grayscale/Alpha"):
        pixels.pixel_format("GRAYA", "U16")
    with pytest.raises(pixels.Unsupported, match="channel depth is F64"):
        pixels.pixel_format("RGBA", "F64")


def test_mask_coverage_and_linear_profiles():
    assert pixels.mask_coverage(bytes([0, 0, 0])) == (False, True)
    assert pixels.mask_coverage(bytes([0, 128, 255])) == (True, True)
    assert pixels.mask_coverage(bytes([255, 255])) == (True, False)
    assert pixels.is_linear_profile("sRGB-elle-V2-g10.icc")
    assert pixels.is_linear_profile("scRGB (linear)")
    assert not pixels.is_linear_profile("sRGB-elle-V2-srgbtrc.icc")
    assert not pixels.is_linear_profile(None)
