"""The ``otio_dub_subtitles`` OTIO adapter: subtitle files <-> dialogue timelines."""

from __future__ import annotations

from pathlib import Path

import opentimelineio as otio
import pytest

from otio_dub.dialogue.lines import find_lines
from otio_dub.dialogue.script import read_script

ADAPTER = "otio_dub_subtitles"

ASS = """[Script Info]
ScriptType: v4.00+

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,2,2,10,10,10,1
Style: Whisper,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,2,2,10,10,10,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:01.00,0:00:02.50,Default,ANNA,0,0,0,,{\\i1}Hello{\\i0}\\Nthere
Dialogue: 0,0:00:03.00,0:00:04.00,Whisper,BOB,0,0,0,,Quiet now
Comment: 0,0:00:04.00,0:00:05.00,Default,BOB,0,0,0,,not spoken
Dialogue: 0,0:00:05.00,0:00:06.00,Default,BOB,0,0,0,,[angry] Stop it
"""

SRT = """1
00:00:01,000 --> 00:00:03,000
ANNA: Hello there

2
00:00:02,000 --> 00:00:04,000
BOB: Overlapping

3
00:00:02,500 --> 00:00:03,500
CARL: Third voice

4
00:00:05,000 --> 00:00:06,000
ANNA: <i>Later</i>
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def layout(track: otio.schema.Track) -> list[tuple]:
    """(kind, start frame in the track, duration, text, character) for every item of a track."""
    rows = []
    for item in track:
        rng = track.range_of_child(item)
        meta = item.metadata.get("otio_dub", {})
        rows.append((type(item).__name__, rng.start_time.value, rng.duration.value, meta.get("text"), meta.get("character")))
    return rows


def test_read_ass(tmp_path):
    path = write(tmp_path, "scene.ass", ASS)
    tl = otio.adapters.read_from_file(str(path), adapter_name=ADAPTER)
    assert isinstance(tl, otio.schema.Timeline)
    assert tl.name == "scene"
    assert tl.global_start_time == otio.opentime.RationalTime(0, 24)
    assert [t.name for t in tl.tracks] == ["DIALOGUE"]
    (track,) = tl.tracks
    assert track.kind == otio.schema.TrackKind.Audio
    assert layout(track) == [
        ("Gap", 0, 24, None, None),
        ("Clip", 24, 36, "Hello there", "ANNA"),
        ("Gap", 60, 12, None, None),
        ("Clip", 72, 24, "Quiet now", "BOB"),
        ("Gap", 96, 24, None, None),
        ("Clip", 120, 24, "Stop it", "BOB"),
    ]
    clips = list(track.find_clips())
    assert clips[1].metadata["otio_dub"]["emotion"] == "whisper"
    assert clips[1].metadata["otio_dub"]["style"] == "Whisper"
    assert clips[2].metadata["otio_dub"]["emotion"] == "angry"
    assert clips[0].metadata["otio_dub"]["event"] == 1
    assert clips[2].metadata["otio_dub"]["event"] == 4
    assert "emotion" not in clips[0].metadata["otio_dub"]  # None values are left out
    assert [c.name for c in clips] == ["0001 ANNA", "0002 BOB", "0004 BOB"]


def test_read_srt_overlaps_go_to_new_tracks(tmp_path):
    path = write(tmp_path, "ov.srt", SRT)
    tl = otio.adapters.read_from_file(str(path), adapter_name=ADAPTER)
    assert [t.name for t in tl.tracks] == ["DIALOGUE", "DIALOGUE 2", "DIALOGUE 3"]
    assert all(t.kind == otio.schema.TrackKind.Audio for t in tl.tracks)
    d1, d2, d3 = tl.tracks
    assert layout(d1) == [
        ("Gap", 0, 24, None, None),
        ("Clip", 24, 48, "Hello there", "ANNA"),
        ("Gap", 72, 48, None, None),
        ("Clip", 120, 24, "Later", "ANNA"),
    ]
    assert layout(d2) == [("Gap", 0, 48, None, None), ("Clip", 48, 48, "Overlapping", "BOB")]
    assert layout(d3) == [("Gap", 0, 60, None, None), ("Clip", 60, 24, "Third voice", "CARL")]


def test_read_srt_reuses_first_free_track(tmp_path):
    path = write(tmp_path, "reuse.srt", (
        "1\n00:00:01,000 --> 00:00:03,000\nA: one\n\n"
        "2\n00:00:02,000 --> 00:00:04,000\nB: two\n\n"
        "3\n00:00:03,000 --> 00:00:05,000\nC: three\n\n"  # DIALOGUE is free again from 3 s
    ))
    tl = otio.adapters.read_from_file(str(path), adapter_name=ADAPTER)
    assert [t.name for t in tl.tracks] == ["DIALOGUE", "DIALOGUE 2"]
    assert [c.metadata["otio_dub"]["text"] for c in tl.tracks[0].find_clips()] == ["one", "three"]


def test_lines_of_a_read_timeline(tmp_path):
    path = write(tmp_path, "ov.srt", SRT)
    tl = otio.adapters.read_from_file(str(path), adapter_name=ADAPTER)
    lines = find_lines(tl)
    assert [(ln.id, ln.record_in, ln.record_out, ln.text) for ln in lines] == [
        ("001-ANNA", 24, 72, "Hello there"),
        ("002-BOB", 48, 96, "Overlapping"),
        ("003-CARL", 60, 84, "Third voice"),
        ("004-ANNA", 120, 144, "Later"),
    ]


def test_rate_and_start_timecode(tmp_path):
    path = write(tmp_path, "ov.srt", SRT)
    tl = otio.adapters.read_from_file(str(path), adapter_name=ADAPTER, rate=25, start_timecode="10:00:00:00")
    assert tl.global_start_time == otio.opentime.RationalTime(900000, 25)
    d1 = tl.tracks[0]
    assert layout(d1) == [
        ("Gap", 0, 25, None, None),
        ("Clip", 25, 50, "Hello there", "ANNA"),
        ("Gap", 75, 50, None, None),
        ("Clip", 125, 25, "Later", "ANNA"),
    ]
    # the clips' source ranges carry the record timecode
    first = d1.find_clips()[0]
    assert first.source_range.start_time == otio.opentime.RationalTime(900025, 25)
    assert [(ln.record_in, ln.record_out) for ln in find_lines(tl)][0] == (25, 75)


def test_rate_2997_drop_frame_start(tmp_path):
    path = write(tmp_path, "ntsc.srt", "1\n00:00:01,001 --> 00:00:02,002\nANNA: Hi\n\n")
    tl = otio.adapters.read_from_file(str(path), adapter_name=ADAPTER, rate=29.97, start_timecode="01:00:00;00")
    assert tl.global_start_time.value == 107892
    assert tl.global_start_time.rate == pytest.approx(30000 / 1001)
    (line,) = find_lines(tl)
    assert (line.record_in, line.record_out) == (30, 60)


def test_bad_start_timecode(tmp_path):
    path = write(tmp_path, "ov.srt", SRT)
    with pytest.raises(ValueError):
        otio.adapters.read_from_file(str(path), adapter_name=ADAPTER, rate=25, start_timecode="10:00:00:25")


def test_read_by_suffix(tmp_path):
    path = write(tmp_path, "bysuffix.srt", SRT)
    tl = otio.adapters.read_from_file(str(path))
    assert [t.name for t in tl.tracks][0] == "DIALOGUE"
    assert [c.metadata["otio_dub"]["text"] for c in tl.tracks[0].find_clips()] == ["Hello there", "Later"]


@pytest.mark.parametrize("suffix", ["srt", "ass", "ssa", "vtt"])
def test_adapter_registered_for_suffix(suffix):
    assert otio.adapters.from_filepath(f"x.{suffix}").name == ADAPTER


def test_adapter_and_script_place_events_on_the_same_frames(tmp_path):
    # 1060 ms at 25 fps is frame 26.5: the adapter and --script placement must agree (half rounds up)
    path = write(tmp_path, "half.srt", "1\n00:00:01,060 --> 00:00:02,020\nANNA: Hi\n\n")
    tl = otio.adapters.read_from_file(str(path), adapter_name=ADAPTER, rate=25)
    (from_adapter,) = find_lines(tl)
    blank = otio.schema.Timeline("t", global_start_time=otio.opentime.RationalTime(0, 25))
    track = otio.schema.Track("A1", kind=otio.schema.TrackKind.Audio)
    track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=otio.opentime.RationalTime(100, 25))))
    blank.tracks.append(track)
    (from_script,) = find_lines(blank, read_script(path))
    assert (from_adapter.record_in, from_adapter.record_out) == (from_script.record_in, from_script.record_out) == (27, 51)


@pytest.mark.parametrize("suffix", ["srt", "ass", "vtt"])
def test_write_then_read_back(tmp_path, suffix):
    source = write(tmp_path, "ov.srt", SRT)
    tl = otio.adapters.read_from_file(str(source), adapter_name=ADAPTER)
    out = tmp_path / f"dub.{suffix}"
    otio.adapters.write_to_file(tl, str(out), adapter_name=ADAPTER)
    assert out.is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]  # no temp file left
    again = otio.adapters.read_from_file(str(out), adapter_name=ADAPTER)
    before = [(ln.record_in, ln.record_out, ln.text, ln.character) for ln in find_lines(tl)]
    after = [(ln.record_in, ln.record_out, ln.text, ln.character) for ln in find_lines(again)]
    assert after == before
    assert [ev.text for ev in read_script(out)] == ["Hello there", "Overlapping", "Third voice", "Later"]
    assert [ev.character for ev in read_script(out)] == ["ANNA", "BOB", "CARL", "ANNA"]


def test_write_srt_by_suffix_text(tmp_path):
    source = write(tmp_path, "scene.ass", ASS)
    tl = otio.adapters.read_from_file(str(source))
    out = tmp_path / "scene_dub.srt"
    otio.adapters.write_to_file(tl, str(out))
    text = out.read_text(encoding="utf-8")
    assert "00:00:01,000 --> 00:00:02,500\nANNA: Hello there" in text
    assert "BOB: Quiet now" in text
    assert "BOB: Stop it" in text


def test_write_is_relative_to_timeline_start(tmp_path):
    # times on the 25 fps grid (40 ms frames) survive the trip through frames exactly
    source = write(tmp_path, "grid.srt", (
        "1\n00:00:01,000 --> 00:00:03,000\nANNA: one\n\n"
        "2\n00:00:02,000 --> 00:00:04,040\nBOB: two\n\n"
        "3\n00:01:05,120 --> 00:01:06,000\nANNA: three\n\n"
    ))
    tl = otio.adapters.read_from_file(str(source), rate=25, start_timecode="10:00:00:00")
    out = tmp_path / "rel.srt"
    otio.adapters.write_to_file(tl, str(out))
    events = read_script(out)
    assert [(ev.start_ms, ev.end_ms) for ev in events] == [(1000, 3000), (2000, 4040), (65120, 66000)]
    assert [(ev.text, ev.character) for ev in events] == [("one", "ANNA"), ("two", "BOB"), ("three", "ANNA")]
