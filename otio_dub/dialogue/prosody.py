"""Emotion -> prosody: how each emotion changes rate, pitch, pitch range and level.

Engines with native prosody controls (espeak) get pitch / range / volume as synthesis
parameters; for the others (piper) the pipeline shifts pitch (formant-preserving, Rubber Band)
and applies the gain after synthesis. Rate always goes through the engine's own rate control.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Prosody:
    """Relative prosody of an emotion: 1.0 / 0 leave the voice as it is."""

    rate: float = 1.0
    pitch: float = 1.0  # native pitch multiplier (espeak's 0-99 scale around 50)
    semitones: float = 0.0  # the same intent as a pitch shift, for engines without native pitch
    pitch_range: float = 1.0
    gain_db: float = 0.0


#: The emotion table documented in README (rate x, pitch x / semitones, range x, level dB).
EMOTIONS: dict[str, Prosody] = {
    "neutral": Prosody(),
    "calm": Prosody(rate=0.94, pitch=0.92, semitones=-1.0, pitch_range=0.7, gain_db=-2.0),
    "sad": Prosody(rate=0.86, pitch=0.80, semitones=-2.0, pitch_range=0.5, gain_db=-4.0),
    "whisper": Prosody(rate=0.92, pitch=0.85, semitones=-1.0, pitch_range=0.4, gain_db=-10.0),
    "happy": Prosody(rate=1.06, pitch=1.15, semitones=1.5, pitch_range=1.4, gain_db=1.0),
    "excited": Prosody(rate=1.12, pitch=1.25, semitones=2.5, pitch_range=1.7, gain_db=2.0),
    "angry": Prosody(rate=1.08, pitch=0.95, semitones=-0.5, pitch_range=1.6, gain_db=4.0),
    "shout": Prosody(rate=1.04, pitch=1.35, semitones=3.0, pitch_range=1.8, gain_db=6.0),
}


def prosody_of(emotion: str | None) -> Prosody:
    """The prosody of a known emotion (``None`` and unknown names are neutral)."""
    return EMOTIONS.get((emotion or "neutral").lower(), EMOTIONS["neutral"])
