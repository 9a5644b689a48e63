"""Timeline (+ script) -> [Line]: every piece of dialogue to dub, on the timeline's frame grid.

Pure: takes an OTIO Timeline and parsed script events, opens nothing. Lines come from clips on
audio tracks whose ``metadata["otio_dub"]`` holds the text, and from script events placed
relative to the timeline start (or to ``script_offset``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from .errors import InputError, TimelineError
from .script import EMOTIONS, ScriptEvent, clean_text, extract_emotion, split_speaker
from .timebase import TimeBase, exact_rate, frames_of

METADATA_KEY = "otio_dub"
DEFAULT_CHARACTER = "SPEAKER"


@dataclass(frozen=True)
class Line:
    """One piece of dialogue: record range in frames from the timeline start (end exclusive)."""

    id: str
    record_in: int
    record_out: int
    character: str
    lang: str
    text: str
    emotion: str | None = None
    source: str = "metadata"
    origin: str = ""
    clip_name: str | None = None
    track_name: str | None = None
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def duration(self) -> int:
        """Length of the line's window in frames."""
        return self.record_out - self.record_in


def timebase_of(timeline: otio.schema.Timeline) -> TimeBase:
    """The timeline's clock: rate and start frame from global_start_time, else from its first item."""
    start = timeline.global_start_time
    if start is not None:
        rate = exact_rate(start.rate)
        return TimeBase(rate, frames_of(start, rate))
    for item in timeline.find_children(descended_from_type=otio.core.Item):
        if not isinstance(item, (otio.schema.Clip, otio.schema.Gap)):
            continue  # an empty track reports a 0-length range at rate 1
        try:
            duration = item.trimmed_range().duration
            if duration.value > 0:
                return TimeBase(exact_rate(duration.rate), 0)
        except (otio.exceptions.OTIOError, ValueError):
            continue
    raise TimelineError(f"timeline {timeline.name!r} has no clips, so it has no frame rate")


def duration_frames(timeline: otio.schema.Timeline, tb: TimeBase) -> int:
    """Length of the timeline in whole frames of its own rate."""
    return frames_of(timeline.duration(), tb.rate) if len(timeline.tracks) else 0


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper() or "LINE"


def resolve_tracks(timeline: otio.schema.Timeline, wanted: Sequence[str]) -> list[otio.schema.Track]:
    """Audio tracks named or numbered (1-based, ``A1`` style too) by ``wanted``; all when empty."""
    audio = [t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Audio]
    if not wanted:
        return audio
    chosen = []
    for key in wanted:
        index = key[1:] if key[:1] in "Aa" and key[1:].isdigit() else key
        hits = [t for t in audio if t.name == key]
        if not hits and index.isdigit() and 1 <= int(index) <= len(audio):
            hits = [audio[int(index) - 1]]
        if not hits:
            names = ", ".join(f"A{i} {t.name!r}" for i, t in enumerate(audio, 1)) or "none"
            raise TimelineError(f"no audio track {key!r} in timeline {timeline.name!r} (audio tracks: {names})")
        chosen.extend(h for h in hits if h not in chosen)
    return chosen


def _metadata_lines(timeline: otio.schema.Timeline, tb: TimeBase, tracks: list, lang: str) -> list[dict]:
    found = []
    for track in tracks:
        for clip in track.find_clips():
            meta = clip.metadata.get(METADATA_KEY)
            if not meta or not clip.enabled or meta.get("role") == "dub":  # our own output is not dialogue
                continue
            rng = clip.transformed_time_range(clip.trimmed_range(), timeline.tracks)
            rin = frames_of(rng.start_time, tb.rate)
            rout = frames_of(rng.end_time_exclusive(), tb.rate)
            where = f"clip {clip.name!r} on track {track.name!r}"
            if rout <= rin:
                raise TimelineError("clip is zero frames long; nothing to dub into", clip=clip.name, timecode=tb.tc(rin))
            emotion, text = extract_emotion(str(meta.get("text", "")), where)
            character, text = split_speaker(clean_text(text))
            text = clean_text(text)
            if not text:
                raise TimelineError(f"otio_dub metadata on track {track.name!r} has no text", clip=clip.name, timecode=tb.tc(rin))
            emo = meta.get("emotion") or emotion
            found.append(dict(
                record_in=rin, record_out=rout, text=text,
                character=str(meta.get("character") or character or DEFAULT_CHARACTER),
                lang=meta.get("lang") or lang,
                emotion=str(emo).lower() if emo and str(emo).lower() in EMOTIONS else None,
                source="metadata", origin=where, clip_name=clip.name, track_name=track.name,
            ))
    return found


def _script_lines(events: Sequence[ScriptEvent], script_name: str, tb: TimeBase, offset: int, lang: str, length: int) -> list[dict]:
    found = []
    for ev in events:
        rin = offset + tb.frame_of_seconds(Fraction(ev.start_ms, 1000))
        rout = offset + tb.frame_of_seconds(Fraction(ev.end_ms, 1000))
        where = f"event {ev.number}"
        if not ev.text:
            raise InputError(script_name, "has no text to speak", where=where)
        if rout <= rin:
            raise InputError(script_name, f"is shorter than one frame at {float(tb.rate):g} fps", where=where)
        if rin < 0 or rout > length:
            raise InputError(script_name, f"{tb.tc(rin)}-{tb.tc(rout)} lies outside the timeline "
                             f"{tb.tc(0)}-{tb.tc(length)} (check --script-offset)", where=where)
        found.append(dict(
            record_in=rin, record_out=rout, text=ev.text, character=ev.character or DEFAULT_CHARACTER,
            lang=lang, emotion=ev.emotion, source="script", origin=f"{Path(script_name).name} {where}",
        ))
    return found


def find_lines(
    timeline: otio.schema.Timeline,
    script: Sequence[ScriptEvent] | None = None,
    *,
    script_name: str = "script",
    script_offset: int = 0,
    lang: str | None = "en",
    dialogue_tracks: Sequence[str] = (),
) -> list[Line]:
    """All dialogue lines of ``timeline`` (metadata clips, then script events), in record order.

    ``script_offset`` is the frame, relative to the timeline start, where script time zero falls.
    With ``lang=None`` lines that name no language keep ``None`` for the caller to resolve.
    """
    tb = timebase_of(timeline)
    tracks = resolve_tracks(timeline, dialogue_tracks)
    raw = _metadata_lines(timeline, tb, tracks, lang)
    if script is not None:
        raw += _script_lines(script, script_name, tb, script_offset, lang, duration_frames(timeline, tb))
    raw.sort(key=lambda r: (r["record_in"], r["record_out"], r["character"]))
    width = max(3, len(str(len(raw))))
    return [Line(id=f"{n:0{width}d}-{_slug(r['character'])}", **r) for n, r in enumerate(raw, 1)]


def dialogue_timeline(name: str, tb: TimeBase, events: Sequence[tuple[int, int, str, dict]]) -> otio.schema.Timeline:
    """A timeline of dialogue clips: (record in, record out, clip name, otio_dub metadata) in frames
    from ``tb``'s start, on an audio track ``DIALOGUE`` (gaps between; overlaps on ``DIALOGUE 2``...).

    The shape the subtitle and dialogue-list adapters read into, so any OTIO tool sees the lines.
    """
    fps = float(tb.rate)
    lanes: list[tuple[otio.schema.Track, list[int]]] = []
    for rin, rout, clip_name, meta in sorted(events, key=lambda e: (e[0], e[1])):
        free = [lane for lane in lanes if lane[1][0] <= rin]  # first track not busy at this event
        if not free:
            label = f"DIALOGUE {len(lanes) + 1}" if lanes else "DIALOGUE"
            free = [(otio.schema.Track(label, kind=otio.schema.TrackKind.Audio), [0])]
            lanes.append(free[0])
        track, cursor = free[0]
        if rin > cursor[0]:
            track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(
                duration=otio.opentime.RationalTime(rin - cursor[0], fps))))
        track.append(otio.schema.Clip(
            name=clip_name,
            source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(tb.start_frame + rin, fps),
                                                 otio.opentime.RationalTime(rout - rin, fps)),
            metadata={METADATA_KEY: {k: v for k, v in meta.items() if v is not None}},
        ))
        cursor[0] = rout
    timeline = otio.schema.Timeline(name, global_start_time=otio.opentime.RationalTime(tb.start_frame, fps))
    for track, _ in lanes:
        timeline.tracks.append(track)
    return timeline
