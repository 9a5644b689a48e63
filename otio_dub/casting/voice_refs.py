"""What voice matching measures: F0 statistics and a voiceprint of speech, and each candidate voice's, cached.

Every candidate voice (an espeak variant, a piper voice or speaker, a kokoro voice) speaks one
reference passage per language once; its measures are kept on disk (``$OTIO_DUB_VOICES/refs``,
else the user cache) under a key of the engine, its version, the voice and the passage.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..audio import dsp
from ..audio.pitch import f0_stats
from ..core.errors import OtioDubError
from ..engines import VoiceSpec, get_engine

if TYPE_CHECKING:
    from ..listen.speaker_prints import Voiceprints

log = logging.getLogger("otio_dub")

#: Bump when what is measured changes: cached measures of older versions are not used.
MEASURE_VERSION = 1
#: One reference passage per language (varied vowels, both voiced and unvoiced sounds, ~6 s).
PASSAGES = {
    "en": "The rainbow is a division of white light into many beautiful colours. "
          "Would you like to hear the whole story, or only the quiet part of it?",
    "de": "Der Regenbogen teilt das weiße Licht in viele schöne Farben. Willst du die ganze Geschichte hören?",
    "fr": "L'arc-en-ciel divise la lumière blanche en de nombreuses belles couleurs. Veux-tu entendre toute l'histoire ?",
    "es": "El arco iris divide la luz blanca en muchos colores hermosos. ¿Quieres oír toda la historia?",
    "it": "L'arcobaleno divide la luce bianca in molti bei colori. Vuoi sentire tutta la storia?",
    "pt": "O arco-íris divide a luz branca em muitas cores bonitas. Você quer ouvir a história inteira?",
    "ja": "虹は白い光をたくさんの美しい色に分けます。お話を全部聞きたいですか、それとも静かなところだけですか。",
}


@dataclass(frozen=True)
class Measure:
    """What matching compares: median F0 and its 10-90% range (Hz), a unit voiceprint, seconds heard."""

    f0: float | None
    f0_lo: float | None
    f0_hi: float | None
    embedding: np.ndarray | None
    seconds: float


@dataclass(frozen=True)
class Candidate:
    """One voice an engine offers for a language (a speaker of a multi-speaker voice is its own)."""

    engine: str
    voice: str | None
    speaker: int | None
    lang: str

    @property
    def label(self) -> str:
        """``en-us+m3``, ``joe``, ``libritts speaker 4``."""
        name = self.voice or self.lang
        return f"{name} speaker {self.speaker}" if self.speaker is not None else name



def measure(audio: np.ndarray, rate: int, voiceprint: bool = True) -> Measure:
    """F0 statistics and (when resemblyzer is installed and ``voiceprint``) a voiceprint of speech."""
    stats = f0_stats(audio, rate)
    embedding = None
    if voiceprint and audio.size > rate // 4:
        prints = _voiceprints()
        if prints is not None:
            embedding = prints.embed(audio, rate)  # on one torch thread (core.threads.one_torch_thread)
    return Measure(*stats, embedding=embedding, seconds=audio.size / rate)


def _voiceprints() -> Voiceprints | None:
    try:
        from ..listen.speaker_prints import get_voiceprints

        return get_voiceprints()
    except (ImportError, OtioDubError) as exc:  # no resemblyzer: match on F0 alone
        log.info("voice matching without voiceprints (%s)", exc)
        return None


# -- candidates and their cached measures ------------------------------------------------------


def candidates(engine_name: str, lang: str, max_speakers: int = 32) -> list[Candidate]:
    """The voices of ``engine_name`` native to ``lang`` (espeak: its deterministic variants)."""
    engine = get_engine(engine_name)
    if engine_name == "espeak":
        from ..engines.espeak import _VARIANTS

        return [Candidate("espeak", f"{lang}+{v}", None, lang) for v in _VARIANTS]
    found = []
    for info in engine.voices(lang):
        speakers = range(min(len(info.speakers), max_speakers)) if len(info.speakers) > 1 else [None]
        found += [Candidate(engine_name, info.id, s, lang) for s in speakers]
    return found


def reference_passage(lang: str, fallback: Sequence[str] = ()) -> str:
    """The language's reference passage, else the character's own lines (up to ~300 characters)."""
    base = lang.lower().replace("_", "-").split("-")[0]
    if base in PASSAGES:
        return PASSAGES[base]
    text = ""
    for line in fallback:
        if len(text) > 300:
            break
        text = f"{text} {line}".strip()
    return text or PASSAGES["en"]


def refs_folder() -> Path:
    """Where candidate measures are cached: ``$OTIO_DUB_VOICES/refs``, else the user cache."""
    from ..engines.piper_voices import cache_root

    return cache_root().parent / "refs"


def candidate_measure(candidate: Candidate, passage: str, folder: Path | None = None) -> Measure | None:
    """The candidate speaking ``passage``, measured; rendered once, then read from the cache."""
    engine = get_engine(candidate.engine)
    spec = VoiceSpec(voice=candidate.voice, lang=candidate.lang, speaker=candidate.speaker)
    key = hashlib.sha256(json.dumps([MEASURE_VERSION, candidate.engine, engine.info.version, candidate.voice,
                                     candidate.speaker, candidate.lang, passage]).encode()).hexdigest()[:32]
    folder = folder or refs_folder()
    path = folder / f"{key}.npz"
    try:
        with np.load(path) as data:
            emb = data["embedding"] if data["embedding"].size else None
            f0 = [float(v) if np.isfinite(v) else None for v in data["f0"]]
            return Measure(f0[0], f0[1], f0[2], emb, float(data["seconds"]))
    except (OSError, KeyError, ValueError):
        pass  # not cached yet (or unreadable): render it
    try:
        engine.check(spec)
        take = engine.synthesize(passage, spec, 1.0)
    except OtioDubError as exc:
        log.warning("voice matching: %s %s cannot speak the reference passage (%s)", candidate.engine,
                    candidate.label, exc)
        return None
    audio = dsp.trim(dsp.resample(take.audio, take.sample_rate))
    result = measure(audio, dsp.SAMPLE_RATE)
    _store(path, result)
    return result


def _store(path: Path, m: Measure) -> None:
    """Write a measure atomically; a cache that cannot be written only costs a render next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".ref-", suffix=".npz", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, f0=np.array([np.nan if v is None else v for v in (m.f0, m.f0_lo, m.f0_hi)]),
                     embedding=np.zeros(0) if m.embedding is None else m.embedding, seconds=np.array(m.seconds))
        os.replace(tmp, path)
    except OSError as exc:
        log.info("voice matching: cannot cache a reference measure in %s (%s)", path.parent, exc)


