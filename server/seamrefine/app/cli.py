"""``seam-refine`` command line: serve, refine, batch, daemon {install-autostart,…}, demo, and the lazy
subcommands bench / install-plugin / train that live in other modules.

Errors print one line (``seam-refine: …``) and exit non-zero; no tracebacks for SeamRefineError.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import DaemonUnavailableError, InputError, SeamRefineError
from .console import format_score, progress_bar
from .imagefiles import IMAGE_EXTS, load_image, load_mask, save_image

LAZY = {
    "bench": ("seamrefine_train.bench", "benchmark the refiner against baselines (seamrefine_train.bench)"),
    "install-plugin": ("seamrefine.app.install_plugin", "install the Krita or GIMP plugin"),
    "train": ("seamrefine_train.train", "train the refiner (needs the [train] extra)"),
}


# ---- refine / batch ---------------------------------------------------------------------------
class Backend:
    """Refines through the running daemon when there is one (or ``mode == "daemon"``), else in-process."""

    def __init__(
        self, mode: str = "auto", model: Path | None = None, cpu: bool = False, timeout: float = 600.0
    ):
        from ..service import paths

        self.client = None
        self.refiner = None
        if mode == "daemon" or (mode == "auto" and model is None and paths.read_endpoint() is not None):
            from ..service.client import Client

            self.client = Client(timeout=timeout)
            self.where = "daemon"
        else:
            from ..runtime.inference import Refiner

            self.refiner = Refiner(model, providers=["CPUExecutionProvider"] if cpu else None)
            self.where = "in-process"

    def refine(
        self, image, mask, *, strength, samples, band, colorspace="srgb", progress=None
    ) -> tuple[np.ndarray, tuple]:
        kw = {"strength": strength, "samples": samples, "band": band, "colorspace": colorspace}
        if self.client is not None:
            out, header = self.client.refine(image, mask, progress=progress, **kw)
            return out, (header.get("seam_score_before"), header.get("seam_score_after"))
        out = self.refiner.refine(image, mask, progress=progress, **kw)
        return out, tuple(getattr(self.refiner, "last_scores", None) or (None, None))

    def close(self) -> None:
        if self.client is not None:
            self.client.close()


def _mode(args) -> str:
    return "daemon" if args.daemon else "local" if args.no_daemon else "auto"


def cmd_refine(args) -> int:
    image, mask = load_image(args.image), load_mask(args.mask)
    backend = Backend(_mode(args), args.model, args.cpu)
    try:
        t0 = time.perf_counter()
        out, (before, after) = backend.refine(
            image,
            mask,
            strength=args.strength,
            samples=args.samples,
            band=args.band,
            colorspace=args.colorspace,
        )
        save_image(args.output, out)
    finally:
        backend.close()
    print(
        f"{args.output}: seam score {format_score(before)} → {format_score(after)} ({backend.where}, "
        f"{time.perf_counter() - t0:.2f} s)"
    )
    return 0


def find_mask(masks: Path, image: Path) -> Path | None:
    """``MASKDIR/<same name>``, else ``<stem>.<any image ext>``, else ``<stem>_mask.<ext>``."""
    if (masks / image.name).is_file():
        return masks / image.name
    for stem in (image.stem, image.stem + "_mask"):
        for ext in IMAGE_EXTS:
            if (masks / (stem + ext)).is_file():
                return masks / (stem + ext)
    return None


def cmd_batch(args) -> int:
    indir, masks, outdir = Path(args.indir), Path(args.masks), Path(args.output)
    if not indir.is_dir():
        raise InputError(f"input folder not found: {indir}", str(indir))
    if not masks.is_dir():
        raise InputError(f"mask folder not found: {masks}", str(masks))
    images = sorted(p for p in indir.iterdir() if p.suffix.lower() in IMAGE_EXTS)
    if not images:
        raise InputError(f"no images in {indir}", str(indir))
    backend = Backend(_mode(args), args.model, args.cpu)
    failed = []
    try:
        for i, path in enumerate(images):
            progress_bar(i, len(images), path.name)
            mpath = find_mask(masks, path)
            try:
                if mpath is None:
                    raise InputError(f"no mask for {path.name} in {masks}", path.name)
                out, _ = backend.refine(
                    load_image(path),
                    load_mask(mpath),
                    strength=args.strength,
                    samples=args.samples,
                    band=args.band,
                    colorspace=args.colorspace,
                )
                save_image(outdir / (path.stem + ".png"), out)
            except (SeamRefineError, OSError) as exc:
                if isinstance(exc, DaemonUnavailableError):
                    raise
                failed.append(f"{path.name}: {getattr(exc, 'message', exc)}")
        progress_bar(len(images), len(images), "done")
    finally:
        backend.close()
    for line in failed:
        print(f"seam-refine: skipped {line}", file=sys.stderr)
    print(f"{len(images) - len(failed)} of {len(images)} refined into {outdir}")
    return 1 if failed else 0


# ---- daemon management ------------------------------------------------------------------------
def cmd_daemon(args) -> int:
    from ..service import paths
    from . import autostart

    if args.action == "install-autostart":
        for p in autostart.install():
            print(f"wrote {p}")
        return 0
    if args.action == "uninstall-autostart":
        for p in autostart.uninstall():
            print(f"removed {p}")
        return 0
    info = paths.read_endpoint()
    print(f"autostart: {autostart.status()}")
    if info is None:
        print(f"daemon: not running (runtime dir {paths.runtime_dir()})")
        return 3
    from ..service.client import Client

    with Client(timeout=5.0) as c:
        hello = c.hello()
    print(
        f"daemon: running, pid {info['pid']}, {info['endpoint']}"
        + (f" and {info['ipc']}" if "ipc" in info else "")
    )
    print(
        f"version {hello['version']}, protocol {hello['protocol']}, model {hello['model']['name']} "
        f"({hello['model']['sha256'][:12]}), provider {hello['provider']}, limits {hello['limits']}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__
    from . import demo, serve

    p = argparse.ArgumentParser(prog="seam-refine", description="Remove the seam a generative fill leaves.")
    p.add_argument("--version", action="version", version=f"seam-refine {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    s = sub.add_parser("serve", help="run the refiner daemon")
    serve.build_parser(s)
    s.set_defaults(func=serve.serve)
    for name in ("refine", "batch"):
        s = sub.add_parser(name, help="refine one image" if name == "refine" else "refine a folder of images")
        if name == "refine":
            s.add_argument("image", type=Path)
            s.add_argument(
                "--mask", type=Path, required=True, help="grayscale mask: white = generated region"
            )
            s.add_argument("-o", "--output", type=Path, required=True)
        else:
            s.add_argument("indir", type=Path)
            s.add_argument("--masks", type=Path, required=True, help="folder with one mask per image")
            s.add_argument("-o", "--output", type=Path, required=True, help="output folder")
        s.add_argument("--strength", type=float, default=1.0)
        s.add_argument("--samples", type=int, default=1)
        s.add_argument("--band", type=int, default=None, help="band width in px (default: the model's)")
        s.add_argument(
            "--colorspace",
            choices=("srgb", "linear"),
            default="srgb",
            help="how the image's values are encoded (default srgb; linear for linear-light files)",
        )
        g = s.add_mutually_exclusive_group()
        g.add_argument("--daemon", action="store_true", help="require the running daemon")
        g.add_argument("--no-daemon", action="store_true", help="refine in this process")
        s.add_argument("--model", type=Path, default=None, help="model .onnx for in-process refining")
        s.add_argument("--cpu", action="store_true")
        s.set_defaults(func=cmd_refine if name == "refine" else cmd_batch)
    s = sub.add_parser("daemon", help="daemon autostart and status")
    s.add_argument("action", choices=("install-autostart", "uninstall-autostart", "status"))
    s.set_defaults(func=cmd_daemon)
    s = sub.add_parser("demo", help="refine the bundled sample through a real daemon (main job)")
    demo.build_parser(s)
    s.set_defaults(func=demo.run)
    for name, (_, help_) in LAZY.items():
        sub.add_parser(name, help=help_, add_help=False)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in LAZY:
            module = LAZY[argv[0]][0]
            try:
                mod = importlib.import_module(module)
            except ImportError as exc:
                print(
                    f"seam-refine: `{argv[0]}` is not available ({exc}); install the extra it needs",
                    file=sys.stderr,
                )
                return 1
            return int(mod.main(argv[1:]) or 0)
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except SeamRefineError as exc:
        print(f"seam-refine: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("seam-refine: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
