"""Lines fitted from an engine's own length prediction (piper's duration predictor): the prediction
is checked against what piper itself synthesizes, and the fit against real windows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from otio_dub.audio import dsp
from otio_dub.dialogue.lines import Line
from otio_dub.engines import EngineInfo, Take, VoiceSpec, get_engine
from otio_dub.speech import fit
from otio_dub.speech.fit import FitPolicy, Window
from otio_dub.speech.speak import fit_line

pytest.importorskip("piper")
pytest.importorskip("onnx")

FRAME = 2000  # 24 fps
TEXTS = ["Marcus? Is that really you out there in the dark?",
         "I know, I know. I am sorry, Anna.",  # three sentences: piper speaks them one by one
         "Honestly, the car will not start and I know why, believe me.",
         "Yes."]


@pytest.fixture(scope="module")
def piper():
    return get_engine("piper")


@pytest.mark.parametrize("text", TEXTS)
def test_predicted_take_length_is_what_piper_synthesizes(piper, text):
    """The widths piper's model would use, scaled as it scales them: the take's length to the sample."""
    voice = piper.default_voice("en", 0)
    timing = piper.timing(text, voice)
    assert timing is not None and timing.sample_rate == piper.info.sample_rate
    for speed in (0.8, 1.0, 1.13, 1.37):
        take = piper.synthesize(text, voice, speed)
        assert take.audio.size == timing.samples(speed), speed
        trimmed = dsp.trim(take.audio, take.sample_rate).size
        # the trim is estimated, not known: a short line's edges weigh more
        assert abs(timing.speech(speed) - trimmed) <= 0.06 * trimmed + 0.05 * take.sample_rate


@pytest.mark.parametrize("ratio", [0.7, 0.95, 1.1, 1.2, 1.45])  # padded, fit, fit, fit, borrowed
def test_a_predicted_first_pass_lands(piper, ratio):
    """One synthesis a line: the rate comes from the prediction, and the take lands within a frame of
    its window (or its plan's length when padded or borrowed) after a residual stretch of at most 3%."""
    text = TEXTS[2]
    voice = piper.default_voice("en", 0)
    natural = dsp.trim(dsp.resample(*_take(piper, text, voice))).size
    frames = max(1, round(natural / ratio / FRAME))
    window = Window(samples=frames * FRAME, free_after=48000)
    fitted = fit_line(piper, Line("x", 0, frames, "A", "en", text), voice, window, FitPolicy(), FRAME)
    report = fitted.report
    assert report["passes"] == 1, report
    assert abs(report["stretch_factor"] - 1) <= 0.03, report
    assert abs(report["natural_s"] * 48000 - natural) <= 0.03 * natural  # estimated, never spoken at 1.0x
    first, end = dsp.speech_bounds(fitted.media)
    plan = fitted.plan
    assert fitted.media.size == plan.media_samples
    assert abs(end - (plan.offset + plan.speech_samples)) <= FRAME, (plan, end)
    policy = FitPolicy()
    assert policy.max_slowdown - 0.03 <= report["total_speed"] <= policy.max_speedup + 0.03


def _take(engine, text, voice, speed=1.0):
    take = engine.synthesize(text, voice, speed)
    return take.audio, take.sample_rate


def test_predicted_takes_are_the_same_samples_every_time(piper):
    voice = piper.default_voice("en", 0)
    window = Window(samples=50 * FRAME)
    line = Line("x", 0, 50, "A", "en", TEXTS[2])
    first = fit_line(piper, line, voice, window, FitPolicy(), FRAME, semitones=2.0)
    again = fit_line(piper, line, voice, window, FitPolicy(), FRAME, semitones=2.0)
    assert first.media.tobytes() == again.media.tobytes()


class _Timing:
    """A prediction that is right about the trim but wrong (by ``off`` samples) about whole takes."""

    def __init__(self, engine, text, voice, off: int) -> None:
        self.real, self.off, self.sample_rate = engine.timing(text, voice), off, engine.info.sample_rate

    def samples(self, speed: float) -> int:
        return self.real.samples(speed) + self.off

    def speech(self, speed: float) -> int:
        return self.real.speech(speed)


class _Wrapped:
    """The piper engine with its timing replaced, counting syntheses."""

    def __init__(self, engine, off: int | None) -> None:
        self.engine, self.off, self.spoken = engine, off, []
        self.info = EngineInfo("wrapped-piper", engine.info.sample_rate, True, engine.info.speed_range, "test")
        if off is None:
            self.timing = None

    def synthesize(self, text: str, voice: VoiceSpec, speed: float = 1.0) -> Take:
        self.spoken.append(speed)
        return self.engine.synthesize(text, voice, speed)

    def timing(self, text: str, voice: VoiceSpec, store: object = None) -> _Timing:
        return _Timing(self.engine, text, voice, self.off)


@pytest.mark.parametrize("off", [None, 256])
def test_an_engine_without_a_right_prediction_is_measured_at_natural_pace(piper, off):
    """No timing, or one wrong about a take's whole length: the line is spoken at natural pace and
    corrected as for any engine, and still lands."""
    wrapped = _Wrapped(piper, off)
    voice = piper.default_voice("en", 0)
    frames = round(dsp.trim(dsp.resample(*_take(piper, TEXTS[2], voice))).size / 1.1 / FRAME)
    window = Window(samples=frames * FRAME)
    fitted = fit_line(wrapped, Line("x", 0, frames, "A", "en", TEXTS[2]), voice, window, FitPolicy(), FRAME)
    if off is not None:  # the predicted pass came first, and its length gave the prediction away
        assert wrapped.spoken[0] != 1.0
    assert 1.0 in wrapped.spoken[:2]  # then the natural pass (the voice's calibration comes after it)
    assert fitted.report["passes"] <= FitPolicy().passes
    first, end = dsp.speech_bounds(fitted.media)
    assert abs(end - window.samples) <= FRAME


def test_speed_for_picks_the_step_nearest_the_aim():
    widths = np.array([3.4, 7.9, 5.2, 11.3], dtype=np.float32)

    def length(speed: float) -> float:
        return float(np.ceil(widths * np.float32(1 / speed)).sum()) * 256

    for aim in (5000, 7000, 7700, 9000):
        speed = fit.speed_for(length, aim, 0.4, 2.5)
        best = min((length(s) for s in np.exp(np.linspace(math.log(0.4), math.log(2.5), 20000))),
                   key=lambda n: abs(n - aim))
        assert abs(length(speed) - aim) == abs(best - aim)
    assert fit.speed_for(length, 10, 0.4, 2.5) == 2.5  # too short to reach: the fastest allowed
    assert fit.speed_for(length, 10 ** 6, 0.4, 2.5) == 0.4


def test_the_cut_predictor_is_stored_once_and_loaded_after(piper, tmp_path, monkeypatch):
    """Cutting the predictor loads the whole model (a worker's memory peak): it is cut once, stored by
    the model's content in the render cache folder, and later processes only load the stored part."""
    from otio_dub.engines import piper as piper_module

    model = piper._paths("joe")[0]
    first = piper_module._duration_session(model, tmp_path)
    stored = list((tmp_path / "durations").glob("*.onnx"))
    assert first is not None and len(stored) == 1
    assert stored[0].stat().st_size < model.stat().st_size / 2  # the encoder and duration predictor only

    def no_cut(*args):
        raise AssertionError("cut again although stored")

    monkeypatch.setattr(piper_module, "_cut_predictor", no_cut)
    again = piper_module._duration_session(model, tmp_path)
    feed = {"input": np.array([[1, 0, 35, 0, 61, 0, 2]], dtype=np.int64), "input_lengths": np.array([7], dtype=np.int64),
            "scales": np.array([0.0, 1.0, 0.0], dtype=np.float32)}
    assert np.array_equal(first.run(None, feed)[0], again.run(None, feed)[0])


def test_a_predicted_take_is_the_same_in_a_fresh_process(piper, tmp_path):
    """Workers are fresh processes (pool, Ray): the predictor's widths, hence the rate chosen and the
    take, must not depend on which process ran it (onnxruntime sums on one thread in both)."""
    import subprocess
    import sys

    voice = piper.default_voice("en", 0)
    window = Window(samples=50 * FRAME)
    line = Line("x", 0, 50, "A", "en", TEXTS[2])
    here = fit_line(piper, line, voice, window, FitPolicy(), FRAME, semitones=2.0, responses=tmp_path / "a")
    code = ("import sys, numpy as np; from otio_dub.engines import get_engine; from otio_dub.speech.fit import FitPolicy, Window; "
            "from otio_dub.dialogue.lines import Line; from otio_dub.speech.speak import fit_line; e = get_engine('piper'); "
            f"f = fit_line(e, Line('x', 0, 50, 'A', 'en', {TEXTS[2]!r}), e.default_voice('en', 0), Window(samples={50 * FRAME}), "
            f"FitPolicy(), {FRAME}, semitones=2.0, responses=sys.argv[2]); np.save(sys.argv[1], f.media)")
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "take.npy"), str(tmp_path / "b")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert here.report["passes"] == 1
    assert np.load(tmp_path / "take.npy").tobytes() == here.media.tobytes()
