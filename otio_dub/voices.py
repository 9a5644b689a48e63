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
    """A Performer per (character, language), checked against its engine (errors list valid names)."""
    performers: dict[tuple[str, str], Performer] = {}
    for line in lines:
        entry = cast.get(line.character)
        key = (line.character, line.lang)
        if entry is None or key in performers:
            continue
        engine_name = entry.engine or default_engine
        engine = get_engine(engine_name)
        spec = VoiceSpec(voice=entry.voice, lang=line.lang, speaker=entry.speaker)
        if entry.voice is None:
            spec = dataclasses.replace(engine.default_voice(line.lang, 0), speaker=entry.speaker)
        try:
            engine.check(spec)
        except EngineError as exc:
            raise EngineError(f"cast entry {line.character!r}: {exc}") from None
        performers[key] = Performer(engine_name, spec, entry.rate, entry.pitch, entry.gain, entry.emotion, True)
    taken = {(p.engine, p.spec.voice, p.spec.speaker) for p in performers.values()}
    engine = get_engine(default_engine)
    index = 0
    for line in lines:
        key = (line.character, line.lang)
        if key in performers:
            continue
        for _ in range(64):  # skip voices the cast already uses; give up on uniqueness after a full cycle
            spec = engine.default_voice(line.lang, index)
            index += 1
            if (default_engine, spec.voice, spec.speaker) not in taken:
                break
        taken.add((default_engine, spec.voice, spec.speaker))
        try:
            engine.check(spec)
        except EngineError as exc:
            raise EngineError(f"{line.origin}: language {line.lang!r} of {line.character!r}: {exc}") from None
        performers[key] = Performer(default_engine, spec)
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
