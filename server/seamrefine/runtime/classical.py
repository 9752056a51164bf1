"""The classical stage that runs before the network: colour harmonisation, then texture matching.

One function, shared by serving (``inference``), training (``seamrefine_train.data.stage_one``) and the
benchmark's ``harmonise`` method, so the three cannot drift apart.
"""

from __future__ import annotations

import numpy as np

from . import harmonise, texture


def classical_change(x: np.ndarray, mask: np.ndarray, reach: int = 16) -> tuple[np.ndarray, dict]:
    """The classical stage's change to ``x`` (H×W×3 float32 sRGB; mask H×W in [0, 1]) and its info.

    First ``harmonise.harmonise`` (the fill's colour, behind the seam gate), then
    ``texture.match_texture`` on the harmonised image (its grain and sharpness, behind the texture
    gate). info: {"harmonise": …, "texture": …}, each stage's own info with its ``gate``. Raises what
    ``harmonise`` raises on bad input."""
    measured = harmonise.measure(x, mask)
    colour, colour_info = harmonise.apply(x, measured, reach=reach)
    harmonised = np.clip(x + colour, 0.0, 1.0) if colour_info["gate"] > 0 else x
    detail, texture_info = texture.match_texture(harmonised, mask, measured.sd)
    return colour + detail, {"harmonise": colour_info, "texture": texture_info}
