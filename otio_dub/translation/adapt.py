"""Translate lines to fit their windows: candidates from the engine, each one's spoken length predicted
by the voice the dub casts, the one needing the least speed change kept, then the most faithful.

For each line: the budget is its window's speech time (clip minus the fit's pads; borrowing is not
counted on). Round one asks for the translation (an LLM: variants near the length the budget and
the voice's speaking rate allow, with the neighbouring lines as context). A line whose best
candidate is still outside the dub's speed bounds gets a second round: an LLM rewrites it shorter
or longer; a machine translator gets the source without its discourse fillers (layout.condensed).
Among the candidates, differences in speed change under ``SPEED_STEP`` count as none, so meaning
(candidate order: the first is the plain translation) decides between those that fit alike.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..casting.cast import CastEntry
from ..core.hashing import make_key
from ..core.timebase import TimeBase
from ..dialogue.lines import Line
from ..speech.fit import FitPolicy
from . import pick_translator
from .base import Item, Translator, TranslatorError, base_lang, check_answer
from .glossary import Protected, Terms, names_of
from .layout import condensed, fits_two_lines
from .predict import SpokenLength
from .store import TranslationStore

log = logging.getLogger("otio_dub")

SPEED_STEP = 0.05
NEEDS_ADAPTATION = "needs adaptation"


@dataclass(frozen=True)
class Candidate:
    """One translation of a line: its text, the protection it came through, and its predicted speed."""

    text: str
    order: int
    seconds: float
    speed: float
    lost: tuple[str, ...] = ()
    raw: str = ""  # as the engine wrote it (tokens in place): what a rewrite starts from


@dataclass(frozen=True)
class Adapted:
    """A translated line with its fit: budget, predicted length and speed, flags for the adapter."""

    line: Line  # the line in the target language (text, lang)
    original: str
    budget_s: float
    predicted_s: float
    speed: float
    first_text: str
    first_speed: float
    candidates: int
    flags: tuple[str, ...] = ()
    kept: bool = False

    def within(self, policy: FitPolicy) -> bool:
        """Whether the predicted speed is inside the dub's bounds."""
        return policy.max_slowdown <= self.speed <= policy.max_speedup


@dataclass
class Translation:
    """What ``translate_lines`` made: one Adapted per line, and how."""

    rows: list[Adapted]
    source: str
    target: str
    translator: str
    literal: bool
    prediction: dict[str, str]
    cache_hits: int = 0
    engine_calls: int = 0

    @property
    def lines(self) -> list[Line]:
        """The translated lines, ready for the dub."""
        return [row.line for row in self.rows]


def speed_score(speed: float, policy: FitPolicy) -> tuple[float, int]:
    """Sort key of a candidate's fit: how far outside the bounds, then the speed change in ``SPEED_STEP`` s."""
    excess = max(0.0, speed - policy.max_speedup, policy.max_slowdown - speed)
    return round(excess, 3), math.floor(abs(speed - 1.0) / SPEED_STEP + 1e-9)


def choose(candidates: Sequence[Candidate], policy: FitPolicy) -> Candidate:
    """The candidate needing the least speed change (within the bounds first), then the most faithful."""
    usable = [c for c in candidates if not c.lost] or list(candidates)
    return min(usable, key=lambda c: (*speed_score(c.speed, policy), c.order))


def budget_seconds(line: Line, tb: TimeBase, policy: FitPolicy) -> float:
    """Seconds of speech the line's window holds: its clip minus the fit's head and tail pads."""
    samples = tb.samples_between(line.record_in, line.record_out) - 48 * (policy.head_pad_ms + policy.tail_pad_ms)
    return max(1, samples) / 48000


class _Asker:
    """Items to an engine through the store: cached answers are not asked again."""

    def __init__(self, translator: Translator, source: str, target: str, store: TranslationStore) -> None:
        self.translator, self.source, self.target, self.store = translator, source, target, store
        self.identity = translator.identity(source, target)
        self.calls = 0

    def key(self, item: Item) -> str:
        fields = dataclasses.asdict(item) if self.translator.info.rewrites else {"text": item.text}
        return make_key(kind="translation", translator=self.identity, source=self.source, target=self.target, **fields)

    def ask(self, items: Sequence[Item], lines: Sequence[Line]) -> list[list[str]]:
        keys = [self.key(item) for item in items]
        answers: list[list[str] | None] = []
        for key in keys:
            got = self.store.get(key)
            answers.append(got if isinstance(got, list) and got and all(isinstance(g, str) for g in got) else None)
        todo = [i for i, a in enumerate(answers) if a is None]
        if todo:
            name = self.translator.info.name
            try:
                self.calls += 1
                fresh = check_answer(name, [items[i] for i in todo],
                                     self.translator.translate([items[i] for i in todo], self.source, self.target))
            except TranslatorError as exc:
                where = lines[todo[exc.index]].origin or lines[todo[exc.index]].id if exc.index is not None else \
                    f"lines {lines[todo[0]].origin or lines[todo[0]].id} to {lines[todo[-1]].origin or lines[todo[-1]].id}"
                raise TranslatorError(f"{where}: {exc}") from None
            for i, candidates in zip(todo, fresh, strict=True):
                answers[i] = candidates
                self.store.put(keys[i], candidates)
        return [a or [] for a in answers]


def translate_lines(lines: Sequence[Line], tb: TimeBase, target: str, *, source: str | None = None,
                    translator: str | None = None, glossary: Sequence[tuple[str, str]] = (),
                    cast: Mapping[str, CastEntry] | None = None, engine: str = "espeak",
                    policy: FitPolicy | None = None, cache: str | Path | None = None,
                    keep: Mapping[tuple[str, str, str], str] | None = None, fit: bool = True) -> Translation:
    """Every line translated into ``target``, each the candidate that fits its window best (see module doc).

    ``keep`` maps (TC IN, TC OUT, original text) to a translation to use verbatim (a hand-corrected
    bilingual list); ``fit=False`` keeps the first candidate (no second round): plain translation.
    """
    policy, cast, keep = policy or FitPolicy(), cast or {}, keep or {}
    target = target.replace("_", "-").lower()  # BCP 47 is case-blind; voices are named in lower case (pt-br)
    source = source or next((ln.lang for ln in lines if ln.lang), "en")
    if base_lang(source) == base_lang(target) and source.lower() == target.lower():
        raise TranslatorError(f"the lines are already in {target}: nothing to translate")
    chosen_translator = pick_translator(source, target, translator)
    store = TranslationStore(cache)
    asker = _Asker(chosen_translator, source, target, store)
    predictor = SpokenLength(lines, target, cast, engine, store, responses=cache)
    terms = Terms(glossary, names_of([ln.character for ln in lines]))
    rewrites = chosen_translator.info.rewrites
    budgets = [budget_seconds(ln, tb, policy) for ln in lines]
    texts = [ln.text for ln in lines]

    def item(index: int, protected: Protected, want: str = "translate", draft: str | None = None) -> Item:
        if not rewrites:
            return Item(protected.text, placeholders=protected.tokens)
        rate = predictor.chars_per_second(lines[index])
        return Item(protected.text, round(budgets[index] * rate), tuple(texts[max(0, index - 1):index]),
                    tuple(texts[index + 1:index + 2]), want, draft, protected.tokens)

    def candidates_of(index: int, protected: Protected, raws: Sequence[str], start: int) -> list[Candidate]:
        out = []
        for n, raw in enumerate(raws):
            text, lost = protected.restore(raw)
            seconds = predictor.seconds(lines[index], text)
            out.append(Candidate(text, start + n, seconds, seconds / budgets[index], tuple(lost), raw))
        return out

    todo = [i for i, ln in enumerate(lines) if not keep.get(_keep_key(ln, tb))]
    protected = {i: terms.protect(texts[i]) for i in todo}
    answers = asker.ask([item(i, protected[i]) for i in todo], [lines[i] for i in todo]) if todo else []
    found = {i: candidates_of(i, protected[i], raws, 0) for i, raws in zip(todo, answers, strict=True)}
    if fit:
        _second_round(found, todo, lines, texts, protected, policy, rewrites, terms, asker, item, candidates_of)
    rows = []
    for index, line in enumerate(lines):
        kept = keep.get(_keep_key(line, tb))
        if kept:
            seconds = predictor.seconds(line, kept)
            pick = first = Candidate(kept, 0, seconds, seconds / budgets[index])
            count = 0
        else:
            pick = choose(found[index], policy) if fit else found[index][0]
            first, count = found[index][0], len(found[index])
        flags = [f"glossary term lost: {', '.join(pick.lost)}"] if pick.lost else []
        if pick.speed > policy.max_speedup:
            flags.append(f"{NEEDS_ADAPTATION}: too long")
        elif pick.speed < policy.max_slowdown:
            flags.append(f"{NEEDS_ADAPTATION}: too short")
        if not fits_two_lines(pick.text):
            flags.append("subtitle over two lines")
        if kept:
            flags.append("kept")
        new = dataclasses.replace(line, text=pick.text, lang=target, extra={**line.extra, "original_text": line.text})
        rows.append(Adapted(new, line.text, budgets[index], pick.seconds, pick.speed, first.text, first.speed, count,
                            tuple(flags), bool(kept)))
    return Translation(rows, source, target, chosen_translator.info.name, chosen_translator.info.literal,
                       dict(predictor.method), store.hits, asker.calls)


def _second_round(found: dict, todo: list[int], lines: Sequence[Line], texts: list[str], protected: dict,
                  policy: FitPolicy, rewrites: bool, terms: Terms, asker: _Asker, item: Callable[..., Item],
                  candidates_of: Callable[..., list[Candidate]]) -> None:
    """Ask again for the lines whose best candidate is outside the bounds: rewrites, or the condensed source."""
    again, items, guards = [], [], []
    for i in todo:
        best = choose(found[i], policy)
        if not speed_score(best.speed, policy)[0]:
            continue
        if rewrites:
            want = "shorter" if best.speed > policy.max_speedup else "longer"
            items.append(item(i, protected[i], want=want, draft=best.raw))
            guards.append(protected[i])
        else:
            short = condensed(texts[i])
            if best.speed < policy.max_slowdown or short == texts[i]:
                continue
            guard = terms.protect(short)
            items.append(item(i, guard))
            guards.append(guard)
        again.append(i)
    if not again:
        return
    answers = asker.ask(items, [lines[i] for i in again])
    for i, guard, raws in zip(again, guards, answers, strict=True):
        found[i] = found[i] + candidates_of(i, guard, raws, len(found[i]))


def _keep_key(line: Line, tb: TimeBase) -> tuple[str, str, str]:
    return tb.tc(line.record_in), tb.tc(line.record_out), line.text
