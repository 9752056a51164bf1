"""The refiner daemon's serving loop (ZeroMQ ROUTER, docs/protocol.md); ``seamrefine.app.serve`` runs it.

Threads: the socket thread owns the ROUTER and an inproc PULL socket and is the only one touching
them; one worker thread runs :class:`seamrefine.runtime.inference.Refiner` on jobs from a bounded queue and
hands its replies (progress, result, error) back through an inproc PUSH socket. A full queue gets
``busy`` at once; ``cancel`` removes a queued job or sets the running job's cancel event.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import zmq

from .. import PROTOCOL_VERSION, __version__
from ..errors import BusyError, CancelledError, ProtocolError, SeamRefineError
from . import intake, paths
from .protocol import (
    DEFAULT_MAX_PIXELS,
    RefineJob,
    Reply,
    Request,
    decode_request,
    error_reply,
    result_reply,
)

log = logging.getLogger("seamrefine.daemon")
INPROC = "inproc://seamrefine-replies"


@dataclass
class Job:
    identity: bytes
    work: RefineJob
    cancel: threading.Event = field(default_factory=threading.Event)
    state: str = "queued"  # queued → running → done
    received: float = field(default_factory=time.monotonic)

    @property
    def key(self) -> tuple[bytes, str]:
        return (self.identity, self.work.id)


def model_info(refiner) -> tuple[dict, str]:
    """({"name", "sha256"}, provider really in use) from a Refiner's session."""
    session = getattr(refiner, "session", None)
    manifest = getattr(session, "manifest", None) or getattr(refiner, "manifest", None) or {}
    provider = getattr(session, "provider", None) or getattr(refiner, "provider", None) or "unknown"
    return {"name": str(manifest.get("name", "unknown")), "sha256": str(manifest.get("sha256", ""))}, str(
        provider
    )


def warm_up(refiner) -> float:
    """Run one small refine so the first real request does not pay session/arena set-up; seconds."""
    t0 = time.perf_counter()
    img = np.full((64, 64, 3), 128, np.uint8)
    img[:, 32:] = 90
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 24:40] = 255
    refiner.refine(img, mask)
    return time.perf_counter() - t0


class Daemon:
    """The serving loop. ``run()`` blocks until ``stop()`` (or SIGTERM/SIGINT via ``main``)."""

    def __init__(
        self,
        refiner,
        *,
        root: Path,
        port: int = 0,
        queue_size: int = 4,
        use_ipc: bool = True,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_message_bytes: int | None = None,
        idle=None,
    ):
        """``idle``: told when each request finishes (``busy(now)``) and asked while the worker waits
        whether to ``release()`` now (``due(now)``), ``time.monotonic`` seconds
        (``seamrefine.runtime.allocator.IdleRelease``)."""
        self.refiner = refiner
        self.idle = idle
        self.root = root
        self.port = port
        self.queue_size = max(1, queue_size)
        self.use_ipc = use_ipc
        self.caps = intake.Caps.for_pixels(max_pixels, max_message_bytes)
        self.max_pixels = self.caps.max_pixels
        self.max_message_bytes = self.caps.max_message_bytes
        self.token = secrets.token_hex(16)
        self.model, self.provider = model_info(refiner)
        self._stop = threading.Event()
        self._cv = threading.Condition()
        self._pending: collections.deque[Job] = collections.deque()
        self._jobs: dict[tuple[bytes, str], Job] = {}
        self._ctx = zmq.Context()
        self.endpoint = ""
        self.ipc: str | None = None

    # ---- set-up -------------------------------------------------------------------------------
    def bind(self) -> None:
        r = self._router = self._ctx.socket(zmq.ROUTER)
        r.setsockopt(zmq.LINGER, 0)
        intake.configure(r, self.caps)  # ZMQ_MAXMSGSIZE: the per-frame cap, enforced inside libzmq
        r.setsockopt(zmq.ROUTER_MANDATORY, 1)  # unknown peer → EHOSTUNREACH (logged), not silence
        r.setsockopt(zmq.ROUTER_HANDOVER, 1)
        r.bind(f"tcp://127.0.0.1:{self.port or '*'}")
        self.endpoint = r.getsockopt_string(zmq.LAST_ENDPOINT)
        ipc = paths.ipc_endpoint(self.root) if self.use_ipc else None
        if ipc:
            sock_path = Path(ipc[len("ipc://") :])
            sock_path.unlink(missing_ok=True)  # stale from a killed daemon; we hold the lock
            try:
                r.bind(ipc)
                self.ipc = ipc
            except zmq.ZMQError as exc:
                log.warning("ipc endpoint %s not available: %s", ipc, exc)
        self._pull = self._ctx.socket(zmq.PULL)
        self._pull.setsockopt(zmq.LINGER, 0)
        self._pull.bind(INPROC)

    def write_endpoint(self) -> Path:
        """Publish ``endpoint.json`` in the runtime dir: atomically, mode 0600, from a fresh file."""
        info = {
            "endpoint": self.endpoint,
            "token": self.token,
            "pid": os.getpid(),
            "version": __version__,
            "protocol": PROTOCOL_VERSION,
        }
        if self.ipc:
            info["ipc"] = self.ipc
        path = paths.endpoint_path(self.root)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(tmp, flags, 0o600)  # a new file of ours: never a planted one or a link
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # whatever the umask
        with os.fdopen(fd, "w") as f:
            json.dump(info, f)
        os.replace(tmp, path)
        return path

    def remove_endpoint(self) -> None:
        path = paths.endpoint_path(self.root)
        try:
            if json.loads(path.read_text()).get("pid") == os.getpid():
                path.unlink()
        except (OSError, ValueError):
            pass
        if self.ipc:
            Path(self.ipc[len("ipc://") :]).unlink(missing_ok=True)

    def info(self) -> dict:
        return {
            "version": __version__,
            "protocol": PROTOCOL_VERSION,
            "model": self.model,
            "provider": self.provider,
            "pid": os.getpid(),
            "limits": {**self.caps.to_wire(), "queue": self.queue_size},
        }

    # ---- socket thread ------------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        worker = threading.Thread(target=self._worker, name="seamrefine-worker", daemon=True)
        worker.start()
        poller = zmq.Poller()
        poller.register(self._router, zmq.POLLIN)
        poller.register(self._pull, zmq.POLLIN)
        try:
            while not self._stop.is_set():
                events = dict(poller.poll(200))
                if self._pull in events:
                    self._forward_replies()
                if self._router in events:
                    for _ in range(64):
                        msg = intake.receive(self._router, self.token, self.caps)
                        if msg is None:
                            break
                        self._handle(msg)
        finally:
            self._shutdown(worker)

    def _shutdown(self, worker: threading.Thread) -> None:
        with self._cv:
            for job in list(self._pending):
                self._send(
                    job.identity, error_reply(job.work.id, CancelledError("the daemon is shutting down"))
                )
            self._pending.clear()
            for job in self._jobs.values():
                job.cancel.set()
            self._cv.notify_all()
        worker.join(timeout=5.0)
        self._forward_replies()
        self._router.close(0)
        self._pull.close(0)
        if worker.is_alive():  # stuck in one long model call: its socket is still open, so no term()
            log.warning("worker still busy at shutdown; exiting without waiting for it")
        else:
            self._ctx.term()

    def _send(self, identity: bytes, reply: Reply) -> None:
        try:
            self._router.send_multipart([identity, *reply.encode()], zmq.NOBLOCK, copy=False)
        except zmq.ZMQError as exc:  # peer gone (EHOSTUNREACH) or not reading (EAGAIN): drop
            log.info("reply %s %s to a gone peer dropped: %s", reply.type, reply.id, exc)

    def _forward_replies(self) -> None:
        while True:
            try:
                msg = self._pull.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            try:
                self._router.send_multipart(msg, zmq.NOBLOCK, copy=False)
            except zmq.ZMQError as exc:
                log.info("worker reply to a gone peer dropped: %s", exc)

    def _handle(self, msg: intake.Incoming) -> None:
        identity = msg.identity
        try:
            if msg.error is not None:  # rejected while it was read: its data frames were never kept
                raise msg.error
            caps = self.caps
            req = decode_request(
                msg.frames,
                token=self.token,
                max_pixels=caps.max_pixels,
                max_message_bytes=caps.max_message_bytes,
            )
        except SeamRefineError as exc:
            log.info("rejected request %r: %s (%s)", getattr(exc, "request_id", None), exc.code, exc.message)
            self._send(identity, error_reply(getattr(exc, "request_id", None), exc))
            return
        except Exception as exc:  # the decoder is total over SeamRefineError; this is a bug, keep serving
            log.exception("decoder failed")
            self._send(identity, error_reply(msg.rid, exc))
            return
        if isinstance(req, RefineJob):
            self._submit(identity, req)
        elif req.op == "hello":
            self._send(identity, Reply("info", req.id, self.info()))
        elif req.op == "ping":
            self._send(identity, Reply("pong", req.id))
        elif req.op == "cancel":
            self._cancel(identity, req)

    def _submit(self, identity: bytes, work: RefineJob) -> None:
        job = Job(identity, work)
        with self._cv:
            if job.key in self._jobs:
                err = ProtocolError(
                    f"request id {work.id!r} is already in flight on this connection", work.id
                )
            elif len(self._pending) >= self.queue_size:
                err = BusyError(
                    f"the daemon is busy ({self.queue_size} requests queued); try again shortly",
                    self.queue_size,
                )
            else:
                self._pending.append(job)
                self._jobs[job.key] = job
                self._cv.notify()
                return
        self._send(identity, error_reply(work.id, err))

    def _cancel(self, identity: bytes, req: Request) -> None:
        target = req.params["target"]
        with self._cv:
            job = self._jobs.get((identity, target))
            if job is None:
                job = next((j for (_, rid), j in self._jobs.items() if rid == target), None)
            state = job.state if job else "unknown"
            if job is not None and job.state == "queued":
                self._pending.remove(job)
                job.state = "done"
                del self._jobs[job.key]
                self._send(
                    job.identity, error_reply(target, CancelledError("the request was cancelled", target))
                )
            elif job is not None:
                job.cancel.set()
        self._send(identity, Reply("ok", req.id, {"target": target, "state": state}))

    # ---- worker thread ------------------------------------------------------------------------
    def _worker(self) -> None:
        push = self._ctx.socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 0)
        push.connect(INPROC)
        try:
            while True:
                with self._cv:
                    while not self._pending and not self._stop.is_set():
                        self._cv.wait(0.5)
                        if self.idle is not None and not self._pending and self.idle.due(time.monotonic()):
                            break
                    if self._stop.is_set():
                        return
                    job = self._pending.popleft() if self._pending else None
                    if job is not None:
                        job.state = "running"
                if job is None:  # idle long enough: hand kept memory back, outside the queue's lock
                    self.idle.release()
                    continue
                try:
                    reply = self._run_job(job, push)
                finally:
                    with self._cv:
                        job.state = "done"
                        self._jobs.pop(job.key, None)
                    if self.idle is not None:
                        self.idle.busy(time.monotonic())
                push.send_multipart([job.identity, *reply.encode()], copy=False)
        finally:
            push.close(0)

    def _run_job(self, job: Job, push: zmq.Socket) -> Reply:
        w = job.work
        t0 = time.perf_counter()

        def progress(done: int, total: int) -> None:
            reply = Reply("progress", w.id, {"done": int(done), "total": int(total)})
            push.send_multipart([job.identity, *reply.encode()])

        try:
            if job.cancel.is_set():
                raise CancelledError("the request was cancelled", w.id)
            out, info = self.refiner.refine(w.image, w.mask, w.params, progress=progress, cancel=job.cancel)
            elapsed = (time.perf_counter() - t0) * 1000
            log.info("refine %s %s: %.0f ms", w.id, "×".join(map(str, w.image.shape)), elapsed)
            return result_reply(
                job.work,
                out,
                seam_score_before=info["seam_score_before"],
                seam_score_after=info["seam_score_after"],
                changed=bool(info["changed"]),
                elapsed_ms=round(elapsed, 2),
                wait_ms=round((t0 - job.received) * 1000, 2) if t0 > job.received else 0.0,
            )
        except SeamRefineError as exc:
            log.info("refine %s failed: %s (%s)", w.id, exc.code, exc.message)
            return error_reply(w.id, exc)
        except Exception as exc:  # a bug or MemoryError: answer `internal` and keep serving
            log.exception("refine %s crashed", w.id)
            return error_reply(w.id, exc)

