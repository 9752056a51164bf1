"""fill_runs: the blocks of rows and columns that hold pasted pixels."""

from __future__ import annotations

import threading

import numpy as np
from seamrefine.runtime.fill_runs import STRIP, over_runs, pasted_runs


def test_pasted_runs_known_blocks():
    pasted = np.zeros((2 * STRIP + 5, 200), bool)
    pasted[3, 10:20] = True
    pasted[5, 25] = True  # closer than STRIP to the first run: merged
    pasted[7, 120:130] = True  # farther: a run of its own
    pasted[2 * STRIP + 1, 0] = True  # the last, short strip
    assert pasted_runs(pasted) == [(0, 10, 26), (0, 120, 130), (2 * STRIP, 0, 1)]
    assert pasted_runs(np.zeros((10, 10), bool)) == []


def test_over_runs_visits_every_pasted_pixel_once_in_two_threads():
    rng = np.random.default_rng(0)
    pasted = rng.random((3 * STRIP + 7, 150)) > 0.97
    hits = np.zeros(pasted.shape, np.int32)
    threads = set()

    def block(win) -> None:
        threads.add(threading.get_ident())
        hits[win] += 1

    over_runs(block, pasted)
    assert hits[pasted].min() == 1 and hits.max() == 1  # disjoint windows cover every pasted pixel
    assert len(threads) == 2
