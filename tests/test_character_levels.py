"""Characters measured once: every gained mix of them measures as the mixed signal itself does."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from otio_dub.audio.bwf import Placement, mix_blocks
from otio_dub.audio.loudness import Meter, to_db
from otio_dub.delivery import character_levels
from otio_dub.delivery.character_levels import dialogue_peaks, measure_characters, mix_peaks, quiet_cuts

RATE = 48000


def _speechlike(rng: np.random.Generator, seconds: float, level: float) -> np.ndarray:
    """Noise shaped by a syllable-rate envelope, faded at both ends as the line media are."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    envelope = (0.55 + 0.45 * np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 6))) * np.hanning(n) ** 0.1
    return (rng.standard_normal(n) * envelope * level).astype(np.float32)


@pytest.fixture
def scene(tmp_path):
    """Three characters over 60 s: lines apart, lines a few ms after another's (still ringing), lines
    spoken over each other, one far quieter character, and long silences between."""
    rng = np.random.default_rng(7)
    lines = [  # (character, start s, seconds, level)
        (0, 1.0, 2.5, 0.2), (1, 3.52, 2.0, 0.05), (0, 5.6, 1.0, 0.3), (2, 6.0, 3.0, 0.01),  # A rings into B; C over A
        (1, 12.0, 4.0, 0.08), (0, 13.0, 2.0, 0.25),  # A over B
        (2, 30.0, 6.0, 0.02), (1, 36.001, 2.0, 0.1), (0, 50.0, 5.5, 0.15),
    ]
    groups = [[], [], []]
    for n, (who, start, seconds, level) in enumerate(lines):
        path = tmp_path / f"{n}.npy"
        np.save(path, _speechlike(rng, seconds, level))
        groups[who].append(Placement(path, int(start * RATE), int(seconds * RATE)))
    return groups, 60 * RATE


def _direct(groups, total, gains) -> Meter:
    """The mixed signal itself, measured as any stem is."""
    meter = Meter(RATE)
    g = np.asarray(gains, dtype=np.float64)
    for _, buf in mix_blocks(groups, total):
        meter.feed(g @ buf.astype(np.float64))
    return meter


@pytest.mark.parametrize("gains", [(1.0, 1.0, 1.0), (0.4, 2.5, 7.9), (1.0, 0.0, 3.0)])
def test_a_mix_measures_as_the_mixed_signal(scene, gains):
    groups, total = scene
    levels = measure_characters(groups, total, block=48000)
    assert levels.cross  # the scene has characters sounding together: cross energies are needed
    derived = levels.mix(gains)
    direct = _direct(groups, total, gains)
    measured = direct.result()
    np.testing.assert_allclose(derived.values, direct.energies().values, rtol=1e-9, atol=1e-12)
    assert derived.integrated() == pytest.approx(measured.integrated, abs=1e-6)
    assert derived.loudness_range() == pytest.approx(measured.loudness_range, abs=1e-6)
    assert derived.max_momentary() == pytest.approx(measured.max_momentary, abs=1e-6)
    peak, sample_peak = mix_peaks(groups, total, gains, block=48000)
    assert to_db(peak) == pytest.approx(measured.true_peak, abs=1e-5)
    assert to_db(sample_peak) == pytest.approx(measured.sample_peak, abs=1e-5)


def test_without_the_cross_energies_the_mix_would_be_wrong(scene):
    """Where characters overlap, adding their energies is not the mix's energy: the cross terms matter."""
    groups, total = scene
    levels = measure_characters(groups, total, block=48000)
    direct = _direct(groups, total, (1.0, 1.0, 1.0)).energies().values
    levels.cross = {}
    assert not np.allclose(levels.mix((1.0, 1.0, 1.0)).values, direct, rtol=1e-6)


def test_each_character_at_a_gain_measures_as_its_own_stem(scene, tools):
    """Against the tests' independent BS.1770 and true-peak code, on the character's signal alone."""
    groups, total = scene
    levels = measure_characters(groups, total)
    for i, group in enumerate(groups):
        gain = 10 ** (-(3.0 + i) / 20)
        signal = np.concatenate([buf[0] for _, buf in mix_blocks([group], total)]).astype(np.float64) * gain
        loud = levels.loudness(i, gain)
        assert loud.integrated == pytest.approx(tools.bs1770_loudness(signal), abs=1e-3)
        assert loud.true_peak == pytest.approx(tools.true_peak_dbtp(signal), abs=0.01)
        assert loud.sample_peak == pytest.approx(20 * math.log10(np.abs(signal).max()), abs=1e-4)


def test_block_size_does_not_change_the_measurement(scene):
    groups, total = scene
    small, large = measure_characters(groups, total, block=4801), measure_characters(groups, total)
    np.testing.assert_allclose(small.mix((1.0, 2.0, 0.5)).values, large.mix((1.0, 2.0, 0.5)).values, rtol=1e-9, atol=1e-15)
    assert small.peaks == pytest.approx(large.peaks, abs=1e-12)


def test_lines_ending_together_ring_out_together(tmp_path):
    """Two characters stop on the same sample and nobody speaks after: their tails still ring together
    into the silence, and that counts in the mix's energies too."""
    rng = np.random.default_rng(11)
    groups = []
    for who, (start, seconds) in enumerate([(1.0, 1.0), (1.5, 0.5)]):
        path = tmp_path / f"{who}.npy"
        np.save(path, (rng.standard_normal(int(seconds * RATE)) * 0.2).astype(np.float32))  # no fade: a hard stop
        groups.append([Placement(path, int(start * RATE), int(seconds * RATE))])
    total = 4 * RATE
    levels = measure_characters(groups, total, block=48000)
    direct = _direct(groups, total, (1.0, 0.7)).energies().values
    np.testing.assert_allclose(levels.mix((1.0, 0.7)).values, direct, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("gains", [(1.0, 1.0, 1.0), (0.4, 2.5, 7.9), (3.0, 0.2, 0.0)])
def test_the_dialogue_peaks_stream_only_where_characters_meet(scene, gains):
    """Where a character sounds alone the DIALOGUE is that character times its gain, so its peaks come
    from the character's solo peaks; only the shared stretches are streamed. Same reading as the mix."""
    groups, total = scene
    levels = measure_characters(groups, total, block=48000)
    measured = _direct(groups, total, gains).result()
    peak, sample_peak = dialogue_peaks(groups, total, gains, levels, block=48000)
    assert to_db(peak) == pytest.approx(measured.true_peak, abs=1e-5)
    assert to_db(sample_peak) == pytest.approx(measured.sample_peak, abs=1e-5)
    for i, group in enumerate(groups):  # a character's own peaks are still those of its whole signal
        alone = Meter(RATE)
        for _, buf in mix_blocks([group], total):
            alone.feed(buf[0])
        assert to_db(levels.peaks[i]) == pytest.approx(alone.result().true_peak, abs=1e-9)


def _junction(tmp_path, gap: int) -> tuple[list, int]:
    """Two characters' lines ``gap`` samples apart, loudest right where one ends and the other starts:
    the oversampled mix peaks between them, above either alone."""
    a = np.zeros(4800, np.float32)
    a[-4:] = (0.3, -0.6, 0.9, 0.9)
    b = np.zeros(4800, np.float32)
    b[:4] = (-0.9, -0.9, 0.6, -0.3)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    start = RATE
    return [[Placement(tmp_path / "a.npy", start, a.size)], [Placement(tmp_path / "b.npy", start + a.size + gap, b.size)]], 3 * RATE


@pytest.mark.parametrize("gap", [0, 1, 5, 10, 11, 12, 40])
def test_lines_within_the_filters_reach_are_streamed_together(tmp_path, gap, monkeypatch):
    """Lines closer than the true-peak filter's reach are one shared stretch (their mix is streamed);
    taking them as each alone would misread the peak between them (checked by shrinking the reach)."""
    from otio_dub.delivery import character_levels

    groups, total = _junction(tmp_path, gap)
    direct = _direct(groups, total, (1.0, 1.0)).result()
    levels = measure_characters(groups, total)
    got = to_db(dialogue_peaks(groups, total, (1.0, 1.0), levels)[0])
    assert got == pytest.approx(direct.true_peak, abs=1e-5)
    alone = max(to_db(p) for p in levels.peaks)
    if gap in (0, 4):  # where the two meet, the mix peaks above either line (+0.2 dB)
        assert direct.true_peak > alone + 0.1
        monkeypatch.setattr(character_levels, "TRUE_PEAK_REACH", 0)
        wrong = to_db(dialogue_peaks(groups, total, (1.0, 1.0), measure_characters(groups, total))[0])
        assert wrong == pytest.approx(alone, abs=1e-6)


def _same_levels(a, b) -> None:
    """Two CharacterLevels hold the same bits."""
    assert len(a.energies) == len(b.energies)
    for x, y in zip(a.energies, b.energies, strict=True):
        assert x.tobytes() == y.tobytes()
    assert (a.peaks, a.sample_peaks, a.solo_peaks, a.solo_sample_peaks, a.shared) == \
        (b.peaks, b.sample_peaks, b.solo_peaks, b.solo_sample_peaks, b.shared)
    assert a.cross.keys() == b.cross.keys()
    for pair in a.cross:
        assert [(f, s.tobytes()) for f, s in a.cross[pair]] == [(f, s.tobytes()) for f, s in b.cross[pair]]


@pytest.mark.parametrize("workers", [2, 3, 8])
def test_measuring_on_threads_gives_the_same_bits(scene, workers, monkeypatch):
    groups, total = scene
    serial = measure_characters(groups, total, block=48000)
    parts = []
    measure_part = character_levels._measure_part
    monkeypatch.setattr(character_levels, "_measure_part", lambda *args: parts.append(measure_part(*args)) or parts[-1])
    _same_levels(measure_characters(groups, total, block=48000, workers=workers), serial)
    assert len(parts) == len(quiet_cuts(groups, total, workers)) - 1 > 1  # measured in parts, no fallback
    assert all(part.at_rest for part in parts)


def test_cuts_fall_in_silence_on_segment_boundaries(scene):
    groups, total = scene
    cuts = quiet_cuts(groups, total, 4)
    assert cuts[0] == 0 and cuts[-1] == total and cuts == sorted(set(cuts))
    for cut in cuts[1:-1]:
        assert cut % (RATE // 10) == 0
        for p in (p for group in groups for p in group):
            assert p.start >= cut or p.start + p.length + character_levels._REST <= cut
    assert quiet_cuts(groups, total, 1) == [0, total]


def test_a_cut_where_a_filter_still_rings_falls_back_to_one_pass(scene, monkeypatch):
    """Cut a few samples after the lines end, K-weighting still rings: each part measured from rest
    would be wrong, so the parts' check sends the whole through one pass."""
    groups, total = scene
    serial = measure_characters(groups, total, block=48000)
    monkeypatch.setattr(character_levels, "_REST", 16)
    _same_levels(measure_characters(groups, total, block=48000, workers=4), serial)
    measure_part = character_levels._measure_part
    monkeypatch.setattr(character_levels, "_measure_part",  # the check ignored
                        lambda *args: dataclasses.replace(measure_part(*args), at_rest=True))
    wrong = measure_characters(groups, total, block=48000, workers=4)
    assert any(x.tobytes() != y.tobytes() for x, y in zip(wrong.energies, serial.energies, strict=True))
