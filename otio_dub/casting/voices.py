"""Who speaks each line: cast entries and automatic voices resolved to a Performer per character.

A line's language comes from the line itself, else its character's cast entry, else ``--lang``.
Characters without a cast voice get distinct automatic voices (:mod:`otio_dub.casting.auto`: the
best measured voice of their language and gender), never one that the cast already gave to someone
else; with evidence from voice matching (the original actor heard, see
:mod:`otio_dub.casting.matching`) they get their matched voice and pitch offset instead.
"""

from __future__ import annotations

import dataclasses
import logging
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

log = logging.getLogger("otio_dub")
#: Pitch step between characters that share an automatic voice (no free one of their gender left).
SHARED_STEP_ST = 2.0


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
    why: str = ""  # an automatic voice: why this one (``neural, es WER 3%; female from the cast``)

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
        auto = f" (auto: {self.why})" if self.why else " (auto)"
        if self.from_cast:
            return " ".join(parts) + (f" ({self.why})" if self.why else "")
        return " ".join(parts) + (" (matched)" if self.matched else auto)


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


def assign(lines: Sequence[Line], cast: Mapping[str, CastEntry], default_engine: str,
           matches: Mapping[str, MatchResult] | None = None,
           prefer_neural: bool = False) -> dict[tuple[str, str], Performer]:
    """A Performer per (character, language), checked against its engine (errors list valid names).

    Cast entries that name a voice keep it. A character matched with evidence (``matches``, from
    :func:`otio_dub.casting.matching.match_voices`) gets its matched voice and pitch offset, unless its cast
    entry names an engine or voice. Every other character gets the next automatic voice of its
    engine that nobody else has, in order of appearance: the same inputs give the same voices.
    With ``prefer_neural`` (no ``--engine`` given), a character whose cast names no engine gets
    the best installed voice of its language by measured WER (neural before espeak,
    :mod:`otio_dub.casting.auto`). Automatic voices keep to the character's gender evidence (the
    actor heard, the cast's ``gender``, clip metadata) and say why in ``Performer.why``.
    """
    from .auto import choose, evidence

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
    uses: dict[tuple[str, str | None, int | None], int] = {}
    for character, lang in keys:
        entry = cast.get(character)
        match = matched(character, lang, entry)
        engine_name = match.engine if match else (entry.engine if entry else None) or default_engine
        assert engine_name is not None  # a match is evidence, which names its engine
        pick = None
        plain = entry is None or (entry.voice is None and entry.speaker is None and not entry.extra())
        if match is None and plain:
            found = evidence(character, entry, lines, matches[character].actor_f0 if character in matches else None)
            engines = [entry.engine] if entry is not None and entry.engine else None if prefer_neural else [engine_name]
            try:
                pick = choose(lang, found, taken, engines)
                if pick is None and found.gender:  # no voice of the gender: cross it, and say so
                    pick = choose(lang, evidence(character, None, ()), taken, engines)
                    if pick is not None:
                        pick = dataclasses.replace(pick, why=f"{pick.why}; CROSSES GENDER: {found.describe()}, "
                                                           f"no {found.gender} voice of {', '.join(engines or ['any engine'])}")
                        log.warning("%s (%s): %s", character, lang, pick.why)
            except EngineError as exc:
                raise EngineError(f"{_who(character, lang, entry, origin[(character, lang)])}: {exc}") from None
            engine_name = pick.engine if pick else engine_name
        try:
            engine = get_engine(engine_name)
            if pick is not None:
                spec = pick.spec
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
            uses[(engine_name, spec.voice, spec.speaker)] = uses.get((engine_name, spec.voice, spec.speaker), 0) + 1
            engine.check(spec)
        except EngineError as exc:
            raise EngineError(f"{_who(character, lang, entry, origin[(character, lang)])}: {exc}") from None
        apart = 0.0
        if pick is not None and pick.shared:  # a shared voice: each later holder 2 st lower, to tell them apart
            apart = -SHARED_STEP_ST * (uses[(engine_name, spec.voice, spec.speaker)] - 1)
            pick = dataclasses.replace(pick, why=f"{pick.why}, {apart:+g} st")
        if entry is not None:
            pitch = entry.pitch + (match.semitones if match else 0.0) + apart
            performers[(character, lang)] = Performer(engine_name, spec, entry.rate, pitch, entry.gain, entry.emotion,
                                                      True, matched=match is not None, why=pick.why if pick else "")
        else:
            performers[(character, lang)] = Performer(engine_name, spec, semitones=match.semitones if match else apart,
                                                      matched=match is not None, why=pick.why if pick else "")
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
