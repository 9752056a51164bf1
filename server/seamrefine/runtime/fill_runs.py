"""Where a change confined to the fill is computed: runs of columns within strips of rows.

The colour map's and the texture's changes are zero outside the pasted pixels, which on a large
image with a small or thin fill are most of it; ``pasted_runs`` lists the blocks (a strip of
``STRIP`` rows, a run of columns) that hold pasted pixels, and ``over_runs`` hands them to a function
in two threads (``background.split_work``), so the numpy passes that build such a change touch only
those blocks and run side by side.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .background import split_work

STRIP = 32  # rows per strip, and the column gap that splits a run


def pasted_runs(pasted: np.ndarray) -> list[tuple[int, int, int]]:
    """(first row, first column, end column) of each run of columns holding a True pixel of ``pasted``
    (H×W bool) within each strip of ``STRIP`` rows, runs closer than ``STRIP`` columns merged."""
    out = []
    for y0 in range(0, pasted.shape[0], STRIP):
        cols = np.flatnonzero(pasted[y0 : y0 + STRIP].any(0))
        if cols.size:
            cut = np.flatnonzero(np.diff(cols) > STRIP)
            starts, ends = cols[np.r_[0, cut + 1]], cols[np.r_[cut, cols.size - 1]] + 1
            out += [(y0, int(a), int(b)) for a, b in zip(starts, ends, strict=True)]
    return out


def over_runs(block: Callable[[tuple[slice, slice]], None], pasted: np.ndarray) -> None:
    """``block(window)`` for the window (rows, columns) of each of ``pasted_runs(pasted)``, in two
    threads; the windows are disjoint, so ``block`` may write its own window of a shared output."""
    h = pasted.shape[0]

    def part(runs) -> None:
        for y0, x0, x1 in runs:
            block((slice(y0, min(y0 + STRIP, h)), slice(x0, x1)))

    split_work(part, pasted_runs(pasted))
