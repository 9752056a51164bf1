"""How much of a colour seam can be recovered at all? Oracles and simple estimators on bench cases.

    python -m seamrefine_train colour_ceiling [--photos DIR] [--per-family 12] [--size 320] [--seed 0]
                                              [--selection default|hug]

Per family it prints the identity band PSNR and band ΔE00, and the band PSNR *gain* (and ΔE00) of:

* ``oracle_affine``: one global affine colour map (3×3 + offset) fitted by least squares from the
  composite to the **clean** image on the fully pasted pixels, applied with the mask as weight — the
  best a single per-image colour transform could do (it cheats: it sees the clean image);
* ``oracle_offset``: the same with only a constant offset (mean clean − composite, cheating too);
* ``oracle_map``: the refiner's colour map form (per channel a gain, an offset and a plane in x, y;
  ``seamrefine.runtime.colour_map``) fitted by least squares to the clean image over the fully
  pasted pixels, undone through the true paste alpha as the refiner undoes its map (it cheats);
* ``edge_map``: the same form fitted only on the fully pasted pixels within ``STRIP_PX`` px of the
  paste's edge: what perfect knowledge of the colour drift *at the seam* gives a map (it cheats there);
* ``edge_harmonic``: that drift at the seam carried into the fill by a harmonic membrane
  (``edge_membrane.membrane``), the ramp taking its nearest fully pasted pixel's drift times alpha:
  the best a boundary-driven (Poisson-like) correction could do;
* ``ring_offset``: the offset estimated from the image alone, as the difference between the median
  colour of a 1 px ring ``RING_PX`` px outside the mask edge and one ``RING_PX`` px inside;
* ``ring_offset_shrunk``: that estimate per 40 px cell, the median over cells, shrunk towards zero by
  its standard error (James–Stein style, factor ``1 − 2·se²/e²``).

It answers whether the colour targets are limited by the form of the correction, by the information
at the seam, or by how well the composite lets that information be estimated: the edge oracles see
the true drift at the seam, the refiner (``harmonise``, its classical stage as shipped) estimates it
from the composite.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from seamrefine.errors import SeamRefineError
from seamrefine.imaging import imagemath
from seamrefine.imaging import metrics as M
from seamrefine.runtime.colour_map import ColourMap
from seamrefine.runtime.edge_membrane import membrane

from .bench import COLOR, DEFAULT_PHOTOS, SELECTIONS, build_cases, harmonised
from .masks import signed_distance

RING_PX = 2
CELL_PX = 40
STRIP_PX = 3
MEMBRANE_SWEEPS = 400  # full-resolution fills of a 320 px crop: converged well before
METHODS = ("oracle_affine", "oracle_offset", "oracle_map", "edge_map", "edge_harmonic",
           "ring_offset", "ring_offset_shrunk", "harmonise")


def fully_pasted(alpha: np.ndarray) -> np.ndarray:
    """Pixels with alpha ≥ 0.99, or ≥ 0.5 when fewer than 50 are fully pasted (narrow strokes)."""
    sel = alpha >= 0.99
    return sel if sel.sum() >= 50 else alpha >= 0.5


def oracle_affine(
    composite: np.ndarray, clean: np.ndarray, alpha: np.ndarray, mask: np.ndarray
) -> np.ndarray:
    """Least-squares affine map composite → clean on pixels with alpha ≥ 0.99, applied with weight mask."""
    sel = fully_pasted(alpha)
    x = np.concatenate([composite[sel], np.ones((int(sel.sum()), 1), np.float32)], 1)
    coef, *_ = np.linalg.lstsq(x, clean[sel], rcond=None)
    flat = np.concatenate([composite.reshape(-1, 3), np.ones((composite[..., 0].size, 1), np.float32)], 1)
    mapped = (flat @ coef).reshape(composite.shape)
    return np.clip(composite + mask[..., None] * (mapped - composite), 0, 1).astype(np.float32)


def oracle_offset(
    composite: np.ndarray, clean: np.ndarray, alpha: np.ndarray, mask: np.ndarray
) -> np.ndarray:
    """The mean clean − composite offset over the fully pasted pixels, applied with weight mask."""
    sel = fully_pasted(alpha)
    off = (clean[sel] - composite[sel]).mean(0)
    return np.clip(composite + mask[..., None] * off, 0, 1).astype(np.float32)


def edge_strip(alpha: np.ndarray, width: int = STRIP_PX) -> np.ndarray:
    """The fully pasted pixels (``fully_pasted``) within ``width`` px of the rest of the image."""
    full = fully_pasted(alpha)
    dist = cv2.distanceTransform(np.pad(full, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
    return full & (dist <= width)


def least_squares_map(composite: np.ndarray, clean: np.ndarray, fit: np.ndarray, centre: tuple[float, float],
                      scale: float, gain: np.ndarray | None = None) -> ColourMap:
    """The ``ColourMap`` (position relative to ``centre``, in units of ``scale``) whose prediction from
    ``composite`` best fits ``clean`` over the pixels ``fit``, by least squares per channel: clean ≈
    g·composite + b + s_x·X + s_y·Y. With ``gain`` given (per channel, or a 3×3 matrix), only the
    offset and plane are fitted."""
    ys, xs = np.nonzero(fit)
    gx, gy = (xs - centre[1]) / scale, (ys - centre[0]) / scale
    coef = np.zeros((4, 3))
    colours = composite[ys, xs].astype(np.float64)
    if gain is not None:
        gain = np.asarray(gain, np.float64)
        scaled = colours @ gain.T if gain.ndim == 2 else colours * gain
    for c in range(3):
        x, y = colours[:, c], clean[ys, xs, c].astype(np.float64)
        if gain is None:
            coef[:, c] = np.linalg.lstsq(np.stack([x, np.ones(ys.size), gx, gy], 1), y, rcond=None)[0]
        else:
            design = np.stack([np.ones(ys.size), gx, gy], 1)
            coef[1:, c] = np.linalg.lstsq(design, y - scaled[:, c], rcond=None)[0]
    return ColourMap(coef[0] if gain is None else gain, coef[1], coef[2:], centre, scale)


def oracle_map(composite: np.ndarray, clean: np.ndarray, alpha: np.ndarray, fit: np.ndarray) -> np.ndarray:
    """``least_squares_map`` over the pixels ``fit`` (centred on the image, in units of its longer
    side), undone where the fill was pasted with ``alpha`` as the refiner undoes its own map
    (``ColourMap.change``)."""
    h, w = alpha.shape
    cmap = least_squares_map(composite, clean, fit, ((h - 1) / 2, (w - 1) / 2), float(max(h, w)))
    return np.clip(composite + cmap.change(composite, 1, alpha.astype(np.float32)), 0, 1).astype(np.float32)


def edge_harmonic(composite: np.ndarray, clean: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The true drift clean − composite on ``edge_strip`` carried over the fully pasted pixels by a
    harmonic membrane; each partly pasted pixel takes its nearest fully pasted pixel's drift × alpha."""
    full, strip = fully_pasted(alpha), edge_strip(alpha)
    drift = np.where(strip[..., None], clean - composite, 0.0).astype(np.float64)
    field = membrane(drift, strip, full, MEMBRANE_SWEEPS)
    _, label = cv2.distanceTransformWithLabels((~full).astype(np.uint8), cv2.DIST_L2, 5,
                                               labelType=cv2.DIST_LABEL_PIXEL)
    lut = np.zeros((int(label.max()) + 1, 3))
    lut[label[full]] = field[full]
    return np.clip(composite + alpha[..., None] * lut[label], 0, 1).astype(np.float32)


def ring_offset(composite: np.ndarray, mask: np.ndarray, shrink: bool) -> np.ndarray:
    """Offset = median(outer ring) − median(inner ring), optionally per cell with shrinkage (see module)."""
    sd = signed_distance(mask >= 0.5, 40)
    inner = (sd >= RING_PX - 0.5) & (sd < RING_PX + 0.5)
    outer = (sd <= 0.5 - RING_PX) & (sd > -0.5 - RING_PX)
    if not shrink:
        if inner.sum() < 10 or outer.sum() < 10:
            return composite.copy()
        off = np.median(composite[outer], 0) - np.median(composite[inner], 0)
    else:
        h, w = mask.shape
        yy, xx = np.mgrid[0:h, 0:w]
        cell = (yy // CELL_PX) * (w // CELL_PX + 1) + xx // CELL_PX
        ests = []
        for c in np.unique(cell[inner | outer]):
            i, o = inner & (cell == c), outer & (cell == c)
            if i.sum() >= 5 and o.sum() >= 5:
                ests.append(np.median(composite[o], 0) - np.median(composite[i], 0))
        if len(ests) < 3:
            return composite.copy()
        e = np.array(ests)
        off = np.median(e, 0)
        se = 1.25 * e.std(0) / np.sqrt(len(e))
        off = off * np.clip(1.0 - 2.0 * se**2 / np.maximum(off**2, 1e-12), 0.0, 1.0)
    return np.clip(composite + mask[..., None] * off, 0, 1).astype(np.float32)


def gains(case) -> dict[str, float]:
    """Band PSNR of identity and the gain of every method in ``METHODS`` for one synthetic case, and
    the band ΔE00 of each (``de_`` + name)."""
    band = imagemath.band_weights(case.mask, 16, 8)
    base = M.band_psnr(case.composite, case.clean, band)
    c, clean, alpha = case.composite, case.clean, case.alpha
    outs = {
        "oracle_affine": oracle_affine(c, clean, alpha, case.mask),
        "oracle_offset": oracle_offset(c, clean, alpha, case.mask),
        "oracle_map": oracle_map(c, clean, alpha, fully_pasted(alpha)),
        "edge_map": oracle_map(c, clean, alpha, edge_strip(alpha)),
        "edge_harmonic": edge_harmonic(c, clean, alpha),
        "ring_offset": ring_offset(c, case.mask, shrink=False),
        "ring_offset_shrunk": ring_offset(c, case.mask, shrink=True),
        "harmonise": harmonised(c, case.mask),
    }
    res = {"identity": base, "de_identity": M.band_delta_e(c, clean, band)}
    for name, out in outs.items():
        out = imagemath.composite(c, out, band)
        res[name] = M.band_psnr(out, clean, band) - base
        res["de_" + name] = M.band_delta_e(out, clean, band)
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m seamrefine_train colour_ceiling", description=__doc__.split("\n")[0]
    )
    p.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    p.add_argument("--per-family", type=int, default=12)
    p.add_argument("--size", type=int, default=320)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--families", default=",".join((*COLOR, "latent_smear", "mixed")))
    p.add_argument("--selection", default="default", choices=sorted(SELECTIONS),
                   help="how selections meet the fill, as in the benchmark")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    fams = [f for f in args.families.split(",") if f]
    per: dict[str, list[dict]] = {}
    try:
        cases = build_cases(args.photos, args.per_family, args.size, args.seed, fams, args.selection)
    except SeamRefineError as e:
        print(f"colour_ceiling: {e.message}", file=sys.stderr)
        return 2
    for case in cases:
        per.setdefault(case.family, []).append(gains(case))
    print(f"band PSNR gain over identity, dB / band ΔE00 ({args.per_family}/family, {args.size} px, "
          f"seed {args.seed}, {args.selection} selections)")
    print(f"| family | identity | {' | '.join(METHODS)} |\n|---|---|{'---|' * len(METHODS)}")
    for fam, rows in per.items():
        mean = {k: np.mean([r[k] for r in rows]) for k in rows[0]}
        vals = " | ".join(f"{mean[m]:+.2f} / {mean['de_' + m]:.2f}" for m in METHODS)
        print(f"| {fam} | {mean['identity']:.2f} / {mean['de_identity']:.2f} | {vals} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
