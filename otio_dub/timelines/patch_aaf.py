"""The dub added to a copy of the editor's own AAF (issue 24): nothing else in it changes.

OTIO's model of an AAF drops what it has no schema for (OperationGroups, Pulldowns, EdgeCode,
nested scopes, Avid's attribute lists...), so a same-format dub does not regenerate the file. The
input is copied, the copy opened with pyaaf2 and, in the top-level composition OTIO read as the
timeline, what otio-dub stamped there earlier (``aaf_writer.stamp``) is removed, then one audio
TimelineMobSlot per dub track is appended: a Sequence of Fillers and SourceClips at the lines'
record frames, each SourceClip's MasterMob -> file SourceMob -> sound roll written by
``aaf_writer.MediaMobs`` (a linked WAV, or embedded essence). Every other mob, slot and component
stays as it was read; the header gains an Identification for otio-dub (once). Nothing is dated by
the clock: what otio-dub adds carries the input's own LastModified (its Identification's Date, its
new mobs' times; the header's stays as it was) and derived ids, so the same inputs give the same bytes.

Markers on dub clips (OVERRUN, BORROWED, review notes) stay in the ``.dub.otio``, as they do in a
regenerated AAF.
"""

from __future__ import annotations

import datetime
import hashlib
import shutil
import sys
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import opentimelineio as otio

from ..core.errors import InputError
from ..core.timebase import TimeBase, frames_of
from ..core.version import __version__
from ..dialogue.lines import is_dub
from .aaf_writer import WRITTEN_AT, MediaMobs, date_identification, source_key, stamp, stamped
from .media import local_file

if TYPE_CHECKING:  # pyaaf2 ships no stubs: these name what its objects are
    from aaf2.components import Sequence
    from aaf2.file import AAFFile
    from aaf2.mobid import MobID
    from aaf2.mobs import CompositionMob, Mob

#: otio-dub's ProductID in an AAF's IdentificationList
PRODUCT_ID = "5b3c9f3e-6f51-4f0e-9d0c-6f7475620001"


def patch(source: Path, dubbed: otio.schema.Timeline, target: Path, tb: TimeBase, media_dir: Path,
          link_dir: Path, *, embed: bool = False) -> None:
    """Write at ``target`` the editor's AAF ``source`` with the dub tracks of ``dubbed`` added.

    ``source`` is only read (the copy at ``target`` is what pyaaf2 opens for writing); media are
    read in ``media_dir`` and linked by their file URL in ``link_dir``, or embedded with ``embed``."""
    shutil.copyfile(source, target)
    aaf = _open(source, target)
    try:
        comp = _composition(aaf, dubbed, source)
        when = last_modified(aaf)
        times = remove_stamped(aaf, comp)
        add_dub_slots(aaf, comp, dubbed, tb, media_dir, link_dir, embed, times, when)
        _identify(aaf, when, f"patch/{comp.mob_id}")
    except BaseException:
        _close_quietly(aaf)  # the half-written copy is dropped by the caller
        raise
    aaf.close()


def _reason(exc: BaseException) -> str:
    detail = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def _open(source: Path, target: Path) -> AAFFile:
    """The copy opened for writing; a file pyaaf2 cannot open is the input's fault, named so."""
    import aaf2

    try:
        return aaf2.open(str(target), "rw")
    except Exception as exc:  # pyaaf2 raises anything from struct.error to KeyError on a damaged file
        raise InputError(str(source), f"cannot read AAF ({_reason(exc)})") from None


def _close_quietly(aaf: AAFFile) -> None:
    try:
        aaf.close()
    except Exception:  # already failing: the first error is the one to report
        pass


def _composition(aaf: AAFFile, dubbed: otio.schema.Timeline, source: Path) -> CompositionMob:
    """The composition OTIO's adapter read as the timeline: a top-level one (else any composition, as
    the adapter falls back), the one named like ``dubbed`` where there are several, else the first."""
    try:
        mobs = list(aaf.content.toplevel()) or list(aaf.content.compositionmobs())
        names = [mob.name for mob in mobs]
    except Exception as exc:
        raise InputError(str(source), f"cannot read AAF ({_reason(exc)})") from None
    if not mobs:
        raise InputError(str(source), "holds no composition to add the dub to")
    return mobs[names.index(dubbed.name)] if dubbed.name in names else mobs[0]


def remove_stamped(aaf: AAFFile, comp: CompositionMob) -> dict[MobID, tuple[object, object]]:
    """Drop what otio-dub added earlier: its stamped slots in ``comp``, then each stamped mob that no
    other mob refers to any more (with its embedded essence). Returns the dropped mobs' times by MobID."""
    for index in reversed(range(len(comp.slots))):
        if stamped(comp.slots[index].segment):
            comp.slots.pop(index)
    mobs = {mob.mob_id: mob for mob in aaf.content.mobs}
    ours = {mob_id for mob_id, mob in mobs.items() if stamped(mob)}
    if not ours:  # the editor's own file, patched for the first time
        return {}
    kept = _reachable([mob for mob_id, mob in mobs.items() if mob_id not in ours], mobs)
    times = {}
    for mob_id, mob in mobs.items():
        if mob_id in ours and mob_id not in kept:
            times[mob_id] = (mob["CreationTime"].value, mob["LastModified"].value)
            aaf.content.mobs.pop(mob_id)
            if mob_id in aaf.content.essencedata:
                aaf.content.essencedata.pop(mob_id)
    return times


def _reachable(roots: list[Mob], mobs: dict[MobID, Mob]) -> set[MobID]:
    """The MobIDs of ``roots`` and of every mob their SourceClips lead to, however deep."""
    seen = {mob.mob_id for mob in roots}
    todo = list(roots)
    while todo:
        for mob_id in _references(todo.pop()):
            if mob_id not in seen and mob_id in mobs:
                seen.add(mob_id)
                todo.append(mobs[mob_id])
    return seen


def _references(mob: Mob) -> set[MobID]:
    """The MobIDs the SourceReferences in ``mob``'s slots name (in sequences, effects, scopes...)."""
    import aaf2

    found: set[MobID] = set()
    stack = list(mob.slots)
    while stack:
        item = stack.pop()
        if isinstance(item, aaf2.components.SourceReference) and "SourceID" in item.keys():
            found.add(item["SourceID"].value)
        for prop in item.properties():
            if isinstance(prop, aaf2.properties.StrongRefProperty):
                stack.append(prop.value)
            elif isinstance(prop, (aaf2.properties.StrongRefVectorProperty, aaf2.properties.StrongRefSetProperty)):
                stack.extend(prop.value)
    found.discard(None)
    return found


def edit_rate(comp: CompositionMob, tb: TimeBase) -> Fraction:
    """The composition's picture edit rate (else its timecode's, else the timeline's)."""
    import aaf2

    slots = [s for s in comp.slots if isinstance(s, aaf2.mobslots.TimelineMobSlot)]
    for wanted in ("picture", "timecode"):
        for slot in slots:
            if str(slot.media_kind).lower() == wanted:
                return Fraction(slot.edit_rate)
    return tb.rate


def add_dub_slots(aaf: AAFFile, comp: CompositionMob, dubbed: otio.schema.Timeline, tb: TimeBase, media_dir: Path,
                  link_dir: Path, embed: bool, times: dict[MobID, tuple[object, object]] | None = None,
                  when: datetime.datetime = WRITTEN_AT) -> None:
    """One stamped audio slot per dub track of ``dubbed``, after the composition's own tracks (``times``,
    ``when``: see ``MediaMobs``)."""
    import aaf2

    rate = edit_rate(comp, tb)
    total = _length(comp, rate)
    media = MediaMobs(aaf, tb, media_dir, link_dir, embed, dubbed.name or comp.name or "otio-dub",
                      seed=f"patch/{comp.mob_id}", times=times, when=when)
    slot_id = max((s.slot_id for s in comp.slots), default=0)
    number = max((s["PhysicalTrackNumber"].value or 0 for s in comp.slots
                  if isinstance(s, aaf2.mobslots.TimelineMobSlot) and str(s.media_kind).lower() == "sound"
                  and "PhysicalTrackNumber" in s.keys()), default=0)
    for track in dubbed.tracks:
        if not (isinstance(track, otio.schema.Track) and is_dub(track)):
            continue
        slot_id, number = slot_id + 1, number + 1
        slot = comp.create_timeline_slot(rate, slot_id=slot_id)
        slot.name = track.name
        slot["PhysicalTrackNumber"].value = number
        slot.segment = _sequence(aaf, media, track, rate, total, media_dir)
        stamp(slot.segment, "dub track")


def _length(comp: CompositionMob, rate: Fraction) -> int:
    """The composition's length in edit units at ``rate``: its longest timeline slot."""
    import aaf2

    longest = 0
    for slot in comp.slots:
        length = getattr(slot.segment, "length", None) if isinstance(slot, aaf2.mobslots.TimelineMobSlot) else None
        if isinstance(length, int) and length > 0:
            units = Fraction(length) * rate / Fraction(slot.edit_rate)
            longest = max(longest, -(-units.numerator // units.denominator))
    return longest


def _sequence(aaf: AAFFile, media: MediaMobs, track: otio.schema.Track, rate: Fraction, total: int,
              media_dir: Path) -> Sequence:
    """The dub track as a Sequence: each dub clip at its record frame, Filler between, to ``total``."""
    sequence = aaf.create.Sequence(media_kind="sound")
    at = 0
    for item in track:
        if not (isinstance(item, otio.schema.Clip) and is_dub(item)):
            continue
        where = item.range_in_parent()
        start, end = frames_of(where.start_time, rate), frames_of(where.end_time_exclusive(), rate)
        start = max(start, at)  # a track's clips never overlap; a rounding never makes them
        if end <= start:
            continue
        clip = media.source_clip(item, _media_key(item, media_dir), "sound", 1, end - start, rate)
        if clip is None:
            continue
        if start > at:
            sequence.components.append(aaf.create.Filler("sound", start - at))
        sequence.components.append(clip)
        at = end
    if at < total:
        sequence.components.append(aaf.create.Filler("sound", total - at))
    sequence.length = max(at, total)
    return sequence


def _media_key(clip: otio.schema.Clip, media_dir: Path) -> str:
    """The clip's source key and its media's digest: the MobIDs derived from it change with the take
    (Media Composer relinks a MobID to its media) and stay the same when the dub is written again."""
    url = getattr(clip.media_reference, "target_url", None) or ""
    path = local_file(url, media_dir) if url else None
    digest = hashlib.blake2b(digest_size=16)
    try:
        with open(path, "rb") as handle:  # type: ignore[arg-type]
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except (OSError, TypeError):
        return source_key(clip)
    return f"{source_key(clip)}/{digest.hexdigest()}"


def last_modified(aaf: AAFFile) -> datetime.datetime:
    """The input's header LastModified: the date of what a patch adds (never the clock, so patching the
    same input twice gives the same bytes); ``WRITTEN_AT`` when the header has none that can be read."""
    try:
        value = aaf.header["LastModified"].value
    except Exception:  # pyaaf2 raises anything on a damaged property: the date is not worth an error
        return WRITTEN_AT
    return value if isinstance(value, datetime.datetime) else WRITTEN_AT


def _identify(aaf: AAFFile, when: datetime.datetime, key: str) -> None:
    """Name otio-dub in the header's IdentificationList (the AAF way of saying who modified a file),
    once however often the file is patched, dated ``when`` with a GenerationAUID derived from ``key``."""
    from aaf2.auid import AUID

    identities = aaf.header["IdentificationList"]
    if not any(str(i["ProductID"].value) == PRODUCT_ID for i in identities.value):
        ident = aaf.create.Identification()
        for name, value in (("CompanyName", "otio-dub"), ("ProductName", "otio-dub"),
                            ("ProductVersionString", __version__), ("ProductID", AUID(PRODUCT_ID)),
                            ("Platform", sys.platform)):
            ident[name].value = value
        date_identification(ident, when, key)
        identities.append(ident)
