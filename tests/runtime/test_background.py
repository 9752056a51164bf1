"""seamrefine.runtime.background: work beside the caller, results and errors handed back."""

from __future__ import annotations

import threading

import pytest
from seamrefine.runtime.background import Background, split_work


def test_background_returns_its_value_from_another_thread():
    job = Background(lambda a, b: (a + b, threading.current_thread().name), 2, 3, name="probe")
    assert job.result() == (5, "probe")


def test_background_hands_its_error_to_the_caller():
    def fail():
        raise ValueError("bad value 7")

    with pytest.raises(ValueError, match="bad value 7"):
        Background(fail).result()


def test_split_work_covers_every_item_once_in_two_threads():
    seen: dict[int, str] = {}

    def work(part):
        for i in part:
            seen[i] = threading.current_thread().name

    split_work(work, range(9))
    assert sorted(seen) == list(range(9))
    assert len(set(seen.values())) == 2  # one half ran beside the caller


def test_split_work_raises_the_side_threads_error_after_both_halves():
    done = []

    def work(part):
        if 1 in part:
            raise RuntimeError("ring 1 failed")
        done.extend(part)

    with pytest.raises(RuntimeError, match="ring 1 failed"):
        split_work(work, range(4))
    assert done == [0, 2]  # the caller's half still ran
