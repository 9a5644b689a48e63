"""The stems' threads: results in order, a failure raised where it is consumed, and a producer that
stops when its consumer does (no thread left running)."""

from __future__ import annotations

import threading
import time

import pytest

from otio_dub.core.threads import available_cores, in_parallel, read_ahead


def test_in_parallel_keeps_the_order_and_raises_the_failure():
    def task(n):
        return lambda: time.sleep(0.01 * (5 - n)) or n * n

    assert in_parallel([task(n) for n in range(5)], 3) == [0, 1, 4, 9, 16]
    assert in_parallel([task(n) for n in range(5)], 1) == [0, 1, 4, 9, 16]

    def boom():
        raise ValueError("part 2")

    with pytest.raises(ValueError, match="part 2"):
        in_parallel([task(0), boom, task(1)], 2)


def test_read_ahead_yields_everything_in_order():
    assert list(read_ahead(iter(range(100)), depth=3)) == list(range(100))
    assert list(read_ahead(iter([]))) == []


def test_read_ahead_raises_the_producers_error_after_what_came_before():
    def items():
        yield 1
        yield 2
        raise OSError("line 3 unreadable")

    got = []
    with pytest.raises(OSError, match="line 3 unreadable"):
        for item in read_ahead(items()):
            got.append(item)
    assert got == [1, 2]


def test_a_consumer_that_stops_stops_the_producer():
    closed = threading.Event()
    made = []

    def items():
        try:
            for n in range(10_000):
                made.append(n)
                yield n
        finally:
            closed.set()

    before = threading.active_count()
    with pytest.raises(RuntimeError):
        for item in read_ahead(items(), depth=2):
            if item == 3:
                raise RuntimeError("disk full")
    assert closed.is_set()  # the generator was closed (its files with it)
    assert len(made) < 10  # it did not run on to the end
    assert threading.active_count() == before


def test_available_cores_is_at_least_one():
    assert available_cores() >= 1
