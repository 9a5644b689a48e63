"""How long a candidate will be spoken, by the voice the dub casts for its character, before any dub.

The cheapest honest predictor each engine allows, at the delivery the dub will use (cast rate and
emotion included): an engine with a duration predictor (``timing``: piper, kokoro) is asked; espeak,
whose real-time factor is ~0.004, simply speaks the text (exact, trimmed as the dub trims); any other
engine is calibrated once per voice by speaking fixed passages of the language, and the
line's length follows from its characters at that rate (kept beside the cache, see ``store``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..audio import dsp
from ..casting.cast import CastEntry
from ..casting.voices import Performer, assign, delivery
from ..core.hashing import make_key
from ..dialogue.lines import Line
from ..engines import BEST, DEFAULT_ENGINE, Engine, VoiceSpec, get_engine
from ..speech.speak import CALIBRATION, voice_identity
from .store import TranslationStore

log = logging.getLogger("otio_dub")

#: Engines cheap enough to speak every candidate (real-time factor well under 0.01 on 2 cores).
SPEAK_ALWAYS = ("espeak",)


class SpokenLength:
    """Predicted natural speech seconds of a line's text by the voice cast for its character."""

    def __init__(self, lines: Sequence[Line], target: str, cast: Mapping[str, CastEntry], engine: str,
                 store: TranslationStore | None = None, responses: str | Path | None = None) -> None:
        target_lines = [dataclasses.replace(line, lang=target) for line in lines]
        best = engine == BEST  # each character's best installed voice, as the dub will cast it
        self.performers: dict[tuple[str, str], Performer] = assign(target_lines, cast, DEFAULT_ENGINE if best else engine,
                                                                   prefer_neural=best)
        self.target, self.store, self.responses = target, store, responses
        self._rates: dict[tuple, float] = {}
        self.method: dict[str, str] = {}  # engine name -> how its lines were predicted

    def seconds(self, line: Line, text: str) -> float:
        """Natural spoken seconds of ``text`` said as ``line`` (its character, emotion) in the target language."""
        line = dataclasses.replace(line, lang=self.target, text=text)
        performer = self.performers[(line.character, self.target)]
        engine = get_engine(performer.engine)
        how = delivery(performer, line, engine.info.native_prosody)
        timing = getattr(engine, "timing", None) if engine.info.speed_range else None
        if timing is not None:
            found = timing(text, how.spec, self.responses)
            if found is not None:
                self.method[performer.engine] = "duration predictor"
                return found.speech(how.speed) / found.sample_rate
        if performer.engine in SPEAK_ALWAYS:
            self.method[performer.engine] = "synthesis"
            return _spoken(engine, text, how.spec, how.speed)
        self.method[performer.engine] = "calibrated characters per second"
        return len(text) / self._rate(engine, how.spec, how.speed)

    def chars_per_second(self, line: Line) -> float:
        """The speaking rate, in characters a second, of the voice that will say ``line`` in the target language."""
        line = dataclasses.replace(line, lang=self.target)
        performer = self.performers[(line.character, self.target)]
        engine = get_engine(performer.engine)
        how = delivery(performer, line, engine.info.native_prosody)
        return self._rate(engine, how.spec, how.speed)

    def _rate(self, engine: Engine, spec: VoiceSpec, speed: float) -> float:
        """Characters per second of a voice, measured once on the language's calibration passages."""
        memo = (engine.info.name, spec, round(speed, 4))
        if memo not in self._rates:
            passages = CALIBRATION.get(spec.lang.split("-")[0].lower(), CALIBRATION["en"])[1:]
            key = make_key(kind="speaking-rate", engine=engine.info.name, version=engine.info.version,
                           voice=voice_identity(spec), speed=round(speed, 4), passages=passages)
            known = self.store.get(key) if self.store else None
            if not isinstance(known, float):
                chars = sum(len(p) for p in passages)
                known = chars / sum(_spoken(engine, p, spec, speed) for p in passages)
                if self.store:
                    self.store.put(key, known)
            self._rates[memo] = known
        return self._rates[memo]


def _spoken(engine: Engine, text: str, spec: VoiceSpec, speed: float) -> float:
    """Seconds of speech ``engine`` says for ``text``, edge silence trimmed as the dub trims it."""
    take = engine.synthesize(text, spec, speed)
    return dsp.trim(take.audio, take.sample_rate).size / take.sample_rate
