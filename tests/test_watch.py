"""Watch folder: settled files are dubbed once, bad files are logged, re-exports are redone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pysubs2
from click.testing import CliRunner

from otio_dub.cli import main
from otio_dub.pipeline import dub
from otio_dub.watch import Watcher

ROOT = Path(__file__).resolve().parent.parent


def _drop(folder: Path) -> None:
    shutil.copy(ROOT / "samples" / "scene.otio", folder / "a.otio")
    shutil.copy(ROOT / "samples" / "scene.ass", folder / "a.ass")
    shutil.copy(ROOT / "samples" / "scene.otio", folder / "b.otio")
    pysubs2.load(str(ROOT / "samples" / "scene.ass")).save(str(folder / "b.srt"))
    (folder / "broken.xml").write_text("<xmeml><sequence>", encoding="utf-8")


def test_three_timelines_one_broken_two_dubbed_one_logged(tmp_path):
    _drop(tmp_path)
    result = CliRunner().invoke(main, ["watch", str(tmp_path), "--once", "--settle", "0"])
    assert result.exit_code == 0, result.output
    assert "dubbed: a.otio" in result.output and "dubbed: b.otio" in result.output
    assert "failed: broken.xml" in result.output and "Traceback" not in result.output
    out = tmp_path / "dubbed"
    for name in ("a", "b"):
        assert (out / name / f"{name}.dub.otio").is_file() and (out / name / "stems" / "DIALOGUE.wav").is_file()
    assert "broken.xml" in (out / "broken" / "error.txt").read_text()
    log = (out / "watch.log").read_text()
    assert "FAILED broken.xml" in log and "dubbed a.otio with a.ass" in log and "dubbed b.otio with b.srt" in log
    state = json.loads((out / ".otio-dub-watch.json").read_text())
    assert {k: v["status"] for k, v in state.items()} == {"a.otio": "dubbed", "b.otio": "dubbed", "broken.xml": "failed"}
    again = CliRunner().invoke(main, ["watch", str(tmp_path), "--once", "--settle", "0"])
    assert again.exit_code == 0  # a restart: what was dubbed is never dubbed twice; a failure is tried again
    assert "dubbed: a.otio" not in again.output and "dubbed: b.otio" not in again.output
    assert "failed: broken.xml" in again.output


def test_a_failure_is_not_retried_within_a_watch_but_is_after_a_restart(tmp_path):
    calls = []

    def flaky(path, **kw):
        calls.append(path.name)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")  # not even an OtioDubError: the watch survives it

    (tmp_path / "cut.otio").write_text("v1", encoding="utf-8")
    watcher = Watcher(tmp_path, flaky, settle=0)
    watcher.poll_once(now=1.0)
    assert watcher.poll_once(now=2.0) == {"cut.otio": "failed"}
    assert watcher.poll_once(now=3.0) == {"cut.otio": "skipped"}
    restarted = Watcher(tmp_path, flaky, settle=0)
    restarted.poll_once(now=4.0)
    assert restarted.poll_once(now=5.0) == {"cut.otio": "dubbed"}
    assert calls == ["cut.otio", "cut.otio"]


def test_a_file_still_growing_is_left_until_it_settles(tmp_path):
    calls = []
    watcher = Watcher(tmp_path, lambda path, **kw: calls.append(path.name), settle=1.0)
    target = tmp_path / "cut.otio"
    target.write_text("{", encoding="utf-8")
    assert watcher.poll_once(now=100.0) == {}  # first sight
    target.write_text("{ more", encoding="utf-8")
    assert watcher.poll_once(now=101.0) == {}  # still growing
    assert watcher.poll_once(now=101.5) == {}  # unchanged, but not for a full second yet
    assert watcher.poll_once(now=102.6) == {"cut.otio": "dubbed"}
    assert calls == ["cut.otio"]


def test_a_re_export_with_new_content_is_dubbed_again(tmp_path):
    calls = []
    watcher = Watcher(tmp_path, lambda path, **kw: calls.append(path.read_text()), settle=0)
    target = tmp_path / "cut.otio"
    target.write_text("v1", encoding="utf-8")
    watcher.poll_once(now=1.0)
    assert watcher.poll_once(now=2.0) == {"cut.otio": "dubbed"}
    assert watcher.poll_once(now=3.0) == {"cut.otio": "skipped"}
    target.write_text("v2 (new cut)", encoding="utf-8")
    watcher.poll_once(now=4.0)
    assert watcher.poll_once(now=5.0) == {"cut.otio": "dubbed"}
    assert calls == ["v1", "v2 (new cut)"]


def test_watcher_uses_the_real_pipeline_and_its_options(tmp_path):
    from otio_dub.pipeline import DubOptions

    _drop(tmp_path)
    (tmp_path / "broken.xml").unlink()
    (tmp_path / "b.otio").unlink()
    watcher = Watcher(tmp_path, dub, DubOptions(to="xml"), settle=0)
    watcher.poll_once(now=1.0)
    assert watcher.poll_once(now=2.0) == {"a.otio": "dubbed"}
    assert (tmp_path / "dubbed" / "a" / "a.dub.xml").is_file()
