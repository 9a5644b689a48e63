"""Dialogue lists (spotting lists): CSV/TSV rows of timecode in, timecode out, character, line.

The format dubbing studios exchange. A header row names the columns (``TC IN``, ``TC OUT``,
``CHARACTER``, ``LINE`` and optional ``LANG``, ``EMOTION``, ``GENDER``; common synonyms accepted); without
one the first four columns are taken in that order. Times are absolute timecode. ``GENDER`` (or
``VOICE TYPE``: female/male, F/M) is the character's, evidence automatic casting keeps to.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ..core.errors import InputError
from ..core.timebase import parse_timecode
from .script import clean_text, extract_emotion, normal_gender, split_speaker

LIST_SUFFIXES = (".csv", ".tsv")
_COLUMNS = {
    "in": ("tc in", "tc_in", "in", "timecode in", "record in", "start", "source in"),
    "out": ("tc out", "tc_out", "out", "timecode out", "record out", "end", "source out"),
    "character": ("character", "char", "speaker", "role", "name", "actor"),
    "line": ("line", "dialogue", "dialog", "text", "translation"),
    "lang": ("lang", "language"),
    "emotion": ("emotion", "mood"),
    "gender": ("gender", "voice type", "voice_type", "sex"),
}


@dataclass(frozen=True)
class ListEntry:
    """One row: absolute frames (end exclusive) at the list's rate, and the row's file line number."""

    row: int
    tc_in: int
    tc_out: int
    character: str | None
    text: str
    lang: str | None
    emotion: str | None
    gender: str | None = None  # as written in the GENDER column (checked by the casting code)


def _column_map(header: list[str]) -> dict[str, int] | None:
    names = [h.strip().lower() for h in header]
    found = {key: names.index(alias) for key, aliases in _COLUMNS.items() for alias in aliases if alias in names}
    return found if {"in", "out", "line"} <= set(found) else None


def parse_dialogue_list(text: str, rate: Fraction, source: str = "dialogue list", delimiter: str | None = None) -> list[ListEntry]:
    """Rows of a dialogue list; errors name the file and the line."""
    if delimiter is None:
        sample = "\n".join(text.splitlines()[:5])
        delimiter = "\t" if sample.count("\t") > sample.count(",") and sample.count("\t") > sample.count(";") else (
            ";" if sample.count(";") > sample.count(",") else ",")
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    entries: list[ListEntry] = []
    columns = {"in": 0, "out": 1, "character": 2, "line": 3}
    for number, row in enumerate(rows, 1):
        if not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        header = _column_map(row) if not entries and number <= 3 else None
        if header:
            columns = header
            continue
        where = f"line {number}"
        try:
            cells = {key: row[index].strip() if index < len(row) else "" for key, index in columns.items()}
            tc_in = parse_timecode(cells["in"], rate)
            tc_out = parse_timecode(cells["out"], rate)
        except ValueError as exc:
            raise InputError(source, str(exc), where=where) from None
        if tc_out <= tc_in:
            raise InputError(source, f"timecode out {cells['out']} is not after timecode in {cells['in']}", where=where)
        emotion, body = extract_emotion(cells["line"], f"{source}: {where}")
        prefixed, body = split_speaker(clean_text(body))
        body = clean_text(body)
        if not body:
            raise InputError(source, "has no text to speak", where=where)
        gender = cells.get("gender") or None
        if gender is not None and normal_gender(gender) is None:
            raise InputError(source, f"GENDER {gender!r} is not female or male (F/M, woman/man, or a voice type: "
                                     "soprano, alto, tenor, baritone, bass...); leave the cell empty if unknown", where=where)
        entries.append(ListEntry(number, tc_in, tc_out, cells.get("character") or prefixed, body,
                                 cells.get("lang") or None, (cells.get("emotion") or emotion or None),
                                 normal_gender(gender) if gender else None))
    if not entries:
        raise InputError(source, "the dialogue list has no rows")
    return entries


def read_dialogue_list(path: str | Path, rate: Fraction) -> list[ListEntry]:
    """Read a dialogue list file (UTF-8, with or without BOM; tab-separated for .tsv)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "dialogue list not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse_dialogue_list(text, rate, str(path), "\t" if path.suffix.lower() == ".tsv" else None)


def format_dialogue_list(rows: list[tuple[str, ...]], delimiter: str = ",") -> str:
    """CSV/TSV text with a header: TC IN, TC OUT, CHARACTER, LINE, LANG, EMOTION, GENDER (rows of six
    cells leave GENDER empty)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(["TC IN", "TC OUT", "CHARACTER", "LINE", "LANG", "EMOTION", "GENDER"])
    writer.writerows([(*row, "")[:7] if len(row) == 6 else row for row in rows])
    return out.getvalue()
