"""Reading a timeline file through the OTIO adapters, with one clear error for anything that fails.

What the adapters leave out is recovered here, so every later stage sees one clock: an EDL's
programme start (its first record timecode; the reader puts every track at absolute time from
00:00:00:00), an FCPXML project's ``tcStart`` and exact 29.97-family rates (``fcpxml_doc.ExactFcpxXml``)
and whether the source counts drop-frame (EDL ``FCM``, AAF timecode ``Drop``,
FCPXML ``tcFormat``), kept as ``metadata["otio_dub"]["drop_frame"]`` on the timeline.
"""

from __future__ import annotations

import re
from pathlib import Path

import opentimelineio as otio

from ..core.errors import InputError
from ..core.timebase import exact_rate, frames_of
from ..dialogue.dialogue_list import LIST_SUFFIXES
from ..dialogue.limits import check_timeline
from ..dialogue.script import SCRIPT_SUFFIXES
from .fcpxml_doc import read_otio
from .patch_fcpxmld import bundle_document

_FCM = re.compile(r"^\s*FCM:\s*(NON[- ]?DROP|DROP)", re.IGNORECASE | re.MULTILINE)
_TC = r"\d\d:\d\d:\d\d[:;.]\d\d"
_EVENT = re.compile(rf"^(\s*\d+\s.*?)({_TC})\s+({_TC})\s+({_TC})\s+({_TC})\s*$", re.MULTILINE)


def read_timeline(path: str | Path, rate: float | None = None, start: str | None = None,
                  drop_frame: bool | None = None) -> otio.schema.Timeline:
    """Read a timeline through the OTIO adapters; any failure becomes one InputError line.

    ``rate`` / ``start`` reach the adapters of formats that carry no clock of their own: EDLs
    (rate) and subtitle scripts or dialogue lists read as timelines (rate and start timecode).
    ``drop_frame`` (the user's --drop-frame/--non-drop) overrides what the source says.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(str(path), "timeline file not found")
    args: dict[str, object] = {}
    suffix = path.suffix.lower()
    if rate is not None and suffix in (".edl", *SCRIPT_SUFFIXES, *LIST_SUFFIXES):
        args["rate"] = float(exact_rate(rate)) if suffix == ".edl" else rate  # the EDL reader wants 29.97002997...
    if start is not None and suffix in (*SCRIPT_SUFFIXES, *LIST_SUFFIXES):
        args["start_timecode"] = start
    # our own reads skip the tagging hook: the original tracks reach the outputs exactly as exported
    args["hook_function_argument_map"] = {"otio_dub": {"tag_dialogue": False}}
    said: bool | None = None
    try:
        if suffix == ".edl":
            text, said = _edl_text(path)
            result = otio.adapters.read_from_string(text, "cmx_3600", **args)
        elif suffix in (".fcpxml", ".fcpxmld"):  # a bundle's document is its Info.fcpxml
            result = _read_fcpxml(bundle_document(path) if suffix == ".fcpxmld" else path, args)
        elif suffix == ".xml":  # FCP7 XML decoded in its own encoding (OTIO's reader would take UTF-8 only)
            result = otio.adapters.read_from_string(_fcp7_text(path), "fcp_xml", **args)
        else:
            result = otio.adapters.read_from_file(str(path), **args)
    except InputError:
        raise
    except Exception as exc:  # adapters raise anything from XML errors to KeyError: name the file
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(str(path), f"cannot read timeline ({type(exc).__name__}: {detail})") from None
    if isinstance(result, otio.schema.SerializableCollection):
        timelines = list(result.find_children(descended_from_type=otio.schema.Timeline))
        if not timelines:
            raise InputError(str(path), "holds no timeline")
        result = timelines[0]
    if not isinstance(result, otio.schema.Timeline):
        raise InputError(str(path), f"holds a {type(result).__name__}, not a timeline")
    check_timeline(result, str(path))  # before any clock is made of it: rates, lengths, start in bounds
    if suffix == ".edl":
        _edl_programme_start(result)
        check_timeline(result, str(path))  # the start found from its record timecodes is bounded too
    elif suffix == ".aaf":
        said = _aaf_drop_frame(path)
    elif suffix == ".xml":
        _fcp7_tracks(result)
    elif suffix in (".fcpxml", ".fcpxmld"):
        said, video_format = _fcpxml_facts(bundle_document(path) if suffix == ".fcpxmld" else path)
        if video_format:
            result.metadata["otio_dub"] = {**dict(result.metadata.get("otio_dub") or {}), "video_format": video_format}
    # relative media live beside the file, or inside it for an .otiod bundle (a folder)
    _absolute_media(result, path.resolve() if path.is_dir() else path.resolve().parent)
    if drop_frame is not None:
        said = drop_frame
    if said is not None:
        ours = dict(result.metadata.get("otio_dub") or {})
        ours["drop_frame"] = said
        result.metadata["otio_dub"] = ours
    return result


def _absolute_media(timeline: otio.schema.Timeline, base: Path) -> None:
    """Media named by a plain path become file URLs; relative ones are relative to the file that names
    them. So the dub (written elsewhere) and every NLE file point at the same media."""
    from urllib.parse import unquote, urlparse

    for clip in timeline.find_clips():
        for ref in clip.media_references().values():
            url = getattr(ref, "target_url", None)
            if not isinstance(ref, otio.schema.ExternalReference) or not url:
                continue
            scheme = urlparse(url).scheme
            if scheme and len(scheme) > 1:  # a URL (file://, https://); 'C:' is a Windows drive
                continue
            local = Path(unquote(url)) if "%" in url else Path(url)
            if re.match(r"^[A-Za-z]:[\\/]", url):
                continue  # a Windows path: left as the NLE wrote it
            ref.target_url = (local if local.is_absolute() else (base / local).resolve()).as_uri()


def _edl_text(path: Path) -> tuple[str, bool | None]:
    """An EDL's text and its FCM. Under ``FCM: DROP FRAME`` timecodes written with ':' are drop-frame:
    they get the ';' the reader needs to count them so."""
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise InputError(str(path), f"cannot read timeline ({exc.strerror})") from None
    match = _FCM.search(text)
    if match is None:
        return text, None
    drop = not match.group(1).upper().startswith("NON")
    if drop:
        def semicolons(event: re.Match) -> str:
            tcs = [tc[:8] + ";" + tc[9:] for tc in event.group(2, 3, 4, 5)]
            return f"{event.group(1)}{tcs[0]} {tcs[1]} {tcs[2]} {tcs[3]}"

        text = _EVENT.sub(semicolons, text)
    return text, drop


def _edl_programme_start(timeline: otio.schema.Timeline) -> None:
    """Make the programme start the timeline's start (the EDL reader counts from 00:00:00:00).

    The reader gives each track a source range starting at minus its first record timecode. The
    earliest of them is the programme start: it becomes ``global_start_time``, and each track a
    leading gap up to its first event instead of a negative source range.
    """
    firsts = []
    for track in timeline.tracks:
        if track.source_range is not None and len(track):
            firsts.append(-track.source_range.start_time)
    if not firsts:
        return
    rate = firsts[0].rate
    start = min(frames_of(t, exact_rate(rate)) for t in firsts)
    for track in timeline.tracks:
        if track.source_range is None:
            continue
        lead = frames_of(-track.source_range.start_time, exact_rate(rate)) - start
        track.source_range = None
        if lead > 0:
            track.insert(0, otio.schema.Gap(source_range=otio.opentime.TimeRange(
                duration=otio.opentime.RationalTime(lead, rate))))
    timeline.global_start_time = otio.opentime.RationalTime(start, rate)


def _aaf_drop_frame(path: Path) -> bool | None:
    """The ``Drop`` of the top-level composition's primary timecode (its PhysicalTrackNumber 1 slot)."""
    import aaf2

    try:
        with aaf2.open(str(path), "r") as aaf:
            for mob in aaf.content.toplevel():
                for slot in mob.slots:
                    segment = slot.segment
                    if isinstance(segment, aaf2.components.Timecode) and slot["PhysicalTrackNumber"].value in (1, None):
                        return bool(segment.drop)
    except Exception:  # the adapter read it: a timecode we cannot see means the source says nothing
        return None
    return None


def _read_fcpxml(path: Path, args: dict[str, object]) -> object:
    """An FCPXML document read as OTIO's adapter would (its hooks run after), with exact times and the
    project's start timecode as ``global_start_time`` (``fcpxml_doc.ExactFcpxXml``)."""
    given = args.get("hook_function_argument_map")
    hooks = {**(given if isinstance(given, dict) else {}), "adapter_arguments": {}, "media_linker_argument_map": {}}
    result = otio.hooks.run("post_adapter_read", read_otio(path), extra_args=hooks)
    if otio.media_linker.from_name(otio.media_linker.MediaLinkingPolicy.ForceDefaultLinker):
        for clip in result.find_clips():
            clip.media_reference = otio.media_linker.linked_media_reference(clip)
    return otio.hooks.run("post_media_linker", result, extra_args={})


def _fcpxml_facts(path: Path) -> tuple[bool | None, dict[str, str]]:
    """The project sequence's ``tcFormat`` (DF / NDF) and its format (name, frame size and duration)."""
    import xml.etree.ElementTree as ET

    formats: dict[str, dict[str, str]] = {}
    chosen: dict[str, str] | None = None
    projects = 0
    try:
        for event, element in ET.iterparse(str(path), events=("start", "end")):
            if element.tag == "project":
                projects += 1 if event == "start" else -1
            elif event == "start" and element.tag == "sequence" and (chosen is None or projects and not chosen["in_project"]):
                chosen = {"tcFormat": element.get("tcFormat") or "", "format": element.get("format") or "",
                          "in_project": "1" if projects else ""}
            elif event == "end" and element.tag == "format" and element.get("id"):
                formats[element.get("id")] = {k: element.get(k) for k in ("name", "width", "height", "frameDuration")
                                              if element.get(k)}
    except (ET.ParseError, OSError):
        return None, {}
    if chosen is None:
        return None, {}
    return {"DF": True, "NDF": False}.get(chosen["tcFormat"].upper()), formats.get(chosen["format"], {})


def _fcp7_text(path: Path) -> str:
    """An FCP7 XML file as text, decoded in the encoding it declares (Latin-1, UTF-16...), as the patch
    reads it; the BOM left out (OTIO's reader is given a string)."""
    from .xmeml import read_document

    return read_document(path).text.lstrip("\ufeff")


_DUB_NAME = re.compile(r"^DUB (\S+) (.+?)(?: \(overlap \d+\))?$")


def _fcp7_tracks(timeline: otio.schema.Timeline) -> None:
    """What OTIO's FCP7 reader leaves in its metadata: a track without ``<name>`` (Premiere writes none)
    is named by its ``MZ.TrackName``, and a track otio-dub stamped (``otio-dub="track"``, see
    ``patch_xml``) is tagged otio-dub's dub with its clips, so a re-dub replaces it instead of taking
    the old dub for the editor's dialogue."""
    for track in timeline.tracks:
        attributes = track.metadata.get("fcp_xml")
        if not isinstance(track, otio.schema.Track) or not hasattr(attributes, "get"):
            continue
        label = attributes.get("@MZ.TrackName")
        if not track.name and isinstance(label, str):
            track.name = label
        if attributes.get("@otio-dub") != "track":
            continue
        named = _DUB_NAME.match(track.name or "")
        tag = {"role": "dub", **({"lang": named.group(1), "character": named.group(2)} if named else {})}
        track.metadata["otio_dub"] = {**dict(track.metadata.get("otio_dub") or {}), **tag}
        for clip in track.find_clips():
            clip.metadata["otio_dub"] = {**dict(clip.metadata.get("otio_dub") or {}), "role": "dub"}
