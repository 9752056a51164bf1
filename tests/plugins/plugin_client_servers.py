"""Test servers for the stdlib plugin client: a real pyzmq ROUTER, a raw ZMTP peer that misbehaves,
and a TCP proxy that forwards 1–7 byte pieces. Shared by the tests in tests/plugins/."""

from __future__ import annotations

import importlib.util
import json
import random
import socket
import struct
import threading
import time
from pathlib import Path

import msgpack
import zmq

COMMON = Path(__file__).resolve().parents[2] / "plugins" / "common"
CLIENT_PATH = COMMON / "seamrefine_client.py"


def load_common(name: str):
    """Import plugins/common/<name>.py as a standalone module (as the plugins do)."""
    spec = importlib.util.spec_from_file_location(name, COMMON / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_client():
    """Import plugins/common/seamrefine_client.py as a standalone module."""
    return load_common("seamrefine_client")


def write_endpoint(folder: Path, info: dict) -> Path:
    """``folder/endpoint.json`` as the daemon writes it: mode 0600 in a 0700 folder (the client trusts
    nothing else)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    path = folder / "endpoint.json"
    path.write_text(json.dumps(info))
    path.chmod(0o600)
    return path


class RouterDaemon:
    """A pyzmq ROUTER in a thread that checks the token and answers via ``handler(header, data)``.

    ``handler`` returns a list of (reply_header, [frames]) or None (no reply). Replies get ``v`` and
    ``id`` filled in. ``received`` lists every request header.
    """

    def __init__(self, handler=None, token="secret", endpoint="tcp://127.0.0.1:*", heartbeat_ms=0):
        self.handler = handler or self.echo
        self.token = token
        self.received: list[dict] = []
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.linger = 0
        if heartbeat_ms:
            self.sock.setsockopt(zmq.HEARTBEAT_IVL, heartbeat_ms)
            self.sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, heartbeat_ms * 4)
            self.sock.setsockopt(zmq.HEARTBEAT_TTL, 2000)
        self.sock.bind(endpoint)
        self.endpoint = self.sock.getsockopt(zmq.LAST_ENDPOINT).decode()
        self.pending: list = []  # (due time, identity, header, frames)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    @staticmethod
    def echo(header, data):
        op = header.get("op")
        if op == "hello":
            return [({"type": "info", "version": "test", "protocol": 1}, [])]
        if op == "ping":
            return [({"type": "pong"}, [])]
        if op == "refine":
            return [({"type": "progress", "done": 1, "total": 1}, []),
                    ({"type": "result", "frames": header["frames"][:1]}, [data[0]])]
        return [({"type": "error", "code": "bad_request", "message": "unknown op"}, [])]

    def send_later(self, identity, delay, header, frames=()):
        self.pending.append((time.monotonic() + delay, identity, header, list(frames)))

    def _send(self, identity, header, frames):
        self.sock.send_multipart([identity, b"", msgpack.packb(header)] + list(frames), copy=False)

    def _loop(self):
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        while not self._stop.is_set():
            now = time.monotonic()
            for item in [p for p in self.pending if p[0] <= now]:
                self.pending.remove(item)
                self._send(*item[1:])
            if not poller.poll(10):
                continue
            msg = self.sock.recv_multipart(copy=False)
            identity, header = msg[0].bytes, msgpack.unpackb(msg[2].bytes)
            self.received.append(header)
            self.last_identity = identity
            if header.get("token") != self.token:
                replies = [({"type": "error", "code": "unauthorized", "message": "wrong token"}, [])]
            else:
                replies = self.handler(header, [f.buffer for f in msg[3:]]) or []
            for reply, frames in replies:
                self._send(identity, {"v": 1, "id": header.get("id"), **reply}, frames)

    def close(self):
        self._stop.set()
        self.thread.join(5)
        self.sock.close()
        self.ctx.term()


class RawZmtpServer:
    """Speaks just enough ZMTP (as a ROUTER) to misbehave: ``behave(conn, n)`` runs per connection."""

    def __init__(self, behave, client):
        self.behave = behave
        self.client = client
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"tcp://127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections = 0
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.sendall(self.client.GREETING)
                self.recv_exact(conn, 64)
                conn.sendall(self.client._ready(b"ROUTER"))
                self.behave(self, conn, self.connections)

    @staticmethod
    def recv_exact(conn, n):
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise OSError("closed")
            data += chunk
        return data

    def read_message(self, conn):
        """Read one multipart message; returns its frames (commands are skipped)."""
        frames = []
        while True:
            flags = self.recv_exact(conn, 1)[0]
            size_bytes = self.recv_exact(conn, 8 if flags & 2 else 1)
            size = struct.unpack(">Q", size_bytes)[0] if flags & 2 else size_bytes[0]
            body = self.recv_exact(conn, size)
            if flags & 4:
                continue
            frames.append(body)
            if not flags & 1:
                return frames

    def close(self):
        self.listener.close()


class ChoppingProxy:
    """TCP proxy that forwards both directions in random 1–7 byte pieces, flushing each one."""

    def __init__(self, upstream_port, seed=0):
        self.upstream_port = upstream_port
        self.rng = random.Random(seed)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"tcp://127.0.0.1:{self.listener.getsockname()[1]}"
        self.pieces = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                down, _ = self.listener.accept()
            except OSError:
                return
            up = socket.create_connection(("127.0.0.1", self.upstream_port))
            for s in (up, down):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._pump, args=(down, up), daemon=True).start()
            threading.Thread(target=self._pump, args=(up, down), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(7)
                if not data:
                    break
                i = 0
                while i < len(data):
                    n = self.rng.randint(1, 7)
                    dst.sendall(data[i:i + n])
                    self.pieces += 1
                    i += n
                    time.sleep(0.0002)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.listener.close()
