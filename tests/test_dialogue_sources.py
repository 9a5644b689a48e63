"""Where dialogue comes from: clip metadata, ``CHARACTER: text`` markers on dialogue clips, script events
tied to the clip under them; which tracks are dialogue; and `otio-dub lines` naming each line's source."""

from __future__ import annotations

import logging

import opentimelineio as otio
import pytest
from click.testing import CliRunner

from otio_dub.cli import main
from otio_dub.dialogue.lines import find_dialogue_tracks, find_lines, is_dialogue_track_name
from otio_dub.dialogue.script import ScriptEvent

FPS = 25
START = 90000  # 01:00:00:00 at 25 fps


def rt(frames: int) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(frames, FPS)


def marker(text: str, at: int, length: int = 0, name: str = "m") -> otio.schema.Marker:
    """A marker at source frame ``at`` (``length`` 0: a point marker) whose comment is ``text``."""
    return otio.schema.Marker(name=name, marked_range=otio.opentime.TimeRange(rt(at), rt(length)), comment=text)


def clip(name: str, source_start: int, length: int, markers=(), meta: dict | None = None) -> otio.schema.Clip:
    item = otio.schema.Clip(name=name, source_range=otio.opentime.TimeRange(rt(source_start), rt(length)),
                            metadata={"otio_dub": meta} if meta else {})
    for m in markers:
        item.markers.append(m)
    return item


def gap(length: int) -> otio.schema.Gap:
    return otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=rt(length)))


def track(name: str, *items, kind: str = otio.schema.TrackKind.Audio, dub: bool = False) -> otio.schema.Track:
    result = otio.schema.Track(name, kind=kind, metadata={"otio_dub": {"role": "dub"}} if dub else {})
    for item in items:
        result.append(item)
    return result


def timeline(*tracks: otio.schema.Track) -> otio.schema.Timeline:
    result = otio.schema.Timeline("sources", global_start_time=rt(START))
    for t in tracks:
        result.tracks.append(t)
    return result


def event(number: int, start_frame: int, end_frame: int, text: str, character: str | None = "BOB") -> ScriptEvent:
    """A script event at frames from the timeline start (25 fps: 40 ms a frame)."""
    return ScriptEvent(number, start_frame * 40, end_frame * 40, text, character, None, None)


def spans(lines) -> list[tuple]:
    return [(ln.record_in, ln.record_out, ln.character, ln.text, ln.source) for ln in lines]


# ---------------------------------------------------------------------------------------------
# markers
# ---------------------------------------------------------------------------------------------


def test_marker_on_a_dialogue_clip_is_a_line_over_the_clip():
    # the clip sits at record frame 10 and uses source frames 500-547: the marker is in source time
    tl = timeline(track("DX", gap(10), clip("dx_1", 500, 48, [marker("ANNA: Hello there", 510)]), gap(40)))
    [line] = find_lines(tl)
    assert (line.record_in, line.record_out) == (10, 58)
    assert (line.character, line.text, line.source) == ("ANNA", "Hello there", "marker")
    assert (line.clip_name, line.track_name) == ("dx_1", "DX")
    assert "marker" in line.origin and "dx_1" in line.origin


def test_marker_spanning_frames_sets_the_window():
    tl = timeline(track("DX", gap(10), clip("dx_1", 500, 48, [marker("ANNA: Just this part.", 512, 20)]), gap(40)))
    [line] = find_lines(tl)
    assert (line.record_in, line.record_out) == (22, 42)
    assert line.source == "marker"


def test_two_point_markers_split_the_clip():
    tl = timeline(track("DX", gap(10), clip("dx_1", 500, 48, [marker("ANNA: First part.", 505),
                                                                marker("BOB: Second part.", 530)]), gap(40)))
    assert spans(find_lines(tl)) == [
        (10, 40, "ANNA", "First part.", "marker"),  # from the clip start to the next marker
        (40, 58, "BOB", "Second part.", "marker"),  # from its marker to the clip end
    ]


def test_markers_without_a_speaker_are_ignored():
    tl = timeline(track(
        "DX",
        clip("dx_1", 500, 48, [marker("check sync here", 505), marker("fix level, too loud", 520, name="Marker 2"),
                               marker("ANNA: Only me.", 530)]),
        clip("dx_2", 900, 48, [marker("room tone", 910), marker("", 920, name="no speaker")]),
    ))
    lines = find_lines(tl)
    assert [(ln.clip_name, ln.character, ln.text) for ln in lines] == [("dx_1", "ANNA", "Only me.")]
    assert (lines[0].record_in, lines[0].record_out) == (0, 48)  # the one spoken marker covers the clip


def test_marker_speaker_in_the_marker_name():
    tl = timeline(track("DX", clip("dx_1", 500, 48, [marker("", 505, name="MAYA: In the name.")])))
    assert spans(find_lines(tl)) == [(0, 48, "MAYA", "In the name.", "marker")]


def test_metadata_beats_a_marker_on_the_same_clip():
    tl = timeline(track("DX", clip("dx_1", 500, 48, [marker("ANNA: From the marker.", 505)],
                                   meta={"text": "From the metadata.", "character": "MAYA"})))
    assert spans(find_lines(tl)) == [(0, 48, "MAYA", "From the metadata.", "metadata")]


def test_markers_on_a_non_dialogue_track_are_ignored_when_a_dialogue_track_exists():
    tl = timeline(track("DX", clip("dx_1", 500, 48, [marker("ANNA: Dialogue.", 505)])),
                  track("Music", clip("mx_1", 0, 48, [marker("SINGER: La la la.", 5)])))
    assert [ln.character for ln in find_lines(tl)] == ["ANNA"]


# ---------------------------------------------------------------------------------------------
# which tracks are dialogue
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["DIA 1", "DIA", "DIA2", "DX", "DX_1", "Dialogue", "dialog", "VO", "ADR", "A1 DX"])
def test_dialogue_track_names(name):
    assert is_dialogue_track_name(name)


@pytest.mark.parametrize("name", ["Music", "FX", "A3", "SFX", "Ambience", "", "DUB en ANNA", "Diagram", "Voodoo"])
def test_non_dialogue_track_names(name):
    assert not is_dialogue_track_name(name)


def test_named_dialogue_tracks_are_chosen():
    tl = timeline(track("Music", gap(10)), track("DIA 1", gap(10)), track("FX", gap(10)), track("DX", gap(10)),
                  track("Dialogue", gap(10)), track("VO", gap(10)), track("ADR", gap(10)), track("A3", gap(10)),
                  track("DX", gap(10), kind=otio.schema.TrackKind.Video))
    assert [t.name for t in find_dialogue_tracks(tl)] == ["DIA 1", "DX", "Dialogue", "VO", "ADR"]


def test_all_audio_tracks_when_none_is_named_like_dialogue():
    tl = timeline(track("Music", gap(10)), track("FX", gap(10)), track("A3", gap(10)),
                  track("V1", gap(10), kind=otio.schema.TrackKind.Video))
    assert [t.name for t in find_dialogue_tracks(tl)] == ["Music", "FX", "A3"]


def test_dub_tracks_never_count():
    named = timeline(track("DX", gap(10), dub=True), track("DIA 1", gap(10)), track("DUB en ANNA", gap(10), dub=True))
    assert [t.name for t in find_dialogue_tracks(named)] == ["DIA 1"]
    fallback = timeline(track("Music", gap(10)), track("DX", gap(10), dub=True), track("DUB en ANNA", gap(10), dub=True))
    assert [t.name for t in find_dialogue_tracks(fallback)] == ["Music"]


def test_markers_on_dub_tracks_are_not_dialogue():
    tl = timeline(track("Music", clip("mx_1", 0, 48)),
                  track("DX", clip("001-ANNA", 0, 48, [marker("OVERRUN: needs 1.4x", 40, 8)]), dub=True))
    assert find_lines(tl) == []


def test_markers_used_on_any_audio_track_when_none_is_named():
    tl = timeline(track("A1", clip("a1", 500, 48, [marker("ANNA: On A1.", 505)])),
                  track("A2", clip("a2", 700, 48, [marker("BOB: On A2.", 705)])))
    assert sorted((ln.track_name, ln.character) for ln in find_lines(tl)) == [("A1", "ANNA"), ("A2", "BOB")]


# ---------------------------------------------------------------------------------------------
# script events tied to the clip under them
# ---------------------------------------------------------------------------------------------


def script_timeline() -> otio.schema.Timeline:
    return timeline(
        track("DX", gap(10), clip("dx_free", 500, 50), gap(40),
              clip("dx_meta", 700, 50, meta={"text": "Already a line.", "character": "MAYA"}), gap(100)),
        track("Music", clip("mx_1", 0, 250)),
    )


def test_script_event_over_a_dialogue_clip_is_tied_to_it():
    lines = find_lines(script_timeline(), [event(1, 15, 50, "On the free clip.")], script_name="s.srt")
    [line] = [ln for ln in lines if ln.source == "script"]
    assert (line.source, line.clip_name, line.track_name) == ("script", "dx_free", "DX")
    assert (line.record_in, line.record_out) == (15, 50)  # the event's own times, not the clip's


def test_script_event_over_no_clip_stands_alone():
    lines = find_lines(script_timeline(), [event(1, 170, 200, "In the gap.")], script_name="s.srt")
    [line] = [ln for ln in lines if ln.source == "script"]
    assert (line.clip_name, line.track_name) == (None, None)
    assert (line.record_in, line.record_out) == (170, 200)
    assert line.origin == "s.srt event 1"


def test_script_event_mostly_on_a_metadata_clip_is_dropped(caplog, monkeypatch):
    monkeypatch.setattr(logging.getLogger("otio_dub"), "propagate", True)  # the CLI turns it off
    caplog.set_level(logging.WARNING, logger="otio_dub")
    lines = find_lines(script_timeline(), [event(1, 102, 150, "The metadata line again.")], script_name="s.srt")
    assert spans(lines) == [(100, 150, "MAYA", "Already a line.", "metadata")]
    warned = {r.getMessage() for r in caplog.records if r.levelno == logging.WARNING}
    assert any("s.srt event 1" in m and "dx_meta" in m for m in warned), warned


def test_script_event_only_touching_a_metadata_clip_is_kept():
    # 5 of its 30 frames are on the metadata clip: it is not that line again
    lines = find_lines(script_timeline(), [event(1, 145, 175, "Mostly after it.")], script_name="s.srt")
    assert [(ln.source, ln.text) for ln in lines] == [("metadata", "Already a line."), ("script", "Mostly after it.")]


# ---------------------------------------------------------------------------------------------
# otio-dub lines: the source of each line
# ---------------------------------------------------------------------------------------------


def test_lines_command_shows_each_source(tmp_path):
    tl = timeline(track("DX", clip("dx_meta", 500, 50, meta={"text": "From metadata.", "character": "MAYA"}),
                        clip("dx_mark", 700, 50, [marker("ANNA: From a marker.", 705, name="cue 1")]),
                        gap(150)))
    path = tmp_path / "sources.otio"
    otio.adapters.write_to_file(tl, str(path))
    script = tmp_path / "words.srt"
    script.write_text("1\n00:00:05,000 --> 00:00:06,000\nBOB: From the script.\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["lines", str(path), "--script", str(script)])
    assert result.exit_code == 0, result.output
    header, *rows = result.output.splitlines()
    assert "SOURCE" in header.split()
    assert len(rows) == 3
    by_character = {row.split()[3]: row for row in rows}
    assert "clip 'dx_meta' on track 'DX'" in by_character["MAYA"]
    assert "marker 'cue 1' on clip 'dx_mark'" in by_character["ANNA"]
    assert "words.srt event 1" in by_character["BOB"]


def test_clips_with_the_same_name_are_told_apart():
    """NLEs name clips after their source file: two A001_C003 clips, a marker line on the first and
    a script event on the second, are two lines."""
    from otio_dub.dialogue.lines import find_lines
    from otio_dub.dialogue.script import ScriptEvent

    rt = lambda f: otio.opentime.RationalTime(f, 24)  # noqa: E731
    track = otio.schema.Track("DIA", kind=otio.schema.TrackKind.Audio)
    for _ in range(2):
        track.append(otio.schema.Clip("A001_C003", source_range=otio.opentime.TimeRange(rt(0), rt(48))))
    track[0].markers.append(otio.schema.Marker(name="ANNA: First line.", marked_range=otio.opentime.TimeRange(rt(0), rt(1))))
    timeline = otio.schema.Timeline("dup", global_start_time=rt(86400))
    timeline.tracks.append(track)
    lines = find_lines(timeline, [ScriptEvent(1, 2200, 3800, "Second line.", "BOB", None, None)])
    assert [(ln.source, ln.record_in, ln.text) for ln in lines] == [("marker", 0, "First line."), ("script", 53, "Second line.")]


@pytest.mark.parametrize("rate, start, rows, expected", [
    (24000 / 1001, 86400, [("01:00:01:00", "01:00:03:12", "ANNA", "Hello there.", ""),
                           ("01:00:04:00", "01:00:07:00", "MARCUS", "Guten Tag.", "de")], [(24, 84, "en"), (96, 168, "de")]),
    (30000 / 1001, 107892, [("01:00:59;29", "01:01:00;04", "ANNA", "Across the dropped labels.", "")],
     [(1799, 1802, "en")]),  # ;00 and ;01 of minute 61 do not exist: 01:01:00;04 is frame 1800 + 4 - 2
])
def test_a_dialogue_list_as_script_lands_on_its_absolute_timecodes(tmp_path, rate, start, rows, expected):
    from otio_dub.stages.pipeline import DubOptions, collect_lines

    rt = lambda f: otio.opentime.RationalTime(f, rate)  # noqa: E731
    track = otio.schema.Track("DIA", kind=otio.schema.TrackKind.Audio)
    track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=rt(2000))))
    timeline = otio.schema.Timeline("list", global_start_time=rt(start))
    timeline.tracks.append(track)
    listing = tmp_path / "spot.csv"
    listing.write_text("TC IN,TC OUT,CHARACTER,LINE,LANG\n" + "".join(",".join(r) + "\n" for r in rows), encoding="utf-8")
    _, lines = collect_lines(timeline, listing, DubOptions())
    assert [(ln.record_in, ln.record_out, ln.lang) for ln in lines] == expected
