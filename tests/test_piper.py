"""The piper engine (the ``piper`` extra with the bundled ``joe`` voice) on its own and through a dub."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import otio_dub.engines as engines
from otio_dub.audio import dsp
from otio_dub.casting.cast import CastEntry
from otio_dub.core.errors import EngineError
from otio_dub.engines import Engine, VoiceSpec, get_engine
from otio_dub.stages.pipeline import DubOptions

TEXT = "The quick brown fox jumps over the lazy dog."
JOE = VoiceSpec(voice="joe", lang="en-us")
FRAME = 2000  # 48 kHz samples per frame at 24 fps


@pytest.fixture(scope="module")
def piper():
    """The process-wide piper engine (loading the voice takes about a second: once per module)."""
    return get_engine("piper")


@pytest.fixture(scope="module")
def joe_take(piper):
    return piper.synthesize(TEXT, JOE, 1.0)


def test_get_engine_loads_piper_once(piper):
    assert isinstance(piper, Engine)
    assert get_engine("piper") is piper
    assert piper.info.name == "piper"
    assert piper.info.deterministic is True
    assert piper.info.native_prosody is False  # pitch and gain are applied by the pipeline
    lo, hi = piper.info.speed_range
    assert lo <= 0.8 and hi >= 1.25
    assert "piper" in piper.info.version


def test_synthesize_real_audio(piper, joe_take):
    take = joe_take
    assert take.sample_rate == piper.info.sample_rate == 22050
    assert take.audio.dtype == np.float32
    assert take.audio.ndim == 1
    assert np.all(np.isfinite(take.audio))
    assert 1.0 < take.seconds < 6.0
    assert np.max(np.abs(take.audio)) > 0.1  # not silent
    assert np.sqrt(np.mean(take.audio.astype(np.float64) ** 2)) > 0.01
    first, end = dsp.speech_bounds(take.audio, take.sample_rate)
    assert end - first > 0.8 * take.sample_rate


def test_rate_control_moves_the_length(piper, joe_take):
    lengths = {speed: piper.synthesize(TEXT, JOE, speed).audio.size for speed in (0.8, 1.25)}
    lengths[1.0] = joe_take.audio.size
    assert lengths[0.8] > lengths[1.0] > lengths[1.25], lengths
    assert lengths[0.8] / lengths[1.25] > 1.2  # a real change, not a rounding effect


def test_synthesis_is_deterministic(piper, joe_take):
    again = piper.synthesize(TEXT, JOE, 1.0)
    assert again.sample_rate == joe_take.sample_rate
    np.testing.assert_array_equal(again.audio, joe_take.audio)


def test_voice_speaks_as_piper_loads_it(piper, joe_take):
    """The engine builds the voice itself (its convolutions 2-D, onnxruntime's arena on; load takes no
    options): the samples are those of ``PiperVoice.load``'s voice to within the summation order."""
    from piper import PiperVoice, SynthesisConfig

    from otio_dub.engines.piper import _bundled

    model, config = _bundled()["joe"]
    theirs = PiperVoice.load(model, config_path=config)
    settings = SynthesisConfig(length_scale=1.0, noise_scale=0.0, noise_w_scale=0.0, normalize_audio=False, volume=1.0)
    audio = np.concatenate([c.audio_float_array for c in theirs.synthesize(TEXT, settings)]).astype(np.float32)
    assert audio.size == joe_take.audio.size
    error = np.sqrt(np.mean((audio - joe_take.audio) ** 2) / np.mean(audio ** 2))
    assert error < 1e-4, error  # another graph (its sums in another order), the same speech
    session = piper._voice("joe").session
    assert session.get_session_options().enable_cpu_mem_arena is True
    assert session.options.get_run_config_entry("memory.enable_memory_arena_shrinkage") == "cpu:0"
    assert "+conv2d" in piper.info.version  # takes of the 1-D graph are never reused as these


def test_voices_lists_joe(piper):
    voices = piper.voices()
    joe = [v for v in voices if v.id == "joe"]
    assert len(joe) == 1
    assert joe[0].languages == ("en-us",)
    assert [v.id for v in piper.voices("en-us")] == ["joe"]
    assert [v.id for v in piper.voices("en")] == ["joe"]
    assert piper.voices("de") == []
    assert "en-us" in piper.languages()


@pytest.mark.parametrize("index", [0, 1, 5])
def test_default_voice_is_the_bundled_voice(piper, index):
    spec = piper.default_voice("en-us", index)
    assert spec.voice == "joe"
    assert spec.lang == "en-us"
    assert spec.speaker is None  # joe has a single speaker
    piper.check(spec)  # speakable as given


def test_check_accepts_joe(piper):
    piper.check(JOE)
    piper.check(VoiceSpec(voice="joe", lang="en-us", speaker=0))
    piper.check(VoiceSpec(voice=None, lang="en-us"))  # no voice: the default one


def test_check_unknown_voice_lists_bundled_voices(piper):
    with pytest.raises(EngineError) as info:
        piper.check(VoiceSpec(voice="nobody", lang="en-us"))
    message = str(info.value)
    assert "nobody" in message
    assert "joe" in message
    assert ".onnx" in message


def test_check_missing_onnx_path(piper, tmp_path):
    missing = tmp_path / "missing.onnx"
    with pytest.raises(EngineError) as info:
        piper.check(VoiceSpec(voice=str(missing), lang="en-us"))
    assert "missing.onnx" in str(info.value)
    assert "joe" in str(info.value)


def test_check_onnx_without_its_config(piper, tmp_path):
    model = tmp_path / "voice.onnx"
    model.write_bytes(b"not really a model")
    with pytest.raises(EngineError) as info:
        piper.check(VoiceSpec(voice=str(model), lang="en-us"))
    message = str(info.value)
    assert "voice.onnx.json" in message
    assert str(model) in message


def test_check_broken_onnx_voice_is_an_engine_error(piper, tmp_path):
    model = tmp_path / "broken.onnx"
    model.write_bytes(b"not really a model")
    (tmp_path / "broken.onnx.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(EngineError) as info:
        piper.check(VoiceSpec(voice=str(model), lang="en-us"))
    assert "broken.onnx" in str(info.value)


def test_speaker_out_of_range(piper):
    with pytest.raises(EngineError) as info:
        piper.check(VoiceSpec(voice="joe", lang="en-us", speaker=3))
    assert "speaker" in str(info.value)
    assert "3" in str(info.value)
    with pytest.raises(EngineError):
        piper.synthesize("Hello.", VoiceSpec(voice="joe", lang="en-us", speaker=-1))


def test_missing_piper_package_names_the_extra(monkeypatch):
    from otio_dub.engines.piper import PiperEngine

    monkeypatch.setitem(sys.modules, "piper", None)  # `import piper` now raises ImportError
    with pytest.raises(EngineError) as info:
        PiperEngine()
    assert "otio-dub[piper]" in str(info.value)


def test_missing_piper_package_through_the_registry(monkeypatch):
    monkeypatch.setitem(sys.modules, "piper", None)
    monkeypatch.setattr(engines, "_loaded", {k: v for k, v in engines._loaded.items() if k != "piper"})
    with pytest.raises(EngineError) as info:
        get_engine("piper")
    assert "otio-dub[piper]" in str(info.value)
    assert "piper" not in engines._loaded  # a failed load is not cached


def test_dub_with_a_piper_cast(piper, tools, fresh_dub):
    text = "I had to see you tonight. It could not wait until tomorrow."
    natural = dsp.trim(dsp.resample(*_take(piper, text))).size
    window_frames = round(natural / 1.1 / FRAME)  # needs about 1.1x: well inside the speed bounds
    rin, rout = 24, 24 + window_frames
    timeline = tools.make_timeline(24, 86400, [tools.LineSpec(rin, rout, text, "ANNA")], rout + 48, name="piper")
    cast = {"ANNA": CastEntry("ANNA", engine="piper", voice="joe", lang="en-us")}
    result = fresh_dub(timeline, options=DubOptions(cast=cast))
    assert len(result.lines) == 1
    row = result.lines[0]
    assert row["engine"] == "piper"
    assert row["voice"] == "joe"
    assert row["lang"] == "en-us"
    assert row["status"] == "fit", row
    assert result.voices == {"ANNA (en-us)": "piper joe"}
    report = result.report_path.read_text(encoding="utf-8")
    assert '"piper"' in report and "piper-tts" in report
    media = tools.read_wav(result.out_dir / row["media"])
    info = sf.info(str(result.out_dir / row["media"]))
    assert (info.samplerate, info.subtype, info.channels) == (48000, "PCM_24", 1)
    assert media.size == (rout - rin) * FRAME  # exact media length
    first, end = dsp.speech_bounds(media.astype(np.float32))
    assert first <= FRAME  # speech starts at the record in
    assert abs(end - media.size) <= FRAME  # and ends within one frame of the window
    assert 0.9 - 2e-3 <= row["total_speed"] <= 1.25 + 2e-3


def _take(engine, text: str) -> tuple[np.ndarray, int]:
    take = engine.synthesize(text, JOE, 1.0)
    return take.audio, take.sample_rate


_NO_NETWORK = '''
import socket


def _refuse(*args, **kwargs):
    raise OSError("network access is forbidden in this test")


socket.socket.connect = socket.socket.connect_ex = _refuse
socket.getaddrinfo = socket.create_connection = _refuse
'''


def test_piper_dub_writes_nothing_outside_its_folder_and_uses_no_network(tools, tmp_path):
    """onnxruntime's telemetry is off before it loads: no ~/.cache/Microsoft, no socket, in a fresh process.

    The dub runs in its own process with a read-only empty home, a temp folder of its own, Python
    sockets refused and, where the system allows it, no network at all (a new network namespace).
    """
    import os
    import shutil
    import stat
    import subprocess

    import opentimelineio as otio

    work, home, tmp, site = (tmp_path / n for n in ("work", "home", "tmp", "site"))
    for folder in (work, home, tmp, site):
        folder.mkdir()
    (site / "sitecustomize.py").write_text(_NO_NETWORK, encoding="utf-8")
    timeline = tools.make_timeline(24, 86400, [tools.LineSpec(24, 96, "Hello there, my old friend.", "MARCUS")], 144)
    otio.adapters.write_to_file(timeline, str(work / "cut.otio"))
    (work / "cast.toml").write_text('[characters.MARCUS]\nengine = "piper"\nvoice = "joe"\nlang = "en-us"\n',
                                    encoding="utf-8")
    home.chmod(stat.S_IRUSR | stat.S_IXUSR)  # read-only (root ignores it: the check below is what counts)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORT_", "XDG_", "OTIO_DUB_", "KOKORO_"))}
    env.update(HOME=str(home), TMPDIR=str(tmp), PYTHONPATH=str(site))
    code = ("import otio_dub; from otio_dub.stages.options import DubOptions; "
            "otio_dub.dub('cut.otio', out_dir='out', options=DubOptions(cast='cast.toml'))")
    command = [sys.executable, "-c", code]
    if shutil.which("unshare") and subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode == 0:
        command = ["unshare", "-rn", *command]
    run = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    home.chmod(stat.S_IRWXU)
    assert list(home.rglob("*")) == []  # no ~/.cache/Microsoft/DeveloperTools/deviceid
    assert list(tmp.rglob("*")) == []
    # beside -o only the output folder's lock (outdir.py: a run swaps the whole folder, so it locks beside it)
    assert sorted(p.name for p in work.iterdir() if p.name != ".out.otio-dub.lock") == ["cast.toml", "cut.otio", "out"]
    assert (work / "out" / "media" / "001-MARCUS.wav").is_file() or list((work / "out" / "media").glob("*.wav"))


def test_the_rewrite_is_stored_once_and_a_damaged_one_is_spoken_around(piper, tmp_path, monkeypatch, caplog):
    """The 2-D rewrite is made once per render cache (conv2d/) and later processes load that file; a
    stored file onnxruntime refuses is removed (made again next time) and the voice's own graph speaks."""
    from otio_dub.engines import piper as piper_module

    model = piper._paths("joe")[0]
    stored = piper_module._decoder_model(model, tmp_path)
    assert isinstance(stored, str) and stored.startswith(str(tmp_path / "conv2d"))

    def no_rewrite(*args):
        raise AssertionError("rewritten again although stored")

    monkeypatch.setattr(piper_module, "_conv2d_bytes", no_rewrite)
    assert piper_module._decoder_model(model, tmp_path) == stored
    Path(stored).write_bytes(b"not a model")
    session = piper_module._voice_session(model, stored)
    assert session._model_path == str(model) and not Path(stored).exists()
    assert any("does not load" in r.getMessage() for r in caplog.records)
