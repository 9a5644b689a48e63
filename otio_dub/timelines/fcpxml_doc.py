"""An FCPXML document kept as the editor wrote it, for patching: lxml tree plus its own prolog.

The XML declaration, DOCTYPE, comments before and after the root and the encoding are kept as the
text they were (lxml would rewrite the declaration's quotes and drop the blank lines). Elements
are added and removed with their whitespace so that removing what was added gives back the very
tree that was read: an added element takes over the whitespace before its place (as its tail)
and leaves an indent there; removing it puts its tail back.

``read_otio`` reads the document into OTIO (OTIO's FCPXML reader, with its time maths made exact
and the project's start timecode kept: see ``ExactFcpxXml``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import opentimelineio as otio
from lxml import etree
from otio_fcpx_xml_adapter.fcpx_xml import FcpxXml

from ..core.errors import InputError

#: Children that come after a story element's anchored items in every FCPXML 1.8-1.11 content model
AFTER_ANCHORS = frozenset({"marker", "chapter-marker", "rating", "keyword", "analysis-marker", "audio-channel-source",
                           "audio-role-source", "sync-source", "filter-video", "filter-video-mask", "filter-audio",
                           "metadata", "reserved"})


@dataclass
class Document:
    """A parsed FCPXML file: its tree, the text around the root, the encoding and the indent unit."""

    path: Path
    tree: etree._ElementTree
    prolog: str
    epilogue: str
    encoding: str
    unit: str

    @property
    def root(self) -> etree._Element:
        return self.tree.getroot()


def read_document(path: Path) -> Document:
    """Parse ``path`` (never resolving entities or reaching the network); one InputError if it is no FCPXML."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True,
                             remove_blank_text=False, remove_comments=False)
    try:
        raw = path.read_bytes()
        tree = etree.ElementTree(etree.fromstring(raw, parser))
    except OSError as exc:
        raise InputError(str(path), f"cannot read FCPXML ({exc.strerror or exc})") from None
    except etree.XMLSyntaxError as exc:
        raise InputError(str(path), f"not well-formed XML ({exc})") from None
    if tree.getroot().tag != "fcpxml":
        raise InputError(str(path), f"not an FCPXML document (its root is <{tree.getroot().tag}>)")
    encoding = tree.docinfo.encoding or "UTF-8"
    try:
        text = raw.decode(encoding)
    except (LookupError, UnicodeDecodeError) as exc:
        raise InputError(str(path), f"cannot decode FCPXML as {encoding} ({exc})") from None
    start, end = _root_span(text)
    unit = _indent_unit(tree.getroot())
    return Document(path, tree, text[:start], text[end:], encoding, unit)


def write_document(doc: Document, target: Path) -> None:
    """Write ``doc`` at ``target`` with the prolog and epilogue it was read with, in its encoding."""
    body = etree.tostring(doc.root, encoding="unicode", with_tail=False)
    target.write_bytes((doc.prolog + body + doc.epilogue).encode(doc.encoding, errors="xmlcharrefreplace"))


def _root_span(text: str) -> tuple[int, int]:
    """Where the root element starts and ends in the document text (after the prolog, before the epilogue)."""
    pos = 0
    while True:
        while pos < len(text) and (text[pos].isspace() or text[pos] == "\ufeff"):
            pos += 1
        if text.startswith("<?", pos):
            pos = text.index("?>", pos) + 2
        elif text.startswith("<!--", pos):
            pos = text.index("-->", pos) + 3
        elif text.startswith("<!DOCTYPE", pos):
            match = re.compile(r"<!DOCTYPE[^\[>]*(\[.*?\]\s*)?>", re.DOTALL).match(text, pos)
            pos = match.end() if match else text.index(">", pos) + 1
        else:
            break
    end = len(text)
    while True:
        stripped = text[:end].rstrip()
        if stripped.endswith("-->"):
            end = stripped.rindex("<!--")
        elif stripped.endswith("?>"):
            end = stripped.rindex("<?")
        else:
            return pos, len(stripped)


def _indent_unit(root: etree._Element) -> str:
    """The document's indent step (the whitespace before the root's first child); '' for a one-line file."""
    lead = root.text or ""
    return lead.rsplit("\n", 1)[1] if "\n" in lead and not lead.strip() else ""


def indent_of(element: etree._Element) -> str | None:
    """The indentation before ``element`` (after the last newline of the text before it), if it has one."""
    parent = element.getparent()
    if parent is None:
        return ""
    previous = element.getprevious()
    before = previous.tail if previous is not None else parent.text
    if before and "\n" in before and not before.strip():
        return before.rsplit("\n", 1)[1]
    return None


def insert_child(parent: etree._Element, index: int, element: etree._Element, unit: str) -> None:
    """Insert ``element`` at ``index``: it takes the whitespace that was at its place as its tail and
    leaves its own indent there (``remove_element`` undoes exactly this)."""
    own = indent_of(parent)
    indent = "\n" + own + unit if unit and own is not None else None
    _pretty(element, (own or "") + unit, unit)
    if index == 0:
        element.tail, parent.text = parent.text, indent if indent else parent.text
        parent.insert(0, element)
        return
    previous = parent[index - 1]
    element.tail, previous.tail = previous.tail, indent if indent else previous.tail
    parent.insert(index, element)


def remove_element(element: etree._Element) -> None:
    """Remove ``element``, giving its tail back to the place it takes (the inverse of ``insert_child``)."""
    parent = element.getparent()
    previous = element.getprevious()
    if previous is not None:
        previous.tail = element.tail
    else:
        parent.text = element.tail
    parent.remove(element)


def anchor_index(parent: etree._Element) -> int:
    """Where an anchored (connected) item goes among ``parent``'s children: after its anchored items,
    before its markers, sources, filters and metadata (FCPXML's content models)."""
    for index, child in enumerate(parent):
        if isinstance(child.tag, str) and child.tag in AFTER_ANCHORS:
            return index
    return len(parent)


def _pretty(element: etree._Element, indent: str, unit: str) -> None:
    """Indent ``element``'s own children one ``unit`` deeper than ``indent`` (no-op for a one-line file)."""
    children = list(element)
    if not unit or not children:
        return
    element.text = "\n" + indent + unit
    for child in children:
        _pretty(child, indent + unit, unit)
        child.tail = "\n" + indent + unit
    children[-1].tail = "\n" + indent


def time_of(value: str | None) -> Fraction:
    """An FCPXML time ('1001/30000s', '3600s', '0s'; missing = 0) as exact seconds."""
    if not value:
        return Fraction(0)
    return Fraction(value.strip().rstrip("s") or "0")


def seconds(value: Fraction) -> str:
    """Exact seconds as an FCPXML time ('3600s', '1001/30000s')."""
    value = Fraction(value)
    return f"{value.numerator}s" if value.denominator == 1 else f"{value.numerator}/{value.denominator}s"


# ------------------------------------------------------------------ reading into OTIO


def first_project(root: Any) -> Any:
    """The project a dub of this document is made of: the first ``<project>`` in document order (an
    lxml or an ElementTree root alike)."""
    return root.find(".//project")


class ExactFcpxXml(FcpxXml):
    """OTIO's FCPXML reader with exact time maths and the programme start kept.

    The stock reader counts frames at ``int(1 / frameDuration)`` fps (29 for 1001/30000s) with float
    seconds truncated, gives every track a leading gap up to its absolute offset (``tcStart`` and
    all) and sets no ``global_start_time``, and reads only the first event's projects. Here a time is
    ``floor(seconds * rate)`` frames at the format's exact rate (30000/1001 as a float OTIO rate); the
    project's ``tcStart`` becomes ``global_start_time`` and leaves the leading gaps, so record frames
    count from the programme start as for every other format; the project read is ``first_project``.
    """

    def _from_library(self) -> otio.schema.SerializableCollection:
        project = first_project(self.fcpx_xml)
        event = self.child_parent_map.get(project) if project is not None else None
        return self._from_event(event if event is not None else self.fcpx_xml.find("./library/event"))

    def _from_project(self, project_element: ElementTree.Element) -> otio.schema.Timeline:
        sequence = project_element.find("./sequence")
        if sequence is None:
            raise ValueError(f"project {project_element.get('name')!r} has no sequence")
        timeline = super()._from_project(project_element)
        rate = self.exact_rate(sequence.get("format"))
        start = round(time_of(sequence.get("tcStart")) * rate)
        leads = [_lead(track) for track in timeline.tracks if len(track)]
        start = min([start] + leads)  # content before tcStart (FCP shows none) moves the start, never goes negative
        for track in timeline.tracks:
            if len(track) and isinstance(track[0], otio.schema.Gap) and start:
                gap = track[0]
                left = _lead(track) - start
                if left:
                    gap.source_range = otio.opentime.TimeRange(
                        gap.source_range.start_time, otio.opentime.RationalTime(left, float(rate)))
                else:
                    del track[0]
        timeline.global_start_time = otio.opentime.RationalTime(start, float(rate))
        return timeline

    def exact_rate(self, format_id: str | None) -> Fraction:
        """The frame rate of a ``<format>``: 1 / its frameDuration, exactly."""
        frame = time_of(self._format_by_id(format_id).get("frameDuration"))
        if frame <= 0:
            raise ValueError(f"format {format_id!r} has frameDuration {frame}s")
        return 1 / frame

    def _format_frame_rate(self, format_id: str | None) -> float:
        return float(self.exact_rate(format_id))

    def _number_of_frames(self, time_value: str | None, format_id: str | None) -> int:
        return math.floor(time_of(time_value) * self.exact_rate(format_id))

    def _time(self, value: str | None, format_id: str | None) -> otio.opentime.RationalTime:
        rate = self.exact_rate(format_id)
        return otio.opentime.RationalTime(math.floor(time_of(value) * rate), float(rate))

    def _time_range(self, element: ElementTree.Element, format_id: str | None) -> otio.opentime.TimeRange:
        return otio.opentime.TimeRange(self._time(element.get("start"), format_id),
                                       self._time(element.get("duration"), format_id))

    def _reference_from_id(self, asset_id: str, default_format: str | None) -> otio.core.MediaReference:
        reference = super()._reference_from_id(asset_id, default_format)
        asset = self._asset_by_id(asset_id)
        if isinstance(reference, otio.schema.ExternalReference) and asset is not None:
            fmt = asset.get("format", default_format)
            reference.available_range = otio.opentime.TimeRange(self._time(asset.get("start"), fmt),
                                                                self._time(asset.get("duration"), fmt))
        return reference


def _lead(track: otio.schema.Track) -> int:
    """Frames before a track's first item that is not a gap (its leading gap's length, or 0)."""
    first = track[0]
    return int(first.source_range.duration.value) if isinstance(first, otio.schema.Gap) else 0


def read_otio(path: Path) -> otio.core.SerializableObject:
    """What OTIO's FCPXML reader makes of ``path`` (a collection of the project's event), read by ``ExactFcpxXml``."""
    return ExactFcpxXml(path.read_bytes()).to_otio()
