"""Automatic casting keeps to each character's gender: the actor heard, the cast's, the clip's; and says why."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil

import numpy as np
import opentimelineio as otio
import pytest
import soundfile as sf

from otio_dub.audio import dsp
from otio_dub.audio.pitch import f0_stats
from otio_dub.casting.auto import evidence
from otio_dub.casting.cast import parse_cast
from otio_dub.casting.voices import assign
from otio_dub.core.errors import InputError
from otio_dub.dialogue.lines import Line
from otio_dub.engines import VoiceSpec, get_engine
from otio_dub.engines import voice_quality as quality
from otio_dub.engines.voice_measures import MEASURES
from otio_dub.stages.options import DubOptions
from otio_dub.stages.plan import plan_dub


def _lines(*characters: str, lang: str = "en-us") -> list[Line]:
    return [Line(f"{i:03d}-{c}", i * 48, i * 48 + 40, c, lang, "Where were you last night?", origin=f"event {i}")
            for i, c in enumerate(characters, 1)]


def _gender(performer) -> str | None:
    return quality.gender(performer.engine, performer.spec.voice)


def test_voice_names_give_genders():
    assert quality.gender("kokoro", "jf_alpha") == "female" and quality.gender("kokoro", "jm_kumo") == "male"
    assert quality.gender("espeak", "en-us+f4") == "female" and quality.gender("espeak", "es+m3") == "male"
    assert quality.gender("espeak", "en-us") == "male"  # espeak's own voices are male
    assert quality.gender("piper", "joe") == "male" and quality.gender("piper", "/v/en_US-amy-medium.onnx") == "female"
    assert quality.gender("piper", "/v/xx_XX-somebody-low.onnx") is None  # unknown: never given to a gendered part


def test_measured_f0_agrees_with_every_named_gender():
    """The benchmark's median F0 of each voice sits on the side of the split its name says."""
    checked = 0
    for name, data in MEASURES.items():
        engine, _, voice = name.partition(" ")
        voice = f"en+{voice[1:]}" if engine == "espeak" and voice.startswith("+") else voice
        named = quality.named_gender(engine, voice)
        if named and data.get("f0"):
            checked += 1
            assert ("male" if data["f0"] < quality.SPLIT_HZ else "female") == named, (name, data["f0"])
    assert checked >= 8


@pytest.mark.parametrize("variant", ["m1", "m3", "m7", "f1", "f4"])
def test_espeak_variant_pitch_matches_its_name(espeak, variant):
    take = espeak.synthesize("The last train was cancelled, so I walked home.", VoiceSpec(voice=f"en-us+{variant}"))
    f0, _, _ = f0_stats(take.audio, take.sample_rate)
    assert f0 is not None and (f0 < quality.SPLIT_HZ) == variant.startswith("m"), f0


def test_cast_gender_is_kept_and_said():
    cast = parse_cast('[characters.ANNA]\ngender = "F"\n[characters.MARCUS]\nvoice_type = "man"\n'
                      '[characters.NARRATOR]\ngender = "male"\n', "scene.cast.toml")
    performers = assign(_lines("ANNA", "MARCUS", "NARRATOR"), cast, "espeak")
    assert {c: _gender(p) for (c, _), p in performers.items()} == {"ANNA": "female", "MARCUS": "male", "NARRATOR": "male"}
    assert performers[("MARCUS", "en-us")].spec != performers[("NARRATOR", "en-us")].spec  # distinct
    assert "female from the cast" in performers[("ANNA", "en-us")].label()


def test_a_bad_gender_names_the_entry():
    with pytest.raises(InputError) as info:
        parse_cast('[characters.ANNA]\ngender = "child"\n', "c.toml")
    assert "[characters.ANNA]" in str(info.value) and "female or male" in str(info.value)


def test_clip_metadata_gender_is_evidence():
    clip = otio.schema.Clip("dia_01", metadata={"otio_dub": {"voice_type": "female"}})
    line = Line("001-BOB", 0, 40, "BOB", "en-us", "Hello there.", extra={"clip": clip})
    found = evidence("BOB", None, [line])
    assert found.gender == "female" and "dia_01" in found.describe()
    performer = assign([line], {}, "espeak")[("BOB", "en-us")]
    assert _gender(performer) == "female"


def test_without_evidence_voices_differ_in_pitch_and_it_says_so():
    performers = assign(_lines("A", "B"), {}, "espeak")
    a, b = performers[("A", "en-us")], performers[("B", "en-us")]
    assert "no gender evidence" in a.label() and "no gender evidence" in b.label()
    assert _gender(a) != _gender(b)  # kept apart by their measured pitch


def test_best_voices_never_cross_gender():
    cast = parse_cast('[characters.ANNA]\ngender = "female"\n[characters.MARCUS]\ngender = "male"\n'
                      '[characters.NARRATOR]\ngender = "male"\n', "c.toml")
    performers = assign(_lines("ANNA", "MARCUS", "NARRATOR"), cast, "espeak", prefer_neural=True)
    genders = {c: _gender(p) for (c, _), p in performers.items()}
    assert genders == {"ANNA": "female", "MARCUS": "male", "NARRATOR": "male"}
    assert len({(p.engine, p.spec.voice) for p in performers.values()}) == 3
    for p in performers.values():
        assert p.why and ("neural" in p.why or "espeak" in p.why) and "WER" in p.why


def test_a_forced_engine_without_the_gender_crosses_it_out_loud(caplog):
    pytest.importorskip("piper")
    cast = parse_cast('[characters.ANNA]\nengine = "piper"\ngender = "female"\n', "c.toml")
    performer = assign(_lines("ANNA"), cast, "espeak")[("ANNA", "en-us")]
    assert performer.engine == "piper" and "CROSSES GENDER" in performer.why
    assert any("CROSSES GENDER" in r.getMessage() for r in caplog.records)


def test_the_default_engine_is_the_best_installed_voice(monkeypatch):
    """No engine named: ``best`` (each language's best installed voice, neural first); a studio's
    $OTIO_DUB_ENGINE sets its house engine instead, and an engine given wins over both."""
    from otio_dub.stages.options import default_engine

    monkeypatch.delenv("OTIO_DUB_ENGINE")
    assert default_engine() == "best" and DubOptions().best and DubOptions().voice_engine == "espeak"
    monkeypatch.setenv("OTIO_DUB_ENGINE", "piper")
    assert DubOptions().engine == "piper" and not DubOptions().best
    assert DubOptions(engine="espeak").engine == "espeak" and DubOptions(engine="best").best


def test_an_unknown_house_engine_is_refused_naming_the_variable(tools, tmp_path, monkeypatch):
    """A typo in $OTIO_DUB_ENGINE: one line naming the variable (not the cast entry that fell back to
    it), exit 1, nothing written; an engine given on the command line never reads it."""
    from click.testing import CliRunner

    from otio_dub.cli import main

    monkeypatch.setenv("OTIO_DUB_ENGINE", "pipper")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["dub", str(tools.SCENE_OTIO), "--script", str(tools.SCENE_ASS), "-o", str(out)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "Error: $OTIO_DUB_ENGINE: unknown engine 'pipper'; known engines: best, espeak"), result.output
    assert not out.exists()
    assert DubOptions(engine="espeak").engine == "espeak"


def test_the_default_dub_speaks_with_the_best_voice_and_says_why(tools, tmp_path, monkeypatch):
    """The README's demo command with nothing forced: every character gets the best installed voice of
    its language and gender (kokoro or piper where installed), and the run prints why."""
    from click.testing import CliRunner

    from otio_dub.cli import main

    monkeypatch.delenv("OTIO_DUB_ENGINE")
    plan = plan_dub(tools.SCENE_OTIO, tools.SCENE_ASS, tmp_path / "out", DubOptions())
    neural = {name for name in ("kokoro", "piper") if importlib.util.find_spec(
        {"kokoro": "kokoro_onnx", "piper": "piper"}[name]) is not None}
    best = {(c, p.engine, p.spec.voice) for (c, _), p in plan.performers.items()}
    assert {engine for _, engine, _ in best} <= (neural or {"espeak"}) and len(best) == 3, best
    assert all("WER" in p.why for p in plan.performers.values()), plan.performers
    result = CliRunner().invoke(main, ["dub", str(tools.SCENE_OTIO), "--script", str(tools.SCENE_ASS), "-o",
                                       str(tmp_path / "dub"), "--stems", "none", "--no-review"])
    assert result.exit_code == 0, result.output
    said = next(line for line in result.output.splitlines() if line.startswith("Voices: "))
    for character, engine, voice in best:  # "ANNA (en) = kokoro jf_alpha (neural, en WER 2%; female from the cast)"
        assert re.search(rf"{character} \(\S+\) = {engine} {re.escape(str(voice))} \([^)]*WER \d+%", said), said
    report = json.loads((tmp_path / "dub" / "report.json").read_text(encoding="utf-8"))
    assert {row["engine"] for row in report["lines"]} == {engine for _, engine, _ in best}


def test_the_demo_cast_beside_the_timeline_gives_the_right_genders(tools, tmp_path):
    """samples/scene.cast.toml is picked up by name: ANNA female, MARCUS and the NARRATOR male."""
    for options in (DubOptions(), DubOptions(best_voices=True)):
        plan = plan_dub(tools.SCENE_OTIO, tools.SCENE_ASS, tmp_path / "out", options)
        genders = {c: _gender(p) for (c, _), p in plan.performers.items()}
        assert genders == {"ANNA": "female", "MARCUS": "male", "NARRATOR": "male"}, plan.performers
        assert plan.options.cast == tools.SCENE_OTIO.with_name("scene.cast.toml")
    plan = plan_dub(tools.SCENE_OTIO, tools.SCENE_ASS, tmp_path / "out",
                    DubOptions(cast=tools.ROOT / "samples" / "cast.toml"))  # --cast wins over the sidecar
    assert plan.options.cast.name == "cast.toml" and plan.performers[("ANNA", "en-us")].spec.voice == "en-us+f4"


def _actor_timeline(folder) -> otio.schema.Timeline:
    """Two characters, each clip over a WAV of a synthetic actor: ANNA high espeak f4, MARCUS low m1."""
    timeline = otio.schema.Timeline("actors", global_start_time=otio.opentime.RationalTime(0, 24))
    track = otio.schema.Track("DIA", kind=otio.schema.TrackKind.Audio)
    texts = {"ANNA": ["I never thought I would see this place again.", "Tell me the truth, all of it."],
             "MARCUS": ["The train was late, and the road was closed.", "We should leave before the storm."]}
    voices = {"ANNA": "en-us+f4", "MARCUS": "en-us+m1"}
    n = 0
    for character in ("ANNA", "MARCUS", "ANNA", "MARCUS"):
        text = texts[character][n // 2]
        n += 1
        take = get_engine("espeak").synthesize(text, VoiceSpec(voice=voices[character], lang="en-us"))
        audio = np.concatenate([np.zeros(4800, np.float32), dsp.resample(take.audio, take.sample_rate),
                                np.zeros(4800, np.float32)])
        frames = int(np.ceil(audio.size / 48000 * 24))
        sf.write(folder / f"dia_{n}.wav", audio, 48000, subtype="PCM_16")
        span = otio.opentime.TimeRange(otio.opentime.RationalTime(0, 24), otio.opentime.RationalTime(frames, 24))
        track.append(otio.schema.Clip(f"dia_{n}", otio.schema.ExternalReference(f"dia_{n}.wav", available_range=span),
                                      span, metadata={"otio_dub": {"text": text, "character": character}}))
    timeline.tracks.append(track)
    otio.adapters.write_to_file(timeline, str(folder / "cut.otio"))
    return timeline


@pytest.mark.slow
def test_dub_casts_from_readable_originals(tmp_path, monkeypatch):
    """`dub` itself hears the originals (no `cast --match` step) and keeps each actor's gender."""
    pytest.importorskip("resemblyzer")
    import otio_dub

    monkeypatch.setenv("OTIO_DUB_VOICES", str(tmp_path / "voices"))  # reference measures cached here
    _actor_timeline(tmp_path)
    result = otio_dub.dub(tmp_path / "cut.otio", out_dir=tmp_path / "out",
                          options=DubOptions(engine="espeak", lang="en-us", review=False))
    assert "(matched)" in result.voices["ANNA (en-us)"] and "(matched)" in result.voices["MARCUS (en-us)"]
    assert "+f" in result.voices["ANNA (en-us)"] and "+m" in result.voices["MARCUS (en-us)"], result.voices
    shutil.rmtree(tmp_path / "out")
