"""AAF written with pyaaf2 directly, in the shape Media Composer and Pro Tools read.

OTIO's AAF writer stops on media at another rate than the sequence and on generators, and
describes linked WAVs wrongly (16-bit, frame-rate file mobs, no container, one channel). This
writer follows pyaaf2's linked-WAV (AMA) example, which Pro Tools imports: per source a MasterMob,
a file SourceMob whose PCMDescriptor is read from the WAV itself (bits, BlockAlign, AverageBPS,
exact sample Length, ContainerFormat, a NetworkLocator file URL) with slots at the sample rate, and
a tape SourceMob carrying the source timecode (the BWF TimeReference for line media). Composition
tracks carry PhysicalTrackNumber, the timecode track the source's drop-frame flag, and every
sequence its real length. ``embed=True`` copies the line WAVs into the AAF (the form Pro Tools
imports most reliably).

What AAF here cannot carry: generators (colour mattes) and nested stacks become filler (a warning
names them), transitions become cuts, markers are left to the ``.dub.otio``.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import uuid
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import opentimelineio as otio

from ..core.timebase import SAMPLE_RATE, TimeBase, exact_rate, frames_of
from ..dialogue.lines import is_dub
from .media import WavFacts, link_url, local_file, wav_facts

if TYPE_CHECKING:  # pyaaf2 ships no stubs: these name what its objects are
    from aaf2.components import Segment, Sequence, SourceClip
    from aaf2.core import AAFObject
    from aaf2.essence import EssenceDescriptor, PCMDescriptor
    from aaf2.file import AAFFile
    from aaf2.mobid import MobID
    from aaf2.mobs import MasterMob, Mob, SourceMob

log = logging.getLogger("otio_dub")
_MobT = TypeVar("_MobT", bound="Mob")

_NAMESPACE = uuid.UUID("5b3c9f3e-6f51-4f0e-9d0c-6f7475646475")  # otio-dub's MobID namespace
_KIND = {otio.schema.TrackKind.Video: "picture", otio.schema.TrackKind.Audio: "sound"}
#: The time an AAF written from another format carries (header, Identification, every mob): fixed, so
#: the same timeline gives the same bytes (the line WAVs' BWF dates are left empty for the same reason).
WRITTEN_AT = datetime.datetime(2000, 1, 1)


def write_aaf(timeline: otio.schema.Timeline, path: Path, tb: TimeBase, media_dir: Path, *,
              link_dir: Path | None = None, embed: bool = False) -> None:
    """Write ``timeline`` as an AAF at ``path``.

    ``media_dir``: where relative media URLs are read now (WAV headers, embedded essence);
    ``link_dir``: where they will be when the AAF is opened (the locators' file URLs).
    """
    import aaf2

    with aaf2.open(str(path), "w") as aaf:
        _Writer(aaf, timeline, tb, media_dir, link_dir or media_dir, embed).write()
        for mob in aaf.content.mobs:  # pyaaf2 dates every new mob now
            mob["CreationTime"].value = mob["LastModified"].value = WRITTEN_AT
        for ident in aaf.header["IdentificationList"].value:  # pyaaf2's own: dated now, a uuid4
            date_identification(ident, WRITTEN_AT, f"write/{timeline.name}")
        aaf.header["LastModified"].value = WRITTEN_AT


def date_identification(ident: AAFObject, when: datetime.datetime, key: str) -> None:
    """Give an Identification ``when`` as its Date and a GenerationAUID derived from ``key`` and ``when``
    (in place of pyaaf2's clock and uuid4): the same inputs write the same bytes."""
    ident["Date"].value = when
    ident["GenerationAUID"].value = uuid.uuid5(_NAMESPACE, f"generation/{key}/{when.isoformat()}")


# ---------------------------------------------------------------------------------- stamps
#: The name of the TaggedValue that marks what otio-dub added to an AAF (a mob's MobAttributeList,
#: a dub slot's Sequence's ComponentAttributeList): how a later patch finds and replaces only its own.
STAMP = "otio_dub"


def stamp(obj: AAFObject, role: str) -> None:
    """Mark a mob or component as otio-dub's (``role``: what it is, for a reader of the file).

    The attribute lists, not UserComments: Media Composer shows every MobUserComment as a bin column,
    while the attribute lists are where applications keep their own data (Avid writes its ``_USER_POS``,
    ``_IMPORTSETTING``... there and passes over names it does not know). A mob slot has no list of its
    own, so a dub slot is stamped on its Sequence."""
    from aaf2.misc import TaggedValueHelper

    TaggedValueHelper(obj["Attributes"])[STAMP] = role


def stamped(obj: AAFObject | None) -> str | None:
    """The role otio-dub stamped on ``obj``, or None for everything else."""
    if obj is None or "Attributes" not in obj.keys():
        return None
    for tag in obj["Attributes"].value:
        if tag.name == STAMP:
            return str(tag.value)
    return None


def derived_mob_id(seed: str) -> MobID:
    """A MobID whose material number is derived from ``seed``: the same dub gets the same MobIDs."""
    import aaf2

    mob_id = aaf2.mobid.MobID.new()
    mob_id.material = uuid.uuid5(_NAMESPACE, seed)
    return mob_id


# ---------------------------------------------------------------------------------- media mobs
class MediaMobs:
    """Each source's mob chain, added to an open pyaaf2 file (a new AAF, or the copy of an editor's AAF
    that ``patch_aaf`` adds the dub to): MasterMob -> file SourceMob (descriptor, locator or embedded
    essence) -> tape SourceMob.

    ``roll``: the name of the dub's sound roll. ``seed``: when given, every mob added gets a MobID
    derived from it and its source (a patch written twice is the same file); mobs made for a dub clip
    are stamped (see ``stamp``). ``times``: MobID -> (CreationTime, LastModified) a mob of that MobID had
    (one a patch removed to write it again), kept so that the same take is the same mob; any other mob
    added is dated ``when`` (pyaaf2 would date it now: the same inputs would not give the same bytes)."""

    def __init__(self, aaf: AAFFile, tb: TimeBase, media_dir: Path, link_dir: Path, embed: bool, roll: str,
                 seed: str | None = None, times: dict[MobID, tuple[object, object]] | None = None,
                 when: datetime.datetime = WRITTEN_AT) -> None:
        self.aaf, self.tb, self.media_dir, self.link_dir, self.embed = aaf, tb, media_dir, link_dir, embed
        self.roll_name, self.seed, self.times, self.when = roll, seed, times or {}, when
        self.masters: dict[str, tuple[MasterMob, dict[tuple[str, int], int]]] = {}
        self.roll: SourceMob | None = None  # the dub's sound roll: one tape for every line file

    def source_clip(self, clip: otio.schema.Clip, key: str, kind: str, channel: int, length: int,
                    rate: Fraction, mob_id: MobID | None = None) -> SourceClip | None:
        """A SourceClip of ``length`` edit units at ``rate`` (its slot's) playing ``clip``'s source;
        None for a clip without a range. ``key`` names the source (one MasterMob per key)."""
        ref = clip.media_reference
        available = (ref.available_range if ref is not None else None) or clip.source_range
        if clip.source_range is None or available is None:
            return None
        master, slot_id = self._master(clip, key, kind, channel, available, mob_id)
        sc = self.aaf.create.SourceClip(media_kind=kind)
        sc.mob = master
        sc.slot_id = slot_id
        sc.start = max(0, frames_of(clip.source_range.start_time - available.start_time, rate))
        sc.length = length
        return sc

    def _add(self, mob: _MobT, dub: bool, role: str, key: str, own_id: bool = False) -> _MobT:
        """Put a new mob in the file: its MobID derived when seeded (unless ``own_id``: it has the one it
        must keep), stamped when made for a dub clip, dated as it was or ``when``."""
        if self.seed is not None and not own_id:
            mob.mob_id = derived_mob_id(f"{self.seed}/{role}/{key}")
            again = 1
            while mob.mob_id in self.aaf.content.mobs:  # one an earlier patch wrote, kept as the editor uses it
                mob.mob_id, again = derived_mob_id(f"{self.seed}/{role}/{key}/{again}"), again + 1
        if mob.mob_id in self.times:
            mob["CreationTime"].value, mob["LastModified"].value = self.times[mob.mob_id]
        else:
            mob["CreationTime"].value = mob["LastModified"].value = self.when
        if dub:
            stamp(mob, role)
        self.aaf.content.mobs.append(mob)
        return mob

    def _master(self, clip: otio.schema.Clip, key: str, kind: str, channel: int,
                available: otio.opentime.TimeRange, mob_id: MobID | None) -> tuple[MasterMob, int]:
        if key not in self.masters:
            master = self.aaf.create.MasterMob(clip.name or "clip")
            if mob_id is not None:
                master.mob_id = mob_id
            dub = is_dub(clip)
            meta = clip.metadata.get("otio_dub") if dub else None
            if meta is not None and hasattr(meta, "get") and isinstance(meta.get("text"), str):  # the bin's Comments column
                master.comments["Comments"] = f"{meta.get('character', '')} ({meta.get('lang', '')}): {meta['text']}"
            self.masters[key] = (self._add(master, dub, "master", key, own_id=mob_id is not None), {})
        master, slots = self.masters[key]
        if (kind, channel) not in slots:
            slots[(kind, channel)] = self._essence(master, clip, key, kind, channel, available)
        return master, slots[(kind, channel)]

    def _essence(self, master: MasterMob, clip: otio.schema.Clip, key: str, kind: str, channel: int,
                 available: otio.opentime.TimeRange) -> int:
        """File and tape mobs for one essence track of a source; returns the master slot id."""
        url = getattr(clip.media_reference, "target_url", None) or ""
        path = local_file(url, self.media_dir) if url else None
        wav = wav_facts(path) if kind == "sound" and path is not None and path.is_file() else None
        dub, where = is_dub(clip), f"{key}/{kind}{channel}"
        if wav is not None and path is not None:  # a WAV was read: path is set
            return self._wav_essence(master, clip, url, path, wav, channel, where)
        # sound runs at the sample rate in file and master mobs, whatever its clip's rate
        rate = Fraction(SAMPLE_RATE) if kind == "sound" else exact_rate(available.duration.rate)
        start, length = frames_of(available.start_time, rate), max(1, frames_of(available.duration, rate))
        tape = self._tape(clip.name, kind, rate, start + length, url, dub, where)
        file_mob = self.aaf.create.SourceMob(f"{clip.name}.{'V' if kind == 'picture' else f'A{channel}'}")
        file_mob.descriptor = self._descriptor(kind, rate, length, url)
        self._add(file_mob, dub, "file", where)
        file_slot = file_mob.create_timeline_slot(rate)
        file_slot.segment = tape.create_source_clip(slot_id=1, start=start, length=length, media_kind=kind)
        return self._master_slot(master, file_mob, file_slot.slot_id, kind, channel, rate, length)

    def _wav_essence(self, master: MasterMob, clip: otio.schema.Clip, url: str, path: Path, wav: WavFacts,
                     channel: int, where: str) -> int:
        """A line (or any local WAV): the pyaaf2 linked-WAV shape, everything at the sample rate."""
        from ..audio.bwf import read_bext

        try:
            bext = read_bext(path)
        except (OSError, ValueError):
            bext = None
        tr = bext.time_reference if bext is not None and bext.time_reference is not None else frames_of(
            clip.media_reference.available_range.start_time, Fraction(wav.sample_rate)) \
            if clip.media_reference.available_range is not None else 0
        rate, dub = Fraction(wav.sample_rate), is_dub(clip)
        tape = self._sound_roll(rate) if dub else self._tape(path.name, "sound", rate, tr + wav.frames, url, dub, where)
        file_mob = self._add(self.aaf.create.SourceMob(path.name), dub, "file", where)
        tape_clip = tape.create_source_clip(slot_id=1, start=tr, length=wav.frames, media_kind="sound")
        if self.embed and wav.channels == 1:
            file_slot = file_mob.import_audio_essence(str(path), rate, tape=tape_clip)
            file_mob.descriptor["ContainerFormat"].value = self.aaf.dictionary.lookup_containerdef("AAF")
        else:
            file_mob.descriptor = self._pcm(wav, link_url(url, self.link_dir))
            file_slot = file_mob.create_timeline_slot(rate)
            file_slot.segment = tape_clip
        file_slot["PhysicalTrackNumber"].value = channel
        return self._master_slot(master, file_mob, file_slot.slot_id, "sound", channel, rate, wav.frames)

    def _master_slot(self, master: MasterMob, file_mob: SourceMob, file_slot: int, kind: str, channel: int,
                     rate: Fraction, length: int) -> int:
        slot_id = 1 if kind == "picture" else 1 + channel
        slot = master.create_timeline_slot(rate, slot_id=slot_id)
        slot.segment = file_mob.create_source_clip(slot_id=file_slot, start=0, length=length, media_kind=kind)
        if kind == "sound":
            slot["PhysicalTrackNumber"].value = channel
        return slot_id

    def _sound_roll(self, rate: Fraction) -> SourceMob:
        """The tape every line file comes from, as a recorder's BWFs share a sound roll: a day of
        timecode, each file at its TimeReference (one tape, not one per line: a feature has thousands)."""
        if self.roll is None:
            day = 24 * 3600
            self.roll = self._tape(f"{self.roll_name} dub", "sound", rate, int(day * rate), "", True, "roll")
        return self.roll

    def _tape(self, name: str, kind: str, rate: Fraction, length: int, url: str, dub: bool, where: str) -> SourceMob:
        """The source's tape mob: its timecode (from 00:00:00:00: a file's start is its offset into it)."""
        f = self.aaf
        tape = f.create.SourceMob(name)
        tape.descriptor = f.create.ImportDescriptor()
        if url:
            tape.descriptor["Locator"].append(self._locator(link_url(url, self.link_dir)))
        slot = tape.create_timeline_slot(rate, slot_id=1)
        slot.segment = f.create.SourceClip(media_kind=kind)
        slot.segment.length = length
        tc_slot = tape.create_timeline_slot(self.tb.rate, slot_id=2)
        tc_slot["PhysicalTrackNumber"].value = 1
        tc_length = frames_of(otio.opentime.RationalTime(length, float(rate)), self.tb.rate) + 1
        tc_slot.segment = f.create.Timecode(round(float(self.tb.rate)), drop=bool(self.tb.drop_frame), length=tc_length)
        return self._add(tape, dub, "tape", where)

    def _locator(self, url: str) -> AAFObject:
        locator = self.aaf.create.NetworkLocator()
        locator["URLString"].value = url
        return locator

    def _pcm(self, wav: WavFacts, url: str) -> PCMDescriptor:
        d = self.aaf.create.PCMDescriptor()
        d["SampleRate"].value = wav.sample_rate
        d["AudioSamplingRate"].value = wav.sample_rate
        d["Channels"].value = wav.channels
        d["QuantizationBits"].value = wav.bits
        d["BlockAlign"].value = wav.block_align
        d["AverageBPS"].value = wav.average_bps
        d["Length"].value = wav.frames
        d["ContainerFormat"].value = self.aaf.dictionary.lookup_containerdef("AAF")
        if url:
            d["Locator"].append(self._locator(url))
        return d

    def _descriptor(self, kind: str, rate: Fraction, length: int, url: str) -> EssenceDescriptor:
        """A descriptor for media otio-dub cannot open (an original's video or non-WAV audio)."""
        f = self.aaf
        if kind == "sound":
            return self._pcm(WavFacts(1, SAMPLE_RATE, 24, 3, length), link_url(url, self.link_dir) if url else "")
        d = f.create.CDCIDescriptor()
        for name, value in (("ComponentWidth", 8), ("HorizontalSubsampling", 2), ("ImageAspectRatio", "16/9"),
                            ("StoredWidth", 1920), ("StoredHeight", 1080), ("FrameLayout", "FullFrame"),
                            ("VideoLineMap", [42, 0]), ("SampleRate", rate), ("Length", length)):
            d[name].value = value
        d["ContainerFormat"].value = f.dictionary.lookup_containerdef("AAF")
        if url:
            d["Locator"].append(self._locator(link_url(url, self.link_dir)))
        return d


# ---------------------------------------------------------------------------------- a whole AAF
class _Writer:
    def __init__(self, aaf: AAFFile, timeline: otio.schema.Timeline, tb: TimeBase, media_dir: Path,
                 link_dir: Path, embed: bool) -> None:
        self.aaf, self.timeline, self.tb = aaf, timeline, tb
        self.media = MediaMobs(aaf, tb, media_dir, link_dir, embed, timeline.name or "otio-dub",
                               seed=f"write/{timeline.name}")
        self.channels = self._channel_map()
        self.dropped: list[str] = []

    def write(self) -> None:
        f = self.aaf
        comp = f.create.CompositionMob(self.timeline.name or "otio-dub")
        comp.usage = "Usage_TopLevel"
        # derived, not random: the same cut is the same sequence (a re-import replaces it)
        cut = hashlib.sha256("\n".join(sorted(source_key(c) for c in self.timeline.find_clips() if not is_dub(c))).encode())
        comp.mob_id = derived_mob_id(f"composition/{self.timeline.name}/{cut.hexdigest()}")
        f.content.mobs.append(comp)
        total = frames_of(self.timeline.duration(), self.tb.rate) if len(self.timeline.tracks) else 0
        tc_slot = comp.create_timeline_slot(self.tb.rate, slot_id=1)
        tc_slot.name = "TC1"
        tc_slot["PhysicalTrackNumber"].value = 1
        timecode = f.create.Timecode(round(float(self.tb.rate)), drop=bool(self.tb.drop_frame), length=max(total, 1))
        timecode.start = self.tb.start_frame
        tc_slot.segment = timecode
        numbers = {"picture": 0, "sound": 0}
        for index, track in enumerate(self.timeline.tracks):
            kind = _KIND.get(track.kind) if isinstance(track, otio.schema.Track) else None
            if kind is None:
                continue
            numbers[kind] += 1
            slot = comp.create_timeline_slot(self.tb.rate)
            slot.name = track.name or f"{'V' if kind == 'picture' else 'A'}{numbers[kind]}"
            slot["PhysicalTrackNumber"].value = numbers[kind]
            slot.segment = self._sequence(track, index, kind, total)
            if is_dub(track):  # a later patch of this file replaces it
                stamp(slot.segment, "dub track")
        if self.dropped:
            log.warning("AAF cannot carry %s: written as filler", "; ".join(sorted(set(self.dropped))))

    def _sequence(self, track: otio.schema.Track, index: int, kind: str, total: int) -> Sequence:
        f = self.aaf
        sequence = f.create.Sequence(media_kind=kind)
        length = 0
        for component, frames in self._components(track, index, kind):
            sequence.components.append(component)
            length += frames
        if length < total:  # every track runs the whole sequence (an empty video track too)
            sequence.components.append(f.create.Filler(kind, total - length))
            length = total
        sequence.length = length
        return sequence

    def _components(self, track: otio.schema.Track, index: int, kind: str) -> list[tuple[Segment, int]]:
        """(component, length in frames) for each item of ``track``; nested stacks and tracks inline."""
        found: list[tuple[Segment, int]] = []
        at = otio.opentime.RationalTime(0, float(self.tb.rate))
        for item in track:
            if isinstance(item, otio.schema.Transition):
                self.dropped.append(f"transition on track {track.name!r} (a cut instead)")
                continue
            end = at + item.duration()
            start_f, end_f = frames_of(at, self.tb.rate), frames_of(end, self.tb.rate)
            at = end
            if end_f <= start_f:
                continue
            parts: list[tuple[Segment, int]] = []
            if isinstance(item, otio.schema.Clip) and not isinstance(item.media_reference, otio.schema.GeneratorReference):
                clip = self._source_clip(item, index, kind, end_f - start_f)
                parts = [(clip, end_f - start_f)] if clip is not None else []
            elif isinstance(item, (otio.schema.Stack, otio.schema.Track)):
                parts = self._nested(item, index, kind)
            elif not isinstance(item, otio.schema.Gap):
                self.dropped.append(f"generator {item.name!r} on track {track.name!r}")
            found.extend(_fit(parts, end_f - start_f, lambda n: self.aaf.create.Filler(kind, n)))
        return found

    def _nested(self, item: otio.core.Composition, index: int, kind: str) -> list[tuple[Segment, int]]:
        """A nested stack or track flattened (its tracks of this kind, top one wins) and trimmed."""
        try:
            if isinstance(item, otio.schema.Stack):
                tracks = [t.clone() for t in item if isinstance(t, otio.schema.Track) and _KIND.get(t.kind) == kind]
                if not tracks:
                    return []
                flat = otio.algorithms.flatten_stack(tracks)
            else:
                flat = item.clone()
                flat.source_range = None
            flat = otio.algorithms.track_trimmed_to_range(flat, item.trimmed_range())
        except (otio.exceptions.OTIOError, ValueError) as exc:
            self.dropped.append(f"nested {item.name!r} ({exc})")
            return []
        return self._components(flat, index, kind)

    def _source_clip(self, clip: otio.schema.Clip, index: int, kind: str, length: int) -> SourceClip | None:
        key = source_key(clip)
        channel = self.channels.get((key, index), 1) if kind == "sound" else 0
        return self.media.source_clip(clip, key, kind, channel, length, self.tb.rate, self._mob_id(key))

    def _mob_id(self, key: str) -> MobID:
        """The source's own MobID (an AAF's clip keeps its master), else one derived from the timeline."""
        import aaf2

        if key.startswith("mob:"):
            try:
                mob_id = aaf2.mobid.MobID()
                mob_id.urn = key[4:]
                return mob_id
            except (ValueError, TypeError, AttributeError):
                pass
        return derived_mob_id(f"{self.timeline.name}/{key}")

    def _channel_map(self) -> dict[tuple[str, int], int]:
        """(source key, audio track index) -> channel: a source heard on several audio tracks at
        once (a stereo pair on A1/A2) is channel 1 on its first track, 2 on the next, and so on."""
        tracks: dict[str, list[int]] = {}
        for index, track in enumerate(self.timeline.tracks):
            if isinstance(track, otio.schema.Track) and track.kind == otio.schema.TrackKind.Audio:
                for clip in track.find_clips(shallow_search=True):
                    tracks.setdefault(source_key(clip), [])
                    if index not in tracks[source_key(clip)]:
                        tracks[source_key(clip)].append(index)
        return {(key, index): n + 1 for key, indexes in tracks.items() for n, index in enumerate(indexes)}


def source_key(clip: otio.schema.Clip) -> str:
    """What names a clip's source (one MasterMob each): its AAF MobID, else its media URL, else its name."""
    aaf = clip.metadata.get("AAF") if hasattr(clip.metadata.get("AAF"), "get") else {}
    mob = aaf.get("MobID") or aaf.get("SourceID") if aaf else None
    if mob:
        return f"mob:{mob}"
    url = getattr(clip.media_reference, "target_url", None)
    return f"url:{url}" if url else f"name:{clip.name}"


def _fit(parts: list[tuple[Segment, int]], frames: int,
         filler: Callable[[int], Segment]) -> list[tuple[Segment, int]]:
    """``parts`` made exactly ``frames`` long: cut at the end, or filler after."""
    fitted, used = [], 0
    for component, length in parts:
        if used + length > frames:
            length = frames - used
            if length <= 0:
                break
            component.length = length
        fitted.append((component, length))
        used += length
    if used < frames:
        fitted.append((filler(frames - used), frames - used))
    return fitted
