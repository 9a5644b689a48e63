"""FCPXML 1.8 written the way Final Cut Pro writes it, so every dub clip imports linked and audible.

OTIO's FCPXML writer wraps audio in ``<clip start=T><gap offset=0>``: the clip shows its own time
T..T+D while its contents cover 0..D, so Final Cut plays nothing; it also refuses NTSC rates. Here:

* a library, an event and a project around the sequence, which carries ``tcStart``/``tcFormat``;
* a format with its FCP name and frame size, one asset per media file with ``start`` at the media's
  own timecode (a line file starts at its record timecode), ``hasAudio``/``audioRate``/channels;
* the first video track as the primary storyline (asset-clips and gaps), every other track as
  connected ``asset-clip``s on lanes (video above, audio below), attached to the storyline item
  under their start; times are exact rationals of the sequence's frame duration.

Generators and clips with no media file become gaps or are left out (a warning names them),
transitions become cuts, nested stacks are flattened; markers of dub clips are kept.
"""

from __future__ import annotations

import hashlib
import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from ..core.timebase import TimeBase, exact_rate, frames_of
from ..dialogue.lines import is_dub
from .media import link_url, local_file, wav_facts

log = logging.getLogger("otio_dub")

_RATE_CODE = {Fraction(24000, 1001): "2398", Fraction(30000, 1001): "2997", Fraction(60000, 1001): "5994"}


@dataclass
class _Placed:
    """A clip of a track at its record frames (relative to the timeline start)."""

    clip: otio.schema.Clip
    start: int
    end: int
    video: bool


def seconds(value: Fraction) -> str:
    """An FCPXML time: exact rational seconds ('3600s', '1001/30000s')."""
    value = Fraction(value)
    return f"{value.numerator}s" if value.denominator == 1 else f"{value.numerator}/{value.denominator}s"


def rt_seconds(rt: otio.opentime.RationalTime) -> Fraction:
    """A RationalTime as exact seconds (NTSC float rates taken as n*1000/1001)."""
    return Fraction(rt.value).limit_denominator(1_000_000) / exact_rate(rt.rate)


def format_name(rate: Fraction, width: int, height: int) -> str:
    """Final Cut's name for a video format (FFVideoFormat1080p2997, FFVideoFormat3840x2160p25 ...)."""
    code = _RATE_CODE.get(rate, f"{float(rate):g}".replace(".", ""))
    size = f"{height}" if (width, height) in ((1920, 1080), (1280, 720)) else f"{width}x{height}"
    return f"FFVideoFormat{size}p{code}"


def write_fcpxml(timeline: otio.schema.Timeline, path: Path, tb: TimeBase, media_dir: Path, *,
                 link_dir: Path | None = None, event: str = "otio-dub") -> None:
    """Write ``timeline`` as FCPXML 1.8 at ``path`` (media read in ``media_dir``, linked from ``link_dir``)."""
    root = _Document(timeline, tb, media_dir, link_dir or media_dir, event).build()
    ET.indent(root, space="    ")
    text = ET.tostring(root, encoding="unicode")
    path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE fcpxml>\n\n' + text + "\n", encoding="utf-8")


class _Document:
    def __init__(self, timeline: otio.schema.Timeline, tb: TimeBase, media_dir: Path, link_dir: Path,
                 event: str) -> None:
        self.timeline, self.tb, self.media_dir, self.link_dir, self.event = timeline, tb, media_dir, link_dir, event
        self.frame = 1 / tb.rate
        self.resources = ET.Element("resources")
        self.assets: dict[str, ET.Element] = {}
        self.skipped: list[str] = []

    def t(self, frames: int) -> str:
        return seconds(frames * self.frame)

    def build(self) -> ET.Element:
        root = ET.Element("fcpxml", version="1.8")
        root.append(self.resources)
        name, width, height = _video_format(self.timeline, self.tb.rate)
        ET.SubElement(self.resources, "format", id="r1", name=name,
                      frameDuration=seconds(self.frame), width=str(width), height=str(height))
        total = frames_of(self.timeline.duration(), self.tb.rate) if len(self.timeline.tracks) else 0
        tracks = [t for t in self.timeline.tracks if isinstance(t, otio.schema.Track)
                  and t.kind in (otio.schema.TrackKind.Video, otio.schema.TrackKind.Audio)]
        videos = [t for t in tracks if t.kind == otio.schema.TrackKind.Video]
        primary = videos[0] if videos else None
        start = self.tb.start_frame
        library = ET.SubElement(root, "library")
        project = ET.SubElement(ET.SubElement(library, "event", name=self.event), "project",
                                name=self.timeline.name or "otio-dub")
        sequence = ET.SubElement(project, "sequence", format="r1", duration=self.t(total), tcStart=self.t(start),
                                 tcFormat="DF" if self.tb.drop_frame else "NDF", audioLayout="stereo", audioRate="48k")
        spine = ET.SubElement(sequence, "spine")
        storyline = self._storyline(spine, primary, total)
        lanes = {"video": 0, "audio": 0}
        for track in tracks:
            if track is primary:
                continue
            video = track.kind == otio.schema.TrackKind.Video
            lanes["video" if video else "audio"] += 1
            lane = lanes["video"] if video else -lanes["audio"]
            for placed in _placed(track, self.tb, video, self.skipped):
                self._connect(storyline, placed, lane)
        if self.skipped:
            log.warning("FCPXML cannot carry %s: left out", "; ".join(sorted(set(self.skipped))))
        return root

    # ------------------------------------------------------------------ storyline
    def _storyline(self, spine: ET.Element, track: otio.schema.Track | None,
                   total: int) -> list[tuple[ET.Element, int, Fraction]]:
        """The primary storyline as (element, record frame, the element's own time at its start)."""
        items: list[tuple[ET.Element, int, Fraction]] = []
        cursor = 0
        placed = _placed(track, self.tb, True, self.skipped) if track is not None else []
        for p in placed:
            if p.start > cursor:
                items.append(self._gap(spine, cursor, p.start))
            element = self._asset_clip(p, None)
            if element is None:
                items.append(self._gap(spine, p.start, p.end))
            else:
                spine.append(element)
                items.append((element, p.start, _time(element.get("start"))))
            cursor = p.end
        if cursor < total or not items:
            items.append(self._gap(spine, cursor, max(total, cursor + 1)))
        return items

    def _gap(self, spine: ET.Element, start: int, end: int) -> tuple[ET.Element, int, Fraction]:
        gap = ET.SubElement(spine, "gap", name="Gap", offset=self.t(self.tb.start_frame + start),
                            start="3600s", duration=self.t(end - start))  # FCP's own gaps start at 1 h
        return gap, start, Fraction(3600)

    def _connect(self, storyline: list[tuple[ET.Element, int, Fraction]], placed: _Placed, lane: int) -> None:
        """A connected clip, attached to the storyline item under its start."""
        parent, parent_start, parent_own = storyline[0]
        for item, start, own in storyline:
            if start <= placed.start:
                parent, parent_start, parent_own = item, start, own
        element = self._asset_clip(placed, lane, parent_own + (placed.start - parent_start) * self.frame)
        if element is not None:  # anchored items come before the parent's markers (FCPXML's content model)
            markers = [i for i, child in enumerate(parent) if child.tag == "marker"]
            parent.insert(markers[0] if markers else len(parent), element)

    # ------------------------------------------------------------------ clips and assets
    def _asset_clip(self, placed: _Placed, lane: int | None, offset: Fraction | None = None) -> ET.Element | None:
        clip = placed.clip
        asset = self._asset(clip, placed.video)
        if asset is None:
            return None
        element = ET.Element("asset-clip", ref=asset.attrib["id"], name=clip.name or asset.attrib["name"])  # _asset sets both
        if lane is not None:
            element.set("lane", str(lane))
        at = offset if offset is not None else (self.tb.start_frame + placed.start) * self.frame
        element.set("offset", seconds(at))
        element.set("start", seconds(rt_seconds(clip.trimmed_range().start_time)))
        element.set("duration", self.t(placed.end - placed.start))
        if placed.video:
            element.set("format", "r1")
        if asset.get("hasVideo") == "1" and asset.get("hasAudio") == "1":
            element.set("srcEnable", "video" if placed.video else "audio")
        if not placed.video:
            element.set("audioRole", "dialogue")
        element.set("tcFormat", "DF" if self.tb.drop_frame else "NDF")
        if not clip.enabled:
            element.set("enabled", "0")
        if is_dub(clip):
            self._markers(element, clip)
        return element

    def _asset(self, clip: otio.schema.Clip, video: bool) -> ET.Element | None:
        ref = clip.media_reference
        url = getattr(ref, "target_url", None)
        if not url or isinstance(ref, otio.schema.GeneratorReference):
            self.skipped.append(f"clip {clip.name!r} (no media file)")
            return None
        src = link_url(url, self.link_dir)
        asset = self.assets.get(src)
        if asset is None:
            available = ref.available_range or clip.source_range
            asset = ET.SubElement(self.resources, "asset", id=f"r{len(self.assets) + 2}",
                                  name=Path(otio.url_utils.filepath_from_url(src)).stem,
                                  uid=hashlib.md5(src.encode()).hexdigest().upper(), src=src,
                                  start=seconds(rt_seconds(available.start_time)),
                                  duration=seconds(rt_seconds(available.duration)), hasVideo="0", hasAudio="0")
            path = local_file(url, self.media_dir)
            wav = wav_facts(path) if path is not None and path.is_file() else None
            if wav is not None:  # a line file: its real length and audio layout
                asset.set("duration", seconds(Fraction(wav.frames, wav.sample_rate)))
                asset.set("audioSources", "1")
                asset.set("audioChannels", str(wav.channels))
                asset.set("audioRate", str(wav.sample_rate))
            self.assets[src] = asset
        elif ref.available_range is None:  # media of unknown extent (an EDL's): cover every use of it
            _cover(asset, rt_seconds(clip.trimmed_range().start_time), rt_seconds(clip.trimmed_range().end_time_exclusive()))
        if video and asset.get("hasVideo") != "1":
            asset.set("hasVideo", "1")
            asset.set("format", "r1")
        if not video and asset.get("hasAudio") != "1":
            asset.set("hasAudio", "1")
            asset.attrib.setdefault("audioSources", "1")
            asset.attrib.setdefault("audioChannels", "2")
            asset.attrib.setdefault("audioRate", "48000")
        return asset

    def _markers(self, element: ET.Element, clip: otio.schema.Clip) -> None:
        for marker in clip.markers:
            ET.SubElement(element, "marker", start=seconds(rt_seconds(marker.marked_range.start_time)),
                          duration=seconds(rt_seconds(marker.marked_range.duration)), value=marker.name)


def _cover(asset: ET.Element, start: Fraction, end: Fraction) -> None:
    """Widen an asset's start/duration to take in ``start``..``end``."""
    lo, hi = _time(asset.get("start")), _time(asset.get("start")) + _time(asset.get("duration"))
    lo, hi = min(lo, start), max(hi, end)
    asset.set("start", seconds(lo))
    asset.set("duration", seconds(hi - lo))


def _time(value: str | None) -> Fraction:
    if not value or value == "0s":
        return Fraction(0)
    num, _, den = value.rstrip("s").partition("/")
    return Fraction(int(num), int(den or 1))


def _video_format(timeline: otio.schema.Timeline, rate: Fraction) -> tuple[str, int, int]:
    """(FCP format name, width, height): the source's own (an FCPXML's format, FCP7's
    samplecharacteristics) when it runs at this rate, else 1920x1080 named for the rate."""
    ours = timeline.metadata.get("otio_dub") or {}
    source = ours.get("video_format") if hasattr(ours, "get") else None
    if source is not None and hasattr(source, "get"):
        try:
            width, height = int(source["width"]), int(source["height"])
            same_rate = _time(source.get("frameDuration")) == 1 / rate
            return (source["name"] if same_rate and source.get("name") else format_name(rate, width, height)), width, height
        except (KeyError, TypeError, ValueError):
            pass
    fcp = timeline.metadata.get("fcp_xml") or {}
    try:
        chars = fcp["media"]["video"]["format"]["samplecharacteristics"]
        width, height = int(chars["width"]), int(chars["height"])
    except (KeyError, TypeError, ValueError):
        width, height = 1920, 1080
    return format_name(rate, width, height), width, height


def _placed(track: otio.schema.Track, tb: TimeBase, video: bool, skipped: list[str]) -> list[_Placed]:
    """Every clip of ``track`` at its record frames; nested stacks flattened, transitions cut."""
    found: list[_Placed] = []
    at = otio.opentime.RationalTime(0, float(tb.rate))
    for item in track:
        if isinstance(item, otio.schema.Transition):
            skipped.append(f"transition on track {track.name!r} (a cut instead)")
            continue
        end = at + item.duration()
        start_f, end_f = frames_of(at, tb.rate), frames_of(end, tb.rate)
        at = end
        if end_f <= start_f:
            continue
        if isinstance(item, otio.schema.Clip):
            found.append(_Placed(item, start_f, end_f, video))
        elif isinstance(item, (otio.schema.Stack, otio.schema.Track)):
            for inner in flattened(item, track.kind, skipped):
                inner_track = _placed(inner, tb, video, skipped)
                found.extend(_Placed(p.clip, start_f + p.start, min(end_f, start_f + p.end), video)
                             for p in inner_track if start_f + p.start < end_f)
    return found


def flattened(item: otio.core.Composition, kind: str, skipped: list[str]) -> list[otio.schema.Track]:
    try:
        if isinstance(item, otio.schema.Stack):
            tracks = [t.clone() for t in item if isinstance(t, otio.schema.Track) and t.kind == kind]
            if not tracks:
                return []
            flat = otio.algorithms.flatten_stack(tracks)
        else:
            flat = item.clone()
            flat.source_range = None
        return [otio.algorithms.track_trimmed_to_range(flat, item.trimmed_range())]
    except (otio.exceptions.OTIOError, ValueError) as exc:
        skipped.append(f"nested {item.name!r} ({exc})")
        return []
