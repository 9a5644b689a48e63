"""Terms kept verbatim: character names and a glossary file, protected by placeholders through translation.

A glossary is a UTF-8 file of ``source<TAB>target`` rows (CSV ``source,target`` too; ``#`` starts a
comment; an optional ``SOURCE, TARGET`` header). Before translation every term found in a line
becomes a placeholder token (``__T0__``) the engines pass through untouched; after it, the token
becomes the target term (a name: itself, as written in the line). A candidate that lost a token is
dropped; a line whose every candidate lost one is flagged.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import InputError

_TOKEN = "__T{}__"
#: A token as engines hand it back: re-cased, spaced out or with an underscore lost (``__ T0 __``, ``_t0_``)
_LOOSE = r"_{{1,2}}\s*T\s*{}\s*_{{1,2}}"
#: What is left of any token an engine mangled past recognition of its number
_DEBRIS = re.compile(r"_{1,2}\s*T\s*\d+\s*_{1,2}", re.IGNORECASE)


@dataclass(frozen=True)
class Protected:
    """A line with its terms replaced by tokens, and what each token becomes after translation."""

    text: str
    terms: tuple[tuple[str, str], ...]  # (token, target text)

    @property
    def tokens(self) -> tuple[str, ...]:
        """The placeholder tokens in the protected text."""
        return tuple(token for token, _ in self.terms)

    def restore(self, translated: str) -> tuple[str, list[str]]:
        """The translation with each token replaced by its term; the terms whose token was lost."""
        lost = []
        for token, target in self.terms:  # a token an engine re-cased or spaced out (__ t0 __) is still the token
            number = token[len("__T"):-len("__")]
            loose = re.compile(_LOOSE.format(re.escape(number)), re.IGNORECASE)
            translated, count = loose.subn(target.replace("\\", "\\\\"), translated)  # the term, literally
            if not count:
                lost.append(target)
        translated = _DEBRIS.sub(" ", translated)  # never voice a placeholder's remains
        return " ".join(translated.split()), lost


def read_glossary(path: str | Path) -> list[tuple[str, str]]:
    """``(source, target)`` pairs of a glossary file; errors name the file and the line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "glossary file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    delimiter = "\t" if "\t" in text or path.suffix.lower() == ".tsv" else ","
    pairs: list[tuple[str, str]] = []
    for number, row in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), 1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        cells = [c.strip() for c in row]
        if number == 1 and [c.lower() for c in cells[:2]] == ["source", "target"]:
            continue
        if len(cells) < 2 or not cells[0] or not cells[1] or any(c for c in cells[2:]):
            raise InputError(str(path), "a row must be: source term, target term", where=f"line {number}")
        pairs.append((cells[0], cells[1]))
    return pairs


def _pattern(term: str) -> re.Pattern[str]:
    edge_l = r"(?<!\w)" if term[:1].isalnum() or term[:1] == "_" else ""
    edge_r = r"(?!\w)" if term[-1:].isalnum() or term[-1:] == "_" else ""
    return re.compile(edge_l + re.escape(term) + edge_r, re.IGNORECASE)


class Terms:
    """Names and glossary terms to protect (longest first, so "New York Times" wins over "New York")."""

    def __init__(self, glossary: Iterable[tuple[str, str]] = (), names: Iterable[str] = ()) -> None:
        entries: dict[str, str | None] = {}
        for name in names:
            if name and name.strip():
                entries.setdefault(name.strip(), None)  # a name stays as the line writes it
        for source, target in glossary:
            entries[source] = target
        self.entries = sorted(entries.items(), key=lambda e: -len(e[0]))
        self.patterns = [(_pattern(source), target) for source, target in self.entries]

    def protect(self, text: str) -> Protected:
        """``text`` with each term found replaced by a token."""
        terms: list[tuple[str, str]] = []
        for pattern, target in self.patterns:
            def swap(match: re.Match[str], target: str | None = target) -> str:
                token = _TOKEN.format(len(terms))
                terms.append((token, target if target is not None else match.group(0)))
                return token
            text = pattern.sub(swap, text)
        return Protected(text, tuple(terms))


def names_of(characters: Sequence[str], ignore: Sequence[str] = ("SPEAKER",)) -> list[str]:
    """Character names worth protecting in the text: each as written (``ANNA`` matches Anna, ANNA)."""
    return [c for c in dict.fromkeys(characters) if c and c not in ignore and len(c) > 1]
