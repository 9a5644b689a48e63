"""Conform: carry a dub across a re-cut, redoing only what really changed.

``conform(OLD.dub.otio, NEW_CUT)`` matches the new cut's lines to the old dub's clips, in order:

1. **source identity**: the same source media, and the line's source range overlapping the old
   one (a clip the editor moved or trimmed keeps its media and source frames);
2. **text**: the same character saying the same words, in order, for lines without a source
   (a script event over no clip, a clip the editor replaced).

Each new line is then ``kept`` (same place), ``moved`` (same words and length, elsewhere: the old
take is placed untouched), ``refitted`` (its window changed length: fitted again), ``changed``
(new words: spoken again) or ``new``; old lines left over are ``removed``. The editor's hand edits
on the old dub clips (slid, trimmed, muted) are carried to the new ones unless ``reset``.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TypedDict

import opentimelineio as otio

from ..audio.bwf import write_text_atomic
from ..core.errors import InputError
from ..core.timebase import TimeBase, frames_of
from ..delivery.outdir import owned_entries
from ..dialogue.lines import Line, check_timeline, is_dub, ours, timebase_of
from ..speech import fit
from ..speech.speak import Fitted
from ..store.cache import KEY_PATTERN, RenderCache
from ..timelines.formats import format_of
from ..timelines.timeline_io import read_timeline
from .deliver import KNOWN_ENTRIES, DubResult
from .options import DubOptions
from .pipeline import dub
from .plan import collect_lines

log = logging.getLogger("otio_dub")

KINDS = ("kept", "moved", "refitted", "changed", "new", "removed")


@dataclass
class OldLine:
    """A line as the old dub laid it, and what the editor did to its clip since."""

    line_id: str
    character: str
    text: str
    identity: dict | None
    key: str | None
    record_in: int  # where otio-dub laid the line (frames from the timeline start)
    record_out: int
    slide: int = 0  # frames the editor moved the clip by
    trim_head: int = 0  # frames trimmed off the clip's head / tail
    trim_tail: int = 0
    muted: bool = False

    @property
    def edited(self) -> bool:
        """True when the editor changed the clip by hand."""
        return bool(self.slide or self.trim_head or self.trim_tail or self.muted)


@dataclass
class Change:
    """One row of the change list."""

    kind: str
    line_id: str | None
    old_id: str | None
    character: str
    text: str
    old_in: str | None = None
    new_in: str | None = None
    note: str = ""


@dataclass
class ConformResult:
    """The new dub and the change list."""

    dub: DubResult
    changes: list[Change]
    path: Path
    counts: dict[str, int] = field(default_factory=dict)


class _Outcome(TypedDict, total=False):
    """What a conform's finish step hands back from inside the dub's transaction."""

    changes: list[Change]
    counts: dict[str, int]


def read_old_dub(path: str | Path) -> tuple[TimeBase, list[OldLine]]:
    """The lines of a dub timeline (any format otio-dub writes), with the editor's hand edits.

    A ``.dub.otio`` is an input like any other: a damaged or tampered one is refused in one line
    naming the file and the dub clip, never trusted into a traceback.
    """
    timeline = read_timeline(path)
    check_timeline(timeline, str(path))
    tb = timebase_of(timeline)
    found = []
    for track in timeline.tracks:
        if not is_dub(track):
            continue
        for clip in track.find_clips():
            meta = ours(clip)
            if meta.get("role") != "dub" or not meta.get("placed"):
                continue  # a format that dropped our metadata: no identity to conform by
            try:
                found.append(_old_line(clip, track, meta, tb, timeline.tracks))
            except (KeyError, TypeError, ValueError, OverflowError, otio.exceptions.OTIOError) as exc:
                detail = f"no {exc}" if isinstance(exc, KeyError) else str(exc)
                raise InputError(str(path), f"its otio_dub metadata is damaged ({detail}); dub the cut again",
                                 where=f"dub clip {clip.name!r}") from None
    if not found:
        raise InputError(str(path), "holds no otio-dub dub clips to conform (dub it first, and keep the .dub.otio)")
    return tb, found


def _old_line(clip: otio.schema.Clip, track: otio.schema.Track, meta: Mapping, tb: TimeBase,
              stack: otio.schema.Stack) -> OldLine:
    """One dub clip as an OldLine, every field of its metadata checked (raises on anything odd)."""
    placed = meta["placed"]
    if not isinstance(placed, Mapping):
        raise TypeError(f"'placed' is {type(placed).__name__}, not a table")
    record_in, record_out, clip_out = (_frame(placed, k) for k in ("record_in", "record_out", "clip_out"))
    if not record_in < record_out <= clip_out:
        raise ValueError(f"placed at {record_in}-{record_out} frames, clip to {clip_out}")
    identity = meta.get("identity")
    if identity is not None:
        if not isinstance(identity, Mapping) or not isinstance(identity.get("media"), str):
            raise TypeError("'identity' is not a table with its media")
        identity = {"media": identity["media"], "source_in": _frame(identity, "source_in", signed=True)}
    texts = {k: meta.get(k, "") for k in ("line_id", "character", "text")}
    key = meta.get("key")
    if not all(isinstance(v, str) for v in texts.values()):
        raise TypeError("its line id, character or text is not text")
    if key is not None and not (isinstance(key, str) and KEY_PATTERN.fullmatch(key)):
        raise ValueError(f"'key' is {str(key)[:80]!r}, not a render-cache key")
    used = clip.trimmed_range()
    rng = clip.transformed_time_range(used, stack)
    now_in = frames_of(rng.start_time, tb.rate)
    available = clip.media_reference.available_range if clip.media_reference else None
    head = frames_of(used.start_time - available.start_time, tb.rate) if available else 0
    length = frames_of(rng.duration, tb.rate)
    laid = clip_out - record_in
    return OldLine(
        line_id=texts["line_id"] or clip.name, character=texts["character"], text=texts["text"], identity=identity,
        key=key, record_in=record_in, record_out=record_out,
        slide=now_in - head - record_in, trim_head=head, trim_tail=max(0, laid - head - length),
        muted=not (clip.enabled and track.enabled),
    )


def _frame(table: Mapping, name: str, signed: bool = False) -> int:
    """A frame count from our metadata: a whole number (a float with no fraction is one), sane in size."""
    value = table[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value != int(value):
        raise ValueError(f"'{name}' is {value!r}, not a frame count")
    if abs(value) > 10**12 or (value < 0 and not signed):
        raise ValueError(f"'{name}' is {value!r} frames")
    return int(value)


def _same_source(line: Line, old: OldLine) -> int:
    """Frames of source shared by a new line and an old one (0 when their media differ)."""
    new_id, old_id = line.extra.get("identity"), old.identity
    if not new_id or not old_id or new_id["media"] != old_id["media"]:
        return 0
    a0, a1 = new_id["source_in"], new_id["source_in"] + line.duration
    b0, b1 = old_id["source_in"], old_id["source_in"] + old.record_out - old.record_in
    return max(0, min(a1, b1) - max(a0, b0))


def match(new_lines: list[Line], old_lines: list[OldLine]) -> list[tuple[Line | None, OldLine | None]]:
    """Pairs (new, old) by source identity, then by character and text in order; the rest unpaired."""
    pairs: dict[str, OldLine] = {}
    free = list(old_lines)
    for line in new_lines:
        best = max(free, key=lambda old: _same_source(line, old), default=None)
        if best is not None and _same_source(line, best) > 0:
            pairs[line.id] = best
            free.remove(best)
    for line in new_lines:
        if line.id in pairs:
            continue
        same = [old for old in free if old.character == line.character and old.text == line.text]
        if same:
            pairs[line.id] = same[0]
            free.remove(same[0])
    result: list[tuple[Line | None, OldLine | None]] = [(line, pairs.get(line.id)) for line in new_lines]
    return result + [(None, old) for old in free]


def _kind(line: Line, old: OldLine) -> str:
    if line.text != old.text:
        return "changed"
    if line.duration != old.record_out - old.record_in:
        return "refitted"
    return "kept" if line.record_in == old.record_in else "moved"


def conform(old_dub: str | Path, new_cut: str | Path | otio.schema.Timeline, out_dir: str | Path,
            script: str | Path | None = None, options: DubOptions | None = None, reset: bool = False) -> ConformResult:
    """Dub ``new_cut`` into ``out_dir`` reusing the old dub's takes; write ``conform.json``."""
    options = options or DubOptions()
    old_tb, old_lines = read_old_dub(old_dub)
    if isinstance(new_cut, otio.schema.Timeline):
        source = new_cut
        check_timeline(source)
    else:
        source = read_timeline(new_cut, options.rate, options.start, options.drop_frame)
        check_timeline(source, str(new_cut))
    fmt = options.to or ("otio" if isinstance(new_cut, otio.schema.Timeline) else format_of(new_cut))
    name = (new_cut.name or "timeline") if isinstance(new_cut, otio.schema.Timeline) else Path(new_cut).stem
    check_old_dub_kept(old_dub, out_dir, name)
    tb, new_lines = collect_lines(source, script, options, where=None if isinstance(new_cut, otio.schema.Timeline) else str(new_cut),
                                  checked=True)
    if tb.rate != old_tb.rate:
        raise InputError(str(new_cut), f"is at {float(tb.rate):g} fps but the dub is at {float(old_tb.rate):g} fps")
    pairs = match(new_lines, old_lines)
    with CachedTakes(pairs, options.cache) as reuse:
        return _conform(new_cut, script, out_dir, options, pairs, reuse, reset, old_tb, old_dub, tb, fmt)


def _conform(new_cut: str | Path | otio.schema.Timeline, script: str | Path | None, out_dir: str | Path,
             options: DubOptions, pairs: list, reuse: CachedTakes, reset: bool, old_tb: TimeBase,
             old_dub: str | Path, tb: TimeBase, fmt: str) -> ConformResult:
    """The dub of the new cut with the old takes in ``reuse``, and its conform.json."""
    edited = {} if reset else {line.id: old for line, old in pairs if line and old and old.edited}
    adjust = (lambda timeline: carry_edits(timeline, edited, tb)) if edited else None
    outcome: _Outcome = {}

    def finish(staging: Path, result: DubResult) -> None:  # inside the dub's transaction: all or nothing
        changes = _changes(pairs, reuse, edited, result, old_tb)
        counts = {kind: sum(c.kind == kind for c in changes) for kind in KINDS}
        write_text_atomic(staging / "conform.json", json.dumps(
            {"old": str(old_dub), "new": str(new_cut) if not isinstance(new_cut, otio.schema.Timeline) else new_cut.name,
             "counts": counts, "takes": result.takes, "changes": [asdict(c) for c in changes]},
            indent=2, ensure_ascii=False) + "\n")
        outcome["changes"], outcome["counts"] = changes, counts

    # a path goes to dub() as it is, so the outputs are named after the new cut's file
    result = dub(new_cut, script, out_dir, replace(options, to=fmt), reuse=reuse, adjust=adjust, finish=finish)
    return ConformResult(result, outcome["changes"], result.out_dir / "conform.json", outcome["counts"])


def _changes(pairs: list, reuse: Mapping, edited: dict, result: DubResult, old_tb: TimeBase) -> list[Change]:
    """What happened to each line between the old dub and the new cut."""
    ids = {row["id"]: row for row in result.lines}
    changes = []
    for line, old in pairs:
        if line is None:
            changes.append(Change("removed", None, old.line_id, old.character, old.text, old_in=old_tb.tc(old.record_in)))
            continue
        kind = "new" if old is None else _kind(line, old)
        note = ""
        if kind in ("kept", "moved") and line.id not in reuse:
            note = "take not in the render cache: fitted again"
        if line.id in edited:
            note = (note + "; " if note else "") + "hand edit kept"
        changes.append(Change(kind, line.id, old.line_id if old else None, line.character, line.text,
                              old_in=old_tb.tc(old.record_in) if old else None, new_in=ids[line.id]["record_in"], note=note))
    return changes


def check_old_dub_kept(old_dub: str | Path, out_dir: str | Path, name: str) -> None:
    """Refuse an ``out_dir`` whose new dub would replace or drop the old dub being conformed.

    The new dub replaces everything the previous dub in ``out_dir`` wrote (its report lists it) and
    writes ``<name>.dub.*``: an old dub that is one of those would be lost. Inputs are read-only.
    """
    out = Path(out_dir).absolute().resolve()
    try:
        inside = Path(old_dub).absolute().resolve().relative_to(out)
    except ValueError:
        return
    top = inside.parts[0] if inside.parts else ""
    owned = owned_entries(out) | set(KNOWN_ENTRIES) | {"conform.json"}
    if not top or top in owned or top.startswith((f"{name}.dub.", ".otio-dub")):
        raise InputError(str(old_dub), f"is part of the dub in {out_dir}, which the conformed dub replaces; "
                                       "write it to another folder (-o)")


class CachedTakes(Mapping):
    """The old takes of kept and moved lines by new line id, read from the render cache when asked.

    Which lines have one is known up front (each take's index entry and file size, as a warm dub
    checks them); the samples are read only when the render stage places the line, and not kept:
    a feature's 1,000 takes held at once were 1.5 GB of a conform. A take found damaged by then is
    missing (the line is fitted again). Close it (or use it as a context manager) when done.
    """

    def __init__(self, pairs: list[tuple[Line | None, OldLine | None]], folder: str | Path | None) -> None:
        self._cache = RenderCache(folder) if folder else None
        self._keys: dict[str, str] = {}
        try:
            for line, old in pairs:
                if self._cache is None or line is None or old is None or not old.key \
                        or _kind(line, old) not in ("kept", "moved"):
                    continue
                if self._cache.locate(old.key) is not None:
                    self._keys[line.id] = old.key
        except BaseException:
            self.close()
            raise

    def __getitem__(self, line_id: str) -> Fitted:
        hit = self._cache.get(self._keys[line_id]) if self._cache is not None else None
        if hit is None:  # damaged since: the line is fitted again, and no longer counts as having a take
            self._keys.pop(line_id, None)
            raise KeyError(line_id)
        return Fitted(hit[0], fit.FitPlan(**hit[1]["plan"]), hit[1]["report"])

    def __contains__(self, line_id: object) -> bool:
        return line_id in self._keys

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
            self._cache = None

    def __enter__(self) -> CachedTakes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def carry_edits(timeline: otio.schema.Timeline, edited: dict[str, OldLine], tb: TimeBase) -> None:
    """Apply the editor's slides, trims and mutes to the new dub clips (in place, before the dub's
    timeline and stems are written: ``dub(adjust=...)``).

    Positions are read before anything changes; a carried slide never moves a clip nobody edited:
    where it would now overlap a neighbour (the new cut closed a pause) it stops at the neighbour.
    """
    rate = float(tb.rate)
    for track in timeline.tracks:
        if not is_dub(track):
            continue
        clips = list(track.find_clips())
        placed = [(frames_of(c.range_in_parent().start_time, tb.rate), frames_of(c.source_range.duration, tb.rate))
                  for c in clips]
        layout: list[tuple[int, int, otio.schema.Clip]] = []
        for index, clip in enumerate(clips):
            start, length = placed[index]
            old = edited.get(ours(clip).get("line_id", clip.name))
            if old is not None:
                kept = length - old.trim_head - old.trim_tail
                if kept > 0:
                    src = clip.source_range
                    clip.source_range = otio.opentime.TimeRange(
                        otio.opentime.RationalTime(src.start_time.value + old.trim_head, rate),
                        otio.opentime.RationalTime(kept, rate))
                    start, length = start + old.trim_head, kept
                lo = layout[-1][0] + layout[-1][1] if layout else 0  # end of the clip before
                hi = placed[index + 1][0] if index + 1 < len(clips) else None  # start of the clip after
                wanted = start + old.slide
                start = max(lo, wanted if hi is None else min(wanted, hi - length))
                if start != wanted:
                    log.warning("hand-slid dub clip %s would now overlap its neighbour: placed at %s instead",
                                clip.name, tb.tc(start))
                clip.enabled = not old.muted
            layout.append((start, length, clip))
        _relayout(track, layout, rate)


def _relayout(track: otio.schema.Track, layout: list[tuple[int, int, otio.schema.Clip]], rate: float) -> None:
    """Rebuild a track's children: each clip at its frame, gaps between (positions never overlap)."""
    for child in list(track):
        track.remove(child)
    cursor = 0
    for start, length, clip in sorted(layout, key=lambda item: item[0]):
        if start > cursor:
            track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=otio.opentime.RationalTime(start - cursor, rate))))
        track.append(clip)
        cursor = max(start, cursor) + length


def print_table(changes: list[Change]) -> list[str]:
    """The change list as aligned text lines (what `otio-dub conform` prints)."""
    rows = [("CHANGE", "LINE", "WAS", "OLD IN", "NEW IN", "CHARACTER", "TEXT / NOTE")]
    for c in changes:
        rows.append((c.kind, c.line_id or "-", c.old_id or "-", c.old_in or "-", c.new_in or "-", c.character,
                     c.text[:50] + (f"  ({c.note})" if c.note else "")))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]) - 1)]
    return ["  ".join(str(v).ljust(w) for v, w in zip(r[:-1], widths, strict=True)) + "  " + str(r[-1]) for r in rows]


__all__ = ["Change", "ConformResult", "OldLine", "carry_edits", "check_old_dub_kept", "conform", "match", "read_old_dub",
           "print_table"]
