"""Dialogue clips heard on every core or on Ray: clips are independent (:mod:`otio_dub.listen.clip_listen`),
so each is heard in a worker that loads the recognizer and the speaker embedder once.

Spawned workers (torch and CTranslate2 threads do not survive a fork), each recognising on one
thread as the main process does (CTranslate2's words change with its thread count), so a
transcript is the same on any machine whatever ``jobs``; the cores are used by as many workers.
A process worker decodes its clip's media itself (decoding one clip overlaps with recognising
another); for a Ray task the driver decodes it, so a cluster's workers need not see the media.
Results come back in clip order whatever finishes first, so the transcript does not depend on
``jobs`` or on Ray.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Generator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import opentimelineio as otio

from ..core.timebase import TimeBase
from ..core.worker_log import driver_level, follow_driver
from .clip_listen import HeardClip, Run, listen_clip
from .media import clip_audio
from .segment import Rules, Word

if TYPE_CHECKING:
    from .asr import Recognizer

#: clip index -> its runs (None: no readable media); called with (done, total, clip name) after each.
Heard = dict[int, list[Run] | None]
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class _Task:
    """One clip to hear, as a worker needs it (the clip as OTIO JSON: it travels without its timeline)."""

    index: int
    clip: str
    track: str
    record_in: int
    record_out: int
    hints: tuple[tuple[int, int, str], ...]
    base: Path | None
    tb: TimeBase
    rules: Rules
    enhance: bool
    language: str | None
    known: tuple[str | None, float | None, str, dict[str, float]]  # lang, its probability, source, languages so far


@dataclass(frozen=True)
class _Result:
    """What a worker heard in one clip: ``HeardClip``'s fields and the runs (None: no readable media)."""

    index: int
    runs: list[Run] | None
    words: list[Word]
    lang: str | None
    lang_probability: float | None
    lang_source: str
    languages: dict[str, float]
    over_floor_db: float | None
    enhanced: bool


def hear_clips(clips: Sequence[HeardClip], base: Path | None, tb: TimeBase, rules: Rules, enhance: bool,
               recognizer: Callable[[], Recognizer], model: str | None, lang: str | None, jobs: int,
               languages: Mapping[int, str] | None = None, progress: Progress | None = None,
               ray: str | None = None) -> Heard:
    """Hear ``clips`` (each in ``languages[index]`` where given): in this process when ``jobs`` is 1
    or there is one clip, as Ray tasks when ``ray`` names a Ray (``"local"``, ``"auto"``, an address),
    else in ``jobs`` worker processes; fills each HeardClip in and returns its runs."""
    from .speaker_prints import check_installed

    if clips:
        check_installed()  # one clear line now, not a traceback (or a dead worker) after the clips are heard
    heard: Heard = {}
    if ray is None and (jobs <= 1 or len(clips) <= 1):
        asr = recognizer()
        for done, clip in enumerate(clips, 1):
            audio = clip_audio(clip.clip, base)
            language = (languages or {}).get(clip.index)
            heard[clip.index] = None if audio is None else listen_clip(clip, audio, asr, enhance, tb, rules, language)
            if progress:
                progress(done, len(clips), clip.clip.name)
        return heard
    tasks = [_Task(c.index, otio.adapters.write_to_string(c.clip, "otio_json"), c.track, c.record_in, c.record_out,
                   tuple(c.hints), base, tb, rules, enhance, (languages or {}).get(c.index),
                   (c.lang, c.lang_probability, c.lang_source, dict(c.languages))) for c in clips]
    if not tasks:
        return heard
    by_index = {c.index: c for c in clips}
    if ray is not None:  # the driver decodes each clip it already holds: Ray workers need not see the media
        results = _on_ray(tasks, lambda t: clip_audio(by_index[t.index].clip, base), model, lang, ray, jobs)
    else:
        results = _in_processes(tasks, model, lang, jobs)
    with contextlib.closing(results):  # an error here still ends the pool or the Ray it started
        for done, result in enumerate(results, 1):  # in clip order, whatever finishes first
            clip = by_index[result.index]
            clip.words, clip.lang, clip.lang_probability = result.words, result.lang, result.lang_probability
            clip.lang_source, clip.languages = result.lang_source, result.languages
            clip.over_floor_db, clip.enhanced = result.over_floor_db, result.enhanced
            heard[result.index] = result.runs
            if progress:
                progress(done, len(tasks), clip.clip.name)
    return heard


def _in_processes(tasks: list[_Task], model: str | None, lang: str | None, jobs: int) -> Generator[_Result, None, None]:
    """Each clip heard in a pool of ``jobs`` spawned processes (each decodes its clips' media itself)."""
    from concurrent.futures.process import BrokenProcessPool

    from .media import ListenError

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=context, initializer=_start,
                             initargs=(model, lang, 1, driver_level())) as pool:
        try:
            yield from pool.map(_hear, tasks)
        except BrokenProcessPool:
            raise ListenError(f"a listening worker process died (out of memory?) with {jobs} workers; "
                              "try --jobs 1") from None


def _on_ray(tasks: list[_Task], audio_of: Callable[[_Task], np.ndarray | None], model: str | None, lang: str | None,
            address: str, cpus: int) -> Generator[_Result, None, None]:
    """Each clip heard as a Ray task, in clip order, its audio (``audio_of``) sent with it, a few
    clips ahead per CPU so the object store holds little audio."""
    from ..core.raying import ray_get, ray_session
    from .media import ListenError

    def lost(how: str) -> ListenError:
        return ListenError(f"a Ray listening worker was lost twice ({how}); try --jobs instead")

    with ray_session(address, cpus) as ray:
        remote = ray.remote(num_cpus=1, max_retries=1)(_hear_on_ray)
        ahead = 2 * max(1, int(ray.cluster_resources().get("CPU", 1)))
        inflight: deque = deque()
        try:
            for task in tasks:
                inflight.append(remote.remote(task, model, lang, audio_of(task)))
                if len(inflight) >= ahead:
                    yield ray_get(ray, inflight.popleft(), lost)
            while inflight:
                yield ray_get(ray, inflight.popleft(), lost)
        finally:
            for ref in inflight:  # a run that failed leaves no clips being heard on a cluster
                ray.cancel(ref)


_worker: dict[str, object] = {}


def _start(model: str | None, lang: str | None, threads: int, level: int | None = None) -> None:
    """A worker's setup: the driver's log ``level``, its thread budget for every library, then the
    recognizer, loaded once."""
    if level is not None:
        follow_driver(level)
    _worker.clear()
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    from .asr import Recognizer
    from .speaker_prints import get_speaker_prints

    _worker["asr"] = Recognizer(model, lang, threads)
    get_speaker_prints()  # the encoder (torch) loaded now, so its threads are set before the first clip
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    _worker["key"] = (model, lang)  # only once all is loaded: a failed load is tried again on the next clip


def _hear(task: _Task, audio: np.ndarray | None = None, decoded: bool = False) -> _Result:
    """Hear one clip in a worker (module level: pickled by name); its media decoded here unless ``decoded``."""
    clip = otio.adapters.read_from_string(task.clip, "otio_json")
    heard = HeardClip(task.index, clip, task.track, task.record_in, task.record_out, list(task.hints),
                      [], *task.known)  # what the main process knows of it (a second hearing keeps its language's why)
    if not decoded:
        audio = clip_audio(clip, task.base)
    runs = None
    if audio is not None:
        runs = listen_clip(heard, audio, _worker["asr"], task.enhance, task.tb, task.rules, task.language)  # type: ignore[arg-type]
    return _Result(task.index, runs, heard.words, heard.lang, heard.lang_probability, heard.lang_source,
                   heard.languages, heard.over_floor_db, heard.enhanced)


def _hear_on_ray(task: _Task, model: str | None, lang: str | None, audio: np.ndarray | None) -> _Result:
    """A Ray task: the worker (reused across tasks) loads the models on its first clip of this run's kind."""
    if _worker.get("key") != (model, lang):
        _start(model, lang, 1)
    return _hear(task, audio, decoded=True)
