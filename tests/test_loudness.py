"""The BS.1770 meter: reference values from the Recommendation and EBU Tech 3341/3342, an
independent whole-array implementation written here, and the streamed true peak against a
brute-force 4x oversampling with the Annex 2 filter."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import lfilter

from otio_dub.audio.loudness import (
    TRUE_PEAK_PHASES,
    Meter,
    SegmentEnergies,
    channel_weights,
    k_weighting,
    measure,
    true_peak,
)

RATE = 48000


def sine(freq: float, seconds: float, dbfs: float, phase: float = 0.0) -> np.ndarray:
    t = np.arange(int(round(seconds * RATE))) / RATE
    return 10 ** (dbfs / 20) * np.sin(2 * np.pi * freq * t + phase)


def stereo(*parts: tuple[float, float]) -> np.ndarray:
    """EBU test signals: 1 kHz sine in both channels, (dBFS, seconds) sections back to back."""
    mono = np.concatenate([sine(1000, seconds, dbfs) for dbfs, seconds in parts])
    return np.stack([mono, mono], axis=1)


def speechlike(seconds: float, seed: int) -> np.ndarray:
    """Bursts of filtered noise at varying levels with silences between: something to gate."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * RATE))
    pos = 0
    while pos < out.size:
        n = int(rng.uniform(0.3, 2.5) * RATE)
        burst = lfilter([1.0], [1.0, -0.95], rng.standard_normal(n)) * 10 ** (rng.uniform(-40, -12) / 20) * 0.1
        out[pos:pos + n] = burst[: out.size - pos]
        pos += n + int(rng.uniform(0.1, 1.5) * RATE)
    return out


def test_k_weighting_matches_the_printed_48k_coefficients(tools):
    sos = k_weighting(RATE)
    np.testing.assert_allclose(sos[0, :3], tools.K_PRE[0], atol=1e-8)
    np.testing.assert_allclose(sos[0, 3:], tools.K_PRE[1], atol=1e-8)
    np.testing.assert_allclose(sos[1, :3], tools.K_RLB[0], atol=1e-8)
    np.testing.assert_allclose(sos[1, 3:], tools.K_RLB[1], atol=1e-8)


def test_true_peak_filter_is_the_printed_one(tools):
    np.testing.assert_array_equal(TRUE_PEAK_PHASES, np.array(tools.TP_PHASES))
    assert TRUE_PEAK_PHASES.sum(axis=1) == pytest.approx([1.0, 1.0, 1.0, 1.0], abs=0.03)  # about unity gain at DC


def test_997hz_full_scale_sine_reads_minus_3_01():
    # BS.1770-4, 2.1: a 0 dB FS 997 Hz sine in one channel measures -3.01 LKFS
    assert measure(sine(997, 10, 0.0), RATE).integrated == pytest.approx(-3.01, abs=0.01)


@pytest.mark.parametrize("parts, expected", [
    ([(-23, 20)], -23.0),                                            # Tech 3341 case 1
    ([(-33, 20)], -33.0),                                            # case 2
    ([(-36, 10), (-23, 60), (-36, 10)], -23.0),                      # case 3: relative gate
    ([(-72, 10), (-36, 10), (-23, 60), (-36, 10), (-72, 10)], -23.0),  # case 4: absolute and relative gate
    ([(-26, 20), (-20, 20.1), (-26, 20)], -23.0),                    # case 5
])
def test_ebu_tech_3341_integrated(parts, expected, tools):
    audio = stereo(*parts)
    measured = measure(audio, RATE).integrated
    assert measured == pytest.approx(expected, abs=0.1)
    assert measured == pytest.approx(tools.bs1770_loudness(audio), abs=1e-6)


@pytest.mark.parametrize("parts, expected", [
    ([(-20, 20), (-30, 20)], 10.0),                                  # Tech 3342 case 1
    ([(-20, 20), (-15, 20)], 5.0),                                   # case 2
    ([(-40, 20), (-20, 20)], 20.0),                                  # case 3
    ([(-50, 20), (-35, 20), (-20, 20), (-35, 20), (-50, 20)], 15.0),  # case 4
])
def test_ebu_tech_3342_loudness_range(parts, expected):
    assert measure(stereo(*parts), RATE).loudness_range == pytest.approx(expected, abs=1.0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_integrated_matches_an_independent_implementation(seed, tools):
    audio = speechlike(60, seed)
    assert measure(audio, RATE).integrated == pytest.approx(tools.bs1770_loudness(audio), abs=1e-6)


def test_streaming_in_any_block_size_gives_the_same_figures():
    audio = speechlike(30, 7)
    whole = measure(audio, RATE)
    for block in (1, 997, 4800, 48000, 240000):
        if block == 1:
            audio_part = audio[: int(0.9 * RATE)]  # sample by sample is slow: a short piece, compared to itself whole
            meter = Meter(RATE)
            for x in audio_part:
                meter.feed(np.array([x]))
            ref = measure(audio_part, RATE)
            assert meter.result().integrated == pytest.approx(ref.integrated, abs=1e-9)
            assert meter.result().true_peak == pytest.approx(ref.true_peak, abs=1e-12)
            continue
        meter = Meter(RATE)
        for start in range(0, audio.size, block):
            meter.feed(audio[start:start + block])
        got = meter.result()
        assert got.integrated == pytest.approx(whole.integrated, abs=1e-9)
        assert got.true_peak == pytest.approx(whole.true_peak, abs=1e-12)
        assert got.loudness_range == pytest.approx(whole.loudness_range, abs=1e-9)
        assert got.max_short_term == pytest.approx(whole.max_short_term, abs=1e-9)


def test_silence_and_short_signals():
    assert measure(np.zeros(RATE), RATE).integrated == -math.inf
    assert measure(np.zeros(RATE), RATE).true_peak == -math.inf
    assert measure(sine(1000, 0.3, -20), RATE).integrated == -math.inf  # shorter than one 400 ms block
    assert measure(sine(1000, 0.3, -20), RATE).as_dict()["integrated_lkfs"] is None


@pytest.mark.parametrize("block", [100, 4096, 240000])
def test_true_peak_matches_brute_force_oversampling(block, tools):
    rng = np.random.default_rng(block)
    audio = np.concatenate([speechlike(5, block), rng.uniform(-0.5, 0.5, 9999), np.zeros(50)])
    meter = Meter(RATE)
    for start in range(0, audio.size, block):
        meter.feed(audio[start:start + block])
    assert meter.result().true_peak == pytest.approx(tools.true_peak_dbtp(audio), abs=1e-5)


def test_true_peak_finds_the_inter_sample_peak(tools):
    # fs/4 at 45 degrees: every sample is at 0.707 of the waveform's peak (-3 dB)
    audio = sine(RATE / 4, 1, -1.0, phase=np.pi / 4)
    sample_peak = 20 * np.log10(np.max(np.abs(audio)))
    assert sample_peak == pytest.approx(-4.01, abs=0.01)
    assert true_peak(audio, RATE) == pytest.approx(-1.0, abs=0.1)
    assert true_peak(audio, RATE) == pytest.approx(tools.true_peak_dbtp(audio), abs=1e-5)


def test_true_peak_is_never_below_the_sample_peak():
    audio = np.zeros(1000)
    audio[500] = 0.8  # an impulse: the interpolation filter's centre tap is 0.972
    assert true_peak(audio, RATE) >= 20 * np.log10(0.8) - 1e-12


def test_multichannel_weights_exclude_lfe_and_weight_surrounds(tools):
    assert channel_weights(6) == (1.0, 1.0, 1.0, 0.0, 1.41, 1.41)
    tone = sine(1000, 10, -20)
    lfe_only = np.zeros((tone.size, 6))
    lfe_only[:, 3] = tone
    assert measure(lfe_only, RATE).integrated == -math.inf
    assert measure(lfe_only, RATE).true_peak == pytest.approx(-20, abs=0.05)  # true peak sees every channel
    surround = np.zeros((tone.size, 6))
    surround[:, 4] = tone
    centre = np.zeros((tone.size, 6))
    centre[:, 2] = tone
    diff = measure(surround, RATE).integrated - measure(centre, RATE).integrated
    assert diff == pytest.approx(10 * np.log10(1.41), abs=1e-6)
    assert measure(surround, RATE).integrated == pytest.approx(tools.bs1770_loudness(surround, channel_weights(6)), abs=1e-6)


def test_gain_for_hits_the_target_exactly_even_across_the_absolute_gate():
    audio = np.concatenate([sine(1000, 10, -30), sine(1000, 10, -62)])  # quiet part near the -70 gate
    meter = Meter(RATE, true_peak=False)
    meter.feed(audio)
    energies = meter.energies()
    for target in (-27.0, -23.0, -50.0):
        gain = energies.gain_for(target)
        assert energies.scaled(gain).integrated() == pytest.approx(target, abs=1e-6)
        assert measure(audio * 10 ** (gain / 20), RATE).integrated == pytest.approx(target, abs=1e-6)
    with pytest.raises(ValueError):
        SegmentEnergies(RATE, np.zeros(100)).gain_for(-23)


def test_agrees_with_torchaudio_on_speech(demo):
    """torchaudio's loudness approximates the K filter (a 997 Hz sine reads -3.28, not -3.01), but on speech
    it should agree with ours to a small fraction of an LU."""
    import soundfile as sf
    import torch
    import torchaudio.functional as F

    audio, _ = sf.read(str(demo.out / "stems" / "DIALOGUE.wav"), dtype="float64")
    ours = measure(audio, RATE).integrated
    theirs = float(F.loudness(torch.from_numpy(audio)[None], RATE))
    assert ours == pytest.approx(theirs, abs=0.15)


@pytest.mark.parametrize("channels", [1, 2])
def test_feed_silence_measures_what_feeding_zeros_measures(channels):
    """Counting a silent stretch instead of filtering it gives the figures of real zeros, even right
    after speech (the filter rings out) and across 100 ms segment and true-peak window edges."""
    rng = np.random.default_rng(3)
    parts = []
    for _ in range(12):
        burst = speechlike(rng.uniform(0.5, 2.0), int(rng.integers(1000)))
        gap = int(rng.integers(1, 3 * RATE))
        parts.append((burst, gap))
    ref, fast = Meter(RATE, channels), Meter(RATE, channels)
    for burst, gap in parts:
        signal = np.repeat(burst[:, None], channels, axis=1)
        ref.feed(signal)
        fast.feed(signal)
        ref.feed(np.zeros((gap, channels)))
        fast.feed_silence(gap)
    a, b = ref.result(), fast.result()
    assert b.integrated == pytest.approx(a.integrated, abs=1e-9)
    assert b.true_peak == pytest.approx(a.true_peak, abs=1e-12)
    assert b.loudness_range == pytest.approx(a.loudness_range, abs=1e-9)
    assert b.max_momentary == pytest.approx(a.max_momentary, abs=1e-9)
    assert ref.energies().values.size == fast.energies().values.size


def test_true_peak_between_samples_at_the_edge_of_silence_is_kept(tools):
    """The last samples before a silence are oversampled with the zeros after them."""
    edge = np.array([0.0, 0.9, -0.9, 0.9, -0.9])  # an inter-sample peak only visible with what follows
    meter = Meter(RATE)
    meter.feed(edge)
    meter.feed_silence(RATE)
    ref = Meter(RATE)
    ref.feed(np.concatenate([edge, np.zeros(RATE)]))
    assert meter.result().true_peak == ref.result().true_peak
    assert meter.result().true_peak > meter.result().sample_peak


def test_prefetch_imports_the_meter_filter_in_the_background():
    """A dub waiting on its render workers imports scipy.signal (1.3 s) meanwhile, on a thread; a warm
    re-dub, which measures nothing, never imports it. Checked in a fresh interpreter."""
    import subprocess
    import sys

    code = ("import sys, threading\n"
            "import otio_dub\n"
            "from otio_dub.audio.loudness import prefetch\n"
            "assert 'scipy.signal' not in sys.modules, 'imported before it was asked for'\n"
            "prefetch()\n"
            "[t.join() for t in threading.enumerate() if t.name == 'otio-dub-prefetch']\n"
            "assert 'scipy.signal' in sys.modules\n"
            "prefetch()\n"
            "assert not [t for t in threading.enumerate() if t.name == 'otio-dub-prefetch']\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_meter_counts_the_samples_since_its_filter_came_to_rest():
    """What the stems' parts are checked by: 0 while the K-weighting rings, then every silent sample."""
    meter = Meter(48000, true_peak=False)
    meter.feed_silence(1000)
    assert meter.rested == 1000  # never rang
    meter.feed(np.random.default_rng(3).standard_normal(4800) * 0.1)
    assert meter.rested == 0 and meter.ringing
    meter.feed_silence(48000)
    assert not meter.ringing and 0 < meter.rested < 48000  # rang out, in whole segments, within the second
    assert (48000 - meter.rested) % 4800 == 0
    meter.feed_silence(100)
    assert 100 < meter.rested <= 48100
