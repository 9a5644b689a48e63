"""The reviewer's notes back into the edit: a marker per noted dub clip, and the lines to redo.

``review-notes.json`` (what the review page downloads) is::

    {"otio_dub_review": 1, "timeline": "scene",
     "redo": ["003-ANNA", "008-ANNA"],                  # feeds `otio-dub dub ... --only-lines` as it is
     "notes": [{"id": "003-ANNA", "verdict": "redo", "comment": "too fast", "take": "<take key>",
                "text": "optional new wording", "rate": 0.95}, ...]}

``verdict`` is ``approve``, ``redo`` or null (a comment alone); ``take`` is the render key of the
take the reviewer heard, so a note on an earlier take is reported as such. A file with only a
``redo`` list is accepted too (every id a redo without comment).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import opentimelineio as otio

from ..audio.bwf import write_text_atomic
from ..core.errors import InputError
from ..dialogue.lines import METADATA_KEY, is_dub
from ..timelines.formats import FORMATS, write_timeline
from .data import REVIEW_ROLE, clock, dub_timeline_path, read_dub_timeline, read_report, review_marker

VERDICTS = ("approve", "redo")
_MARKER = {"approve": ("APPROVED", otio.schema.MarkerColor.GREEN), "redo": ("REDO", otio.schema.MarkerColor.RED),
           None: ("NOTE", otio.schema.MarkerColor.CYAN)}


@dataclass(frozen=True)
class Note:
    """One line's note: verdict (approve / redo / None), comment, the take heard, optional overrides."""

    id: str
    verdict: str | None
    comment: str = ""
    take: str = ""
    text: str | None = None  # new wording for the redo
    rate: float | None = None  # pace multiplier for the redo (1.1 = 10% faster)

    def marker_name(self) -> str:
        """``REDO: comment`` / ``APPROVED`` / ``NOTE: comment``: what the editor reads on the clip."""
        label = _MARKER[self.verdict][0]
        return f"{label}: {self.comment}" if self.comment else label

    def as_metadata(self) -> dict:
        """What the clip's ``otio_dub.review`` metadata keeps (the re-dub reads overrides from it)."""
        meta: dict[str, object] = {"verdict": self.verdict, "comment": self.comment, "take": self.take}
        if self.text is not None:
            meta["text"] = self.text
        if self.rate is not None:
            meta["rate"] = self.rate
        return meta


@dataclass(frozen=True)
class Notes:
    """A parsed notes file."""

    path: Path
    timeline: str | None
    notes: list[Note]

    @property
    def redo(self) -> list[str]:
        """The ids to speak again, in the file's order."""
        return [n.id for n in self.notes if n.verdict == "redo"]

    def overrides(self) -> dict[str, dict]:
        """Per redo line id, the ``text`` / ``rate`` the reviewer asked for (only those given)."""
        found = {}
        for n in self.notes:
            wanted = {k: v for k, v in (("text", n.text), ("rate", n.rate)) if v is not None}
            if n.verdict == "redo" and wanted:
                found[n.id] = wanted
        return found


@dataclass
class NotesResult:
    """What ``otio-dub notes`` did: files rewritten and the lines by verdict, in record order."""

    timeline_path: Path
    files: list[Path] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)  # id, record_in, character, verdict, comment, stale
    stale: list[str] = field(default_factory=list)  # notes made on an earlier take than the one in the dub

    @property
    def redo(self) -> list[str]:
        """The redo line ids, ready for ``--only-lines`` (joined with commas)."""
        return [r["id"] for r in self.rows if r["verdict"] == "redo"]

    @property
    def approved(self) -> list[str]:
        """The approved line ids."""
        return [r["id"] for r in self.rows if r["verdict"] == "approve"]

    @property
    def only_lines(self) -> str:
        """The ``--only-lines`` value that re-speaks the redo lines."""
        return ",".join(self.redo)


def _text(value: object, where: str, path: Path, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(str(path), f"{name} must be text", where)
    return value


def _note(raw: object, index: int, path: Path) -> Note:
    where = f"note {index + 1}"
    if not isinstance(raw, dict):
        raise InputError(str(path), "must be an object with an id", where)
    lid = raw.get("id")
    if not isinstance(lid, str) or not lid.strip():
        raise InputError(str(path), "has no line id ('id')", where)
    where = f"note {index + 1} ({lid})"
    verdict = raw.get("verdict")
    if verdict == "approved":
        verdict = "approve"
    if verdict not in (*VERDICTS, None):
        raise InputError(str(path), f"verdict must be approve, redo or null, not {verdict!r}", where)
    rate = raw.get("rate")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate)
                             or not 0.5 <= rate <= 2.0):
        raise InputError(str(path), f"rate must be a number from 0.5 to 2.0, not {rate!r}", where)
    text = raw.get("text")
    if text is not None and not isinstance(text, str):
        raise InputError(str(path), "text must be the new wording of the line", where)
    return Note(lid.strip(), verdict, _text(raw.get("comment"), where, path, "comment").strip(),
                _text(raw.get("take"), where, path, "take"), text.strip() if text else None,
                float(rate) if rate is not None else None)


def load_notes(path: str | Path) -> Notes:
    """Read and check a ``review-notes.json``; any problem is one InputError naming the file."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(str(path), "notes file not found") from None
    except json.JSONDecodeError as exc:
        raise InputError(str(path), f"not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), f"cannot read ({exc})") from None
    if not isinstance(doc, dict) or not ("notes" in doc or "redo" in doc):
        raise InputError(str(path), "not a review notes file (expected an object with 'notes' or 'redo')")
    raw_notes, redo = doc.get("notes", []), doc.get("redo", [])
    if not isinstance(raw_notes, list):
        raise InputError(str(path), "'notes' must be a list")
    if not isinstance(redo, list) or not all(isinstance(i, str) and i.strip() for i in redo):
        raise InputError(str(path), "'redo' must be a list of line ids")
    notes = [_note(raw, i, path) for i, raw in enumerate(raw_notes)]
    seen: set[str] = set()
    for n in notes:
        if n.id in seen:
            raise InputError(str(path), f"line {n.id!r} is noted twice")
        seen.add(n.id)
    notes += [Note(i.strip(), "redo") for i in redo if i.strip() not in seen]  # a hand-written redo list
    timeline = doc.get("timeline")
    return Notes(path, timeline if isinstance(timeline, str) else None, notes)


def _dub_clips(timeline: otio.schema.Timeline) -> dict[str, otio.schema.Clip]:
    found: dict[str, otio.schema.Clip] = {}
    for track in timeline.tracks:
        if is_dub(track):
            for clip in track.find_clips():
                meta = clip.metadata.get(METADATA_KEY) or {}
                found.setdefault(str(meta.get("line_id") or clip.name), clip)
    return found


def mark_clip(clip: otio.schema.Clip, note: Note) -> None:
    """Replace the clip's review marker (if any) with one for ``note``, over the whole clip."""
    old = review_marker(clip)
    if old is not None:
        clip.markers.remove(old)
    name, color = _MARKER[note.verdict]
    clip.markers.append(otio.schema.Marker(
        name=note.marker_name(), marked_range=clip.trimmed_range(), color=color, comment=note.comment,
        metadata={METADATA_KEY: {"role": REVIEW_ROLE, "note": note.as_metadata()}}))
    meta = dict(clip.metadata.get(METADATA_KEY) or {})
    meta["review"] = note.as_metadata()
    clip.metadata[METADATA_KEY] = meta


#: Exported formats whose writers carry clip markers (AAF and EDL leave markers to the .dub.otio:
#: rewriting them would change nothing the NLE shows, and could turn an embedded AAF into a linked one).
MARKER_FORMATS = ("xml", "fcpxml", "fcpxmld", "otioz", "otiod")


def exported_formats(out_dir: Path, name: str) -> list[str]:
    """The marker-carrying ``--to`` formats the dub wrote beside its ``.dub.otio`` (found by file name)."""
    return [fmt for fmt in MARKER_FORMATS if (out_dir / f"{name}.dub{FORMATS[fmt][1]}").exists()]


def apply_notes(dub_dir: str | Path, notes_path: str | Path) -> NotesResult:
    """Put each note on its dub clip as a marker (``REDO: comment`` red, ``APPROVED`` green, ``NOTE``
    cyan) in the ``.dub.otio`` and the exported NLE files that carry markers; rebuild the review page.

    Every note must name a line of this dub; nothing is written otherwise. A later notes file
    replaces the markers of the lines it notes and leaves the others.
    """
    from .page import write_review

    out = Path(dub_dir)
    notes = load_notes(notes_path)
    report = read_report(out)
    tl_path = dub_timeline_path(out, report)
    if notes.timeline and report.get("timeline") and notes.timeline != report["timeline"]:
        raise InputError(str(notes.path), f"notes are for timeline {notes.timeline!r}, this dub is {report['timeline']!r}")
    timeline = read_dub_timeline(tl_path)
    tb = clock(timeline, report)
    clips = _dub_clips(timeline)
    unknown = [n.id for n in notes.notes if n.id not in clips]
    if unknown:
        listed = ", ".join(repr(i) for i in unknown[:3]) + (f" and {len(unknown) - 3} more" if len(unknown) > 3 else "")
        raise InputError(str(notes.path), f"line(s) {listed} not in {tl_path.name}")
    rows_by_id = {str(r.get("id")): r for r in report["lines"]}
    result = NotesResult(tl_path)
    by_id = {n.id: n for n in notes.notes}
    for lid, clip in clips.items():
        note = by_id.get(lid)
        if note is None:
            continue
        mark_clip(clip, note)
        key = str((clip.metadata.get(METADATA_KEY) or {}).get("key") or "")
        stale = bool(note.take and key and note.take != key)
        if stale:
            result.stale.append(lid)
        row = rows_by_id.get(lid, {})
        result.rows.append({"id": lid, "record_in": row.get("record_in") or "", "character": row.get("character") or "",
                            "verdict": note.verdict, "comment": note.comment, "stale": stale, "text": row.get("text") or ""})
    result.rows.sort(key=lambda r: (r["record_in"], r["id"]))
    name = tl_path.name[: -len(".dub.otio")]
    for fmt in exported_formats(out, name):  # the NLE files first; the .dub.otio, the reference, last
        # the export is the editor's file with the dub added: patch it again (its own stamps are replaced)
        result.files += write_timeline(timeline, out, name, fmt, tb, source=out / f"{name}.dub{FORMATS[fmt][1]}")
    result.files.append(write_text_atomic(tl_path, otio.adapters.write_to_string(timeline, "otio_json")))
    result.files.append(write_review(out))
    return result
