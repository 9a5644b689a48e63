"""The dub added to the editor's own FCPXML (1.8 to 1.11): every element of theirs kept as it was.

What is added, the way Final Cut Pro writes connected audio:

* one ``<asset>`` per line WAV in ``<resources>`` (fresh ids ``otio-dub-rN``): ``src`` (1.8) or a
  ``<media-rep kind="original-media">`` (1.9+), the WAV's rate, channels and length, ``start`` at the
  line's record timecode (the BWF time reference as timecode: a line at 01:00:10:00 starts at 3610s);
* each dub clip as a connected ``<asset-clip lane=-N audioRole="dialogue">`` on the primary-storyline
  element under its start, its ``offset`` in that element's own time (``start + record - offset``),
  one lane per dub track below the lowest lane the project uses; markers of the clip as ``<marker>``
  children (to-do for red, completed for green). A line past the end of the storyline hangs on a
  gap added after it.

Otio-dub's elements carry ``<metadata><md key="com.otio-dub.stamp" value="dub"/>`` (FCPXML's own
metadata element, valid on assets, asset-clips and gaps in every DTD from 1.8 to 1.11, kept in the
file whatever the element is named); every stamped element of an earlier patch is removed first, so
patching a patched file gives the same file as patching the original. The project patched is the
one the dub was read from: the first project in the document (``fcpxml_doc.first_project``).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
from lxml import etree

from ..audio.bwf import read_bext
from ..core.errors import InputError
from ..core.timebase import TimeBase, exact_rate
from ..dialogue.lines import is_dub
from .fcpxml_doc import (
    Document,
    anchor_index,
    first_project,
    insert_child,
    read_document,
    remove_element,
    seconds,
    time_of,
    write_document,
)
from .media import link_url, local_file, wav_facts

log = logging.getLogger("otio_dub")

STAMP_KEY = "com.otio-dub.stamp"
LINE_KEY = "com.otio-dub.line"
ID_PREFIX = "otio-dub-r"
#: Primary-storyline elements a connected clip can hang on (transitions cannot hold one)
STORY_TAGS = frozenset({"asset-clip", "clip", "gap", "ref-clip", "sync-clip", "mc-clip", "title", "audio", "video",
                        "audition", "live-drawing"})
_COMPLETED = {otio.schema.MarkerColor.RED: "0", otio.schema.MarkerColor.GREEN: "1"}


@dataclass
class _Item:
    """A primary-storyline element: where it sits in the sequence and the time it shows there."""

    element: etree._Element
    offset: Fraction
    start: Fraction
    duration: Fraction

    @property
    def end(self) -> Fraction:
        return self.offset + self.duration


def patch(source: Path, dubbed: otio.schema.Timeline, target: Path, tb: TimeBase, media_dir: Path, link_dir: Path,
          *, embed: bool = False) -> None:
    """Write at ``target`` the editor's FCPXML ``source`` with the dub tracks of ``dubbed`` added as
    connected clips (``embed`` is meaningless here: FCPXML links its media)."""
    doc = read_document(Path(source))
    strip_stamps(doc.root)
    sequence = project_sequence(doc.root, doc.path)
    _Patcher(doc, sequence, tb, Path(media_dir), Path(link_dir)).add(dubbed)
    write_document(doc, Path(target))


def is_stamped(element: etree._Element) -> bool:
    """True for an element otio-dub added (it carries otio-dub's metadata stamp)."""
    metadata = element.find("metadata")
    return metadata is not None and any(md.get("key") == STAMP_KEY for md in metadata.findall("md"))


def strip_stamps(root: etree._Element) -> int:
    """Remove every element otio-dub stamped (and any clip left pointing at a removed asset); returns how many."""
    stamped = [el for el in root.iter("asset", "asset-clip", "gap") if is_stamped(el)]
    gone = {el.get("id") for el in stamped if el.tag == "asset"}
    found = set(stamped)
    stamped += [el for el in root.iter("asset-clip") if el.get("ref") in gone and el not in found]
    found.update(stamped)
    outer = [el for el in stamped if not any(a in found for a in el.iterancestors())]
    for element in outer:
        remove_element(element)
    return len(outer)


def project_sequence(root: etree._Element, path: Path) -> etree._Element:
    """The sequence of the project the dub was read from (the first in the document, as ``read_timeline`` reads)."""
    project = first_project(root)
    sequence = project.find("sequence") if project is not None else None
    if sequence is None or sequence.find("spine") is None:
        raise InputError(str(path), "holds no project with a sequence and a spine to add the dub to")
    return sequence


def _version(root: etree._Element) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in (root.get("version") or "").split("."))
    except ValueError:
        return ()


class _Patcher:
    def __init__(self, doc: Document, sequence: etree._Element, tb: TimeBase, media_dir: Path, link_dir: Path) -> None:
        self.doc, self.sequence, self.tb, self.media_dir, self.link_dir = doc, sequence, tb, media_dir, link_dir
        self.root = doc.root
        self.resources = self._resources()
        self.media_reps = _version(self.root) >= (1, 9) or self.root.find("resources/asset/media-rep") is not None
        self.ids = {el.get("id") for el in self.root.iter() if el.get("id")}
        self.assets: dict[str, tuple[str, Fraction]] = {}
        fmt = self.root.find(f"resources/format[@id='{sequence.get('format')}']")
        frame = time_of(fmt.get("frameDuration")) if fmt is not None else Fraction(0)
        self.frame = frame if frame > 0 else 1 / tb.rate
        self.spine = sequence.find("spine")
        self.storyline = [_timed(el, self.root) for el in self.spine if isinstance(el.tag, str) and el.tag in STORY_TAGS]

    def add(self, dubbed: otio.schema.Timeline) -> None:
        """Every dub clip of every dub track, one lane per track below the lowest lane in use."""
        lowest = min([0] + [int(el.get("lane")) for el in self.sequence.iter() if _is_int(el.get("lane"))])
        placed = []
        for index, track in enumerate(t for t in dubbed.tracks if is_dub(t)):
            for clip in track.find_clips(shallow_search=True):
                if is_dub(clip):
                    rng = clip.range_in_parent()
                    placed.append((clip, lowest - 1 - index, self._snap(rng.start_time, True),
                                   max(self.frame, self._snap(rng.duration, False))))
        if placed:
            self._extend_storyline(max(at + length for _, _, at, length in placed))
        for clip, lane, at, length in placed:
            self._connect(clip, lane, at, length)

    # ------------------------------------------------------------------ time
    def _snap(self, time: otio.opentime.RationalTime, absolute: bool) -> Fraction:
        """A record time or length in sequence seconds, on the sequence's frame grid."""
        value = (Fraction(self.tb.start_frame) / self.tb.rate if absolute else 0) + _seconds(time)
        return round(value / self.frame) * self.frame

    def _tc_format(self) -> str:
        """The dub clips' timecode label: the dub's own (the source's DF/NDF, or --drop-frame), or the
        sequence's where the dub's rate is not the sequence's (a dub timed at another rate cannot say)."""
        if 1 / self.frame != self.tb.rate and self.sequence.get("tcFormat") in ("DF", "NDF"):
            return self.sequence.get("tcFormat")
        return "DF" if self.tb.drop_frame else "NDF"

    def _extend_storyline(self, end: Fraction) -> None:
        """Lines past the storyline's end hang on a (stamped) gap added after it, as FCP's own gaps."""
        last = max((item.end for item in self.storyline), default=time_of(self.sequence.get("tcStart")))
        if end <= last and self.storyline:
            return
        end = max(end, last + self.frame)
        gap = etree.Element("gap", name="Gap", offset=seconds(last), start="3600s", duration=seconds(end - last))
        gap.append(_stamp(None))
        insert_child(self.spine, len(self.spine), gap, self.doc.unit)
        self.storyline.append(_Item(gap, last, Fraction(3600), end - last))
        log.warning("FCPXML: dub lines run past the end of the storyline; a gap now carries them")

    def _parent(self, at: Fraction) -> _Item:
        """The storyline element under ``at`` (the first one for a time before the storyline starts)."""
        under = [item for item in self.storyline if item.offset <= at < item.end]
        if not under:
            log.warning("FCPXML: a dub line at %ss starts before the storyline: connected to its first element",
                        float(at))
        return under[-1] if under else self.storyline[0]

    # ------------------------------------------------------------------ elements
    def _connect(self, clip: otio.schema.Clip, lane: int, at: Fraction, length: Fraction) -> None:
        parent = self._parent(at)
        asset_id, source_in = self._asset(clip)
        element = etree.Element("asset-clip", ref=asset_id, lane=str(lane),
                                offset=seconds(parent.start + at - parent.offset), name=clip.name or "dub",
                                start=seconds(source_in), duration=seconds(length))
        element.set("audioRole", "dialogue")
        element.set("tcFormat", self._tc_format())
        if not clip.enabled:
            element.set("enabled", "0")
        clip_in = _seconds(clip.trimmed_range().start_time)  # markers are in the clip's source time
        for marker in clip.markers:
            at_marker = source_in + _seconds(marker.marked_range.start_time) - clip_in
            mark = etree.SubElement(element, "marker", start=seconds(at_marker),
                                    duration=seconds(max(self.frame, _seconds(marker.marked_range.duration))),
                                    value=marker.name or "")
            if marker.color in _COMPLETED:
                mark.set("completed", _COMPLETED[marker.color])
            if marker.comment:
                mark.set("note", marker.comment)
        element.append(_stamp(clip.name))
        insert_child(parent.element, anchor_index(parent.element), element, self.doc.unit)

    def _asset(self, clip: otio.schema.Clip) -> tuple[str, Fraction]:
        """The id of the asset of the clip's WAV (one per file, added to the resources when new) and
        where the clip starts in the asset's own time."""
        ref = clip.media_reference
        url = getattr(ref, "target_url", None) or ""
        src = link_url(url, self.link_dir) if url else ""
        available = getattr(ref, "available_range", None) or clip.source_range or clip.trimmed_range()
        trim = _seconds(clip.trimmed_range().start_time) - _seconds(available.start_time)
        if src not in self.assets:
            self.assets[src] = self._new_asset(clip, url, src, available)
        asset_id, start = self.assets[src]
        return asset_id, start + trim

    def _new_asset(self, clip: otio.schema.Clip, url: str, src: str,
                   available: otio.opentime.TimeRange) -> tuple[str, Fraction]:
        """A stamped ``<asset>`` for a line WAV: its length and layout read from the file, its start at
        the BWF time reference (the line's record timecode) as FCP starts a file at its timecode."""
        path = local_file(url, self.media_dir)
        wav = wav_facts(path) if path is not None and path.is_file() else None
        if wav is None or path is None:  # path is always set where a WAV was read
            log.warning("FCPXML: %s: no WAV at %s; its asset takes the clip's length", clip.name, url or "(no media)")
            start, duration = _seconds(available.start_time), _seconds(available.duration)
        else:
            reference = _time_reference(path)
            start = Fraction(reference, wav.sample_rate) if reference is not None else _seconds(available.start_time)
            duration = Fraction(wav.frames, wav.sample_rate)
        asset_id = self._fresh_id()
        asset = etree.Element("asset", id=asset_id, name=clip.name or Path(url).stem,
                              uid=hashlib.md5(src.encode()).hexdigest().upper())
        if not self.media_reps:
            asset.set("src", src)
        asset.set("start", seconds(start))
        asset.set("duration", seconds(duration))
        for key, value in (("hasVideo", "0"), ("hasAudio", "1"), ("audioSources", "1"),
                           ("audioChannels", str(wav.channels if wav else 1)),
                           ("audioRate", str(wav.sample_rate if wav else 48000))):
            asset.set(key, value)
        if self.media_reps:
            etree.SubElement(asset, "media-rep", kind="original-media", src=src)
        asset.append(_stamp(clip.name))
        insert_child(self.resources, len(self.resources), asset, self.doc.unit)
        return asset_id, start

    def _fresh_id(self) -> str:
        number = len(self.assets) + 1
        while f"{ID_PREFIX}{number}" in self.ids:
            number += 1
        self.ids.add(f"{ID_PREFIX}{number}")
        return f"{ID_PREFIX}{number}"

    def _resources(self) -> etree._Element:
        resources = self.root.find("resources")
        if resources is None:  # the sequence's format is a required reference into it
            raise InputError(str(self.doc.path), "has no <resources> (its sequence names no format)")
        return resources


def _stamp(line_id: str | None) -> etree._Element:
    """otio-dub's stamp: a ``<metadata>`` with its key (and the line it is for)."""
    metadata = etree.Element("metadata")
    etree.SubElement(metadata, "md", key=STAMP_KEY, value="dub")
    if line_id:
        etree.SubElement(metadata, "md", key=LINE_KEY, value=line_id)
    return metadata


def _timed(element: etree._Element, root: etree._Element) -> _Item:
    """A storyline element with its offset, local start and duration; for an audition its active pick
    (FCPXML's first story element in it, comments skipped), which then holds the connected clips."""
    picks = [child for child in element if isinstance(child.tag, str) and child.tag in STORY_TAGS]
    timing = picks[0] if element.tag == "audition" and picks else element
    duration = time_of(timing.get("duration"))
    if timing.get("duration") is None and timing.get("ref"):  # an asset-clip may leave it to its asset
        asset = root.find(f"resources/asset[@id='{timing.get('ref')}']")
        duration = time_of(asset.get("duration")) if asset is not None else Fraction(0)
    return _Item(timing, time_of(element.get("offset", timing.get("offset"))), time_of(timing.get("start")), duration)


def _time_reference(path: Path) -> int | None:
    """A WAV's BWF time reference (samples since midnight), None where it has none."""
    try:
        return read_bext(path).time_reference
    except (OSError, ValueError):
        return None


def _seconds(time: otio.opentime.RationalTime) -> Fraction:
    """A RationalTime as exact seconds (NTSC float rates as n*1000/1001)."""
    return Fraction(time.value).limit_denominator(1_000_000) / exact_rate(time.rate)


def _is_int(text: str | None) -> bool:
    return bool(text and text.lstrip("-").isdigit())
