"""The dub's stages end to end: the same outputs from every executor; --only-lines re-speaks just those lines."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import otio_dub
from otio_dub.cli import main
from otio_dub.stages.deliver import STATE, deliver
from otio_dub.stages.options import DubOptions
from otio_dub.stages.place import place_lines
from otio_dub.stages.plan import plan_dub
from otio_dub.stages.render import render_lines


def snapshot(folder: Path) -> dict[str, str]:
    """Each file's hash; not the unchanged-dub note, which names the folder's own inodes (test_unchanged)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != STATE}


def test_the_stages_one_by_one_write_a_dub_folder(tmp_path, tools):
    plan = plan_dub(tools.SCENE_OTIO, tools.SCENE_ASS, tmp_path / "unused", DubOptions(review=False))
    assert [lj.line.id for lj in plan.jobs] == [line.id for line in plan.lines]
    assert len({lj.job.key for lj in plan.jobs}) == len(plan.jobs)  # every line its own cache key
    spool = tmp_path / "spool"
    spool.mkdir()
    rendered = render_lines(plan, spool=spool)
    assert all(r.source == "synthesized" and r.spooled.is_file() and r.fitted.media.size == 0 for r in rendered)
    placed = place_lines(plan, rendered)
    staging = tmp_path / "staging"
    staging.mkdir()
    result = deliver(plan, placed, staging)
    assert {"media", "stems", "report.json", "scene.dub.otio"} <= set(result.entries)
    assert sorted(p.name for p in (staging / "media").iterdir()) == sorted(f"{lj.line.id}.wav" for lj in plan.jobs)
    assert not any(spool.iterdir())  # every spooled take became line media


@pytest.mark.slow
@pytest.mark.parametrize("executor", [{"jobs": 2}, {"ray": "local", "jobs": 2}], ids=["jobs2", "ray"])
def test_every_executor_writes_byte_identical_dubs(tmp_path, tools, executor):
    if "ray" in executor:
        pytest.importorskip("ray")
    serial = otio_dub.dub(tools.SCENE_OTIO, tools.SCENE_ASS, tmp_path / "serial", DubOptions(jobs=1, review=False))
    other = otio_dub.dub(tools.SCENE_OTIO, tools.SCENE_ASS, tmp_path / "other", DubOptions(review=False, **executor))
    assert serial.takes == other.takes == {"synthesized": 10}
    assert snapshot(serial.out_dir) == snapshot(other.out_dir)


def test_only_lines_speaks_just_those_again(tmp_path, tools):
    ass = tools.SCENE_ASS.read_text(encoding="utf-8")
    changed = tmp_path / "scene.ass"
    changed.write_text(ass.replace("really you", "truly you").replace("Where were you?", "Where have you been?"),
                       encoding="utf-8")
    out, cache = tmp_path / "out", tmp_path / "cache"
    first = otio_dub.dub(tools.SCENE_OTIO, tools.SCENE_ASS, out, DubOptions(cache=cache, review=False))
    before = {r["id"]: r for r in first.lines}
    redo = next(r["id"] for r in first.lines if "really you" in r["text"])
    other = next(r["id"] for r in first.lines if "Where were you?" in r["text"])
    runner = CliRunner()
    result = runner.invoke(main, ["dub", str(tools.SCENE_OTIO), "--script", str(changed), "-o", str(out), "--cache",
                                  str(cache), "--only-lines", redo, "--no-review"])
    assert result.exit_code == 0, result.output
    assert f"{other} changed since the earlier dub but is not in --only-lines" in result.output
    rows = {r["id"]: r for r in json.loads((out / "report.json").read_text(encoding="utf-8"))["lines"]}
    assert rows[redo]["key"] != before[redo]["key"] and "truly you" in rows[redo]["text"]
    assert "Takes: 9 kept, 1 synthesized" in result.output, result.output
    for line_id, row in rows.items():  # every other take is the earlier one, even the changed line
        if line_id != redo:
            assert (row["natural_s"], row["speech_s"], row["passes"]) == \
                (before[line_id]["natural_s"], before[line_id]["speech_s"], before[line_id]["passes"])


def test_only_lines_names_an_unknown_line_and_needs_an_earlier_dub(tmp_path, tools):
    runner = CliRunner()
    result = runner.invoke(main, ["dub", str(tools.SCENE_OTIO), "--script", str(tools.SCENE_ASS), "-o",
                                  str(tmp_path / "none"), "--only-lines", "001-ANNA"])
    assert result.exit_code == 1 and "there is none in this folder" in result.output
    result = runner.invoke(main, ["dub", str(tools.SCENE_OTIO), "--script", str(tools.SCENE_ASS), "-o",
                                  str(tmp_path / "none"), "--only-lines", "999-NOBODY"])
    assert result.exit_code == 1 and "no line 999-NOBODY" in result.output


def test_a_warm_re_dub_links_what_the_previous_dub_made(tmp_path, tools, monkeypatch):
    """Nothing changed: every line media file and stem is linked from the dub already in the folder
    (same inode), nothing is mixed or measured, and the folder reads byte for byte as before. A media
    file damaged since is written again, the others still linked."""
    from otio_dub.audio.bwf import finish_line
    from otio_dub.delivery import stems as stems_module
    from otio_dub.stages import deliver as deliver_module

    out, options = tmp_path / "out", DubOptions(review=False, cache=str(tmp_path / "cache"))
    otio_dub.dub(tools.SCENE_OTIO, tools.SCENE_ASS, out, options)
    before = snapshot(out)
    inodes = {p.name: p.stat().st_ino for p in (out / "media").iterdir()}

    def refused(*args, **kwargs):
        raise AssertionError("made again although nothing changed")

    for module, name in ((deliver_module, "finish_line"), (stems_module, "render_stems"), (stems_module, "_measure_plan")):
        monkeypatch.setattr(module, name, refused)
    (out / STATE).unlink()  # not known unchanged (test_unchanged): dubbed, each file linked
    again = otio_dub.dub(tools.SCENE_OTIO, tools.SCENE_ASS, out, options)
    assert again.takes == {"cache": len(inodes)}
    assert snapshot(out) == before
    assert {p.name: p.stat().st_ino for p in (out / "media").iterdir()} == inodes

    damaged = out / "media" / sorted(inodes)[0]
    damaged.write_bytes(damaged.read_bytes()[:-3])  # a sample short: not the file the report describes
    written = []
    monkeypatch.setattr(deliver_module, "finish_line", lambda *a, **k: written.append(a[1].name) or finish_line(*a, **k))
    otio_dub.dub(tools.SCENE_OTIO, tools.SCENE_ASS, out, options)  # the stems' inputs are the same: still linked
    assert written == [damaged.name]
    assert snapshot(out) == before
    assert {p.name: p.stat().st_ino for p in (out / "media").iterdir() if p != damaged} == \
        {name: ino for name, ino in inodes.items() if name != damaged.name}



@pytest.mark.parametrize("damage", ["nan", "header"])
def test_a_cached_take_found_damaged_where_it_is_read_is_forgotten_with_one_line(tmp_path, tools, damage):
    """A warm dub links cached takes without opening them (their size is checked); the one that turns
    out to hold NaNs, or no readable take, when its line media is written stops the run with one line
    naming the line, writes nothing, and is forgotten, so the next run speaks that line again."""
    import numpy as np

    from otio_dub.core.errors import OtioDubError
    from otio_dub.store.cache import RenderCache

    options = DubOptions(review=False, cache=str(tmp_path / "cache"))
    first = otio_dub.dub(tools.SCENE_OTIO, tools.SCENE_ASS, tmp_path / "a", options)
    row = first.lines[3]
    store = RenderCache(tmp_path / "cache")
    path = store._path(row["key"])
    store.close()
    if damage == "nan":
        take = np.load(path)
        take[len(take) // 2] = np.nan
        np.save(path, take)
    else:  # same size, the header overwritten
        with path.open("r+b") as fh:
            fh.write(b"\x00" * 16)

    with pytest.raises(OtioDubError, match=rf"^{row['id']}: its take in the render cache .* was damaged .* forgotten"):
        otio_dub.dub(tools.SCENE_OTIO, tools.SCENE_ASS, tmp_path / "b", options)  # a new folder: every take is read
    assert not (tmp_path / "b").exists() and not path.exists()
    again = otio_dub.dub(tools.SCENE_OTIO, tools.SCENE_ASS, tmp_path / "b", options)
    assert again.takes == {"cache": len(first.lines) - 1, "synthesized": 1}
    assert snapshot(tmp_path / "b") == snapshot(tmp_path / "a")
