"""glibc malloc settings for a process that refines large images (the daemon, the benchmarks).

A 1 MP refine allocates and frees dozens of 4–12 MB numpy buffers. With glibc's defaults, memory
freed at the top of the heap is handed back to the kernel at once and buffers above the (adaptive)
mmap threshold are mapped per allocation, so the next buffer page-faults its memory in again; on
this 2-core machine that cost ~10 % of a 1 MP refine (``keep_large_buffers``, MODEL.md "Speed and
memory"). The memory kept that way is handed back once the daemon has been idle a while
(``release_free_memory``, ``IdleRelease``). Elsewhere than glibc on Linux every call is a no-op that
returns False.
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8  # mallopt parameters (malloc.h)
MMAP_THRESHOLD = 64 << 20  # bytes: buffers below this come from the heap, reused after a free
TRIM_THRESHOLD = 256 << 20  # bytes of free memory at the heap's top kept for the next request
IDLE_RELEASE_S = 20.0  # s without a request after which the daemon hands kept memory back


def _libc():
    """glibc, or None where there is none (macOS, Windows, musl without mallopt)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def one_malloc_arena() -> bool:
    """Ask glibc for a single malloc arena (M_ARENA_MAX = 1); True when applied.

    glibc gives each thread its own arena and trims it eagerly, so the daemon's worker thread
    page-faulted its large numpy buffers back in on every request (~5,000 minor faults per 1 MP
    refine, measured); with one arena it reuses them like the main thread does. Two threads do not
    contend for it."""
    libc = _libc()
    return bool(libc and libc.mallopt(M_ARENA_MAX, 1))


def keep_large_buffers() -> bool:
    """Serve buffers up to ``MMAP_THRESHOLD`` from the heap and keep up to ``TRIM_THRESHOLD`` of
    freed memory at its top (glibc's defaults: an mmap threshold that adapts up to the largest
    buffer freed so far, and trimming beyond twice that); True when applied. Setting either turns
    glibc's adaptation off, so both are set."""
    libc = _libc()
    return bool(libc and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def release_free_memory() -> bool:
    """Hand the heap's free memory back to the kernel (``malloc_trim(0)``); True when some was."""
    libc = _libc()
    return bool(libc and libc.malloc_trim(0))


class IdleRelease:
    """When to hand kept memory back: ``due`` is True once ``after_s`` seconds have passed since the
    last ``busy`` without another, so the daemon's worker keeps its buffers between requests that come
    in a row and calls ``release`` (outside its queue's lock) when the artist has stopped refining."""

    def __init__(self, release, after_s: float = IDLE_RELEASE_S):
        self.release, self.after_s = release, float(after_s)
        self._since: float | None = None  # when the last request finished; None: released already

    def busy(self, now: float) -> None:
        """A request just finished at ``now`` (time.monotonic seconds)."""
        self._since = now

    def due(self, now: float) -> bool:
        """True once per idle spell, when it has lasted ``after_s`` seconds at ``now``."""
        if self._since is None or now - self._since < self.after_s:
            return False
        self._since = None
        return True
