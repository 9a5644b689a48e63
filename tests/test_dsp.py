"""Audio maths: resampling, speech detection, time-stretch, fades."""

from __future__ import annotations

import numpy as np
import pytest

from otio_dub.audio import dsp
from otio_dub.engines import VoiceSpec


def sine(freq: float, seconds: float, rate: int, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def harmonic(f0: float, seconds: float, rate: int = 48000, partials: int = 6) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    tone = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, partials + 1))
    return (0.3 * tone / np.max(np.abs(tone))).astype(np.float32)


def fft_peak(audio: np.ndarray, rate: int) -> float:
    """Frequency of the strongest FFT bin, refined by parabolic interpolation of log magnitudes."""
    x = audio.astype(np.float64) * np.hanning(audio.size)
    mag = np.log(np.abs(np.fft.rfft(x)) + 1e-12)
    k = int(np.argmax(mag[1:-1])) + 1
    a, b, c = mag[k - 1], mag[k], mag[k + 1]
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * rate / audio.size


def f0_autocorr(audio: np.ndarray, rate: int = 48000, fmin: float = 60.0, fmax: float = 400.0) -> float:
    """Fundamental by autocorrelation over the middle half (parabolic peak refinement)."""
    x = audio[audio.size // 4: 3 * audio.size // 4].astype(np.float64)
    x = x - x.mean()
    n = x.size
    spec = np.fft.rfft(x, 2 * n)
    ac = np.fft.irfft(spec * np.conj(spec))[:n]
    lo, hi = int(rate / fmax), int(rate / fmin)
    lag = lo + int(np.argmax(ac[lo:hi]))
    a, b, c = ac[lag - 1], ac[lag], ac[lag + 1]
    return rate / (lag + 0.5 * (a - c) / (a - 2 * b + c))


# --- resample --------------------------------------------------------------------------------


def test_resample_keeps_length_ratio_and_frequency():
    src = sine(440.0, 1.0, 22050)
    out = dsp.resample(src, 22050)
    assert out.dtype == np.float32
    assert out.ndim == 1
    assert abs(out.size - src.size * 48000 / 22050) <= 1
    assert fft_peak(out, 48000) == pytest.approx(440.0, abs=0.5)
    # amplitude is kept (look away from the filter's edge transients)
    mid = out[out.size // 4: 3 * out.size // 4]
    assert np.max(np.abs(mid)) == pytest.approx(0.5, rel=0.02)


@pytest.mark.parametrize("rate", [22050, 24000, 16000, 44100])
def test_resample_is_torchaudios_kaiser_sinc_without_torch(rate):
    """The numpy resampler computes torchaudio's 'best' Kaiser sinc (what takes were resampled with
    before) to float32 precision, and its image rejection: nothing of a tone comes back mirrored."""
    torch = pytest.importorskip("torch")
    transforms = pytest.importorskip("torchaudio.transforms")
    src = (np.random.default_rng(rate).standard_normal(rate) * 0.2).astype(np.float32)
    ref = transforms.Resample(rate, 48000, lowpass_filter_width=64, rolloff=0.9475,
                              resampling_method="sinc_interp_kaiser", beta=14.769656459379492)(torch.from_numpy(src))
    got = dsp.resample(src, rate)
    assert got.size == ref.shape[-1]
    assert np.max(np.abs(got - ref.numpy())) < 2e-5
    tone = dsp.resample(sine(0.3 * rate, 1.0, rate), rate)
    spectrum = np.abs(np.fft.rfft(tone * np.hanning(tone.size)))
    freqs = np.fft.rfftfreq(tone.size, 1 / 48000)
    mirrored = rate - 0.3 * rate  # the tone's image above the source's Nyquist (folded back if past 24 kHz)
    mirrored = mirrored if mirrored <= 24000 else 48000 - mirrored
    image = spectrum[np.abs(freqs - mirrored) < 50].max()
    assert 20 * np.log10(image / spectrum.max()) < -100


def test_resample_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, numpy as np; from otio_dub.audio import dsp; dsp.resample(np.ones(2205, np.float32), 22050); "
            "print('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_resample_same_rate_is_identity():
    src = sine(440.0, 0.1, 48000)
    np.testing.assert_array_equal(dsp.resample(src, 48000), src)


def test_resample_empty():
    assert dsp.resample(np.zeros(0, dtype=np.float32), 22050).size == 0


# --- speech_bounds ---------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [48000, 22050])
def test_speech_bounds_finds_a_tone_burst(rate):
    audio = np.zeros(int(1.5 * rate), dtype=np.float32)
    start, stop = int(0.3137 * rate), int(0.9021 * rate)
    audio[start:stop] = sine(300.0, (stop - start) / rate, rate, amp=0.3)[: stop - start]
    first, end = dsp.speech_bounds(audio, rate)
    tolerance = int(0.005 * rate)
    assert abs(first - start) <= tolerance, (first, start)
    assert abs(end - stop) <= tolerance, (end, stop)


def test_speech_bounds_ignores_low_noise():
    rng = np.random.default_rng(1)
    audio = (rng.standard_normal(48000) * 1e-4).astype(np.float32)  # -80 dBFS noise floor
    audio[20000:30000] += sine(200.0, 10000 / 48000, 48000, amp=0.4)[:10000]
    first, end = dsp.speech_bounds(audio)
    assert abs(first - 20000) <= 240
    assert abs(end - 30000) <= 240


def test_speech_bounds_of_silence():
    assert dsp.speech_bounds(np.zeros(48000, dtype=np.float32)) == (0, 0)
    assert dsp.speech_bounds(np.zeros(10, dtype=np.float32)) == (0, 0)


def test_trim_removes_silence():
    audio = np.zeros(48000, dtype=np.float32)
    audio[10000:20000] = sine(250.0, 10000 / 48000, 48000)[:10000]
    trimmed = dsp.trim(audio)
    assert abs(trimmed.size - 10000) <= 240


# --- time_stretch ----------------------------------------------------------------------------


def test_time_stretch_exact_length_and_pitch_kept():
    tone = harmonic(150.0, 1.0)
    n = 40000  # 1.2x faster
    out = dsp.time_stretch(tone, 1.2, length=n)
    assert out.size == n
    assert out.dtype == np.float32
    assert f0_autocorr(tone) == pytest.approx(150.0, rel=1e-3)
    assert f0_autocorr(out) == pytest.approx(150.0, rel=0.01)
    # the tone fills the output (it is stretched, not padded with silence)
    first, end = dsp.speech_bounds(out)
    assert end - first > 0.95 * n


@pytest.mark.parametrize(("factor", "length"), [(1.2, 39000), (1.2, 40500), (0.85, 56470), (1.1, 43637)])
def test_time_stretch_hits_requested_length(factor, length):
    tone = harmonic(180.0, 1.0)
    out = dsp.time_stretch(tone, factor, length=length)
    assert out.size == length
    assert np.all(np.isfinite(out))
    assert f0_autocorr(out) == pytest.approx(180.0, rel=0.01)


def test_time_stretch_default_length():
    tone = harmonic(150.0, 1.0)
    out = dsp.time_stretch(tone, 1.25)
    assert out.size == round(48000 / 1.25)


def test_time_stretch_real_speech_keeps_pitch(espeak):
    take = espeak.synthesize("Aaaaaaaaah.", VoiceSpec(lang="en"), 1.0)
    speech = dsp.trim(dsp.resample(take.audio, take.sample_rate))
    n = int(round(speech.size / 1.2))
    out = dsp.time_stretch(speech, 1.2, length=n)
    assert out.size == n
    assert f0_autocorr(out, fmin=70, fmax=300) == pytest.approx(f0_autocorr(speech, fmin=70, fmax=300), rel=0.01)


# --- fade ------------------------------------------------------------------------------------


def test_fade_keeps_length_and_ramps_edges():
    audio = np.ones(4800, dtype=np.float32)
    out = dsp.fade(audio)
    assert out.size == audio.size
    assert out.dtype == np.float32
    assert out[0] == pytest.approx(0.0, abs=1e-6)
    assert out[-1] == pytest.approx(0.0, abs=1e-6)
    n = int(48000 * 0.002)
    np.testing.assert_array_equal(out[n:-n], 1.0)
    assert np.all(np.diff(out[:n]) >= 0)
    np.testing.assert_array_equal(audio, 1.0)  # input untouched


@pytest.mark.parametrize("size", [0, 1, 3, 100])
def test_fade_short_inputs_keep_length(size):
    audio = np.full(size, 0.5, dtype=np.float32)
    assert dsp.fade(audio).size == size


def test_resample_gives_the_same_samples_whatever_blas_threads_the_process_has():
    """A Ray worker runs BLAS on one thread, a driver on every core: the take must not change."""
    from threadpoolctl import threadpool_limits

    src = (np.random.default_rng(1).standard_normal(3 * 22050) * 0.3).astype(np.float32)
    default = dsp.resample(src, 22050)
    with threadpool_limits(limits=1, user_api="blas"):
        single = dsp.resample(src, 22050)
    with threadpool_limits(limits=4, user_api="blas"):
        several = dsp.resample(src, 22050)
    assert default.tobytes() == single.tobytes() == several.tobytes()


@pytest.mark.parametrize("rate", [16000, 22050, 24000, 44100, 48000])
def test_native_size_is_the_longest_take_that_resamples_within_a_length(rate):
    from otio_dub.audio.dsp import native_size, resample, resampled_size

    for size in (1, 2, 3, 1000, 48000, 123457):
        n = native_size(size, rate)
        assert resampled_size(n, rate) <= size < resampled_size(n + 1, rate)
    assert resample(np.zeros(native_size(4801, rate), np.float32), rate).size <= 4801


@pytest.mark.parametrize(("factor", "semitones", "fine"), [
    (1.01, 0.0, False), (0.975, 0.0, False),  # a residual trim: R2
    (1.05, 0.0, True), (0.9, 0.0, True),  # a real stretch: R3
    (1.0, 2.0, True), (1.01, -3.0, True),  # any pitch shift: R3
])
def test_a_small_trim_runs_on_rubber_bands_faster_engine(monkeypatch, factor, semitones, fine):
    """Rubber Band's R2 engine for trims within TRIM_STRETCH without pitch change (a third of the time,
    no worse by bench_stretch), R3 for everything else; the length is exact either way."""
    import pedalboard

    asked = []
    real = pedalboard.time_stretch

    def spy(*args, **kwargs):
        asked.append(kwargs["high_quality"])
        return real(*args, **kwargs)

    monkeypatch.setattr(pedalboard, "time_stretch", spy)
    rate = 22050
    t = np.arange(rate * 2) / rate
    tone = (0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
    length = round(tone.size / factor)
    out = dsp.time_stretch(tone, factor, rate, length=length, semitones=semitones)
    assert out.size == length and set(asked) == {fine}
