"""What every translator provides: one loaded instance, batches of lines in, candidates per line out.

A translator gets :class:`Item` s (the text with protected terms as placeholders, the length the
line's window wants, the lines around it, and, for a rewrite, the draft to shorten or lengthen) and
returns, for each item, its candidates in order of preference for meaning (the first is the plain
translation). Machine translation returns one candidate where its model gives one; an LLM returns
variants at the target length and rewrites (``info.rewrites``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ..core.errors import OtioDubError


class TranslatorError(OtioDubError):
    """A translator is missing, cannot translate a pair, or failed (names the line where it can).

    ``index`` is the item of the batch the error is about, when it is about one: the caller names it.
    """

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


@dataclass(frozen=True)
class TranslatorInfo:
    """What a translator declares about itself (shown by ``otio-dub translate --list``)."""

    name: str
    version: str
    licence: str
    offline: bool
    literal: bool = False  # rule-based, word for word: a human adapter should read every line
    rewrites: bool = False  # can answer "shorter"/"longer" rewrites and several variants


@dataclass(frozen=True)
class Item:
    """One line to translate: protected text, target length in characters, context, and a rewrite request."""

    text: str
    target_chars: int | None = None
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    want: str = "translate"  # translate | shorter | longer
    draft: str | None = None  # the current translation, for a rewrite
    placeholders: tuple[str, ...] = field(default_factory=tuple)  # tokens to keep exactly as written


@runtime_checkable
class Translator(Protocol):
    """A loaded translator: ``translate`` must return one list of candidates per item, in item order."""

    info: TranslatorInfo

    def supports(self, source: str, target: str) -> bool:
        """Whether this translator can translate ``source`` -> ``target`` (BCP 47 codes)."""
        ...

    def identity(self, source: str, target: str) -> dict:
        """What decides its output besides the text (model, version): part of the cache key."""
        ...

    def translate(self, items: Sequence[Item], source: str, target: str) -> list[list[str]]:
        """Candidates for each item (at least one each), first the plainest translation."""
        ...


def base_lang(code: str | None) -> str:
    """``'pt-BR'`` -> ``'pt'``: the language without region or script."""
    return (code or "").replace("_", "-").split("-")[0].lower()


def check_answer(name: str, items: Sequence[Item], answer: list[list[str]]) -> list[list[str]]:
    """An engine's answer, checked: one non-empty list of non-empty strings per item, else an error naming the item."""
    if len(answer) != len(items):
        raise TranslatorError(f"{name}: answered {len(answer)} lines for {len(items)}")
    for index, candidates in enumerate(answer):
        if not candidates or not all(isinstance(c, str) and c.strip() for c in candidates):
            raise TranslatorError(f"{name}: no translation for this line", index=index)
    return [[" ".join(c.split()) for c in candidates] for candidates in answer]
