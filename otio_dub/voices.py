"""Who speaks each line: cast entries and automatic voices resolved to a Performer per character.

A line's language comes from the line itself, else its character's cast entry, else ``--lang``.
Characters without a cast entry get distinct automatic voices of the default engine, never one
that the cast already gave to someone else.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .cast import CastEntry
from .engines import VoiceSpec, get_engine
from .errors import EngineError
from .lines import Line
from .prosody import prosody_of


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
        return " ".join(parts) + ("" if self.from_cast else " (auto)")


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


def assign(lines: Sequence[Line], cast: Mapping[str, CastEntry], default_engine: str) -> dict[tuple[str, str], Performer]:
    """A Performer per (character, language), checked against its engine (errors list valid names).

    Cast entries that name a voice keep it; every other character (uncast, or cast without a
    voice) gets the next automatic voice of its engine that nobody else has, in order of appearance.
    """
    performers: dict[tuple[str, str], Performer] = {}
    keys = list(dict.fromkeys((line.character, line.lang) for line in lines))
    origin = {(line.character, line.lang): line.origin for line in reversed(lines)}
    taken = {(entry.engine or default_engine, entry.voice, entry.speaker)
             for entry in cast.values() if entry.voice is not None}
    counters: dict[str, int] = {}
    for character, lang in keys:
        entry = cast.get(character)
        engine_name = (entry.engine if entry else None) or default_engine
        engine = get_engine(engine_name)
        if entry is not None and entry.voice is not None:
            spec = VoiceSpec(voice=entry.voice, lang=lang, speaker=entry.speaker)
        else:
            for _ in range(64):  # skip voices already given; give up on uniqueness after a full cycle
                spec = engine.default_voice(lang, counters.get(engine_name, 0))
                counters[engine_name] = counters.get(engine_name, 0) + 1
                if entry is not None and entry.speaker is not None:
                    spec = dataclasses.replace(spec, speaker=entry.speaker)
                if (engine_name, spec.voice, spec.speaker) not in taken:
                    break
        taken.add((engine_name, spec.voice, spec.speaker))
        try:
            engine.check(spec)
        except EngineError as exc:
            who = f"cast entry {character!r}" if entry else f"{origin[(character, lang)]}: {character!r} ({lang})"
            raise EngineError(f"{who}: {exc}") from None
        performers[(character, lang)] = (
            Performer(engine_name, spec, entry.rate, entry.pitch, entry.gain, entry.emotion, True) if entry
            else Performer(engine_name, spec))
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
