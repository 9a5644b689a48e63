"""Cross-format writes say what they cannot carry, once per kind; and the table they say it from is
the writers' real behaviour: each writer's output, read back by OTIO, lost exactly the kinds it names."""

from __future__ import annotations

import logging

import opentimelineio as otio
import pytest

from otio_dub.dialogue.lines import METADATA_KEY
from otio_dub.timelines.carry import LOST, editor_kinds, losses
from otio_dub.timelines.formats import FORMATS, write_timeline
from otio_dub.timelines.timeline_io import read_timeline

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
RATE = 25


def _clip(name: str, frames: int, url: str = "file:///media/shot.mov") -> otio.schema.Clip:
    ref = otio.schema.ExternalReference(url, available_range=TR(RT(0, RATE), RT(10_000, RATE)))
    return otio.schema.Clip(name, media_reference=ref, source_range=TR(RT(100, RATE), RT(frames, RATE)))


def editors_timeline() -> otio.schema.Timeline:
    """An edit with one of each kind: 2 transitions, 1 effect, 2 markers and a track's marker, 1 generator, 1 nested stack;
    plus a dub track whose clip has a marker (otio-dub's, not the editor's)."""
    timeline = otio.schema.Timeline("cut", global_start_time=RT(90000, RATE))
    video = otio.schema.Track("V1")
    first = _clip("shot 1", 50)
    first.effects.append(otio.schema.Effect("blur", "GaussianBlur"))
    first.markers.append(otio.schema.Marker("check focus", TR(RT(110, RATE), RT(1, RATE))))
    half = RT(5, RATE)
    video.extend([first, otio.schema.Transition(in_offset=half, out_offset=half), _clip("shot 2", 50),
                  otio.schema.Transition(in_offset=half, out_offset=half), _clip("shot 3", 50)])
    bars = otio.schema.Clip("bars", media_reference=otio.schema.GeneratorReference(generator_kind="SMPTEBars"),
                            source_range=TR(RT(0, RATE), RT(25, RATE)))
    video.append(bars)
    nested = otio.schema.Stack("compound", children=[otio.schema.Track("inner", children=[_clip("inner shot", 40)])])
    video.append(nested)
    video.markers.append(otio.schema.Marker("reel change", TR(RT(20, RATE), RT(1, RATE))))
    timeline.tracks.append(video)
    audio = otio.schema.Track("A1", kind=otio.schema.TrackKind.Audio)
    audio.append(_clip("sound 1", 200, "file:///media/sound.wav"))
    timeline.tracks.append(audio)
    timeline.tracks.markers.append(otio.schema.Marker("act 2", TR(RT(60, RATE), RT(1, RATE))))
    dub = otio.schema.Track("DUB en ANNA", kind=otio.schema.TrackKind.Audio, metadata={METADATA_KEY: {"role": "dub"}})
    line = _clip("001-ANNA", 40, "file:///media/001-ANNA.wav")
    line.metadata[METADATA_KEY] = {"role": "dub", "line_id": "001-ANNA"}
    line.markers.append(otio.schema.Marker("REDO: faster", TR(RT(100, RATE), RT(40, RATE))))
    dub.extend([otio.schema.Gap(source_range=TR(duration=RT(20, RATE))), line])
    timeline.tracks.append(dub)
    return timeline


def test_the_editors_kinds_are_counted_and_the_dub_is_not_the_editors():
    assert editor_kinds(editors_timeline()) == {"transitions": 2, "effects": 1, "markers": 2, "track_markers": 1,
                                                "generators": 1, "nested": 1}


def test_losses_name_each_kind_with_its_count():
    timeline = editors_timeline()
    assert losses(timeline, "fcpxml") == [
        "fcpxml: 2 transitions written as cuts", "fcpxml: 1 effect dropped", "fcpxml: 2 markers dropped",
        "fcpxml: 1 track marker dropped", "fcpxml: 1 generator left out",
        "fcpxml: 1 nested stack or compound clip flattened"]
    assert losses(timeline, "xml") == ["xml: 1 effect dropped", "xml: 1 track marker dropped (an FCP7 track holds none)",
                                       "xml: 1 generator written as gaps", "xml: 1 nested stack or compound clip flattened"]
    assert losses(timeline, "otio") == losses(timeline, "otioz") == []
    assert losses(timeline, "edl") == [
        "edl: the editor's timeline is not rewritten: each dub track is written as an EDL of its own"]
    plain = otio.schema.Timeline("plain")
    plain.tracks.append(otio.schema.Track("V1", children=[_clip("shot", 50)]))
    assert losses(plain, "aaf") == []


@pytest.mark.parametrize("fmt", ["xml", "fcpxml", "aaf"])
def test_the_table_is_what_each_writer_does(fmt, tmp_path, caplog):
    """Write through the writer, read back with OTIO: the kinds the table names are gone (or fewer),
    every other kind came back whole, and each loss was said once."""
    timeline = editors_timeline()
    source = otio.adapters.write_to_string(timeline, "otio_json")
    (tmp_path / "cut.otio").write_text(source, encoding="utf-8")
    from otio_dub.dialogue.lines import timebase_of

    tb = timebase_of(timeline)
    with caplog.at_level(logging.WARNING, logger="otio_dub"):
        (written,) = write_timeline(timeline, tmp_path, "cut", fmt, tb)
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"{fmt}: ")]
    assert said == losses(timeline, fmt)
    assert written.name == f"cut.dub{FORMATS[fmt][1]}"
    back = read_timeline(written)
    for item in [back.tracks, *back.tracks, *back.find_clips()]:  # OTIO's FCPXML reader copies a connected
        for marker in [m for m in item.markers if m.name.startswith("REDO")]:  # clip's markers onto its parent:
            item.markers.remove(marker)  # the dub's review marker is not the editor's, wherever it lands
    before, after = editor_kinds(timeline), editor_kinds(back)
    for kind, count in before.items():
        if kind in LOST[fmt]:
            assert after.get(kind, 0) < count, (kind, after)
        else:
            assert after.get(kind, 0) == count, (kind, after)
