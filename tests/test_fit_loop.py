"""The rate loop on real espeak lines: re-synthesis converges, the residual stretch stays small."""

from __future__ import annotations

import math

import numpy as np
import pytest

from otio_dub.audio import dsp
from otio_dub.dialogue.lines import Line
from otio_dub.engines import EngineInfo, Take, VoiceSpec, get_engine
from otio_dub.speech.fit import FitPolicy, Window
from otio_dub.speech.speak import ACCEPT_STRETCH, fit_line, voice_response

FRAME = 2000  # 24 fps
TEXTS = ["You promised me you would be back before midnight.",
         "Neither of them noticed the light still burning across the street.",
         "I had to see you tonight."]


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("ratio", [0.92, 1.05, 1.15, 1.24])  # natural / window, all inside the bounds
def test_rate_resynthesis_converges_within_a_frame(text, ratio):
    engine = get_engine("espeak")
    voice = engine.default_voice("en", 0)
    take = engine.synthesize(text, voice)
    natural = dsp.trim(dsp.resample(take.audio, take.sample_rate)).size
    exact = natural / ratio / FRAME  # whole frames, rounded towards ratio 1 so the need stays inside the bounds
    frames = math.ceil(exact) if ratio > 1 else math.floor(exact)
    window = Window(samples=frames * FRAME)
    fitted = fit_line(engine, Line("x", 0, frames, "A", "en", text), voice, window, FitPolicy(), FRAME)
    report = fitted.report
    assert fitted.plan.status == "fit"
    assert fitted.media.size == window.samples
    first, end = dsp.speech_bounds(fitted.media)
    assert first <= FRAME and window.samples - FRAME <= end <= window.samples
    assert report["passes"] <= 3
    # the engine's rate did the work: what is left for time-stretching is within the accepted band
    # (a line needing no more than that is not spoken again: its first take is stretched)
    assert abs(report["stretch_factor"] - 1) <= ACCEPT_STRETCH, report
    assert abs(report["rate_factor"] - 1) > 0.02 or abs(report["needed_speed"] - 1) <= ACCEPT_STRETCH, report
    assert FitPolicy().max_slowdown - 1e-3 <= report["total_speed"] <= FitPolicy().max_speedup + 1e-3


def test_a_take_does_not_depend_on_what_was_spoken_before_it(monkeypatch):
    """The voice response is measured on fixed passages, never on the run's lines: the same line
    fitted first in a fresh process or after others gives the same samples (any executor, any order)."""
    from otio_dub.speech import speak

    engine = get_engine("espeak")
    voice = engine.default_voice("en", 1)
    window = Window(samples=40 * FRAME)

    def fitted(text: str):
        return fit_line(engine, Line("x", 0, 40, "A", "en", text), voice, window, FitPolicy(), FRAME)

    monkeypatch.setattr(speak, "_responses", {})
    alone = fitted(TEXTS[0])
    monkeypatch.setattr(speak, "_responses", {})
    fitted(TEXTS[1])
    fitted(TEXTS[2])
    after = fitted(TEXTS[0])
    assert after.media.tobytes() == alone.media.tobytes() and after.report == alone.report


def test_piper_answers_its_rate_less_than_one_over_speed():
    """piper's whole-frame phoneme durations make a slow-down lengthen speech far less than 1/speed:
    the measured curve says so, and is what puts the first corrected pass near its target."""
    pytest.importorskip("piper")
    from otio_dub.speech.speak import voice_response

    engine = get_engine("piper")
    curve = dict(voice_response(engine, engine.default_voice("en", 0)))
    assert curve[1.0] == 1.0
    assert 1.0 < curve[0.82] < 1 / 0.82 - 0.05
    assert curve[1.25] < 1.0 and curve[1.45] < curve[1.25]


class ToneEngine:
    """A deterministic stand-in engine at 24 kHz: a tone whose length answers speed as 1/speed."""

    def __init__(self, seconds: float) -> None:
        self.info = EngineInfo("tone", 24000, True, (0.5, 2.0), f"{seconds}")
        self.seconds = seconds
        self.speeds: list[float] = []

    def synthesize(self, text: str, voice: VoiceSpec, speed: float = 1.0) -> Take:
        self.speeds.append(speed)
        t = np.arange(round(self.seconds * 24000 / speed)) / 24000
        return Take(np.pad(0.3 * np.sin(2 * np.pi * 220 * t), 2400).astype(np.float32), 24000)

    def languages(self) -> list[str]:
        return ["en"]


def _tone_fit(engine: ToneEngine, samples: int):
    """Fit the tone engine's line to a window of ``samples``, counting only the line's own syntheses."""
    voice = VoiceSpec(lang="en")
    voice_response(engine, voice)  # measured once per process: not the line's passes
    engine.speeds.clear()
    return fit_line(engine, Line("x", 0, 1, "A", "en", "tone"), voice, Window(samples=samples), FitPolicy(), FRAME)


def _natural(engine: ToneEngine) -> int:
    """The 48 kHz speech length fit_line measures for the tone engine's natural take."""
    take = engine.synthesize("tone", VoiceSpec(lang="en"))
    return dsp.resampled_size(dsp.trim(take.audio, take.sample_rate).size, take.sample_rate)


@pytest.mark.parametrize("needed", [1 + ACCEPT_STRETCH * 0.6, 1 - ACCEPT_STRETCH * 0.6])
def test_a_take_needing_only_a_small_stretch_is_accepted_on_the_first_pass(needed):
    """The first pass lands: a residual stretch within ACCEPT_STRETCH is inaudible, and cheaper than
    another synthesis. The take is stretched to its target exactly."""
    engine = ToneEngine(3.0)
    natural = _natural(engine)
    samples = round(natural / needed)
    fitted = _tone_fit(engine, samples)
    assert engine.speeds == [1.0] and fitted.report["passes"] == 1
    assert fitted.report["rate_factor"] == 1.0
    assert fitted.report["stretch_factor"] == pytest.approx(natural / samples, abs=1e-4) != 1.0
    assert fitted.media.size == samples and fitted.plan.speech_samples == samples
    first, end = dsp.speech_bounds(fitted.media)
    assert first <= FRAME // 2 and samples - FRAME // 2 <= end <= samples


def test_a_take_half_a_frame_short_is_placed_unstretched():
    engine = ToneEngine(3.0)
    natural = _natural(engine)
    fitted = _tone_fit(engine, natural + FRAME // 4)
    assert engine.speeds == [1.0]
    assert fitted.report["stretch_factor"] == 1.0 and fitted.report["total_speed"] == 1.0
    first, end = dsp.speech_bounds(fitted.media)
    assert end - first == pytest.approx(natural, abs=48)


@pytest.mark.parametrize("needed", [1 + ACCEPT_STRETCH * 3, 1 - ACCEPT_STRETCH * 2.5])
def test_a_take_outside_the_band_is_spoken_again_at_a_corrected_rate(needed):
    engine = ToneEngine(3.0)
    natural = _natural(engine)
    samples = round(natural / needed)
    fitted = _tone_fit(engine, samples)
    assert engine.speeds[0] == 1.0 and len(engine.speeds) == fitted.report["passes"] == 2
    assert engine.speeds[1] == pytest.approx(needed, rel=ACCEPT_STRETCH)
    assert abs(fitted.report["stretch_factor"] - 1) <= ACCEPT_STRETCH
    assert fitted.media.size == samples


def test_a_voice_response_is_kept_in_the_cache_folder_and_measured_once(tmp_path, monkeypatch):
    """A pool worker or a later run reads the voice's response from the render cache folder instead
    of speaking the calibration passages again, and fits the line to the same samples."""
    from otio_dub.speech import speak

    engine = get_engine("espeak")
    voice = engine.default_voice("en", 2)
    line = Line("x", 0, 40, "A", "en", TEXTS[1])
    window = Window(samples=40 * FRAME)
    monkeypatch.setattr(speak, "_responses", {})
    first = fit_line(engine, line, voice, window, FitPolicy(), FRAME, responses=tmp_path)
    stored = list((tmp_path / "responses").glob("*.json"))
    assert len(stored) == 1

    spoken = []
    real = engine.synthesize
    monkeypatch.setattr(engine, "synthesize", lambda text, *a, **k: spoken.append(text) or real(text, *a, **k))
    monkeypatch.setattr(speak, "_responses", {})  # as in a new process
    again = fit_line(engine, line, voice, window, FitPolicy(), FRAME, responses=tmp_path)
    assert spoken and set(spoken) == {line.text}  # the line only: no calibration passage
    assert again.media.tobytes() == first.media.tobytes() and again.report == first.report
