"""The ``otio-dub`` command through click's CliRunner: help, version, lines, dub and user errors."""

from __future__ import annotations

import json
from pathlib import Path

import opentimelineio as otio
import pytest
from click.testing import CliRunner

from otio_dub.cli import main
from otio_dub.core.version import __version__

ROOT = Path(__file__).resolve().parents[1]
SCENE_OTIO = ROOT / "samples" / "scene.otio"
SCENE_ASS = ROOT / "samples" / "scene.ass"


def invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0
    assert "otio-dub" in result.output
    assert __version__ in result.output


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["dub", "--help"], ["lines", "--help"]])
def test_help(args):
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert "Traceback" not in result.output


def test_main_help_lists_commands():
    output = invoke("--help").output
    assert "dub" in output and "lines" in output


def test_dub_help_lists_options():
    output = invoke("dub", "--help").output
    for option in ("--script", "--out", "--max-speedup", "--overflow", "--dialogue-track", "--script-offset"):
        assert option in output


@pytest.mark.parametrize("house", ["espeak", "no-such-engine"])
def test_lines_prints_a_table(house, monkeypatch):
    """Listing lines speaks none: whatever $OTIO_DUB_ENGINE says, even a typo, it lists them."""
    monkeypatch.setenv("OTIO_DUB_ENGINE", house)
    result = invoke("lines", SCENE_OTIO, "--script", SCENE_ASS)
    assert result.exit_code == 0, result.output
    out = result.output.splitlines()
    assert out[0].split()[:4] == ["ID", "IN", "OUT", "CHARACTER"]
    assert len(out) == 11  # header + 10 lines
    assert "01:00:01:00" in out[1]
    assert "ANNA" in out[1]
    assert "MARCUS" in result.output and "NARRATOR" in result.output


def test_lines_with_script_offset():
    result = invoke("lines", SCENE_OTIO, "--script", SCENE_ASS, "--script-offset", "00:59:59:00")
    assert result.exit_code == 0, result.output
    assert "01:00:00:00" in result.output.splitlines()[1]


def test_dub_quiet(tmp_path):
    out = tmp_path / "out"
    result = invoke("dub", SCENE_OTIO, "--script", SCENE_ASS, "-o", out, "-q")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert "Synthesizing" not in result.output
    assert (out / "scene.dub.otio").is_file()
    assert (out / "stems" / "DIALOGUE.wav").is_file()
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["summary"]["lines"] == 10


def test_dub_summary(tmp_path):
    rt = otio.opentime.RationalTime
    timeline = otio.schema.Timeline("small", global_start_time=rt(90000, 25))
    track = otio.schema.Track("A1", kind=otio.schema.TrackKind.Audio)
    track.append(otio.schema.Clip("c1", source_range=otio.opentime.TimeRange(rt(90010, 25), rt(50, 25)),
                                  metadata={"otio_dub": {"text": "ANNA: Hello there."}}))
    track.append(otio.schema.Clip("c2", source_range=otio.opentime.TimeRange(rt(90060, 25), rt(50, 25)),
                                  metadata={"otio_dub": {"text": "Bye.", "character": "BOB"}}))
    timeline.tracks.append(track)
    otio.adapters.write_to_file(timeline, str(tmp_path / "small.otio"))
    out = tmp_path / "out"
    result = invoke("dub", tmp_path / "small.otio", "-o", out, "--no-stems")
    assert result.exit_code == 0, result.output
    assert "2 lines" in result.output
    assert "ANNA (en)" in result.output and "BOB (en)" in result.output
    assert "Dub timeline:" in result.output
    assert not (out / "stems").exists()
    assert (out / "small.dub.otio").is_file()
    assert sorted(p.name for p in (out / "media").iterdir()) == ["001-ANNA.wav", "002-BOB.wav"]


# --- user errors -----------------------------------------------------------------------------

ASS_HEADER = SCENE_ASS.read_text(encoding="utf-8").split("[Events]")[0]
ASS_FORMAT = "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"


def _zero_length_timeline(path: Path) -> None:
    rate = 24.0
    rt = otio.opentime.RationalTime
    timeline = otio.schema.Timeline("zero", global_start_time=rt(86400, rate))
    track = otio.schema.Track("A1", kind=otio.schema.TrackKind.Audio)
    track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=rt(24, rate))))
    track.append(otio.schema.Clip("zclip", source_range=otio.opentime.TimeRange(rt(0, rate), rt(0, rate)),
                                  metadata={"otio_dub": {"text": "Hello there.", "character": "BOB"}}))
    track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=rt(48, rate))))
    timeline.tracks.append(track)
    otio.adapters.write_to_file(timeline, str(path))


def _make_case(name: str, tmp: Path) -> tuple[list[str], list[str]]:
    """(arguments after ``dub``, words the single Error: line must contain)."""
    scene = [str(SCENE_OTIO)]
    if name == "missing timeline":
        return [str(tmp / "nope.otio")], ["nope.otio"]
    if name == "garbage json":
        (tmp / "garbage.otio").write_text('{"OTIO_SCHEMA": "Timeline.1", "tracks": [', encoding="utf-8")
        return [str(tmp / "garbage.otio")], ["garbage.otio"]
    if name == "truncated xml":
        xml = otio.adapters.write_to_string(otio.adapters.read_from_file(str(SCENE_OTIO)), "fcp_xml")
        (tmp / "cut.xml").write_text(xml[: len(xml) // 2], encoding="utf-8")
        return [str(tmp / "cut.xml")], ["cut.xml"]
    if name == "srt without cues":
        (tmp / "empty.srt").write_text("\n\n", encoding="utf-8")
        return [*scene, "--script", str(tmp / "empty.srt")], ["empty.srt"]
    if name == "ass without events":
        (tmp / "noevents.ass").write_text(ASS_HEADER + "[Events]\n" + ASS_FORMAT, encoding="utf-8")
        return [*scene, "--script", str(tmp / "noevents.ass")], ["noevents.ass"]
    if name == "event without text":
        body = ASS_HEADER + "[Events]\n" + ASS_FORMAT + "Dialogue: 0,0:00:01.00,0:00:03.50,Default,ANNA,0,0,0,,{\\i1}\n"
        (tmp / "notext.ass").write_text(body, encoding="utf-8")
        return [*scene, "--script", str(tmp / "notext.ass")], ["notext.ass", "event 1"]
    if name == "zero-length clip":
        _zero_length_timeline(tmp / "zero.otio")
        return [str(tmp / "zero.otio")], ["zclip"]
    if name == "unknown dialogue track":
        return [*scene, "--script", str(SCENE_ASS), "--dialogue-track", "NOPE"], ["NOPE"]
    if name == "bad script offset":
        return [*scene, "--script", str(SCENE_ASS), "--script-offset", "1:2"], ["--script-offset", "1:2"]
    if name == "no lines and no script":
        return scene, ["scene", "no dialogue lines"]
    if name == "max speedup below 1":
        return [*scene, "--script", str(SCENE_ASS), "--max-speedup", "0.5"], ["speed-up", "0.5"]
    raise AssertionError(name)


ERROR_CASES = [
    "missing timeline", "garbage json", "truncated xml", "srt without cues", "ass without events",
    "event without text", "zero-length clip", "unknown dialogue track", "bad script offset",
    "no lines and no script", "max speedup below 1",
]


def _check_user_error(result, words: list[str]) -> None:
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    for word in words:
        assert word in errors[0], (word, errors[0])


@pytest.mark.parametrize("case", ERROR_CASES)
def test_dub_user_errors(tmp_path, case):
    args, words = _make_case(case, tmp_path)
    out = tmp_path / "out"
    result = invoke("dub", *args, "-o", out)
    _check_user_error(result, words)
    assert not list(out.rglob("*.dub.otio")) if out.exists() else True
    assert not list(tmp_path.rglob("*.dub.otio"))


@pytest.mark.parametrize("case", [c for c in ERROR_CASES if c != "max speedup below 1"])
def test_lines_user_errors(tmp_path, case):
    args, words = _make_case(case, tmp_path)
    result = invoke("lines", *args)
    _check_user_error(result, words)


def test_dub_overflow_error_exits_cleanly(tmp_path):
    rate = 24.0
    rt = otio.opentime.RationalTime
    timeline = otio.schema.Timeline("tight", global_start_time=rt(86400, rate))
    track = otio.schema.Track("A1", kind=otio.schema.TrackKind.Audio)
    text = "This is a very long sentence that could never be spoken within one second of screen time by anyone."
    track.append(otio.schema.Clip("tight_clip", source_range=otio.opentime.TimeRange(rt(86400, rate), rt(24, rate)),
                                  metadata={"otio_dub": {"text": text, "character": "ANNA"}}))
    track.append(otio.schema.Clip("next_clip", source_range=otio.opentime.TimeRange(rt(86424, rate), rt(48, rate)),
                                  metadata={"otio_dub": {"text": "Okay.", "character": "BOB"}}))
    timeline.tracks.append(track)
    otio.adapters.write_to_file(timeline, str(tmp_path / "tight.otio"))
    out = tmp_path / "out"
    result = invoke("dub", tmp_path / "tight.otio", "--overflow", "error", "-o", out, "-q")
    _check_user_error(result, ["001-ANNA", "needs"])
    assert not list(tmp_path.rglob("*.dub.otio"))
    assert not (out / "media").exists()
    assert not (out / "stems").exists()


def test_dub_into_an_unusable_folder(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder", encoding="utf-8")
    result = invoke("dub", SCENE_OTIO, "--script", SCENE_ASS, "-o", blocker / "out", "-q")
    _check_user_error(result, ["afile"])
    assert not list(tmp_path.rglob("*.dub.otio"))
