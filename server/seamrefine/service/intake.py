"""The daemon's receive side: one request read frame by frame, checked before its pixels are kept.

A ROUTER socket hands a message to the application only when all of its frames have arrived, so
libzmq has buffered the whole message before the first frame can be read (docs/daemon.md, "Caps").
What can be bounded, is:

- each frame, inside libzmq, before it is buffered: :func:`configure` sets ``ZMQ_MAXMSGSIZE`` to the
  frame cap; a peer that announces a larger frame is disconnected after its 9-byte frame header;
- everything after that, here: :func:`receive` reads the frames one by one without copying them
  (``copy=False``), checks the delimiter, then the header (id, depth, version, token, op; see
  :func:`seamrefine.service.protocol.read_header`) before it keeps any data frame, and counts frames
  and bytes against the message caps. From the first failed check on, the remaining frames are only
  drained: each is released as soon as it is read, so Python never copies or decodes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import zmq

from ..errors import ImageTooLargeError, ProtocolError, SeamRefineError
from .frames import MAX_FRAMES, MAX_HEADER_BYTES, frame_cap, message_cap
from .protocol import read_header


@dataclass(frozen=True)
class Caps:
    """The daemon's limits on a request: pixels, bytes per frame, bytes and frames per message."""

    max_pixels: int
    max_message_bytes: int
    max_frames: int = MAX_FRAMES

    @classmethod
    def for_pixels(cls, max_pixels: int, max_message_bytes: int | None = None) -> Caps:
        """Caps derived from ``max_pixels`` (``max_message_bytes`` None: :func:`message_cap`)."""
        if max_message_bytes is None:
            max_message_bytes = message_cap(max_pixels)
        return cls(int(max_pixels), int(max_message_bytes))

    @property
    def max_frame_bytes(self) -> int:
        """No frame may be larger than the largest image frame, nor than the whole message."""
        return max(MAX_HEADER_BYTES, min(frame_cap(self.max_pixels), self.max_message_bytes))

    def to_wire(self) -> dict:
        return {
            "max_pixels": self.max_pixels,
            "max_message_bytes": self.max_message_bytes,
            "max_frame_bytes": self.max_frame_bytes,
            "max_frames": self.max_frames,
        }


@dataclass
class Incoming:
    """One received message: who sent it, the frames kept (all of them, or none once a check failed),
    the request id (once the header passed), the first failed check (``error``, its ``request_id``
    set), and how many frames and bytes arrived."""

    identity: bytes
    frames: list = field(default_factory=list)
    rid: str | None = None
    error: SeamRefineError | None = None
    n_frames: int = 0
    n_bytes: int = 0


def configure(sock: zmq.Socket, caps: Caps) -> None:
    """Set the per-frame cap on a ROUTER: libzmq disconnects a peer that announces a larger frame."""
    sock.setsockopt(zmq.MAXMSGSIZE, caps.max_frame_bytes)


def receive(sock: zmq.Socket, token: str, caps: Caps) -> Incoming | None:
    """The next message on ``sock`` (None when there is none), checked as it is read (module doc)."""
    try:
        first = sock.recv(zmq.NOBLOCK, copy=False)
    except zmq.Again:
        return None
    msg = Incoming(first.bytes)
    more, over = first.more, False
    while more:
        frame = sock.recv(copy=False)  # the whole message is already here: this never waits
        more = frame.more
        msg.n_frames += 1
        msg.n_bytes += len(frame)
        if msg.error is not None or over:
            continue  # drained: released here, never copied
        if msg.n_frames > 2 and (msg.n_frames > caps.max_frames or msg.n_bytes > caps.max_message_bytes):
            over = True
        else:
            msg.error = _check(frame, msg, token)
        if msg.error is not None or over:
            msg.frames.clear()
        else:
            msg.frames.append(frame)
    if over:
        msg.error = _over(msg, caps)
        msg.error.request_id = msg.rid
    return msg


def _check(frame, msg: Incoming, token: str) -> SeamRefineError | None:
    """What is wrong with the delimiter (frame 1) or the header (frame 2), or None; sets ``msg.rid``."""
    if msg.n_frames == 1 and len(frame) != 0:
        exc = ProtocolError("frame 0 must be the empty delimiter", f"<{len(frame)} bytes>")
        exc.request_id = None
        return exc
    if msg.n_frames == 2:
        try:
            msg.rid = read_header([msg.frames[0], frame], token)[1]
        except SeamRefineError as exc:  # its request_id is the id when one was read
            return exc
    return None


def _over(msg: Incoming, caps: Caps) -> SeamRefineError:
    """The error for a message over the frame-count or byte cap (the same words as decode_request)."""
    if msg.n_bytes > caps.max_message_bytes:
        return ImageTooLargeError(
            f"message is {msg.n_bytes} bytes, more than the limit {caps.max_message_bytes}", msg.n_bytes
        )
    return ProtocolError(f"a message has at most {caps.max_frames} frames, got {msg.n_frames}", msg.n_frames)
