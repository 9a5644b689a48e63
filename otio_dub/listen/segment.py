"""Subtitle conventions: timed words -> events of at most 2 lines of 42 characters, 1-7 s, <= 17 cps.

Pure: no audio, no files. Used by ``transcribe`` (words from ASR) and by the dub's subtitles (a
line's text spread over its fitted speech). An event never spans a pause, a sentence end, a
change of speaker or a clip cut; times are whole frames from the timeline start.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction

_SENTENCE_END = (".", "?", "!", "…", "。", "？", "！")
_CLAUSE_END = (",", ";", ":", "—", "–", "、", "，")


@dataclass(frozen=True)
class Rules:
    """The subtitle rules (Netflix-style defaults); times in seconds, speed in characters/s."""

    max_chars: int = 42
    max_lines: int = 2
    min_s: float = 1.0
    max_s: float = 7.0
    max_cps: float = 17.0
    pause_s: float = 0.5
    gap_frames: int = 2  # frames left free between consecutive events (the eye needs a blank)


DEFAULT_RULES = Rules()


@dataclass(frozen=True)
class Word:
    """One recognised word: seconds from the timeline start, text with its own punctuation."""

    text: str
    start: float
    end: float
    probability: float = 1.0
    speaker: str | None = None
    clip: int = 0  # the index of the clip (shot) the word was heard in: events never cross a cut


@dataclass
class Event:
    """One subtitle event: frames from the timeline start (end exclusive), its lines and words."""

    start: int
    end: int
    lines: list[str]
    words: list[Word] = field(default_factory=list)
    speaker: str | None = None
    clip: int = 0
    lang: str | None = None  # the language its clip was heard in (ISO 639-1)

    @property
    def text(self) -> str:
        """The event's text on one line."""
        return " ".join(self.lines)


def join_words(words: Sequence[Word]) -> str:
    """The words as text, single-spaced."""
    return " ".join(w.text.strip() for w in words if w.text.strip())


def layout(text: str, rules: Rules = DEFAULT_RULES) -> list[str] | None:
    """``text`` broken into at most ``rules.max_lines`` lines of ``rules.max_chars``; None if it cannot be.

    Two lines break after punctuation where possible, else where the lines are most even (the lower
    one longer on a tie, as subtitlers do). A single word longer than a line stands alone on it.
    """
    text = " ".join(text.split())
    if len(text) <= rules.max_chars:
        return [text]
    tokens = text.split(" ")
    if rules.max_lines < 2:
        return None
    best, best_cost = None, math.inf
    for i in range(1, len(tokens)):
        top, bottom = " ".join(tokens[:i]), " ".join(tokens[i:])
        if len(top) > rules.max_chars:
            break
        if len(bottom) > rules.max_chars:
            continue
        cost = abs(len(top) - len(bottom)) + (0.5 if len(top) > len(bottom) else 0)
        if tokens[i - 1].endswith(_SENTENCE_END + _CLAUSE_END):
            cost -= rules.max_chars / 3
        if cost < best_cost:
            best, best_cost = [top, bottom], cost
    if best is None and rules.max_lines > 2:
        head = layout(" ".join(tokens[: len(tokens) // 2]), replace(rules, max_lines=1))
        tail = layout(" ".join(tokens[len(tokens) // 2:]), replace(rules, max_lines=rules.max_lines - 1))
        best = head + tail if head and tail else None
    if best is None and len(tokens) == 1:
        return [text]
    return best


def _fits(words: Sequence[Word], rules: Rules) -> bool:
    return words[-1].end - words[0].start <= rules.max_s and layout(join_words(words), rules) is not None


def _split_cost(words: Sequence[Word], i: int) -> float:
    """Cost of breaking before ``words[i]``: punctuation and pauses are cheap, the middle is preferred."""
    prev = words[i - 1].text.strip()
    gap = max(0.0, words[i].start - words[i - 1].end)
    balance = abs(len(join_words(words[:i])) - len(join_words(words[i:]))) / max(1, len(join_words(words)))
    cost = balance - 3.0 * min(gap, 1.0)
    if prev.endswith(_SENTENCE_END):
        cost -= 2.0
    elif prev.endswith(_CLAUSE_END):
        cost -= 1.0
    return cost


def _split_to_fit(words: list[Word], rules: Rules) -> list[list[Word]]:
    """Split a run of words where cheapest until every part fits the line and length rules."""
    if len(words) <= 1 or _fits(words, rules):
        return [words]
    i = min(range(1, len(words)), key=lambda k: _split_cost(words, k))
    return _split_to_fit(words[:i], rules) + _split_to_fit(words[i:], rules)


def group_words(words: Sequence[Word], rules: Rules = DEFAULT_RULES, *, sentences: bool = True) -> list[list[Word]]:
    """Words in time order -> runs: split at clip cuts, speaker changes, pauses and sentence ends,
    then wherever a run is too long to show (> 7 s or more than two lines of 42 characters).

    ``sentences=False`` gives the voice runs speaker attribution listens to: split at cuts and
    pauses only, as long as the speech allows (a voiceprint of a longer run is surer).
    """
    runs: list[list[Word]] = []
    for word in words:
        if not word.text.strip():
            continue
        last = runs[-1][-1] if runs else None
        if (last is None or word.clip != last.clip or word.speaker != last.speaker
                or word.start - last.end >= rules.pause_s
                or (sentences and last.text.strip().endswith(_SENTENCE_END))):
            runs.append([word])
        else:
            runs[-1].append(word)
    return [part for run in runs for part in _split_to_fit(run, rules)] if sentences else runs


def to_frames(seconds: float | Fraction, rate: Fraction, up: bool = False) -> int:
    """A time in seconds from the timeline start as a whole frame (floored, or ceiled with ``up``)."""
    x = Fraction(seconds) * rate
    return math.ceil(x) if up else math.floor(x)


def time_events(runs: Sequence[Sequence[Word]], rate: Fraction, bounds: Sequence[tuple[int, int]],
                rules: Rules = DEFAULT_RULES) -> list[Event]:
    """Runs -> events on whole frames: from the frame holding the first word's start to the frame
    after the last word's end, then held longer (never past its clip, the next event or 7 s) until
    it lasts 1 s and reads at 17 characters a second where the free time allows.

    ``bounds[clip]`` is the clip's (first frame, end frame) from the timeline start.
    """
    events = []
    for run in runs:
        clip = run[0].clip
        lo, hi = bounds[clip]
        start = min(max(lo, to_frames(run[0].start, rate)), hi - 1)
        end = max(start + 1, min(hi, to_frames(run[-1].end, rate, up=True)))
        lines = layout(join_words(run), rules) or [join_words(run)]
        events.append(Event(start, end, lines, list(run), run[0].speaker, clip))
    events.sort(key=lambda e: (e.start, e.end))
    for i, event in enumerate(events):
        chars = len(event.text)
        want = max(math.ceil(rules.min_s * rate), math.ceil(Fraction(chars) / Fraction(rules.max_cps) * rate))
        want = min(want, math.floor(rules.max_s * rate))
        limit = bounds[event.clip][1]
        later = [e.start for e in events[i + 1:] if e.start >= event.start and e is not event]
        if later:
            limit = min(limit, max(event.end, min(later) - rules.gap_frames))
        event.end = max(event.end, min(event.start + want, limit))
    return events


def segment(words: Sequence[Word], rate: Fraction, bounds: Sequence[tuple[int, int]], rules: Rules = DEFAULT_RULES) -> list[Event]:
    """Timed words -> subtitle events on the timeline's frames (see ``group_words``, ``time_events``)."""
    ordered = sorted(words, key=lambda w: (w.clip, w.start))
    return time_events(group_words(ordered, rules), rate, bounds, rules)


def spread_text(text: str, start: float, end: float, speaker: str | None = None, clip: int = 0) -> list[Word]:
    """A line's text as words spread over ``start``-``end`` in proportion to their length: the timing
    a dubbed line's subtitles get when only its speech span is known."""
    tokens = text.split()
    if not tokens:
        return []
    total = sum(len(t) + 1 for t in tokens)
    words, cursor = [], 0
    for n, token in enumerate(tokens, 1):
        t0 = start + (end - start) * cursor / total
        cursor += len(token) + 1
        t1 = end if n == len(tokens) else start + (end - start) * (cursor - 1) / total  # the last word ends with the speech
        words.append(Word(token, t0, t1, 1.0, speaker, clip))
    return words
