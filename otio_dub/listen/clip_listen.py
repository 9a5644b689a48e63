"""One dialogue clip heard: enhanced if noisy, recognised, its words grouped into runs, each run's voiceprint.

The unit of listening work: a clip depends on nothing but its own audio and the models, so clips
are heard in any order, in this process or in a worker (:mod:`otio_dub.listen.pool`), with the
same result. ``listening.hear`` then clusters the runs' voiceprints across the timeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np
import opentimelineio as otio

from ..core.timebase import SAMPLE_RATE, TimeBase
from .media import NOISY_UNDER_DB, speech_over_floor
from .media import enhance as enhance_audio
from .segment import Rules, Word, group_words

if TYPE_CHECKING:
    from .asr import Recognizer


@dataclass
class HeardClip:
    """One dialogue clip: where it sits (frames from the timeline start) and what was heard in it."""

    index: int
    clip: otio.schema.Clip
    track: str
    record_in: int
    record_out: int
    hints: list[tuple[int, int, str]] = field(default_factory=list)  # (in, out, character) the timeline names
    words: list[Word] = field(default_factory=list)
    lang: str | None = None
    lang_probability: float | None = None  # how sure: the chosen language's share of the evidence used
    lang_source: str = ""  # "given" (--lang L), "clip" (its own speech), "speaker" (its speaker's, across clips)
    languages: dict[str, float] = field(default_factory=dict)  # the clip's own language probabilities
    over_floor_db: float | None = None  # how far its speech stands over its noise floor
    enhanced: bool = False  # whether it was heard through DeepFilterNet


@dataclass
class Run:
    """A run of words in one clip (split at pauses) with the voiceprint of its sound."""

    words: list[Word]
    voiceprint: np.ndarray
    hint: str | None

    @property
    def speech(self) -> float:
        return sum(w.end - w.start for w in self.words)


def runs_of(heard: HeardClip, audio: np.ndarray, tb: TimeBase, rules: Rules) -> list[Run]:
    """The clip's words in runs, each with a speaker embedding of the original sound (DeepFilterNet's
    output blurs voices: measured) and the character the timeline names there, if any."""
    from .speaker_prints import get_speaker_prints

    encoder = get_speaker_prints()
    origin = float(Fraction(heard.record_in) / tb.rate)
    runs = []
    for words in group_words(heard.words, rules, sentences=False):
        a = max(0, round((words[0].start - origin - 0.05) * SAMPLE_RATE))
        b = min(audio.size, round((words[-1].end - origin + 0.05) * SAMPLE_RATE))
        mid = tb.frame_of_seconds((words[0].start + words[-1].end) / 2)
        hint = next((who for lo, hi, who in heard.hints if lo <= mid < hi), None)
        runs.append(Run(words, encoder.embed(audio[a:max(b, a + 1)], SAMPLE_RATE), hint))
    return runs


def listen_clip(heard: HeardClip, audio: np.ndarray, asr: Recognizer, enhance: bool, tb: TimeBase, rules: Rules,
                language: str | None = None) -> list[Run]:
    """Recognise one clip (in ``language``, else the likeliest of the candidates for its own speech),
    fill in ``heard``'s words and language, and return its runs of words with their voiceprints.
    A noisy clip (its floor within 20 dB of its speech) is heard through DeepFilterNet when ``enhance``,
    and on Whisper's full 30 s window (measured under music: the short window lost words there)."""
    heard.over_floor_db = round(speech_over_floor(audio), 1)
    noisy = heard.over_floor_db < NOISY_UNDER_DB
    heard.enhanced = enhance and noisy
    sound = enhance_audio(audio) if heard.enhanced else audio
    if language is None and asr.lang is None:
        heard.languages = asr.languages(sound, SAMPLE_RATE, full_window=noisy)
        if heard.languages:
            language = next(iter(heard.languages))
            heard.lang_probability, heard.lang_source = round(heard.languages[language], 4), "clip"
    elif asr.lang is not None:
        heard.lang_probability, heard.lang_source = 1.0, "given"
    found, heard.lang = asr.words(sound, SAMPLE_RATE, language, full_window=noisy)
    origin = float(Fraction(heard.record_in) / tb.rate)
    limit = float(Fraction(heard.record_out) / tb.rate)
    heard.words = [Word(w.text, min(origin + w.start, limit), min(origin + max(w.end, w.start), limit),
                        w.probability, None, heard.index) for w in found]
    return runs_of(heard, audio, tb, rules)
