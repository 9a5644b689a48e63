"""An FCP7 XML (xmeml) document patched in its own text: every byte of the editor's file is kept.

lxml parses the file (checking it is well-formed, and answering where things are); edits are then
made to the document's text itself, so whatever is not edited keeps its exact bytes: the XML
declaration and DOCTYPE, ``<name></name>`` against ``<name/>``, ``&quot;`` against ``"``, attribute
quotes, line ends and indentation. An element is inserted as a line of its own (the document's line
end and indent unit, at its depth) right after the element it follows, so the whitespace that was
there stays after it; removing it takes it with the whitespace before it, which gives back the text
that was there before it was inserted. Elements are found in the text by a scan of its markup that
numbers the elements in document order, as lxml does.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from ..core.errors import InputError

#: The markup of a well-formed document, one construct a match; elements are the start/end groups
_MARKUP = re.compile(r"""
    <!--.*?-->
  | <!\[CDATA\[.*?\]\]>
  | <\?.*?\?>
  | <!DOCTYPE(?:[^\[>"']+|"[^"]*"|'[^']*')*(?:\[(?:<!--.*?-->|"[^"]*"|'[^']*'|[^\]"'])*\])?\s*>
  | </(?P<end>[^\s>]+)\s*>
  | <(?P<start>[^\s/>!?]+)(?:\s+[^\s=]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*(?P<empty>/?)>
""", re.DOTALL | re.VERBOSE)
_SPACE = " \t\r\n"


@dataclass(frozen=True)
class _Span:
    start: int  # where the start tag begins
    open_end: int  # where the start tag ends
    end: int  # where the end tag ends (an empty-element tag: open_end)
    empty: bool


@dataclass
class Document:
    """A parsed xmeml file: its text and tree, and the insertions and removals to make to the text."""

    path: Path
    text: str
    root: etree._Element
    encoding: str
    newline: str
    unit: str | None  # one level of indentation ("\t", "    "); None for a document without line breaks
    removed: list[etree._Element] = field(default_factory=list)
    inserted: list[tuple[etree._Element, etree._Element | None, etree._Element]] = field(default_factory=list)

    def remove(self, element: etree._Element) -> None:
        """Take ``element`` (an element of the file) out of the text, with the whitespace before it."""
        self.removed.append(element)

    def insert_after(self, parent: etree._Element, anchor: etree._Element | None, new: etree._Element) -> None:
        """Put ``new`` in ``parent`` (an element of the file) after its child ``anchor`` (None: first)."""
        self.inserted.append((parent, anchor, new))


def read_document(path: Path) -> Document:
    """Parse ``path`` (entities never resolved, no network); one InputError line if it is no FCP7 XML."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True,
                             remove_blank_text=False, remove_comments=False, strip_cdata=False)
    try:
        data = path.read_bytes()
        root = etree.fromstring(data, parser)
    except OSError as exc:
        raise InputError(str(path), f"cannot read FCP7 XML ({exc.strerror or exc})") from None
    except etree.XMLSyntaxError as exc:
        detail = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "syntax error")
        raise InputError(str(path), f"not well-formed XML ({detail})") from None
    if root.tag != "xmeml":
        raise InputError(str(path), f"not an FCP7 XML document (its root is <{root.tag}>, not <xmeml>)")
    encoding = _codec(data, root.getroottree().docinfo.encoding or "UTF-8")
    try:
        text = data.decode(encoding)
    except (LookupError, UnicodeDecodeError) as exc:
        raise InputError(str(path), f"cannot decode FCP7 XML as {encoding} ({exc})") from None
    newline = "\r\n" if "\r\n" in text[:4096] else "\n"
    return Document(Path(path), text, root, encoding, newline, _indent_unit(root))


def _codec(data: bytes, declared: str) -> str:
    """The codec that gives back ``data`` byte for byte: a UTF-16 file's own byte order (its BOM kept as
    the text's first character and written back), else the encoding lxml found."""
    if declared.upper().replace("_", "-") in ("UTF-16", "UTF-16LE", "UTF-16BE"):
        if data.startswith((codecs.BOM_UTF16_LE, b"<\0")):  # with its BOM, or without one ('<' first)
            return "utf-16-le"
        if data.startswith((codecs.BOM_UTF16_BE, b"\0<")):
            return "utf-16-be"
    return declared


def write_document(doc: Document, target: Path) -> None:
    """Write the document's text with its insertions and removals made, in its own encoding."""
    spans = _spans(doc, [*doc.removed, *(p for p, _, _ in doc.inserted), *(a for _, a, _ in doc.inserted if a is not None)])
    edits: list[tuple[int, int, str]] = []
    for element in doc.removed:
        span = spans[element]
        start = span.start
        while start > 0 and doc.text[start - 1] in _SPACE:
            start -= 1
        edits.append((start, span.end, ""))
    for parent in dict.fromkeys(p for p, _, _ in doc.inserted):  # each parent once, in order of insertion
        edits += _insertions(doc, spans, parent)
    out, pos = [], 0
    for start, end, text in sorted(edits, key=lambda e: (e[0], e[1])):
        if start < pos:
            raise InputError(str(doc.path), "overlapping edits (an element otio-dub adds inside one it removes)")
        out += [doc.text[pos:start], text]
        pos = end
    out.append(doc.text[pos:])
    target.write_bytes("".join(out).encode(doc.encoding, errors="xmlcharrefreplace"))


def _insertions(doc: Document, spans: dict[etree._Element, _Span], parent: etree._Element) -> list[tuple[int, int, str]]:
    """The text edits that put the new children of ``parent`` in place."""
    span = spans[parent]
    level = depth(parent) + 1
    pieces = [(spans[a].end if a is not None else span.open_end, _serialized(doc, new, level))
              for p, a, new in doc.inserted if p is parent]
    if not span.empty:
        return [(at, at, text) for at, text in pieces]
    # <audio/>: its empty-element tag opened, the new children in it, then its end tag
    close = doc.text.rindex("/", span.start, span.open_end)
    opened = _MARKUP.match(doc.text, span.start)
    assert opened is not None  # the span starts at a tag the scan matched
    tag = opened.group("start")
    return [(close, span.open_end, ">" + "".join(text for _, text in pieces) + f"</{tag}>")]


def _serialized(doc: Document, element: etree._Element, level: int) -> str:
    """``element`` as text on a line of its own at ``level``, laid out as the document is."""
    if doc.unit is None:
        return etree.tostring(element, encoding="unicode", with_tail=False)
    etree.indent(element, space=doc.unit, level=level)
    text = etree.tostring(element, encoding="unicode", with_tail=False)
    return (doc.newline + doc.unit * level + text).replace("\r\n", "\n").replace("\n", doc.newline)


def _spans(doc: Document, elements: list[etree._Element]) -> dict[etree._Element, _Span]:
    """Where each of ``elements`` is in the text: its number in document order, found by the markup scan."""
    wanted = set(elements)
    number = {el: i for i, el in enumerate(doc.root.iter(etree.Element)) if el in wanted}
    by_number = {i: el for el, i in number.items()}
    spans: dict[etree._Element, _Span] = {}
    open_: list[tuple[int, int, int]] = []  # (element number, start, start tag end)
    count = 0
    for match in _MARKUP.finditer(doc.text):
        if match.group("start") is not None:
            if count in by_number and _local(match.group("start")) != _local(by_number[count].tag):
                raise InputError(str(doc.path), f"cannot locate <{by_number[count].tag}> in the text")
            if match.group("empty"):
                if count in by_number:
                    spans[by_number[count]] = _Span(match.start(), match.end(), match.end(), True)
            else:
                open_.append((count, match.start(), match.end()))
            count += 1
        elif match.group("end") is not None and open_:
            n, start, open_end = open_.pop()
            if n in by_number:
                spans[by_number[n]] = _Span(start, open_end, match.end(), False)
    missing = [el.tag for el in wanted if el not in spans]
    if missing:
        raise InputError(str(doc.path), f"cannot locate <{missing[0]}> in the text")
    return spans


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def _indent_unit(root: etree._Element) -> str | None:
    """One level of indentation as the document uses it (the whitespace before the root's first child)."""
    text = root.text or ""
    if "\n" not in text or text.strip():
        return None
    return text.rsplit("\n", 1)[1] or None


def depth(element: etree._Element) -> int:
    """How many elements enclose ``element`` (the root: 0)."""
    return sum(1 for _ in element.iterancestors())
