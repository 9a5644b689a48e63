"""The one orchestrator the CLI, the Python API and the hooks call: plan, render, place, deliver.

Each stage is a function handing a dataclass to the next (see ``otio_dub/stages``). The whole dub
is written into a staging folder beside the output folder and swapped in only when every file
succeeded (:mod:`otio_dub.delivery.outdir`), so a failed or killed run leaves the previous dub as it was.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import opentimelineio as otio

from ..audio.loudness import prefetch
from ..core.errors import InputError, OtioDubError, OutputError
from ..delivery.outdir import OutputFolder
from ..dialogue.lines import Line
from ..speech import fit
from ..speech.speak import Fitted, delivery_key, fit_line, fit_reused, take_key
from ..store.cache import RenderCache
from ..timelines.timeline_io import read_timeline
from . import unchanged
from .deliver import Adjust, DubResult, deliver, moved
from .executors import Executor, SerialExecutor
from .options import DubOptions
from .place import place_lines, summarize
from .plan import DubPlan, cast_of, collect_lines, free_frame, free_frames, list_events, plan_dub, with_sidecar_cast
from .render import render_lines

log = logging.getLogger("otio_dub")

Progress = Callable[[int, int, Line], None]
SERIAL_BELOW = 8  # fewer takes to speak than this: a worker pool costs more to start than it saves


def dub(
    timeline: str | Path | otio.schema.Timeline,
    script: str | Path | None = None,
    out_dir: str | Path | None = None,
    options: DubOptions | None = None,
    progress: Progress | None = None,
    reuse: Mapping[str, Fitted] | None = None,
    adjust: Adjust | None = None,
    finish: Callable[[Path, DubResult], None] | None = None,
) -> DubResult:
    """Dub ``timeline`` into ``out_dir``: the dub timeline, per-line media, stems and report.json.

    ``reuse`` (used by conform) gives fitted takes to place as they are, by line id; ``adjust``
    changes the dub timeline before it and its stems are written (conform's carried hand edits);
    ``finish`` writes more files into the staged dub before it is put in place (conform.json).
    """
    # the cast beside the timeline is an input like the others: named before the inputs' states are taken
    options = with_sidecar_cast(timeline, options or DubOptions())
    plain = reuse is None and adjust is None and finish is None and not options.only_lines  # may be kept unchanged
    started, before = time.time_ns(), unchanged.input_states(timeline, script, options) if plain else None
    plan = plan_dub(timeline, script, out_dir, options)
    with OutputFolder(plan.out) as tx:
        check_inputs_kept(plan, tx)
        fresh, keep = only_lines(plan)
        key = unchanged.run_key(plan, timeline, script, tx.out, before, started) if plain else None
        if key is not None and (kept := unchanged.reuse(plan, tx.out, key)) is not None:
            return kept  # the folder holds this very dub already: nothing is written
        spool = tx.staging / ".takes"
        try:
            spool.mkdir()
            rendered = render_lines(plan, executor_for(options), reuse, progress, fresh, spool, keep)
            result = deliver(plan, place_lines(plan, rendered), tx.staging, adjust)
            spool.rmdir()
            if finish is not None:
                finish(tx.staging, result)
        except OSError as exc:
            raise OutputError(tx.public(f"{exc.filename or tx.staging}: cannot write ({exc.strerror})")) from None
        except OutputError as exc:
            raise OutputError(tx.public(str(exc))) from None
        tx.commit(result.entries)
        result = moved(result, tx.out)
        if key is not None:
            unchanged.record(result, key)  # after the swap: the states are those the files keep
    return result


def executor_for(options: DubOptions) -> Callable[[int], Executor]:
    """The render stage's executor, chosen once the number of takes to speak is known."""
    def make(missing: int) -> Executor:
        if not options.ray and (missing < SERIAL_BELOW or options.jobs == 1):
            return SerialExecutor()
        from .executors import make_executor

        if missing and options.stems.mode != "none":
            prefetch()  # the stems' meter, imported while this process waits on the workers
        return make_executor(options.jobs, options.ray or None)

    return make


def check_inputs_kept(plan: DubPlan, tx: OutputFolder) -> None:
    """Refuse a run whose output folder would replace one of its own inputs (inputs are read-only)."""
    out = tx.out.resolve()
    for path in plan.inputs:
        try:
            inside = Path(path).resolve().relative_to(out)
        except ValueError:
            continue
        if inside.parts and (inside.parts[0] in _owned_names(plan) or inside.parts[0].startswith(".otio-dub")):
            raise InputError(str(path), f"is inside the output folder {tx.out} where the dub would replace it; "
                                        "choose another -o")


def _owned_names(plan: DubPlan) -> set[str]:
    from ..delivery.outdir import owned_entries

    return owned_entries(plan.out) | {"media", "stems", "review", "subtitles", "report.json", "review.html",
                                      f"{plan.name}.dub.otio"} | {n for n in _export_names(plan)}


def _export_names(plan: DubPlan) -> set[str]:
    return {p.name for p in plan.out.glob(f"{plan.name}.dub.*")} if plan.out.is_dir() else set()


def only_lines(plan: DubPlan) -> tuple[set[str], dict[str, Fitted]]:
    """For ``--only-lines``: the ids to speak again, and every other line's take from the dub in -o.

    The other takes are the previous report's, read from the render cache by the key it recorded,
    so they stay exactly as they were even where options changed since.
    """
    wanted = set(plan.options.only_lines)
    if not wanted:
        return set(), {}
    unknown = sorted(wanted - {line.id for line in plan.lines})
    if unknown:
        raise InputError("--only-lines", f"no line {', '.join(unknown)} in this timeline")
    previous = _previous_rows(plan.out)
    if plan.options.cache is None:
        raise InputError("--only-lines", "needs the render cache (the other lines' takes come from it)")
    kept: dict[str, Fitted] = {}
    cache = RenderCache(plan.options.cache)
    try:
        for lj in plan.jobs:
            row = previous.get(lj.line.id)
            if lj.line.id in wanted or row is None or not row.get("key"):
                continue
            hit = cache.get(row["key"])
            if hit is None:
                log.warning("%s: the previous take is not in the render cache: fitted again", lj.line.id)
                continue
            if hit[1]["report"].get("delivery") != lj.job.delivery:
                log.warning("%s changed since the earlier dub but is not in --only-lines: its earlier take is kept",
                            lj.line.id)
            kept[lj.line.id] = Fitted(hit[0], fit.FitPlan(**hit[1]["plan"]), hit[1]["report"])
    finally:
        cache.close()
    return wanted, kept


def _previous_rows(out: Path) -> dict[str, dict]:
    path = out / "report.json"
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))["lines"]
        return {r["id"]: r for r in rows if isinstance(r, dict) and isinstance(r.get("id"), str)}
    except FileNotFoundError:
        raise InputError(str(path), "--only-lines re-speaks lines of an earlier dub, and there is none in this folder") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(str(path), f"cannot read the earlier dub's report ({exc})") from None


__all__ = ["DubOptions", "DubPlan", "DubResult", "OtioDubError", "collect_lines", "dub", "read_timeline",
           "Fitted", "fit_line", "fit_reused", "take_key", "delivery_key", "free_frame", "free_frames", "list_events",
           "cast_of", "summarize"]
