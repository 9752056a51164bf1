"""Where the daemon keeps its runtime files (endpoint, lock, socket) and its logs, and which of them
are trusted.

Runtime dir (:func:`runtime_dir`; the plugins' stdlib client computes the same one):
``$SEAM_REFINE_RUNTIME_DIR`` if set; on Linux/BSD ``$XDG_RUNTIME_DIR/seam-refine``, else
``/run/user/<uid>/seam-refine`` where that runtime folder exists (``/var/run/user/<uid>`` on the
BSDs), else (there is no runtime folder) ``<TMPDIR>/runtime-<uid>/seam-refine``; on macOS
``~/Library/Caches/TemporaryItems/seam-refine``; on Windows ``%LOCALAPPDATA%\\Temp\\seam-refine``.
One folder: nothing else is searched.

Trust (POSIX): an ``endpoint.json`` is used only when the user owns it and its mode is 0600, in a
folder the user owns with mode 0700 (and, for the ``/tmp`` fallback, ``runtime-<uid>`` likewise); any
other is refused with :class:`~seamrefine.errors.UntrustedEndpointError`. The daemon creates its folders
0700, tightens a folder of its own that nobody else can write to, and refuses to start in any other.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import tempfile
from pathlib import Path

from ..errors import UntrustedEndpointError

APP = "seam-refine"
ENV_RUNTIME_DIR = "SEAM_REFINE_RUNTIME_DIR"
ENV_LOG_DIR = "SEAM_REFINE_LOG_DIR"
ENDPOINT_FILE = "endpoint.json"
LOCK_FILE = "daemon.lock"
IPC_NAME = "sock"
MAX_ENDPOINT_BYTES = 64 * 1024
CHECKED = os.name == "posix"  # owner and mode mean nothing on Windows (the folder is per user there)


def _uid() -> int:
    return os.getuid() if hasattr(os, "getuid") else 0


def system_runtime_base(platform: str | None = None) -> Path:
    """The system's per-user runtime folder (which may not exist): ``/run/user/<uid>``, BSD's variant."""
    platform = sys.platform if platform is None else platform
    root = "/var/run/user" if platform.startswith(("freebsd", "openbsd", "netbsd")) else "/run/user"
    return Path(root) / str(_uid())


def tmp_runtime_base() -> Path:
    """``<TMPDIR>/runtime-<uid>``: the runtime folder's stand-in where the system has none."""
    return Path(os.environ.get("TMPDIR") or tempfile.gettempdir()) / f"runtime-{_uid()}"


def default_runtime_dir(platform: str | None = None) -> Path:
    """The runtime dir without ``$SEAM_REFINE_RUNTIME_DIR`` (module doc)."""
    platform = sys.platform if platform is None else platform
    if platform.startswith("win"):
        local = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(local) / "Temp" / APP
    if platform == "darwin":
        return Path.home() / "Library" / "Caches" / "TemporaryItems" / APP
    xdg = os.environ.get("XDG_RUNTIME_DIR", "").strip()
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / APP
    base = system_runtime_base(platform)
    return (base if base.is_dir() else tmp_runtime_base()) / APP


def runtime_dir(create: bool = False) -> Path:
    """The daemon's runtime dir; with ``create`` it is made private (:func:`make_private_dir`)."""
    env = os.environ.get(ENV_RUNTIME_DIR)
    path = Path(env) if env else default_runtime_dir()
    if create:
        if path.parent == tmp_runtime_base():
            make_private_dir(path.parent)
        make_private_dir(path)
    return path


def _privacy_problem(path: Path, folder: bool, uid: int | None) -> str | None:
    """Why ``path`` is no private folder (0700) or regular file (0600) of user ``uid``, or None."""
    uid = _uid() if uid is None else uid
    try:
        st = os.stat(path) if folder else os.lstat(path)
    except OSError as exc:
        return f"{path} cannot be read ({exc.strerror})"
    if not (stat.S_ISDIR(st.st_mode) if folder else stat.S_ISREG(st.st_mode)):
        return f"{path} is not a {'folder' if folder else 'regular file'}"
    name = f"the folder {path}" if folder else str(path)
    if CHECKED and st.st_uid != uid:
        return f"{name} belongs to uid {st.st_uid}, not to you (uid {uid})"
    if CHECKED and st.st_mode & 0o077:
        return f"{name} has mode {st.st_mode & 0o777:04o}; it must be {'0700' if folder else '0600'}"
    return None


def folder_problem(path: Path, uid: int | None = None) -> str | None:
    """Why ``path`` is no private folder of user ``uid`` (default: this user), or None."""
    return _privacy_problem(path, True, uid)


def file_problem(path: Path, uid: int | None = None) -> str | None:
    """Why ``path`` is no private regular file of user ``uid`` (default: this user), or None."""
    return _privacy_problem(path, False, uid)


def untrusted(problem: str, path: Path) -> UntrustedEndpointError:
    """The error for an untrusted runtime folder or endpoint file, with what to do about it."""
    return UntrustedEndpointError(
        f"not using {path}: {problem}. Another user may have planted it; remove it (or fix its owner and "
        "mode) and restart `seam-refine serve`",
        str(path),
    )


def check_folder(root: Path, uid: int | None = None) -> None:
    """Raise UntrustedEndpointError unless ``root`` (and, for the /tmp fallback, its parent) is private."""
    for folder in ([root.parent] if root.parent == tmp_runtime_base() else []) + [root]:
        problem = folder_problem(folder, uid)
        if problem:
            raise untrusted(problem, folder)


def make_private_dir(path: Path) -> None:
    """Create ``path`` with mode 0700, or tighten it to 0700 when it is ours and nobody else can write to
    it; raise UntrustedEndpointError when it is someone else's or writable by others."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if CHECKED:
        st = os.stat(path)
        if st.st_uid == _uid() and st.st_mode & 0o077 and not st.st_mode & 0o022:
            os.chmod(path, 0o700)
    problem = folder_problem(path)
    if problem:
        raise untrusted(problem, path)


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
    """``$SEAM_REFINE_LOG_DIR`` or platformdirs' ``user_log_dir("seam-refine", appauthor=False)``; with
    ``create`` it is made (mode 0700) or, when it is ours, set to 0700: the log names files and peers."""
    env = os.environ.get(ENV_LOG_DIR)
    if env:
        path = Path(env)
    else:
        import platformdirs

        path = Path(platformdirs.user_log_dir(APP, appauthor=False))
    if create:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if CHECKED and os.stat(path).st_uid == _uid():
            os.chmod(path, 0o700)
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
        text = Path(f"/proc/{pid}/stat").read_text()
        return text[text.rindex(")") + 2] != "Z"
    except (OSError, ValueError, IndexError):
        return True


def read_endpoint(root: Path | None = None) -> dict | None:
    """The ``endpoint.json`` of a live daemon in ``root`` (default: :func:`runtime_dir`), else None (no
    folder, no file, unreadable, or its pid is dead: a stale file left by a killed daemon).

    Raises UntrustedEndpointError when the folder, or a live daemon's file, is not private (module doc).
    """
    root = runtime_dir() if root is None else Path(root)
    path = root / ENDPOINT_FILE
    if not os.path.lexists(root):
        return None
    check_folder(root)
    try:
        with open(path, "rb") as f:
            info = json.loads(f.read(MAX_ENDPOINT_BYTES + 1))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not isinstance(info.get("endpoint"), str):
        return None
    pid = info.get("pid")
    if type(pid) is not int or not pid_alive(pid):
        return None
    problem = file_problem(path)
    if problem:
        raise untrusted(problem, path)
    info["_path"] = str(path)
    return info


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
