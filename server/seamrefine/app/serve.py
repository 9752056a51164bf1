"""``seam-refine serve``: start the local refiner daemon (:class:`~seamrefine.service.daemon.Daemon`).

``serve`` takes the per-user instance lock, sets up logging, loads and warms the model, binds, publishes
endpoint.json, notifies systemd READY and serves until SIGTERM/SIGINT. The serving loop itself (threads,
queue, cancel) lives in :mod:`seamrefine.service.daemon`.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import signal
import sys
import threading
import time
from pathlib import Path

import zmq

from ..errors import SeamRefineError
from ..runtime.allocator import IdleRelease, keep_large_buffers, one_malloc_arena, release_free_memory
from ..service import paths
from ..service.daemon import Daemon, warm_up
from ..service.paths import InstanceLock, sd_notify
from ..service.protocol import DEFAULT_MAX_PIXELS

log = logging.getLogger("seamrefine.daemon")


class PrivateLogFile(logging.handlers.RotatingFileHandler):
    """``daemon.log`` (and each file rotation starts) with mode 0600: only the user reads the log."""

    def _open(self):
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in self.mode else os.O_TRUNC)
        fd = os.open(self.baseFilename, flags, 0o600)
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # a log file from an older version may be 0644
        return os.fdopen(fd, self.mode, encoding=self.encoding, errors=self.errors)


def setup_logging(level: str = "INFO") -> Path | None:
    """Log to stderr and to ``daemon.log`` in the (0700) log dir, mode 0600; the log file's path."""
    root = logging.getLogger("seamrefine")
    root.setLevel(level.upper())
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(process)d]: %(message)s")
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(fmt)
    root.addHandler(stderr)
    try:
        path = paths.log_dir(create=True) / "daemon.log"
        fh = PrivateLogFile(path, maxBytes=1 << 20, backupCount=3, encoding="utf-8")
        fh.setFormatter(fmt)
        root.addHandler(fh)
        return path
    except OSError as exc:
        log.warning("no log file: %s", exc)
        return None


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(prog="seam-refine serve", description="Run the Seam Refine daemon.")
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: a free one)")
    p.add_argument("--model", type=Path, default=None, help="model .onnx (default: the shipped model)")
    p.add_argument("--cpu", action="store_true", help="use the CPU even where CUDA is available")
    p.add_argument("--queue", type=int, default=4, help="requests that may wait (default 4); more get 'busy'")
    p.add_argument(
        "--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="largest image (default 8192×8192)"
    )
    p.add_argument(
        "--max-message-bytes",
        type=int,
        default=None,
        help="largest request (default: header + RGBA float32 image + float32 mask of --max-pixels)",
    )
    p.add_argument("--runtime-dir", type=Path, default=None, help="override the runtime dir (endpoint.json)")
    p.add_argument("--no-ipc", action="store_true", help="do not bind an ipc:// endpoint")
    p.add_argument("--log-level", default="INFO")
    return p


def serve(args: argparse.Namespace) -> int:
    """Lock, load + warm the model, bind, publish endpoint.json, notify READY, serve; exit code."""
    t_start = time.perf_counter()
    one_malloc_arena()
    keep_large_buffers()
    if args.runtime_dir:
        os.environ[paths.ENV_RUNTIME_DIR] = str(args.runtime_dir)
    log_path = setup_logging(args.log_level)
    try:
        root = paths.runtime_dir(create=True)  # 0700 and ours, or refused
    except (SeamRefineError, OSError) as exc:
        print(f"seam-refine: cannot start: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 1
    lock = InstanceLock(paths.lock_path(root))
    if not lock.acquire():
        try:
            other = paths.read_endpoint(root) or {}
        except SeamRefineError:
            other = {}
        print(
            f"seam-refine: a daemon is already running for this user (pid {other.get('pid', '?')}, "
            f"{other.get('endpoint', 'endpoint unknown')}); not starting a second one",
            file=sys.stderr,
        )
        return 2
    daemon = None
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in _signals()}
    try:
        try:
            from ..runtime.inference import Refiner

            providers = ["CPUExecutionProvider"] if args.cpu else None
            refiner = Refiner(args.model, providers=providers, max_pixels=args.max_pixels)
            warm = warm_up(refiner)
        except SeamRefineError as exc:
            print(f"seam-refine: cannot start: {exc.message}", file=sys.stderr)
            return 1
        except Exception as exc:  # onnxruntime raises its own types for corrupt files
            print(f"seam-refine: cannot start: the model failed to load: {exc}", file=sys.stderr)
            return 1
        daemon = Daemon(
            refiner,
            root=root,
            port=args.port,
            queue_size=args.queue,
            use_ipc=not args.no_ipc,
            max_pixels=args.max_pixels,
            max_message_bytes=args.max_message_bytes,
            idle=IdleRelease(release_free_memory),
        )
        try:
            daemon.bind()
        except zmq.ZMQError as exc:
            print(f"seam-refine: cannot bind tcp://127.0.0.1:{args.port}: {exc}", file=sys.stderr)
            return 1
        stop_watch = threading.Thread(target=lambda: (stop.wait(), daemon.stop()), daemon=True)
        stop_watch.start()
        daemon.write_endpoint()
        sd_notify(f"READY=1\nMAINPID={os.getpid()}\nSTATUS=serving on {daemon.endpoint}")
        log.info(
            "serving %s%s model %s (%s) on %s; warm-up %.2f s, ready in %.2f s; log %s",
            daemon.endpoint,
            f" and {daemon.ipc}" if daemon.ipc else "",
            daemon.model["name"],
            daemon.model["sha256"][:12],
            daemon.provider,
            warm,
            time.perf_counter() - t_start,
            log_path,
        )
        daemon.run()
        sd_notify("STOPPING=1")
        log.info("stopped")
        return 0
    finally:
        if daemon is not None:
            daemon.remove_endpoint()
        lock.release()
        for s, h in previous.items():
            signal.signal(s, h)


def _signals() -> list:
    return [s for s in (getattr(signal, n, None) for n in ("SIGTERM", "SIGINT", "SIGBREAK", "SIGHUP")) if s]


def main(argv: list[str] | None = None) -> int:
    return serve(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
