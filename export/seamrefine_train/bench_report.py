"""Summary statistics, text report, contact sheet and the 1 MP timing of the seam benchmark (``bench``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from seamrefine.imaging import metrics as M
from seamrefine.runtime.jpeg_match import recompress, to_u8

from . import synthesis

JPEG_PHOTO = (85, 2)  # quality and PIL subsampling (4:2:0) of the timing case's JPEG photo
TIMING_RUNS = 7  # timed calls per method on the 1 MP case (after one warm-up); the median is reported


def format_report(summary: dict, methods: list[str]) -> str:
    lines = []
    head = f"{'method':15s} {'PSNR':>6s} {'gain':>6s} {'ΔE00':>5s} {'grad':>6s} {'noise↓':>7s} {'sharp↓':>7s}"
    head += f" {'better':>6s} {'worse':>5s} {'seam':>5s} {'ms/MP':>7s}"
    for fam, per in summary.items():
        n = next(iter(per.values()))["cases"]
        first = next(iter(per.values()))
        base_seam, clean_seam = first["seam_base"], first["seam_clean"]
        title = f"== {fam} ({n} cases; seam score composite {base_seam:.2f}, clean {clean_seam:.2f}) =="
        lines += ["", title, head]
        for m in methods:
            s = per.get(m)
            if s is None:
                continue
            lines.append(
                f"{m:15s} {s['psnr']:6.2f} {s['gain']:+6.2f} {s['de']:5.2f} {s['grad']:6.4f} "
                f"{s['noise_reduction']:7.0%} {s['blur_reduction']:7.0%} "
                f"{s['improved']:6.0%} {s['worse']:5.0%} "
                f"{s['seam']:5.2f} {s['ms_per_mp']:7.0f}"
            )
    return "\n".join(lines)


SHIFT_BINS = (0.0, 1.0, 3.0, 6.0, float("inf"))  # mean RGB shift of the fill, % of full scale
VISIBLE_SHIFT = SHIFT_BINS[1]  # the bins from here up hold visible seams (the ΔE00 target)
TOL_DB = 0.1  # a case above / below its composite by more than this is better / worse


def colour_shift(case) -> float:
    """How far the fill's colour is off, in % of full scale: the mean |composite − clean| over the fully
    pasted pixels, both Gaussian-blurred (σ 2 px) so that grain and detail do not count."""
    full = case.alpha >= 0.99 if case.alpha is not None else case.mask >= 0.99
    if not full.any():
        return 0.0
    diff = cv2.GaussianBlur(case.composite, (0, 0), 2.0) - cv2.GaussianBlur(case.clean, (0, 0), 2.0)
    return float(np.abs(diff[full]).mean() * 100.0)


def format_bins(rows: list[dict], methods: list[str], families: tuple[str, ...]) -> str:
    """Gain over the composite, band ΔE00 and share of cases worse, per colour-shift bin, over
    ``families``."""
    sel = [r for r in rows if r["family"] in families]
    lines = ["", f"== colour families by mean RGB shift of the fill ({', '.join(families)}) ==",
             f"{'method':15s} " + " ".join(f"{_bin_name(i):>24s}" for i in range(len(SHIFT_BINS) - 1))]
    for m in methods:
        cells = []
        for i in range(len(SHIFT_BINS) - 1):
            rs = [r for r in sel if r["method"] == m and SHIFT_BINS[i] <= r["shift"] < SHIFT_BINS[i + 1]]
            if not rs:
                cells.append(f"{'—':>24s}")
                continue
            gain, de = float(np.mean([r["gain"] for r in rs])), float(np.mean([r["de"] for r in rs]))
            worse = float(np.mean([r["gain"] < -TOL_DB for r in rs]))
            cells.append(f"{gain:+6.2f} ΔE{de:5.2f} w{worse:4.0%} n{len(rs):<3d}")
        lines.append(f"{m:15s} " + " ".join(cells))
    return "\n".join(lines)


def _bin_name(i: int) -> str:
    lo, hi = SHIFT_BINS[i], SHIFT_BINS[i + 1]
    return f"< {hi:g} %" if lo == 0 else f"> {lo:g} %" if hi == float("inf") else f"{lo:g}–{hi:g} %"


def _nanmean(v) -> float:
    v = np.asarray(v, float)
    return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")


def _reduction(rows: list[dict], key: str) -> float:
    base, now = _nanmean([r[key + "_base"] for r in rows]), _nanmean([r[key] for r in rows])
    return 1.0 - now / base if base > 1e-9 else float("nan")


def summarise(rows: list[dict]) -> dict:
    """{family: {method: stats}} plus an "all_artifacts" pseudo-family (every family but clean)."""
    out: dict = {}
    groups = list(dict.fromkeys(r["family"] for r in rows))  # in the cases' order: family by family
    for fam in [*groups, "all_artifacts"]:
        sel = [r for r in rows if (r["family"] == fam or (fam == "all_artifacts" and r["family"] != "clean"))]
        if not sel:
            continue
        out[fam] = {}
        for method in dict.fromkeys(r["method"] for r in sel):
            rs = [r for r in sel if r["method"] == method]
            out[fam][method] = {
                "cases": len(rs),
                "psnr": _nanmean([r["psnr"] for r in rs]),
                "gain": _nanmean([r["gain"] for r in rs]),
                "psnr_in_min": float(min(r["psnr_in"] for r in rs)),
                "de": _nanmean([r["de"] for r in rs]),
                "grad": _nanmean([r["grad"] for r in rs]),
                "grad_reduction": _reduction(rs, "grad"),
                "noise_reduction": _reduction(rs, "noise_mm"),
                "blur_reduction": _reduction(rs, "blur_mm"),
                "texture_reduction": 1.0
                - (_nanmean([r["noise_mm"] for r in rs]) + _nanmean([r["blur_mm"] for r in rs]))
                / max(
                    _nanmean([r["noise_mm_base"] for r in rs]) + _nanmean([r["blur_mm_base"] for r in rs]),
                    1e-9,
                ),
                "improved": float(np.mean([r["gain"] > TOL_DB for r in rs])),
                "worse": float(np.mean([r["gain"] < -TOL_DB for r in rs])),
                "seam": _nanmean([r["seam"] for r in rs]),
                "seam_base": _nanmean([r["seam_base"] for r in rs]),
                "seam_clean": _nanmean([r["seam_clean"] for r in rs]),
                "changed_outside": int(sum(r["changed_outside"] for r in rs)),
                "ms_per_mp": float(np.median([r["ms_per_mp"] for r in rs])),
                # the colour bins: ΔE00 where the seam is visible, the gain where it is not
                "de_visible": _nanmean([r["de"] for r in rs if r["shift"] >= VISIBLE_SHIFT]),
                "gain_subtle": _nanmean([r["gain"] for r in rs if r["shift"] < VISIBLE_SHIFT]),
            }
    return out


ZOOM_FAMILIES = ("noise", "blur", "jpeg", "latent_smear", "truncation")  # get a 200 % crop row too


def zoom_window(mask: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left (y, x) of a ``size``² window centred on the mask edge pixel nearest the centre of the
    edge's bounding box (the seam where it is most typical), clipped to the image."""
    h, w = mask.shape
    if not (mask >= 0.5).any():
        return max(0, (h - size) // 2), max(0, (w - size) // 2)
    ys, xs = np.nonzero(M.edge_ring(mask, 1) & (mask >= 0.5))
    cy, cx = (ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2
    k = int(np.argmin((ys - cy) ** 2 + (xs - cx) ** 2))
    return (int(np.clip(ys[k] - size // 2, 0, max(0, h - size))),
            int(np.clip(xs[k] - size // 2, 0, max(0, w - size))))


def contact_sheet(kept: dict, rows: list[dict], methods: list[str], path: Path, tile: int) -> None:
    """PNG grid: one row per chosen case, columns composite / each method / clean; red dots = mask edge.
    Cases of the texture families (``ZOOM_FAMILIES``) get a second row: the same columns as 200 %
    crops across the seam (``zoom_window``), where grain, sharpness and blocks can be seen."""
    from PIL import Image, ImageDraw

    outs = {(r["case"], r["method"]): r["out"] for r in rows if "out" in r}
    methods = [m for m in methods if m != "identity"]  # identical to the composite column
    cols = ["composite", *methods, "clean"]
    label_h = 18
    lines = [(ci, case, zoom) for ci, case in kept.items()
             for zoom in ((False, True) if case.family in ZOOM_FAMILIES else (False,))]
    sheet = Image.new("RGB", (tile * len(cols), label_h + tile * len(lines)), (32, 32, 32))
    draw = ImageDraw.Draw(sheet)
    for j, name in enumerate(cols):
        draw.text((j * tile + 4, 3), name, fill=(255, 255, 255))
    for i, (ci, case, zoom) in enumerate(lines):
        imgs = [case.composite, *[outs[(ci, m)] for m in methods], case.clean]
        mask = case.mask
        if zoom:
            half = max(1, tile // 2)
            y0, x0 = zoom_window(mask, half)
            imgs = [np.asarray(img)[y0 : y0 + half, x0 : x0 + half] for img in imgs]
            mask = mask[y0 : y0 + half, x0 : x0 + half]
        for j, img in enumerate(imgs):
            u8 = Image.fromarray(np.clip(np.rint(np.asarray(img) * 255), 0, 255).astype(np.uint8))
            resample = Image.Resampling.NEAREST if zoom else Image.Resampling.LANCZOS
            sheet.paste(u8.resize((tile, tile), resample), (j * tile, label_h + i * tile))
        ys, xs = np.nonzero(M.edge_ring(mask, 1) & (mask >= 0.5)) if (mask >= 0.5).any() else ([], [])
        sy, sx = tile / mask.shape[0], tile / mask.shape[1]
        draw.point(
            [(int(x * sx), label_h + i * tile + int(y * sy)) for y, x in zip(ys[::2], xs[::2], strict=True)],
            fill=(255, 0, 0),
        )
        draw.text((4, label_h + i * tile + 4), case.family + (" 200 %" if zoom else ""), fill=(255, 255, 0))
    sheet.save(path)


def timing_1mp(
    methods: dict[str, Callable], photos_dir: Path, seed: int, runs: int = TIMING_RUNS, jpeg_photo=()
) -> dict[str, float]:
    """Median seconds per refine for each method on one 1024×1024 colour_uniform case: one untimed
    warm-up call each (session start-up, allocator, caches), then the median of ``runs`` timed calls,
    the methods taking turns within each round. The methods named in ``jpeg_photo`` are timed again,
    as ``<name>_jpeg_photo``, on the same fill pasted into the photo saved as a JPEG (``JPEG_PHOTO``:
    most photos are, and then the refiner's JPEG stage measures how it was compressed)."""
    paths = synthesis.list_photos(photos_dir)
    rng = np.random.default_rng([seed, 999_999])
    crop = synthesis.random_crop(synthesis.load_photo(paths[int(rng.integers(len(paths)))]), 1024, rng)
    case = synthesis.make_case(crop, seed, 999_999, "color_uniform")
    jobs = [(name, fn, case.composite) for name, fn in methods.items()]
    if jpeg_photo:
        photo = recompress(to_u8(case.clean, (slice(None), slice(None))), *JPEG_PHOTO) / np.float32(255)
        alpha = case.alpha[..., None]
        pasted = (photo * (1.0 - alpha) + case.composite * alpha).astype(np.float32)
        jobs += [(f"{name}_jpeg_photo", methods[name], pasted) for name in jpeg_photo]
    for _, fn, image in jobs:
        fn(image, case.mask)
    times: dict[str, list[float]] = {name: [] for name, _, _ in jobs}
    for _ in range(runs):  # interleaved: a slow spell of the machine hits every method alike
        for name, fn, image in jobs:
            t0 = time.perf_counter()
            fn(image, case.mask)
            times[name].append(time.perf_counter() - t0)
    return {name: float(np.median(t)) for name, t in times.items()}
