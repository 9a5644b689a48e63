"""An unchanged re-dub keeps the folder as it is (nothing written, the same result); any change to what
the files are made of, or to the files themselves, dubs as usual."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

import otio_dub
from otio_dub.delivery.stems import StemOptions
from otio_dub.stages import deliver as deliver_module
from otio_dub.stages.deliver import STATE
from otio_dub.stages.options import DubOptions
from otio_dub.stages.unchanged import KeptDub
from otio_dub.store.cache import RenderCache


def states(folder: Path) -> dict[str, tuple]:
    """Every file's content and identity: an untouched folder keeps all of them."""
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_ino,
                                         p.stat().st_mtime_ns, p.stat().st_ctime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def dubbed(tmp_path, tools):
    """The scene (timeline and script copied in) dubbed once into out/, with a render cache."""
    timeline, script = tmp_path / "scene.otio", tmp_path / "scene.ass"
    shutil.copy(tools.SCENE_OTIO, timeline)
    shutil.copy(tools.SCENE_ASS, script)
    options = DubOptions(review=False, cache=str(tmp_path / "cache"), subtitles=("srt",))
    first = otio_dub.dub(timeline, script, tmp_path / "out", options)
    return timeline, script, tmp_path / "out", options, first


def _refuse_delivery(monkeypatch) -> None:
    def refused(*args, **kwargs):
        raise AssertionError("delivered again although nothing changed")

    monkeypatch.setattr(deliver_module, "_deliver_media", refused)


def test_an_unchanged_re_dub_writes_nothing_and_returns_the_same_dub(dubbed, monkeypatch, tmp_path):
    timeline, script, out, options, first = dubbed
    assert (out / STATE).is_file() and STATE in first.entries
    before = states(out)
    _refuse_delivery(monkeypatch)
    again = otio_dub.dub(timeline, script, out, DubOptions(**{**options.__dict__, "jobs": 2}))  # how fast: no change
    assert isinstance(again, KeptDub)
    assert again.takes == {"unchanged": len(first.lines)}
    assert states(out) == before
    assert not [p for p in tmp_path.iterdir() if "staging" in p.name]  # no staging left beside it
    for name in ("out_dir", "timeline_path", "exports", "stems", "report_path", "lines", "summary", "voices",
                 "stem_report", "entries"):
        assert getattr(again, name) == getattr(first, name), name
    # read from the folder when asked, without the adapter hooks a plain read runs (ours tags dialogue clips)
    assert again.timeline.to_json_string() == first.timeline.to_json_string()


def test_the_cache_counts_the_takes_an_unchanged_dub_relies_on_as_used(dubbed):
    timeline, script, out, options, first = dubbed
    db = sqlite3.connect(Path(options.cache) / "index.sqlite")
    with db:
        db.execute("UPDATE takes SET used = ?", (time.time() - 40 * 86400,))
    db.close()
    assert isinstance(otio_dub.dub(timeline, script, out, options), KeptDub)
    store = RenderCache(options.cache)
    try:
        assert store.prune(30 * 86400) == 0
    finally:
        store.close()


def _edit_script(timeline, script, out, options):
    script.write_text(script.read_text(encoding="utf-8").replace("Dialogue:", "Dialogue:", 1) + "\n", encoding="utf-8")


def _edit_script_text(timeline, script, out, options):
    text = script.read_text(encoding="utf-8")
    last = text.rstrip().rsplit(",", 1)
    script.write_text(last[0] + "," + last[1] + " Again.\n", encoding="utf-8")


def _touch_timeline(timeline, script, out, options):
    data = json.loads(timeline.read_text(encoding="utf-8"))
    data["metadata"] = {**(data.get("metadata") or {}), "note": "v2"}
    timeline.write_text(json.dumps(data), encoding="utf-8")


def _damage_media(timeline, script, out, options):
    media = sorted((out / "media").iterdir())[0]
    media.write_bytes(media.read_bytes())  # the same bytes, written again: its ctime moves


def _delete_stem(timeline, script, out, options):
    (out / "stems" / "DIALOGUE.wav").unlink()


def _add_file(timeline, script, out, options):
    (out / "media" / "stray.wav").write_bytes(b"RIFF")


def _edit_report(timeline, script, out, options):
    report = out / "report.json"
    report.write_text(report.read_text(encoding="utf-8") + " ", encoding="utf-8")


def _lose_note(timeline, script, out, options):
    (out / STATE).write_text("{not json", encoding="utf-8")


CHANGES = {
    "script bytes": (_edit_script, None),
    "script text": (_edit_script_text, None),
    "timeline": (_touch_timeline, None),
    "a media file rewritten": (_damage_media, None),
    "a stem deleted": (_delete_stem, None),
    "a stray file": (_add_file, None),
    "report edited": (_edit_report, None),
    "note unreadable": (_lose_note, None),
    "loudness": (None, {"stems": StemOptions(loudness=-24.0)}),
    "format": (None, {"to": "xml"}),
    "subtitles": (None, {"subtitles": ()}),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_any_change_dubs_as_usual(dubbed, change):
    timeline, script, out, options, first = dubbed
    edit, fields = CHANGES[change]
    if edit is not None:
        edit(timeline, script, out, options)
    again = otio_dub.dub(timeline, script, out, DubOptions(**{**options.__dict__, **(fields or {})}))
    assert not isinstance(again, KeptDub)
    assert "unchanged" not in again.takes
    assert json.loads((out / STATE).read_text(encoding="utf-8"))["key"]  # noted again for the next run
    assert not (out / "media" / "stray.wav").exists()  # the folder is the dub's again
    assert isinstance(otio_dub.dub(timeline, script, out, DubOptions(**{**options.__dict__, **(fields or {})})),
                      KeptDub)  # and the run after it is unchanged


def test_another_folder_or_a_timeline_object_is_dubbed(dubbed, tmp_path):
    timeline, script, out, options, first = dubbed
    assert not isinstance(otio_dub.dub(timeline, script, tmp_path / "elsewhere", options), KeptDub)
    shutil.copytree(out, tmp_path / "copied")  # a copy: every file a new inode
    assert not isinstance(otio_dub.dub(timeline, script, tmp_path / "copied", options), KeptDub)
    source = otio_dub.timelines.timeline_io.read_timeline(timeline)
    assert not isinstance(otio_dub.dub(source, script, out, options), KeptDub)


def test_a_note_that_cannot_be_written_only_costs_the_next_run(dubbed, monkeypatch):
    timeline, script, out, options, first = dubbed
    (out / STATE).unlink()
    real = Path.write_text

    def refuse(self, *args, **kwargs):
        if self.name.startswith(STATE):
            raise OSError(28, "No space left on device")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", refuse)
    again = otio_dub.dub(timeline, script, out, options)
    assert not isinstance(again, KeptDub) and not (out / STATE).exists()
    assert not [p for p in out.iterdir() if p.name.endswith(".part")]
    assert os.path.isfile(again.report_path)


def test_the_cli_says_the_dub_was_kept(tmp_path, tools):
    from click.testing import CliRunner

    from otio_dub.cli import main

    args = ["dub", str(tools.SCENE_OTIO), "--script", str(tools.SCENE_ASS), "-o", str(tmp_path / "out"), "--no-review",
            "--cache", str(tmp_path / "cache")]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "Nothing changed" not in first.output
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert "Nothing changed since the last dub into this folder" in again.output and "unchanged" in again.output


def test_an_input_edited_while_it_is_read_leaves_the_run_unkeyed(dubbed, monkeypatch):
    """The editor saves the script while the run plans from the old one: the run dubs what it read and
    notes nothing, so the next run (on the new script) is dubbed, not kept."""
    from otio_dub.stages import pipeline

    timeline, script, out, options, first = dubbed
    (out / STATE).unlink()
    plan_dub = pipeline.plan_dub

    def plan_then_edit(*args, **kwargs):
        plan = plan_dub(*args, **kwargs)
        _edit_script_text(timeline, script, out, options)
        return plan

    monkeypatch.setattr(pipeline, "plan_dub", plan_then_edit)
    assert not isinstance(otio_dub.dub(timeline, script, out, options), KeptDub)
    assert not (out / STATE).exists()
    monkeypatch.setattr(pipeline, "plan_dub", plan_dub)
    again = otio_dub.dub(timeline, script, out, options)
    assert not isinstance(again, KeptDub) and any(row["text"].endswith("Again.") for row in again.lines)


def test_an_original_changed_just_before_the_run_is_not_trusted(tmp_path):
    from types import SimpleNamespace

    import opentimelineio as otio

    from otio_dub.stages.plan import original_states
    from otio_dub.stages.unchanged import _originals

    media = tmp_path / "orig.wav"
    media.write_bytes(b"RIFF")
    timeline = otio.schema.Timeline("t")
    track = otio.schema.Track("A1", kind=otio.schema.TrackKind.Audio)
    track.append(otio.schema.Clip("c", media_reference=otio.schema.ExternalReference(target_url="orig.wav"),
                                  source_range=otio.opentime.TimeRange(duration=otio.opentime.RationalTime(24, 24))))
    timeline.tracks.append(track)
    plan = SimpleNamespace(source=timeline, base=tmp_path, originals=original_states(timeline, tmp_path))
    assert _originals(plan, time.time_ns()) is None  # written a moment ago: it may have changed while read
    assert "orig.wav" in _originals(plan, time.time_ns() + 10**9)
    assert _originals(plan) == _originals(plan, time.time_ns() + 10**9)
    # swapped for an old file after planning began (matching read the one before): its old times do not hide it
    older = tmp_path / "older.wav"
    older.write_bytes(b"RIFF-older")
    os.utime(older, (time.time() - 3600, time.time() - 3600))
    os.replace(older, media)
    assert _originals(plan, time.time_ns() + 10**9) is None


def test_the_names_the_dub_is_written_under_are_keyed(dubbed, tmp_path, monkeypatch):
    """The same timeline through a link of another name writes <link name>.dub.otio: not kept."""
    timeline, script, out, options, first = dubbed
    linked = tmp_path / "current.otio"
    linked.symlink_to(timeline)
    again = otio_dub.dub(linked, script, out, options)
    assert not isinstance(again, KeptDub) and again.timeline_path.name == "current.dub.otio"
    monkeypatch.chdir(tmp_path)  # a relative -o: the kept dub's paths are absolute, as a dub's are
    kept = otio_dub.dub(linked, script, "out", options)
    assert isinstance(kept, KeptDub) and kept.out_dir == out and kept.report_path == out / "report.json"
