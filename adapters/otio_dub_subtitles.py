"""OTIO adapter ``otio_dub_subtitles``: SRT / ASS / SSA / VTT <-> a dialogue Timeline (via pysubs2).

Reading gives a Timeline whose audio track ``DIALOGUE`` holds one clip per event (gaps between),
each carrying ``metadata["otio_dub"]`` = text / character / emotion / style, at ``rate`` fps from
``start_timecode``; events that overlap go onto ``DIALOGUE 2``, ``DIALOGUE 3``... Writing turns a
timeline's dialogue lines back into a subtitle file (the dub script, for QC).
"""

from __future__ import annotations

import os
from fractions import Fraction

import opentimelineio as otio

from otio_dub.audio.bwf import write_text_atomic
from otio_dub.core.timebase import TimeBase, exact_rate, parse_timecode
from otio_dub.dialogue.lines import dialogue_timeline, find_lines, timebase_of
from otio_dub.dialogue.script import read_script


def read_from_file(filepath: str, rate: float = 24.0, start_timecode: str = "00:00:00:00") -> otio.schema.Timeline:
    """A dialogue timeline from a subtitle file; event times count from ``start_timecode``."""
    exact = exact_rate(rate)
    clock = TimeBase(exact, parse_timecode(start_timecode, exact))
    events = []
    for ev in read_script(filepath):
        rin = clock.frame_of_seconds(Fraction(ev.start_ms, 1000))
        rout = max(rin + 1, clock.frame_of_seconds(Fraction(ev.end_ms, 1000)))
        meta = {"text": ev.text, "character": ev.character, "emotion": ev.emotion, "style": ev.style, "event": ev.number}
        events.append((rin, rout, f"{ev.number:04d} {ev.character or ''}".strip(), meta))
    return dialogue_timeline(os.path.splitext(os.path.basename(filepath))[0], clock, events)


def write_to_file(input_otio: otio.schema.Timeline, filepath: str) -> None:
    """Write the timeline's dialogue lines as a subtitle file; format from the file's suffix."""
    import pysubs2

    tb = timebase_of(input_otio)
    subs = pysubs2.SSAFile()
    for line in find_lines(input_otio):
        start = Fraction(line.record_in) / tb.rate
        end = Fraction(line.record_out) / tb.rate
        subs.append(pysubs2.SSAEvent(start=round(start * 1000), end=round(end * 1000), text=line.text, name=line.character))
    fmt = os.path.splitext(filepath)[1].lstrip(".").lower()
    if fmt in ("srt", "vtt"):  # SRT/VTT have no Name field: carry the character as a prefix
        for event in subs:
            event.text = f"{event.name}: {event.text}"
    write_text_atomic(filepath, subs.to_string(fmt))
