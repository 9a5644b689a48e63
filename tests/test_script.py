"""otio_dub.dialogue.script: reading SRT / ASS / VTT dialogue scripts into clean ScriptEvents."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from otio_dub.core.errors import InputError
from otio_dub.dialogue.script import ScriptEvent, clean_text, extract_emotion, read_script, split_speaker

ASS_HEADER = """[Script Info]
ScriptType: v4.00+
PlayResX: 384
PlayResY: 288

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,2,2,10,10,10,1
Style: Whisper,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,2,2,10,10,10,1
Style: Signs,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,2,2,10,10,10,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- SRT


def test_srt_speaker_prefix_markup_and_line_breaks(tmp_path):
    path = write(tmp_path, "a.srt", (
        "1\n00:00:01,000 --> 00:00:02,500\nANNA: <i>Hello</i>\nthere, <b>you</b>.\n\n"
        "2\n00:00:03,000 --> 00:00:04,000\nNo speaker here.\n\n"
    ))
    events = read_script(path)
    assert events == [
        ScriptEvent(1, 1000, 2500, "Hello there, you.", "ANNA", None, None),
        ScriptEvent(2, 3000, 4000, "No speaker here.", None, None, None),
    ]


@pytest.mark.parametrize(
    ("body", "text", "character", "emotion"),
    [
        ("ANNA: [angry] Get out!", "Get out!", "ANNA", "angry"),
        ("[whisper] ANNA: Quiet.", "Quiet.", "ANNA", "whisper"),
        ("ANNA: Get [SAD] out", "Get out", "ANNA", "sad"),
        ("[ calm ] Breathe.", "Breathe.", None, "calm"),
        ("[angry] [sad] Both", "Both", None, "angry"),  # the first known tag wins
        ("- BOB: hi", "hi", "BOB", None),
        ("Dr. Who: Run.", "Run.", "Dr. Who", None),
        ("Mary Ann Lee: Hello.", "Hello.", "Mary Ann Lee", None),
        ("This line is not a speaker: it is prose", "This line is not a speaker: it is prose", None, None),
    ],
)
def test_srt_text_cleaning_table(tmp_path, body, text, character, emotion):
    path = write(tmp_path, "t.srt", f"1\n00:00:01,000 --> 00:00:02,000\n{body}\n\n")
    (event,) = read_script(path)
    assert (event.text, event.character, event.emotion) == (text, character, emotion)


def test_unknown_tag_removed_and_warned(tmp_path, caplog):
    path = write(tmp_path, "w.srt", "1\n00:00:05,000 --> 00:00:06,000\nBOB: [foo] hi [angry]\n\n")
    with caplog.at_level(logging.WARNING, logger="otio_dub"):
        (event,) = read_script(path)
    assert event.text == "hi"
    assert event.character == "BOB"
    assert event.emotion == "angry"
    records = [r for r in caplog.records if r.name == "otio_dub" and r.levelno == logging.WARNING]
    assert len(records) == 1
    message = records[0].getMessage()
    assert "[foo]" in message
    assert "w.srt" in message
    assert "event 1" in message


def test_known_tag_does_not_warn(tmp_path, caplog):
    path = write(tmp_path, "k.srt", "1\n00:00:05,000 --> 00:00:06,000\n[happy] Yay\n\n")
    with caplog.at_level(logging.WARNING, logger="otio_dub"):
        (event,) = read_script(path)
    assert event.emotion == "happy"
    assert not [r for r in caplog.records if r.name == "otio_dub"]


def test_srt_with_bom_and_crlf(tmp_path):
    path = tmp_path / "bom.srt"
    path.write_bytes("\ufeff1\r\n00:00:01,000 --> 00:00:02,000\r\nANNA: Olá\r\n\r\n".encode())
    (event,) = read_script(path)
    assert (event.start_ms, event.end_ms, event.text, event.character) == (1000, 2000, "Olá", "ANNA")


def test_read_script_accepts_str_path(tmp_path):
    path = write(tmp_path, "s.srt", "1\n00:00:01,000 --> 00:00:02,000\nHi\n\n")
    assert read_script(str(path))[0].text == "Hi"


# --------------------------------------------------------------------------- ASS


def test_ass_name_field_override_tags_and_styles(tmp_path):
    path = write(tmp_path, "b.ass", ASS_HEADER + (
        "Dialogue: 0,0:00:01.00,0:00:02.50,Default,ANNA,0,0,0,,{\\i1}Hello{\\i0}\\Nthere\n"
        "Dialogue: 0,0:00:03.00,0:00:04.00,Whisper,BOB,0,0,0,,Quiet now\n"
        "Comment: 0,0:00:04.00,0:00:05.00,Default,BOB,0,0,0,,not spoken\n"
        "Dialogue: 0,0:00:05.00,0:00:06.00,Whisper,BOB,0,0,0,,[angry] Stop it\n"
        "Dialogue: 0,0:00:07.00,0:00:08.00,Default,,0,0,0,,CARL: {\\b1}Bold{\\b0} move\n"
        "Dialogue: 0,0:00:09.00,0:00:10.00,Signs,DANA,0,0,0,,Sign\\hhere\n"
    ))
    events = read_script(path)
    assert events == [
        ScriptEvent(1, 1000, 2500, "Hello there", "ANNA", None, "Default"),
        ScriptEvent(2, 3000, 4000, "Quiet now", "BOB", "whisper", "Whisper"),
        # event 3 is a comment: skipped, numbering keeps the file's event numbers
        ScriptEvent(4, 5000, 6000, "Stop it", "BOB", "angry", "Whisper"),  # inline tag beats the style
        ScriptEvent(5, 7000, 8000, "Bold move", "CARL", None, "Default"),
        ScriptEvent(6, 9000, 10000, "Sign here", "DANA", None, "Signs"),
    ]


def test_ass_name_field_beats_prefix(tmp_path):
    path = write(tmp_path, "p.ass", ASS_HEADER + "Dialogue: 0,0:00:01.00,0:00:02.00,Default,ANNA,0,0,0,,BOB: hi\n")
    (event,) = read_script(path)
    assert event.character == "ANNA"
    assert event.text == "hi"


def test_ass_without_dialogue_is_an_error(tmp_path):
    path = write(tmp_path, "empty.ass", ASS_HEADER + "Comment: 0,0:00:01.00,0:00:02.00,Default,,0,0,0,,note\n")
    with pytest.raises(InputError) as info:
        read_script(path)
    assert "empty.ass" in str(info.value)
    assert "no dialogue events" in str(info.value)


# --------------------------------------------------------------------------- VTT


def test_vtt_with_speaker_prefix(tmp_path):
    path = write(tmp_path, "c.vtt", (
        "WEBVTT\n\n"
        "00:00:01.000 --> 00:00:02.000\nCARL: Good <i>morning</i>.\n\n"
        "00:00:03.000 --> 00:00:04.500\n[excited] DANA: Hi there\nfriend\n\n"
    ))
    assert read_script(path) == [
        ScriptEvent(1, 1000, 2000, "Good morning.", "CARL", None, None),
        ScriptEvent(2, 3000, 4500, "Hi there friend", "DANA", "excited", None),
    ]


# --------------------------------------------------------------------------- errors


def test_missing_file(tmp_path):
    path = tmp_path / "nope.srt"
    with pytest.raises(InputError) as info:
        read_script(path)
    assert "nope.srt" in str(info.value)
    assert "not found" in str(info.value)
    assert info.value.path == str(path)


def test_directory_is_not_a_script(tmp_path):
    with pytest.raises(InputError):
        read_script(tmp_path)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.srt", ""),
        ("blank.srt", "\n\n\n"),
        ("prose.srt", "hello world\n"),
        ("header.vtt", "WEBVTT\n\n"),
    ],
)
def test_file_with_no_events(tmp_path, name, content):
    path = write(tmp_path, name, content)
    with pytest.raises(InputError) as info:
        read_script(path)
    assert name in str(info.value)


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (
            "1\n00:00:01,000 --> 00:00:02,000\nA\n\n"
            "2\n00:00:03,000 --> 00:00:0x,000\nB\n\n"
            "3\n00:00:05,000 --> 00:00:06,000\nC\n\n",
            6,
        ),
        (
            "1\n00:00:01,000 --> 00:00:02,000\nA\n\n"
            "2\n00:00:03,000 --> 00:00:04,000\nB\n\n"
            "3\n00:00:05,000 --> 00:00:0x,000\nC\n",
            10,
        ),
    ],
)
def test_malformed_timestamp_names_the_line(tmp_path, content, line):
    path = write(tmp_path, "bad.srt", content)
    with pytest.raises(InputError) as info:
        read_script(path)
    message = str(info.value)
    assert "bad.srt" in message
    assert f"line {line}" in message
    assert "0x,000" in message


def test_malformed_timestamp_on_first_cue_is_not_silently_dropped(tmp_path):
    # A broken first cue has no previous cue to fold into: it must still be an error, not a lost line.
    path = write(tmp_path, "first.srt", (
        "1\n00:00:0x,000 --> 00:00:02,000\nA\n\n"
        "2\n00:00:03,000 --> 00:00:04,000\nB\n\n"
    ))
    with pytest.raises(InputError) as info:
        read_script(path)
    assert "first.srt" in str(info.value)
    assert "line 2" in str(info.value)


def test_non_utf8(tmp_path):
    path = tmp_path / "latin1.srt"
    path.write_bytes("1\n00:00:01,000 --> 00:00:02,000\ncafé\n\n".encode("latin-1"))
    with pytest.raises(InputError) as info:
        read_script(path)
    assert "latin1.srt" in str(info.value)
    assert "UTF-8" in str(info.value)


def test_event_ending_before_start(tmp_path):
    path = write(tmp_path, "back.srt", "1\n00:00:03,000 --> 00:00:02,000\nback\n\n")
    with pytest.raises(InputError) as info:
        read_script(path)
    assert "back.srt" in str(info.value)
    assert "event 1" in str(info.value)


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ANNA: Hello", ("ANNA", "Hello")),
        ("- BOB: hi", ("BOB", "hi")),
        ("-BOB: hi", ("BOB", "hi")),
        ("  Anna-Marie: oui", ("Anna-Marie", "oui")),
        ("O'Brien: Aye", ("O'Brien", "Aye")),
        ("Éloïse: Salut", ("Éloïse", "Salut")),
        ("One two three: three words", ("One two three", "three words")),
        ("One two three four: four words is a sentence", (None, "One two three four: four words is a sentence")),
        ("This is a long sentence: with a colon", (None, "This is a long sentence: with a colon")),
        ("ANNA:no space", (None, "ANNA:no space")),
        ("ANNA: ", (None, "ANNA: ")),
        ("12: numbers first", (None, "12: numbers first")),
        ("Plain text", (None, "Plain text")),
        ("", (None, "")),
    ],
)
def test_split_speaker(text, expected):
    assert split_speaker(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<i>Hello</i>", "Hello"),
        ("<font color=\"red\">Red</font> text", "Red text"),
        ("one\\Ntwo\\nthree\\hfour", "one two three four"),
        ("  lots   of\n\tspace  ", "lots of space"),
        ("a < b and c > d", "a < b and c > d"),
    ],
)
def test_clean_text(text, expected):
    assert clean_text(text) == expected


def test_extract_emotion(caplog):
    with caplog.at_level(logging.WARNING, logger="otio_dub"):
        emotion, text = extract_emotion("[Angry] Go [laughs] now", "here")
    assert emotion == "angry"
    assert " ".join(text.split()) == "Go now"
    assert any("[laughs]" in r.getMessage() and "here" in r.getMessage() for r in caplog.records)


def test_vtt_voice_tag_names_the_character(tmp_path):
    path = tmp_path / "voices.vtt"
    path.write_text("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v Dana>Hi there\n", encoding="utf-8")
    (event,) = read_script(path)
    assert event.character == "Dana"
    assert event.text == "Hi there"
