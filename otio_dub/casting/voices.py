"""Who speaks each line: cast entries and automatic voices resolved to a Performer per character.

A line's language comes from the line itself, else its character's cast entry, else ``--lang``.
Characters without a cast entry get distinct automatic voices of the default engine, never one
that the cast already gave to someone else; with evidence from voice matching (the original
actor heard, see :mod:`otio_dub.casting.matching`) they get their matched voice and pitch offset instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..core.errors import EngineError
from ..dialogue.lines import Line
from ..dialogue.prosody import prosody_of
from ..engines import VoiceSpec, get_engine
from .cast import CastEntry

if TYPE_CHECKING:
    from .matching import MatchResult


@dataclass(frozen=True)
class Performer:
    """A character's resolved voice: engine, engine voice, and the cast's rate / pitch / gain."""

    engine: str
    spec: VoiceSpec
    rate: float = 1.0
    semitones: float = 0.0
    gain_db: float = 0.0
    emotion: str | None = None
    from_cast: bool = False
    matched: bool = False

    def label(self) -> str:
        """How the run prints the assignment: ``piper joe``, ``espeak en+m3 +2 st``."""
        parts = [self.engine, self.spec.voice or self.spec.lang]
        if self.spec.speaker is not None:
            parts.append(f"speaker {self.spec.speaker}")
        if self.rate != 1.0:
            parts.append(f"x{self.rate:g}")
        if self.semitones:
            parts.append(f"{self.semitones:+g} st")
        if self.gain_db:
            parts.append(f"{self.gain_db:+g} dB")
        return " ".join(parts) + ("" if self.from_cast else " (matched)" if self.matched else " (auto)")


@dataclass(frozen=True)
class Delivery:
    """How one line is spoken: engine voice with emotion applied, base speed, post pitch and gain."""

    spec: VoiceSpec
    speed: float
    semitones: float
    gain_db: float
    emotion: str | None


def resolve_languages(lines: Sequence[Line], cast: Mapping[str, CastEntry], default: str) -> list[Line]:
    """Lines with their language filled: the line's own, else the cast's, else ``default``."""
    out = []
    for line in lines:
        entry = cast.get(line.character)
        lang = line.lang or (entry.lang if entry else None) or default
        out.append(line if lang == line.lang else dataclasses.replace(line, lang=lang))
    return out


def _base(lang: str | None) -> str:
    return (lang or "").lower().replace("_", "-").split("-")[0]


def _who(character: str, lang: str, entry: CastEntry | None, origin: str) -> str:
    """How an error names a character: its cast file and entry, else the line that introduced it."""
    return entry.where() if entry is not None else f"{origin}: {character!r} ({lang})"


#: Engines whose voices automatic casting prefers to espeak's where they speak the language.
NEURAL = ("kokoro", "piper")


def neural_voice(lang: str, taken: set[tuple[str, str | None, int | None]]) -> tuple[str, VoiceSpec] | None:
    """The first installed neural voice native to ``lang`` that nobody has yet (engines in NEURAL order)."""
    for name in NEURAL:
        try:
            engine = get_engine(name)
            for index in range(len(engine.voices(lang))):
                spec = engine.default_voice(lang, index)
                if (name, spec.voice, spec.speaker) not in taken:
                    return name, spec
        except EngineError:  # not installed, or no voice: espeak stays the fallback
            continue
    return None


def assign(lines: Sequence[Line], cast: Mapping[str, CastEntry], default_engine: str,
           matches: Mapping[str, MatchResult] | None = None,
           prefer_neural: bool = False) -> dict[tuple[str, str], Performer]:
    """A Performer per (character, language), checked against its engine (errors list valid names).

    Cast entries that name a voice keep it. A character matched with evidence (``matches``, from
    :func:`otio_dub.casting.matching.match_voices`) gets its matched voice and pitch offset, unless its cast
    entry names an engine or voice. Every other character gets the next automatic voice of its
    engine that nobody else has, in order of appearance: the same inputs give the same voices.
    With ``prefer_neural`` (no ``--engine`` given), a character whose cast names no engine first
    gets a free installed neural voice of its language (kokoro, piper), espeak's otherwise.
    """
    matches = matches or {}
    performers: dict[tuple[str, str], Performer] = {}
    keys = list(dict.fromkeys((line.character, line.lang) for line in lines))
    origin = {(line.character, line.lang): line.origin for line in reversed(lines)}

    def matched(character: str, lang: str, entry: CastEntry | None) -> MatchResult | None:
        m = matches.get(character)
        if m is None or not m.evidence or _base(m.lang) != _base(lang):
            return None
        return None if entry is not None and (entry.engine or entry.voice) else m

    taken: set[tuple[str, str | None, int | None]] = {(entry.engine or default_engine, entry.voice, entry.speaker)
                                                      for entry in cast.values() if entry.voice is not None}
    taken |= {(m.engine, m.voice, m.speaker) for c, lang in keys
              if (m := matched(c, lang, cast.get(c))) is not None and m.engine is not None}
    counters: dict[str, int] = {}
    for character, lang in keys:
        entry = cast.get(character)
        match = matched(character, lang, entry)
        engine_name = match.engine if match else (entry.engine if entry else None) or default_engine
        assert engine_name is not None  # a match is evidence, which names its engine
        neural = None
        if prefer_neural and match is None and not (entry and (entry.engine or entry.voice)):
            neural = neural_voice(lang, taken)
            engine_name = neural[0] if neural else engine_name
        try:
            engine = get_engine(engine_name)
            if neural is not None:
                spec = neural[1]
            elif match is not None:
                spec = VoiceSpec(voice=match.voice, lang=lang, speaker=match.speaker)
            elif entry is not None and entry.voice is not None:
                spec = VoiceSpec(voice=entry.voice, lang=lang, speaker=entry.speaker, extra=entry.extra())
            else:
                for _ in range(64):  # skip voices already given; give up on uniqueness after a full cycle
                    spec = engine.default_voice(lang, counters.get(engine_name, 0))
                    counters[engine_name] = counters.get(engine_name, 0) + 1
                    if entry is not None and entry.speaker is not None:
                        spec = dataclasses.replace(spec, speaker=entry.speaker)
                    if (engine_name, spec.voice, spec.speaker) not in taken:
                        break
                if entry is not None and entry.extra():
                    spec = dataclasses.replace(spec, extra=entry.extra())
            taken.add((engine_name, spec.voice, spec.speaker))
            engine.check(spec)
        except EngineError as exc:
            raise EngineError(f"{_who(character, lang, entry, origin[(character, lang)])}: {exc}") from None
        if entry is not None:
            pitch = entry.pitch + (match.semitones if match else 0.0)
            performers[(character, lang)] = Performer(engine_name, spec, entry.rate, pitch, entry.gain, entry.emotion,
                                                      True, matched=match is not None)
        else:
            performers[(character, lang)] = Performer(engine_name, spec, semitones=match.semitones if match else 0.0,
                                                      matched=match is not None)
    return performers


def delivery(performer: Performer, line: Line, native_prosody: bool) -> Delivery:
    """The line's emotion (its own, else the character's) applied to the performer's voice."""
    emotion = line.emotion or performer.emotion
    p = prosody_of(emotion)
    if native_prosody:
        spec = dataclasses.replace(performer.spec, pitch=p.pitch, pitch_range=p.pitch_range, volume=10 ** (p.gain_db / 20))
        return Delivery(spec, performer.rate * p.rate, performer.semitones, performer.gain_db, emotion)
    return Delivery(performer.spec, performer.rate * p.rate, performer.semitones + p.semitones,
                    performer.gain_db + p.gain_db, emotion)
