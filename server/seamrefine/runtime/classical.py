"""The classical stage that runs before the network: colour harmonisation, texture matching, grain
matching, then the photo's JPEG block structure.

One function, shared by serving (``inference``), training (``seamrefine_train.data.stage_one``) and the
benchmark's ``harmonise`` method, so the three cannot drift apart.
"""

from __future__ import annotations

import numpy as np

from . import edge_membrane, grain, harmonise, jpeg_match, texture
from .pixel_ops import add_clipped


def classical_change(x: np.ndarray, mask: np.ndarray, reach: int = 16) -> tuple[np.ndarray, dict]:
    """The classical stage's change to ``x`` (H×W×3 float32 sRGB; mask H×W in [0, 1]) and its info.

    First ``harmonise.harmonise`` (the fill's colour, behind the seam gate), then
    the gain and then the membrane of the jump left on its result (``edge_membrane.inner_membrane``
    on the edge of a hard seam found inside the selection, else ``edge_membrane.edge_membrane`` at
    the selection's edge, where a step stands out right there; the gain: ``edge_gain``; its jumps
    averaged along the edge over ``edge_membrane.SPLIT_SIGMA`` px where the colour map was split, else
    ``SIGMA``; not where ``harmonise`` refused the map or found that the selection may follow a
    content edge of the photo), then
    ``texture.match_texture`` on the harmonised image (its detail bands, behind the texture gate),
    then ``grain.match_grain`` on that (its noise floor, behind the grain gate), then
    ``jpeg_match.match_jpeg`` on that result (a clean fill in a JPEG photo gets the photo's
    compression). info: {"harmonise": …, "membrane": …, "texture": …, "grain": …, "jpeg": …},
    each stage's own info with its ``gate``. Raises what ``harmonise`` raises on bad input."""
    textured, change, sd, info = colour_and_texture(x, mask, reach)
    noise, info["grain"] = grain.match_grain(textured, mask, sd)
    if info["grain"]["gate"] > 0:
        textured = add_clipped(textured, noise)
        change = textured - x
    blocks, info["jpeg"] = jpeg_match.match_jpeg(textured, mask, sd)
    if info["jpeg"]["gate"] > 0:
        change = textured + blocks - x
    return change, info


def colour_and_texture(x: np.ndarray, mask: np.ndarray, reach: int = 16):
    """The colour, membrane and texture steps of ``classical_change``, which the grain gate's trainer
    measures after: returns (the image after them, their change to ``x``, the fill's signed distance,
    info {"harmonise": …, "membrane": …, "texture": …})."""
    measured = harmonise.measure(x, mask)
    colour, colour_info = harmonise.apply(x, measured, reach=reach)
    harmonised = add_clipped(x, colour) if colour_info["gate"] > 0 else x
    seam = measured.seam
    # no membrane across an edge the selection may share with the photo's content (``content_edge``),
    # nor where the map was refused as too large for a seam (the jump there is content: a sky selected
    # against grass, membraned, turned to grass)
    held = colour_info.get("content_edge") or "refused_mean_change" in colour_info
    conf = 0.0 if held else colour_info["confidence"]
    # a drift that the split map follows across the fill varies along the edge too
    sigma = edge_membrane.SPLIT_SIGMA if seam.split is not None else edge_membrane.SIGMA
    edge_info = {"gate": 0.0}
    if seam.gap == 0 and seam.position > 0:  # a hard seam inside the selection: its own edge first
        edge, edge_info = edge_membrane.inner_membrane(
            x, harmonised, harmonise.full_distance(measured), seam.position * measured.f, measured.f - 1,
            seam.z, conf, sigma)
    if not edge_info["gate"] > 0:
        edge, edge_info = edge_membrane.edge_membrane(harmonised, measured.inside, seam.edge_z, seam.gap,
                                                      conf, sigma)
    if edge_info["gate"] > 0:
        colour = colour + edge
        harmonised = add_clipped(x, colour)
    # a colour change made on its cap (an uncertain seam) uses up part of the texture cap's budget, and
    # so does the membrane (its RMS inside the fill bounds its RMS over the band, which holds the fill)
    spent = colour_info.get("capped_rms", 0.0) + edge_info.get("rms", 0.0)
    detail, texture_info = texture.match_texture(harmonised, mask, measured.sd, spent)
    if texture_info["gate"] > 0:
        change = colour + detail
        textured = add_clipped(x, change)
    else:  # no detail: clip(x + colour) is the harmonised image already (x itself where no colour)
        change, textured = colour, harmonised
    return textured, change, measured.sd, {"harmonise": colour_info, "membrane": edge_info,
                                           "texture": texture_info}
