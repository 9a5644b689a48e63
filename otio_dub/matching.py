"""Voice matching: cast each character with the engine voice closest to the original actor.

For each character the original speech under its lines is gathered from the dialogue clips' media
(cleaned by DeepFilterNet3 when the listen extra is there, as for ``--align guide``), and measured:
median F0 and its 10-90% range (YIN), and a voiceprint (resemblyzer). Every candidate voice of the
engines asked for speaks one reference passage once; its measures are cached on disk. Characters
get distinct voices by a minimum-cost assignment (voiceprint distance plus the pitch shift still
needed, neural voices preferred to espeak), then a formant-preserving pitch offset that brings the
voice's median F0 to the actor's, bounded to +-``MAX_SHIFT`` semitones.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import dsp
from .engines import VoiceSpec, get_engine
from .errors import OtioDubError
from .lines import Line
from .pitch import f0_stats

log = logging.getLogger("otio_dub")

#: The pitch offset a matched voice may get, in semitones either way (Rubber Band, formants kept).
MAX_SHIFT = 5.0
#: Speech gathered per character: enough for a stable voiceprint and F0, bounded for speed.
MAX_ACTOR_SECONDS = 30.0
#: Cost of a needed shift of one octave, next to a voiceprint distance (0 same voice .. ~1).
PITCH_WEIGHT = 1.0
#: Extra cost of an espeak voice where a neural voice can speak the language.
ESPEAK_PENALTY = 0.1
NEURAL = ("piper", "kokoro")
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


@dataclass(frozen=True)
class MatchResult:
    """A character's matched voice and the evidence for it (``engine`` None: no evidence)."""

    character: str
    lang: str
    engine: str | None = None
    voice: str | None = None
    speaker: int | None = None
    semitones: float = 0.0
    actor_f0: float | None = None
    voice_f0: float | None = None
    similarity: float | None = None
    seconds: float = 0.0
    note: str = ""

    @property
    def evidence(self) -> bool:
        """Whether the original actor was heard (else the automatic voice stays)."""
        return self.engine is not None

    def comment(self) -> str:
        """Why this voice: ``actor F0 212 Hz; en-us+f3 +1.5 st; similarity 0.81``."""
        if not self.evidence:
            return f"no evidence: {self.note}; automatic voice"
        label = Candidate(self.engine, self.voice, self.speaker, self.lang).label
        parts = [f"actor F0 {self.actor_f0:.0f} Hz" if self.actor_f0 else "actor F0 unknown",
                 f"{self.engine} {label} {self.semitones:+.1f} st"]
        if self.similarity is not None:
            parts.append(f"similarity {self.similarity:.2f}")
        parts.append(f"{self.seconds:.0f} s heard")
        return "; ".join(parts)


def measure(audio: np.ndarray, rate: int, voiceprint: bool = True) -> Measure:
    """F0 statistics and (when resemblyzer is installed and ``voiceprint``) a voiceprint of speech."""
    stats = f0_stats(audio, rate)
    embedding = None
    if voiceprint and audio.size > rate // 4:
        prints = _voiceprints()
        if prints is not None:
            with _one_torch_thread():
                embedding = prints.embed(audio, rate)
    return Measure(*stats, embedding=embedding, seconds=audio.size / rate)


@contextlib.contextmanager
def _one_torch_thread() -> Iterator[None]:
    """resemblyzer's small LSTM on one thread: on a busy 2-core machine two OpenMP threads made each
    voiceprint 10-15x slower (20-26 s instead of 1.4-2.4 s for 6 s of speech, measured), and a
    single thread is as fast when the machine is idle. Restored after, for the rest of the process."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _voiceprints() -> object | None:
    try:
        from .listen.speakers import get_voiceprints

        return get_voiceprints()
    except (ImportError, OtioDubError) as exc:  # no resemblyzer: match on F0 alone
        log.info("voice matching without voiceprints (%s)", exc)
        return None


# -- candidates and their cached measures ------------------------------------------------------


def candidates(engine_name: str, lang: str, max_speakers: int = 32) -> list[Candidate]:
    """The voices of ``engine_name`` native to ``lang`` (espeak: its deterministic variants)."""
    engine = get_engine(engine_name)
    if engine_name == "espeak":
        from .engines.espeak import _VARIANTS

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
    from .piper_voices import cache_root

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


# -- the actors ----------------------------------------------------------------------------------


def _original_clips(timeline: object, tb: object, base: Path | None) -> list[tuple]:
    """(clip, record in, record out) of every original audio clip (not a dub track) with a local file."""
    import opentimelineio as otio

    from .dub_timeline import media_path
    from .lines import METADATA_KEY
    from .timebase import frames_of

    found = []
    for track in timeline.tracks:
        if track.kind != otio.schema.TrackKind.Audio or (track.metadata.get(METADATA_KEY) or {}).get("role") == "dub":
            continue
        for clip in track.find_clips():
            ref = clip.media_reference
            if not isinstance(ref, otio.schema.ExternalReference) or not ref.target_url:
                continue
            try:
                if not media_path(ref.target_url, base or Path.cwd()).is_file():
                    continue
                rng = clip.transformed_time_range(clip.trimmed_range(), timeline.tracks)
            except (ValueError, otio.exceptions.OTIOError):  # not a local file, or no length to read
                continue
            found.append((clip, frames_of(rng.start_time, tb.rate), frames_of(rng.end_time_exclusive(), tb.rate)))
    return found


def _reader(clean: bool) -> object:
    """clip -> its source range at 48 kHz (cleaned by DeepFilterNet3 when installed and ``clean``)."""
    try:
        from .listen.media import clip_audio, enhance, enhance_available
    except ImportError:  # a build without the listening half: WAV/AIFF/FLAC, raw
        return _sound_file

    denoise = clean and enhance_available()

    def read(clip: object, base: Path | None) -> np.ndarray | None:
        audio = clip_audio(clip, base)
        if audio is not None and denoise:
            try:
                audio = enhance(audio)
            except OtioDubError as exc:  # a broken runtime: the raw original still tells the voice
                log.warning("voice matching: speech enhancement unavailable (%s); using the raw original", exc)
        return audio

    return read


def _sound_file(clip: object, base: Path | None) -> np.ndarray | None:
    """The clip's source range from a sound file (soundfile), at 48 kHz; None when unreadable."""
    from fractions import Fraction

    import soundfile as sf

    from .dub_timeline import media_path
    from .timebase import exact_rate

    def seconds(rt: object) -> Fraction:
        return Fraction(rt.value) / exact_rate(rt.rate)

    used, available = clip.trimmed_range(), clip.media_reference.available_range
    start = seconds(used.start_time) - (seconds(available.start_time) if available is not None else 0)
    try:
        path = media_path(clip.media_reference.target_url, base or Path.cwd())
        rate = sf.info(str(path)).samplerate
        audio, rate = sf.read(str(path), start=max(0, round(start * rate)), frames=round(seconds(used.duration) * rate),
                              dtype="float32", always_2d=True)
    except (RuntimeError, OSError, ValueError) as exc:
        log.warning("voice matching: cannot read the media of clip %r (%s)", clip.name, exc)
        return None
    return dsp.resample(audio.mean(axis=1), rate)


def actor_audio(timeline: object, lines: Sequence[Line], base: Path | None, clean: bool = True) -> dict[str, np.ndarray]:
    """Per character, the original speech under its lines (48 kHz, silence trimmed per line, capped).

    The original of a line is the audio clip (not a dub track) that overlaps it most and whose
    media can be read, as for ``--align guide``; characters with none are missing from the result.
    """
    return {name: audio for name, (audio, _) in heard_speech(timeline, lines, base, clean).items()}


def heard_speech(timeline: object, lines: Sequence[Line], base: Path | None,
                 clean: bool = True) -> dict[str, tuple[np.ndarray, list[str]]]:
    """Per character, the original speech under its lines and the texts of the lines heard."""
    from .lines import timebase_of

    tb = timebase_of(timeline)
    clips = _original_clips(timeline, tb, base)
    if not clips:
        return {}
    read, decoded = _reader(clean), {}
    cap = int(MAX_ACTOR_SECONDS * dsp.SAMPLE_RATE)
    found: dict[str, list[np.ndarray]] = {}
    said: dict[str, list[str]] = {}
    for line in lines:
        have = sum(part.size for part in found.get(line.character, []))
        best, overlap = None, 0
        for clip, rin, _rout in clips:
            shared = min(_rout, line.record_out) - max(rin, line.record_in)
            if shared > overlap:
                best, overlap = (clip, rin), shared
        if best is None or have >= cap:
            continue
        if id(best[0]) not in decoded:  # each clip decoded (and cleaned) once
            decoded[id(best[0])] = read(best[0], base)
        audio = decoded[id(best[0])]
        if audio is None:
            continue
        start = tb.samples_between(best[1], line.record_in)
        lo, hi = max(0, start), min(audio.size, start + tb.samples_between(line.record_in, line.record_out))
        speech = dsp.trim(audio[lo:hi]) if hi > lo else np.zeros(0, np.float32)
        if speech.size:
            found.setdefault(line.character, []).append(speech[: cap - have])
            said.setdefault(line.character, []).append(line.text)
    return {name: (np.concatenate(parts), said[name]) for name, parts in found.items()}


# -- assignment --------------------------------------------------------------------------------


def _cost(actor: Measure, voice: Measure, neural_available: bool, engine: str) -> tuple[float, float, float | None]:
    """(cost, pitch offset in st, voiceprint similarity) of giving ``voice`` to ``actor``."""
    from .pitch import semitones

    shift = semitones(voice.f0, actor.f0) if actor.f0 and voice.f0 else 0.0
    bounded = float(np.clip(shift, -MAX_SHIFT, MAX_SHIFT))
    similarity = None
    cost = PITCH_WEIGHT * (abs(shift) / 12 + 2 * abs(shift - bounded) / 12)  # beyond the bound counts double
    if actor.embedding is not None and voice.embedding is not None:
        similarity = float(np.dot(actor.embedding, voice.embedding))
        cost += 1.0 - similarity
    if engine == "espeak" and neural_available:
        cost += ESPEAK_PENALTY
    return cost, round(bounded, 1), similarity


def assign_matches(actors: Mapping[str, Measure], pool: Sequence[tuple[Candidate, Measure]], lang: str,
                   seconds: Mapping[str, float] | None = None) -> dict[str, MatchResult]:
    """Distinct voices for the characters heard, by minimum total cost (Hungarian algorithm).

    With more characters than voices, voices are reused only after every one is taken once.
    """
    from scipy.optimize import linear_sum_assignment

    names = sorted(actors)
    if not names or not pool:
        return {}
    neural = any(c.engine in NEURAL for c, _ in pool)
    rounds = -(-len(names) // len(pool))
    cost = np.zeros((len(names), len(pool) * rounds))
    facts = {}
    for i, name in enumerate(names):
        for j, (cand, m) in enumerate(pool):
            c, shift, sim = _cost(actors[name], m, neural, cand.engine)
            facts[i, j] = (shift, sim)
            for r in range(rounds):
                cost[i, j + r * len(pool)] = c + 10.0 * r
    rows, cols = linear_sum_assignment(cost)
    out = {}
    for i, col in zip(rows, cols, strict=True):
        j = col % len(pool)
        cand, m = pool[j]
        shift, sim = facts[i, j]
        name = names[i]
        out[name] = MatchResult(name, lang, cand.engine, cand.voice, cand.speaker, shift, actors[name].f0, m.f0,
                                sim, (seconds or {}).get(name, actors[name].seconds))
    return out


def match_voices(timeline: object, lines: Sequence[Line], base: Path | None, engines: Sequence[str] | None = None,
                 clean: bool = True, refs: Path | None = None) -> dict[str, MatchResult]:
    """A MatchResult per character of ``lines``: the closest distinct voice of ``engines``, or no evidence.

    ``lines`` carry their languages (after ``voices.resolve_languages``); a character is matched in
    the language of most of its lines. ``engines`` None: every engine that loads, neural first
    (looked up only when some actor was heard). Engines that cannot be loaded are skipped with a warning.
    """
    langs: dict[str, dict[str, int]] = {}
    texts: dict[str, list[str]] = {}
    for line in lines:
        counts = langs.setdefault(line.character, {})
        counts[line.lang] = counts.get(line.lang, 0) + 1
        texts.setdefault(line.lang, []).append(line.text)
    lang_of = {c: max(counts, key=counts.get) for c, counts in langs.items()}
    heard = heard_speech(timeline, lines, base, clean)
    results: dict[str, MatchResult] = {}
    by_lang: dict[str, dict[str, Measure]] = {}
    for character, lang in lang_of.items():
        audio = heard[character][0] if character in heard else None
        m = measure(audio, dsp.SAMPLE_RATE) if audio is not None and audio.size else None
        if m is None or (m.f0 is None and m.embedding is None):
            note = "no readable original media under its lines" if audio is None else "too little voiced speech heard"
            results[character] = MatchResult(character, lang, note=note)
        else:
            by_lang.setdefault(lang, {})[character] = m
    if by_lang and engines is None:
        engines = loadable_engines()
    for lang, actors in by_lang.items():
        pool = []
        passage = reference_passage(lang, texts.get(lang, ()))
        for name in engines:
            try:
                found = candidates(name, lang)
            except OtioDubError as exc:
                log.warning("voice matching: engine %s skipped (%s)", name, exc)
                continue
            for cand in found:
                m = candidate_measure(cand, passage, refs)
                if m is not None and (m.f0 is not None or m.embedding is not None):
                    pool.append((cand, m))
        matched = assign_matches(actors, pool, lang)
        for character in actors:
            m = matched.get(character)
            results[character] = m and _same_text_offset(m, actors[character], heard[character][1], refs) or \
                MatchResult(character, lang, note=f"no voice of {', '.join(engines)} speaks {lang}")
    return results


def _same_text_offset(m: MatchResult, actor: Measure, texts: Sequence[str], refs: Path | None) -> MatchResult:
    """The pitch offset measured like for like: the chosen voice speaking the lines the actor was heard in.

    A voice's median F0 moves by a semitone or two with what it says, so the reference passage
    ranks the voices but the offset comes from the same words as the actor's.
    """
    from dataclasses import replace

    from .pitch import semitones

    said = " ".join(texts)[:600]
    if not actor.f0 or not said:
        return m
    own = candidate_measure(Candidate(m.engine, m.voice, m.speaker, m.lang), said, refs)
    if own is None or not own.f0:
        return m
    shift = float(np.clip(semitones(own.f0, actor.f0), -MAX_SHIFT, MAX_SHIFT))
    return replace(m, semitones=round(shift, 1), voice_f0=own.f0)


def loadable_engines() -> list[str]:
    """Every engine that loads here, neural ones first (espeak stays the fallback for other languages)."""
    from .engines import available_engines

    names = sorted(available_engines(), key=lambda n: (n not in NEURAL, n))
    found = []
    for name in names:
        try:
            get_engine(name)
        except OtioDubError as exc:
            log.info("voice matching: engine %s not available (%s)", name, exc)
            continue
        found.append(name)
    return found
