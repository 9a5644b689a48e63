"""The embedded default voice: espeak-ng in-process through ctypes (library from espeakng-loader).

espeak-ng is a process-wide singleton, so one lock serialises every call. It is deterministic:
the same text and parameters give the same samples (see EspeakEngine for how).
"""

from __future__ import annotations

import _ctypes
import contextlib
import ctypes
import difflib
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..core.errors import EngineError
from .base import EngineInfo, Take, VoiceInfo, VoiceSpec

log = logging.getLogger(__name__)

# speak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE = 1, 2, 3, 4
_RATE_MIN, _RATE_MAX = 80, 450
#: Variants given to characters without a cast entry, so each character sounds distinct. Variants
#: with breath noise (f2, f3, f5, whisper) are left out: their noise is not reproducible run to run.
_VARIANTS = ("m3", "f4", "m1", "f1", "m7", "m2", "m5", "m6")
#: espeak's default rate in words per minute: speed 1.0.
BASE_WPM = 175

_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _EspeakVoiceStruct(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),  # priority byte + name + NUL, repeated; not a C string
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


class EspeakEngine:
    """espeak-ng speaking from the library and data that the espeakng-loader wheel ships.

    libespeak-ng keeps waveform state (pitch phase, flutter, noise) across calls, so the same
    text spoken twice differs. Each call therefore loads a fresh instance of the library and
    unloads it after (about 2 ms), and seeds libc's ``rand`` that espeak's noise uses: a line
    sounds the same whatever was spoken before it. Known limit: variants with breath noise
    (f2, f3, f5, whisper, ...) still differ run to run, so automatic voices never use them.
    """

    _lock = threading.Lock()

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as exc:  # a dependency of the package: only a broken install lands here
            raise EngineError("espeak engine needs the 'espeakng-loader' package: pip install espeakng-loader") from exc
        self._path = _private_copy(espeakng_loader.get_library_path())
        self._data = espeakng_loader.get_data_path().encode()
        self._libc = ctypes.CDLL(None)
        self._chunks: list[np.ndarray] = []
        self._callback = _SynthCallback(self._collect)  # keep a reference: ctypes must not free it
        with self._session() as (lib, rate):
            version = (lib.espeak_Info(None) or b"unknown").decode()
            self._voices = self._list_voices(lib)
        self.info = EngineInfo("espeak", rate, True, (_RATE_MIN / BASE_WPM, _RATE_MAX / BASE_WPM), version,
                               native_prosody=True)

    @contextlib.contextmanager
    def _session(self) -> Iterator[tuple[ctypes.CDLL, int]]:
        """A freshly loaded, initialised libespeak-ng, unloaded again on exit (caller holds the lock)."""
        try:
            lib = ctypes.CDLL(self._path)
        except OSError as exc:
            raise EngineError(f"cannot load libespeak-ng from espeakng-loader: {exc}") from exc
        try:
            _declare(lib)
            rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, self._data, _INITIALIZE_DONT_EXIT)
            if rate <= 0:
                raise EngineError(f"espeak-ng failed to initialise with data at {self._data.decode()}")
            lib.espeak_SetSynthCallback(self._callback)
            yield lib, rate
        finally:
            lib.espeak_Terminate()
            handle = lib._handle
            del lib
            _ctypes.dlclose(handle)

    def _collect(self, wav: ctypes._Pointer[ctypes.c_short], count: int, _events: int) -> int:
        if wav and count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0

    @staticmethod
    def _list_voices(lib: ctypes.CDLL) -> list[tuple[str, str, list[str]]]:
        """(identifier, name, languages) of every voice espeak-ng ships."""
        table = []
        voices = lib.espeak_ListVoices(None)
        i = 0
        while voices[i]:
            v = voices[i].contents
            raw = ctypes.string_at(v.languages, 64)
            langs, pos = [], 0
            while pos < len(raw) and raw[pos] != 0:  # priority byte, name, NUL; ends at a 0 priority
                end = raw.index(b"\0", pos + 1)
                langs.append(raw[pos + 1:end].decode(errors="replace"))
                pos = end + 1
            table.append((v.identifier.decode(), v.name.decode(errors="replace"), langs))
            i += 1
        return table

    def default_voice(self, lang: str, index: int) -> VoiceSpec:
        """The ``index``-th automatic voice for ``lang``: espeak variants alternate male and female."""
        return VoiceSpec(voice=f"{lang}+{_VARIANTS[index % len(_VARIANTS)]}", lang=lang)

    def languages(self) -> list[str]:
        """Every language code espeak-ng can speak (``en-us``, ``de``, ``fr-fr`` ...)."""
        return sorted({lang for _, _, langs in self._voices for lang in langs})

    def variants(self) -> list[str]:
        """Voice variants (``+m3``, ``+f4``, ``+klatt`` ...) that any espeak language can take."""
        folder = Path(self._data.decode()) / "voices" / "!v"
        return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else list(_VARIANTS)

    def check(self, voice: VoiceSpec) -> None:
        """Raise EngineError, listing valid names, unless espeak can speak ``voice``."""
        base, _, variant = _espeak_name(voice).partition("+")
        identifiers = {ident for ident, _, _ in self._voices} | set(self.languages())
        if base not in identifiers:
            close = difflib.get_close_matches(base, sorted(identifiers), n=6, cutoff=0.4)
            raise EngineError(f"espeak has no language or voice {base!r}"
                              + (f"; did you mean {', '.join(close)}?" if close else "; see `otio-dub voices espeak`"))
        if variant and variant not in self.variants():
            close = difflib.get_close_matches(variant, self.variants(), n=6, cutoff=0.4)
            raise EngineError(f"espeak has no voice variant {variant!r}; variants include: "
                              f"{', '.join(close or list(_VARIANTS))}")

    def voices(self, lang: str | None = None) -> list[VoiceInfo]:
        """espeak's languages as voices; any of them takes a ``+variant`` (``en-us+m3``)."""
        found = []
        for identifier, name, langs in self._voices:
            if lang is None or any(code == lang or code.startswith(f"{lang}-") for code in langs):
                found.append(VoiceInfo(langs[0] if langs else identifier, name, tuple(langs), tuple(_VARIANTS)))
        return found

    def synthesize(self, text: str, voice: VoiceSpec, speed: float = 1.0) -> Take:
        """Speak ``text``; ``speed`` scales the words-per-minute rate (clamped to 80-450 wpm)."""
        name = _espeak_name(voice)
        wpm = int(round(min(max(BASE_WPM * speed, _RATE_MIN), _RATE_MAX)))
        payload = text.encode("utf-8") + b"\0"
        with self._lock, self._session() as (lib, _):
            if lib.espeak_SetVoiceByName(name.encode()) != 0:
                langs = self.languages()
                close = difflib.get_close_matches(name.split("+")[0], langs, n=6, cutoff=0.4)
                common: list[str] = [c for c in ("en", "en-us", "de", "fr-fr", "es", "it", "pt", "ja") if c in langs]
                shown = list(dict.fromkeys(close + common))[:10]
                raise EngineError(f"espeak has no voice or language {name!r} (known languages include: "
                                  f"{', '.join(shown)}; {len(langs)} in all)")
            lib.espeak_SetParameter(_PARAM_RATE, wpm, 0)
            lib.espeak_SetParameter(_PARAM_PITCH, _clamp(50 * voice.pitch, 0, 99), 0)
            lib.espeak_SetParameter(_PARAM_RANGE, _clamp(50 * voice.pitch_range, 0, 99), 0)
            lib.espeak_SetParameter(_PARAM_VOLUME, _clamp(100 * voice.volume, 0, 200), 0)
            self._libc.srand(0)
            self._chunks = []
            status = lib.espeak_Synth(payload, len(payload), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            lib.espeak_Synchronize()
            chunks, self._chunks = self._chunks, []
        if status != 0:
            raise EngineError(f"espeak-ng failed (status {status}) on text {text[:40]!r}")
        pcm = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        return Take((pcm.astype(np.float32) / 32768.0), self.info.sample_rate)


def _espeak_name(voice: VoiceSpec) -> str:
    """The voice's espeak name with its language in lower case: language tags are case-insensitive
    (BCP 47: ``pt-BR`` is ``pt-br``), espeak's look-up is not."""
    base, plus, variant = (voice.voice or voice.lang).partition("+")
    return base.lower() + plus + variant


def _private_copy(library: str) -> str:
    """A copy of libespeak-ng that only this engine loads, so each ``dlclose`` really unloads it.

    Other packages in the process load espeakng-loader's library and keep it (kokoro-onnx's
    phonemizer does, for every kokoro voice): a ``dlopen`` of the same file then only bumps its
    reference count, the waveform state survives between calls and takes stop being reproducible.
    A copy has its own inode, hence its own instance. It is kept in a folder of this user's under
    the temp dir, named by the original's size and time, and shared by every process (pool and Ray
    workers exit without running atexit, so per-process copies would pile up). Where no copy can
    be made or loaded (a ``noexec`` temp folder, a folder another user owns), the shared file is used.
    """
    try:
        source = Path(library)
        stat = source.stat()
        folder = Path(tempfile.gettempdir()) / f"otio-dub-{getattr(os, 'getuid', lambda: 'user')()}"
        folder.mkdir(mode=0o700, exist_ok=True)
        mine = folder.lstat()
        if not folder.is_dir() or folder.is_symlink() or (hasattr(os, "getuid") and mine.st_uid != os.getuid()):
            raise OSError(f"{folder} is not this user's folder")
        copy = folder / f"libespeak-ng-{stat.st_size}-{stat.st_mtime_ns}.so"
        if not copy.is_file():
            part = folder / f".{copy.name}.{os.getpid()}.part"
            shutil.copyfile(source, part)
            os.replace(part, copy)
        _ctypes.dlclose(ctypes.CDLL(str(copy))._handle)
        return str(copy)
    except OSError as exc:
        log.debug("espeak: using the shared library (%s)", exc)
        return library


def _clamp(value: float, lo: int, hi: int) -> int:
    return int(round(min(max(value, lo), hi)))


def _declare(lib: ctypes.CDLL) -> None:
    """C signatures of the espeak-ng calls used here (speak_lib.h)."""
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
        ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
    ]
    lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_EspeakVoiceStruct))
    lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
    lib.espeak_Info.restype = ctypes.c_char_p
    lib.espeak_Info.argtypes = [ctypes.c_void_p]
