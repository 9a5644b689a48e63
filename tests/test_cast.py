"""The cast file: parsing, errors naming file and character, engine checks in voices.assign, and the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from otio_dub.casting.cast import CastEntry, load_cast, parse_cast, starter_cast
from otio_dub.casting.voices import assign, resolve_languages
from otio_dub.cli import main
from otio_dub.core.errors import EngineError, InputError
from otio_dub.dialogue.lines import Line
from otio_dub.dialogue.prosody import EMOTIONS

ROOT = Path(__file__).resolve().parents[1]
SCENE_OTIO = ROOT / "samples" / "scene.otio"
SCENE_ASS = ROOT / "samples" / "scene.ass"
SAMPLE_CAST = ROOT / "samples" / "cast.toml"

FULL = """
[characters.ANNA]
engine = "piper"
voice = "joe"
lang = "en-us"
rate = 1.1
pitch = -2
gain = -3.5
emotion = "Happy"
speaker = 0

[characters.MARCUS]
engine = "espeak"
voice = "en+m1"
"""


def invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


# ---------------------------------------------------------------------------------------------
# parse_cast
# ---------------------------------------------------------------------------------------------


def test_parse_cast_all_fields():
    cast = parse_cast(FULL, "my.toml")
    assert set(cast) == {"ANNA", "MARCUS"}
    anna = cast["ANNA"]
    assert anna == CastEntry("ANNA", engine="piper", voice="joe", lang="en-us", rate=1.1, pitch=-2.0, gain=-3.5,
                             emotion="Happy", speaker=0)
    assert isinstance(anna.pitch, float) and isinstance(anna.rate, float) and isinstance(anna.gain, float)
    assert isinstance(anna.speaker, int)
    marcus = cast["MARCUS"]
    assert marcus == CastEntry("MARCUS", engine="espeak", voice="en+m1")
    assert (marcus.lang, marcus.rate, marcus.pitch, marcus.gain, marcus.emotion, marcus.speaker) == (
        None, 1.0, 0.0, 0.0, None, None)


def test_parse_cast_integers_become_floats():
    cast = parse_cast("[characters.A]\nrate = 1\npitch = 3\ngain = -6\n")
    entry = cast["A"]
    assert (entry.rate, entry.pitch, entry.gain) == (1.0, 3.0, -6.0)
    assert all(isinstance(v, float) for v in (entry.rate, entry.pitch, entry.gain))


def test_parse_cast_quoted_names():
    cast = parse_cast('[characters."DR. \\"DOC\\" BROWN"]\nvoice = "en+m1"\n\n[characters."ZOË"]\nrate = 0.9\n')
    assert set(cast) == {'DR. "DOC" BROWN', "ZOË"}
    assert cast["ZOË"].character == "ZOË"


def test_sample_cast_file_parses():
    cast = load_cast(SAMPLE_CAST)
    assert set(cast) == {"ANNA", "MARCUS", "NARRATOR"}
    assert cast["MARCUS"].engine == "piper" and cast["MARCUS"].voice == "joe"
    assert cast["ANNA"].engine == "espeak"
    assert cast["NARRATOR"].emotion == "calm"


NAMES = ["ANNA", "MARY ANN", 'DR. "DOC" BROWN', "ZOË", "Jürgen Groß", "小明", "O'BRIEN", "back\\slash", "A.B", "tab\there"]


def test_starter_cast_round_trips():
    entries = [
        CastEntry(name, engine="espeak", voice=f"en+m{n % 7 + 1}", lang="en-us", rate=0.95 + n / 100,
                  pitch=n - 4.5, gain=-1.25 * n, emotion=list(EMOTIONS)[n % len(EMOTIONS)],
                  speaker=n if n % 2 else None)
        for n, name in enumerate(NAMES)
    ]
    entries.append(CastEntry("PLAIN"))  # nothing set: still a valid entry
    text = starter_cast(entries)
    back = parse_cast(text, "starter.toml")
    assert list(back) == [e.character for e in entries]
    for entry in entries[:-1]:
        assert back[entry.character] == entry, entry.character
    plain = back["PLAIN"]
    assert plain.emotion == "neutral"  # written out so the user sees the setting
    assert (plain.engine, plain.voice, plain.lang, plain.rate, plain.pitch, plain.gain, plain.speaker) == (
        None, None, None, 1.0, 0.0, 0.0, None)


def test_starter_cast_lists_the_emotions():
    text = starter_cast([CastEntry("ANNA", "espeak", "en+m3", "en")])
    for emotion in EMOTIONS:
        assert emotion in text
    assert text.endswith("\n")


# ---------------------------------------------------------------------------------------------
# parse_cast errors: InputError naming the file (and [characters.NAME] for an entry's problem)
# ---------------------------------------------------------------------------------------------


def _error(text: str, source: str = "voices/cast.toml") -> InputError:
    with pytest.raises(InputError) as info:
        parse_cast(text, source)
    message = str(info.value)
    assert message.startswith(source), message
    assert "\n" not in message
    assert info.value.path == source
    return info.value


def test_invalid_toml():
    error = _error("[characters.ANNA]\nrate = = 1\n")
    assert "TOML" in str(error)


def test_unclosed_table_is_invalid_toml():
    error = _error("[characters.ANNA\nrate = 1\n")
    assert "TOML" in str(error)


def test_unknown_section():
    error = _error('[charactors.ANNA]\nvoice = "en"\n')
    message = str(error)
    assert "charactors" in message
    assert "[characters.NAME]" in message


def test_unknown_top_level_key():
    error = _error('voice = "en"\n[characters.ANNA]\nrate = 1.0\n')
    assert "voice" in str(error)


@pytest.mark.parametrize("text", ["", "# only a comment\n", "[characters]\n"])
def test_no_characters(text):
    error = _error(text)
    assert "[characters.NAME]" in str(error)


def test_entry_must_be_a_table():
    error = _error('[characters]\nANNA = "en+m3"\n')
    assert error.where == "[characters.ANNA]"
    assert "[characters.ANNA]" in str(error)


def test_unknown_setting_suggests_a_close_match():
    error = _error("[characters.ANNA]\npich = 2\n")
    message = str(error)
    assert "[characters.ANNA]" in message
    assert "'pich'" in message
    assert "'pitch'" in message


def test_unknown_setting_without_a_close_match_lists_settings():
    error = _error("[characters.ANNA]\nbanana = 2\n")
    message = str(error)
    assert "banana" in message
    for key in ("engine", "voice", "lang", "rate", "pitch", "gain", "emotion", "speaker"):
        assert key in message


@pytest.mark.parametrize("setting", [
    'rate = "fast"', "speaker = 1.5", "rate = true", "speaker = true", "pitch = false", 'speaker = "0"',
    "engine = 1", "voice = 3", 'gain = "loud"', "emotion = 2", "lang = [\"en\"]", "rate = [1.0]",
])
def test_wrong_type(setting):
    error = _error(f"[characters.MARCUS]\n{setting}\n")
    message = str(error)
    assert "[characters.MARCUS]" in message
    assert setting.split(" = ")[0] in message
    assert "type" in message


@pytest.mark.parametrize("rate", ["0.1", "0.29", "3.5", "-1", "0", "nan", "inf"])
def test_rate_out_of_range(rate):
    error = _error(f"[characters.ANNA]\nrate = {rate}\n")
    assert "[characters.ANNA]" in str(error)
    assert "rate" in str(error)


@pytest.mark.parametrize("rate", ["0.3", "3.0", "3"])
def test_rate_bounds_are_inclusive(rate):
    assert parse_cast(f"[characters.ANNA]\nrate = {rate}\n")["ANNA"].rate == float(rate)


@pytest.mark.parametrize("pitch", ["12.5", "-13", "24", "nan"])
def test_pitch_out_of_range(pitch):
    error = _error(f"[characters.ANNA]\npitch = {pitch}\n")
    assert "[characters.ANNA]" in str(error)
    assert "pitch" in str(error)


@pytest.mark.parametrize("pitch", ["-12", "12", "0.5"])
def test_pitch_bounds_are_inclusive(pitch):
    assert parse_cast(f"[characters.ANNA]\npitch = {pitch}\n")["ANNA"].pitch == float(pitch)


@pytest.mark.parametrize("gain", ["nan", "inf", "-inf"])
def test_gain_must_be_finite(gain):
    # a non-finite gain would turn the character's media into NaN/inf samples
    error = _error(f"[characters.ANNA]\ngain = {gain}\n")
    assert "[characters.ANNA]" in str(error)
    assert "gain" in str(error)


def test_unknown_emotion_lists_known():
    error = _error('[characters.ANNA]\nemotion = "grumpy"\n')
    message = str(error)
    assert "[characters.ANNA]" in message
    assert "grumpy" in message
    for emotion in EMOTIONS:
        assert emotion in message


def test_emotion_is_case_insensitive():
    assert parse_cast('[characters.ANNA]\nemotion = "SAD"\n')["ANNA"].emotion.lower() == "sad"


def test_error_names_the_second_character():
    error = _error('[characters.ANNA]\nrate = 1.0\n\n[characters."MARY ANN"]\nrate = 9\n')
    assert "[characters.MARY ANN]" in str(error)
    assert "ANNA]" not in str(error).replace("MARY ANN]", "")


def test_load_cast_missing_file(tmp_path):
    path = tmp_path / "nowhere" / "cast.toml"
    with pytest.raises(InputError) as info:
        load_cast(path)
    assert str(path) in str(info.value)
    assert "not found" in str(info.value)


def test_load_cast_errors_name_the_file(tmp_path):
    path = tmp_path / "cast.toml"
    path.write_text("[characters.ANNA]\npich = 1\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_cast(path)
    assert str(info.value).startswith(str(path))
    assert "[characters.ANNA]" in str(info.value)


def test_load_cast_not_utf8(tmp_path):
    path = tmp_path / "cast.toml"
    path.write_bytes(b'[characters.ANNA]\nvoice = "\xff\xfe"\n')
    with pytest.raises(InputError) as info:
        load_cast(path)
    assert str(path) in str(info.value)


def test_load_cast_reads_a_file(tmp_path):
    path = tmp_path / "cast.toml"
    path.write_text(FULL, encoding="utf-8")
    assert load_cast(path) == parse_cast(FULL)
    assert load_cast(str(path)) == parse_cast(FULL)


# ---------------------------------------------------------------------------------------------
# voices.assign: the cast checked against its engine
# ---------------------------------------------------------------------------------------------


def _lines(*characters: str, lang: str | None = "en") -> list[Line]:
    return [Line(f"{n:03d}-{c}", n * 10, n * 10 + 5, c, lang, "Hello there.", origin=f"scene.ass event {n}")
            for n, c in enumerate(characters, 1)]


def test_unknown_engine_lists_known_engines():
    with pytest.raises(EngineError) as info:
        assign(_lines("ANNA"), {"ANNA": CastEntry("ANNA", engine="festival")}, "espeak")
    message = str(info.value)
    assert "festival" in message
    assert "espeak" in message and "piper" in message


def test_unknown_default_engine_lists_known_engines():
    with pytest.raises(EngineError) as info:
        assign(_lines("ANNA"), {}, "festival")
    assert "festival" in str(info.value)
    assert "espeak" in str(info.value) and "piper" in str(info.value)


def test_unknown_espeak_language_in_the_cast():
    cast = {"ANNA": CastEntry("ANNA", engine="espeak", lang="xx")}
    lines = resolve_languages(_lines("ANNA", "BOB", lang=None), cast, "en")
    assert [ln.lang for ln in lines] == ["xx", "en"]
    with pytest.raises(EngineError) as info:
        assign(lines, cast, "espeak")
    message = str(info.value)
    assert "ANNA" in message
    assert "'xx'" in message
    assert "did you mean" in message


def test_unknown_espeak_voice_in_the_cast():
    with pytest.raises(EngineError) as info:
        assign(_lines("ANNA"), {"ANNA": CastEntry("ANNA", engine="espeak", voice="enn-us+m3")}, "espeak")
    message = str(info.value)
    assert "ANNA" in message
    assert "enn-us" in message
    assert "en-us" in message  # suggested


def test_unknown_espeak_language_of_an_automatic_voice():
    with pytest.raises(EngineError) as info:
        assign(_lines("ANNA", lang="xx"), {}, "espeak")
    message = str(info.value)
    assert "ANNA" in message
    assert "'xx'" in message
    assert "scene.ass event 1" in message


def test_unknown_espeak_variant_lists_variants(espeak):
    with pytest.raises(EngineError) as info:
        assign(_lines("ANNA"), {"ANNA": CastEntry("ANNA", engine="espeak", voice="en+zz9")}, "espeak")
    message = str(info.value)
    assert "ANNA" in message
    assert "zz9" in message
    listed = message.split("include:", 1)[1]
    variants = set(espeak.variants())
    named = [v.strip() for v in listed.split(",")]
    assert len(named) >= 3
    assert all(v in variants for v in named), named


def test_piper_speaker_out_of_range():
    cast = {"MARCUS": CastEntry("MARCUS", engine="piper", voice="joe", lang="en-us", speaker=4)}
    with pytest.raises(EngineError) as info:
        assign(_lines("MARCUS"), cast, "espeak")
    message = str(info.value)
    assert "MARCUS" in message
    assert "speaker" in message and "4" in message


def test_piper_unknown_voice_in_the_cast():
    cast = {"MARCUS": CastEntry("MARCUS", engine="piper", voice="jo")}
    with pytest.raises(EngineError) as info:
        assign(_lines("MARCUS"), cast, "espeak")
    assert "MARCUS" in str(info.value)
    assert "joe" in str(info.value)


def test_valid_cast_assigns_its_engines():
    cast = {"MARCUS": CastEntry("MARCUS", engine="piper", voice="joe", lang="en-us", pitch=-1.0, gain=2.0),
            "ANNA": CastEntry("ANNA", engine="espeak", voice="en-us+f4", rate=1.1)}
    lines = resolve_languages(_lines("ANNA", "MARCUS", "NARRATOR", lang=None), cast, "en")
    performers = assign(lines, cast, "espeak")
    assert set(performers) == {("ANNA", "en"), ("MARCUS", "en-us"), ("NARRATOR", "en")}
    marcus = performers[("MARCUS", "en-us")]
    assert (marcus.engine, marcus.spec.voice, marcus.semitones, marcus.gain_db, marcus.from_cast) == (
        "piper", "joe", -1.0, 2.0, True)
    anna = performers[("ANNA", "en")]
    assert (anna.engine, anna.spec.voice, anna.rate, anna.from_cast) == ("espeak", "en-us+f4", 1.1, True)
    narrator = performers[("NARRATOR", "en")]
    assert narrator.engine == "espeak" and not narrator.from_cast
    assert "(auto" in narrator.label()  # "(auto: why)" since issue 27
    assert marcus.label() == "piper joe -1 st +2 dB"


# ---------------------------------------------------------------------------------------------
# the CLI
# ---------------------------------------------------------------------------------------------


def test_cli_cast_prints_a_valid_starter():
    result = invoke("cast", SCENE_OTIO, "--script", SCENE_ASS)
    assert result.exit_code == 0, result.output
    cast = parse_cast(result.stdout, "stdout")
    assert set(cast) == {"ANNA", "MARCUS", "NARRATOR"}
    voices = [cast[c].voice for c in ("ANNA", "MARCUS", "NARRATOR")]
    assert len(set(voices)) == 3  # distinct voices
    for entry in cast.values():
        assert entry.engine in ("espeak", "kokoro", "piper")  # the best installed voice of the language
        assert entry.lang == "en"


def test_cli_cast_with_piper():
    result = invoke("cast", SCENE_OTIO, "--script", SCENE_ASS, "--engine", "piper", "--lang", "en-us")
    assert result.exit_code == 0, result.output
    cast = parse_cast(result.stdout, "stdout")
    assert {e.engine for e in cast.values()} == {"piper"}
    assert {e.voice for e in cast.values()} == {"joe"}


BAD_CASTS = {
    "invalid.toml": "[characters.ANNA\nvoice = 1\n",
    "unknown_setting.toml": "[characters.ANNA]\npich = 2\n",
    "wrong_type.toml": '[characters.MARCUS]\nrate = "fast"\n',
    "emotion.toml": '[characters.ANNA]\nemotion = "grumpy"\n',
    "no_characters.toml": "# empty\n",
}


@pytest.mark.parametrize("name", sorted(BAD_CASTS))
def test_cli_dub_bad_cast_is_one_error_line(tmp_path, name):
    bad = tmp_path / name
    bad.write_text(BAD_CASTS[name], encoding="utf-8")
    out = tmp_path / "out"
    result = invoke("dub", SCENE_OTIO, "--script", SCENE_ASS, "--cast", bad, "-o", out, "-q")
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    assert str(bad) in errors[0]
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not list(tmp_path.rglob("*.dub.otio"))
    assert not list(tmp_path.rglob("*.wav"))


def test_cli_dub_bad_engine_in_cast_is_one_error_line(tmp_path):
    bad = tmp_path / "cast.toml"
    bad.write_text('[characters.ANNA]\nengine = "festival"\n', encoding="utf-8")
    result = invoke("dub", SCENE_OTIO, "--script", SCENE_ASS, "--cast", bad, "-o", tmp_path / "out", "-q")
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    assert "festival" in errors[0] and "espeak" in errors[0] and "piper" in errors[0]
    assert f"{bad}: [characters.ANNA]" in errors[0]  # the cast file and the entry, not only the character
    assert not list(tmp_path.rglob("*.dub.otio"))


@pytest.mark.parametrize("entry, named", [
    ('engine = "festival"', "festival"),
    ('engine = "espeak"\nvoice = "enn-us+m3"', "enn-us"),
    ('engine = "espeak"\nvoice = "en+zz9"', "zz9"),
    ('engine = "piper"\nvoice = "jo"', "jo"),
    ('engine = "espeak"\nlang = "xx"', "'xx'"),
])
def test_engine_errors_name_the_cast_file_and_entry(tmp_path, entry, named):
    cast_file = tmp_path / "cast.toml"
    cast_file.write_text(f"[characters.ANNA]\n{entry}\n", encoding="utf-8")
    cast = load_cast(cast_file)
    lines = resolve_languages(_lines("ANNA", lang=None), cast, "en")
    with pytest.raises(EngineError) as info:
        assign(lines, cast, "espeak")
    message = str(info.value)
    assert message.startswith(f"{cast_file}: [characters.ANNA]: ")
    assert named in message and "\n" not in message


def test_engine_errors_of_uncast_characters_name_their_line():
    with pytest.raises(EngineError) as info:
        assign(_lines("ANNA"), {}, "festival")
    message = str(info.value)
    assert message.startswith("scene.ass event 1: 'ANNA' (en): ") and "festival" in message


def test_cli_dub_missing_cast_file(tmp_path):
    result = invoke("dub", SCENE_OTIO, "--script", SCENE_ASS, "--cast", tmp_path / "nope.toml", "-o", tmp_path / "out")
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert "nope.toml" in result.output
    assert not (tmp_path / "out").exists()


def test_cli_dub_with_the_sample_cast(tmp_path):
    out = tmp_path / "out"
    result = invoke("dub", SCENE_OTIO, "--script", SCENE_ASS, "--cast", SAMPLE_CAST, "-o", out, "-q")
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    rows = report["lines"]
    assert len(rows) == 10
    assert {r["character"] for r in rows} == {"ANNA", "MARCUS", "NARRATOR"}
    for row in rows:
        expected = "piper" if row["character"] == "MARCUS" else "espeak"
        assert row["engine"] == expected, row["id"]
        assert row["lang"] == "en-us", row["id"]
    assert {r["voice"] for r in rows if r["character"] == "ANNA"} == {"en-us+f4"}
    assert {r["voice"] for r in rows if r["character"] == "NARRATOR"} == {"en-us+m1"}
    assert {r["voice"] for r in rows if r["character"] == "MARCUS"} == {"joe"}
    # NARRATOR's cast emotion, unless the line names its own
    assert {r["emotion"] for r in rows if r["character"] == "NARRATOR"} == {"calm"}
    assert set(report["engines"]) == {"espeak", "piper"}
    assert (out / "scene.dub.otio").is_file()
    for row in rows:
        assert (out / row["media"]).is_file()
        assert math.isfinite(row["speech_s"]) and row["speech_s"] > 0


def test_cli_engines_lists_espeak_and_piper_ready():
    result = invoke("engines")
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.output.splitlines()[1:] if line.strip()}
    assert "espeak" in rows and "piper" in rows
    assert "ready" in rows["espeak"]
    assert "ready" in rows["piper"]
    assert "22050 Hz" in rows["piper"]


def test_cli_voices_lang_de():
    result = invoke("voices", "--lang", "de")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[0] == "VOICE"
    assert any(line.split()[0] == "de" for line in lines[1:])
    for line in lines[1:]:
        assert "de" in line


def test_cli_voices_piper_lists_joe():
    result = invoke("voices", "piper")
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines()[1:]]
    assert ["joe", "joe", "en-us", "-"] in rows


def test_cli_voices_unknown_engine():
    result = invoke("voices", "nope")
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert "nope" in result.output
    assert "espeak" in result.output and "piper" in result.output


def test_cli_voices_no_voice_for_language():
    result = invoke("voices", "piper", "--lang", "de")
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert "de" in result.output
