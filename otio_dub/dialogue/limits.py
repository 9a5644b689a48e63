"""What a timeline and its dialogue must be before anything trusts them: bounded rates, lengths and
start time; ``otio_dub`` metadata whose text fields are text; no control characters in what is spoken.

A damaged or hostile file (a 10,000-hour gap, a NaN rate, a NUL in a name) is refused here in one
line naming the file and the item, before the clock, the stems or any allocation depend on it.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence

import opentimelineio as otio

from ..core.errors import InputError, TimelineError
from ..core.timebase import TimeBase

#: The longest programme otio-dub dubs: a day. Anything longer is a damaged or hostile file (a
#: 10,000-hour gap, a clip of a billion frames) whose stems alone would fill a disk.
MAX_PROGRAMME_SECONDS = 24 * 3600
#: The longest dialogue line: half an hour (a take is held in memory and written whole).
MAX_LINE_SECONDS = 30 * 60
#: The highest rate a time may be counted in (frame rates, and audio sample rates up to 384 kHz).
MAX_RATE = 384_000
#: Fields of a clip's otio_dub metadata that are text when present.
_TEXT_FIELDS = ("text", "character", "lang", "emotion", "source", "role")


def check_timeline(timeline: otio.schema.Timeline, path: str | None = None) -> None:
    """Refuse, in one line naming ``path`` and the item, a timeline no sane dub can come from: a rate
    that is not a positive number up to MAX_RATE, a time that is not finite, a negative start
    timecode, a clip whose length is unknown, or a programme or item longer than MAX_PROGRAMME_SECONDS.

    Call it where a timeline enters (right after reading it, before :func:`timebase_of`): the
    clock, the stems and every allocation after it trust these bounds.
    """
    def refuse(message: str) -> None:
        if path is not None:
            raise InputError(path, message)
        raise TimelineError(f"timeline {timeline.name!r}: {message}")

    start = timeline.global_start_time
    if start is not None:
        _check_time(start, "the timeline's start time", refuse)
        if start.value < 0:
            refuse(f"starts at a negative time ({start.value:g} frames at {start.rate:g} fps); "
                   "a start timecode is 00:00:00:00 or later")
        if start.value / start.rate >= MAX_PROGRAMME_SECONDS:
            refuse(f"starts at {start.value / start.rate / 3600:.0f} hours; a start timecode is before 24:00:00:00")
    for item in [timeline.tracks, *timeline.tracks.find_children()]:
        def about(message: str, item: otio.core.SerializableObject = item) -> None:  # named only when refused
            refuse(f"{_describe(item)}{message}")

        for rng, label in _ranges(item):
            _check_time(rng.start_time, f": {label} start", about)
            _check_time(rng.duration, f": {label} duration", about)
            if rng.duration.value < 0:
                about(f": {label} has a negative duration ({rng.duration.value:g})")
        if isinstance(item, (otio.schema.Clip, otio.schema.Gap)):
            try:
                length = item.trimmed_range().duration
            except (otio.exceptions.OTIOError, ValueError):
                about(" has no source range and its media no available range: its length is unknown")
            _check_length(length, "", about)
    try:
        _check_length(timeline.duration(), "the programme", refuse)
    except (otio.exceptions.OTIOError, ValueError) as exc:
        refuse(f"its length cannot be worked out ({exc})")


def _ranges(item: otio.core.SerializableObject) -> list[tuple[otio.opentime.TimeRange, str]]:
    """Every time range an item holds: its source range, its media's available range, its markers'."""
    rng = item.source_range if isinstance(item, otio.core.Item) else None
    found = [(rng, "source range")] if rng is not None else []
    if isinstance(item, otio.schema.Clip):
        ref = item.media_reference
        available = ref.available_range if ref is not None else None
        if available is not None:
            found.append((available, "media range"))
    if isinstance(item, otio.core.Item) and not isinstance(item, otio.schema.Gap):
        markers = item.markers
        if len(markers):
            found += [(m.marked_range, f"marker {m.name!r}") for m in markers]
    return found


def _check_time(time: otio.opentime.RationalTime, what: str, refuse: Callable[[str], None]) -> None:
    rate, value = time.rate, time.value
    if not (math.isfinite(rate) and 0 < rate <= MAX_RATE):
        refuse(f"{what} is at rate {rate:g}: a rate must be a positive number up to {MAX_RATE}".lstrip())
    if not math.isfinite(value):
        refuse(f"{what} is {value:g} frames: not a time".lstrip())


def _check_length(length: otio.opentime.RationalTime, what: str, refuse: Callable[[str], None]) -> None:
    seconds = length.value / length.rate
    if seconds > MAX_PROGRAMME_SECONDS:
        refuse(f"{what} is {seconds / 3600:,.0f} hours long; otio-dub dubs programmes up to "
               f"{MAX_PROGRAMME_SECONDS // 3600} hours".lstrip())


def _describe(item: otio.core.SerializableObject) -> str:
    """``clip 'dia_001' on track 'DIA'`` (a nameless item by its place: ``gap 2 on track 'DIA'``)."""
    kind = type(item).__name__.lower()
    parent = item.parent() if hasattr(item, "parent") else None
    name = repr(item.name) if item.name else (str(parent.index(item) + 1) if parent is not None else "")
    where = f" on {type(parent).__name__.lower()} {parent.name!r}" if parent is not None else ""
    return f"{kind} {name}{where}".replace("  ", " ")


def check_line_meta(meta: object, clip: otio.schema.Clip, track: otio.schema.Track) -> dict | None:
    """A clip's otio_dub metadata, checked, as a plain dict: a table whose text fields are text without
    control characters. Anything else is refused with the clip named, never spoken as ``{'en': 'Hello'}``."""
    if meta is None:
        return None
    where = f"otio_dub metadata on track {track.name!r}"
    if not isinstance(meta, Mapping):
        raise TimelineError(f"{where} is {_kind(meta)} ({_shown(meta)}), not a table with a 'text' field", clip=clip.name)
    meta = dict(meta)  # one pass over OTIO's dictionary: its .get is slow, and is asked a dozen times a clip
    for name in _TEXT_FIELDS:
        value = meta.get(name)
        if value is not None and not isinstance(value, str):
            raise TimelineError(f"{where}: {name!r} is {_kind(value)} ({_shown(value)}), not text", clip=clip.name)
        if value and (bad := control_character(value)):
            raise TimelineError(f"{where}: {name!r} holds the control character {bad} ({_shown(value)})", clip=clip.name)
    return meta


def control_character(text: str) -> str | None:
    """The first control character in ``text`` that is not white space, as ``U+0000``; else None.

    A NUL would cut a name short in C strings (track names, WAV chunks); none is ever speakable.
    """
    found = _CONTROL.search(text)
    return f"U+{ord(found.group()):04X}" if found else None


def _control_pattern() -> re.Pattern:
    """Unicode's control (Cc: U+0000-001F, U+007F-009F) and surrogate (Cs: U+D800-DFFF) characters
    but white space, as one character class: searched in C, where a loop asking unicodedata per
    character was a tenth of a warm re-dub's planning."""
    codes = [c for c in (*range(0xA0), *range(0xD800, 0xE000))
             if unicodedata.category(chr(c)) in ("Cc", "Cs") and not chr(c).isspace()]
    runs: list[list[int]] = []
    for code in codes:  # consecutive code points as ranges
        if runs and code == runs[-1][1] + 1:
            runs[-1][1] = code
        else:
            runs.append([code, code])
    return re.compile("[" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in runs) + "]")


_CONTROL = _control_pattern()


def _kind(value: object) -> str:
    return {str: "text", bool: "a boolean", int: "a number", float: "a number"}.get(type(value)) or (
        "a table" if isinstance(value, Mapping) else "a list" if isinstance(value, Sequence) else type(value).__name__)


def _shown(value: object, width: int = 40) -> str:
    """A value as a short, printable one-line excerpt (control characters escaped)."""
    text = repr(value if not isinstance(value, (Mapping, Sequence)) or isinstance(value, str) else
                (dict(value) if isinstance(value, Mapping) else list(value)))
    return text if len(text) <= width else text[: width - 3] + "..."


def check_line(row: dict, tb: TimeBase) -> None:
    """A line no longer than MAX_LINE_SECONDS whose text and character hold no control characters."""
    for name in ("text", "character"):
        if bad := control_character(row[name] or ""):
            raise TimelineError(f"{row['origin']}: the {name} holds the control character {bad} ({_shown(row[name])})",
                                clip=row.get("clip_name"), timecode=tb.tc(row["record_in"]))
    seconds = (row["record_out"] - row["record_in"]) / tb.rate
    if seconds > MAX_LINE_SECONDS:
        raise TimelineError(f"{row['origin']}: the line is {float(seconds) / 60:,.0f} minutes long; otio-dub dubs lines up "
                            f"to {MAX_LINE_SECONDS // 60} minutes", clip=row.get("clip_name"), timecode=tb.tc(row["record_in"]))
