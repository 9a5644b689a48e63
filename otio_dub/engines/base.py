"""What every TTS engine provides: one loaded instance, many ``synthesize`` calls.

Rate is a relative *speed* (1.0 = the voice's natural pace, 1.25 = 25% faster); each engine maps
it onto its own control (espeak words per minute, piper ``length_scale``) so ``fit.py`` can plan
without knowing the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Take:
    """What an engine spoke for one line: float32 mono samples at the engine's native rate."""

    audio: np.ndarray
    sample_rate: int

    @property
    def seconds(self) -> float:
        """Duration of the take in seconds (for reports only, never for placement)."""
        return len(self.audio) / self.sample_rate


@dataclass(frozen=True)
class VoiceSpec:
    """How an engine speaks a line: its voice id, language, speaker, and native prosody.

    ``pitch``, ``pitch_range`` and ``volume`` are relative to the voice's own: 1.0 leaves it as is.
    Engines without a native control ignore them (the pipeline then shifts pitch and gain itself).
    """

    voice: str | None = None
    lang: str = "en"
    pitch: float = 1.0
    pitch_range: float = 1.0
    volume: float = 1.0
    speaker: int | None = None
    extra: tuple[tuple[str, str], ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class VoiceInfo:
    """One voice an engine offers (listed by ``otio-dub voices``)."""

    id: str
    name: str
    languages: tuple[str, ...]
    speakers: tuple[str, ...] = ()


@dataclass(frozen=True)
class EngineInfo:
    """What an engine declares about itself (shown by ``otio-dub engines``)."""

    name: str
    sample_rate: int
    deterministic: bool
    speed_range: tuple[float, float] | None
    version: str
    native_prosody: bool = False  # pitch / range / volume of VoiceSpec handled by the engine itself


@runtime_checkable
class Engine(Protocol):
    """A loaded TTS engine. ``synthesize`` must be deterministic when ``info.deterministic``."""

    info: EngineInfo

    def synthesize(self, text: str, voice: VoiceSpec, speed: float = 1.0) -> Take:
        """Speak ``text`` with ``voice`` at relative ``speed``; returns the native-rate take."""
        ...

    def languages(self) -> list[str]:
        """Language codes this engine can speak."""
        ...

    def voices(self, lang: str | None = None) -> list[VoiceInfo]:
        """Voices this engine offers, those speaking ``lang`` when given."""
        ...

    def default_voice(self, lang: str, index: int) -> VoiceSpec:
        """The ``index``-th automatic voice for ``lang`` (characters without a cast entry)."""
        ...

    def check(self, voice: VoiceSpec) -> None:
        """Raise EngineError (listing valid names) unless this engine can speak ``voice``."""
        ...


class Timing(Protocol):
    """How long one text will be at any speed, known before it is spoken (an engine may offer
    ``timing(text, voice, store=None) -> Timing | None``, ``store`` a folder it may keep what it
    derives in; piper does, from its duration predictor)."""

    sample_rate: int

    def samples(self, speed: float) -> int:
        """The whole take's length at ``speed``, at the engine's rate, exactly as ``synthesize`` gives it."""
        ...

    def speech(self, speed: float) -> int:
        """The take's expected length once its edge silence is trimmed (an estimate)."""
        ...
