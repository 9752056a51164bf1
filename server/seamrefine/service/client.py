"""pyzmq DEALER client for the daemon (used by the CLI, the demo, the benchmark and the tests).

Discovery reads ``endpoint.json`` (paths.read_endpoint). Reliability is "Lazy Pirate": a request whose
connection drops (seen through a socket monitor) or cannot be made is retried once on a fresh socket
after reading ``endpoint.json`` again — so a restarted daemon is found — and then fails with
DaemonUnavailableError. Silence for ``timeout`` seconds (progress messages count as life) is retried
only when ``endpoint.json`` now names another daemon, so a hung daemon costs one ``timeout``, not two.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from threading import Event

import numpy as np
import zmq
from zmq.utils.monitor import recv_monitor_message

from .. import PROTOCOL_VERSION
from ..errors import DaemonUnavailableError, InputError
from ..imaging import imagemath
from ..runtime.params import RefineParams
from . import paths
from .protocol import Reply, Request, encode_refine, encode_request


class _Lost(Exception):
    """The exchange failed at the transport level (no connection, silence, disconnect)."""

    def __init__(self, message: str, silent: bool = False):
        super().__init__(message)
        self.silent = silent  # the connection looked fine but the daemon said nothing for `timeout` s


class Client:
    """A connection to the daemon. ``endpoint``/``token`` None = discover from ``endpoint.json``."""

    def __init__(
        self,
        endpoint: str | None = None,
        token: str | None = None,
        timeout: float = 60.0,
        *,
        runtime_dir: Path | None = None,
        connect_timeout: float = 3.0,
        retries: int = 1,
    ):
        self._explicit = (endpoint, token) if endpoint else None
        self.timeout = float(timeout)
        self.connect_timeout = min(float(connect_timeout), self.timeout)
        self.runtime_dir = Path(runtime_dir) if runtime_dir else None
        self.retries = retries
        self.endpoint: str | None = None
        self.token: str = ""
        self.pid: int | None = None
        self._ctx = zmq.Context()
        self._sock: zmq.Socket | None = None
        self._mon: zmq.Socket | None = None

    # ---- connection ---------------------------------------------------------------------------
    def _discover(self) -> None:
        if self._explicit:
            self.endpoint, self.token = self._explicit[0], self._explicit[1] or ""
            return
        info = paths.read_endpoint(self.runtime_dir)
        if info is None:
            where = self.runtime_dir or paths.runtime_dir()
            raise DaemonUnavailableError(
                f"no Seam Refine daemon is running (no live endpoint.json in {where}); start one with "
                "`seam-refine serve`",
                str(where),
            )
        if info.get("protocol") != PROTOCOL_VERSION:
            raise DaemonUnavailableError(
                f"the running daemon speaks protocol {info.get('protocol')}, this client {PROTOCOL_VERSION}",
                info.get("protocol"),
            )
        self.endpoint, self.token, self.pid = info["endpoint"], str(info.get("token", "")), info.get("pid")

    def _published(self) -> tuple[str, str] | None:
        info = paths.read_endpoint(self.runtime_dir)
        return (info["endpoint"], str(info.get("token", ""))) if info else None

    def _connect(self) -> zmq.Socket:
        if self._sock is not None:
            self._drain_monitor()
        if self._sock is None:
            self._discover()
            s = self._ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.IMMEDIATE, 1)  # no queueing onto a connection that does not exist
            s.setsockopt(zmq.SNDTIMEO, int(self.connect_timeout * 1000))
            self._mon = s.get_monitor_socket(zmq.EVENT_DISCONNECTED)
            s.connect(self.endpoint)
            self._sock = s
        return self._sock

    def _drain_monitor(self) -> None:
        """Drop the socket if the monitor saw it disconnect since the last request."""
        while self._mon is not None and self._mon.poll(0):
            if recv_monitor_message(self._mon)["event"] == zmq.EVENT_DISCONNECTED:
                self._reset()

    def _reset(self) -> None:
        if self._sock is not None:
            try:
                self._sock.disable_monitor()
            except zmq.ZMQError:
                pass
            self._sock.close(0)
        if self._mon is not None:
            self._mon.close(0)
        self._sock = self._mon = None

    def close(self) -> None:
        self._reset()
        self._ctx.term()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- exchange ----------------------------------------------------------------------------
    def _request(
        self, build: Callable[[str, str], list], *, progress=None, cancel: Event | None = None
    ) -> Reply:
        rid = uuid.uuid4().hex
        last: _Lost | None = None
        for attempt in range(1 + self.retries):
            try:
                sock = self._connect()
                reply = self._exchange(sock, build(rid, self.token), rid, progress, cancel)
            except _Lost as exc:
                last = exc
                before = (self.endpoint, self.token)
                self._reset()
                if exc.silent and (self._explicit or self._published() == before):
                    break  # the same daemon is alive but hung: retrying would only double the wait
                continue
            stale = reply.type == "error" and reply.fields.get("code") == "unauthorized"
            if stale and not self._explicit and attempt < self.retries:
                self._reset()  # a restarted daemon on the same port has a new token: read endpoint.json again
                continue
            return reply
        raise DaemonUnavailableError(f"the Seam Refine daemon did not answer: {last}", self.endpoint)

    def _exchange(self, sock: zmq.Socket, frames: list, rid: str, progress, cancel: Event | None) -> Reply:
        try:
            sock.send_multipart(frames, copy=False)
        except zmq.Again:
            raise _Lost(f"cannot reach {self.endpoint} within {self.connect_timeout:g} s") from None
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(self._mon, zmq.POLLIN)
        deadline = time.monotonic() + self.timeout
        cancel_sent = False
        while True:
            if cancel is not None and cancel.is_set() and not cancel_sent:
                req = Request("cancel", rid[:60] + "-c", self.token, {"target": rid})
                sock.send_multipart(encode_request(req))
                cancel_sent = True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Lost(f"no reply within {self.timeout:g} s", silent=True)
            wait = min(remaining, 0.05) if (cancel is not None and not cancel_sent) else remaining
            events = dict(poller.poll(int(wait * 1000) + 1))
            if self._mon in events and recv_monitor_message(self._mon)["event"] == zmq.EVENT_DISCONNECTED:
                raise _Lost("the daemon closed the connection")
            if sock not in events:
                continue
            reply = Reply.decode(sock.recv_multipart(copy=False))
            if reply.id != rid:
                continue  # our cancel's "ok", or a late reply to a request given up on
            if reply.type == "progress":
                deadline = time.monotonic() + self.timeout
                if progress is not None:
                    progress(int(reply.fields.get("done", 0)), int(reply.fields.get("total", 0)))
                continue
            return reply

    # ---- operations --------------------------------------------------------------------------
    def _simple(self, op: str, **params) -> Reply:
        reply = self._request(lambda rid, tok: encode_request(Request(op, rid, tok, params)))
        reply.raise_for_error()
        return reply

    def hello(self) -> dict:
        """The daemon's ``info``: version, protocol, model, provider, limits."""
        return self._simple("hello").fields

    def ping(self) -> float:
        """Round-trip time in seconds."""
        t0 = time.perf_counter()
        self._simple("ping")
        return time.perf_counter() - t0

    def refine(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        params: RefineParams | None = None,
        *,
        order: str | None = None,
        progress: Callable[[int, int], None] | None = None,
        cancel: Event | None = None,
    ) -> tuple[np.ndarray, dict]:
        """Refine through the daemon; return (the refined image, info), like ``Refiner.refine``.

        ``image``: H×W×3/4 uint8/uint16/float16/float32 in ``order`` (default RGB/RGBA), or grey (H×W,
        H×W×2 with alpha; sent as RGB(A), returned grey). ``mask``: H×W uint8, bool or float32.
        ``params``: a RefineParams (default: all defaults). The refined image has the input's order,
        dtype and shape; info is the daemon's result header: ``seam_score_before``/``seam_score_after``
        (None where not measurable), ``elapsed_ms``, ``wait_ms``. Raises the typed error of an
        ``error`` reply.
        """
        params = RefineParams() if params is None else params
        if not isinstance(params, RefineParams):
            kind = type(params).__name__
            raise InputError(f"params must be a RefineParams, got {kind}", kind)
        colour = imagemath.grey_to_colour(image) if order is None else image
        if isinstance(colour, np.ndarray) and isinstance(mask, np.ndarray) and colour.ndim == 3:
            imagemath.check_mask_size(mask.shape, colour.shape)  # before sending it all
        reply = self._request(
            lambda rid, tok: encode_refine(rid, tok, colour, mask, order=order, params=params),
            progress=progress,
            cancel=cancel,
        )
        reply.raise_for_error()
        if reply.type != "result" or len(reply.frames) != 1:
            raise DaemonUnavailableError(f"unexpected reply {reply.type!r} to refine", reply.type)
        out = reply.frames[0][1]
        return (out if colour is image else imagemath.colour_to_grey(out, image)), dict(reply.fields)
