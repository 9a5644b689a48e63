"""The rate loop on real espeak lines: re-synthesis converges, the residual stretch stays small."""

from __future__ import annotations

import math

import pytest

from otio_dub import dsp
from otio_dub.engines import get_engine
from otio_dub.fit import FitPolicy, Window
from otio_dub.lines import Line
from otio_dub.speak import fit_line

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
    # the engine's rate did the work: what is left for time-stretching is a few percent at most
    assert abs(report["stretch_factor"] - 1) <= 0.03, report
    assert abs(report["rate_factor"] - 1) > 0.02 or abs(ratio - 1) < 0.03, report
    assert FitPolicy().max_slowdown - 1e-3 <= report["total_speed"] <= FitPolicy().max_speedup + 1e-3


def test_a_take_does_not_depend_on_what_was_spoken_before_it(monkeypatch):
    """The voice response is measured on fixed passages, never on the run's lines: the same line
    fitted first in a fresh process or after others gives the same samples (any executor, any order)."""
    from otio_dub import speak

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
    from otio_dub.speak import voice_response

    engine = get_engine("piper")
    curve = dict(voice_response(engine, engine.default_voice("en", 0)))
    assert curve[1.0] == 1.0
    assert 1.0 < curve[0.82] < 1 / 0.82 - 0.05
    assert curve[1.25] < 1.0 and curve[1.45] < curve[1.25]
