"""Where the daemon keeps its runtime files (endpoint, lock, socket) and its logs.

Runtime dir: ``$SEAM_REFINE_RUNTIME_DIR`` if set, else platformdirs'
``user_runtime_dir("seam-refine", appauthor=False)``. Clients try :func:`candidate_runtime_dirs` in order
(docs/protocol.md, "Discovery and authentication").
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

APP = "seam-refine"
ENV_RUNTIME_DIR = "SEAM_REFINE_RUNTIME_DIR"
ENV_LOG_DIR = "SEAM_REFINE_LOG_DIR"
ENDPOINT_FILE = "endpoint.json"
LOCK_FILE = "daemon.lock"
IPC_NAME = "sock"


def _platform_runtime_dir() -> Path:
    import platformdirs

    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset and falls back to /tmp/runtime-<uid>: fine here.
        warnings.simplefilter("ignore")
        return Path(platformdirs.user_runtime_dir(APP, appauthor=False))


def candidate_runtime_dirs() -> list[Path]:
    """Runtime dirs a client should look in, most specific first (duplicates removed).

    ``$SEAM_REFINE_RUNTIME_DIR``, when set, is the only candidate (as in docs/protocol.md and the
    plugins' stdlib client), so a test daemon never finds the user's real one.
    """
    env = os.environ.get(ENV_RUNTIME_DIR)
    if env:
        return [Path(env)]
    out: list[Path] = [_platform_runtime_dir()]
    if sys.platform.startswith("linux") and hasattr(os, "getuid"):
        uid = os.getuid()
        xdg = os.environ.get("XDG_RUNTIME_DIR")
        if xdg:
            out.append(Path(xdg) / APP)
        out += [Path(f"/run/user/{uid}") / APP, Path(f"/tmp/runtime-{uid}") / APP]
    seen: set[str] = set()
    return [p for p in out if not (str(p) in seen or seen.add(str(p)))]


def runtime_dir(create: bool = False) -> Path:
    """The daemon's runtime dir; with ``create`` it is made (mode 0700) if missing."""
    env = os.environ.get(ENV_RUNTIME_DIR)
    path = Path(env) if env else _platform_runtime_dir()
    if create:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def endpoint_path(root: Path | None = None) -> Path:
    return (root or runtime_dir()) / ENDPOINT_FILE


def lock_path(root: Path | None = None) -> Path:
    return (root or runtime_dir()) / LOCK_FILE


def ipc_endpoint(root: Path | None = None) -> str | None:
    """``ipc://…/sock`` in the runtime dir on Unix, or None (Windows, or a path too long for AF_UNIX)."""
    if os.name != "posix":
        return None
    path = (root or runtime_dir()) / IPC_NAME
    if len(str(path).encode()) > 100:  # sun_path is 104–108 bytes depending on the OS
        return None
    return f"ipc://{path}"


def log_dir(create: bool = False) -> Path:
    """``$SEAM_REFINE_LOG_DIR`` or platformdirs' ``user_log_dir("seam-refine", appauthor=False)``."""
    env = os.environ.get(ENV_LOG_DIR)
    if env:
        path = Path(env)
    else:
        import platformdirs

        path = Path(platformdirs.user_log_dir(APP, appauthor=False))
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def pid_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists (best effort; True when it cannot be told)."""
    if pid <= 0:
        return False
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child not yet reaped by its parent is a zombie: dead for our purposes
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2] != "Z"
    except (OSError, ValueError, IndexError):
        return True


def read_endpoint(root: Path | None = None) -> dict | None:
    """The first readable ``endpoint.json`` (in ``root`` or the candidate dirs) whose pid is alive."""
    roots = [root] if root is not None else candidate_runtime_dirs()
    for r in roots:
        try:
            info = json.loads((r / ENDPOINT_FILE).read_text())
        except (OSError, ValueError):
            continue
        if (
            isinstance(info, dict)
            and isinstance(info.get("endpoint"), str)
            and pid_alive(int(info.get("pid", 0)))
        ):
            info["_path"] = str(r / ENDPOINT_FILE)
            return info
    return None


class InstanceLock:
    """One daemon per user: an exclusive, non-blocking lock on ``daemon.lock`` (flock / msvcrt).

    The OS drops the lock when the process dies, so a SIGKILLed daemon never blocks the next one.
    """

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.name == "nt":
                import msvcrt

                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            if os.name == "nt":
                import msvcrt

                os.lseek(self._fd, 0, os.SEEK_SET)
                msvcrt.locking(self._fd, msvcrt.LK_UNLCK, 1)
            else:
                import fcntl

                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None


def sd_notify(state: str) -> bool:
    """Send ``state`` (e.g. ``"READY=1"``) to systemd's ``$NOTIFY_SOCKET`` datagram socket, if set."""
    import socket

    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr or not hasattr(socket, "AF_UNIX"):
        return False
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.connect(addr)
            s.sendall(state.encode())
        return True
    except OSError:
        return False
