"""``seam-refine`` command line: serve, refine, batch, daemon {install-autostart,…}, demo, and the lazy
subcommands bench / install-plugin / train that live in other modules.

Errors print one line (``seam-refine: …``) and exit non-zero; no tracebacks for SeamRefineError.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import time
from pathlib import Path

from ..errors import DaemonUnavailableError, ImageTooLargeError, InputError, SeamRefineError
from ..imaging.imagemath import COLORSPACES
from ..runtime.limits import MAX_PIXELS, megapixels
from ..runtime.params import RefineParams
from .console import format_score, progress_bar
from .imagefiles import IMAGE_EXTS, check_writable, load_image, load_mask, save_image

LAZY = {
    "bench": ("seamrefine_train.bench", "benchmark the refiner against baselines (seamrefine_train.bench)"),
    "install-plugin": ("seamrefine.app.install_plugin", "install the Krita or GIMP plugin"),
    "train": ("seamrefine_train.train", "train the refiner (needs the [train] extra)"),
}
DISTRIBUTION = "seam-refine"


def extra_providing(module: str | None) -> str | None:
    """The optional extra of seam-refine (``train``, ``dev``) whose requirements install ``module``."""
    from importlib import metadata

    if not module:
        return None
    try:
        requirements = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return None
    top = module.split(".")[0].lower()
    for requirement in requirements:
        found = re.match(r"\s*([A-Za-z0-9_.-]+)[^;]*;.*extra\s*==\s*[\"']([\w-]+)[\"']", requirement)
        if found and found.group(1).lower().replace("-", "_") == top:
            return found.group(2)
    return None


def _missing_module_message(command: str, exc: ImportError) -> str:
    extra = extra_providing(getattr(exc, "name", None))
    if extra is None:
        return f"`{command}` is not available ({exc})"
    return (
        f"`{command}` needs {exc.name}, which the [{extra}] extra installs: "
        f"pip install '{DISTRIBUTION}[{extra}]' (in a checkout: pip install -e '.[{extra}]')"
    )


# ---- refine / batch ---------------------------------------------------------------------------
def open_refiner(mode: str = "auto", model: Path | None = None, cpu: bool = False, timeout: float = 600.0):
    """(refiner, where): the running daemon's Client (or, with ``mode == "daemon"``, an error when none
    runs), else an in-process Refiner. Both answer ``refine(image, mask, params) -> (image, info)``."""
    from ..service import paths

    if mode == "daemon" or (mode == "auto" and model is None and paths.read_endpoint() is not None):
        from ..service.client import Client

        return Client(timeout=timeout), "daemon"
    from ..runtime.inference import Refiner

    return Refiner(model, providers=["CPUExecutionProvider"] if cpu else None), "in-process"


def _close(refiner) -> None:
    close = getattr(refiner, "close", None)  # a Client holds a socket; a Refiner holds nothing to close
    if close is not None:
        close()


def refine_with(refiner, where: str, image, mask, params: RefineParams):
    """``refiner.refine(image, mask, params)``; a daemon's ``too_large`` says what to do about it.

    The CLI reads files up to the one pixel limit (runtime.limits.MAX_PIXELS), which is also the daemon's
    default; a daemon started with a lower ``--max-pixels``/``--max-message-bytes`` refuses less."""
    try:
        return refiner.refine(image, mask, params)
    except ImageTooLargeError as exc:
        if where != "daemon":
            raise
        raise ImageTooLargeError(
            f"{exc.message} (the running daemon's limit, see `seam-refine daemon status`); refine it in "
            f"this process with --no-daemon (limit {megapixels(MAX_PIXELS)}), or restart the daemon "
            "without a lower --max-pixels",
            exc.value,
        ) from None


def _mode(args) -> str:
    return "daemon" if args.daemon else "local" if args.no_daemon else "auto"


def _params(args) -> RefineParams:
    return RefineParams(args.strength, args.samples, args.band, args.colorspace)


def cmd_refine(args) -> int:
    params = _params(args)
    image, mask = load_image(args.image), load_mask(args.mask)
    check_writable(args.output, image)  # before the work, not after it
    refiner, where = open_refiner(_mode(args), args.model, args.cpu)
    try:
        t0 = time.perf_counter()
        out, info = refine_with(refiner, where, image, mask, params)
        save_image(args.output, out)
    finally:
        _close(refiner)
    before, after = format_score(info.get("seam_score_before")), format_score(info.get("seam_score_after"))
    why = "strength 0" if params.strength == 0 else "no seam found"
    unchanged = f"; {why}, the image is unchanged" if info.get("changed") is False else ""
    took = time.perf_counter() - t0
    print(f"{args.output}: seam score {before} → {after} ({where}, {took:.2f} s){unchanged}")
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
    params = _params(args)
    refiner, where = open_refiner(_mode(args), args.model, args.cpu)
    failed = []
    try:
        for i, path in enumerate(images):
            progress_bar(i, len(images), path.name)
            mpath = find_mask(masks, path)
            try:
                if mpath is None:
                    raise InputError(f"no mask for {path.name} in {masks}", path.name)
                out, _ = refine_with(refiner, where, load_image(path), load_mask(mpath), params)
                save_image(outdir / (path.stem + ".png"), out)
            except (SeamRefineError, OSError) as exc:
                if isinstance(exc, DaemonUnavailableError):
                    raise
                failed.append(f"{path.name}: {getattr(exc, 'message', exc)}")
        progress_bar(len(images), len(images), "done")
    finally:
        _close(refiner)
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
            choices=COLORSPACES,
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
                print(f"seam-refine: {_missing_module_message(argv[0], exc)}", file=sys.stderr)
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
