"""Measurements shared by the benchmarks: pitch and spectral distance of mono 48 kHz speech."""

from __future__ import annotations

import numpy as np


def f0(audio: np.ndarray, rate: int = 48000) -> float:
    """Median F0 (Hz) of voiced 40 ms frames: FFT autocorrelation peak between 70 and 400 Hz."""
    win, hop = int(0.04 * rate), int(0.01 * rate)
    if audio.size < win:
        return float("nan")
    frames = np.lib.stride_tricks.sliding_window_view(audio, win)[::hop].astype(np.float64)
    frames = frames - frames.mean(axis=1, keepdims=True)
    spec = np.fft.rfft(frames * np.hanning(win), n=2 * win, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :win]
    lo, hi = rate // 400, rate // 70
    lags = lo + np.argmax(ac[:, lo:hi], axis=1)
    strength = ac[np.arange(len(ac)), lags] / np.maximum(ac[:, 0], 1e-12)
    voiced = strength > 0.5
    if not voiced.any():
        return float("nan")
    # parabolic interpolation around the peak for sub-sample lag precision
    a, b, c = (ac[np.arange(len(ac)), lags + d] for d in (-1, 0, 1))
    shift = 0.5 * (a - c) / np.where(np.abs(a - 2 * b + c) > 1e-12, a - 2 * b + c, 1e-12)
    return float(np.median(rate / (lags[voiced] + shift[voiced])))


def log_spectral_distance(a: np.ndarray, b: np.ndarray, n_fft: int = 1024) -> float:
    """Mean log-spectral distance (dB) between two signals over their common length (lower is closer)."""
    n = min(a.size, b.size) // n_fft * n_fft
    if n == 0:
        return float("nan")
    spec = [np.abs(np.fft.rfft(x[:n].reshape(-1, n_fft) * np.hanning(n_fft), axis=1)) + 1e-6 for x in (a, b)]
    diff = 20 * np.log10(spec[0]) - 20 * np.log10(spec[1])
    return float(np.mean(np.sqrt(np.mean(diff**2, axis=1))))
