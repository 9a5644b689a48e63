"""Executors: a process pool and Ray give the takes the serial executor gives, byte for byte; a worker
that dies is retried once, and a line that kills its worker twice fails with one line naming it."""

from __future__ import annotations

import multiprocessing
import os
import signal

import numpy as np
import pytest

from otio_dub.core.errors import EngineError, InputError, OtioDubError
from otio_dub.dialogue.lines import Line
from otio_dub.engines import VoiceSpec, get_engine
from otio_dub.speech import fit
from otio_dub.speech.speak import RenderJob, delivery_key, take_key
from otio_dub.stages.executors import (
    ProcessExecutor,
    RayExecutor,
    SerialExecutor,
    WorkerCrashError,
    _work,
    make_executor,
)

TEXTS = ["Where were you when the lights went out?", "Yes.", "Keep your voice down, they can hear us.",
         "The letter arrived three days too late.", "Fine. Have it your way."]
FRAME = 2000  # 24 fps


def make_jobs(engine_name: str = "espeak", texts: list[str] = TEXTS) -> list[RenderJob]:
    """A handful of lines with windows from 0.8x to 1.3x their rough length, as the render stage builds them."""
    engine = get_engine("espeak")
    policy = fit.FitPolicy()
    jobs = []
    for i, text in enumerate(texts):
        frames = max(6, round(len(text) * 0.07 * 24 * (0.8 + 0.5 * i / len(texts))))
        line = Line(f"L{i:02d}", 10 * i, 10 * i + frames, "ANNA", "en", text, origin=f"test line {i}")
        spec = engine.default_voice("en", i) if engine_name == "espeak" else VoiceSpec()
        window = fit.Window(samples=frames * FRAME, free_after=24_000)
        args = (spec, 1.0 + 0.05 * i, 0.0, 0.0)
        jobs.append(RenderJob(i, line, engine_name, spec, 1.0 + 0.05 * i, 0.0, 0.0, window, policy, FRAME,
                              take_key(engine, text, *args, window, policy, FRAME),
                              delivery_key(engine, text, *args, policy, FRAME)))
    return jobs


@pytest.fixture(scope="module")
def jobs() -> list[RenderJob]:
    return make_jobs()


@pytest.fixture(scope="module")
def serial(jobs):
    return {job.index: fitted for job, fitted in SerialExecutor().run(jobs)}


def assert_same(results, serial, jobs):
    assert sorted(job.index for job, _ in results) == [job.index for job in jobs]
    for job, fitted in results:
        ref = serial[job.index]
        assert fitted.media.dtype == ref.media.dtype
        assert fitted.media.tobytes() == ref.media.tobytes(), job.line.id
        assert fitted.plan == ref.plan
        assert fitted.report == ref.report


def test_process_pool_gives_the_serial_takes_byte_for_byte(jobs, serial):
    results = list(ProcessExecutor(2).run(jobs))
    assert_same(results, serial, jobs)


def test_a_worker_killed_mid_run_is_replaced_and_its_lines_retried(jobs, serial):
    results = []
    killed = False
    for job, fitted in ProcessExecutor(2).run(jobs):
        results.append((job, fitted))
        if not killed:  # the first take is back: the pool is busy with the next ones
            workers = multiprocessing.active_children()
            assert workers
            os.kill(workers[0].pid, signal.SIGKILL)
            killed = True
    assert_same(results, serial, jobs)


def die_on_second_line(job: RenderJob):
    """A worker task that kills its own process on line L01, as a crashing engine would."""
    if job.line.id == "L01":
        os._exit(9)
    return _work(job)


def test_a_line_that_kills_its_worker_twice_fails_with_one_line_naming_it(jobs):
    with pytest.raises(WorkerCrashError) as err:
        list(ProcessExecutor(2, task=die_on_second_line).run(jobs))
    message = str(err.value)
    assert "\n" not in message
    assert "L01" in message and "test line 1" in message
    assert err.value.line_id == "L01"


def test_an_engine_error_in_a_worker_reaches_the_driver_as_itself(jobs):
    bad = [RenderJob(**{**job.__dict__, "engine": "no-such-engine"}) for job in jobs[:2]]
    with pytest.raises(EngineError, match="unknown engine 'no-such-engine'"):
        list(ProcessExecutor(2).run(bad))


def test_make_executor():
    assert isinstance(make_executor(1), SerialExecutor)
    pool = make_executor(3)
    assert isinstance(pool, ProcessExecutor) and pool.jobs == 3
    assert isinstance(make_executor(None), (SerialExecutor, ProcessExecutor))
    with pytest.raises(InputError, match="--jobs: must be 1 or more"):
        make_executor(0)


def test_missing_ray_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(OtioDubError, match=r"pip install 'otio-dub\[ray\]'"):
        make_executor(2, ray="local")


# ---------------------------------------------------------------------------------------------
# Ray: one local instance for the module, shut down after it (nothing left for other tests)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    assert not ray.is_initialized()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING",
             object_store_memory=100 * 1024 * 1024)
    try:
        yield ray
    finally:
        ray.shutdown()
    assert not ray.is_initialized()


def test_ray_tasks_give_the_serial_takes_byte_for_byte(local_ray, jobs, serial):
    results = list(RayExecutor().run(jobs))
    assert_same(results, serial, jobs)
    assert local_ray.is_initialized()  # a Ray the executor did not start is left running


def test_an_engine_error_in_a_ray_task_reaches_the_driver_as_one_line(local_ray, jobs):
    bad = [RenderJob(**{**job.__dict__, "engine": "no-such-engine"}) for job in jobs[:1]]
    with pytest.raises(EngineError) as err:
        list(RayExecutor().run(bad))
    assert "\n" not in str(err.value) and "unknown engine 'no-such-engine'" in str(err.value)


def test_results_arrive_as_numpy_takes_not_references(local_ray, jobs):
    job, fitted = next(iter(RayExecutor().run(jobs[:1])))
    assert isinstance(fitted.media, np.ndarray) and fitted.media.size == fitted.plan.media_samples


def test_piper_takes_in_a_pool_match_the_serial_ones():
    """onnxruntime on one thread per worker computes the same samples as on every core."""
    pytest.importorskip("piper")
    piper_jobs = make_jobs("piper", [TEXTS[0], "Somehow the train is late."])  # the second differed on 2 threads
    ref = {job.index: fitted for job, fitted in SerialExecutor().run(piper_jobs)}
    assert_same(list(ProcessExecutor(2).run(piper_jobs)), ref, piper_jobs)


def test_a_line_carrying_its_otio_clip_travels_without_it(jobs, serial):
    """The plan keeps each line's OTIO clip in ``line.extra`` (not picklable): workers get the line
    without it, and the driver gets back its own job, clip and all."""
    import opentimelineio as otio

    from otio_dub.dialogue.lines import Line

    clip = otio.schema.Clip(name="dia_0001")
    with_clip = [RenderJob(**{**job.__dict__, "line": Line(**{**job.line.__dict__, "extra": {"clip": clip}})})
                 for job in jobs[:2]]
    results = list(ProcessExecutor(2).run(with_clip))
    assert {job.line.extra["clip"].name for job, _ in results} == {"dia_0001"}
    for job, fitted in results:
        assert fitted.media.tobytes() == serial[job.index].media.tobytes()


_WORKER_LOGS = """
import logging, multiprocessing, sys
from concurrent.futures import ProcessPoolExecutor
from otio_dub.core.worker_log import driver_level
from otio_dub.stages.executors import _start_worker

say = logging.getLogger("otio_dub").info
if __name__ == "__main__":  # the level is set in the driver only: the worker has it from initargs
    logging.getLogger("otio_dub").setLevel(getattr(logging, sys.argv[1]))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context, initializer=_start_worker, initargs=(driver_level(),)) as pool:
        pool.submit(say, "a render worker speaks").result()
"""


@pytest.mark.parametrize("level", ["DEBUG", "WARNING"])
def test_pool_workers_log_at_the_drivers_level(tmp_path, level):
    """-v shows what the workers do too: a spawned worker takes the driver's otio_dub level and
    prints as the CLI does; without -v a worker's info stays quiet."""
    import subprocess
    import sys

    script = tmp_path / "workers.py"
    script.write_text(_WORKER_LOGS, encoding="utf-8")
    run = subprocess.run([sys.executable, str(script), level], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    said = "info: a render worker speaks" in run.stderr.splitlines()
    assert said is (level == "DEBUG"), run.stderr
