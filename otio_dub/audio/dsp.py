"""Audio maths on float32 mono arrays: resample, speech bounds, time-stretch, fades.

Stateless functions with an explicit sample rate on every call (the pedalboard style). Heavy
libraries (pedalboard) are imported inside the function that needs them; torch is not needed.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING

import numpy as np

from ..core.timebase import SAMPLE_RATE

if TYPE_CHECKING:
    from threadpoolctl import ThreadpoolController

#: Frames of 5 ms for the speech detector: fine enough for a 1-frame (>= 16 ms) tolerance.
_HOP_S = 0.005


def resample(audio: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Band-limited resample: Kaiser-windowed sinc, torchaudio's documented 'best' setting, in numpy.

    The same kernel as ``torchaudio.transforms.Resample(lowpass_filter_width=64, rolloff=0.9475,
    resampling_method="sinc_interp_kaiser", beta=14.7697)`` (its output agrees to ~1e-7), computed
    without torch: importing torch costs a render worker 600 MB of memory.
    """
    if rate == target or audio.size == 0:
        return audio.astype(np.float32, copy=False)
    kernel, width, orig, new = _sinc_kernel(rate, target)
    x = np.ascontiguousarray(audio, dtype=np.float32)
    padded = np.pad(x, (width, width + orig))
    with _blas().limit(limits=1, user_api="blas"):  # BLAS sums differently on other thread counts
        out = _convolve(padded, kernel, orig, new)
    return np.ascontiguousarray(out[: -(-new * x.size // orig)], dtype=np.float32)


def resampled_size(size: int, rate: int, target: int = SAMPLE_RATE) -> int:
    """How many samples :func:`resample` gives for ``size`` samples at ``rate``: a length measured at an
    engine's own rate converts to the 48 kHz length its take will have, exactly, without resampling it."""
    if rate == target or size == 0:
        return size
    gcd = math.gcd(rate, target)
    return -(-(target // gcd) * size // (rate // gcd))


def native_size(size: int, rate: int, target: int = SAMPLE_RATE) -> int:
    """The most samples at ``rate`` that :func:`resample` turns into at most ``size`` at ``target``
    (a 48 kHz length to stretch to, at an engine's own rate)."""
    if rate == target:
        return size
    gcd = math.gcd(rate, target)
    return (rate // gcd) * size // (target // gcd)


@functools.lru_cache(maxsize=1)
def _blas() -> ThreadpoolController:
    """threadpoolctl's view of this process's BLAS: one thread while resampling, so a take is the same
    in a driver, a pool worker or a Ray worker (each defaults to another number of threads)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _convolve(padded: np.ndarray, kernel: np.ndarray, orig: int, new: int) -> np.ndarray:
    """The polyphase convolution: ``new`` outputs for every ``orig`` inputs, interleaved."""
    if orig >= 16:  # few long input windows (22.05 -> 48 kHz: 147 in, 320 out): one matrix product
        frames = np.lib.stride_tricks.sliding_window_view(padded, kernel.shape[1])[::orig]
        return (frames @ kernel.T).reshape(-1)
    # a small ratio (24 -> 48 kHz: 1 in, 2 out): one correlation per output phase
    phases = [np.correlate(padded, kernel[j], mode="valid")[::orig] for j in range(new)]
    return np.stack(phases, axis=1).reshape(-1)


@functools.lru_cache(maxsize=8)
def _sinc_kernel(rate: int, target: int, zeros: int = 64, rolloff: float = 0.9475,
                 beta: float = 14.769656459379492) -> tuple[np.ndarray, int, int, int]:
    """The polyphase kernel (new x taps, float32), built once per rate pair as torchaudio builds it."""
    gcd = math.gcd(rate, target)
    orig, new = rate // gcd, target // gcd
    base = min(orig, new) * rolloff
    width = math.ceil(zeros * orig / base)
    idx = np.arange(-width, width + orig, dtype=np.float64)[None, :] / orig
    t = (np.arange(0, -new, -1, dtype=np.float64)[:, None] / new + idx) * base
    t = np.clip(t, -zeros, zeros)
    window = np.i0(beta * np.sqrt(1 - (t / zeros) ** 2)) / np.i0(beta)
    t = t * math.pi
    with np.errstate(invalid="ignore", divide="ignore"):
        kernel = np.where(t == 0, 1.0, np.sin(t) / t)
    kernel = kernel * window * (base / orig)
    return np.ascontiguousarray(kernel, dtype=np.float32), width, orig, new


def frame_levels(audio: np.ndarray, rate: int, frame_s: float) -> np.ndarray:
    """The level in dB (full scale) of each whole ``frame_s`` frame of ``audio``, frames side by side."""
    hop = max(1, int(rate * frame_s))
    n = audio.size // hop
    frames = np.asarray(audio[: n * hop], dtype=np.float64).reshape(n, hop)
    return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-20) if n else np.zeros(0)


def speech_bounds(audio: np.ndarray, rate: int = SAMPLE_RATE, floor_db: float = -55.0, rel_db: float = -40.0) -> tuple[int, int]:
    """(first, end) sample of the non-silent part: 5 ms RMS above floor and within rel_db of the peak.

    Returns (0, 0) for silence. Used to trim engine silence so the fit counts speech only.
    """
    level = frame_levels(audio, rate, _HOP_S)
    if level.size == 0:
        return (0, 0)
    hop = max(1, int(rate * _HOP_S))
    threshold = max(floor_db, float(level.max()) + rel_db)
    loud = np.flatnonzero(level > threshold)
    if loud.size == 0:
        return (0, 0)
    first, last = int(loud[0]) * hop, min(audio.size, (int(loud[-1]) + 1) * hop)
    # refine to the sample: widen to the first/last sample above the floor within the edge frames
    amp = 10 ** (floor_db / 20)
    head = np.flatnonzero(np.abs(audio[max(0, first - hop): first + hop]) > amp)
    tail = np.flatnonzero(np.abs(audio[max(0, last - hop): last + hop]) > amp)
    if head.size:
        first = max(0, first - hop) + int(head[0])
    if tail.size:
        last = max(0, last - hop) + int(tail[-1]) + 1
    return (first, last)


def trim(audio: np.ndarray, rate: int = SAMPLE_RATE) -> np.ndarray:
    """The speech part of a take, leading and trailing silence removed."""
    first, end = speech_bounds(audio, rate)
    return audio[first:end]


#: A stretch within this fraction of 1x and with no pitch change (the residual trim most fitted lines
#: get) runs on Rubber Band's R2 engine, in a third of R3's time (``high_quality``, kept for pitch
#: shifts and larger stretches). benchmarks/bench_stretch.py, trims of 0.97-1.03: R2's artefact score
#: is lower than R3's on espeak and piper takes, and tiny.en reads 30 piper lines trimmed 2% either
#: way at the voice's rate at 1.4-2.5% word error rate on R2, 1.5-3.3% on R3 (0.9% untrimmed). The
#: trim was two thirds of an espeak line's work.
TRIM_STRETCH = 0.03


def time_stretch(audio: np.ndarray, factor: float, rate: int = SAMPLE_RATE, length: int | None = None,
                 semitones: float = 0.0) -> np.ndarray:
    """Pitch- and formant-preserving stretch with Rubber Band (factor > 1 is faster/shorter); a small
    trim on its faster engine (see :data:`TRIM_STRETCH`).

    ``semitones`` shifts pitch in the same pass, formants kept (a character's cast pitch).

    Rubber Band's output can be a few hundred samples off; with ``length`` the result is exactly
    that long (its own trailing silence trimmed first, then the stretch redone if speech is longer),
    and the stretch is ``audio.size / length`` whatever ``factor`` says: a factor measured at another
    rate misses by a sample or two, which cost a second Rubber Band pass on a third of the lines.
    """
    import pedalboard

    target = length if length is not None else int(round(audio.size / factor))
    if length is not None and length > 0 and audio.size:
        factor = audio.size / length
    fine = bool(semitones) or abs(factor - 1.0) > TRIM_STRETCH
    out = audio
    for _ in range(3):
        out = pedalboard.time_stretch(
            audio[np.newaxis, :].astype(np.float32), float(rate), stretch_factor=float(factor),
            pitch_shift_in_semitones=float(semitones), high_quality=fine, use_long_fft_window=False,
            preserve_formants=True,
        )[0]
        first, end = speech_bounds(out, rate)
        out = out[first:end] if end > first else out
        if out.size <= target:
            break
        factor *= out.size / target
    if out.size > target:  # still a few samples long: only decay remains past target, fade it out
        out = fade(out[:target], rate)
    return np.pad(out, (0, target - out.size)).astype(np.float32)


def fade(audio: np.ndarray, rate: int = SAMPLE_RATE, ms: float = 2.0) -> np.ndarray:
    """Short raised-cosine fade in and out so trimmed edges never click."""
    n = min(int(rate * ms / 1000), audio.size // 2)
    if n < 2:
        return audio
    ramp = (0.5 - 0.5 * np.cos(np.linspace(0, np.pi, n))).astype(np.float32)
    out = audio.astype(np.float32, copy=True)
    out[:n] *= ramp
    out[-n:] *= ramp[::-1]
    return out
