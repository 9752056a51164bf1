"""Work in a thread of its own beside the caller's: the refiner's stages are mostly OpenCV and numpy
calls that release the GIL, on a CPU with few cores, so independent parts overlap."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Background:
    """``fn(*args)`` in a thread of its own; ``result()`` waits for it and returns (or raises) its
    outcome."""

    def __init__(self, fn: Callable, *args, name: str = "seamrefine-background"):
        self._value, self._error = None, None

        def work() -> None:
            try:
                self._value = fn(*args)
            except BaseException as e:  # handed to the caller in result()
                self._error = e

        self._thread = threading.Thread(target=work, name=name, daemon=True)
        self._thread.start()

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def split_work(fn: Callable, items) -> None:
    """``fn(part)`` on two interleaved halves of ``items``, one in a background thread: for loops of
    independent, GIL-releasing work (every result written by ``fn`` itself)."""
    items = list(items)
    side = Background(fn, items[1::2], name="seamrefine-split")
    try:
        fn(items[0::2])
    finally:
        side.result()
