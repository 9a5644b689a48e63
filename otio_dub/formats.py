"""Writing the dub timeline back in the editor's own format, each OTIO adapter's limits handled.

The lossless ``<name>.dub.otio`` is always written (the stems and conform commands read it);
``--to`` adds the NLE file. What each writer needs, and what it cannot carry:

* FCP7 XML (``xml``): absolute file URLs for media; drop-frame is only written when the sequence
  timecode metadata says so, so it is set for drop-frame timelines; marker comments are lost.
* FCPXML (``fcpxml``): the writer rejects NTSC rates: a clear error suggests .otio or FCP7 XML.
* CMX3600 (``edl``): the writer takes one track, needs one video track present, and ignores the
  start timecode: one EDL per dub track, the track first, a placeholder video track second and a
  leading gap so record timecodes are absolute.
* AAF (``aaf``): every clip needs a MobID: dub clips get one derived from the line id
  (reproducible); the writer makes mono clips.
* ``otioz``: one bundle with the line media inside (original media that is not a local file is
  kept as a missing reference, its URL in the clip's metadata).
"""

from __future__ import annotations

import copy
import os
import re
import tempfile
import uuid
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from .errors import InputError, OutputError
from .lines import is_dub
from .render import write_text_atomic
from .timebase import TimeBase

#: --to name -> (OTIO adapter, file suffix)
FORMATS: dict[str, tuple[str, str]] = {
    "otio": ("otio_json", ".otio"),
    "otioz": ("otioz", ".otioz"),
    "otiod": ("otiod", ".otiod"),
    "xml": ("fcp_xml", ".xml"),
    "fcpxml": ("fcpx_xml", ".fcpxml"),
    "edl": ("cmx_3600", ".edl"),
    "aaf": ("AAF", ".aaf"),
}
_BY_SUFFIX = {suffix: name for name, (_, suffix) in FORMATS.items()}
_NAMESPACE = uuid.UUID("5b3c9f3e-6f51-4f0e-9d0c-6f7475646475")  # otio-dub's MobID namespace


def format_of(path: str | Path) -> str:
    """The ``--to`` name matching an input file (scripts and dialogue lists dub to ``otio``)."""
    return _BY_SUFFIX.get(Path(path).suffix.lower(), "otio")


def absolute_media(timeline: otio.schema.Timeline, out_dir: Path) -> otio.schema.Timeline:
    """A copy whose dub clips point at their media by absolute file URL (what NLEs relink by)."""
    copied = copy.deepcopy(timeline)
    for clip in copied.find_clips():
        ref = clip.media_reference
        if is_dub(clip) and isinstance(ref, otio.schema.ExternalReference) and "://" not in ref.target_url:
            ref.target_url = (out_dir / ref.target_url).resolve().as_uri()
    return copied


def _atomic_file(path: Path, write: Callable[[str], None]) -> Path:
    """Let ``write`` produce a file at a temporary name, then rename it to ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".part{path.suffix}", dir=path.parent)
    os.close(fd)
    os.unlink(tmp)  # adapters create the file themselves (otiod: a folder)
    try:
        write(tmp)
        if path.is_dir():  # an .otiod bundle from an earlier run: move it aside, put the new one in, drop it
            aside = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            os.replace(path, aside / path.name)
            os.replace(tmp, path)
            _remove(aside)
        else:
            os.replace(tmp, path)
    except Exception as exc:  # adapters raise anything, over several lines: one line, naming the file
        _remove(Path(tmp))
        detail = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
        raise OutputError(f"{path}: the {path.suffix} writer failed ({type(exc).__name__}: {detail})") from None
    return path


def _remove(path: Path) -> None:
    if path.is_dir():
        import shutil

        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "track"


def check_writable(fmt: str, tb: TimeBase) -> None:
    """Refuse, before any work is done, a format that cannot carry this timeline."""
    if fmt not in FORMATS:
        raise InputError("--to", f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    if fmt == "fcpxml" and tb.rate.denominator != 1:
        raise OutputError(f"the FCPXML writer cannot write {float(tb.rate):.3f} fps (NTSC) timelines; "
                          "use --to otio (lossless) or --to xml (FCP7 XML, which Final Cut Pro and Resolve import)")


def write_timeline(timeline: otio.schema.Timeline, out_dir: Path, name: str, fmt: str, tb: TimeBase) -> list[Path]:
    """Write the dub timeline as ``fmt`` into ``out_dir``; returns the files written."""
    check_writable(fmt, tb)
    adapter, suffix = FORMATS[fmt]
    target = out_dir / f"{name}.dub{suffix}"
    if fmt == "otio":
        return [write_text_atomic(target, otio.adapters.write_to_string(timeline, adapter))]
    nle = absolute_media(timeline, out_dir)
    if fmt == "xml":
        _mark_drop_frame(nle, tb)
    if fmt == "fcpxml" and not any(t.kind == otio.schema.TrackKind.Video for t in nle.tracks):
        # the FCPXML writer hangs audio lanes on the video spine: give it an empty one
        spine = otio.schema.Track("V", kind=otio.schema.TrackKind.Video)
        spine.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=nle.duration())))
        nle.tracks.insert(0, spine)
    if fmt == "aaf":
        _give_mob_ids(nle, name)
        return [_atomic_file(target, lambda tmp: otio.adapters.write_to_file(nle, tmp, adapter_name=adapter))]
    if fmt == "edl":
        return _write_edls(nle, out_dir, name, tb)
    if fmt == "fcpxml":
        def write_fcpxml(tmp: str) -> None:
            otio.adapters.write_to_file(nle, tmp, adapter_name=adapter)
            _exact_fcpxml_offsets(Path(tmp), _dub_positions(nle, tb), tb)

        return [_atomic_file(target, write_fcpxml)]
    if fmt in ("otioz", "otiod"):
        return [_atomic_file(target, lambda tmp: otio.adapters.write_to_file(
            nle, tmp, adapter_name=adapter, media_policy="MissingIfNotFile"))]
    return [_atomic_file(target, lambda tmp: otio.adapters.write_to_file(nle, tmp, adapter_name=adapter))]


def _dub_positions(timeline: otio.schema.Timeline, tb: TimeBase) -> dict[str, int]:
    """Record frame (from the timeline start) of every dub clip, by clip name."""
    from .timebase import frames_of

    return {clip.name: frames_of(clip.transformed_time_range(clip.trimmed_range(), timeline.tracks).start_time, tb.rate)
            for track in timeline.tracks if is_dub(track) for clip in track.find_clips()}


def _fcpx_time(value: str | None) -> Fraction:
    if not value or value == "0s":
        return Fraction(0)
    num, _, den = value.rstrip("s").partition("/")
    return Fraction(int(num), int(den or 1))


def _exact_fcpxml_offsets(path: Path, positions: dict[str, int], tb: TimeBase) -> None:
    """Rewrite the offsets of our connected dub clips as exact rationals.

    otio-fcpx-xml-adapter 1.0 converts times through ``int(float(...) * fps)`` while writing, which
    puts some clips a frame early (frame 123 at 30 fps becomes 54061/15s). A connected clip sits at
    parent offset + (its offset - parent start), so its exact offset follows from its record frame.
    """
    import xml.etree.ElementTree as ET

    text = path.read_text(encoding="utf-8")
    root = ET.fromstring(text)
    for spine in root.iter("spine"):
        for item in spine:
            base, start = _fcpx_time(item.get("offset")), _fcpx_time(item.get("start"))
            for child in item:
                if child.get("lane") is not None and child.get("name") in positions:
                    exact = start + Fraction(positions[child.get("name")]) / tb.rate - base
                    child.set("offset", f"{exact.numerator}/{exact.denominator}s" if exact.denominator != 1 else f"{exact.numerator}s")
    head = text[: text.index("<fcpxml")]  # keep the XML declaration and DOCTYPE as the adapter wrote them
    path.write_text(head + ET.tostring(root, encoding="unicode") + "\n", encoding="utf-8")


def _mark_drop_frame(timeline: otio.schema.Timeline, tb: TimeBase) -> None:
    """FCP7 XML writes DF only when the sequence timecode metadata says so: say so for DF clocks."""
    from .timebase import is_drop_frame_rate

    drop = tb.drop_frame if tb.drop_frame is not None else is_drop_frame_rate(tb.rate)
    fcp = dict(timeline.metadata.get("fcp_xml") or {})
    timecode = dict(fcp.get("timecode") or {})
    if drop and "displayformat" not in timecode:
        timecode["displayformat"] = "DF"  # rate and frame come from the timeline's own start time
        fcp["timecode"] = timecode
        timeline.metadata["fcp_xml"] = fcp


def _give_mob_ids(timeline: otio.schema.Timeline, name: str) -> None:
    """AAF needs a MobID and a media range per clip. Clips read from an AAF have them; others (dub
    clips, clips of a timeline from another format) get a MobID from their name and place, the
    same on every run, and their source range as the media's available range."""
    import aaf2

    for index, clip in enumerate(timeline.find_clips()):
        aaf = dict(clip.metadata.get("AAF") or {})
        if not (aaf.get("MobID") or aaf.get("SourceID")):
            mob = aaf2.mobid.MobID.new()
            mob.material = uuid.uuid5(_NAMESPACE, f"{name}/{index}/{clip.name}")
            clip.metadata["AAF"] = {**aaf, "MobID": str(mob)}
        ref = clip.media_reference
        if ref is not None and ref.available_range is None and clip.source_range is not None:
            ref.available_range = clip.source_range


def _write_edls(timeline: otio.schema.Timeline, out_dir: Path, name: str, tb: TimeBase) -> list[Path]:
    """One EDL per dub track: the writer takes only its first track and ignores the start timecode."""
    written = []
    rate = float(tb.rate)
    for track in (t for t in timeline.tracks if is_dub(t)):
        edl = otio.schema.Timeline(f"{name} {track.name}")
        audio = copy.deepcopy(track)
        if tb.start_frame:  # a leading gap makes the record timecodes absolute
            audio.insert(0, otio.schema.Gap(source_range=otio.opentime.TimeRange(
                duration=otio.opentime.RationalTime(tb.start_frame, rate))))
        video = otio.schema.Track("V", kind=otio.schema.TrackKind.Video)  # the writer insists on one
        video.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=audio.duration())))
        edl.tracks.extend([audio, video])
        path = out_dir / f"{name}.dub.{_slug(track.name)}.edl"
        try:
            text = otio.adapters.write_to_string(edl, "cmx_3600", rate=rate)
        except otio.exceptions.OTIOError as exc:
            raise OutputError(f"{path}: the EDL writer failed: {exc}") from None
        written.append(write_text_atomic(path, text))
    return written
