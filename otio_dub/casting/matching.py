"""Voice matching: cast each character with the engine voice closest to the original actor.

For each character the original speech under its lines is gathered from the dialogue clips' media
(cleaned by DeepFilterNet3 when the listen extra is there, as for ``--align guide``), and measured:
median F0 and its 10-90% range (YIN), and a voiceprint (resemblyzer). Every candidate voice of the
engines asked for speaks one reference passage once; its measures are cached on disk. Characters
get distinct voices by a minimum-cost assignment (voiceprint distance plus the pitch shift still
needed, neural voices preferred to espeak), then a formant-preserving pitch offset that brings the
voice's median F0 to the actor's, bounded to +-``MAX_SHIFT`` semitones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio import dsp
from ..core.errors import OtioDubError
from ..dialogue.lines import Line
from ..engines import get_engine
from ..engines import voice_quality as quality
from .auto import evidence
from .voice_refs import Candidate, Measure, candidate_measure, candidates, measure, reference_passage

log = logging.getLogger("otio_dub")

#: The pitch offset a matched voice may get, in semitones either way (Rubber Band, formants kept).
MAX_SHIFT = 5.0
#: Speech gathered per character: enough for a stable voiceprint and F0, bounded for speed.
MAX_ACTOR_SECONDS = 30.0
#: Cost of a needed shift of one octave, next to a voiceprint distance (0 same voice .. ~1).
PITCH_WEIGHT = 1.0
#: Extra cost of an espeak voice where a neural voice can speak the language.
ESPEAK_PENALTY = 0.1
NEURAL = ("piper", "kokoro")
#: Cost of a voice of the other gender than the actor's F0 says (an assignment takes it only when forced).
CROSS_GENDER = 100.0


@dataclass(frozen=True)
class MatchResult:
    """A character's matched voice and the evidence for it (``engine`` None: no evidence)."""

    character: str
    lang: str
    engine: str | None = None
    voice: str | None = None
    speaker: int | None = None
    semitones: float = 0.0
    actor_f0: float | None = None
    voice_f0: float | None = None
    similarity: float | None = None
    seconds: float = 0.0
    note: str = ""

    @property
    def evidence(self) -> bool:
        """Whether the original actor was heard (else the automatic voice stays)."""
        return self.engine is not None

    def comment(self) -> str:
        """Why this voice: ``actor F0 212 Hz; en-us+f3 +1.5 st; similarity 0.81``."""
        if not self.evidence:
            return f"no evidence: {self.note}; automatic voice"
        assert self.engine is not None  # evidence names its engine
        label = Candidate(self.engine, self.voice, self.speaker, self.lang).label
        parts = [f"actor F0 {self.actor_f0:.0f} Hz" if self.actor_f0 else "actor F0 unknown",
                 f"{self.engine} {label} {self.semitones:+.1f} st"]
        if self.similarity is not None:
            parts.append(f"similarity {self.similarity:.2f}")
        parts.append(f"{self.seconds:.0f} s heard")
        return "; ".join(parts)


# -- the actors ----------------------------------------------------------------------------------


def _reader(clean: bool) -> Callable[[object, Path | None], np.ndarray | None]:
    """clip -> its source range at 48 kHz (cleaned by DeepFilterNet3 when installed and ``clean``)."""
    from ..listen.media import clip_audio, enhance, enhance_available

    denoise = clean and enhance_available()

    def read(clip: object, base: Path | None) -> np.ndarray | None:
        audio = clip_audio(clip, base)
        if audio is not None and denoise:
            try:
                audio = enhance(audio)
            except OtioDubError as exc:  # a broken runtime: the raw original still tells the voice
                log.warning("voice matching: speech enhancement unavailable (%s); using the raw original", exc)
        return audio

    return read


def actor_audio(timeline: object, lines: Sequence[Line], base: Path | None, clean: bool = True) -> dict[str, np.ndarray]:
    """Per character, the original speech under its lines (48 kHz, silence trimmed per line, capped).

    The original of a line is the audio clip (not a dub track) that overlaps it most and whose
    media can be read, as for ``--align guide``; characters with none are missing from the result.
    """
    return {name: audio for name, (audio, _) in heard_speech(timeline, lines, base, clean).items()}


def heard_speech(timeline: object, lines: Sequence[Line], base: Path | None,
                 clean: bool = True) -> dict[str, tuple[np.ndarray, list[str]]]:
    """Per character, the original speech under its lines and the texts of the lines heard."""
    from ..dialogue.lines import timebase_of
    from ..listen.guide import readable_audio_clips

    tb = timebase_of(timeline)
    clips = readable_audio_clips(timeline, tb, base)
    if not clips:
        return {}
    read, decoded = _reader(clean), {}
    cap = int(MAX_ACTOR_SECONDS * dsp.SAMPLE_RATE)
    found: dict[str, list[np.ndarray]] = {}
    said: dict[str, list[str]] = {}
    for line in lines:
        have = sum(part.size for part in found.get(line.character, []))
        best, overlap = None, 0
        for clip, rin, _rout in clips:
            shared = min(_rout, line.record_out) - max(rin, line.record_in)
            if shared > overlap:
                best, overlap = (clip, rin), shared
        if best is None or have >= cap:
            continue
        if id(best[0]) not in decoded:  # each clip decoded (and cleaned) once
            decoded[id(best[0])] = read(best[0], base)
        audio = decoded[id(best[0])]
        if audio is None:
            continue
        start = tb.samples_between(best[1], line.record_in)
        lo, hi = max(0, start), min(audio.size, start + tb.samples_between(line.record_in, line.record_out))
        speech = dsp.trim(audio[lo:hi]) if hi > lo else np.zeros(0, np.float32)
        if speech.size:
            found.setdefault(line.character, []).append(speech[: cap - have])
            said.setdefault(line.character, []).append(line.text)
    return {name: (np.concatenate(parts), said[name]) for name, parts in found.items()}


# -- assignment --------------------------------------------------------------------------------


def _cost(actor: Measure, voice: Measure, neural_available: bool, engine: str) -> tuple[float, float, float | None]:
    """(cost, pitch offset in st, voiceprint similarity) of giving ``voice`` to ``actor``."""
    from ..audio.pitch import semitones

    shift = semitones(voice.f0, actor.f0) if actor.f0 and voice.f0 else 0.0
    bounded = float(np.clip(shift, -MAX_SHIFT, MAX_SHIFT))
    similarity = None
    cost = PITCH_WEIGHT * (abs(shift) / 12 + 2 * abs(shift - bounded) / 12)  # beyond the bound counts double
    if actor.embedding is not None and voice.embedding is not None:
        similarity = float(np.dot(actor.embedding, voice.embedding))
        cost += 1.0 - similarity
    if engine == "espeak" and neural_available:
        cost += ESPEAK_PENALTY
    return cost, round(bounded, 1), similarity


def assign_matches(actors: Mapping[str, Measure], pool: Sequence[tuple[Candidate, Measure]], lang: str,
                   seconds: Mapping[str, float] | None = None) -> dict[str, MatchResult]:
    """Distinct voices for the characters heard, by minimum total cost (Hungarian algorithm).

    With more characters than voices, voices are reused only after every one is taken once.
    """
    from scipy.optimize import linear_sum_assignment

    names = sorted(actors)
    if not names or not pool:
        return {}
    neural = any(c.engine in NEURAL for c, _ in pool)
    rounds = -(-len(names) // len(pool))
    cost = np.zeros((len(names), len(pool) * rounds))
    facts = {}
    for i, name in enumerate(names):
        heard_as = evidence(name, None, (), actors[name].f0).gender
        for j, (cand, m) in enumerate(pool):
            c, shift, sim = _cost(actors[name], m, neural, cand.engine)
            if heard_as and quality.gender(cand.engine, cand.voice) not in (heard_as, None):
                c += CROSS_GENDER  # never the other gender than the actor heard, while one of theirs is free
            facts[i, j] = (shift, sim)
            for r in range(rounds):
                cost[i, j + r * len(pool)] = c + 10.0 * r
    rows, cols = linear_sum_assignment(cost)
    out = {}
    for i, col in zip(rows, cols, strict=True):
        j = col % len(pool)
        cand, m = pool[j]
        shift, sim = facts[i, j]
        name = names[i]
        out[name] = MatchResult(name, lang, cand.engine, cand.voice, cand.speaker, shift, actors[name].f0, m.f0,
                                sim, (seconds or {}).get(name, actors[name].seconds))
    return out


def match_voices(timeline: object, lines: Sequence[Line], base: Path | None, engines: Sequence[str] | None = None,
                 clean: bool = True, refs: Path | None = None) -> dict[str, MatchResult]:
    """A MatchResult per character of ``lines``: the closest distinct voice of ``engines``, or no evidence.

    ``lines`` carry their languages (after ``voices.resolve_languages``); a character is matched in
    the language of most of its lines. ``engines`` None: every engine that loads, neural first
    (looked up only when some actor was heard). Engines that cannot be loaded are skipped with a warning.
    """
    langs: dict[str, dict[str, int]] = {}
    texts: dict[str, list[str]] = {}
    for line in lines:
        counts = langs.setdefault(line.character, {})
        counts[line.lang] = counts.get(line.lang, 0) + 1
        texts.setdefault(line.lang, []).append(line.text)
    lang_of = {c: max(counts, key=counts.__getitem__) for c, counts in langs.items()}
    heard = heard_speech(timeline, lines, base, clean)
    results: dict[str, MatchResult] = {}
    by_lang: dict[str, dict[str, Measure]] = {}
    for character, lang in lang_of.items():
        audio = heard[character][0] if character in heard else None
        m = measure(audio, dsp.SAMPLE_RATE) if audio is not None and audio.size else None
        if m is None or (m.f0 is None and m.embedding is None):
            note = "no readable original media under its lines" if audio is None else "too little voiced speech heard"
            results[character] = MatchResult(character, lang, note=note)
        else:
            by_lang.setdefault(lang, {})[character] = m
    if by_lang and engines is None:
        engines = loadable_engines()
    for lang, actors in by_lang.items():
        assert engines is not None  # looked up above: some actor was heard
        pool = []
        passage = reference_passage(lang, texts.get(lang, ()))
        for name in engines:
            try:
                found = candidates(name, lang)
            except OtioDubError as exc:
                log.warning("voice matching: engine %s skipped (%s)", name, exc)
                continue
            for cand in found:
                m = candidate_measure(cand, passage, refs)
                if m is not None and (m.f0 is not None or m.embedding is not None):
                    pool.append((cand, m))
        matched = assign_matches(actors, pool, lang)
        for character in actors:
            match = matched.get(character)
            results[character] = match and _same_text_offset(match, actors[character], heard[character][1], refs) or \
                MatchResult(character, lang, note=f"no voice of {', '.join(engines)} speaks {lang}")
    return results


def _same_text_offset(m: MatchResult, actor: Measure, texts: Sequence[str], refs: Path | None) -> MatchResult:
    """The pitch offset measured like for like: the chosen voice speaking the lines the actor was heard in.

    A voice's median F0 moves by a semitone or two with what it says, so the reference passage
    ranks the voices but the offset comes from the same words as the actor's.
    """
    from dataclasses import replace

    from ..audio.pitch import semitones

    said = " ".join(texts)[:600]
    if not actor.f0 or not said:
        return m
    assert m.engine is not None  # a matched voice names its engine
    own = candidate_measure(Candidate(m.engine, m.voice, m.speaker, m.lang), said, refs)
    if own is None or not own.f0:
        return m
    shift = float(np.clip(semitones(own.f0, actor.f0), -MAX_SHIFT, MAX_SHIFT))
    return replace(m, semitones=round(shift, 1), voice_f0=own.f0)


def loadable_engines() -> list[str]:
    """Every engine that loads here, neural ones first (espeak stays the fallback for other languages)."""
    from ..engines import available_engines

    names = sorted(available_engines(), key=lambda n: (n not in NEURAL, n))
    found = []
    for name in names:
        try:
            get_engine(name)
        except OtioDubError as exc:
            log.info("voice matching: engine %s not available (%s)", name, exc)
            continue
        found.append(name)
    return found
