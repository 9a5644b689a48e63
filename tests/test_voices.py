"""Who speaks each line and how: languages, performers, emotion prosody on real audio, text hygiene, plugins."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import otio_dub.engines as engines
from otio_dub.audio import dsp
from otio_dub.casting.cast import CastEntry
from otio_dub.casting.voices import Performer, assign, delivery, resolve_languages
from otio_dub.dialogue.lines import Line
from otio_dub.dialogue.prosody import EMOTIONS
from otio_dub.engines import EngineInfo, Take, VoiceInfo, VoiceSpec, available_engines, get_engine
from otio_dub.speech import fit
from otio_dub.stages.pipeline import DubOptions, fit_line

SENTENCE = "I cannot believe we finally made it to the top of the mountain."


def _line(character: str = "ANNA", lang: str | None = "en", text: str = "Hello there.", emotion: str | None = None,
          n: int = 1) -> Line:
    return Line(f"{n:03d}-{character}", n * 10, n * 10 + 5, character, lang, text, emotion=emotion,
                origin=f"event {n}")


# ---------------------------------------------------------------------------------------------
# a pitch estimator (FFT autocorrelation, 70-400 Hz, voiced frames only)
# ---------------------------------------------------------------------------------------------


def f0_track(audio: np.ndarray, rate: int, lo_hz: float = 70.0, hi_hz: float = 400.0) -> np.ndarray:
    """F0 (Hz) of each 40 ms frame, 10 ms hop; NaN where the frame is not clearly voiced.

    The autocorrelation is divided by the window's own (so long lags are not penalised) and the
    shortest lag within 10% of the best peak wins (so no sub-octave picks).
    """
    win, hop = int(0.04 * rate), int(0.01 * rate)
    if audio.size < win:
        return np.zeros(0)
    frames = np.lib.stride_tricks.sliding_window_view(audio.astype(np.float64), win)[::hop]
    frames = frames - frames.mean(axis=1, keepdims=True)
    window = np.hanning(win)

    def acf(x: np.ndarray) -> np.ndarray:
        return np.fft.irfft(np.abs(np.fft.rfft(x, n=2 * win, axis=-1)) ** 2, axis=-1)[..., :win]

    ac = acf(frames * window) / np.maximum(acf(window), 1e-12)
    ac = ac / np.maximum(ac[:, :1], 1e-12)
    lo, hi = int(rate / hi_hz), int(rate / lo_hz) + 1
    seg = ac[:, lo:hi]
    best = seg.max(axis=1)
    peak = np.zeros(seg.shape, dtype=bool)
    peak[:, 1:-1] = (seg[:, 1:-1] >= seg[:, :-2]) & (seg[:, 1:-1] >= seg[:, 2:])
    ok = peak & (seg >= 0.9 * best[:, None])
    voiced = (best > 0.6) & ok.any(axis=1)
    lag = lo + np.argmax(ok, axis=1)
    rows = np.arange(len(ac))
    a, b, c = (ac[rows, np.clip(lag + d, 0, win - 1)] for d in (-1, 0, 1))
    den = a - 2 * b + c
    shift = np.where(np.abs(den) > 1e-12, 0.5 * (a - c) / np.where(np.abs(den) > 1e-12, den, 1.0), 0.0)
    return np.where(voiced, rate / (lag + shift), np.nan)


def median_f0(audio: np.ndarray, rate: int) -> float:
    track = f0_track(audio, rate)
    track = track[~np.isnan(track)]
    assert track.size >= 20, "too few voiced frames to measure pitch"
    return float(np.median(track))


@pytest.mark.parametrize("hz", [80.0, 110.0, 150.0, 220.0, 330.0])
def test_f0_estimator_on_harmonic_tones(hz):
    rate = 48000
    t = np.arange(rate) / rate
    tone = sum(np.sin(2 * np.pi * hz * k * t) / k for k in range(1, 8))
    assert median_f0(tone, rate) == pytest.approx(hz, rel=0.005)
    noise = np.random.default_rng(0).standard_normal(rate) * 0.1
    assert np.isnan(f0_track(noise, rate)).mean() > 0.9  # noise is not voiced


# ---------------------------------------------------------------------------------------------
# languages and performers
# ---------------------------------------------------------------------------------------------


def test_resolve_languages_precedence():
    cast = {"ANNA": CastEntry("ANNA", lang="de"), "BOB": CastEntry("BOB", rate=1.1)}
    lines = [
        _line("ANNA", "fr", n=1),  # the line's own language wins
        _line("ANNA", None, n=2),  # else the cast's
        _line("BOB", None, n=3),  # cast entry without a language: the default
        _line("CARL", None, n=4),  # no cast entry: the default
        _line("CARL", "es", n=5),
    ]
    resolved = resolve_languages(lines, cast, "en-us")
    assert [ln.lang for ln in resolved] == ["fr", "de", "en-us", "en-us", "es"]
    assert [ln.id for ln in resolved] == [ln.id for ln in lines]
    assert resolved[0] is lines[0]  # unchanged lines are passed through
    assert lines[1].lang is None  # inputs untouched


def test_automatic_voices_are_distinct():
    lines = [_line(c, n=n) for n, c in enumerate(["ANNA", "BOB", "CARL", "DORA", "ANNA", "BOB"], 1)]
    performers = assign(lines, {}, "espeak")
    assert set(performers) == {(c, "en") for c in ("ANNA", "BOB", "CARL", "DORA")}
    voices = [p.spec.voice for p in performers.values()]
    assert len(set(voices)) == 4, voices
    assert all(p.engine == "espeak" and not p.from_cast for p in performers.values())
    assert all(v.startswith("en+") for v in voices)


def test_automatic_voices_never_reuse_a_cast_voice():
    cast = {"ANNA": CastEntry("ANNA", engine="espeak", voice="en+m3")}
    lines = [_line(c, n=n) for n, c in enumerate(["BOB", "ANNA", "CARL", "DORA", "EVE"], 1)]
    performers = assign(lines, cast, "espeak")
    assert performers[("ANNA", "en")].spec.voice == "en+m3"
    assert performers[("ANNA", "en")].from_cast
    auto = {c: performers[(c, "en")].spec.voice for c in ("BOB", "CARL", "DORA", "EVE")}
    assert "en+m3" not in auto.values(), auto
    assert len(set(auto.values())) == 4, auto


def test_characters_whose_cast_names_no_voice_get_distinct_voices():
    # cast entries that only set a rate or an emotion must not put two characters on one voice
    cast = {"ANNA": CastEntry("ANNA", rate=1.1), "BOB": CastEntry("BOB", emotion="sad")}
    performers = assign([_line("ANNA", n=1), _line("BOB", n=2), _line("CARL", n=3)], cast, "espeak")
    voices = {c: performers[(c, "en")].spec.voice for c in ("ANNA", "BOB", "CARL")}
    assert len(set(voices.values())) == 3, voices
    assert performers[("ANNA", "en")].rate == 1.1
    assert performers[("BOB", "en")].emotion == "sad"


def test_one_performer_per_character_and_language():
    lines = [_line("ANNA", "en", n=1), _line("ANNA", "de", n=2), _line("ANNA", "en", n=3)]
    performers = assign(lines, {}, "espeak")
    assert set(performers) == {("ANNA", "en"), ("ANNA", "de")}
    assert performers[("ANNA", "de")].spec.voice.startswith("de+")
    assert performers[("ANNA", "de")].spec.lang == "de"


def test_cast_entry_without_voice_uses_the_engine_default():
    cast = {"ANNA": CastEntry("ANNA", engine="espeak", lang="de", pitch=2.0)}
    lines = resolve_languages([_line("ANNA", None)], cast, "en")
    performer = assign(lines, cast, "espeak")[("ANNA", "de")]
    assert performer.spec.voice.startswith("de+")
    assert performer.semitones == 2.0
    assert performer.from_cast


# ---------------------------------------------------------------------------------------------
# delivery: emotion applied to a performer
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("emotion", list(EMOTIONS))
def test_delivery_native_prosody(emotion):
    p = EMOTIONS[emotion]
    performer = Performer("espeak", VoiceSpec("en+m3", "en"), rate=1.2, semitones=1.5, gain_db=-2.0, from_cast=True)
    how = delivery(performer, _line(emotion=emotion), native_prosody=True)
    assert how.emotion == emotion
    assert how.spec.voice == "en+m3" and how.spec.lang == "en"
    assert how.spec.pitch == pytest.approx(p.pitch)
    assert how.spec.pitch_range == pytest.approx(p.pitch_range)
    assert how.spec.volume == pytest.approx(10 ** (p.gain_db / 20))
    assert how.speed == pytest.approx(1.2 * p.rate)
    # the emotion went into the engine's own controls; the cast's shift and gain stay as they are
    assert how.semitones == 1.5
    assert how.gain_db == -2.0


@pytest.mark.parametrize("emotion", list(EMOTIONS))
def test_delivery_without_native_prosody(emotion):
    p = EMOTIONS[emotion]
    spec = VoiceSpec("joe", "en-us")
    performer = Performer("piper", spec, rate=0.9, semitones=-1.0, gain_db=3.0, from_cast=True)
    how = delivery(performer, _line(emotion=emotion), native_prosody=False)
    assert how.spec == spec  # nothing native: the voice is unchanged
    assert how.speed == pytest.approx(0.9 * p.rate)
    assert how.semitones == pytest.approx(-1.0 + p.semitones)
    assert how.gain_db == pytest.approx(3.0 + p.gain_db)
    assert how.emotion == emotion


def test_delivery_line_emotion_beats_the_cast_emotion():
    performer = Performer("espeak", VoiceSpec("en+m3", "en"), emotion="sad", from_cast=True)
    assert delivery(performer, _line(emotion="excited"), True).emotion == "excited"
    how = delivery(performer, _line(emotion=None), True)
    assert how.emotion == "sad"
    assert how.speed == pytest.approx(EMOTIONS["sad"].rate)
    assert how.spec.pitch == pytest.approx(EMOTIONS["sad"].pitch)


def test_delivery_neutral_leaves_the_voice_alone():
    performer = Performer("espeak", VoiceSpec("en+m3", "en"))
    how = delivery(performer, _line(), True)
    assert how.emotion is None
    assert (how.spec.pitch, how.spec.pitch_range, how.spec.volume, how.speed) == (1.0, 1.0, 1.0, 1.0)
    how = delivery(Performer("piper", VoiceSpec("joe", "en-us")), _line(), False)
    assert (how.speed, how.semitones, how.gain_db) == (1.0, 0.0, 0.0)


# ---------------------------------------------------------------------------------------------
# emotion changes prosody measurably on real audio
# ---------------------------------------------------------------------------------------------


def test_espeak_excited_is_faster_and_higher_than_sad(espeak):
    performer = Performer("espeak", espeak.default_voice("en", 0))
    measured = {}
    for emotion in ("sad", "neutral", "excited"):
        how = delivery(performer, _line(text=SENTENCE, emotion=emotion), espeak.info.native_prosody)
        take = espeak.synthesize(SENTENCE, how.spec, how.speed)
        speech = dsp.trim(take.audio, take.sample_rate)
        measured[emotion] = (speech.size / take.sample_rate, median_f0(speech, take.sample_rate))
    (sad_s, sad_hz), (neutral_s, neutral_hz), (excited_s, excited_hz) = (
        measured["sad"], measured["neutral"], measured["excited"])
    assert excited_s < neutral_s < sad_s, measured
    assert excited_s < 0.9 * sad_s, measured  # 1.12x vs 0.86x rate: clearly different
    assert excited_hz > neutral_hz > sad_hz, measured
    assert excited_hz > 1.2 * sad_hz, measured


def test_piper_semitones_shift_pitch_not_length():
    piper = get_engine("piper")
    voice = VoiceSpec("joe", "en-us")
    line = _line("MARCUS", "en-us", SENTENCE)
    take = piper.synthesize(SENTENCE, voice, 1.0)
    natural = dsp.trim(dsp.resample(take.audio, take.sample_rate)).size
    window = fit.Window(samples=natural + 1000)
    frame = 2000
    plain = fit_line(piper, line, voice, window, fit.FitPolicy(), frame)
    up = fit_line(piper, line, voice, window, fit.FitPolicy(), frame, semitones=3.0)
    assert plain.media.size == up.media.size == window.samples
    p_first, p_end = dsp.speech_bounds(plain.media)
    u_first, u_end = dsp.speech_bounds(up.media)
    assert abs((u_end - u_first) - (p_end - p_first)) <= frame  # length unchanged within a frame
    assert abs(u_first - p_first) <= frame
    # same timing, so frame-by-frame pitch ratios are comparable
    base, shifted = f0_track(plain.media, 48000), f0_track(up.media, 48000)
    both = ~np.isnan(base) & ~np.isnan(shifted)
    assert both.sum() >= 50
    ratio = float(np.median(shifted[both] / base[both]))
    assert ratio == pytest.approx(2 ** (3 / 12), rel=0.03)


# ---------------------------------------------------------------------------------------------
# markup never reaches the engine (a recording fake engine)
# ---------------------------------------------------------------------------------------------


class FakeEngine:
    """Records every text; speaks a 440 Hz tone whose length is proportional to len(text) / speed."""

    info = EngineInfo("rec", 22050, True, (0.5, 2.0), "test", True)

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.specs: list[VoiceSpec] = []

    def synthesize(self, text: str, voice: VoiceSpec, speed: float = 1.0) -> Take:
        from otio_dub.speech.speak import CALIBRATION

        if not any(text in passages for passages in CALIBRATION.values()):  # a voice's fixed timing passages
            self.texts.append(text)
            self.specs.append(voice)
        n = int(round(0.05 * self.info.sample_rate * len(text) / speed))
        t = np.arange(n) / self.info.sample_rate
        return Take((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), self.info.sample_rate)

    def languages(self) -> list[str]:
        return ["en"]

    def voices(self, lang: str | None = None) -> list[VoiceInfo]:
        return [VoiceInfo("tone", "tone", ("en",))]

    def default_voice(self, lang: str, index: int) -> VoiceSpec:
        return VoiceSpec(voice=f"tone{index}", lang=lang)

    def check(self, voice: VoiceSpec) -> None:
        pass


@pytest.fixture
def recorder(monkeypatch):
    """A FakeEngine registered as 'rec' for this test only."""
    fake = FakeEngine()
    monkeypatch.setitem(engines.ENGINES, "rec", lambda: fake)
    monkeypatch.setattr(engines, "_loaded", {k: v for k, v in engines._loaded.items() if k != "rec"})
    return fake


@pytest.fixture
def warnings_of(caplog, monkeypatch):
    """caplog on the otio_dub logger (the CLI turns its propagation off once it has run)."""
    monkeypatch.setattr(logging.getLogger("otio_dub"), "propagate", True)
    caplog.set_level(logging.WARNING, logger="otio_dub")
    return caplog


FORBIDDEN = ("{", "}", "<", ">", "\\N", "\\n", "[", "]", "ANNA:", "MARCUS:")

ASS = r"""[Script Info]
ScriptType: v4.00+

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,Arial,48,&H00FFFFFF,&H000000FF,&H00000000,&H64000000,0,0,0,0,100,100,0,0,1,2,1,2,40,40,40,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:01.00,0:00:04.00,Default,,0,0,0,,ANNA: {\i1}Where{\i0} were you\Nall night?
Dialogue: 0,0:00:05.00,0:00:08.00,Default,MARCUS,0,0,0,,[angry] I walked {\b1}home{\b0}, Anna.
Dialogue: 0,0:00:09.00,0:00:12.00,Default,,0,0,0,,ANNA: [foo] I am 42.
Dialogue: 0,0:00:13.00,0:00:16.00,Default,ANNA,0,0,0,,<i>Really</i>? {\an8}Twelve\Nkilometres?
"""

SRT = """1
00:00:01,000 --> 00:00:04,000
ANNA: <i>Where</i> were you
all night?

2
00:00:05,000 --> 00:00:08,000
MARCUS: [angry] I walked <b>home</b>, Anna.

3
00:00:09,000 --> 00:00:12,000
ANNA: [foo] I am 42.

4
00:00:13,000 --> 00:00:16,000
{\\an8}ANNA: <font color="#ff0000">Really</font>? Twelve kilometres?
"""

VTT = """WEBVTT

00:00:01.000 --> 00:00:04.000
<v ANNA>ANNA: <i>Where</i> were you
all night?

00:00:05.000 --> 00:00:08.000
<v MARCUS>[angry] I walked <b>home</b>, Anna.

00:00:09.000 --> 00:00:12.000
<v ANNA>[foo] I am 42.

00:00:13.000 --> 00:00:16.000
<v.loud ANNA><c.yellow>Really</c>? Twelve kilometres?
"""

EXPECTED = [
    ("ANNA", "Where were you all night?", None),
    ("MARCUS", "I walked home, Anna.", "angry"),
    ("ANNA", "I am 42.", None),
    ("ANNA", "Really? Twelve kilometres?", None),
]


@pytest.mark.parametrize("suffix, body", [(".ass", ASS), (".srt", SRT), (".vtt", VTT)], ids=["ass", "srt", "vtt"])
def test_markup_never_reaches_the_engine(recorder, warnings_of, tools, fresh_dub, tmp_path, suffix, body):
    script = tmp_path / f"scene{suffix}"
    script.write_text(body, encoding="utf-8")
    timeline = tools.make_timeline(24, 86400, [], 24 * 20, name="markup")
    result = fresh_dub(timeline, script, DubOptions(engine="rec"))
    assert recorder.texts, "the fake engine was never called"
    for text in recorder.texts:
        for bad in FORBIDDEN:
            assert bad not in text, (bad, text)
        assert "foo" not in text
        assert text == " ".join(text.split())  # whitespace collapsed
    assert set(recorder.texts) == {text for _, text, _ in EXPECTED}
    assert [(r["character"], r["text"], r["emotion"]) for r in result.lines] == EXPECTED
    assert all(r["engine"] == "rec" for r in result.lines)
    # numbers reach the engine as digits (the engine speaks them by its language's rules)
    assert any("42" in text for text in recorder.texts)
    warned = [r.getMessage() for r in warnings_of.records if r.levelno == logging.WARNING]
    assert any("[foo]" in m for m in warned), warned
    assert not any("[angry]" in m for m in warned), warned


def test_metadata_markup_never_reaches_the_engine(recorder, warnings_of, tools, fresh_dub):
    spec = tools.LineSpec
    timeline = tools.make_timeline(24, 86400, [
        spec(24, 96, "<i>Where</i> were you\\Nall night?", "ANNA"),
        spec(120, 192, "MARCUS: [sad] I walked <b>home</b>. [foo]", "MARCUS"),
    ], 240, name="meta")
    result = fresh_dub(timeline, options=DubOptions(engine="rec"))
    for text in recorder.texts:
        for bad in FORBIDDEN:
            assert bad not in text, (bad, text)
        assert "foo" not in text
    assert set(recorder.texts) == {"Where were you all night?", "I walked home."}
    assert [r["emotion"] for r in result.lines] == [None, "sad"]
    assert any("[foo]" in r.getMessage() for r in warnings_of.records)


def test_long_stage_direction_is_not_spoken(recorder, tools, fresh_dub, tmp_path):
    # SDH-style sound descriptions are markup too, however long they are
    script = tmp_path / "sdh.srt"
    script.write_text("1\n00:00:01,000 --> 00:00:05,000\n"
                      "ANNA: [sighs heavily and looks away from the window] Fine.\n", encoding="utf-8")
    timeline = tools.make_timeline(24, 86400, [], 24 * 8, name="sdh")
    fresh_dub(timeline, script, DubOptions(engine="rec"))
    assert recorder.texts
    for text in recorder.texts:
        assert "[" not in text and "]" not in text, text
        assert "sighs" not in text, text
    assert set(recorder.texts) == {"Fine."}


def test_recording_engine_sees_native_prosody_of_the_emotion(recorder, tools, fresh_dub):
    spec = tools.LineSpec
    timeline = tools.make_timeline(24, 86400, [spec(24, 96, "[excited] We made it!", "ANNA")], 120, name="emo")
    fresh_dub(timeline, options=DubOptions(engine="rec"))
    assert recorder.specs
    excited = EMOTIONS["excited"]
    for voice in recorder.specs:
        assert voice.pitch == pytest.approx(excited.pitch)
        assert voice.pitch_range == pytest.approx(excited.pitch_range)
        assert voice.volume == pytest.approx(10 ** (excited.gain_db / 20))


def test_espeak_speaks_numbers_as_words(espeak):
    voice = VoiceSpec(lang="en")
    with_number = dsp.trim(espeak.synthesize("I am 42.", voice).audio, espeak.info.sample_rate)
    without = dsp.trim(espeak.synthesize("I am.", voice).audio, espeak.info.sample_rate)
    assert (with_number.size - without.size) / espeak.info.sample_rate > 0.3


# ---------------------------------------------------------------------------------------------
# engines from the otio_dub.engines entry points
# ---------------------------------------------------------------------------------------------


class _EntryPoint:
    def __init__(self, name: str, target: object) -> None:
        self.name = name
        self._target = target

    def load(self) -> object:
        return self._target


def _plug(monkeypatch, *points: _EntryPoint) -> None:
    def entry_points(group: str | None = None, **_: object) -> list[_EntryPoint]:
        return list(points) if group == "otio_dub.engines" else []

    monkeypatch.setattr(engines, "entry_points", entry_points)
    names = {p.name for p in points}
    monkeypatch.setattr(engines, "_loaded", {k: v for k, v in engines._loaded.items() if k not in names})


def test_entry_point_engine_through_a_factory(monkeypatch):
    made = []

    def factory() -> FakeEngine:
        made.append(FakeEngine())
        return made[-1]

    _plug(monkeypatch, _EntryPoint("ext", factory))
    assert "ext" in available_engines()
    assert {"espeak", "piper"} <= set(available_engines())
    engine = get_engine("ext")
    assert isinstance(engine, FakeEngine)
    assert get_engine("ext") is engine  # loaded once
    assert len(made) == 1
    assert engine.synthesize("Hello.", VoiceSpec(lang="en")).audio.size > 0


def test_entry_point_engine_naming_a_class(monkeypatch):
    # `ext = "package.module:MyEngine"`: the entry point loads the class, which get_engine instantiates
    _plug(monkeypatch, _EntryPoint("ext", FakeEngine))
    engine = get_engine("ext")
    assert isinstance(engine, FakeEngine)
    assert engine.synthesize("Hello.", VoiceSpec(lang="en")).audio.size > 0


def test_entry_point_does_not_replace_a_builtin_engine(monkeypatch):
    from otio_dub.engines.espeak import EspeakEngine

    made = []
    _plug(monkeypatch, _EntryPoint("espeak", lambda: made.append(1) or FakeEngine()))
    assert "espeak" not in engines._loaded  # so the registry is really consulted
    assert isinstance(get_engine("espeak"), EspeakEngine)
    assert made == []


def test_entry_point_engine_dubs_and_is_listed(monkeypatch, tools, fresh_dub):
    from click.testing import CliRunner

    from otio_dub.cli import main

    fake = FakeEngine()
    _plug(monkeypatch, _EntryPoint("ext", lambda: fake))
    result = CliRunner().invoke(main, ["engines"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("ext"))
    assert "ready" in row
    spec = tools.LineSpec
    timeline = tools.make_timeline(24, 86400, [spec(24, 96, "Hello there.", "ANNA")], 120, name="ext")
    cast = {"ANNA": CastEntry("ANNA", engine="ext", voice="tone7")}
    dubbed = fresh_dub(timeline, options=DubOptions(cast=cast))
    assert dubbed.lines[0]["engine"] == "ext"
    assert dubbed.lines[0]["voice"] == "tone7"
    assert fake.texts and set(fake.texts) == {"Hello there."}


def test_prefer_neural_gives_installed_neural_voices_first():
    """Automatic casting with prefer_neural: kokoro for Japanese, neural voices for English, espeak for German."""
    pytest.importorskip("kokoro_onnx")
    pytest.importorskip("piper")
    ja = [_line(c, "ja", n=n) for n, c in enumerate(["ANNA", "MARCUS", "NARRATOR"], 1)]
    performers = assign(ja, {}, "espeak", prefer_neural=True)
    assert {p.engine for p in performers.values()} == {"kokoro"}
    assert len({p.spec.voice for p in performers.values()}) == 3
    en = [_line(c, "en", n=n) for n, c in enumerate(["ANNA", "MARCUS"], 1)]
    performers = assign(en, {}, "espeak", prefer_neural=True)
    anna, marcus = performers[("ANNA", "en")], performers[("MARCUS", "en")]
    assert {anna.engine, marcus.engine} <= {"kokoro", "piper"}  # English: neural voices by measured WER
    assert (anna.engine, anna.spec.voice) != (marcus.engine, marcus.spec.voice)
    de = [_line("ANNA", "de")]
    assert assign(de, {}, "espeak", prefer_neural=True)[("ANNA", "de")].engine == "kokoro"  # measured clearer than espeak
    cast = {"ANNA": CastEntry("ANNA", engine="espeak")}
    assert assign(ja[:1], cast, "espeak", prefer_neural=True)[("ANNA", "ja")].engine == "espeak"  # the cast decides
    assert assign(en, {}, "espeak") == assign(en, {}, "espeak", prefer_neural=False)  # off: today's voices
