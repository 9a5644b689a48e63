"""Subtitle files (ASS, SRT, VTT) of segmented events, through pysubs2, written atomically.

Times count from the timeline's start timecode, as ``otio-dub dub --script`` reads a script, so a
transcript's subtitles go straight back into a dub. The character travels as the ASS ``Name``
(one style per character) and as a WebVTT ``<v NAME>`` voice span; the language as the ASS
``Effect`` field ``lang=fr`` (renderers ignore an effect they do not know) and a WebVTT
``<lang fr>`` span; SRT, which has no place for either, carries the plain text viewers read.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from ..audio.bwf import write_text_atomic
from ..core.errors import OutputError
from ..core.timebase import TimeBase, parse_timecode
from .segment import DEFAULT_RULES, Event, Rules, segment, spread_text

if TYPE_CHECKING:
    from pysubs2 import SSAFile

log = logging.getLogger("otio_dub")

SUBTITLE_FORMATS = ("ass", "srt", "vtt")

#: ASS colours (&HBBGGRR) cycled over characters, so each speaker reads in its own colour.
_COLOURS = ((255, 255, 255), (255, 235, 120), (140, 220, 255), (170, 255, 170), (255, 170, 210), (200, 180, 255))


def check_formats(formats: str | Sequence[str]) -> list[str]:
    """Normalised subtitle format names (``"srt,vtt"`` or a list); an unknown one is an error naming the known ones."""
    wanted = []
    for fmt in [formats] if isinstance(formats, str) else formats:
        for part in str(fmt).lower().replace(" ", "").split(","):
            if not part:
                continue
            if part not in SUBTITLE_FORMATS:
                raise OutputError(f"unknown subtitle format {part!r}; known: {', '.join(SUBTITLE_FORMATS)}")
            if part not in wanted:
                wanted.append(part)
    return wanted


def _ms(frame: int, rate: Fraction) -> int:
    x = Fraction(frame) * 1000 / rate
    return (2 * x.numerator + x.denominator) // (2 * x.denominator)


def to_ssafile(events: Sequence[Event], rate: Fraction, title: str = "otio-dub") -> SSAFile:
    """A pysubs2 SSAFile of the events: one style per speaker, Name = speaker, lines split by ``\\N``."""
    import pysubs2

    subs = pysubs2.SSAFile()
    subs.info["Title"] = title
    subs.info["PlayResX"], subs.info["PlayResY"] = "1920", "1080"
    base = pysubs2.SSAStyle(fontname="Arial", fontsize=54, outline=2.5, shadow=0, marginv=60)
    subs.styles["Default"] = base
    speakers = list(dict.fromkeys(e.speaker for e in events if e.speaker))
    for i, speaker in enumerate(speakers):
        style = base.copy()
        style.primarycolor = pysubs2.Color(*_COLOURS[i % len(_COLOURS)])
        subs.styles[speaker] = style
    for e in events:
        subs.append(pysubs2.SSAEvent(start=_ms(e.start, rate), end=_ms(e.end, rate), text=r"\N".join(e.lines),
                                     style=e.speaker or "Default", name=e.speaker or "",
                                     effect=f"lang={e.lang}" if e.lang else ""))
    return subs


def format_events(events: Sequence[Event], rate: Fraction, fmt: str, title: str = "otio-dub") -> str:
    """The events as the text of one subtitle format (``ass``, ``srt`` or ``vtt``)."""
    subs = to_ssafile(events, rate, title)
    if fmt == "vtt":  # the voice span names the speaker for players and for otio-dub's script reader
        for event in subs.events:
            if event.effect.startswith("lang="):
                event.text = f"<lang {event.effect[5:]}>{event.text}</lang>"
            if event.name:
                event.text = f"<v {event.name}>" + event.text
    return subs.to_string(fmt)


def write_events(events: Sequence[Event], rate: Fraction, out_dir: Path, stem: str, formats: Sequence[str],
                 title: str = "otio-dub") -> list[Path]:
    """Write ``<stem>.<fmt>`` for each format into ``out_dir`` (each file whole or not at all)."""
    return [write_text_atomic(Path(out_dir) / f"{stem}.{fmt}", format_events(events, rate, fmt, title))
            for fmt in check_formats(formats)]


def _line_media(row: dict, media_dir: Path | None) -> Path | None:
    """A row's line file: ``media`` under ``media_dir`` (the dub folder), or its name in it (the media folder)."""
    if media_dir is None or not row.get("media"):
        return None
    for path in (Path(media_dir) / row["media"], Path(media_dir) / Path(row["media"]).name):
        if path.is_file():
            return path
    return None


def _speech_span(row: dict, tb: TimeBase, media_dir: Path | None) -> tuple[float, float]:
    """(start, end) seconds from the timeline start of the fitted speech of a report row."""
    record_in = parse_timecode(str(row["record_in"]), tb.rate) - tb.start_frame
    origin = float(Fraction(record_in) / tb.rate)
    if "speech_start_s" in row:
        head = float(row["speech_start_s"])
    elif (media := _line_media(row, media_dir)) is not None:
        import soundfile as sf

        from ..audio import dsp

        audio, rate = sf.read(str(media), dtype="float32", always_2d=True)
        first, end = dsp.speech_bounds(audio.mean(axis=1), rate)
        return origin + first / rate, origin + max(first + 1, end) / rate
    else:
        head = (float(row.get("head_pad_ms") or 0.0) + float(row.get("onset_error_ms") or 0.0)) / 1000
    speech = float(row.get("speech_s") or 0.0)
    if speech <= 0:
        record_out = parse_timecode(str(row["record_out"]), tb.rate) - tb.start_frame
        speech = float(Fraction(record_out - record_in) / tb.rate) - head
    return origin + max(0.0, head), origin + max(0.0, head) + max(speech, 0.04)


def dub_events(rows: Sequence[dict], tb: TimeBase, rules: Rules = DEFAULT_RULES, media_dir: Path | None = None) -> dict[str, list[Event]]:
    """Report rows -> subtitle events per language: each line's text over its fitted speech, cut by
    the same rules as a transcript (a line is its own 'clip': an event never spans two lines)."""
    by_lang: dict[str, list] = {}
    for row in rows:
        if not str(row.get("text") or "").strip():
            continue
        start, end = _speech_span(row, tb, media_dir)
        by_lang.setdefault(str(row.get("lang") or "und"), []).append((row, start, end))
    events: dict[str, list[Event]] = {}
    for lang, items in by_lang.items():
        words, bounds = [], []
        for index, (row, start, end) in enumerate(sorted(items, key=lambda it: it[1])):
            record_out = parse_timecode(str(row.get("clip_out") or row["record_out"]), tb.rate) - tb.start_frame
            first = int(Fraction(start) * tb.rate)
            bounds.append((first, max(first + 1, record_out)))
            words += spread_text(str(row["text"]), start, end, str(row.get("character") or "") or None, index)
        events[lang] = segment(words, tb.rate, bounds, rules)
    return events


def write_dub_subtitles(rows: list[dict], tb: TimeBase, out_dir: Path, formats: str | Sequence[str], *,
                        media_dir: Path | None = None, rules: Rules = DEFAULT_RULES) -> list[Path]:
    """Subtitles of the dub: ``out_dir/subtitles/<lang>.<ext>`` for each language and format.

    ``rows`` are report.json's "lines"; each event is timed to the fitted speech in its take (a
    row's ``speech_start_s``, else its line media in ``media_dir`` (the dub folder or its media
    folder), else its head pad plus onset
    error), cut to subtitle rules. Returns the files written.
    """
    wanted = check_formats(formats)
    written: list[Path] = []
    for lang, events in sorted(dub_events(rows, tb, rules, media_dir).items()):
        written += write_events(events, tb.rate, Path(out_dir) / "subtitles", lang, wanted, title=f"otio-dub {lang}")
    return written
