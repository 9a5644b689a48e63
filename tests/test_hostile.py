"""Hostile and careless input (issue 16): each case is refused in one line naming the file, clip or
timecode, with a non-zero exit and no traceback; inputs stay byte-identical; nothing half-made is left.

Timelines are written as OTIO JSON text, edited where OTIO itself would refuse to write the value
(a NUL inside a string, a NaN rate), exactly as a damaged or hand-edited file reaches a user.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest
from click.testing import CliRunner

from otio_dub.cli import main

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
GOOD = {"text": "Hello there.", "character": "ANNA"}


def hostile(folder: Path, name: str = "cut", *, meta: object = GOOD, rate: float = 25.0, start: int = 90000,
            frames: int = 50, gap: int = 0, ranged: bool = True, unranged_video: bool = False,
            edits: tuple[tuple[str, str], ...] = ()) -> Path:
    """``folder/name.otio``: one dialogue clip ``dia_001`` with ``meta`` on track DIA, as JSON text."""
    timeline = otio.schema.Timeline(name, global_start_time=RT(start, rate))
    if unranged_video:  # a shot with no source range whose media has no available range
        video = otio.schema.Track("V1")
        video.append(otio.schema.Clip("shot", media_reference=otio.schema.ExternalReference("file:///shot.mov")))
        timeline.tracks.append(video)
    track = otio.schema.Track("DIA", kind=otio.schema.TrackKind.Audio)
    if gap:
        track.append(otio.schema.Gap(source_range=TR(duration=RT(gap, rate))))
    track.append(otio.schema.Clip("dia_001", source_range=TR(RT(0, rate), RT(frames, rate)) if ranged else None,
                                  metadata={"otio_dub": meta}))
    track.append(otio.schema.Gap(source_range=TR(duration=RT(25, rate))))
    timeline.tracks.append(track)
    text = otio.adapters.write_to_string(timeline, "otio_json")
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    path = folder / f"{name}.otio"
    path.write_text(text, encoding="utf-8")
    return path


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` by hash (an output folder's empty lock file, left by design, aside)."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith(".otio-dub.lock")}


def refused(args: list, folder: Path, *named: str, code: int = 1) -> str:
    """Run the CLI and check the refusal: one ``Error:`` line naming ``named``, inputs untouched."""
    before = snapshot(folder)
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), result.exc_info  # no traceback
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for name in named:
        assert name in lines[0], (name, lines[0])
    assert snapshot(folder) == before  # inputs byte-identical, nothing written beside them
    return lines[0]


def dub_refused(tmp_path: Path, timeline: Path, *named: str) -> str:
    out = tmp_path / "out"
    line = refused(["dub", timeline, "-o", out, "--no-cache", "-q"], tmp_path, *named)
    assert not out.exists()
    return line


# --------------------------------------------------------------------------- otio_dub metadata

def test_metadata_that_is_text_is_refused_naming_the_clip(tmp_path):
    dub_refused(tmp_path, hostile(tmp_path, meta="Hello there."), "dia_001", "otio_dub metadata", "'Hello there.'")


def test_metadata_that_is_a_list_is_refused_naming_the_clip(tmp_path):
    dub_refused(tmp_path, hostile(tmp_path, meta=["Hello there."]), "dia_001", "a list")


def test_text_that_is_not_text_is_never_spoken(tmp_path):
    """Today ``{'en': 'Hello'}`` is spoken, braces and all."""
    dub_refused(tmp_path, hostile(tmp_path, meta={"text": {"en": "Hello"}, "character": "ANNA"}),
                "dia_001", "'text' is a table")


def test_character_that_is_not_text_is_refused(tmp_path):
    dub_refused(tmp_path, hostile(tmp_path, meta={"text": "Hello.", "character": ["ANNA"]}), "dia_001", "'character'")


def test_nul_in_the_text_is_refused(tmp_path):
    path = hostile(tmp_path, meta={"text": "Hello NULthere.", "character": "ANNA"}, edits=(("NUL", "\\u0000"),))
    dub_refused(tmp_path, path, "dia_001", "U+0000")


def test_nul_in_a_character_name_is_refused_not_truncated(tmp_path):
    """Today ``ANNA\\0X`` becomes ``ANNA`` somewhere on the way to the track names."""
    path = hostile(tmp_path, meta={"text": "Hello.", "character": "ANNANULX"}, edits=(("NUL", "\\u0000"),))
    dub_refused(tmp_path, path, "dia_001", "U+0000", "'character'")


def test_nul_in_a_script_character_is_refused(tmp_path):
    timeline = hostile(tmp_path, meta={"dialogue": True})
    script = tmp_path / "cut.srt"
    script.write_bytes(b"1\n00:00:00,000 --> 00:00:01,500\nANNA\x00X: Hello there.\n")
    refused(["dub", timeline, "--script", script, "-o", tmp_path / "out", "--no-cache", "-q"], tmp_path, "U+0000")


# --------------------------------------------------------------------------- clocks and lengths

def test_a_clip_with_no_length_is_refused_naming_it(tmp_path):
    """A shot with no source range and no available range: today a traceback from timeline.duration()."""
    dub_refused(tmp_path, hostile(tmp_path, unranged_video=True), "'shot'", "length is unknown")


def test_a_dialogue_clip_with_no_length_is_refused_naming_it(tmp_path):
    dub_refused(tmp_path, hostile(tmp_path, ranged=False), "dia_001", "length is unknown")


@pytest.mark.parametrize("rate", ["0", "NaN", "-25", "1e9"])
def test_a_rate_that_is_no_rate_is_refused(tmp_path, rate):
    path = hostile(tmp_path, edits=(('"rate": 25.0', f'"rate": {rate}'),))
    dub_refused(tmp_path, path, "rate")


def test_a_negative_start_timecode_is_refused(tmp_path):
    """Today the bext TimeReference overflows after the takes are spoken, leaving partial files."""
    dub_refused(tmp_path, hostile(tmp_path, start=-100), "negative", "00:00:00:00")


def test_a_clip_of_a_billion_frames_is_refused_at_once(tmp_path):
    """Today: a 7 TiB allocation."""
    dub_refused(tmp_path, hostile(tmp_path, frames=10**9), "dia_001", "11,111 hours", "24 hours")


def test_a_ten_thousand_hour_gap_is_refused_at_once(tmp_path):
    """Today: no answer after 150 s."""
    dub_refused(tmp_path, hostile(tmp_path, gap=10_000 * 3600 * 25), "gap 1 on track 'DIA'", "10,000 hours")


def test_a_line_longer_than_half_an_hour_is_refused(tmp_path):
    dub_refused(tmp_path, hostile(tmp_path, frames=31 * 60 * 25), "dia_001", "31 minutes", "30 minutes", "01:00:00:00")


def test_timeline_errors_name_the_file(tmp_path):
    dub_refused(tmp_path, hostile(tmp_path, start=-100), str(tmp_path / "cut.otio"))


def test_clip_errors_name_the_file_and_the_clip(tmp_path):
    dub_refused(tmp_path, hostile(tmp_path, meta="Hello there."), str(tmp_path / "cut.otio"), "dia_001")


def test_no_dialogue_lines_names_the_file_not_the_sequence(tmp_path):
    path = hostile(tmp_path, meta={"dialogue": True})  # a dialogue clip waiting for its line
    dub_refused(tmp_path, path, str(path), "no dialogue lines")


# --------------------------------------------------------------------------- a dub to conform and cache

@pytest.fixture(scope="module")
def first_dub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two lines dubbed once with a render cache: ``root/cut.otio``, ``root/d1``, ``root/cache``."""
    root = tmp_path_factory.mktemp("hostile-dub")
    timeline = otio.schema.Timeline("cut", global_start_time=RT(90000, 25))
    track = otio.schema.Track("DIA", kind=otio.schema.TrackKind.Audio)
    for n, (text, who) in enumerate((("Hello there.", "ANNA"), ("See you.", "MARCUS")), 1):
        track.append(otio.schema.Clip(f"dia_{n:03d}", source_range=TR(RT(90000 + 75 * n, 25), RT(50, 25)),
                                      metadata={"otio_dub": {"text": text, "character": who}}))
        track.append(otio.schema.Gap(source_range=TR(duration=RT(25, 25))))
    timeline.tracks.append(track)
    otio.adapters.write_to_file(timeline, str(root / "cut.otio"))
    result = CliRunner().invoke(main, ["dub", str(root / "cut.otio"), "-o", str(root / "d1"),
                                       "--cache", str(root / "cache"), "-q"])
    assert result.exit_code == 0, result.output
    return root


def _copy(first_dub: Path, tmp_path: Path) -> Path:
    for name in ("cut.otio", "d1", "cache"):
        src = first_dub / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, tmp_path / name)
    return tmp_path


TAMPERS = {
    "placed is text": lambda meta: meta.update(placed="01:00:03:00"),
    "placed frame is NaN": lambda meta: meta["placed"].update(record_in=float("nan")),
    "placed frame is huge": lambda meta: meta["placed"].update(clip_out=10**30),
    "identity is a list": lambda meta: meta.update(identity=["media.wav", 3]),
    "identity has no media": lambda meta: meta.update(identity={"source_in": 3}),
    "text is a table": lambda meta: meta.update(text={"en": "Hello"}),
    "record out before in": lambda meta: meta["placed"].update(record_out=meta["placed"]["record_in"] - 1),
    "key is a path": lambda meta: meta.update(key="../../../../etc/passwd"),
}


@pytest.mark.parametrize("tamper", list(TAMPERS))
def test_a_tampered_dub_given_to_conform_is_refused_naming_it(first_dub, tmp_path, tamper):
    root = _copy(first_dub, tmp_path)
    old = root / "d1" / "cut.dub.otio"
    doc = json.loads(old.read_text(encoding="utf-8"))

    def dub_clips(node: object):
        if isinstance(node, dict):
            if node.get("OTIO_SCHEMA", "").startswith("Clip") and node.get("metadata", {}).get("otio_dub", {}).get("placed"):
                yield node
            for value in node.values():
                yield from dub_clips(value)
        elif isinstance(node, list):
            for value in node:
                yield from dub_clips(value)

    clip = next(dub_clips(doc))
    TAMPERS[tamper](clip["metadata"]["otio_dub"])
    old.write_text(json.dumps(doc), encoding="utf-8")  # NaN as JSON's NaN, as a hand edit would leave it
    refused(["conform", old, root / "cut.otio", "-o", root / "d2", "--no-cache", "-q"], root,
            str(old), f"dub clip {clip['name']!r}")
    assert not (root / "d2").exists()


@pytest.mark.parametrize("new_name", ["cut", "cut_v2"])
def test_conform_never_replaces_its_own_input(first_dub, tmp_path, new_name):
    """``conform d1/cut.dub.otio cut.otio -o d1``: today the new dub overwrites (or drops) its input."""
    root = _copy(first_dub, tmp_path)
    if new_name != "cut":
        shutil.copy2(root / "cut.otio", root / f"{new_name}.otio")
    old = root / "d1" / "cut.dub.otio"
    refused(["conform", old, root / f"{new_name}.otio", "-o", root / "d1", "--cache", root / "cache", "-q"], root,
            str(old), "another folder")


# --------------------------------------------------------------------------- the render cache

def _rows(cache: Path) -> dict[str, str]:
    db = sqlite3.connect(cache / "index.sqlite")
    try:
        return dict(db.execute("SELECT key, meta FROM takes").fetchall())
    finally:
        db.close()


def _set_meta(cache: Path, key: str, meta: dict) -> None:
    db = sqlite3.connect(cache / "index.sqlite")
    with db:
        db.execute("UPDATE takes SET meta = ? WHERE key = ?", (json.dumps(meta), key))
    db.close()


def _redub(root: Path) -> tuple[str, Path]:
    result = CliRunner().invoke(main, [str(a) for a in ("dub", root / "cut.otio", "-o", root / "d2", "--cache", root / "cache")])
    assert result.exit_code == 0, result.output
    return result.output, root / "d2"


def _same_dub(a: Path, b: Path) -> None:
    for name in ("media", "stems"):
        assert snapshot(a / name) == snapshot(b / name)
    rows = [json.loads((d / "report.json").read_text())["lines"] for d in (a, b)]
    assert rows[0] == rows[1]


def test_a_cached_take_of_the_wrong_length_is_rendered_again(first_dub, tmp_path):
    root = _copy(first_dub, tmp_path)
    key = json.loads((root / "d1" / "report.json").read_text())["lines"][0]["key"]
    path = root / "cache" / "objects" / key[:2] / f"{key}.npy"
    np.save(path, np.load(path)[:1000])  # a valid array, just not the take its plan describes
    output, d2 = _redub(root)
    assert "1 synthesized" in output and "1 cache" in output
    _same_dub(root / "d1", d2)
    assert np.load(path).size == json.loads(_rows(root / "cache")[key])["plan"]["media_samples"]


@pytest.mark.parametrize("where", ["plan", "report", "entry"])
def test_a_cache_row_with_unknown_fields_is_rendered_again(first_dub, tmp_path, where):
    """Today an unknown plan field is a TypeError traceback from FitPlan(**plan); an unknown report
    field (``text``, say) would reach report.json over the line's own."""
    root = _copy(first_dub, tmp_path)
    key = json.loads((root / "d1" / "report.json").read_text())["lines"][0]["key"]
    meta = json.loads(_rows(root / "cache")[key])
    {"plan": meta["plan"], "report": meta["report"], "entry": meta}[where]["text"] = "not what was said"
    _set_meta(root / "cache", key, meta)
    output, d2 = _redub(root)
    assert "1 synthesized" in output
    _same_dub(root / "d1", d2)
    assert "text" not in json.loads(_rows(root / "cache")[key])["plan"]


def test_dub_refuses_a_cache_folder_that_is_someone_elses(first_dub, tmp_path):
    root = _copy(first_dub, tmp_path)
    project = root / "project"
    (project / "objects").mkdir(parents=True)
    (project / "notes.txt").write_text("mine", encoding="utf-8")
    refused(["dub", root / "cut.otio", "-o", root / "d2", "--cache", project, "-q"], root, str(project), "CACHEDIR.TAG")
    assert not (root / "d2").exists()


def test_a_cache_carries_a_cachedir_tag(first_dub):
    tag = (first_dub / "cache" / "CACHEDIR.TAG").read_text(encoding="utf-8")
    assert tag.startswith("Signature: 8a477f597d28d172789f06886806bc55") and "otio-dub" in tag


def _git_like(folder: Path) -> Path:
    """A folder shaped like a git repository's: objects/pack files, aged past the orphan grace."""
    (folder / "objects" / "pack").mkdir(parents=True)
    (folder / "objects" / "ab").mkdir()
    for path in (folder / "objects" / "pack" / "pack-1.pack", folder / "objects" / "ab" / "cdef.npy",
                 folder / "HEAD"):
        path.write_bytes(b"precious")
        os.utime(path, (1e9, 1e9))
    return folder


@pytest.mark.parametrize("args", [["prune", "--all"], ["prune", "--older-than", "1d"], ["info"]])
def test_cache_commands_refuse_a_folder_that_is_not_a_cache(tmp_path, args):
    """Today ``cache prune --all --cache .git`` deletes pack files, and ``cache info`` creates an index."""
    repo = _git_like(tmp_path / "repo")
    refused(["cache", *args, "--cache", repo], tmp_path, str(repo), "not an otio-dub render cache")
    assert sorted(p.name for p in repo.iterdir()) == ["HEAD", "objects"]


def test_cache_info_creates_nothing(tmp_path):
    missing = tmp_path / "never-made"
    result = CliRunner().invoke(main, ["cache", "info", "--cache", str(missing)])
    assert result.exit_code == 0 and "Takes:   0" in result.output
    assert not missing.exists()


def test_cache_info_on_a_cache_creates_nothing(first_dub, tmp_path):
    root = _copy(first_dub, tmp_path)
    before = sorted(p.name for p in (root / "cache").iterdir())
    result = CliRunner().invoke(main, ["cache", "info", "--cache", str(root / "cache")])
    assert result.exit_code == 0 and "Takes:   2" in result.output, result.output
    assert sorted(p.name for p in (root / "cache").iterdir()) == before  # no -wal, no -shm


def test_a_cache_write_that_hits_the_file_size_limit_names_the_file(first_dub, tmp_path):
    """RLIMIT_FSIZE: writes past 64 kB fail with EFBIG (Python ignores SIGXFSZ). The first big file a
    dub writes is a take in the cache: the one line names it, not just the cache folder."""
    resource = pytest.importorskip("resource")
    root = _copy(first_dub, tmp_path)
    shutil.rmtree(root / "cache")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (64_000, 64_000))

    proc = subprocess.run([sys.executable, "-m", "otio_dub", "dub", str(root / "cut.otio"), "-o", str(root / "d2"),
                           "--cache", str(root / "cache"), "-q"], capture_output=True, text=True, preexec_fn=limit,
                          timeout=600)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    assert str(root / "cache" / "objects") in lines[0] and ".npy:" in lines[0] and "file too large" in lines[0]
    assert not list((root / "cache" / "objects").glob("*/*.part"))  # its temporary is not left behind


# --------------------------------------------------------------------------- the read hook

@pytest.mark.parametrize("case", ["metadata is text", "negative start", "clip with no length"])
def test_the_tagging_hook_never_makes_a_read_fail(tmp_path, case, monkeypatch):
    """Every OTIO read runs otio-dub's tagging hook: a file otio-dub would refuse to dub must still
    read, for every other tool, with its metadata as it was. Today a text ``otio_dub`` value makes
    ``otio.adapters.read_from_file`` raise HookError (ValueError from ``dict('Hello')``)."""
    monkeypatch.delenv("OTIO_DUB_TAG_DIALOGUE", raising=False)
    path = {"metadata is text": lambda: hostile(tmp_path, meta="Hello there."),
            "negative start": lambda: hostile(tmp_path, start=-100),
            "clip with no length": lambda: hostile(tmp_path, unranged_video=True)}[case]()
    timeline = otio.adapters.read_from_file(str(path))
    clip = next(c for c in timeline.find_clips() if c.name == "dia_001")
    expected = "Hello there." if case == "metadata is text" else GOOD
    assert clip.metadata["otio_dub"] == expected


def test_control_characters_are_unicodes_own():
    """The control-character check is a regular expression (speed): it must find exactly Unicode's
    Cc and Cs characters that are not white space, in every plane, and the first of them."""
    import unicodedata

    from otio_dub.dialogue.limits import control_character

    def by_definition(char: str) -> bool:
        return unicodedata.category(char) in ("Cc", "Cs") and not char.isspace()

    wrong = [code for code in range(0x110000) if (control_character(chr(code)) is not None) != by_definition(chr(code))]
    assert wrong == []
    assert control_character("Line\t one\r\n\x1c\x85 fine") is None  # white space, however odd, is not refused
    assert control_character("a\x07b\x00") == "U+0007" and control_character("x\ud800") == "U+D800"


def test_an_edl_recorded_past_24_hours_is_refused_in_one_line(tmp_path):
    """An EDL's programme start comes from its record timecodes after it is read: it is checked too
    (a dub must not plan 30:00:00:00 and wrap its timecodes to 06:00:00:00)."""
    import otio_dub
    from otio_dub.core.errors import InputError

    edl = tmp_path / "late.edl"
    edl.write_text("TITLE: LATE\nFCM: NON-DROP FRAME\n\n"
                   "001  AX       A     C        00:00:00:00 00:00:02:00 30:00:00:00 30:00:02:00\n"
                   "* FROM CLIP NAME: dia_001\n", encoding="utf-8")
    srt = tmp_path / "late.srt"
    srt.write_text("1\n00:00:00,100 --> 00:00:01,500\nANNA: Hello there.\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"late\.edl.*24:00:00:00"):
        otio_dub.dub(edl, script=srt, out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- the file system's own limits


def test_a_character_name_too_long_for_a_file_name_names_the_file(first_dub, tmp_path):
    """A 260-character name makes a line id no file system takes: the one line names the line's media
    file (with the id in it), not just the output folder; the previous dub in that folder is kept."""
    root = _copy(first_dub, tmp_path)
    name = "X" * 260
    text = (root / "cut.otio").read_text(encoding="utf-8").replace('"ANNA"', json.dumps(name))
    (root / "long.otio").write_text(text, encoding="utf-8")
    before = snapshot(root / "d1")
    result = CliRunner().invoke(main, ["dub", str(root / "long.otio"), "-o", str(root / "d1"),
                                       "--cache", str(root / "cache"), "-q"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"Error: {root / 'd1' / 'media'}/") and name in line and line.endswith(".wav: cannot write (File name too long)"), line
    assert snapshot(root / "d1") == before


_HOST = """import signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # a host that never ignored it (an NLE's embedded Python)
from otio_dub.cli import main
main(sys.argv[1:])
"""


def test_a_file_size_limit_stops_the_dub_in_one_line_and_keeps_the_last_dub(first_dub, tmp_path):
    """Under ``ulimit -f`` (600 kB: the take and its media fit, a stem does not) one line names the stem, nothing is killed by SIGXFSZ
    (even where the host left the signal's default), and the previous dub stays whole."""
    resource = pytest.importorskip("resource")
    root = _copy(first_dub, tmp_path)
    text = (root / "cut.otio").read_text(encoding="utf-8").replace("Hello there.", "Hello again, both of you.")
    (root / "cut.otio").write_text(text, encoding="utf-8")  # a new line: new media and stems to write
    before = snapshot(root / "d1")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (600_000, 600_000))

    proc = subprocess.run([sys.executable, "-c", _HOST, "dub", str(root / "cut.otio"), "-o", str(root / "d1"),
                           "--cache", str(root / "cache"), "-q"],
                          capture_output=True, text=True, preexec_fn=limit, timeout=600)
    assert proc.returncode == 1, (proc.returncode, proc.stderr)  # -25 would be SIGXFSZ
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"Error: {root / 'd1'}/") and ".wav: cannot write (File too large)" in line, line
    assert snapshot(root / "d1") == before
