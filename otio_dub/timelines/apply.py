"""Fitted lines -> new audio tracks on a copy of the timeline (the input timeline is never touched).

One track per (language, character) named ``DUB <lang> <CHARACTER>``; each line is a clip at its
exact record frame whose media is ``media/<line-id>.wav``. Lines that run past their window
(borrowed or overrun) get a marker saying so; a character's clips that would overlap go onto an
extra ``(overlap N)`` track so nothing is ever cut.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

import opentimelineio as otio

from ..core.timebase import TimeBase
from ..dialogue.lines import METADATA_KEY, Line, is_dub

log = logging.getLogger("otio_dub")

try:  # OTIO's wrapper of a value it holds in C++ (see otio_metadata)
    from opentimelineio._otio import AnyDictionary as _AnyDictionary
    from opentimelineio._otio import PyAny as _PyAny
except ImportError:  # pragma: no cover - another OTIO
    _PyAny = _AnyDictionary = None


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


def _meta(dc: DubClip) -> dict:
    """A dub clip's ``otio_dub`` metadata: the line, and what conform needs (its source identity,
    where it was laid in frames from the timeline start, the take's cache key)."""
    meta: dict[str, object] = {"role": "dub", "line_id": dc.line.id, "character": dc.line.character, "lang": dc.line.lang,
            "text": dc.line.text, "status": dc.status, "origin": dc.line.origin}
    meta["placed"] = {"record_in": dc.line.record_in, "record_out": dc.line.record_out, "clip_out": dc.end_frame}
    if dc.line.extra.get("identity"):
        meta["identity"] = dict(dc.line.extra["identity"])
    if dc.key:
        meta["key"] = dc.key
    if dc.report:
        meta["fit"] = dc.report
    if dc.gain_db is not None:
        meta["gain_db"] = round(dc.gain_db, 2)
    return meta


#: A number in a compact JSON text that OTIO's JSON reader may not parse exactly (it is off by a unit in
#: the last place on some 17-digit ones): one of 16 or more digits and points, or with an exponent. A
#: number starts after a ``:``, ``[`` or ``,``; a look-alike inside a string (never a hex key: those
#: follow a quote) only costs its clip the slow way. The dub's figures are rounded to 4 decimals.
_LONG_NUMBER = re.compile(r"[:\[,]-?(?:[\d.]{16,}|[\d.]+[eE])")


def _clip(dc: DubClip, tb: TimeBase) -> otio.schema.Clip:
    """The line's clip, with its metadata and its OVERRUN / BORROWED marker."""
    rate = float(tb.rate)
    frames = dc.end_frame - dc.line.record_in
    rng = otio.opentime.TimeRange(
        otio.opentime.RationalTime(tb.start_frame + dc.line.record_in, rate), otio.opentime.RationalTime(frames, rate),
    )
    ref = otio.schema.ExternalReference(target_url=dc.media_url, available_range=rng)
    clip = otio.schema.Clip(name=dc.line.id, media_reference=ref, source_range=rng,
                            metadata={METADATA_KEY: otio_metadata(_meta(dc))})
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


def otio_metadata(value: dict) -> object:
    """``value`` as OTIO metadata, converted by OTIO's C++ JSON reader in one call.

    Workaround: a dictionary set from Python is converted value by value in Python (OTIO's
    ``_value_to_any``, some 0.4 ms a dub clip: 0.5 s of a 1,200-line re-dub). A dictionary OTIO
    parsed itself, wrapped in its ``PyAny``, is stored as it is. Where ``PyAny`` is gone (another
    OTIO), JSON cannot carry a value (NaN) or OTIO's reader might not parse a float exactly (see
    ``_LONG_NUMBER``), ``value`` is returned for OTIO to convert its own way.
    """
    if _PyAny is None:
        return value
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return value
    if _LONG_NUMBER.search(text):
        return value
    parsed = otio.core.deserialize_json_from_string(text)
    return _PyAny(parsed) if isinstance(parsed, _AnyDictionary) else value


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
