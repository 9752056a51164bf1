"""Seam Refine client for host plugins (Krita, GIMP): Python standard library only.

Speaks docs/protocol.md: ZMTP 3.1 (RFC 37, NULL mechanism) as a DEALER over TCP (or ``ipc://`` through
an AF_UNIX socket), msgpack headers and raw pixel frames. Krita's and GIMP's embedded Pythons cannot
load pyzmq or msgpack, so both are implemented here. This one file is copied verbatim into each plugin.

    client = Client()                       # endpoint + token from endpoint.json
    pixels, header = client.refine(img, w, h, 4, "uint8", "BGRA", mask)
"""

import json
import os
import select
import socket
import stat
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path

PROTOCOL = 1
APP = "seam-refine"
START_HINT = ("Start it with `seam-refine serve` (or once: `seam-refine daemon install-autostart` "
              "so it starts with your session).")
_ITEMSIZE = {"uint8": 1, "uint16": 2, "float16": 2, "float32": 4}


# ---------------------------------------------------------------- errors
class ClientError(Exception):
    """Any failure of a request; ``code`` is a protocol error code or a client-side one."""

    def __init__(self, code, message, value=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.value = value


class DaemonNotRunning(ClientError):
    """No daemon to talk to: no endpoint.json, connection refused, or the daemon went away."""

    def __init__(self, message, code="not_running"):
        super().__init__(code, message + " " + START_HINT)


class DaemonTimeout(ClientError):
    def __init__(self, message):
        super().__init__("timeout", message)


class DaemonError(ClientError):
    """The daemon answered with an error reply; ``code``/``message``/``value`` are the daemon's."""


class DaemonBusy(DaemonError):
    """The daemon's queue is full (error ``busy``); try again later."""


class Cancelled(DaemonError):
    """The request was cancelled (by the ``cancel`` callback)."""


# ---------------------------------------------------------------- msgpack
def packb(obj):
    """Encode ``obj`` (None, bool, int, float, str, bytes-like, list/tuple, dict) as msgpack.

    Chooses the same (smallest) encodings as msgpack-python's ``packb`` with its defaults, so the
    output is byte-identical; floats are float64.
    """
    out = bytearray()
    _pack(obj, out)
    return bytes(out)


def _pack_len(out, n, fix_base, fix_max, codes):
    if n <= fix_max and fix_base is not None:
        out.append(fix_base | n)
    elif n < 0x100 and codes[0] is not None:
        out += struct.pack(">BB", codes[0], n)
    elif n < 0x10000:
        out += struct.pack(">BH", codes[1], n)
    elif n < 0x100000000:
        out += struct.pack(">BI", codes[2], n)
    else:
        raise ValueError(f"msgpack: object too long ({n})")


def _pack(obj, out):
    if obj is None:
        out.append(0xC0)
    elif obj is True or obj is False:
        out.append(0xC3 if obj else 0xC2)
    elif isinstance(obj, int):
        if 0 <= obj < 0x80 or -32 <= obj < 0:
            out += struct.pack(">b" if obj < 0 else ">B", obj)
        elif obj >= 0:
            for code, fmt, lim in ((0xCC, ">BB", 8), (0xCD, ">BH", 16), (0xCE, ">BI", 32), (0xCF, ">BQ", 64)):
                if obj < 1 << lim:
                    out += struct.pack(fmt, code, obj)
                    return
            raise ValueError(f"msgpack: integer too large: {obj}")
        else:
            for code, fmt, lim in ((0xD0, ">Bb", 7), (0xD1, ">Bh", 15), (0xD2, ">Bi", 31), (0xD3, ">Bq", 63)):
                if obj >= -(1 << lim):
                    out += struct.pack(fmt, code, obj)
                    return
            raise ValueError(f"msgpack: integer too small: {obj}")
    elif isinstance(obj, float):
        out += struct.pack(">Bd", 0xCB, obj)
    elif isinstance(obj, str):
        data = obj.encode("utf-8")
        _pack_len(out, len(data), 0xA0, 31, (0xD9, 0xDA, 0xDB))
        out += data
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        data = memoryview(obj).cast("B")
        _pack_len(out, len(data), None, -1, (0xC4, 0xC5, 0xC6))
        out += data
    elif isinstance(obj, (list, tuple)):
        _pack_len(out, len(obj), 0x90, 15, (None, 0xDC, 0xDD))
        for item in obj:
            _pack(item, out)
    elif isinstance(obj, dict):
        _pack_len(out, len(obj), 0x80, 15, (None, 0xDE, 0xDF))
        for key, value in obj.items():
            _pack(key, out)
            _pack(value, out)
    else:
        raise TypeError(f"msgpack: cannot encode {type(obj).__name__}")


MAX_DEPTH = 32  # arrays and maps inside each other; the daemon's replies nest 3 deep


def unpackb(data):
    """Decode one msgpack object (nil, bool, int, float32/64, str, bin, array, map) from ``data``.

    Every failure is a ValueError: malformed or truncated data, nesting deeper than ``MAX_DEPTH``, a map
    or a nested array used as a map key."""
    view = memoryview(data).cast("B")
    try:
        obj, pos = _unpack(view, 0, 1)
    except ValueError:
        raise
    except (TypeError, RecursionError, OverflowError, struct.error) as e:
        raise ValueError(f"msgpack: {type(e).__name__}: {e}") from None
    if pos != len(view):
        raise ValueError(f"msgpack: {len(view) - pos} trailing bytes")
    return obj


_FIXED = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q", 0xD0: ">b", 0xD1: ">h", 0xD2: ">i",
          0xD3: ">q", 0xCA: ">f", 0xCB: ">d"}
_LENGTHS = {0xD9: (">B", "str"), 0xDA: (">H", "str"), 0xDB: (">I", "str"), 0xC4: (">B", "bin"),
            0xC5: (">H", "bin"), 0xC6: (">I", "bin"), 0xDC: (">H", "array"), 0xDD: (">I", "array"),
            0xDE: (">H", "map"), 0xDF: (">I", "map")}


def _unpack(view, pos, depth):
    if pos >= len(view):
        raise ValueError("msgpack: truncated data")
    b = view[pos]
    pos += 1
    if b < 0x80:
        return b, pos
    if b >= 0xE0:
        return b - 0x100, pos
    if b == 0xC0:
        return None, pos
    if b in (0xC2, 0xC3):
        return b == 0xC3, pos
    if b in _FIXED:
        fmt = _FIXED[b]
        size = struct.calcsize(fmt)
        if pos + size > len(view):
            raise ValueError("msgpack: truncated data")
        return struct.unpack_from(fmt, view, pos)[0], pos + size
    if 0xA0 <= b <= 0xBF:
        kind, n = "str", b & 0x1F
    elif 0x90 <= b <= 0x9F:
        kind, n = "array", b & 0x0F
    elif 0x80 <= b <= 0x8F:
        kind, n = "map", b & 0x0F
    elif b in _LENGTHS:
        fmt, kind = _LENGTHS[b]
        size = struct.calcsize(fmt)
        if pos + size > len(view):
            raise ValueError("msgpack: truncated data")
        n = struct.unpack_from(fmt, view, pos)[0]
        pos += size
    else:
        raise ValueError(f"msgpack: unsupported type byte 0x{b:02x}")
    if kind in ("str", "bin"):
        if pos + n > len(view):
            raise ValueError("msgpack: truncated data")
        raw = bytes(view[pos:pos + n])
        return (raw.decode("utf-8") if kind == "str" else raw), pos + n
    if depth > MAX_DEPTH:
        raise ValueError(f"msgpack: nested more than {MAX_DEPTH} deep")
    if kind == "array":
        items = []
        for _ in range(n):
            item, pos = _unpack(view, pos, depth + 1)
            items.append(item)
        return items, pos
    result = {}
    for _ in range(n):
        key, pos = _unpack(view, pos, depth + 1)
        value, pos = _unpack(view, pos, depth + 1)
        if isinstance(key, list):
            key = tuple(key)
        try:
            result[key] = value
        except TypeError:  # a map, or an array holding one or an array
            raise ValueError(f"msgpack: a {type(key).__name__} cannot be a map key") from None
    return result, pos


# ---------------------------------------------------------------- discovery
_CHECKED = os.name == "posix"  # owner and mode mean nothing on Windows (the folder is per user there)
_MAX_ENDPOINT_BYTES = 64 * 1024


def _uid():
    return os.getuid() if hasattr(os, "getuid") else 0


def _system_runtime_base(platform, uid):
    """The system's per-user runtime folder, which may not exist."""
    root = "/var/run/user" if platform.startswith(("freebsd", "openbsd", "netbsd")) else "/run/user"
    return Path(root) / str(uid)


def _tmp_runtime_base(environ, uid):
    return Path(environ.get("TMPDIR") or tempfile.gettempdir()) / f"runtime-{uid}"


def candidate_dirs(environ=None, platform=None, uid=None, home=None):
    """The runtime directory that may hold endpoint.json, as a list of one: the folder the daemon uses
    (docs/daemon.md, "Discovery"; ``seamrefine.service.paths.runtime_dir``).

    ``$SEAM_REFINE_RUNTIME_DIR`` overrides everything. Linux/BSD: ``$XDG_RUNTIME_DIR/seam-refine``, else
    ``/run/user/<uid>/seam-refine`` where that runtime folder exists, else (no runtime folder at all)
    ``<TMPDIR>/runtime-<uid>/seam-refine``. macOS and Windows: platformdirs' ``user_runtime_dir``.
    """
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    home = Path.home() if home is None else Path(home)
    if environ.get("SEAM_REFINE_RUNTIME_DIR"):
        return [Path(environ["SEAM_REFINE_RUNTIME_DIR"])]
    if platform.startswith("win"):
        local = environ.get("LOCALAPPDATA") or str(home / "AppData" / "Local")
        return [Path(local) / "Temp" / APP]
    if platform == "darwin":
        return [home / "Library" / "Caches" / "TemporaryItems" / APP]
    uid = _uid() if uid is None else uid
    xdg = environ.get("XDG_RUNTIME_DIR", "").strip()
    if xdg and os.path.isabs(xdg):
        return [Path(xdg) / APP]
    base = _system_runtime_base(platform, uid)
    if base.is_dir():
        return [base / APP]
    return [_tmp_runtime_base(environ, uid) / APP]


def _problem(path, uid, folder):
    """Why ``path`` is not a private folder (``folder``) or regular file of user ``uid``, or None."""
    try:
        st = os.stat(path) if folder else os.lstat(path)
    except OSError as e:
        return f"{path} cannot be read ({e.strerror})"
    if folder:
        kind, ok, mode = "folder", stat.S_ISDIR(st.st_mode), "0700"
    else:
        kind, ok, mode = "file", stat.S_ISREG(st.st_mode), "0600"
    if not ok:
        return f"{path} is not a {'folder' if folder else 'regular file'}"
    if _CHECKED and st.st_uid != uid:
        return f"the {kind} {path} belongs to uid {st.st_uid}, not to you (uid {uid})"
    if _CHECKED and st.st_mode & 0o077:
        return f"the {kind} {path} has mode {st.st_mode & 0o777:04o}; it must be {mode}"
    return None


def _untrusted(problem, path):
    return ClientError("untrusted_endpoint", f"Not using {path}: {problem}. Another user may have planted "
                       "it: remove it (or fix its owner and mode) and restart `seam-refine serve`.",
                       str(path))


def pid_alive(pid):
    """Whether process ``pid`` runs (POSIX; True where it cannot be told, e.g. on Windows)."""
    if pid <= 0:
        return False
    if os.name != "posix":
        return True  # os.kill(pid, 0) would terminate the process on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    try:  # a killed daemon not yet reaped by its parent is a zombie: dead for us
        text = Path(f"/proc/{pid}/stat").read_text()
        return text[text.rindex(")") + 2] != "Z"
    except (OSError, ValueError, IndexError):
        return True


def discover(environ=None):
    """The daemon's endpoint.json, as a dict. Raises DaemonNotRunning when there is none or its pid has
    ended (a stale file), ClientError ``untrusted_endpoint`` when another user owns or could have written
    the file or its folder, ``bad_endpoint`` when it cannot be read."""
    environ = os.environ if environ is None else environ
    root = candidate_dirs(environ)[0]
    path = root / "endpoint.json"
    if not os.path.lexists(path):
        raise DaemonNotRunning(f"The Seam Refine daemon is not running (no endpoint.json in {root}).")
    uid = _uid()
    for folder in ([root.parent] if root.parent == _tmp_runtime_base(environ, uid) else []) + [root]:
        problem = _problem(folder, uid, True)
        if problem:
            raise _untrusted(problem, folder)
    try:
        with open(path, "rb") as f:
            info = json.loads(f.read(_MAX_ENDPOINT_BYTES + 1).decode("utf-8"))
    except (OSError, ValueError) as e:
        raise ClientError("bad_endpoint", f"Cannot read {path}: {e}") from None
    if not isinstance(info, dict):
        raise ClientError("bad_endpoint", f"Cannot read {path}: not a JSON object")
    pid = info.get("pid")
    if type(pid) is int and not pid_alive(pid):
        raise DaemonNotRunning(f"The Seam Refine daemon is not running ({path} is left over from process "
                               f"{pid}, which has ended).")
    problem = _problem(path, uid, False)
    if problem:
        raise _untrusted(problem, path)
    info["_path"] = str(path)
    return info


def parse_endpoint(endpoint):
    """``tcp://host:port`` or ``ipc:///path`` → (address family, address)."""
    if endpoint.startswith("tcp://"):
        host, _, port = endpoint[6:].rpartition(":")
        host = host.strip("[]")
        if host in ("*", ""):
            host = "127.0.0.1"
        return (socket.AF_INET6 if ":" in host else socket.AF_INET), (host, int(port))
    if endpoint.startswith("ipc://"):
        if not hasattr(socket, "AF_UNIX"):
            raise ClientError("ipc_only", f"The daemon listens on {endpoint} only, but this system has "
                              "no Unix sockets; restart it with a tcp:// endpoint (the default of "
                              "`seam-refine serve`).")
        return socket.AF_UNIX, endpoint[6:]
    raise ClientError("bad_endpoint", f"Unsupported endpoint {endpoint!r} (expected tcp:// or ipc://)")


def _endpoint_from(info):
    for key in ("endpoint", "ipc"):
        ep = info.get(key)
        if isinstance(ep, str) and ep.startswith("tcp://"):
            return ep
    for key in ("endpoint", "ipc"):
        ep = info.get(key)
        if isinstance(ep, str) and ep:
            return ep
    raise ClientError("bad_endpoint", "endpoint.json at {} names no endpoint".format(info.get("_path")))


# ---------------------------------------------------------------- ZMTP 3.1
GREETING = (b"\xff" + b"\x00" * 8 + b"\x7f" + bytes([3, 1]) + b"NULL".ljust(20, b"\x00")
            + b"\x00" + b"\x00" * 31)
_MORE, _LONG, _COMMAND = 1, 2, 4
_CHUNK = 1 << 16
_MAX_HEADER = 64 * 1024  # a reply's msgpack header, and a ZMTP command, are never larger


def reply_limits(data_bytes=0):
    """(largest frame, largest message, most frames) of a reply carrying ``data_bytes`` of pixels: the
    client allocates no frame the peer announces beyond what the request can bring back."""
    return max(_MAX_HEADER, data_bytes), 2 * _MAX_HEADER + data_bytes, 3 if data_bytes else 2


class _Lost(Exception):
    """The connection broke (EOF / reset) before a complete message arrived."""


def _frame_header(flags, n):
    if n > 255:
        return struct.pack(">BQ", flags | _LONG, n)
    return struct.pack(">BB", flags, n)


def _command(name, body=b""):
    data = bytes([len(name)]) + name + body
    return _frame_header(_COMMAND, len(data)) + data


def _ready(socket_type=b"DEALER"):
    props = b""
    for key, value in ((b"Socket-Type", socket_type), (b"Identity", b"")):
        props += bytes([len(key)]) + key + struct.pack(">I", len(value)) + value
    return _command(b"READY", props)


class Connection:
    """One ZMTP 3.1 DEALER connection. ``on_idle`` is called whenever a read waits ``poll`` seconds."""

    def __init__(self, endpoint, deadline, poll=0.2):
        family, address = parse_endpoint(endpoint)
        self.poll = poll
        self.on_idle = None
        self.deadline = deadline
        self.limits = reply_limits()  # set per request by Client._call
        self._rb = b""
        self._rp = 0
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                self.sock.setsockopt(socket.SOL_SOCKET, opt, 8 << 20)
            if family != getattr(socket, "AF_UNIX", None):
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            self.sock.connect(address)
            self._handshake()
        except BaseException:
            self.sock.close()
            raise

    def _handshake(self):
        self.sendall(GREETING)
        peer = self.read(64)
        if peer[0] != 0xFF or peer[9] != 0x7F:
            raise ClientError("protocol", "The endpoint does not speak ZeroMQ (ZMTP)")
        if peer[10] < 3 or bytes(peer[12:32]).rstrip(b"\x00") != b"NULL":
            raise ClientError("protocol", "Unsupported ZMTP version/mechanism from the daemon")
        self.sendall(_ready())
        flags, body = self.read_frame()
        if not flags & _COMMAND:
            raise ClientError("protocol", "ZMTP: expected READY from the daemon")
        name = bytes(body[1:1 + body[0]])
        if name == b"ERROR":
            reason = bytes(body[7:]).decode("utf-8", "replace")
            raise ClientError("protocol", f"ZMTP handshake refused: {reason}")
        if name != b"READY":
            raise ClientError("protocol", f"ZMTP: expected READY, got {name!r}")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- sending
    def sendall(self, data):
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise DaemonTimeout("Timed out sending to the Seam Refine daemon.")
        self.sock.settimeout(remaining)
        try:
            self.sock.sendall(data)
        except TimeoutError:
            raise DaemonTimeout("Timed out sending to the Seam Refine daemon.") from None
        except OSError as e:
            raise _Lost(str(e)) from None

    def send_message(self, frames):
        """Send one multipart message; large frames go out without being copied."""
        small = bytearray()
        for i, frame in enumerate(frames):
            view = memoryview(frame).cast("B")
            small += _frame_header(_MORE if i < len(frames) - 1 else 0, len(view))
            if len(view) < _CHUNK:
                small += view
            else:
                self.sendall(small)
                small = bytearray()
                self.sendall(view)
        if small:
            self.sendall(small)

    # -- receiving
    def _recv_chunk(self, into=None):
        """recv() honouring poll/deadline; returns bytes (or a count when ``into`` is a memoryview)."""
        while True:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise DaemonTimeout("The Seam Refine daemon did not answer in time.")
            self.sock.settimeout(min(self.poll, remaining))
            try:
                got = self.sock.recv_into(into) if into is not None else self.sock.recv(_CHUNK)
            except TimeoutError:
                if self.on_idle is not None:
                    self.on_idle()
                continue
            except OSError as e:
                raise _Lost(str(e)) from None
            if not got:
                raise _Lost("connection closed by the daemon")
            return got

    def read(self, n):
        """Exactly ``n`` bytes (bytes for small reads, bytearray for big ones)."""
        avail = len(self._rb) - self._rp
        if n <= avail:
            out = self._rb[self._rp:self._rp + n]
            self._rp += n
            return out
        out = bytearray(n)
        view = memoryview(out)
        view[:avail] = self._rb[self._rp:]
        self._rb, self._rp, got = b"", 0, avail
        while got < n:
            if n - got >= _CHUNK:
                got += self._recv_chunk(view[got:])
                continue
            chunk = self._recv_chunk()
            take = min(n - got, len(chunk))
            view[got:got + take] = chunk[:take]
            got += take
            if take < len(chunk):
                self._rb, self._rp = chunk, take
        return out

    def read_frame(self, room=None):
        """(flags, body) of the next frame; a frame larger than ``room`` bytes (default: the largest
        frame in ``limits``) is refused before anything is allocated for it."""
        flags = self.read(1)[0]
        size = struct.unpack(">Q", self.read(8))[0] if flags & _LONG else self.read(1)[0]
        if flags & _COMMAND:
            limit = _MAX_HEADER
        else:
            limit = self.limits[0] if room is None else min(self.limits[0], room)
        if size > limit:
            raise ClientError("protocol", f"The daemon announced a frame of {size} bytes where at most "
                              f"{limit} can come; is it a Seam Refine daemon?", size)
        return flags, self.read(size)

    def read_message(self):
        """Next multipart message (list of frames), answering PINGs on the way; at most ``limits``
        (frames, bytes) per message."""
        frames = []
        max_frame, max_bytes, max_frames = self.limits
        total = 0
        while True:
            flags, body = self.read_frame(max(0, max_bytes - total))
            if flags & _COMMAND:
                name = bytes(body[1:1 + body[0]])
                if name == b"PING":
                    self.sendall(_command(b"PONG", bytes(body[1 + body[0] + 2:])))
                elif name == b"ERROR":
                    raise _Lost("daemon sent ZMTP ERROR")
                continue
            frames.append(body)
            total += len(body)
            if not flags & _MORE:
                return frames
            if len(frames) >= max_frames:
                raise ClientError("protocol", f"The daemon sent a message of more than {max_frames} frames; "
                                  "is it a Seam Refine daemon?", len(frames) + 1)

    def is_dead(self):
        """True if the peer has closed the idle connection (EOF waiting to be read)."""
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
            if not readable:
                return False
            self.sock.settimeout(0)
            return self.sock.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True


# ---------------------------------------------------------------- client
def _is_cancelled(cancel):
    if cancel is None:
        return False
    if hasattr(cancel, "is_set"):
        return cancel.is_set()
    return bool(cancel())


def _lost_error(e):
    return DaemonNotRunning("The Seam Refine daemon closed the connection in the middle of a request "
                            f"({e}); it may have stopped or crashed.", code="connection_lost")


def _count(header, key):
    """``header[key]`` (default 0) as an int, or ClientError ``protocol``."""
    try:
        return int(header.get(key, 0))
    except (TypeError, ValueError, OverflowError):
        raise ClientError("protocol", f"The daemon's progress has a bad {key!r}", str(header.get(key))[:80]) \
            from None


def _raise_reply_error(header):
    code = str(header.get("code", "internal"))
    message = str(header.get("message", "The Seam Refine daemon reported an error."))
    cls = {"busy": DaemonBusy, "cancelled": Cancelled}.get(code, DaemonError)
    raise cls(code, message, header.get("value"))


def new_request_id(counter=0):
    """A request id no other request shares (process id, a counter, random hex)."""
    return f"{os.getpid()}-{counter}-{os.urandom(4).hex()}"


def refine_params(strength=1.0, samples=1, band=None, colorspace="srgb", output="image", scores=True):
    """The ``params`` map of a refine request, as ``seamrefine.runtime.params.RefineParams.to_wire``
    writes it (the daemon checks the values; tests/plugins keeps the two identical)."""
    params = {"strength": float(strength), "samples": int(samples),
              "band": None if band is None else int(band)}
    if colorspace != "srgb":  # absent means sRGB, which every daemon version accepts
        params["colorspace"] = colorspace
    if output != "image":  # likewise: absent means the refined image
        params["output"] = output
    if not scores:  # and absent means scored (a daemon before the key refuses it)
        params["scores"] = False
    return params


class Client:
    """Talks to the Seam Refine daemon; requests on one Client run one at a time (a lock serializes them).

    ``endpoint``/``token`` default to those in endpoint.json (re-read on every reconnect);
    ``timeout`` is the overall deadline, in seconds, of each request.
    """

    def __init__(self, endpoint=None, token=None, timeout=60.0):
        self.endpoint = endpoint
        self.token = token
        self.timeout = float(timeout)
        self._conn = None
        self._token = ""
        self._counter = 0
        self._lock = threading.Lock()

    # -- public API
    def hello(self):
        """Daemon info: version, protocol, model {name, sha256}, provider, limits."""
        return self._call("hello", {}, (), "info")[1]

    def ping(self):
        """Round trip to the daemon; returns the ``pong`` header."""
        return self._call("ping", {}, (), "pong")[1]

    def refine(self, image, width, height, channels, dtype, order, mask, mask_dtype="uint8",
               strength=1.0, samples=1, band=None, progress=None, cancel=None, timeout=None,
               colorspace="srgb", output="image", request_id=None, scores=True):
        """Refine the seam of ``mask`` in ``image``; returns (pixels bytes, result header).

        ``image`` is H×W×channels of ``dtype`` in ``order`` (RGB/RGBA/BGR/BGRA), ``mask`` H×W of
        ``mask_dtype`` (uint8 0–255 or float32 0–1). ``colorspace`` says how the image values are
        encoded: "srgb" (default) or "linear" (linear-light, e.g. a float layer with a g10 profile).
        ``output="patch"`` asks for the layer to put over the image instead (docs/protocol.md);
        ``scores=False`` skips the seam scores (the header's are then nil), which saves time.
        ``progress(done, total)`` is called for each progress reply; ``cancel`` (threading.Event or
        callable → bool) sends the cancel op. ``request_id`` (see ``new_request_id``) lets another
        process cancel the request (``cancel_request``). The daemon checks the parameters (bad_input).
        """
        width, height, channels = int(width), int(height), int(channels)
        for name, data, shape, dt in (("image", image, (height, width, channels), dtype),
                                      ("mask", mask, (height, width), mask_dtype)):
            if dt not in _ITEMSIZE:
                raise ClientError("bad_input", f"Unsupported {name} dtype {dt!r}", dt)
            expected = _ITEMSIZE[dt]
            for s in shape:
                expected *= s
            if memoryview(data).nbytes != expected:
                raise ClientError("bad_input", f"{name} has {memoryview(data).nbytes} bytes, expected "
                                  f"{expected} for shape {list(shape)} {dt}")
        frames_desc = [{"name": "image", "shape": [height, width, channels], "dtype": dtype, "order": order},
                       {"name": "mask", "shape": [height, width], "dtype": mask_dtype, "order": "Y"}]
        params = refine_params(strength, samples, band, colorspace, output, scores)
        frames, header = self._call("refine", params, (image, mask), "result", frames_desc,
                                    progress, cancel, timeout, request_id,
                                    reply_bytes=memoryview(image).nbytes)
        if not frames:
            raise ClientError("protocol", "The daemon's result has no image frame")
        if len(frames[0]) != memoryview(image).nbytes:
            raise ClientError("protocol", f"The daemon's result has {len(frames[0])} bytes, "
                              f"expected {memoryview(image).nbytes}")
        return bytes(frames[0]), header

    def cancel_request(self, target):
        """Ask the daemon to cancel request ``target``, sent from any connection; returns the reply."""
        return self._call("cancel", {"target": str(target)}, (), "ok")[1]

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- internals
    def _resolve(self):
        endpoint, token = self.endpoint, self.token
        if endpoint is None:
            info = discover()
            return _endpoint_from(info), (token if token is not None else info.get("token", ""))
        if token is None:
            try:
                token = discover().get("token", "")
            except DaemonNotRunning:
                token = ""
        return endpoint, token

    def _connect(self, deadline):
        endpoint, token = self._resolve()
        try:
            self._conn = Connection(endpoint, deadline)
        except (ConnectionRefusedError, FileNotFoundError) as e:
            raise DaemonNotRunning(f"The Seam Refine daemon is not running at {endpoint} ({e}).") from None
        except TimeoutError:
            raise DaemonTimeout(f"Timed out connecting to the Seam Refine daemon at {endpoint}.") from None
        except _Lost as e:
            raise DaemonNotRunning(f"The Seam Refine daemon at {endpoint} hung up ({e}).") from None
        except OSError as e:
            raise DaemonNotRunning(f"Cannot connect to the Seam Refine daemon at {endpoint} ({e}).") from None
        return token

    def _call(self, op, params, data, want, frames_desc=None, progress=None, cancel=None, timeout=None,
              rid=None, reply_bytes=0):
        with self._lock:
            deadline = time.monotonic() + (self.timeout if timeout is None else float(timeout))
            self._counter += 1
            rid = rid or new_request_id(self._counter)
            lost = None
            for attempt in (0, 1):
                replied = [False]
                try:
                    if self._conn is not None and self._conn.is_dead():
                        self.close()
                    if self._conn is None:
                        self._token = self._reconnect(deadline, lost)
                    conn, token = self._conn, self._token
                    conn.deadline = deadline
                    conn.limits = reply_limits(reply_bytes)
                    header = {"v": PROTOCOL, "op": op, "id": rid, "token": token, "params": params}
                    if frames_desc:
                        header["frames"] = frames_desc
                    conn.send_message([b"", packb(header)] + list(data))
                    return self._await(conn, rid, token, want, progress, cancel, replied)
                except _Lost as e:
                    self.close()
                    lost = _lost_error(e)
                    if attempt == 0 and not replied[0]:
                        continue  # once more on a fresh connection (the daemon may have restarted)
                    raise lost from None
                except DaemonTimeout:
                    if op == "refine" and self._conn is not None:
                        self._send_cancel_quietly(rid, self._token)
                    self.close()
                    raise
                except BaseException:
                    self.close()
                    raise

    def _reconnect(self, deadline, lost):
        """Connect; after a connection was ``lost`` mid-request, a daemon that is gone (its pid has
        ended, or nothing listens) is reported as that loss (``connection_lost``), not as not running."""
        try:
            return self._connect(deadline)
        except DaemonNotRunning:
            if lost is None:
                raise
            raise lost from None

    def _send_cancel_quietly(self, rid, token):
        try:
            self._conn.deadline = time.monotonic() + 1.0
            msg = {"v": PROTOCOL, "op": "cancel", "id": rid + "-cancel", "token": token,
                   "params": {"target": rid}}
            self._conn.send_message([b"", packb(msg)])
        except (ClientError, _Lost, OSError):
            pass

    def _await(self, conn, rid, token, want, progress, cancel, replied):
        state = {"cancelled": False}

        def on_idle():
            if not state["cancelled"] and _is_cancelled(cancel):
                state["cancelled"] = True
                msg = {"v": PROTOCOL, "op": "cancel", "id": rid + "-cancel", "token": token,
                       "params": {"target": rid}}
                conn.send_message([b"", packb(msg)])
                conn.deadline = min(conn.deadline, time.monotonic() + 10.0)

        conn.on_idle = on_idle
        try:
            while True:
                try:
                    frames = conn.read_message()
                except DaemonTimeout:
                    if state["cancelled"]:
                        raise Cancelled("cancelled", "Cancelled.") from None
                    raise
                if frames and len(frames[0]) == 0:
                    frames = frames[1:]
                if not frames:
                    continue
                try:
                    header = unpackb(frames[0])
                except (ValueError, UnicodeDecodeError) as e:
                    raise ClientError("protocol", f"Unreadable reply header from the daemon: {e}") from None
                if not isinstance(header, dict) or header.get("id") not in (rid, None):
                    continue  # a late reply to an earlier request
                replied[0] = True
                kind = header.get("type")
                if kind == "progress":
                    if progress is not None:
                        progress(_count(header, "done"), _count(header, "total"))
                    on_idle()
                elif kind == "error":
                    _raise_reply_error(header)
                elif kind == want:
                    return frames[1:], header
                else:
                    raise ClientError("protocol", f"Unexpected reply type {kind!r} from the daemon")
        finally:
            conn.on_idle = None
