"""Threads for the streamed audio passes (measuring and writing stems).

Their heavy parts release the GIL: libsndfile reading through cffi, scipy's ``sosfilt`` and numpy
on whole blocks. So threads use a second core without pickling a programme's audio to processes.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


def available_cores() -> int:
    """The cores this process may use (its CPU affinity where the OS tells, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """torch on one thread for the block, its count restored after. A speaker embedding's last bits
    must not depend on the process's thread count (pool, Ray or driver), and on a busy 2-core machine
    two OpenMP threads made resemblyzer's small LSTM 10-15x slower (20-26 s instead of 1.4-2.4 s for
    6 s of speech, measured); one thread is as fast when the machine is idle."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def in_parallel(tasks: Sequence[Callable[[], T]], workers: int) -> list[T]:
    """Each task's result, in order, computed on up to ``workers`` threads; the first failure is raised."""
    if workers <= 1 or len(tasks) <= 1:
        return [task() for task in tasks]
    with ThreadPoolExecutor(max_workers=min(workers, len(tasks)), thread_name_prefix="otio-dub") as pool:
        futures = [pool.submit(task) for task in tasks]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def read_ahead(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """``items`` produced on a background thread up to ``depth`` ahead of the consumer, so that reading
    and mixing the next block overlaps with writing this one. Its exceptions are raised here, in order;
    a consumer that stops early (an error, a break) stops the producer too."""
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_DONE, None))
        except BaseException as exc:  # handed to the consumer, which raises it as its own
            put((_DONE, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="otio-dub-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            try:
                item, error = ready.get(timeout=0.5)
            except queue.Empty:
                if not worker.is_alive() and ready.empty():
                    raise RuntimeError("the read-ahead thread ended without a result") from None
                continue
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        if threading.current_thread() is not worker:  # a generator finalised on its own thread cannot wait for it
            worker.join()
