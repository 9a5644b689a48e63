"""Fundamental frequency (F0) of speech with YIN (de Cheveigné & Kawahara, 2002), in numpy.

Used by voice matching to compare an actor's pitch with a voice's. Works at 16 kHz on 40 ms frames
with a 10 ms hop, 60-500 Hz: the cumulative-mean-normalised difference function, the first dip
under 0.15 (the global minimum when none is), parabolic interpolation; frames quieter than 35 dB
under the loudest, or whose best dip is above 0.35, are unvoiced.
"""

from __future__ import annotations

import numpy as np

from . import dsp

RATE = 16000
FRAME = 640  # 40 ms
HOP = 160  # 10 ms
FMIN, FMAX = 60.0, 500.0
THRESHOLD = 0.15
UNVOICED = 0.35


def _difference(frames: np.ndarray, max_lag: int) -> np.ndarray:
    """YIN's d(tau) for tau = 0..max_lag-1 of each row, over its first FRAME samples, via FFT."""
    width = frames.shape[1]
    n = 1 << (2 * width - 1).bit_length()
    spec = np.fft.rfft(frames, n=n, axis=1)
    head = np.fft.rfft(frames[:, :FRAME], n=n, axis=1)
    cross = np.fft.irfft(np.conj(head) * spec, n=n, axis=1)[:, :max_lag]  # sum_j x_j x_{j+tau}, j < FRAME
    energy = np.cumsum(frames ** 2, axis=1)
    head_energy = energy[:, FRAME - 1: FRAME]
    lags = np.arange(max_lag)
    shifted = energy[:, FRAME - 1 + lags] - np.concatenate([np.zeros((len(frames), 1)), energy[:, lags[1:] - 1]], axis=1)
    return np.maximum(head_energy + shifted - 2 * cross, 0.0)


def f0_track(audio: np.ndarray, rate: int) -> np.ndarray:
    """F0 in Hz of each 10 ms frame of mono ``audio``; NaN where the frame is unvoiced or silent."""
    x = dsp.resample(np.asarray(audio, dtype=np.float32), rate, RATE).astype(np.float64)
    min_lag, max_lag = int(RATE / FMAX), int(np.ceil(RATE / FMIN)) + 2
    width = FRAME + max_lag
    if x.size < width:
        return np.zeros(0)
    frames = np.lib.stride_tricks.sliding_window_view(x, width)[::HOP]
    frames = frames - frames[:, :FRAME].mean(axis=1, keepdims=True)
    d = _difference(frames, max_lag)
    cum = np.cumsum(d[:, 1:], axis=1)
    cmnd = np.ones_like(d)
    cmnd[:, 1:] = d[:, 1:] * np.arange(1, max_lag) / np.maximum(cum, 1e-12)
    seg = cmnd[:, min_lag: max_lag - 1]
    dip = np.zeros(seg.shape, dtype=bool)
    dip[:, 1:-1] = (seg[:, 1:-1] < THRESHOLD) & (seg[:, 1:-1] <= seg[:, :-2]) & (seg[:, 1:-1] <= seg[:, 2:])
    first = np.where(dip.any(axis=1), np.argmax(dip, axis=1), np.argmin(seg, axis=1))
    rows = np.arange(len(seg))
    lag = first + min_lag
    best = cmnd[rows, lag]
    a, b, c = cmnd[rows, lag - 1], best, cmnd[rows, np.minimum(lag + 1, max_lag - 1)]
    den = a - 2 * b + c
    shift = np.where(np.abs(den) > 1e-12, 0.5 * (a - c) / np.where(np.abs(den) > 1e-12, den, 1.0), 0.0)
    level = 10 * np.log10(np.mean(frames[:, :FRAME] ** 2, axis=1) + 1e-12)
    voiced = (best < UNVOICED) & (level > level.max() - 35.0) & (level > -60.0)
    return np.where(voiced, RATE / (lag + np.clip(shift, -1, 1)), np.nan)


def f0_stats(audio: np.ndarray, rate: int, min_frames: int = 10) -> tuple[float | None, float | None, float | None]:
    """(median, 10th percentile, 90th percentile) F0 of the voiced frames; Nones when too few."""
    track = f0_track(audio, rate)
    voiced = track[np.isfinite(track)]
    if voiced.size < min_frames:
        return None, None, None
    lo, med, hi = np.percentile(voiced, [10, 50, 90])
    return float(med), float(lo), float(hi)


def semitones(from_hz: float, to_hz: float) -> float:
    """The pitch shift in semitones that takes ``from_hz`` to ``to_hz``."""
    return float(12 * np.log2(to_hz / from_hz))


#: Median F0 that decides a voice's gender: below MALE_HZ male, above FEMALE_HZ female, between undecided.
MALE_HZ, FEMALE_HZ = 150.0, 170.0


def gender_of_f0(hz: float | None) -> str | None:
    """``"male"`` under 150 Hz, ``"female"`` over 170 Hz, None between (or unknown): a voice's median F0."""
    if hz is None or not np.isfinite(hz):
        return None
    return "male" if hz < MALE_HZ else "female" if hz > FEMALE_HZ else None
