"""Reading the dub clips back from a dub timeline as the editor left it, as stem placements.

What makes a clip a dub clip, in order (each survives a different NLE round trip):

1. its ``otio_dub`` metadata has role ``dub`` (.otio, .otioz, .otiod keep it);
2. it sits on a dub track: ``otio_dub`` track metadata, or a ``DUB <lang> <CHARACTER>`` name;
3. its media is an otio-dub line file: a BWF whose bext Originator is ``otio-dub`` and whose
   Description reads ``CHARACTER (lang): text`` (FCP7 XML keeps neither metadata nor track names,
   but every NLE keeps the media).

A clip's place on the stem is where it sits now; the head trim is its source start minus its
media's own start (the bext TimeReference, which is what an NLE reads, else the reference's
available range). Disabled clips and clips on disabled tracks are left out.
"""

from __future__ import annotations

import logging
import re
from fractions import Fraction
from pathlib import Path
from urllib.parse import unquote, urlparse

import opentimelineio as otio

from ..audio.bwf import Bext, Placement, read_bext
from ..core.errors import InputError
from ..core.timebase import SAMPLE_RATE, TimeBase, exact_rate, frames_of
from ..dialogue.lines import METADATA_KEY, duration_frames, timebase_of

log = logging.getLogger("otio_dub")

Key = tuple[str, str]  # (language, character)
ORIGINATOR = "otio-dub"
_DUB_TRACK = re.compile(r"^DUB (\S+) (.+?)(?: \(overlap \d+\))?$")
_DESCRIPTION = re.compile(r"^(?P<character>.+?) \((?P<lang>[\w-]+)\): ")


def line_description(character: str, lang: str, text: str) -> str:
    """The bext Description of a line file: who, in which language, and what (256 characters)."""
    return f"{character} ({lang}): {text}"[:256]


def _meta(item: otio.core.SerializableObject) -> dict:
    meta = item.metadata.get(METADATA_KEY)
    return dict(meta) if hasattr(meta, "items") else {}


def _track_identity(track: otio.schema.Track) -> Key | None:
    """(lang, character) of a dub track, from its metadata or its ``DUB <lang> <CHARACTER>`` name."""
    meta = _meta(track)
    if meta.get("role") == "dub" and meta.get("character"):
        return (str(meta.get("lang") or "und"), str(meta["character"]))
    match = _DUB_TRACK.match(track.name or "")
    return (match.group(1), match.group(2)) if match else None


def _media_identity(bext: Bext | None) -> Key | None:
    if bext is None or bext.originator != ORIGINATOR:
        return None
    match = _DESCRIPTION.match(bext.description)
    return (match.group("lang"), match.group("character")) if match else None


def media_path(url: str, base: Path) -> Path:
    """A reference's file: ``file://`` URLs, absolute paths, or paths relative to ``base``."""
    if "://" in url or url.startswith("file:"):
        parsed = urlparse(url)
        if parsed.scheme != "file":
            raise ValueError(f"not a local file: {url}")
        local = unquote(parsed.path)
        if re.match(r"^/[A-Za-z]:/", local):  # file:///C:/...
            local = local[1:]
        return Path(local)
    path = Path(unquote(url))
    return path if path.is_absolute() else base / path


def _sample(rt: otio.opentime.RationalTime) -> int:
    """A time as a 48 kHz sample count with exact rationals (frames at NTSC rates, or samples)."""
    x = Fraction(rt.value) * SAMPLE_RATE / exact_rate(rt.rate)
    return (2 * x.numerator + x.denominator) // (2 * x.denominator)


def _stem_sample(rt: otio.opentime.RationalTime, tb: TimeBase) -> int:
    """A time from the timeline start as a stem sample: a whole frame lands where the NLE puts it."""
    if exact_rate(rt.rate) == tb.rate and rt.value == int(rt.value):
        return tb.sample_at(int(rt.value))
    return _sample(rt)


def _enabled(clip: otio.schema.Clip, track: otio.schema.Track) -> bool:
    item = clip
    while item is not None:
        if not item.enabled:
            return False
        if item is track:
            return True
        item = item.parent()
    return True


class _Media:
    """Each referenced file looked at once: its bext and, for dub media, its sound file facts."""

    def __init__(self) -> None:
        self._bext: dict[Path, Bext | None] = {}
        self._frames: dict[Path, int] = {}

    def bext(self, path: Path) -> Bext | None:
        if path not in self._bext:
            try:
                self._bext[path] = read_bext(path) if path.suffix.lower() in (".wav", ".bwf", ".rf64") else None
            except (OSError, ValueError):
                self._bext[path] = None
        return self._bext[path]

    def frames(self, path: Path, where: str) -> int:
        """Sample count of a dub clip's media; one-line errors naming the clip and the file."""
        if path not in self._frames:
            import soundfile as sf

            if not path.is_file():
                raise InputError(str(path), "media file not found", where)
            try:
                with sf.SoundFile(str(path)) as info:  # sf.info would also format its type names: a third slower
                    pass
            except (RuntimeError, OSError) as exc:
                detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
                raise InputError(str(path), f"cannot read media ({detail})", where) from None
            if info.samplerate != SAMPLE_RATE:
                raise InputError(str(path), f"media is {info.samplerate} Hz; stems are {SAMPLE_RATE} Hz", where)
            if info.channels != 1:
                raise InputError(str(path), f"media has {info.channels} channels; dub lines are mono", where)
            self._frames[path] = info.frames
        return self._frames[path]


class _TrackLayout:
    """Where a track's clips sit in the timeline's stack, the track laid out once: OTIO's
    ``transformed_time_range`` sums the durations before a clip again for every clip (quadratic: a
    second on a feature). The same operations in the same order as OTIO's, so the same times."""

    def __init__(self, track: otio.schema.Track, stack: otio.schema.Stack) -> None:
        self._stack = stack
        self._starts = _child_starts(track) if track.parent() is stack else {}
        if self._starts:
            self._track_start = track.trimmed_range().start_time
            self._in_stack = stack.range_of_child(track).start_time

    def range_of(self, clip: otio.schema.Clip) -> otio.opentime.TimeRange:
        """The clip's trimmed range in the stack's time."""
        trimmed = clip.trimmed_range()
        in_track = self._starts.get(clip)
        if in_track is None:  # nested in a stack or track inside the track: OTIO walks it
            return clip.transformed_time_range(trimmed, self._stack)
        start = trimmed.start_time - trimmed.start_time + in_track - self._track_start + self._in_stack
        return otio.opentime.TimeRange(start, trimmed.duration)


def _child_starts(track: otio.schema.Track) -> dict[otio.core.Composable, otio.opentime.RationalTime]:
    """Each child's start in ``track`` as OTIO's ``Track::range_of_child_at_index`` computes it: the
    durations of the items before it summed in order onto a zero at the child's own rate (one running
    sum per rate met, so mixed rates round as OTIO's do)."""
    sums: dict[float, otio.opentime.RationalTime] = {}
    before: list[otio.opentime.RationalTime] = []
    starts = {}
    for child in track:
        duration = child.duration()
        if duration.rate not in sums:
            total = otio.opentime.RationalTime(0, duration.rate)
            for d in before:
                total = total + d
            sums[duration.rate] = total
        start = sums[duration.rate]
        if isinstance(child, otio.schema.Transition):
            starts[child] = start - child.in_offset
            continue
        starts[child] = start
        before.append(duration)
        sums = {rate: total + duration for rate, total in sums.items()}
    return starts


def dub_placements(timeline: otio.schema.Timeline, base: Path) -> tuple[TimeBase, int, list[tuple[str, str, Placement]]]:
    """The timeline's clock, its length in samples, and every enabled dub clip as (lang, character, placement).

    Raises InputError naming the clip and file for missing or unusable media, and when the
    timeline holds no dub clip, before anything is written.
    """
    tb = timebase_of(timeline)
    total = tb.samples_between(0, duration_frames(timeline, tb))
    media = _Media()
    found: list[tuple[str, str, Placement]] = []
    for track in timeline.tracks:
        if not isinstance(track, otio.schema.Track):
            continue
        # OTIO's FCPXML reader returns connected audio lanes as Video tracks: there, only a clip whose
        # media is an otio-dub line file (its bext says so) is a dub clip
        audio = track.kind == otio.schema.TrackKind.Audio
        identity = _track_identity(track) if audio else None
        visible_end = _sample(track.trimmed_range().duration)
        placed_in = _TrackLayout(track, timeline.tracks)
        for clip in track.find_clips():
            ref = clip.media_reference
            path = None
            if isinstance(ref, otio.schema.ExternalReference) and ref.target_url:
                try:
                    path = media_path(ref.target_url, base)
                except ValueError:
                    path = None
            meta = _meta(clip)
            key: Key | None = None
            if not audio:
                key = _media_identity(media.bext(path)) if path is not None and path.suffix.lower() == ".wav" \
                    and path.is_file() else None
            elif meta.get("role") == "dub":
                key = (str(meta.get("lang") or (identity or ("und",))[0]),
                       str(meta.get("character") or (identity or ("", clip.name))[1]))
            elif identity is not None:
                key = identity
            elif path is not None:
                key = _media_identity(media.bext(path))
            if key is None or not _enabled(clip, track):
                continue
            placed = placed_in.range_of(clip)
            start, end = _stem_sample(placed.start_time, tb), _stem_sample(placed.end_time_exclusive(), tb)
            where = f"clip {clip.name!r} at {tb.tc(frames_of(placed.start_time, tb.rate))}"
            if path is None:
                raise InputError(timeline.name or "timeline", "dub clip has no media file to render", where)
            frames = media.frames(path, where)
            bext = media.bext(path)
            if bext is not None and bext.time_reference is not None:
                media_start = bext.time_reference
            elif ref.available_range is not None:
                media_start = _sample(ref.available_range.start_time)
            else:
                media_start = _sample(clip.trimmed_range().start_time)  # no clue: the clip starts at the file's start
            offset = _sample(clip.trimmed_range().start_time) - media_start
            if offset < 0 or offset + end - start > frames + 2:  # 2: rounding of a clip moved at 29.97
                log.warning("%s: runs past the ends of its media %s; silence there", where, path.name)
            lo = max(0, start, start - offset)  # inside the timeline, the visible track and the media
            hi = min(total, end, visible_end, start - offset + frames)
            if hi > lo:
                found.append((key[0], key[1], Placement(path, lo, hi - lo, 1.0, offset + lo - start)))
    if not found:
        raise InputError(timeline.name or "timeline", "no dub clips to render (no clip with otio_dub role 'dub', on a "
                                                      "'DUB <lang> <CHARACTER>' track or with otio-dub line media)")
    return tb, total, found
