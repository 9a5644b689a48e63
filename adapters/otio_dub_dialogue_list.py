"""OTIO adapter ``otio_dub_dialogue_list``: CSV/TSV dialogue (spotting) lists <-> a dialogue Timeline.

Rows are ``TC IN, TC OUT, CHARACTER, LINE`` (absolute timecode; ``LANG``, ``EMOTION``, ``GENDER`` kept
in each clip's ``otio_dub`` metadata). Reading gives the same timeline
shape as ``otio_dub_subtitles``; the timeline starts at ``start_timecode`` (default: the hour of
the first row, e.g. 01:00:00:00). Writing lists the timeline's dialogue lines.
"""

from __future__ import annotations

import os

import opentimelineio as otio

from otio_dub.audio.bwf import write_text_atomic
from otio_dub.core.timebase import TimeBase, exact_rate, parse_timecode
from otio_dub.dialogue.dialogue_list import format_dialogue_list, read_dialogue_list
from otio_dub.dialogue.lines import Line, dialogue_timeline, find_lines, timebase_of
from otio_dub.dialogue.script import normal_gender


def read_from_file(filepath: str, rate: float = 24.0, start_timecode: str | None = None) -> otio.schema.Timeline:
    """A dialogue timeline from a dialogue list at ``rate`` fps."""
    exact = exact_rate(rate)
    entries = read_dialogue_list(filepath, exact)
    if start_timecode is None:
        hour = round(float(exact)) * 3600
        start = min(e.tc_in for e in entries) // hour * hour
    else:
        start = parse_timecode(start_timecode, exact)
    clock = TimeBase(exact, start)
    late = [e for e in entries if e.tc_in < start]
    if late:
        raise otio.exceptions.OTIOError(f"{filepath}: line {late[0].row} starts before the start timecode {start_timecode}")
    events = [(e.tc_in - start, e.tc_out - start, f"{e.row:04d} {e.character or ''}".strip(),
               {"text": e.text, "character": e.character, "lang": e.lang, "emotion": e.emotion, "row": e.row,
                **({"gender": e.gender} if e.gender else {})})
              for e in entries]
    return dialogue_timeline(os.path.splitext(os.path.basename(filepath))[0], clock, events)


def write_to_file(input_otio: otio.schema.Timeline, filepath: str) -> None:
    """Write the timeline's dialogue lines as a dialogue list (tab-separated for .tsv)."""
    tb = timebase_of(input_otio)
    rows = [(tb.tc(line.record_in), tb.tc(line.record_out), line.character, line.text, line.lang or "", line.emotion or "",
             _gender(line)) for line in find_lines(input_otio, lang=None)]
    write_text_atomic(filepath, format_dialogue_list(rows, "\t" if filepath.lower().endswith(".tsv") else ","))


def _gender(line: Line) -> str:
    """The GENDER cell of a line: its clip's ``otio_dub`` metadata ``gender`` (or ``voice_type``), else none."""
    clip = line.extra.get("clip")
    meta = clip.metadata.get("otio_dub") if clip is not None else None
    found = (normal_gender(meta.get("gender")) or normal_gender(meta.get("voice_type"))) if hasattr(meta, "get") else None
    return found or line.extra.get("gender") or ""
