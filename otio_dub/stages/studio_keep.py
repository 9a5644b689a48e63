"""The studio's keep: chosen takes written into the dub folder as a dub writes it, and its undo.

A keep is a dub of the folder's own plan (:mod:`studio_plan`) in which every line not kept is
placed from the render cache under the key the dub recorded (as ``dub --only-lines`` places the
lines it does not name) and the kept lines from their chosen takes; the whole folder is staged
and swapped in by :class:`~otio_dub.delivery.outdir.OutputFolder`, so a failure leaves the previous
dub as it was. Line media whose key did not change are linked, not written; stems are rendered by
the dub's own stems stage (linked where their key did not change). The notes of the dub (markers
from ``otio-dub notes``) and the keep (an APPROVED note per kept line, with its new wording and
pace) are written as ``review-notes.json`` and put on the dub clips, so ``otio-dub notes`` and the
studio agree. Before the swap the folder as it was is kept as hard links beside it: undo swaps
that back in, byte for byte.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import opentimelineio as otio

from ..audio.bwf import write_text_atomic
from ..core.errors import InputError, OutputError
from ..delivery.outdir import OutputFolder, owned_entries
from ..review.data import ORIG_DIR, review_marker
from ..review.notes import Note, _dub_clips, exported_formats, mark_clip
from ..review.page import write_review
from ..speech import fit
from ..speech.speak import Fitted
from ..store.cache import RenderCache
from ..timelines.formats import FORMATS, write_timeline
from .deliver import deliver, report_text
from .executors import SerialExecutor
from .place import place_lines
from .render import render_lines
from .studio_plan import Edit, StudioDub

if TYPE_CHECKING:
    from filelock import BaseFileLock

    from .plan import LineJob

NOTES_FILE = "review-notes.json"


@dataclass(frozen=True)
class Chosen:
    """A take chosen to keep: its job (line, voice, window, keys), its samples and the edit made."""

    job: LineJob
    fitted: Fitted
    edit: Edit


def undo_folder(out: Path) -> Path:
    """Where the dub as it was before the last keep is kept (hard links, beside the folder)."""
    return out.parent / f".{out.name}.otio-dub-studio-undo"


def keep(dub: StudioDub, chosen: Mapping[str, Chosen], held: BaseFileLock | None = None) -> list[str]:
    """Write the chosen takes into the dub folder (staged, swapped whole); the ids kept, in line order."""
    if not chosen:
        raise InputError("keep", "no take chosen: choose a take of a line first")
    plan = dub.plan
    jobs = list(plan.jobs)
    for lid, c in chosen.items():
        jobs[dub.line_index(lid)] = replace(c.job, job=replace(c.job.job, index=dub.line_index(lid)))
    kept_plan = replace(plan, jobs=jobs, lines=[lj.line for lj in jobs], options=replace(plan.options, review=False))
    takes = _previous_takes(dub, set(chosen))
    takes.update({lid: c.fitted for lid, c in chosen.items()})
    undo = undo_folder(dub.out)
    with OutputFolder(dub.out, held=held) as tx:
        spool = tx.staging / ".takes"
        try:
            spool.mkdir()
            rendered = render_lines(kept_plan, SerialExecutor(), None, None, (), spool, takes)
            for r in rendered:  # a take placed as it was is named by its recorded key: its media and stems are linked
                r.identity = r.identity or r.job.job.key
            result = deliver(kept_plan, place_lines(kept_plan, rendered), tx.staging)
            spool.rmdir()
            _own(tx.staging / "report.json", NOTES_FILE)
            _carry(dub.out, tx.staging, ("conform.json", ORIG_DIR))
            notes = _notes(dub, chosen)
            _mark(tx.staging, tx.out, dub, notes, kept_plan.fmt)
            write_review(tx.staging)
            _snapshot(dub.out, undo)
        except OSError as exc:
            raise OutputError(tx.public(f"{exc.filename or tx.staging}: cannot write ({exc.strerror})")) from None
        except OutputError as exc:
            raise OutputError(tx.public(str(exc))) from None
        tx.commit([*result.entries, NOTES_FILE])
    return [r["id"] for r in dub.rows if r["id"] in chosen]


def undo(out: Path, held: BaseFileLock | None = None) -> None:
    """Put back the dub as it was before the last keep (the same bytes); the undo is used up."""
    saved = undo_folder(out)
    if not (saved / "report.json").is_file():
        raise InputError("undo", "nothing to undo: no keep in this session")
    with OutputFolder(out, held=held) as tx:
        try:
            shutil.copytree(saved, tx.staging, symlinks=True, copy_function=_link, dirs_exist_ok=True)
        except OSError as exc:
            raise OutputError(tx.public(f"{exc.filename or tx.staging}: cannot write ({exc.strerror})")) from None
        tx.commit(owned_entries(saved))
    shutil.rmtree(saved, ignore_errors=True)


def _previous_takes(dub: StudioDub, fresh: set[str]) -> dict[str, Fitted]:
    """Every other line's take from the render cache, by the key the dub recorded (placed as it was)."""
    if dub.plan.options.cache is None:
        raise InputError("keep", "needs the render cache (the other lines' takes come from it)")
    found, missing = {}, []
    cache = RenderCache(dub.plan.options.cache)
    try:
        for row in dub.rows:
            if row["id"] in fresh:
                continue
            hit = cache.get(str(row.get("key") or "")) if row.get("key") else None
            if hit is None:
                missing.append(row["id"])
                continue
            found[row["id"]] = Fitted(hit[0], fit.FitPlan(**hit[1]["plan"]), hit[1]["report"])
    finally:
        cache.close()
    if missing:
        listed = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise InputError("keep", f"the takes of {listed} are not in the render cache {dub.plan.options.cache} "
                                 "(pruned, or another cache): dub the folder again before keeping")
    return found


def _notes(dub: StudioDub, chosen: Mapping[str, Chosen]) -> list[Note]:
    """The dub's notes after the keep: those its clips carry, and an APPROVED one per kept line."""
    notes: dict[str, Note] = {}
    for lid, clip in _dub_clips(dub.timeline).items():
        marker = review_marker(clip)
        meta = (marker.metadata.get("otio_dub") or {}) if marker is not None else {}
        raw = dict(meta.get("note") or {}) if hasattr(meta, "get") else {}
        if raw:
            notes[lid] = Note(lid, raw.get("verdict"), str(raw.get("comment") or ""), str(raw.get("take") or ""),
                              raw.get("text"), raw.get("rate"))
    for lid, c in chosen.items():
        changed = ", ".join(f"{k} {v}" for k, v in c.edit.as_dict().items() if k != "text")
        notes[lid] = Note(lid, "approve", f"kept in the studio{': ' + changed if changed else ''}", c.job.job.key,
                          c.edit.text, c.edit.pace if c.edit.pace != 1.0 else None)
    return [notes[r["id"]] for r in dub.rows if r["id"] in notes]


def notes_document(dub: StudioDub, notes: list[Note]) -> dict:
    """``review-notes.json`` as the review page writes it (what ``otio-dub notes`` reads)."""
    rows = {r["id"]: r for r in dub.rows}
    return {"otio_dub_review": 1, "timeline": dub.report.get("timeline") or dub.name,
            "redo": [n.id for n in notes if n.verdict == "redo"],
            "approved": [n.id for n in notes if n.verdict == "approve"],
            "notes": [{**n.as_metadata(), "id": n.id, "record_in": rows.get(n.id, {}).get("record_in", "")}
                      for n in notes]}


def _mark(staging: Path, out: Path, dub: StudioDub, notes: list[Note], fmt: str) -> None:
    """The notes as markers on the staged dub's clips (its .dub.otio and the exports that carry
    markers), and as ``review-notes.json`` beside them."""
    from ..review.data import read_dub_timeline

    write_text_atomic(staging / NOTES_FILE, json.dumps(notes_document(dub, notes), indent=2, ensure_ascii=False) + "\n")
    if not notes:
        return
    path = staging / f"{dub.name}.dub.otio"
    timeline = read_dub_timeline(path)
    clips = _dub_clips(timeline)
    for note in notes:
        if note.id in clips:
            mark_clip(clips[note.id], note)
    if fmt in exported_formats(staging, dub.name):
        write_timeline(timeline, staging, dub.name, fmt, dub.tb, link_dir=out,
                       source=staging / f"{dub.name}.dub{FORMATS[fmt][1]}")
    indent = 4 if len(dub.rows) <= 5000 else -1
    write_text_atomic(path, otio.adapters.write_to_string(timeline, "otio_json", indent=indent))


def _own(report_path: Path, name: str) -> None:
    """Add ``name`` to the report's entries (the next run into the folder replaces it, an undo removes it)."""
    report = json.loads(report_path.read_text(encoding="utf-8"))
    report["entries"] = sorted({*report.get("entries", []), name})
    write_text_atomic(report_path, report_text(report))


def _carry(out: Path, staging: Path, names: tuple[str, ...]) -> None:
    """Files of the dub the keep does not make again (the originals under each line, conform's notes), linked."""
    for name in names:
        src, dst = out / name, staging / name
        if dst.exists() or not src.exists():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, symlinks=True, copy_function=_link)
        else:
            _link(str(src), str(dst))


def _snapshot(out: Path, saved: Path) -> None:
    """The folder as it is, as hard links (nothing in a dub folder is rewritten in place: files are replaced)."""
    shutil.rmtree(saved, ignore_errors=True)
    shutil.copytree(out, saved, symlinks=True, copy_function=_link)


def _link(src: str, dst: str) -> None:
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, dst, follow_symlinks=False)
