"""Engine registry: built-in engines in a dict, extended by the ``otio_dub.engines`` entry points.

Like pysubs2's format registry, an unknown name turns the KeyError into an error that lists the
known engines. Engines are loaded once per process (a neural voice takes seconds to load).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from importlib.metadata import entry_points

from ..core.errors import EngineError
from .base import Engine, EngineInfo, Take, VoiceInfo, VoiceSpec


def quiet_onnxruntime() -> None:
    """Turn onnxruntime's telemetry off before it is first imported (piper, kokoro and others use it).

    onnxruntime 1.2x on Linux and macOS otherwise writes a device id under ``~/.cache/Microsoft``
    on import and uploads usage events. Only its environment variable stops it: the Python API
    (``disable_telemetry_events``) runs after the import has already written. Set in ``os.environ``,
    so worker processes inherit it; a user's own explicit ``ORT_DISABLE_TELEMETRY=0`` is kept.
    """
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


quiet_onnxruntime()


def _espeak() -> Engine:
    from .espeak import EspeakEngine

    return EspeakEngine()


def _piper() -> Engine:
    from .piper import PiperEngine

    return PiperEngine()


def _kokoro() -> Engine:
    from .kokoro import KokoroEngine

    return KokoroEngine()


#: Built-in engines: name -> zero-argument factory returning a loaded engine.
ENGINES: dict[str, Callable[[], Engine]] = {"espeak": _espeak, "piper": _piper, "kokoro": _kokoro}
DEFAULT_ENGINE = "espeak"
#: Not an engine: the best installed voice of each character's language (the default of a dub).
BEST = "best"

_loaded: dict[str, Engine] = {}
_load_lock = threading.Lock()


def available_engines() -> dict[str, Callable[[], Engine]]:
    """Built-in engines plus those installed packages declare under ``otio_dub.engines``."""
    found = dict(ENGINES)
    for ep in entry_points(group="otio_dub.engines"):
        found.setdefault(ep.name, ep.load)
    return found


def get_engine(name: str = DEFAULT_ENGINE) -> Engine:
    """The loaded engine called ``name`` (loaded on first use, then shared by the process)."""
    with _load_lock:
        if name in _loaded:
            return _loaded[name]
        factories = available_engines()
        if name not in factories:
            raise EngineError(f"unknown engine {name!r}; known engines: {', '.join(sorted(factories))}")
        engine = factories[name]()
        if isinstance(engine, type) or (callable(engine) and not isinstance(engine, Engine)):
            engine = engine()  # an entry point naming a class or a factory, not an instance
        _loaded[name] = engine
        return engine


__all__ = ["BEST", "ENGINES", "DEFAULT_ENGINE", "Engine", "EngineInfo", "Take", "VoiceInfo", "VoiceSpec", "available_engines", "get_engine",
           "quiet_onnxruntime"]
