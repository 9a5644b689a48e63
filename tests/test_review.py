"""The review page of the demo dub, opened in a real headless Chromium (Debian's, driven by Playwright).

One real dub of samples/scene.otio + scene.ass (espeak) per module, with original French dialogue
media under the DIA clips so the page can A/B. The page must load without console errors, draw
one block per line where the .dub.otio puts it, filter, play takes and originals, and export
notes that `otio-dub notes` accepts and turns into markers.
"""

from __future__ import annotations

import json
import shutil
import struct
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import opentimelineio as otio
import pytest
import soundfile as sf

import otio_dub
from otio_dub.audio import dsp
from otio_dub.core.timebase import frames_of
from otio_dub.dialogue.lines import timebase_of
from otio_dub.engines import VoiceSpec, get_engine
from otio_dub.review import apply_notes, write_review
from otio_dub.timelines.formats import write_timeline

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--autoplay-policy=no-user-gesture-required", "--mute-audio"]


def scene_with_originals(folder: Path) -> Path:
    """samples/scene.otio copied into ``folder`` with French speech as each DIA clip's media."""
    timeline = otio.adapters.read_from_file(str(ROOT / "samples" / "scene.otio"))
    engine = get_engine("espeak")
    (folder / "media").mkdir(parents=True)
    dia = next(t for t in timeline.tracks if t.name == "DIA")
    for clip in dia.find_clips():
        rng = clip.source_range
        seconds = rng.duration.to_seconds()
        take = engine.synthesize(f"Voici la réplique {clip.name[-3:]}", VoiceSpec(lang="fr"))
        speech = dsp.trim(dsp.resample(take.audio, take.sample_rate, 44100), 44100)[: int(seconds * 44100) - 4410]
        audio = np.zeros(int(round(seconds * 44100)), np.float32)
        audio[2205: 2205 + speech.size] = speech  # 50 ms in
        sf.write(folder / "media" / f"{clip.name}_fr.wav", audio, 44100, subtype="PCM_16")
        clip.media_reference.available_range = otio.opentime.TimeRange(rng.start_time, rng.duration)  # the file is the clip
    path = folder / "scene.otio"
    otio.adapters.write_to_file(timeline, str(path))
    return path


@pytest.fixture(scope="module")
def dub_dir(tmp_path_factory) -> Path:
    """The demo dubbed once: the dub itself writes review.html and the originals under each line."""
    base = tmp_path_factory.mktemp("review")
    src, out = base / "src", base / "dub"
    src.mkdir()
    path = scene_with_originals(src)
    otio_dub.dub(path, script=ROOT / "samples" / "scene.ass", out_dir=out)
    return out


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, dub_dir):
    """The demo's page in a fresh browser profile (empty localStorage), console errors collected."""
    context = browser.new_context(viewport={"width": 1500, "height": 950}, accept_downloads=True)
    pg = context.new_page()
    pg.errors = []
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.goto((dub_dir / "review.html").as_uri())
    pg.wait_for_selector("html[data-ready]")
    yield pg
    context.close()


def _report(dub_dir: Path) -> dict:
    return json.loads((dub_dir / "report.json").read_text(encoding="utf-8"))


def test_every_dub_writes_its_review_page_and_the_originals_it_plays(dub_dir):
    report = _report(dub_dir)
    assert (dub_dir / "review.html").is_file()
    for row in report["lines"]:
        audio, rate = sf.read(dub_dir / "review" / "orig" / f"{row['id']}.wav", dtype="float32")
        assert rate == 48000 and abs(audio.size / rate - row["target_s"]) < 0.001
        assert 0.05 < np.abs(audio).max() <= 1.0  # the French speech under the line, not silence


def test_page_is_self_contained_and_loads_without_console_errors(page, dub_dir, tmp_path_factory):
    html = (dub_dir / "review.html").read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html  # no CDN, nothing fetched
    assert "<script src" not in html and "<link" not in html
    assert str(dub_dir) not in html  # media relative to the page: the folder can move
    report = _report(dub_dir)
    assert page.inner_text("#programme") == "scene"
    assert "23.976 fps" in page.inner_text("#facts") and "01:00:00:00" in page.inner_text("#facts")
    for stem in report["stems"]["files"]:
        assert stem in page.inner_text("#stems")
    assert "target -27" in page.inner_text("#loud-target")
    for status, count in report["summary"].items():
        if status != "lines":
            assert f"{status} {count}" in page.inner_text("#counts")
    # waveform thumbnails: each take's envelope, drawn into the sprite every row shows its tile of
    from otio_dub.review.peaks import encode_peaks

    peaks = page.evaluate("() => otioDubReview.data.lines.map(l => l.peaks)")
    for row, drawn in zip(report["lines"], peaks, strict=True):
        assert drawn == encode_peaks(sf.read(dub_dir / row["media"], dtype="float32")[0])
    page.wait_for_function("() => getComputedStyle(document.querySelector('.row .wave')).backgroundImage.startsWith('url(\"blob:')")
    shot = tmp_path_factory.mktemp("review-screenshot") / "review.png"
    page.screenshot(path=str(shot))
    width, height = struct.unpack(">II", shot.read_bytes()[16:24])  # PNG IHDR
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (width, height) == (1500, 950)
    print(f"screenshot: {shot}")
    assert page.errors == []


def _blocks(page) -> list[dict]:
    return page.evaluate("""() => {
        const view = document.querySelector('#strip-view').getBoundingClientRect();
        return [...document.querySelectorAll('#lanes rect.block')].map(r => {
            const b = r.getBoundingClientRect();
            return {i: +r.dataset.i, left: b.left - view.left, width: b.width,
                    lane: r.ownerSVGElement.dataset.lane, laneTop: r.ownerSVGElement.getBoundingClientRect().top};
        });
    }""")


def test_strip_has_one_block_per_line_at_its_record_position(page, dub_dir):
    report = _report(dub_dir)
    timeline = otio.adapters.read_from_file(str(dub_dir / "scene.dub.otio"))
    rate = timeline.global_start_time.rate
    placed, lane_names = {}, {}
    for track in timeline.tracks:
        if track.name.startswith("DUB "):
            for clip in track.find_clips():
                rng = clip.transformed_time_range(clip.trimmed_range(), timeline.tracks)
                placed[clip.name] = frames_of(rng.start_time, timebase_of(timeline).rate)
                lane_names[clip.name] = track.name
    lanes = page.eval_on_selector_all("#lane-names div", "els => els.map(e => e.textContent)")
    assert lanes[: len(report["tracks"])] == report["tracks"] and lanes[-1] == "DIA"
    for zoom in (None, "#zoom-in", "#zoom-in"):
        if zoom:
            page.click(zoom)
        state = page.evaluate("() => ({ppf: otioDubReview.state.ppf, start: otioDubReview.state.viewStart})")
        blocks = _blocks(page)
        assert len(blocks) == len(report["lines"])
        for block in blocks:
            row = report["lines"][block["i"]]
            expected = (placed[row["id"]] - state["start"]) * state["ppf"]
            assert abs(block["left"] - expected) <= 1.0, (row["id"], block["left"], expected)
            assert lanes[int(block["lane"])] == lane_names[row["id"]]
    assert rate > 0 and state["ppf"] > page.evaluate("() => otioDubReview.state.viewWidth") / report["duration_frames"]
    assert page.errors == []


def test_filters_change_the_row_count(page, dub_dir):
    report = _report(dub_dir)
    total = len(report["lines"])
    assert page.locator("#rows-inner .row").count() == total
    assert page.inner_text("#row-count") == f"{total} of {total} lines"
    page.uncheck("#status-filter input[value=fit]")
    not_fit = sum(r["status"] != "fit" for r in report["lines"])
    assert page.locator("#rows-inner .row").count() == not_fit
    assert page.inner_text("#row-count") == f"{not_fit} of {total} lines"
    assert page.locator("#lanes rect.block.dim").count() == total - not_fit  # the strip dims what is filtered out
    page.check("#status-filter input[value=fit]")
    page.select_option("#character-filter", "ANNA")
    assert page.locator("#rows-inner .row").count() == sum(r["character"] == "ANNA" for r in report["lines"])
    page.select_option("#character-filter", "")
    page.fill("#search", "midnight")
    assert page.locator("#rows-inner .row").count() == sum("midnight" in r["text"] for r in report["lines"]) == 1
    assert page.errors == []


def _player(page) -> dict:
    return page.evaluate("() => { const a = document.querySelector('#player');"
                         " return {src: a.src, paused: a.paused, time: a.currentTime, error: a.error && a.error.code}; }")


def _wait_playing(page) -> dict:
    page.wait_for_function("() => { const a = document.querySelector('#player'); return !a.paused && a.currentTime > 0.05; }",
                           timeout=10000)
    return _player(page)


def test_clicking_a_line_plays_its_take(page, dub_dir):
    report = _report(dub_dir)
    page.click("#rows-inner .row[data-i='2']")
    state = _wait_playing(page)
    path = Path(unquote(urlparse(state["src"]).path))
    assert path == dub_dir / report["lines"][2]["media"] and path.is_file()
    assert state["error"] is None
    assert page.locator("#rows-inner .row.sel").get_attribute("data-i") == "2"
    assert "sel" in page.get_attribute("#lanes rect.block[data-i='2']", "class")
    # the playhead follows the take from the line's record-in
    frame = page.evaluate("() => otioDubReview.state.playFrame")
    record_in = page.evaluate("() => otioDubReview.data.lines[2].in")
    assert record_in < frame < page.evaluate("() => otioDubReview.data.lines[2].clipOut") + 1
    page.keyboard.press("k")
    assert _player(page)["paused"]
    assert page.errors == []


def test_ab_plays_the_original_under_the_line_and_keys_move_between_lines(page, dub_dir):
    page.click("#lanes rect.block[data-i='0']")
    _wait_playing(page)
    page.keyboard.press("a")
    state = _wait_playing(page)
    orig = Path(unquote(urlparse(state["src"]).path))
    assert orig == dub_dir / "review" / "orig" / "001-ANNA.wav" and orig.is_file()
    audio, rate = sf.read(orig)
    window = _report(dub_dir)["lines"][0]["target_s"]
    assert rate == 48000 and abs(audio.size / rate - window) < 0.001 and np.abs(audio).max() > 0.05
    page.keyboard.press("a")  # back to the take
    assert _wait_playing(page)["src"].endswith("media/001-ANNA.wav")
    page.keyboard.press("ArrowDown")  # the next line plays while playing
    assert _wait_playing(page)["src"].endswith("media/002-MARCUS.wav")
    page.keyboard.press("l")  # L again: faster; J: back
    assert page.evaluate("() => document.querySelector('#player').playbackRate") == 1.5
    before = _player(page)["time"]
    page.keyboard.press("j")
    assert _player(page)["time"] < before
    page.keyboard.press(" ")
    assert _player(page)["paused"]
    page.keyboard.press("l")  # L from a stop plays at normal speed
    assert _wait_playing(page)["src"].endswith("media/002-MARCUS.wav")
    assert page.evaluate("() => document.querySelector('#player').playbackRate") == 1
    page.keyboard.press("k")
    page.keyboard.press("ArrowUp")
    assert page.locator("#rows-inner .row.sel").get_attribute("data-i") == "0"
    page.keyboard.press("d")  # DIALOGUE from the playhead (the selected line's record-in)
    state = _wait_playing(page)
    assert state["src"].endswith("stems/DIALOGUE.wav")
    assert state["time"] >= 1.0  # 001-ANNA starts a second in
    assert page.errors == []


def test_timecode_ruler_labels_are_the_timelines_timecode(page):
    labels = page.evaluate("() => [0, 1, 23, 24, 959].map(f => otioDubReview.tc(f))")
    assert labels == ["01:00:00:00", "01:00:00:01", "01:00:00:23", "01:00:01:00", "01:00:39:23"]


def test_notes_export_is_accepted_by_otio_dub_notes(page, dub_dir, tmp_path):
    page.click("#rows-inner .row[data-i='7']")  # 008-ANNA, the overrun
    page.click("#d-redo")
    page.fill("#d-comment", "shorten: drop 'twelve kilometres'")
    page.click("#rows-inner .row[data-i='0']")
    page.keyboard.press("1")  # approve
    assert page.inner_text("#notes-count").startswith("1 approved, 1 to redo")
    with page.expect_download() as download:
        page.click("#export")
    assert download.value.suggested_filename == "review-notes.json"
    notes_file = tmp_path / "review-notes.json"
    download.value.save_as(notes_file)
    doc = json.loads(notes_file.read_text(encoding="utf-8"))
    assert doc["redo"] == ["008-ANNA"] and doc["approved"] == ["001-ANNA"] and doc["timeline"] == "scene"

    work = tmp_path / "dub"
    shutil.copytree(dub_dir, work)
    tb = timebase_of(otio.adapters.read_from_file(str(work / "scene.dub.otio")))
    write_timeline(otio.adapters.read_from_file(str(work / "scene.dub.otio")), work, "scene", "xml", tb)  # an NLE export to update
    result = apply_notes(work, notes_file)
    assert result.redo == ["008-ANNA"] and result.approved == ["001-ANNA"] and result.only_lines == "008-ANNA"
    assert result.stale == []

    timeline = otio.adapters.read_from_file(str(work / "scene.dub.otio"))
    clips = {c.name: c for c in timeline.find_clips() if c.name in ("001-ANNA", "008-ANNA")}
    redo = [m for m in clips["008-ANNA"].markers if m.name.startswith("REDO")]
    assert [(m.name, m.color, m.comment) for m in redo] == [("REDO: shorten: drop 'twelve kilometres'", "RED",
                                                             "shorten: drop 'twelve kilometres'")]
    assert [(m.name, m.color) for m in clips["001-ANNA"].markers] == [("APPROVED", "GREEN")]
    assert any(m.name.startswith("OVERRUN") for m in clips["008-ANNA"].markers)  # otio-dub's own marker stays
    assert clips["008-ANNA"].metadata["otio_dub"]["review"]["verdict"] == "redo"

    xml = ET.parse(work / "scene.dub.xml").getroot()  # the FCP7 XML the NLE imports carries the markers too
    names = {clip.findtext("name"): [m.findtext("name") for m in clip.iter("marker")] for clip in xml.iter("clipitem")}
    assert "REDO: shorten: drop 'twelve kilometres'" in names["008-ANNA"] and "APPROVED" in names["001-ANNA"]

    again = apply_notes(work, notes_file)  # applying twice replaces, never stacks markers
    assert again.redo == ["008-ANNA"]
    timeline = otio.adapters.read_from_file(str(work / "scene.dub.otio"))
    marks = [m.name for c in timeline.find_clips() if c.name == "008-ANNA" for m in c.markers]
    assert sum(n.startswith("REDO") for n in marks) == 1
    assert page.errors == []


def test_a_rebuilt_page_shows_the_notes_from_the_timeline(browser, dub_dir, tmp_path):
    work = tmp_path / "dub"
    shutil.copytree(dub_dir, work)
    notes_file = tmp_path / "notes.json"
    notes_file.write_text(json.dumps({"redo": ["003-ANNA"]}), encoding="utf-8")  # a hand-written redo list
    apply_notes(work, notes_file)
    context = browser.new_context()
    pg = context.new_page()
    pg.goto((work / "review.html").as_uri())
    pg.wait_for_selector("html[data-ready]")
    assert pg.inner_text("#rows-inner .row[data-i='2'] > span:last-child").strip() == "redo"
    pg.select_option("#verdict-filter", "redo")
    assert pg.locator("#rows-inner .row").count() == 1
    context.close()


def test_notes_naming_a_line_not_in_the_dub_change_nothing(dub_dir, tmp_path):
    work = tmp_path / "dub"
    shutil.copytree(dub_dir, work)
    before = (work / "scene.dub.otio").read_bytes()
    notes_file = tmp_path / "notes.json"
    notes_file.write_text(json.dumps({"notes": [{"id": "099-NOBODY", "verdict": "redo"}]}), encoding="utf-8")
    with pytest.raises(otio_dub.OtioDubError, match=r"notes\.json: line\(s\) '099-NOBODY' not in scene\.dub\.otio"):
        apply_notes(work, notes_file)
    assert (work / "scene.dub.otio").read_bytes() == before


def test_drop_frame_timeline_shows_drop_frame_timecode(browser, tmp_path):
    """29.97 DF from 01:00:00;00: the page counts timecode exactly as otio-dub does, with ';'."""
    from fractions import Fraction

    from otio_dub.core.timebase import timecode

    rate = 30000 / 1001
    start = 107892  # 01:00:00;00 drop-frame
    rt = lambda f: otio.opentime.RationalTime(f, rate)  # noqa: E731
    timeline = otio.schema.Timeline("df", global_start_time=rt(start), metadata={"otio_dub": {"drop_frame": True}})
    track = otio.schema.Track("DIA", kind=otio.schema.TrackKind.Audio)
    track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=rt(1790))))
    track.append(otio.schema.Clip("dia", source_range=otio.opentime.TimeRange(rt(0), rt(60)),
                                  metadata={"otio_dub": {"text": "Across the minute.", "character": "ANNA"}}))
    timeline.tracks.append(track)
    out = tmp_path / "dub"
    otio_dub.dub(timeline, out_dir=out)
    write_review(out)
    context = browser.new_context()
    pg = context.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto((out / "review.html").as_uri())
    pg.wait_for_selector("html[data-ready]")
    frames = [start + f for f in (0, 1, 1798, 1799, 1800, 17982, 17983, 53946, 107891)]
    shown = pg.evaluate("fs => fs.map(f => otioDubReview.tcAbs(f))", frames)
    assert shown == [timecode(f, Fraction(30000, 1001), True) for f in frames]
    assert shown[4] == "01:01:00;02" and ";" in pg.inner_text("#facts")
    assert pg.inner_text("#rows-inner .row .tc >> nth=0") == "01:00:59;20"
    assert errors == []
    context.close()


def test_cli_review_and_notes(dub_dir, tmp_path):
    from click.testing import CliRunner

    from otio_dub.cli import main

    work = tmp_path / "dub"
    shutil.copytree(dub_dir, work)
    shutil.rmtree(work / "review")
    (work / "review.html").unlink()
    run = CliRunner().invoke(main, ["review", str(work), "--media-root", str(dub_dir.parent / "src")])
    assert run.exit_code == 0, run.output
    assert "Originals:   10 line(s)" in run.output and (work / "review.html").is_file()
    assert len(list((work / "review" / "orig").glob("*.wav"))) == 10

    notes = tmp_path / "review-notes.json"
    notes.write_text(json.dumps({"timeline": "scene", "notes": [
        {"id": "008-ANNA", "verdict": "redo", "comment": "too fast"}, {"id": "002-MARCUS", "verdict": "approve"}]}))
    run = CliRunner().invoke(main, ["notes", str(work), str(notes)])
    assert run.exit_code == 0, run.output
    assert "002-MARCUS  01:00:04:00  approve\n" in run.output and "008-ANNA    01:00:25:23  redo      too fast\n" in run.output
    assert "2 note(s): 1 approved, 1 to redo" in run.output and "--only-lines 008-ANNA" in run.output

    notes.write_text('{"notes": [{"id": "008-ANNA", "verdict": "redo"},]}')
    run = CliRunner().invoke(main, ["notes", str(work), str(notes)])
    assert run.exit_code == 1 and "Traceback" not in run.output
    assert run.output.strip().splitlines() == [f"Error: {notes}: not valid JSON (line 1 column 50: Expecting value)"]
    run = CliRunner().invoke(main, ["review", str(tmp_path)])
    assert run.exit_code == 1 and run.output.strip() == f"Error: {tmp_path}: not a dub folder (no report.json)"


def test_speed_chart_has_a_point_per_line_against_the_bounds(page, dub_dir):
    report = _report(dub_dir)
    points = page.evaluate("() => otioDubReview.chartPoints()")
    overruns = [r for r in report["lines"] if r["status"] == "overrun" and r["needed_speed"] > r["total_speed"]]
    assert len(points) == len(report["lines"]) + len(overruns)  # an overrun also shows what it needed
    dots = {i: (x, y) for x, y, i in points}  # the last point per line is its speed
    by_speed = sorted(range(len(report["lines"])), key=lambda i: report["lines"][i]["total_speed"])
    assert dots[by_speed[0]][1] > dots[by_speed[-1]][1]  # faster is higher
    assert [dots[i][0] for i in range(len(dots))] == sorted(dots[i][0] for i in range(len(dots)))  # in record order
    box = page.locator("#chart").bounding_box()
    x, y = dots[4]
    page.mouse.click(box["x"] + x, box["y"] + y)
    assert page.locator("#rows-inner .row.sel").get_attribute("data-i") == "4"
    assert page.errors == []


def test_page_shows_the_loudness_of_stems_rendered_again_into_the_dub(dub_dir, tmp_path):
    """`otio-dub stems DUB/scene.dub.otio -o DUB/stems` writes stems/stems.json: the page reads it, not the older report."""
    import os

    from otio_dub.review.data import page_data

    work = tmp_path / "dub"
    shutil.copytree(dub_dir, work)
    section = json.loads(json.dumps(_report(work)["stems"]))
    section["loudness"]["target_lkfs"] = -23.0
    for info in section["files"].values():
        info["path"] = Path(info["path"]).name  # stems.json paths are relative to its own folder
        info["integrated_lkfs"] = -23.0
    manifest = work / "stems" / "stems.json"
    manifest.write_text(json.dumps(section), encoding="utf-8")
    later = (work / "report.json").stat().st_mtime + 5
    os.utime(manifest, (later, later))
    stems = page_data(work)["stems"]
    assert stems["target"] == -23.0
    assert {(s["name"], s["path"], s["lkfs"]) for s in stems["files"]} == {
        (name, f"stems/{name}.wav", -23.0) for name in ("ANNA", "MARCUS", "NARRATOR", "DIALOGUE")}
