"""Executors: where the render stage's jobs run. The only seam for parallelism.

An executor takes picklable :class:`~otio_dub.speech.speak.RenderJob` s and yields ``(job, Fitted)`` as
each finishes, in any order; the driver (the render stage) does every write, so executors only
compute and workers need no shared disk. Every executor gives byte-identical takes: a take depends
on its job alone (engines are deterministic; a worker computes on one thread, see
:func:`limit_threads`, and the samples do not depend on the thread count).

* :class:`SerialExecutor` - this process (``--jobs 1``);
* :class:`ProcessExecutor` - a pool of local processes (``--jobs N``), engines loaded once per worker;
* :class:`RayExecutor` - Ray tasks on a local Ray instance or a cluster (``--ray [ADDRESS]``).
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import pickle
import sys
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol

from ..core.errors import InputError, OtioDubError
from ..core.raying import ray_get, ray_module, ray_session
from ..core.threads import available_cores
from ..core.worker_log import driver_level, follow_driver
from ..speech.speak import Fitted, RenderJob, render_job

log = logging.getLogger("otio_dub")


class WorkerCrashError(OtioDubError):
    """A render worker died (killed, out of memory, a crash inside an engine) on the same line twice."""

    def __init__(self, line_id: str, origin: str, how: str) -> None:
        self.line_id = line_id
        super().__init__(f"line {line_id} ({origin}): the render worker died on it twice ({how}); "
                         "nothing was written (try --jobs 1 to see the engine's own error)")


class Executor(Protocol):
    """Runs render jobs and yields each job with its fitted take as it completes."""

    def run(self, jobs: Sequence[RenderJob]) -> Iterator[tuple[RenderJob, Fitted]]:
        """Yield ``(job, fitted)`` for every job, in completion order."""
        ...


class SerialExecutor:
    """Every job in this process, one after another (``--jobs 1``)."""

    def run(self, jobs: Sequence[RenderJob]) -> Iterator[tuple[RenderJob, Fitted]]:
        """Render each job in order (on this process's threads: one process may use every core)."""
        for job in jobs:
            yield job, render_job(job)


_limited = False


def limit_threads() -> None:
    """One compute thread for torch and BLAS in this worker process, so N workers use N cores.

    Called in workers only (it changes process-wide settings); onnxruntime is pinned to one thread
    in every process anyway (``speak.pin_onnxruntime_threads``), since its sums depend on it.
    """
    global _limited
    if _limited:
        return
    _limited = True
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(name, "1")  # for libraries loaded from now on (a worker's own environment)
    torch = sys.modules.get("torch")  # not imported for rendering (600 MB a worker); an engine may
    if torch is not None:
        torch.set_num_threads(1)


def _start_worker(level: int) -> None:
    """A pool worker's setup: the driver's log level (``-v`` shows the workers' lines too), one compute thread."""
    follow_driver(level)
    limit_threads()


def _work(job: RenderJob) -> Fitted:
    """A worker's unit: one compute thread, then the job; a user error comes back whole and picklable."""
    limit_threads()
    try:
        return render_job(job)
    except OtioDubError as exc:
        raise portable(exc) from None


def portable(exc: OtioDubError) -> OtioDubError:
    """``exc`` if it survives pickling (to travel to the driver), else its message as a plain OtioDubError."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # an error class whose __init__ takes other arguments than its message
        plain = OtioDubError(str(exc))
        plain.exit_code = exc.exit_code
        return plain


class ProcessExecutor:
    """A pool of ``jobs`` local worker processes (spawned: torch and onnxruntime threads do not survive
    fork), each loading its engines once and computing on one thread.

    A worker that dies mid-line breaks the pool; the lines it may have held are retried one at a time
    in a fresh worker, and a line that kills a worker again fails the run (:class:`WorkerCrashError`).
    """

    def __init__(self, jobs: int, context: str = "spawn", task: Callable[[RenderJob], Fitted] | None = None) -> None:
        if jobs < 1:
            raise InputError("--jobs", f"must be 1 or more, got {jobs}")
        self.jobs = jobs
        self.context = context
        self.task = task or _work  # what a worker runs per job: a module-level function (it is pickled by name)

    def run(self, jobs: Sequence[RenderJob]) -> Iterator[tuple[RenderJob, Fitted]]:
        """Render ``jobs`` in the pool, yielding each as it completes."""
        pending = deque(jobs)
        while pending:
            suspects = deque((yield from self._batch(pending, self.jobs, 2 * self.jobs)))
            while suspects:  # one at a time in a fresh worker: a second death is that line's
                again = yield from self._batch(suspects, 1, 1)
                if again:
                    job = again[0]
                    raise WorkerCrashError(job.line.id, job.line.origin, "worker process exited abruptly")

    def _batch(self, pending: deque[RenderJob], workers: int,
               depth: int) -> Generator[tuple[RenderJob, Fitted], None, list[RenderJob]]:
        """Run from ``pending`` until it is empty or the pool breaks; returns the jobs in flight at a break.

        ``depth`` jobs are kept in flight (twice the workers, so a worker never waits on the driver;
        one when isolating a line that may have killed its worker).
        """
        context = multiprocessing.get_context(self.context)
        pool = ProcessPoolExecutor(max_workers=min(workers, len(pending)), mp_context=context,
                                   initializer=_start_worker, initargs=(driver_level(),))
        inflight: dict[Future, RenderJob] = {}
        try:
            while pending or inflight:
                while pending and len(inflight) < depth:
                    job = pending.popleft()
                    inflight[pool.submit(self.task, job.portable())] = job
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: inflight[f].index):
                    try:
                        fitted = future.result()
                    except BrokenProcessPool:
                        suspects = sorted(inflight.values(), key=lambda j: j.index)
                        log.warning("a render worker died; retrying %d line(s) in a fresh worker: %s", len(suspects),
                                    ", ".join(j.line.id for j in suspects))
                        inflight.clear()
                        return suspects
                    yield inflight.pop(future), fitted
            return []
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor:
    """Lines as Ray tasks on a local Ray instance (``address`` None) or a running cluster.

    Jobs travel to the workers, takes come back to the driver through the object store; a task whose
    worker dies is retried once by Ray. ``ray.init`` is called only when Ray is not connected yet,
    and a Ray this executor started is shut down when its run ends.
    """

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        self.address = address
        self.num_cpus = num_cpus
        ray_module()  # a missing extra is reported before any work

    def run(self, jobs: Sequence[RenderJob]) -> Iterator[tuple[RenderJob, Fitted]]:
        """Submit every job, then yield each as Ray reports it finished."""
        if not jobs:
            return
        with ray_session(self.address, self.num_cpus) as ray:
            task = ray.remote(num_cpus=1, max_retries=1)(_work)
            refs = {task.remote(job.portable()): job for job in jobs}
            waiting = list(refs)
            while waiting:
                done, waiting = ray.wait(waiting, num_returns=1)
                for ref in done:
                    job = refs.pop(ref)  # dropped once read: the object store frees the take
                    yield job, ray_get(ray, ref, functools.partial(WorkerCrashError, job.line.id, job.line.origin))


def make_executor(jobs: int | None = None, ray: str | None = None) -> Executor:
    """The executor for ``--jobs`` and ``--ray``: Ray when ``ray`` is given (``"local"`` or ``""`` for a
    local instance, ``"auto"`` or an address for a cluster), else a process pool of ``jobs`` workers
    (default: every core), or this process alone for ``jobs == 1``."""
    if jobs is not None and jobs < 1:
        raise InputError("--jobs", f"must be 1 or more, got {jobs}")
    if ray is not None:
        return RayExecutor(None if ray in ("", "local") else ray, num_cpus=jobs)
    jobs = jobs or available_cores()
    return SerialExecutor() if jobs == 1 else ProcessExecutor(jobs)
