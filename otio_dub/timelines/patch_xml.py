"""FCP7 XML (xmeml, Premiere's dialect) dubbed by patching the editor's own file.

OTIO's FCP7 writer regenerates a sequence from OTIO's reduced model and so drops generators, links,
filters and keyframes, transitions' settings and Premiere's own attributes. Here the input document
is kept as it is and the dub is added to it: one audio ``<track>`` per dub track of the dub timeline,
appended to the sequence's ``media/audio`` (after its own tracks; ``numOutputChannels``, ``format``
and ``outputs`` untouched), each dub clip a ``<clipitem>`` at its record frames whose ``<file>`` is
described fully once (absolute file URL, rate, length, timecode in the sequence's DF/NDF label, the
WAV's depth, sample rate and channels) and referenced by id after, with otio-dub's markers
(borrowed/overrun, review notes) as the clip's ``<marker>``s.

The stamp, by which a later patch (``otio-dub notes``, a re-dub of a patched file) finds and removes
exactly what otio-dub added, never by name:

* ``<track>`` (and an ``<audio>`` or ``<media>`` otio-dub had to create): the attribute
  ``otio-dub``; a patch removes these, whatever they hold, and nothing else. FCP7 gives a track no
  id, and Premiere itself writes its own attributes on tracks (``MZ.TrackName``, ``TL.SQTrackShy``,
  ``PannerName``...), reading the ones it knows and passing over the rest. The track's name is
  Premiere's ``MZ.TrackName`` (FCP7 tracks have no ``<name>``).
* ``<clipitem>`` and ``<file>`` inside such a track: an ``id`` starting ``otio-dub-``, unique against
  every id in the document (an editor's own ``otio-dub-clipitem-1`` elsewhere is the editor's, kept).
  ``id`` is the FCP7 attribute for these elements, so every reader keeps it.
* ``<marker>``: none of its own; otio-dub's markers live only inside its own clipitems and go with them.
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

import opentimelineio as otio
from lxml import etree

from ..core.errors import InputError
from ..core.timebase import TimeBase, frames_of, is_drop_frame_rate, timecode
from ..dialogue.lines import is_dub
from .media import link_url, local_file, wav_facts
from .xmeml import Document, read_document, write_document

log = logging.getLogger("otio_dub")

STAMP = "otio-dub"  #: attribute on the tracks (and containers) otio-dub adds
ID_PREFIX = "otio-dub-"  #: start of the ids of the clipitems and files otio-dub adds


def patch(source: Path, dubbed: otio.schema.Timeline, target: Path, tb: TimeBase, media_dir: Path, link_dir: Path,
          *, embed: bool = False) -> None:
    """Write at ``target`` the editor's FCP7 XML ``source`` with the dub tracks of ``dubbed`` added.

    What an earlier patch added (by its stamp) is removed first, so patching a patched file equals
    patching the original. Media URLs relative to ``media_dir`` are linked as in ``link_dir``;
    ``embed`` has no meaning for FCP7 XML (it names media, never holds them).
    """
    doc = read_document(Path(source))
    strip(doc)
    sequence = dubbed_sequence(doc.root, dubbed.name, Path(source))
    writer = _DubWriter(_Clock.of(sequence, tb), Path(media_dir), Path(link_dir), _editor_ids(doc.root))
    tracks = [writer.track(t) for t in dubbed.tracks
              if isinstance(t, otio.schema.Track) and is_dub(t) and t.kind == otio.schema.TrackKind.Audio]
    _add_tracks(doc, sequence, tracks)
    if writer.unread:
        log.warning("FCP7 XML: no readable WAV at %s; described as 24-bit 48 kHz mono", ", ".join(sorted(writer.unread)))
    write_document(doc, Path(target))


def is_stamped(element: etree._Element) -> bool:
    """True for a track or container otio-dub added (see the module's note on the stamp): what it removes."""
    return element.get(STAMP) is not None


def _editor_ids(root: etree._Element) -> set[str]:
    """Every ``id`` in the document outside otio-dub's own tracks: the ids a new one must not take."""
    return {el.get("id") or "" for el in root.iter(etree.Element)
            if el.get("id") is not None and not any(is_stamped(up) for up in el.iterancestors())}


def strip(doc: Document) -> int:
    """Remove every track or container otio-dub stamped (their contents with them); returns how many."""
    found = [el for el in doc.root.iter(etree.Element) if is_stamped(el)]
    outermost = [el for el in found if not any(is_stamped(up) for up in el.iterancestors())]
    for element in outermost:
        doc.remove(element)
    return len(outermost)


def _add_tracks(doc: Document, sequence: etree._Element, tracks: list[etree._Element]) -> None:
    """Append ``tracks`` to the sequence's audio, after its own tracks (making media/audio if it has none)."""
    media = _own_child(sequence, "media")
    audio = _own_child(media, "audio") if media is not None else None
    if audio is None:
        new, parent = etree.Element("audio", {STAMP: "container"}), media
        new.extend(tracks)
        if media is None:
            wrapper = etree.Element("media", {STAMP: "container"})
            wrapper.append(new)
            new, parent = wrapper, sequence
        doc.insert_after(parent, _last_own(parent), new)
        return
    children = _own_children(audio)
    anchor = next((el for el in reversed(children) if el.tag == "track"), children[-1] if children else None)
    for track in tracks:
        doc.insert_after(audio, anchor, track)


def _own_children(parent: etree._Element) -> list[etree._Element]:
    """``parent``'s child elements that otio-dub did not add."""
    return [el for el in parent.iterchildren(etree.Element) if not is_stamped(el)]


def _own_child(parent: etree._Element, tag: str) -> etree._Element | None:
    return next((el for el in _own_children(parent) if el.tag == tag), None)


def _last_own(parent: etree._Element) -> etree._Element | None:
    children = _own_children(parent)
    return children[-1] if children else None


def dubbed_sequence(root: etree._Element, name: str, source: Path) -> etree._Element:
    """The sequence OTIO's reader made the timeline of: the one named ``name``, else the first.

    OTIO reads the top-level sequences, then those in projects and bins, in that order; a sequence
    that only refers to another by id (an empty element) stands for that one."""
    candidates = [_defined(s, root) for s in [*root.findall("sequence"), *root.findall(".//children/sequence")]]
    if not candidates:
        raise InputError(str(source), "holds no sequence")
    return next((s for s in candidates if (s.findtext("name") or "") == (name or "")), candidates[0])


def _defined(sequence: etree._Element, root: etree._Element) -> etree._Element:
    """The element that defines ``sequence`` (itself, or the first of its id that has content)."""
    ref = sequence.get("id")
    if len(sequence) or not ref:
        return sequence
    return next((s for s in root.iter("sequence") if s.get("id") == ref and len(s)), sequence)


def _sub(parent: etree._Element, tag: str, text: object = None, **attrib: str) -> etree._Element:
    element = etree.SubElement(parent, tag, attrib)
    if text is not None:
        element.text = str(text)
    return element


class _Clock:
    """The sequence's rate element and exact rate, and its timecode label (DF or NDF)."""

    def __init__(self, rate: etree._Element, exact: Fraction, display: str) -> None:
        self.rate, self.exact, self.display = rate, exact, display

    @classmethod
    def of(cls, sequence: etree._Element, tb: TimeBase) -> _Clock:
        """Read from the sequence; what it does not state is taken from the dub's clock."""
        rate = sequence.find("rate")
        base = (rate.findtext("timebase") or "").strip() if rate is not None else ""
        if base.isdigit() and int(base) > 0:
            ntsc = (rate.findtext("ntsc") or "").strip().upper() == "TRUE"
            exact = Fraction(int(base) * 1000, 1001) if ntsc else Fraction(int(base))
        else:
            rate, exact = etree.Element("rate"), tb.rate
            _sub(rate, "timebase", round(float(tb.rate)))
            _sub(rate, "ntsc", "TRUE" if tb.rate.denominator == 1001 else "FALSE")
        display = (sequence.findtext("timecode/displayformat") or "").strip().upper()
        if display not in ("DF", "NDF"):
            display = "DF" if (is_drop_frame_rate(exact) if tb.drop_frame is None else tb.drop_frame) else "NDF"
        return cls(rate, exact, display)

    def rate_element(self) -> etree._Element:
        return etree.fromstring(etree.tostring(self.rate, with_tail=False))

    def frames(self, time: otio.opentime.RationalTime) -> int:
        return frames_of(time, self.exact)


class _DubWriter:
    """Builds the dub's ``<track>`` elements; numbers clipitems and files, describes each file once."""

    def __init__(self, clock: _Clock, media_dir: Path, link_dir: Path, taken: set[str]) -> None:
        self.clock, self.media_dir, self.link_dir = clock, media_dir, link_dir
        self.files: dict[str, str] = {}  # pathurl -> file id
        self.taken = set(taken)  # ids in use: the editor's, then each one given out
        self.unread: set[str] = set()

    def _fresh_id(self, kind: str) -> str:
        """The first ``otio-dub-<kind>-<n>`` no element of the document has: unique, and the same for the
        same document (a re-patch gives the same ids)."""
        number = 1
        while f"{ID_PREFIX}{kind}-{number}" in self.taken:
            number += 1
        self.taken.add(f"{ID_PREFIX}{kind}-{number}")
        return f"{ID_PREFIX}{kind}-{number}"

    def track(self, track: otio.schema.Track) -> etree._Element:
        """One audio track: its clips at their record frames, then enabled and locked."""
        element = etree.Element("track", {STAMP: "track", "MZ.TrackName": track.name or ""})
        ranges = track.range_of_all_children()
        for item in track:  # in track order: FCP7 lists a track's items by time
            if not isinstance(item, otio.schema.Clip):
                continue
            rng = ranges[item]
            if not isinstance(item.media_reference, otio.schema.ExternalReference) or not item.media_reference.target_url:
                log.warning("FCP7 XML: dub clip %r has no media file; left out", item.name)
                continue
            start = self.clock.frames(rng.start_time)
            element.append(self._clipitem(item, start, self.clock.frames(rng.end_time_exclusive())))
        _sub(element, "enabled", "TRUE" if track.enabled else "FALSE")
        _sub(element, "locked", "FALSE")
        return element

    def _clipitem(self, clip: otio.schema.Clip, start: int, end: int) -> etree._Element:
        """A dub clip as Premiere writes an audio clipitem: timing, file, source track, markers."""
        ref = clip.media_reference
        media_start = self.clock.frames((ref.available_range or clip.source_range or clip.trimmed_range()).start_time)
        clip_in = self.clock.frames(clip.trimmed_range().start_time) - media_start
        url = link_url(ref.target_url, self.link_dir)
        file_el, length, channels = self._file(url, ref, media_start, clip_in + end - start)
        item = etree.Element("clipitem", {"id": self._fresh_id("clipitem")})
        if channels in (1, 2):
            item.set("premiereChannelType", "mono" if channels == 1 else "stereo")
        _sub(item, "name", clip.name)
        _sub(item, "enabled", "TRUE" if clip.enabled else "FALSE")
        _sub(item, "duration", length)
        item.append(self.clock.rate_element())
        for tag, value in (("start", start), ("end", end), ("in", clip_in), ("out", clip_in + end - start)):
            _sub(item, tag, value)
        item.append(file_el)
        source = _sub(item, "sourcetrack")
        _sub(source, "mediatype", "audio")
        _sub(source, "trackindex", 1)
        for marker in clip.markers:
            item.append(self._marker(marker, media_start))
        return item

    def _file(self, url: str, ref: otio.schema.ExternalReference, media_start: int,
              used: int) -> tuple[etree._Element, int, int]:
        """The clip's ``<file>`` (in full the first time, by id after), its length in frames and channels."""
        local = local_file(ref.target_url, self.media_dir)
        facts = wav_facts(local) if local is not None and local.is_file() else None
        if facts is not None and facts.sample_rate:  # the nearest whole frames (sample positions are rounded)
            length = max(round(Fraction(facts.frames) * self.clock.exact / facts.sample_rate), used)
        else:
            self.unread.add(str(local or ref.target_url))
            length = self.clock.frames(ref.available_range.duration) if ref.available_range else used
        channels = facts.channels if facts else 1
        if url in self.files:
            return etree.Element("file", {"id": self.files[url]}), length, channels
        self.files[url] = self._fresh_id("file")
        element = etree.Element("file", {"id": self.files[url]})
        _sub(element, "name", unquote(PurePosixPath(urlparse(url).path).name) or os.path.basename(url))
        _sub(element, "pathurl", url)
        element.append(self.clock.rate_element())
        _sub(element, "duration", length)
        tc = _sub(element, "timecode")
        tc.append(self.clock.rate_element())
        _sub(tc, "string", timecode(media_start, self.clock.exact, self.clock.display == "DF"))
        _sub(tc, "frame", media_start)
        _sub(tc, "displayformat", self.clock.display)
        audio = _sub(_sub(element, "media"), "audio")
        chars = _sub(audio, "samplecharacteristics")
        _sub(chars, "depth", facts.bits if facts else 24)
        _sub(chars, "samplerate", facts.sample_rate if facts else 48000)
        _sub(audio, "channelcount", channels)
        return element, length, channels

    def _marker(self, marker: otio.schema.Marker, media_start: int) -> etree._Element:
        """A clip marker: name, comment, in and out in frames of the media (out -1: a point)."""
        element = etree.Element("marker")
        _sub(element, "comment", marker.comment or "")
        _sub(element, "name", marker.name or "")
        at = self.clock.frames(marker.marked_range.start_time) - media_start
        length = self.clock.frames(marker.marked_range.duration)
        _sub(element, "in", at)
        _sub(element, "out", at + length if length > 0 else -1)
        return element
