"""Watch folder: settled files are dubbed once, bad files are logged, re-exports are redone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pysubs2
from click.testing import CliRunner

from otio_dub.cli import main
from otio_dub.core.errors import OtioDubError
from otio_dub.stages.pipeline import dub
from otio_dub.stages.watch import Watcher

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
        folder = out / f"{name}_otio"  # one folder per input file: its name with the suffix
        assert (folder / f"{name}.dub.otio").is_file() and (folder / "stems" / "DIALOGUE.wav").is_file()
    assert "broken.xml" in (out / "broken_xml" / "error.txt").read_text()
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
    from otio_dub.stages.pipeline import DubOptions

    _drop(tmp_path)
    (tmp_path / "broken.xml").unlink()
    (tmp_path / "b.otio").unlink()
    watcher = Watcher(tmp_path, dub, DubOptions(to="xml"), settle=0)
    watcher.poll_once(now=1.0)
    assert watcher.poll_once(now=2.0) == {"a.otio": "dubbed"}
    assert (tmp_path / "dubbed" / "a_otio" / "a.dub.xml").is_file()


# --------------------------------------------------------------------------- issue 16: names


def _fake_dub(fail_on: tuple[str, ...] = ()):
    """A stand-in for the pipeline that writes what a dub writes (its folder and timeline), or fails."""
    calls = []

    def run(path, script=None, out_dir=None, options=None):
        calls.append((path.name, out_dir))
        if path.suffix in fail_on:
            raise OtioDubError(f"{path}: cannot read timeline (bad)")
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"{path.stem}.dub.otio").write_text(path.name, encoding="utf-8")

    run.calls = calls
    return run


def _settled(watcher: Watcher) -> dict[str, str]:
    watcher.poll_once(now=1.0)
    return watcher.poll_once(now=2.0)


def test_an_export_named_watch_log_otio_does_not_stop_the_watch(tmp_path):
    """Its folder was dubbed/watch.log: the log file itself. Today: IsADirectoryError or an OutputError
    from writing error.txt under the log, out of the watch."""
    for name in ("a.otio", "watch.log.otio", "z.otio"):
        (tmp_path / name).write_text(name, encoding="utf-8")
    watcher = Watcher(tmp_path, _fake_dub(), settle=0)
    assert _settled(watcher) == {"a.otio": "dubbed", "watch.log.otio": "dubbed", "z.otio": "dubbed"}
    log = (tmp_path / "dubbed" / "watch.log").read_text(encoding="utf-8")
    assert "dubbed watch.log.otio" in log and "dubbed z.otio" in log
    assert (tmp_path / "dubbed" / "watch.log_otio" / "watch.log.dub.otio").read_text() == "watch.log.otio"


def test_cut_otio_and_cut_xml_get_separate_folders(tmp_path):
    """Today both go to dubbed/cut/, and the failed cut.xml's error.txt lands beside cut.otio's dub."""
    (tmp_path / "cut.otio").write_text("otio", encoding="utf-8")
    (tmp_path / "cut.xml").write_text("xml", encoding="utf-8")
    fake = _fake_dub(fail_on=(".xml",))
    assert _settled(Watcher(tmp_path, fake, settle=0)) == {"cut.otio": "dubbed", "cut.xml": "failed"}
    out = tmp_path / "dubbed"
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["cut_otio", "cut_xml", "watch.log"]
    assert sorted(p.name for p in (out / "cut_otio").iterdir()) == ["cut.dub.otio"]
    assert "cut.xml" in (out / "cut_xml" / "error.txt").read_text() and not (out / "cut_xml" / "cut.dub.otio").exists()


def test_no_input_name_can_collide_with_the_watchs_own_files():
    """Every input gets a folder of its own, and none is the watch's log, state or a hidden name."""
    from otio_dub.stages.watch import LOG_NAME, STATE_NAME, TIMELINE_SUFFIXES, folder_name

    stems = ["cut", "watch", "watch.log", "watch_log", ".otio-dub-watch", "error", "dubbed", "cut_otio", "cut.otio",
             "a b", "x_xml", "x.xml"]
    names = [f"{stem}{suffix}" for stem in stems for suffix in TIMELINE_SUFFIXES]
    names += [n.upper() for n in names]
    inputs = [n for n in names if not n.startswith(".")]  # dot files are never inputs
    folders = [folder_name(Path(n)) for n in inputs]
    assert len(set(folders)) == len(inputs)  # one folder per input file
    assert not {LOG_NAME, STATE_NAME} & set(folders)
    assert not [f for f in folders if f.startswith(".") or "/" in f]


def test_a_failure_that_cannot_even_write_its_note_does_not_stop_the_watch(tmp_path):
    (tmp_path / "a.otio").write_text("a", encoding="utf-8")
    (tmp_path / "b.otio").write_text("b", encoding="utf-8")
    (tmp_path / "dubbed").mkdir()
    (tmp_path / "dubbed" / "a_otio").write_text("a file where a's folder goes", encoding="utf-8")

    def dub_or_fail(path, script=None, out_dir=None, options=None):
        out_dir.mkdir(parents=True, exist_ok=True)  # a's: NotADirectory/FileExists

    assert _settled(Watcher(tmp_path, dub_or_fail, settle=0)) == {"a.otio": "failed", "b.otio": "dubbed"}
    assert "FAILED a.otio" in (tmp_path / "dubbed" / "watch.log").read_text()


def test_a_dub_after_a_failure_removes_the_old_error_note(tmp_path):
    target = tmp_path / "cut.otio"
    target.write_text("bad", encoding="utf-8")
    watcher = Watcher(tmp_path, _fake_dub(fail_on=(".otio",)), settle=0)
    assert _settled(watcher) == {"cut.otio": "failed"}
    assert (tmp_path / "dubbed" / "cut_otio" / "error.txt").is_file()
    target.write_text("fixed", encoding="utf-8")
    watcher.dub = _fake_dub()
    watcher.poll_once(now=3.0)
    assert watcher.poll_once(now=4.0) == {"cut.otio": "dubbed"}
    assert not (tmp_path / "dubbed" / "cut_otio" / "error.txt").exists()


def test_a_file_vanishing_between_listing_and_reading_does_not_stop_the_watch(tmp_path, monkeypatch):
    (tmp_path / "cut.otio").write_text("x", encoding="utf-8")
    watcher = Watcher(tmp_path, _fake_dub(), settle=0)
    watcher.poll_once(now=1.0)
    import otio_dub.stages.watch as watch_module

    def gone(path):
        raise FileNotFoundError(2, "No such file or directory", str(path))

    monkeypatch.setattr(watch_module, "_sha256", gone)
    assert watcher.poll_once(now=2.0) == {"cut.otio": "failed"}
    assert watcher.poll_once(now=3.0) == {"cut.otio": "skipped"}  # not retried every poll


def test_cli_watch_with_an_unusable_output_folder_is_one_line(tmp_path):
    (tmp_path / "dubbed").write_text("a file where the watch writes", encoding="utf-8")
    result = CliRunner().invoke(main, ["watch", str(tmp_path), "--once", "--settle", "0"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1 and "dubbed" in result.output
