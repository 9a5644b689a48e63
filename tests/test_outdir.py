"""The output folder as one transaction: a failed, killed or concurrent run never damages the previous dub."""

from __future__ import annotations

import errno
import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

import otio_dub
from otio_dub.cli import main
from otio_dub.core.errors import OutputError
from otio_dub.delivery.outdir import OutputFolder
from otio_dub.stages.options import DubOptions


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) by relative path -> sha256."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(out: Path) -> list[str]:
    """Staging or swap folders a run left beside ``out`` (the lock file is expected)."""
    return sorted(p.name for p in out.parent.iterdir()
                  if p.name.startswith(f".{out.name}.otio-dub") and not p.name.endswith(".lock"))


def script(path: Path, lines: int, word: str = "Hello") -> Path:
    """An SRT of ``lines`` short events, two seconds apart."""
    events = []
    for n in range(lines):
        start, end = n * 2000, n * 2000 + 1500
        tc = [f"00:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}" for ms in (start, end)]
        events.append(f"{n + 1}\n{tc[0]} --> {tc[1]}\nANNA: {word} number {n + 1}.\n")
    path.write_text("\n".join(events), encoding="utf-8")
    return path


@pytest.fixture
def previous(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A finished dub of a small script in tmp_path/out, and its snapshot."""
    src = script(tmp_path / "scene.srt", 4)
    out = tmp_path / "out"
    otio_dub.dub(src, out_dir=out, options=DubOptions(rate=24, cache=tmp_path / "cache"))
    return src, out, snapshot(out)


@pytest.mark.parametrize("where", ["finish_line", "dub_stems", "write_timeline", "write_review"])
def test_a_failure_at_any_stage_keeps_the_previous_dub(previous, monkeypatch, where):
    src, out, before = previous
    import otio_dub.stages.deliver as deliver

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(out / "x.wav"))

    if where == "write_review":
        import otio_dub.review.page as page

        monkeypatch.setattr(page, "write_review", disk_full)
    else:
        monkeypatch.setattr(deliver, where, disk_full)
    options = DubOptions(rate=24, cache=out.parent / "cache", to="xml" if where == "write_timeline" else None,
                         stems=replace(DubOptions().stems, loudness=-23.0))
    with pytest.raises(OutputError, match="No space left on device"):
        otio_dub.dub(src, out_dir=out, options=options)
    assert snapshot(out) == before
    assert leftovers(out) == []


def test_a_file_size_limit_names_the_file_and_keeps_the_previous_dub(previous):
    """RLIMIT_FSIZE makes a write fail with EFBIG (as a full disk would): one line, no traceback."""
    src, out, before = previous
    code = ("import resource, signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
            "resource.setrlimit(resource.RLIMIT_FSIZE, (40000, 40000)); "
            "from otio_dub.cli import main; main()")
    run = subprocess.run([sys.executable, "-c", code, "dub", str(src), "--rate", "24", "-o", str(out), "--loudness", "-23",
                          "--cache", str(out.parent / "cache"), "-q"], capture_output=True, text=True, timeout=300)
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    message = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(message) == 1 and message[0].startswith("Error: ") and "File too large" in message[0]
    assert str(out) in message[0] and ".otio-dub-staging" not in message[0]  # names the folder the user gave
    assert snapshot(out) == before
    assert leftovers(out) == []


def test_a_second_run_into_a_locked_folder_fails_with_one_line(previous):
    src, out, before = previous
    with OutputFolder(out):
        result = CliRunner().invoke(main, ["dub", str(src), "--rate", "24", "-o", str(out), "-q",
                                           "--cache", str(out.parent / "cache")])
    assert result.exit_code == 1
    assert "another otio-dub run is writing this folder" in result.output and str(out) in result.output
    assert snapshot(out) == before


def test_files_the_dub_does_not_own_are_kept(previous):
    src, out, _ = previous
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    (out / "cast").mkdir()
    (out / "cast" / "cast.toml").write_text("[ANNA]\n", encoding="utf-8")
    otio_dub.dub(src, out_dir=out, options=DubOptions(rate=24, cache=out.parent / "cache",
                                                      stems=replace(DubOptions().stems, loudness=-23.0)))
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert (out / "cast" / "cast.toml").read_text(encoding="utf-8") == "[ANNA]\n"


def test_a_stale_export_of_an_earlier_run_is_replaced_not_kept(previous):
    src, out, _ = previous
    otio_dub.dub(src, out_dir=out, options=DubOptions(rate=24, cache=out.parent / "cache", to="xml"))
    assert (out / "scene.dub.xml").is_file()
    otio_dub.dub(src, out_dir=out, options=DubOptions(rate=24, cache=out.parent / "cache"))
    assert not (out / "scene.dub.xml").exists()  # an earlier run's output, not the user's file


def test_an_input_inside_the_output_folder_is_refused(previous):
    """Mixing a new dub over the previous dub's own DIALOGUE stem, written into the same folder."""
    src, out, before = previous
    options = DubOptions(rate=24, stems=replace(DubOptions().stems, mix_with=out / "stems" / "DIALOGUE.wav"))
    with pytest.raises(otio_dub.OtioDubError, match="inside the output folder"):
        otio_dub.dub(src, out_dir=out, options=options)
    assert snapshot(out) == before


def test_empty_output_folder_is_refused(tmp_path, monkeypatch):
    src = script(tmp_path / "s.srt", 1)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["dub", str(src), "--rate", "24", "-o", "", "-q"])
    assert result.exit_code == 2 and "the output folder is empty" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.srt"]


def test_output_into_the_current_folder_keeps_the_shell_in_place(tmp_path, monkeypatch):
    """-o . replaces entries one by one: the shell's folder (its inode) stays the same."""
    src = script(tmp_path / "s.srt", 2)
    monkeypatch.chdir(tmp_path)
    inode = tmp_path.stat().st_ino
    for loudness in ("-27", "-23"):
        result = CliRunner().invoke(main, ["dub", "s.srt", "--rate", "24", "-o", ".", "-q", "--loudness", loudness])
        assert result.exit_code == 0, result.output
    assert tmp_path.stat().st_ino == inode
    assert (tmp_path / "s.srt").read_bytes() == src.read_bytes()
    assert (tmp_path / "report.json").is_file() and (tmp_path / "media").is_dir()


@pytest.mark.slow
def test_kill_9_at_random_points_leaves_the_old_dub_or_the_new_one_whole(tmp_path):
    """A 300-line dub over a previous one, killed at random moments, again and again."""
    src = script(tmp_path / "feature.srt", 300, word="Line")
    out, cache = tmp_path / "out", tmp_path / "cache"
    env = {**os.environ, "PYTHONHASHSEED": "0"}

    def command(loudness: str) -> list[str]:
        return [sys.executable, "-m", "otio_dub", "dub", str(src), "--rate", "24", "-o", str(out), "-q",
                "--cache", str(cache), "--loudness", loudness, "--jobs", "1", "--no-review"]

    subprocess.run(command("-27"), check=True, env=env, timeout=1200)
    old = snapshot(out)
    started = time.perf_counter()
    subprocess.run(command("-23"), check=True, env=env, timeout=1200)
    new = snapshot(out)
    seconds = time.perf_counter() - started  # a warm run: the takes come from the cache
    assert old != new
    rng = random.Random(7)
    states = {"old": 0, "new": 0}
    for attempt in range(6):
        proc = subprocess.Popen(command("-27" if attempt % 2 == 0 else "-23"), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, seconds))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        now = snapshot(out)
        assert now in (old, new), f"attempt {attempt}: a mix of dubs after kill -9"
        states["old" if now == old else "new"] += 1
    final = subprocess.run(command("-23"), env=env, timeout=1200, capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    assert snapshot(out) == new
    assert leftovers(out) == []  # the killed runs' staging was cleaned by the next run
