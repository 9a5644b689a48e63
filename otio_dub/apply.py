"""Fitted lines -> new audio tracks on a copy of the timeline (the input timeline is never touched).

One track per (language, character) named ``DUB <lang> <CHARACTER>``; each line is a clip at its
exact record frame whose media is ``media/<line-id>.wav``. Lines that run past their window
(borrowed or overrun) get a marker saying so; a character's clips that would overlap go onto an
extra ``(overlap N)`` track so nothing is ever cut.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import opentimelineio as otio

from .lines import METADATA_KEY, Line, is_dub
from .timebase import TimeBase

log = logging.getLogger("otio_dub")


@dataclass(frozen=True)
class DubClip:
    """One fitted line ready to lay: its line, clip end frame, media path, status and note."""

    line: Line
    end_frame: int
    media_url: str
    status: str
    note: str = ""
    report: dict | None = None
    gain_db: float | None = None  # the character's loudness gain, baked into the media
    key: str = ""  # the take's render-cache key (conform reuses the take by it)


def track_name(lang: str, character: str, lane: int = 0) -> str:
    """The dub track name a user sees in the NLE."""
    base = f"DUB {lang} {character}"
    return base if lane == 0 else f"{base} (overlap {lane + 1})"


_MARKER_COLOR = {"overrun": otio.schema.MarkerColor.RED, "borrowed": otio.schema.MarkerColor.YELLOW}


def _clip(dc: DubClip, tb: TimeBase) -> otio.schema.Clip:
    rate = float(tb.rate)
    frames = dc.end_frame - dc.line.record_in
    rng = otio.opentime.TimeRange(
        otio.opentime.RationalTime(tb.start_frame + dc.line.record_in, rate), otio.opentime.RationalTime(frames, rate),
    )
    ref = otio.schema.ExternalReference(target_url=dc.media_url, available_range=rng)
    meta = {"role": "dub", "line_id": dc.line.id, "character": dc.line.character, "lang": dc.line.lang,
            "text": dc.line.text, "status": dc.status, "origin": dc.line.origin}
    # what conform needs: the line's source identity, where this clip was laid (frames from the
    # timeline start: a later difference is the editor's hand edit) and the take's cache key
    meta["placed"] = {"record_in": dc.line.record_in, "record_out": dc.line.record_out, "clip_out": dc.end_frame}
    if dc.line.extra.get("identity"):
        meta["identity"] = dict(dc.line.extra["identity"])
    if dc.key:
        meta["key"] = dc.key
    if dc.report:
        meta["fit"] = dc.report
    if dc.gain_db is not None:
        meta["gain_db"] = round(dc.gain_db, 2)
    clip = otio.schema.Clip(name=dc.line.id, media_reference=ref, source_range=rng, metadata={METADATA_KEY: meta})
    if dc.status in _MARKER_COLOR:
        over = frames - dc.line.duration
        marked = otio.opentime.TimeRange(
            otio.opentime.RationalTime(rng.start_time.value + dc.line.duration, rate),
            otio.opentime.RationalTime(max(over, 1), rate),
        )
        clip.markers.append(otio.schema.Marker(name=f"{dc.status.upper()}: {dc.note}", marked_range=marked,
                                               color=_MARKER_COLOR[dc.status], comment=dc.note,
                                               metadata={METADATA_KEY: {"role": "dub"}}))
    return clip


def add_dub_tracks(timeline: otio.schema.Timeline, clips: Sequence[DubClip], tb: TimeBase) -> otio.schema.Timeline:
    """A deep copy of ``timeline`` with the dub tracks appended after its own tracks.

    Dub tracks from an earlier run (a ``.dub.otio`` dubbed again) are replaced, not duplicated. The
    timeline's ``otio_dub.drop_frame`` records the timecode label the dub used.
    """
    out = copy.deepcopy(timeline)
    if tb.drop_frame is not None:  # the clock's label as dubbed (the source's, or --drop-frame/--non-drop)
        ours = dict(out.metadata.get(METADATA_KEY) or {})
        ours["drop_frame"] = bool(tb.drop_frame)
        out.metadata[METADATA_KEY] = ours
    old = [t for t in out.tracks if is_dub(t)]
    if old:
        log.warning("replacing %d dub track(s) from an earlier run: %s", len(old), ", ".join(t.name for t in old))
        for track in old:
            out.tracks.remove(track)
    lanes: dict[tuple[str, str], list[list[DubClip]]] = {}
    for dc in sorted(clips, key=lambda c: (c.line.record_in, c.line.id)):
        key = (dc.line.lang, dc.line.character)
        tracks = lanes.setdefault(key, [])
        for lane in tracks:
            if lane[-1].end_frame <= dc.line.record_in:
                lane.append(dc)
                break
        else:
            tracks.append([dc])
    rate = float(tb.rate)
    for (lang, character), tracks in lanes.items():
        for index, lane in enumerate(tracks):
            track = otio.schema.Track(name=track_name(lang, character, index), kind=otio.schema.TrackKind.Audio,
                                      metadata={METADATA_KEY: {"role": "dub", "lang": lang, "character": character}})
            cursor = 0
            for dc in lane:
                if dc.line.record_in > cursor:
                    track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(
                        duration=otio.opentime.RationalTime(dc.line.record_in - cursor, rate))))
                track.append(_clip(dc, tb))
                cursor = dc.end_frame
            out.tracks.append(track)
    return out
