"""Peak memory and time of one in-process refine of a large image (``python -m seamrefine_train
bench_memory``; the 16 MP line of MODEL.md's "Speed and memory").

The image is a smooth random colour field with grain, side × side uint8; the fill is a frame
``frame`` px wide whose outer edge lies 3 % of the side inside the image (at 4096 px: 4.3 MP of
fill, so the refined crop is the whole image and runs as several tiles), pasted with a uniform
colour drift so every stage runs. Peak RSS is ``ru_maxrss`` of this process, so run it alone in a
fresh process; the test image's own share is printed beside it.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import cv2
import numpy as np


def frame_case(side: int, frame: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(image uint8 side×side×3, mask uint8 0/255): a frame-shaped fill with a colour drift."""
    rng = np.random.default_rng(seed)
    coarse = rng.normal(0.0, 1.0, (side // 64 + 1, side // 64 + 1, 3)).astype(np.float32)
    field = cv2.resize(coarse, (side, side), interpolation=cv2.INTER_CUBIC)
    img = 0.5 + 0.08 * field / max(float(field.std()), 1e-6)
    img += rng.normal(0.0, 0.015, img.shape).astype(np.float32)
    mask = np.zeros((side, side), np.uint8)
    a = max(1, int(round(0.03 * side)))
    mask[a:side - a, a:side - a] = 255
    inner = a + frame
    if side - 2 * inner > 0:
        mask[inner:side - inner, inner:side - inner] = 0
    fill = mask[..., None] > 0
    img = np.where(fill, img * np.float32([1.06, 1.0, 0.9]) + np.float32([0.02, 0.0, -0.01]), img)
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), mask


def peak_rss_mib() -> float:
    """This process's peak resident set size in MiB (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m seamrefine_train bench_memory", description=__doc__)
    p.add_argument("--side", type=int, default=4096, help="image side in px (default 4096: 16 MP)")
    p.add_argument("--frame", type=int, default=300, help="width of the frame-shaped fill in px")
    args = p.parse_args(argv)
    from seamrefine.runtime.allocator import keep_large_buffers
    from seamrefine.runtime.inference import Refiner  # lazy: loads onnxruntime and the model

    keep_large_buffers()  # the daemon's malloc settings (``seam-refine serve``)

    image, mask = frame_case(args.side, args.frame)
    before = peak_rss_mib()
    t0 = time.perf_counter()
    out, info = Refiner().refine(image, mask)
    seconds = time.perf_counter() - t0
    changed = float((out != image).any(axis=2).mean())
    print(f"{args.side}×{args.side} uint8, fill {float((mask > 0).mean()) * args.side**2 / 1e6:.1f} MP, "
          f"{info.get('tiles')} tiles: {seconds:.1f} s, peak RSS {peak_rss_mib():.0f} MiB "
          f"({before:.0f} MiB before the refine, test image included); {changed:.1%} of pixels changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
