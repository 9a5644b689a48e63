"""Render: every planned line to a fitted take — reused, from the render cache, or spoken by an executor.

The cache and the takes reused from an earlier dub are consulted here, on the driver, before any
dispatch, so only missing takes travel to workers; results are written to the cache as they come
back. This is the only stage an executor plugs into.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..core.errors import OutputError
from ..delivery.stem_reuse import link_into
from ..dialogue.lines import Line
from ..speech import fit
from ..speech.speak import Fitted, fit_reused
from ..store.cache import RenderCache
from .executors import Executor, SerialExecutor
from .plan import DubPlan, LineJob

Progress = Callable[[int, int, Line], None]


@dataclass
class Rendered:
    """A line's fitted take and where it came from: ``reused``, ``cache`` or ``synthesized``.

    With a spool folder the take's samples live in ``spooled`` (a float32 ``.npy``; silence past
    its end) and ``fitted.media`` is dropped, so a feature's takes never sit in memory at once.
    ``identity`` names the samples when a key does (the render-cache key of a cached or spoken
    take), so later stages key what they make from it without reading the take; else "".
    """

    job: LineJob
    fitted: Fitted
    source: str
    spooled: Path | None = None
    identity: str = ""


def render_lines(plan: DubPlan, executor: Executor | Callable[[int], Executor] | None = None, reuse: Mapping[str, Fitted] | None = None,
                 progress: Progress | None = None, fresh: Collection[str] = (), spool: Path | None = None,
                 keep: Mapping[str, Fitted] | None = None) -> list[Rendered]:
    """Fitted takes for every line of ``plan``, in line order.

    ``reuse`` (conform) gives takes by line id to place as they are when they still fit; ``fresh``
    names lines whose takes are spoken again even when the cache holds one (``--only-lines``).
    ``spool`` is a folder each take is written to as it arrives (see :class:`Rendered`). ``keep``
    gives takes placed as they are whatever changed (``--only-lines``: every line not named); they
    are never stored under the line's current key.
    ``executor`` may be a factory given the number of takes to speak (a pool is not worth starting for two).
    """
    reuse = reuse or {}
    cache = RenderCache(plan.options.cache) if plan.options.cache else None
    done: dict[int, Rendered] = {}
    missing = []
    total = len(plan.jobs)
    try:
        for index, lj in enumerate(plan.jobs):
            found = _kept(lj, (keep or {}).get(lj.line.id)) or _known(lj, reuse.get(lj.line.id), cache,
                                                                       lj.line.id in fresh, spool)
            if found is None:
                missing.append(lj)
                continue
            done[index] = _spool(found, spool)
            if progress:
                progress(len(done), total, lj.line)
        by_job = {lj.job.index: lj for lj in missing}
        if callable(executor) and not hasattr(executor, "run"):
            executor = executor(len(missing))
        for job, fitted in (executor or SerialExecutor()).run([lj.job for lj in missing]):
            rendered = Rendered(by_job[job.index], fitted, "synthesized", identity=job.key)
            if cache is not None:
                stored = cache.put(job.key, fitted.media, {"plan": asdict(fitted.plan), "report": fitted.report})
                if spool is not None:  # the take is written once: its spool entry is the cache's file, linked
                    rendered = _linked_from_cache(rendered, stored, spool)
            done[job.index] = _spool(rendered, spool)
            if progress:
                progress(len(done), total, by_job[job.index].line)
    finally:
        if cache is not None:
            cache.close()
    return [done[i] for i in range(total)]


def _kept(lj: LineJob, old: Fitted | None) -> Rendered | None:
    """An earlier take placed as it is, if its clip still has room for it."""
    if old is None:
        return None
    old = Fitted(old.media, old.plan, dict(old.report, delivery=lj.job.delivery))
    same_clip = old.plan.media_samples - old.plan.borrowed == lj.window.samples and old.plan.borrowed <= lj.window.free_after
    if same_clip or old.plan.status == "overrun":  # an overrun is placed whole wherever it lands
        return Rendered(lj, old, "kept")
    fitted = fit_reused(old, lj.window, lj.job.delivery)
    return Rendered(lj, fitted, "kept") if fitted is not None else None


def _known(lj: LineJob, old: Fitted | None, cache: RenderCache | None, fresh: bool, spool: Path | None) -> Rendered | None:
    """A take that needs no synthesis: an earlier dub's that still fits here, or the cache's (linked
    into the spool folder, never read, where there is one)."""
    key = lj.job.key
    fitted = fit_reused(old, lj.window, lj.job.delivery)
    if fitted is not None:
        if fitted.plan.status in ("fit", "padded") and cache is not None and cache.get(key) is None:
            cache.put(key, fitted.media, {"plan": asdict(fitted.plan), "report": fitted.report})  # next conform hits
        return Rendered(lj, fitted, "reused")
    if cache is None or fresh:
        return None
    if spool is not None and (found := cache.locate(key)) is not None:
        path, meta = found
        take = Fitted(np.zeros(0, np.float32), fit.FitPlan(**meta["plan"]), meta["report"])
        return Rendered(lj, take, "cache", link_into(path, spool / f"{lj.line.id}.npy", fresh=True), key)
    if spool is None and (hit := cache.get(key)) is not None:
        return Rendered(lj, Fitted(hit[0], fit.FitPlan(**hit[1]["plan"]), hit[1]["report"]), "cache", identity=key)
    return None


def _linked_from_cache(r: Rendered, stored: Path, spool: Path) -> Rendered:
    """``r`` spooled as a link to its file in the render cache; written from memory if that file is
    already gone (another run pruned the cache meanwhile)."""
    try:
        return _linked(r, link_into(stored, spool / f"{r.job.line.id}.npy", fresh=True))
    except OutputError:
        return r  # _spool writes it


def _linked(r: Rendered, path: Path) -> Rendered:
    """``r`` with its samples at ``path`` (dropped from memory)."""
    return Rendered(r.job, Fitted(np.zeros(0, np.float32), r.fitted.plan, r.fitted.report), r.source, path, r.identity)


def _spool(r: Rendered, spool: Path | None) -> Rendered:
    """Write the take as float32 ``.npy`` (unless it is there already); keep only its plan and report."""
    if spool is None or r.spooled is not None:
        return r
    path = spool / f"{r.job.line.id}.npy"
    try:
        np.save(path, np.ascontiguousarray(r.fitted.media, dtype=np.float32), allow_pickle=False)
    except OSError as exc:  # numpy reports a short write (disk full, a size limit) with no errno
        raise OutputError(f"{path}: cannot write ({exc.strerror or f'disk full or file too large: {exc}'})") from None
    return _linked(r, path)
