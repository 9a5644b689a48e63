"""Loudness and true peak to ITU-R BS.1770-4 (and EBU Tech 3342 loudness range), streamed.

Pure numpy/scipy, an explicit sample rate everywhere, no files. A :class:`Meter` is fed blocks of
any size in order and keeps only a few numbers per 100 ms, so a 2-hour programme costs about
600 kB whatever its length; gating is exact because the 400 ms measurement blocks (75 % overlap)
and the 3 s short-term windows are whole sums of those 100 ms segments.

* Integrated loudness: K-weighting (the two BS.1770 biquads), 400 ms blocks every 100 ms,
  absolute gate -70 LKFS, relative gate -10 LU, channel weights 1.0 (L, R, C), 1.41 (surrounds),
  0 (LFE).
* True peak: 4x oversampling with the 48-tap interpolation filter of BS.1770-4 Annex 2; the
  reading is never below the sample peak.
* Loudness range (EBU Tech 3342): 3 s short-term loudness every 100 ms, absolute gate -70,
  relative gate -20 LU, 10th to 95th percentile.
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def prefetch() -> None:
    """Import the K-weighting filter's module (scipy.signal: 1.3 s, it pulls in scipy.stats) on a
    background thread, for a process that measures loudness after waiting on its render workers:
    the import then costs no wall time. Importing it later on any thread simply waits for this one."""
    if "scipy.signal" not in sys.modules:
        threading.Thread(target=_import_filter, name="otio-dub-prefetch", daemon=True).start()


def _import_filter() -> None:
    try:
        import scipy.signal  # noqa: F401
    except BaseException:  # noqa: BLE001 - a failure shows where the meter imports it, with its own error
        pass

ABSOLUTE_GATE = -70.0
RELATIVE_GATE = -10.0
LRA_RELATIVE_GATE = -20.0
_OFFSET = -0.691

#: BS.1770-4 Annex 2 polyphase interpolation filter (order 48, 4 phases of 12 taps). The prototype
#: is symmetric, so phases 2 and 3 are phases 1 and 0 reversed.
_PHASE0 = (0.0017089843750, 0.0109863281250, -0.0196533203125, 0.0332031250000, -0.0594482421875, 0.1373291015625,
           0.9721679687500, -0.1022949218750, 0.0476074218750, -0.0266113281250, 0.0148925781250, -0.0083007812500)
_PHASE1 = (-0.0291748046875, 0.0292968750000, -0.0517578125000, 0.0891113281250, -0.1665039062500, 0.4650878906250,
           0.7797851562500, -0.2003173828125, 0.1015625000000, -0.0582275390625, 0.0330810546875, -0.0189208984375)
TRUE_PEAK_PHASES = np.array([_PHASE0, _PHASE1, _PHASE1[::-1], _PHASE0[::-1]])
_TAPS = TRUE_PEAK_PHASES.shape[1]
#: Samples of input before an output that the true-peak filter still reads (an output's reach into the past).
TRUE_PEAK_REACH = _TAPS - 1
#: No oversampled value can exceed the largest input magnitude in its window times this.
_TP_BOUND = float(np.abs(TRUE_PEAK_PHASES).sum(axis=1).max())
_TP_CHUNK = 480
#: The phases as a (12, 4) matrix for a window x[n-11..n] (float32: 24-bit audio, 1e-6 dB error).
_TP_MATRIX = np.ascontiguousarray(TRUE_PEAK_PHASES[:, ::-1].T, dtype=np.float32)


def channel_weights(channels: int) -> tuple[float, ...]:
    """BS.1770 weights in WAVE channel order: mono, stereo, 5.1 (L R C LFE Ls Rs), 7.1 (+ Lrs Rrs)."""
    if channels <= 3:
        return (1.0,) * channels
    if channels == 6:
        return (1.0, 1.0, 1.0, 0.0, 1.41, 1.41)
    if channels == 8:
        return (1.0, 1.0, 1.0, 0.0, 1.41, 1.41, 1.41, 1.41)
    raise ValueError(f"no BS.1770 channel weights for {channels} channels (mono, stereo, 5.1 or 7.1)")


def k_weighting(sample_rate: int) -> np.ndarray:
    """The K-weighting filter (high-shelf 'pre-filter' then RLB high-pass) as second-order sections.

    Derived for any rate from the analogue prototype (as libebur128 does); at 48 kHz it matches the
    coefficients printed in BS.1770-4 to 1e-8.
    """
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / sample_rate)
    vh = 10 ** (gain_db / 20)
    vb = vh ** 0.4996667741545416
    a0 = 1 + k / q + k * k
    shelf = [(vh + vb * k / q + k * k) / a0, 2 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0,
             1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / sample_rate)
    a0 = 1 + k / q + k * k
    highpass = [1.0, -2.0, 1.0, 1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]
    return np.array([shelf, highpass])


def _db(energy: float) -> float:
    return _OFFSET + 10 * math.log10(energy) if energy > 0 else -math.inf


def gated_loudness(block_energy: np.ndarray) -> float:
    """Integrated loudness (LKFS) of 400 ms block energies (channel-weighted mean squares), gated."""
    if block_energy.size == 0:
        return -math.inf
    with np.errstate(divide="ignore"):
        level = _OFFSET + 10 * np.log10(block_energy)
    above = block_energy[level > ABSOLUTE_GATE]
    if above.size == 0:
        return -math.inf
    relative = _db(float(above.mean())) + RELATIVE_GATE
    kept = block_energy[(level > ABSOLUTE_GATE) & (level > relative)]
    return _db(float(kept.mean())) if kept.size else -math.inf


@dataclass(frozen=True)
class Loudness:
    """One signal's measurement; loudness values are -inf for silence, dB values of 0 signal -inf."""

    integrated: float
    true_peak: float
    sample_peak: float
    loudness_range: float
    max_momentary: float
    max_short_term: float

    def as_dict(self) -> dict[str, float | None]:
        """Rounded for a report; -inf (nothing above the gate) becomes None."""
        def r(x: float) -> float | None:
            return round(x, 2) if math.isfinite(x) else None

        return {"integrated_lkfs": r(self.integrated), "true_peak_dbtp": r(self.true_peak),
                "sample_peak_dbfs": r(self.sample_peak), "loudness_range_lu": r(self.loudness_range),
                "max_momentary_lkfs": r(self.max_momentary), "max_short_term_lkfs": r(self.max_short_term)}


class SegmentEnergies:
    """Channel-weighted, K-weighted sums of squares per 100 ms, from which every gated figure follows.

    ``scaled(db)`` gives the same programme with a gain applied, exactly (the filter is linear), so
    a normaliser can solve for a gain without measuring again.
    """

    def __init__(self, sample_rate: int, values: np.ndarray) -> None:
        self.sample_rate = sample_rate
        self.values = values

    def scaled(self, gain_db: float) -> SegmentEnergies:
        return SegmentEnergies(self.sample_rate, self.values * 10 ** (gain_db / 10))

    def _windows(self, segments: int) -> np.ndarray:
        if self.values.size < segments:
            return np.zeros(0)
        sums = np.convolve(self.values, np.ones(segments), mode="valid")
        return np.maximum(sums, 0.0) / (segments * self.sample_rate // 10)

    def integrated(self) -> float:
        """Gated integrated loudness, LKFS."""
        return gated_loudness(self._windows(4))

    def max_momentary(self) -> float:
        blocks = self._windows(4)
        return _db(float(blocks.max())) if blocks.size else -math.inf

    def max_short_term(self) -> float:
        windows = self._windows(30)
        return _db(float(windows.max())) if windows.size else -math.inf

    def loudness_range(self) -> float:
        """EBU Tech 3342 LRA, LU (0 when fewer than two short-term values pass the gates)."""
        windows = self._windows(30)
        with np.errstate(divide="ignore"):
            level = _OFFSET + 10 * np.log10(windows)
        above = windows[level > ABSOLUTE_GATE]
        if above.size == 0:
            return 0.0
        relative = _db(float(above.mean())) + LRA_RELATIVE_GATE
        kept = level[(level > ABSOLUTE_GATE) & (level > relative)]
        if kept.size < 2:
            return 0.0
        low, high = np.percentile(kept, [10, 95])
        return float(high - low)

    def gain_for(self, target: float) -> float:
        """The gain (dB) that brings the integrated loudness to ``target`` exactly.

        Loudness moves dB for dB with gain except where blocks cross the absolute gate, so a few
        fixed-point steps settle it. Raises ValueError when nothing is above the gate.
        """
        level = self.integrated()
        if not math.isfinite(level):
            raise ValueError("nothing above the -70 LKFS gate to measure")
        gain = target - level
        for _ in range(20):
            level = self.scaled(gain).integrated()
            if not math.isfinite(level) or abs(level - target) < 1e-9:
                break
            gain += target - level
        return gain


class TruePeak:
    """Streaming 4x-oversampled true peak (BS.1770-4 Annex 2), never below the sample peak.

    Only chunks that could raise the running maximum are oversampled (the filter's gain is bounded),
    which makes the meter cheap on speech without changing its reading.
    """

    def __init__(self, channels: int = 1) -> None:
        self.channels = channels
        self._history = np.zeros((_TAPS - 1, channels))
        self.peak = 0.0
        self.sample_peak = 0.0

    def feed(self, block: np.ndarray) -> None:
        block = np.asarray(block)
        if block.dtype != np.float32:  # float32 samples are measured as they are (no float64 copy of every block)
            block = block.astype(np.float64, copy=False)
        block = block.reshape(-1, self.channels)
        n = block.shape[0]
        if n == 0:
            return
        x = np.concatenate([self._history.astype(block.dtype, copy=False), block])
        self._history = x[-(_TAPS - 1):].copy()
        # mono: the magnitudes themselves (a max over a one-wide axis costs more than the rest of the check)
        mags = np.abs(x[:, 0]) if self.channels == 1 else np.abs(x).max(axis=1)
        block_peak = float(mags[_TAPS - 1:].max())
        self.sample_peak = max(self.sample_peak, block_peak)
        self.peak = max(self.peak, block_peak)
        if max(block_peak, float(mags[: _TAPS - 1].max())) * _TP_BOUND <= self.peak:
            return
        chunks = -(-n // _TP_CHUNK)
        padded = np.zeros(chunks * _TP_CHUNK + _TAPS - 1)
        padded[: mags.size] = mags
        # an output in chunk i depends on the chunk's own inputs and the 11 before them
        window_peak = np.maximum(padded[_TAPS - 1:].reshape(chunks, _TP_CHUNK).max(axis=1),
                                 padded[:chunks * _TP_CHUNK].reshape(chunks, _TP_CHUNK)[:, :_TAPS - 1].max(axis=1))
        candidates = np.flatnonzero(window_peak * _TP_BOUND > self.peak)
        if candidates.size == 0:
            return
        xp = np.zeros((chunks * _TP_CHUNK + _TAPS - 1, self.channels), dtype=np.float32)
        xp[: x.shape[0]] = x
        # loudest chunks first, a few at a time: the peak they set rules most of the others out unfiltered
        # (a chunk skipped cannot raise the peak, so the reading is the same as filtering them all)
        candidates = candidates[np.argsort(-window_peak[candidates], kind="stable")]
        done = 0
        while done < candidates.size:
            batch = candidates[done: done + max(8, done)]
            batch = batch[window_peak[batch] * _TP_BOUND > self.peak]
            if batch.size == 0:
                return  # the rest are quieter still
            self._oversample(xp, batch, n)
            done += max(8, done)

    def _oversample(self, xp: np.ndarray, chunks: np.ndarray, n: int) -> None:
        """Raise the peak to the 4x-oversampled maximum of ``chunks`` of the padded block ``xp``."""
        rows = chunks[:, None] * _TP_CHUNK + np.arange(_TP_CHUNK + _TAPS - 1)
        valid = (chunks[:, None] * _TP_CHUNK + np.arange(_TP_CHUNK)) < n  # outputs past the block come later
        for c in range(self.channels):
            windows = np.lib.stride_tricks.sliding_window_view(xp[rows, c], _TAPS, axis=1)  # (k, C, 12)
            y = np.abs(windows @ _TP_MATRIX).max(axis=2)  # (k, C): the 4 phases at once
            self.peak = max(self.peak, float(y[valid].max()))

    def feed_silence(self, n: int) -> None:
        """``n`` zero samples: only the first few can still ring with the samples before them, so only
        those are filtered; after them the history is zeros and the peak cannot move."""
        ring = min(n, _TAPS - 1)
        if ring and self._history.any():  # silence after silence: nothing rings
            self.feed(np.zeros((ring, self.channels)))
        if n > ring:
            self._history = np.zeros((_TAPS - 1, self.channels))

    def finish(self) -> float:
        """Flush the filter (the file is followed by silence) and return the true peak, linear."""
        self.feed(np.zeros((_TAPS - 1, self.channels)))
        return self.peak


class Meter:
    """Streams blocks ``(n,)`` or ``(n, channels)`` at ``sample_rate``; ``result()`` measures them."""

    def __init__(self, sample_rate: int, channels: int = 1, weights: Sequence[float] | None = None,
                 true_peak: bool = True) -> None:
        if sample_rate % 10:
            raise ValueError(f"sample rate {sample_rate} is not a whole number of 100 ms segments")
        self.sample_rate = sample_rate
        self.channels = channels
        self._weights = np.asarray(weights if weights is not None else channel_weights(channels), dtype=np.float64)
        self._sos = k_weighting(sample_rate)
        self._zi = np.zeros((self._sos.shape[0], channels, 2))
        self._segment = sample_rate // 10
        self._partial = np.zeros(channels)  # weighted sum of squares of the unfinished segment, per channel
        self._filled = 0
        self._segments: list[np.ndarray] = []
        self._tp = TruePeak(channels) if true_peak else None
        self.rested = 0  # samples fed since the filter last came to rest (0 while it rings)

    def feed(self, block: np.ndarray) -> None:
        self.filter(block)

    def filter(self, block: np.ndarray) -> np.ndarray | None:
        """Feed ``block`` and return its K-weighted signal, ``(n, channels)``; None when it is silence
        into a resting filter (silence out: the filtering is skipped)."""
        from scipy.signal import sosfilt

        block = np.asarray(block, dtype=np.float64).reshape(-1, self.channels)
        n = block.shape[0]
        if n == 0:
            return None
        if self._tp is not None:
            self._tp.feed(block)
        if not block.any() and not self._zi.any():
            self._accumulate(None, n)
            self.rested += n
            return None
        self.rested = 0
        filtered, self._zi = sosfilt(self._sos, np.ascontiguousarray(block.T), axis=-1, zi=self._zi)
        if np.abs(self._zi).max() < 1e-30:
            self._zi[:] = 0.0
        filtered = filtered.T
        self._accumulate(np.square(filtered), n)
        return filtered

    @property
    def ringing(self) -> bool:
        """Whether the K-weighting filter still rings with earlier samples (its output is not yet zero)."""
        return bool(self._zi.any())

    def peaks(self) -> tuple[float, float]:
        """(true peak, sample peak), linear, of everything fed so far (the filter flushed, as by ``result``)."""
        if self._tp is None:
            raise ValueError("this meter does not measure true peak")
        return self._tp.finish(), self._tp.sample_peak

    def feed_silence(self, n: int) -> None:
        """``n`` zero samples, without the work: the filter rings out on real zeros (well under a second
        for K-weighting), then whole silent segments are counted, not computed. Same figures as
        ``feed(np.zeros(n))``; this is what makes a mostly silent dialogue stem cheap to measure."""
        if n <= 0:
            return
        self.ring_out(n, keep=False)

    def ring_out(self, n: int, keep: bool = True) -> np.ndarray | None:
        """``n`` zero samples as :meth:`feed_silence` takes them, returning their K-weighted output
        ``(m, channels)`` for the first ``m <= n`` samples, while earlier samples ring out (the rest is
        zeros); None when the filter was at rest."""
        if n <= 0:
            return None
        if self._tp is not None:
            self._tp.feed_silence(n)
        parts = []
        tp, self._tp = self._tp, None
        pos = 0
        try:
            while pos < n and self._zi.any():
                step = min(n - pos, self._segment)
                filtered = self.filter(np.zeros((step, self.channels)))
                if keep:
                    parts.append(filtered if filtered is not None else np.zeros((step, self.channels)))
                pos += step
        finally:
            self._tp = tp
        self._accumulate(None, n - pos)
        self.rested += n - pos  # at rest from pos on (or pos == n)
        return np.concatenate(parts) if parts else None

    def _accumulate(self, squares: np.ndarray | None, n: int) -> None:
        """Add ``n`` samples of K-weighted squares (None: all zero) to the 100 ms segments."""
        if n <= 0:
            return
        pos = 0
        if self._filled:
            take = min(n, self._segment - self._filled)
            if squares is not None:
                self._partial += squares[:take].sum(axis=0)
            self._filled += take
            pos = take
            if self._filled == self._segment:
                self._segments.append(np.array([self._partial @ self._weights]))
                self._partial = np.zeros(self.channels)
                self._filled = 0
        whole = (n - pos) // self._segment
        if whole:
            if squares is None:
                self._segments.append(np.zeros(whole))
            else:
                seg = squares[pos: pos + whole * self._segment].reshape(whole, self._segment, self.channels)
                self._segments.append(seg.sum(axis=1) @ self._weights)
            pos += whole * self._segment
        if pos < n:
            if squares is not None:
                self._partial += squares[pos:].sum(axis=0)
            self._filled += n - pos

    def energies(self) -> SegmentEnergies:
        """The complete 100 ms segments so far (a trailing partial segment is not a whole block)."""
        values = np.concatenate(self._segments) if self._segments else np.zeros(0)
        return SegmentEnergies(self.sample_rate, values)

    def result(self) -> Loudness:
        peak, sample_peak = self.peaks() if self._tp is not None else (math.nan, math.nan)
        return loudness_of(self.energies(), peak, sample_peak)


def loudness_of(seg: SegmentEnergies, peak: float, sample_peak: float) -> Loudness:
    """The full measurement from a signal's segment energies and its (linear) true and sample peaks."""
    return Loudness(
        integrated=seg.integrated(), true_peak=to_db(peak), sample_peak=to_db(sample_peak),
        loudness_range=seg.loudness_range(), max_momentary=seg.max_momentary(),
        max_short_term=seg.max_short_term(),
    )


def to_db(linear: float) -> float:
    """20 log10 of a magnitude; -inf for 0 (NaN stays NaN)."""
    if math.isnan(linear):
        return linear
    return 20 * math.log10(linear) if linear > 0 else -math.inf


def measure(audio: np.ndarray, sample_rate: int, weights: Sequence[float] | None = None) -> Loudness:
    """Measure a whole signal ``(n,)`` or ``(n, channels)`` (a convenience over :class:`Meter`)."""
    audio = np.asarray(audio)
    channels = 1 if audio.ndim == 1 else audio.shape[1]
    meter = Meter(sample_rate, channels, weights)
    meter.feed(audio)
    return meter.result()


def true_peak(audio: np.ndarray, sample_rate: int = 48000) -> float:
    """True peak of a whole signal, dBTP (4x oversampled; ``sample_rate`` is for symmetry only)."""
    audio = np.asarray(audio)
    meter = TruePeak(1 if audio.ndim == 1 else audio.shape[1])
    meter.feed(audio)
    return to_db(meter.finish())
