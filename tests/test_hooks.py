"""OTIO hooks through plain OTIO calls: dialogue tagged on read, dub on write when asked."""

from __future__ import annotations

from pathlib import Path

import opentimelineio as otio
import pytest

from otio_dub.core.errors import HookError

ROOT = Path(__file__).resolve().parent.parent
SCENE = ROOT / "samples" / "scene.otio"
SCRIPT = ROOT / "samples" / "scene.ass"
RATE = 24000 / 1001


def test_hooks_are_registered_through_the_entry_point():
    manifest = otio.plugins.ActiveManifest()
    assert "otio_dub_tag_dialogue" in manifest.hooks["post_adapter_read"]
    assert "otio_dub_dub_on_write" in manifest.hooks["pre_adapter_write"]
    for script in manifest.hook_scripts:
        if script.name.startswith("otio_dub_"):
            assert Path(script.filepath).is_file(), script.filepath


def test_read_tags_dialogue_clips_and_marker_lines(tmp_path):
    timeline = otio.adapters.read_from_file(str(SCENE))
    dia = timeline.tracks[1].find_clips()
    assert all(c.metadata["otio_dub"]["dialogue"] is True for c in dia)
    assert "otio_dub" not in timeline.tracks[0].find_clips()[0].metadata  # picture is not dialogue
    first = dia[0]
    first.markers.append(otio.schema.Marker(name="ANNA: [sad] Hello there", marked_range=otio.opentime.TimeRange(
        otio.opentime.RationalTime(first.source_range.start_time.value, RATE), otio.opentime.RationalTime(1, RATE))))
    path = tmp_path / "marked.otio"
    otio.adapters.write_to_file(timeline, str(path))
    reread = otio.adapters.read_from_file(str(path))  # keep the timeline alive: its clips are views into it
    again = reread.tracks[1].find_clips()[0].metadata["otio_dub"]
    assert (again["text"], again["character"], again["source"], again["emotion"]) == ("Hello there", "ANNA", "marker", "sad")


def test_tagging_never_overwrites_a_line_and_can_be_switched_off(tmp_path, monkeypatch):
    timeline = otio.adapters.read_from_file(str(SCENE))
    clip = timeline.tracks[1].find_clips()[0]
    clip.metadata["otio_dub"] = {"text": "Mine", "character": "ZED"}
    clip.markers.append(otio.schema.Marker(name="ANNA: other", marked_range=otio.opentime.TimeRange(
        otio.opentime.RationalTime(clip.source_range.start_time.value, RATE), otio.opentime.RationalTime(1, RATE))))
    path = tmp_path / "mine.otio"
    otio.adapters.write_to_file(timeline, str(path))
    reread = otio.adapters.read_from_file(str(path))
    assert dict(reread.tracks[1].find_clips()[0].metadata["otio_dub"]) == {"text": "Mine", "character": "ZED"}
    monkeypatch.setenv("OTIO_DUB_TAG_DIALOGUE", "0")
    plain = otio.adapters.read_from_file(str(SCENE))
    assert "otio_dub" not in plain.tracks[1].find_clips()[0].metadata
    off = otio.adapters.read_from_file(str(SCENE), hook_function_argument_map={"otio_dub": {"tag_dialogue": False}})
    assert "otio_dub" not in off.tracks[1].find_clips()[0].metadata


def test_write_with_the_dub_hook_adds_dub_tracks_and_renders_stems(tmp_path):
    timeline = otio.adapters.read_from_file(str(SCENE))
    target = tmp_path / "cut.otio"
    otio.adapters.write_to_file(timeline, str(target), hook_function_argument_map={"otio_dub": {
        "dub": True, "script": str(SCRIPT), "max_speedup": 1.3}})
    written = otio.adapters.read_from_file(str(target))
    dub_tracks = [t for t in written.tracks if t.name.startswith("DUB ")]
    assert sorted(t.name for t in dub_tracks) == ["DUB en ANNA", "DUB en MARCUS", "DUB en NARRATOR"]
    for clip in (c for t in dub_tracks for c in t.find_clips()):
        url = clip.media_reference.target_url
        assert url.startswith("file://") and Path(url[len("file://"):]).is_file()
    out = tmp_path / "cut_dub"
    assert (out / "stems" / "DIALOGUE.wav").is_file() and (out / "report.json").is_file()
    assert '"max_speedup": 1.3' in (out / "report.json").read_text()


def test_write_without_the_opt_in_writes_the_timeline_as_it_is(tmp_path):
    timeline = otio.adapters.read_from_file(str(SCENE))
    otio.adapters.write_to_file(timeline, str(tmp_path / "plain.otio"))
    reread = otio.adapters.read_from_file(str(tmp_path / "plain.otio"))
    assert [t.name for t in reread.tracks] == ["V1", "DIA"]
    assert not (tmp_path / "plain_dub").exists()


@pytest.mark.parametrize("config, message", [
    ({"dub": True, "nonsense": 1}, "unknown setting"),
    ({"dub": True, "script": "/no/such/script.ass"}, "script file not found"),
    ({"dub": True, "max_speedup": 0.5}, "max speed-up"),
])
def test_a_failing_dub_hook_names_the_hook_and_the_timeline(tmp_path, config, message):
    timeline = otio.adapters.read_from_file(str(SCENE))
    with pytest.raises(HookError) as info:
        otio.adapters.write_to_file(timeline, str(tmp_path / "x.otio"), hook_function_argument_map={"otio_dub": config})
    assert "otio_dub_dub_on_write" in str(info.value) and "'scene'" in str(info.value)
    assert message in str(info.value)
    assert not (tmp_path / "x.otio").exists()
