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
    """How to speak a line: engine voice id, language, and prosody offsets."""

    voice: str | None = None
    lang: str = "en"
    pitch: int | None = None
    pitch_range: int | None = None
    volume: int | None = None
    extra: tuple[tuple[str, str], ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class EngineInfo:
    """What an engine declares about itself (shown by ``otio-dub engines``)."""

    name: str
    sample_rate: int
    deterministic: bool
    speed_range: tuple[float, float] | None
    version: str


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
