"""Timeline (+ script) -> [Line]: every piece of dialogue to dub, on the timeline's frame grid.

Pure: takes an OTIO Timeline and parsed script events, opens nothing. Lines come from clips on
audio tracks whose ``metadata["otio_dub"]`` holds the text, and from script events placed
relative to the timeline start (or to ``script_offset``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from ..core.errors import InputError, TimelineError
from ..core.timebase import TimeBase, exact_rate, frames_of
from .limits import check_line, check_line_meta, check_timeline
from .script import EMOTIONS, ScriptEvent, clean_text, extract_emotion, split_speaker

log = logging.getLogger("otio_dub")

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


def timebase_of(timeline: otio.schema.Timeline, drop_frame: bool | None = None) -> TimeBase:
    """The timeline's clock: rate and start frame from global_start_time, else from its first item.

    DF/NDF comes from ``drop_frame`` (the user's --drop-frame/--non-drop) when given, else from the
    source (see ``timebase.drop_frame_in``), else non-drop: never from the rate alone. Only the
    29.97/59.94 family can count drop-frame.
    """
    from ..core.timebase import drop_frame_in, is_drop_frame_rate

    def clock(rate: Fraction, start: int) -> TimeBase:
        said = drop_frame if drop_frame is not None else drop_frame_in(timeline.metadata)
        return TimeBase(rate, start, bool(said) and is_drop_frame_rate(rate))

    start = timeline.global_start_time
    if start is not None:
        rate = exact_rate(start.rate)
        return clock(rate, frames_of(start, rate))
    for item in timeline.find_children(descended_from_type=otio.core.Item):
        if not isinstance(item, (otio.schema.Clip, otio.schema.Gap)):
            continue  # an empty track reports a 0-length range at rate 1
        try:
            duration = item.trimmed_range().duration
            if duration.value > 0:
                return clock(exact_rate(duration.rate), 0)
        except (otio.exceptions.OTIOError, ValueError):
            continue
    raise TimelineError(f"timeline {timeline.name!r} has no clips, so it has no frame rate")


def duration_frames(timeline: otio.schema.Timeline, tb: TimeBase) -> int:
    """Length of the timeline in whole frames of its own rate."""
    return frames_of(timeline.duration(), tb.rate) if len(timeline.tracks) else 0


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper() or "LINE"


#: Track names that mean dialogue (whole words, case-insensitive; DIA1, DX 2 and DIALOGUE count).
DIALOGUE_TRACK_WORDS = ("DIA", "DX", "DIALOG", "DIALOGUE", "VO", "ADR")


#: What otio-dub writes, recognisable by name too: formats such as FCPXML and EDL drop metadata.
_DUB_TRACK_NAME = re.compile(r"^DUB \S+ \S.*$")
_DUB_MARKER_NAME = re.compile(r"^(OVERRUN|BORROWED): ")


def ours(item: otio.core.SerializableObject) -> Mapping:
    """An item's ``otio_dub`` metadata; empty when absent or not a table (checked where it is read)."""
    meta = item.metadata.get(METADATA_KEY)
    return meta if isinstance(meta, Mapping) else {}


def is_dub(item: otio.core.SerializableObject) -> bool:
    """True for tracks, clips and markers otio-dub made (by metadata, else by track/marker name)."""
    if ours(item).get("role") == "dub":
        return True
    if isinstance(item, otio.schema.Track):
        return bool(_DUB_TRACK_NAME.match(item.name or ""))
    if isinstance(item, otio.schema.Marker):
        return bool(_DUB_MARKER_NAME.match(item.name or ""))
    parent = item.parent() if isinstance(item, otio.schema.Clip) else None
    return isinstance(parent, otio.schema.Track) and bool(_DUB_TRACK_NAME.match(parent.name or ""))


def _audio_tracks(timeline: otio.schema.Timeline) -> list[otio.schema.Track]:
    """The timeline's own audio tracks (dub tracks from an earlier run are not dialogue)."""
    return [t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Audio and not is_dub(t)]


def is_dialogue_track_name(name: str, words: Sequence[str] = DIALOGUE_TRACK_WORDS) -> bool:
    """True when a word of the track name is a dialogue word (a number may follow: DIA2, DX_1)."""
    tokens = re.findall(r"[A-Za-z]+", name.upper())
    return any(token in {w.upper() for w in words} for token in tokens)


def find_dialogue_tracks(timeline: otio.schema.Timeline, wanted: Sequence[str] = (),
                    words: Sequence[str] = DIALOGUE_TRACK_WORDS) -> list[otio.schema.Track]:
    """The dialogue tracks: those ``wanted``, else those named like dialogue, else every audio track."""
    if wanted:
        return resolve_tracks(timeline, wanted)
    audio = _audio_tracks(timeline)
    named = [t for t in audio if is_dialogue_track_name(t.name, words)]
    return named or audio


def resolve_tracks(timeline: otio.schema.Timeline, wanted: Sequence[str]) -> list[otio.schema.Track]:
    """Audio tracks named or numbered (1-based, ``A1`` style too) by ``wanted``; all when empty."""
    audio = _audio_tracks(timeline)
    if not wanted:
        return audio
    chosen: list[otio.schema.Track] = []
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


def _metadata_lines(record: _Record, tb: TimeBase, tracks: list, lang: str | None) -> list[dict]:
    found = []
    for track in tracks:
        for clip in track.find_clips():
            meta = check_line_meta(clip.metadata.get(METADATA_KEY), clip, track)
            if not meta or not clip.enabled or meta.get("role") == "dub":  # our own output is not dialogue
                continue
            if "text" not in meta and meta.get("dialogue"):  # tagged as a dialogue clip, no line yet
                continue
            rin, rout = record.frames(clip, _trimmed(clip))
            where = f"clip {clip.name!r} on track {track.name!r}"
            if rout <= rin:
                raise TimelineError("clip is zero frames long; nothing to dub into", clip=clip.name, timecode=tb.tc(rin))
            emotion, text = extract_emotion(meta.get("text") or "", where)
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
                source=str(meta.get("source") or "metadata"), origin=where, clip_name=clip.name, track_name=track.name,
                extra={"identity": source_identity(clip, rin, rin, tb), "clip": clip},
            ))
    return found


def _trimmed(clip: otio.schema.Clip) -> otio.opentime.TimeRange:
    """A clip's used range; a clip with neither a source range nor media to take one from is an error."""
    try:
        return clip.trimmed_range()
    except otio.exceptions.OTIOError:
        raise TimelineError("clip has no source range and no media range: its length is unknown",
                            clip=clip.name) from None


class _Record:
    """Ranges in a clip's own (source) time as record frames from the timeline start.

    OTIO's ``transformed_time_range`` sums every earlier sibling on each call, which is quadratic
    over a feature's thousands of clips (minutes for 5,000); a clip directly on an untrimmed
    top-level track is placed from one ``range_of_all_children`` pass per track instead.
    """

    def __init__(self, timeline: otio.schema.Timeline, tb: TimeBase) -> None:
        self.stack, self.tb = timeline.tracks, tb
        self._starts: dict[int, tuple[otio.schema.Track, dict]] = {}

    def _start_in_track(self, clip: otio.schema.Clip) -> otio.opentime.RationalTime | None:
        track = clip.parent()
        if not isinstance(track, otio.schema.Track) or track.parent() is not self.stack \
                or track.source_range is not None or self.stack.source_range is not None:
            return None
        if id(track) not in self._starts:
            self._starts[id(track)] = (track, track.range_of_all_children())  # the track kept alive with its id
        rng = self._starts[id(track)][1].get(clip)
        return rng.start_time if rng is not None else None

    def frames(self, clip: otio.schema.Clip, rng: otio.opentime.TimeRange) -> tuple[int, int]:
        """Record in and out frames of ``rng`` (in ``clip``'s time)."""
        start = self._start_in_track(clip)
        if start is None:
            mapped = clip.transformed_time_range(rng, self.stack)
        else:
            mapped = otio.opentime.TimeRange(rng.start_time - _trimmed(clip).start_time + start, rng.duration)
        return frames_of(mapped.start_time, self.tb.rate), frames_of(mapped.end_time_exclusive(), self.tb.rate)


def source_identity(clip: otio.schema.Clip, clip_in: int, record_in: int, tb: TimeBase) -> dict:
    """What a line is, whatever the cut: its source media and the source frame under its record-in.

    Conform matches lines of a re-cut by this (a moved or trimmed clip keeps its media and source).
    """
    ref = clip.media_reference
    if isinstance(ref, otio.schema.ExternalReference) and ref.target_url:
        media = ref.target_url
    else:
        media = (ref.name if ref is not None and ref.name else "") or clip.name
    start = _trimmed(clip).start_time
    return {"media": media, "source_in": frames_of(start, tb.rate) + record_in - clip_in}


def _marker_lines(record: _Record, tb: TimeBase, tracks: list, lang: str | None, skip: set[int]) -> list[dict]:
    """Lines from ``CHARACTER: text`` markers on dialogue clips (clips in ``skip`` already have one).

    A marker spanning more than a frame is the line's window; point markers split their clip at
    each marker, so a clip with one marker is one line over the whole clip.
    """
    found = []
    for track in tracks:
        for clip in track.find_clips():
            if id(clip) in skip or not clip.enabled or is_dub(clip):  # by object: clip names repeat
                continue
            spoken = []
            for marker in clip.markers:
                if is_dub(marker):  # our own OVERRUN / BORROWED notes are not dialogue
                    continue
                for raw in (marker.comment, marker.name):
                    character, body = split_speaker(clean_text(raw or ""))
                    if character and body:
                        spoken.append((marker, character, body))
                        break
            if not spoken:
                continue
            clip_in, clip_out = record.frames(clip, _trimmed(clip))
            points = sorted(record.frames(clip, m.marked_range)[0] for m, _, _ in spoken)
            for marker, character, body in spoken:
                rin, rout = record.frames(clip, marker.marked_range)
                if rout - rin <= 1:  # a point marker: from it (or the clip start) to the next one
                    later = [p for p in points if p > rin]
                    rin = clip_in if rin == points[0] else rin
                    rout = later[0] if later else clip_out
                rin, rout = max(rin, clip_in), min(rout, clip_out)
                where = f"marker {marker.name!r} on clip {clip.name!r} (track {track.name!r})"
                if rout <= rin:
                    log.warning("%s lies outside its clip; ignored", where)
                    continue
                emotion, text = extract_emotion(body, where)
                found.append(dict(
                    record_in=rin, record_out=rout, text=clean_text(text), character=character, lang=lang,
                    emotion=emotion, source="marker", origin=where, clip_name=clip.name, track_name=track.name,
                    extra={"identity": source_identity(clip, clip_in, rin, tb), "clip": clip},
                ))
    return found


def _script_lines(events: Sequence[ScriptEvent], script_name: str, tb: TimeBase, offset: int, lang: str | None,
                  length: int) -> list[dict]:
    found: list[dict] = []
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
            lang=ev.lang or lang, emotion=ev.emotion, source="script", origin=f"{Path(script_name).name} {where}",
            extra={"gender": ev.gender} if ev.gender else {},
        ))
    by_character: dict[str, list[dict]] = {}
    for row in found:
        for other in by_character.get(row["character"], []):
            if other["record_in"] < row["record_out"] and row["record_in"] < other["record_out"]:
                log.warning("%s: %s overlaps %s of the same character (%s); it goes on an overlap track",
                            script_name, " ".join(row["origin"].rsplit(" ", 2)[-2:]),
                            " ".join(other["origin"].rsplit(" ", 2)[-2:]),
                            row["character"])
        by_character.setdefault(row["character"], []).append(row)
    return found


def _clips_under(record: _Record, tracks: list) -> list[tuple]:
    """(track name, clip name, record in, record out, clip) of every enabled clip on the dialogue tracks."""
    found = []
    for track in tracks:
        for clip in track.find_clips():
            if clip.enabled and not is_dub(clip):
                rin, rout = record.frames(clip, _trimmed(clip))
                found.append((track.name, clip.name, rin, rout, clip))
    return found


def _match_script(rows: list[dict], clips: list[tuple], taken: dict[int, str], tb: TimeBase) -> list[dict]:
    """Tie script lines to the dialogue clip they overlap most; an event lying mostly on a clip whose
    line came from metadata or a marker is that line again, and is dropped with a warning."""
    kept = []
    for row in rows:
        best, overlap = None, 0
        for track_name, clip_name, rin, rout, clip in clips:
            shared = min(rout, row["record_out"]) - max(rin, row["record_in"])
            if shared > overlap:
                best, overlap = (track_name, clip_name, rin, clip), shared
        if best is not None:
            key = id(best[3])
            if key in taken and 2 * overlap > row["record_out"] - row["record_in"]:  # mostly on that clip
                log.warning("%s: clip %r already has its line from %s; the script event is skipped",
                            row["origin"], best[1], taken[key])
                continue
            row = {**row, "track_name": best[0], "clip_name": best[1],
                   "extra": {**row.get("extra", {}), "identity": source_identity(best[3], best[2], row["record_in"], tb)}}
        kept.append(row)
    return kept


def find_lines(
    timeline: otio.schema.Timeline,
    script: Sequence[ScriptEvent] | None = None,
    *,
    script_name: str = "script",
    script_offset: int = 0,
    lang: str | None = "en",
    dialogue_tracks: Sequence[str] = (),
    checked: bool = False,
) -> list[Line]:
    """All dialogue lines of ``timeline``, in record order, found in this order of precedence:
    clip metadata; ``CHARACTER: text`` markers on dialogue clips; script events (tied to the
    dialogue clip they overlap most, or standing alone where no clip is under them).

    ``script_offset`` is the frame, relative to the timeline start, where script time zero falls.
    With ``lang=None`` lines that name no language keep ``None`` for the caller to resolve.
    ``checked``: the caller has passed ``timeline`` through :func:`check_timeline` already (it walks
    every item: a tenth of a second on a feature).
    """
    if not checked:
        check_timeline(timeline)
    tb = timebase_of(timeline)
    record = _Record(timeline, tb)
    raw = _metadata_lines(record, tb, resolve_tracks(timeline, dialogue_tracks), lang)
    dialogue = find_dialogue_tracks(timeline, dialogue_tracks)
    taken = {id(r["extra"]["clip"]): "metadata" for r in raw}  # by object (rows keep it alive): names repeat
    markers = _marker_lines(record, tb, dialogue, lang, set(taken))
    taken.update({id(r["extra"]["clip"]): "a marker" for r in markers})
    raw += markers
    if script is not None:
        rows = _script_lines(script, script_name, tb, script_offset, lang, duration_frames(timeline, tb))
        raw += _match_script(rows, _clips_under(record, dialogue), taken, tb)
    for row in raw:
        check_line(row, tb)
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


def tag_dialogue(timeline: otio.schema.Timeline, words: Sequence[str] = DIALOGUE_TRACK_WORDS) -> int:
    """Mark dialogue clips with ``otio_dub`` metadata in place, so any tool reading the timeline
    sees them: clips on tracks named like dialogue get ``dialogue: true``, and a clip whose one
    ``CHARACTER: text`` marker covers it gets the line's text and character. Returns clips tagged."""
    try:
        check_timeline(timeline)
    except TimelineError as exc:  # a hook must not make reading a timeline fail; the dub refuses it
        log.warning("not tagging dialogue: %s", exc)
        return 0
    tb = timebase_of(timeline)
    audio = _audio_tracks(timeline)
    named = [t for t in audio if is_dialogue_track_name(t.name, words)]
    tagged = 0
    by_clip: dict[int, list[dict]] = {}
    for row in _marker_lines(_Record(timeline, tb), tb, named or audio, None, set()):
        by_clip.setdefault(id(row["extra"]["clip"]), []).append(row)
    for track in named or audio:
        for clip in track.find_clips():
            if is_dub(clip) or not clip.enabled:
                continue
            meta = clip.metadata.get(METADATA_KEY) or {}
            if not isinstance(meta, Mapping) or meta.get("text"):
                continue  # already a line, or someone else's value: never overwrite
            meta = dict(meta)
            rows = by_clip.get(id(clip), [])
            if len(rows) == 1:
                meta.update(text=rows[0]["text"], character=rows[0]["character"], source="marker",
                            **({"emotion": rows[0]["emotion"]} if rows[0]["emotion"] else {}))
            elif track in named:
                meta["dialogue"] = True
            else:
                continue
            clip.metadata[METADATA_KEY] = meta
            tagged += 1
    return tagged
