"""otio_dub.dialogue.lines: finding the dialogue lines of a timeline (metadata clips and script events)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from otio_dub.core.errors import InputError, TimelineError
from otio_dub.core.timebase import TimeBase
from otio_dub.dialogue.lines import DEFAULT_CHARACTER, Line, duration_frames, find_lines, resolve_tracks, timebase_of
from otio_dub.dialogue.script import ScriptEvent

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange
AUDIO = otio.schema.TrackKind.Audio
VIDEO = otio.schema.TrackKind.Video


def gap(frames: int, rate: float = 24) -> otio.schema.Gap:
    return otio.schema.Gap(source_range=TR(duration=RT(frames, rate)))


def clip(name: str, frames: int, meta: dict | None = None, rate: float = 24, start: int = 0, **extra) -> otio.schema.Clip:
    c = otio.schema.Clip(name=name, source_range=TR(RT(start, rate), RT(frames, rate)),
                         metadata={"otio_dub": meta} if meta is not None else {})
    for key, value in extra.items():
        setattr(c, key, value)
    return c


def track(name: str, items: list, kind: str = AUDIO) -> otio.schema.Track:
    t = otio.schema.Track(name, kind=kind)
    t.extend(items)
    return t


ONE_HOUR_24 = RT(86400, 24)


def timeline(tracks: list, start: RT | None = ONE_HOUR_24, name: str = "EP101") -> otio.schema.Timeline:
    tl = otio.schema.Timeline(name, global_start_time=start)
    tl.tracks.extend(tracks)
    return tl


def event(number: int, start_ms: int, end_ms: int, text: str = "From the script", character: str | None = "CARL",
          emotion: str | None = None) -> ScriptEvent:
    return ScriptEvent(number, start_ms, end_ms, text, character, emotion, None)


@pytest.fixture
def edit() -> otio.schema.Timeline:
    """A 24 fps timeline starting at 01:00:00:00 with a video track and two audio tracks."""
    video = track("V1", [clip("picture", 200, {"text": "video is never dialogue"})], kind=VIDEO)
    a1 = track("Dialogue", [
        gap(24),
        clip("c1", 48, {"text": "Hello there", "character": "ANNA"}),
        gap(12),
        clip("c2", 24, {"text": "[angry] BOB: Go away", "lang": "fr"}),
        gap(10),
        clip("no-meta", 20),
        clip("off", 20, {"text": "disabled"}, enabled=False),
        clip("dub", 20, {"text": "our own output", "role": "dub"}),
        clip("c3", 30, {"text": "Last", "character": "Anna Lee", "emotion": "WHISPER"}),
    ])
    a2 = track("Music", [clip("c4", 10, {"text": "Early", "character": "Zed"})])
    return timeline([video, a1, a2])


# --------------------------------------------------------------------------- metadata lines


def test_metadata_lines(edit):
    lines = find_lines(edit)
    assert [(ln.id, ln.record_in, ln.record_out, ln.character, ln.lang, ln.text, ln.emotion) for ln in lines] == [
        ("001-ZED", 0, 10, "Zed", "en", "Early", None),
        ("002-ANNA", 24, 72, "ANNA", "en", "Hello there", None),
        ("003-BOB", 84, 108, "BOB", "fr", "Go away", "angry"),
        ("004-ANNA_LEE", 178, 208, "Anna Lee", "en", "Last", "whisper"),
    ]
    first = lines[1]
    assert isinstance(first, Line)
    assert first.duration == 48
    assert (first.source, first.clip_name, first.track_name) == ("metadata", "c1", "Dialogue")
    assert "c1" in first.origin and "Dialogue" in first.origin


def test_record_frames_are_relative_to_timeline_start(edit):
    # the same edit with another start time gives the same relative frames
    moved = timeline([t.deepcopy() for t in edit.tracks], start=RT(0, 24))
    assert [(ln.record_in, ln.record_out) for ln in find_lines(moved)] == [
        (ln.record_in, ln.record_out) for ln in find_lines(edit)
    ]


def test_lang_default_and_override(edit):
    by_text = {ln.text: ln.lang for ln in find_lines(edit, lang="de")}
    assert by_text == {"Early": "de", "Hello there": "de", "Go away": "fr", "Last": "de"}


def test_skips_disabled_dub_role_unmarked_and_video(edit):
    texts = {ln.text for ln in find_lines(edit)}
    assert "disabled" not in texts
    assert "our own output" not in texts
    assert "video is never dialogue" not in texts
    assert len(texts) == 4


def test_default_character_and_unknown_emotion():
    tl = timeline([track("A1", [clip("c", 24, {"text": "Hi", "emotion": "sarcastic"})])])
    (line,) = find_lines(tl)
    assert line.character == DEFAULT_CHARACTER
    assert line.id == "001-SPEAKER"
    assert line.emotion is None


def test_sorting_ties_by_record_out_then_character():
    a1 = track("A1", [clip("x", 48, {"text": "long", "character": "ZOE"})])
    a2 = track("A2", [clip("y", 24, {"text": "short", "character": "ZOE"})])
    a3 = track("A3", [clip("z", 48, {"text": "long too", "character": "AMY"})])
    lines = find_lines(timeline([a1, a2, a3]))
    assert [(ln.text, ln.id) for ln in lines] == [("short", "001-ZOE"), ("long too", "002-AMY"), ("long", "003-ZOE")]


def test_id_width_grows_past_999():
    clips = []
    for n in range(1000):
        clips.append(clip(f"c{n}", 1, {"text": "x", "character": "A"}))
    lines = find_lines(timeline([track("A1", clips)]))
    assert lines[0].id == "0001-A"
    assert lines[-1].id == "1000-A"
    assert lines[-1].record_in == 999


@pytest.mark.parametrize(
    ("character", "slug"),
    [("ANNA", "ANNA"), ("anna", "ANNA"), ("Dr. Who", "DR_WHO"), ("Anna-Marie O'Neil", "ANNA_MARIE_O_NEIL"), ("!!!", "LINE")],
)
def test_id_slug(character, slug):
    tl = timeline([track("A1", [clip("c", 24, {"text": "Hi", "character": character})])])
    assert find_lines(tl)[0].id == f"001-{slug}"


def test_2997_timeline_frames():
    rate = 30000 / 1001
    tl = timeline([track("A1", [gap(30, rate), clip("c", 45, {"text": "Hi"}, rate=rate)])], start=RT(107892, rate))
    (line,) = find_lines(tl)
    assert (line.record_in, line.record_out) == (30, 75)


# --------------------------------------------------------------------------- metadata errors


def test_zero_length_metadata_clip():
    tl = timeline([track("A1", [gap(10), clip("empty clip", 0, {"text": "Hi"})])])
    with pytest.raises(TimelineError) as info:
        find_lines(tl)
    assert info.value.clip == "empty clip"
    assert "empty clip" in str(info.value)
    assert "01:00:00:10" in str(info.value)


@pytest.mark.parametrize("text", ["", "   ", "[angry]", "<i></i>", None])
def test_metadata_without_text(text):
    meta = {"character": "ANNA"} if text is None else {"text": text}
    tl = timeline([track("Dialogue", [clip("silent", 24, meta)])])
    with pytest.raises(TimelineError) as info:
        find_lines(tl)
    assert "silent" in str(info.value)
    assert "no text" in str(info.value)


# --------------------------------------------------------------------------- dialogue_tracks


@pytest.mark.parametrize(
    ("wanted", "texts"),
    [
        ((), {"Early", "Hello there", "Go away", "Last"}),
        (("Dialogue",), {"Hello there", "Go away", "Last"}),
        (("Music",), {"Early"}),
        (("1",), {"Hello there", "Go away", "Last"}),
        (("2",), {"Early"}),
        (("A2",), {"Early"}),
        (("a2",), {"Early"}),
        (("A1", "Dialogue"), {"Hello there", "Go away", "Last"}),  # no duplicates
        (("Music", "A1"), {"Early", "Hello there", "Go away", "Last"}),
    ],
)
def test_dialogue_tracks(edit, wanted, texts):
    lines = find_lines(edit, dialogue_tracks=wanted)
    assert {ln.text for ln in lines} == texts
    assert len(lines) == len(texts)


@pytest.mark.parametrize("wanted", ["Nope", "3", "A3", "0", "V1"])
def test_unknown_dialogue_track(edit, wanted):
    with pytest.raises(TimelineError) as info:
        find_lines(edit, dialogue_tracks=[wanted])
    message = str(info.value)
    assert repr(wanted) in message
    assert "A1 'Dialogue'" in message
    assert "A2 'Music'" in message


def test_resolve_tracks_named_like_a_number():
    a1 = track("2", [])
    a2 = track("other", [])
    tl = timeline([a1, a2])
    # an exact name match wins over the index
    assert resolve_tracks(tl, ["2"]) == [a1]
    assert resolve_tracks(tl, ["A2"]) == [a2]


# --------------------------------------------------------------------------- script events


def test_script_events_relative_to_start(edit):
    lines = find_lines(edit, [event(1, 500, 1500, "From script", "CARL", "sad")], script_name="/x/ep101.srt", lang="es")
    (line,) = [ln for ln in lines if ln.source == "script"]
    assert (line.record_in, line.record_out) == (12, 36)
    assert (line.character, line.lang, line.emotion, line.text) == ("CARL", "es", "sad", "From script")
    assert line.origin == "ep101.srt event 1"
    assert [ln.id for ln in lines] == ["001-ZED", "002-CARL", "003-ANNA", "004-BOB", "005-ANNA_LEE"]


def test_script_offset_shifts_events(edit):
    plain = find_lines(edit, [event(1, 500, 1500)])
    shifted = find_lines(edit, [event(1, 500, 1500)], script_offset=48)
    (a,) = [ln for ln in plain if ln.source == "script"]
    (b,) = [ln for ln in shifted if ln.source == "script"]
    assert (b.record_in, b.record_out) == (a.record_in + 48, a.record_out + 48) == (60, 84)


def test_script_default_character():
    tl = timeline([track("A1", [clip("c", 240)])])
    (line,) = find_lines(tl, [event(1, 0, 1000, character=None)])
    assert line.character == DEFAULT_CHARACTER
    assert (line.record_in, line.record_out) == (0, 24)


def test_script_on_2997_timeline():
    rate = 30000 / 1001
    tl = timeline([track("A1", [clip("c", 3000, rate=rate)])], start=RT(107892, rate))
    (line,) = find_lines(tl, [event(1, 1001, 2002)])
    assert (line.record_in, line.record_out) == (30, 60)


@pytest.mark.parametrize(
    ("ev", "offset"),
    [
        (event(7, 500, 15000), 0),  # ends after the 208-frame timeline
        (event(7, 8000, 9000), 0),  # starts after it
        (event(7, 0, 1000), -1),  # offset pushes it before the start
        (event(7, 8000, 8600), 10),  # inside without the offset, outside with it
    ],
)
def test_script_event_outside_timeline(edit, ev, offset):
    with pytest.raises(InputError) as info:
        find_lines(edit, [ev], script_name="ep.srt", script_offset=offset)
    message = str(info.value)
    assert "event 7" in message
    assert "ep.srt" in message
    assert "outside" in message


def test_script_event_ending_exactly_at_timeline_end():
    # 208 frames at 24 fps = 8666.67 ms (a clip without a line of its own: the event is not a duplicate)
    tl = timeline([track("A1", [clip("c", 208)])])
    (line,) = find_lines(tl, [event(1, 8000, 8667)])
    assert line.record_out == 208
    assert (line.clip_name, line.track_name) == ("c", "A1")


def test_script_event_on_a_clip_that_has_its_line_is_dropped(edit, caplog):
    # 192-208 lies wholly on clip c3, whose line comes from metadata: the event is that line again
    lines = find_lines(edit, [event(1, 8000, 8667)])
    assert not [ln for ln in lines if ln.source == "script"]
    assert "already has its line from metadata" in caplog.text


def test_script_event_without_text(edit):
    with pytest.raises(InputError) as info:
        find_lines(edit, [event(1, 0, 1000), event(2, 1000, 2000, text="")], script_name="ep.srt")
    assert "event 2" in str(info.value)
    assert "ep.srt" in str(info.value)


def test_script_event_shorter_than_a_frame(edit):
    with pytest.raises(InputError) as info:
        find_lines(edit, [event(3, 1000, 1010)])
    assert "event 3" in str(info.value)


def test_empty_script_list_adds_nothing(edit):
    assert find_lines(edit, []) == find_lines(edit)


# --------------------------------------------------------------------------- timebase_of / duration


def test_timebase_of_global_start():
    tl = timeline([track("A1", [clip("c", 24)])], start=RT(86400, 24))
    assert timebase_of(tl) == TimeBase(Fraction(24), 86400)


def test_timebase_of_2997():
    rate = 30000 / 1001
    tl = timeline([track("A1", [clip("c", 30, rate=rate)])], start=RT(107892, rate))
    tb = timebase_of(tl)
    assert tb.rate == Fraction(30000, 1001)
    assert tb.start_frame == 107892
    assert tb.tc(0) == "00:59:56:12"  # non-drop (frame 107892) unless the source or the user says drop-frame
    assert timebase_of(tl, drop_frame=True).tc(0) == "01:00:00;00"


def test_timebase_of_2997_written_as_29_97():
    tl = timeline([track("A1", [clip("c", 30, rate=29.97)])], start=RT(107892, 29.97))
    assert timebase_of(tl) == TimeBase(Fraction(30000, 1001), 107892)


def test_timebase_of_without_global_start_time():
    tl = timeline([track("A1", [gap(30, 25), clip("c", 25, {"text": "hi"}, rate=25)])], start=None)
    assert tl.global_start_time is None
    assert timebase_of(tl) == TimeBase(Fraction(25), 0)
    (line,) = find_lines(tl)
    assert (line.record_in, line.record_out) == (30, 55)


def test_timebase_of_without_global_start_time_skips_empty_tracks():
    # an empty first track has no rate of its own; the clips' 25 fps is the timeline's clock
    tl = timeline([
        track("V1", [], kind=VIDEO),
        track("A1", [gap(30, 25), clip("c", 25, {"text": "hi"}, rate=25)]),
    ], start=None)
    assert timebase_of(tl).rate == Fraction(25)
    (line,) = find_lines(tl)
    assert (line.record_in, line.record_out) == (30, 55)


def test_timebase_of_empty_timeline():
    with pytest.raises(TimelineError) as info:
        timebase_of(otio.schema.Timeline("nothing"))
    assert "nothing" in str(info.value)


def test_duration_frames(edit):
    assert duration_frames(edit, timebase_of(edit)) == 208
    empty = otio.schema.Timeline("e", global_start_time=RT(0, 24))
    assert duration_frames(empty, timebase_of(empty)) == 0


def test_record_frames_agree_with_otio_everywhere():
    """The one-pass placement (OTIO's transformed_time_range is quadratic over a track) gives the
    same frames on every clip: after a transition, inside a nested stack, on a trimmed track."""
    import glob

    from otio_dub.core.timebase import frames_of
    from otio_dub.dialogue.lines import _Record
    from otio_dub.timelines.timeline_io import read_timeline

    tl = timeline([track("A1", [clip("a", 30), otio.schema.Gap(source_range=TR(RT(0, 24), RT(7, 24))), clip("b", 20)])])
    tl.tracks[0].insert(1, otio.schema.Transition(in_offset=RT(3, 24), out_offset=RT(2, 24)))
    nested = otio.schema.Stack("nest", children=[track("inner", [clip("n1", 12), clip("n2", 9)])])
    tl.tracks.append(track("A2", [clip("c", 5), nested, clip("d", 8)]))
    trimmed = track("A3", [clip("e", 40), clip("f", 40)])
    trimmed.source_range = TR(RT(10, 24), RT(60, 24))
    tl.tracks.append(trimmed)
    timelines = [tl] + [read_timeline(p) for p in sorted(glob.glob("/work/shared/samples/nle/*.xml"))
                        + sorted(glob.glob(str(Path(__file__).parent / "data" / "nle" / "*.xml")))]
    checked = 0
    for t in timelines:
        tb = timebase_of(t)
        record = _Record(t, tb)
        for c in t.find_clips():
            mapped = c.transformed_time_range(c.trimmed_range(), t.tracks)
            assert record.frames(c, c.trimmed_range()) == (frames_of(mapped.start_time, tb.rate),
                                                           frames_of(mapped.end_time_exclusive(), tb.rate)), c.name
            checked += 1
    assert checked >= 9
