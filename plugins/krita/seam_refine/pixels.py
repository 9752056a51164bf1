"""Pure helpers of the Krita plugin (no Krita, no Qt): pixel formats, linear profiles, mask coverage."""

# Krita's pixelData layout per (colour model, depth): 8/16-bit integer RGBA is stored B,G,R,A;
# half/float RGBA is stored R,G,B,A. The daemon accepts both orders, so bytes go out untouched.
FORMATS = {
    ("RGBA", "U8"): ("uint8", 1, "BGRA"),
    ("RGBA", "U16"): ("uint16", 2, "BGRA"),
    ("RGBA", "F16"): ("float16", 2, "RGBA"),
    ("RGBA", "F32"): ("float32", 4, "RGBA"),
}
MODEL_NAMES = {"RGBA": "RGB/Alpha", "GRAYA": "Grayscale/Alpha", "CMYKA": "CMYK/Alpha", "LABA": "L*a*b*/Alpha",
               "XYZA": "XYZ/Alpha", "YCbCrA": "YCbCr/Alpha"}


class Unsupported(Exception):
    """The document/layer cannot be refined; the message is meant for the artist."""


def pixel_format(model, depth):
    """(dtype, bytes per channel, channel order) for a Krita colour model/depth, or Unsupported."""
    fmt = FORMATS.get((model, depth))
    if fmt is not None:
        return fmt
    if model != "RGBA":
        name = MODEL_NAMES.get(model, model)
        raise Unsupported(f"Seam Refine works on RGB/Alpha layers; this layer is {name}. Convert it with "
                          "Image ▸ Convert Image Color Space… (or Layer ▸ Convert ▸ Convert Layer "
                          "Color Space…).")
    raise Unsupported(f"Seam Refine supports 8-bit, 16-bit and 16/32-bit float RGB/Alpha; this layer's "
                      f"channel depth is {depth}.")


def is_linear_profile(profile):
    """True for linear-light profiles (e.g. 'sRGB-elle-V2-g10.icc', 'scRGB (linear)').

    Float layers are usually linear. Their values go to the daemon as they are, with the refine
    parameter ``colorspace="linear"``; the daemon converts to sRGB for the model and back.
    """
    name = (profile or "").lower()
    return "linear" in name or "g10" in name or "scrgb" in name


def mask_coverage(mask):
    """(any pixel selected, any pixel unselected) for a 1-byte-per-pixel selection mask."""
    return mask.count(0) < len(mask), mask.count(255) < len(mask)
