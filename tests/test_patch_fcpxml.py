"""The dub written into the editor's own FCPXML (1.8 to 1.11, and .fcpxmld bundles) by patching it.

Every input is dubbed through the API, then read with lxml, never through otio-dub's reader: with
otio-dub's stamped elements taken out, the output is the input element for element (tag,
attributes, text, whitespace, order); each dub clip sits on the storyline element under its line at
its record frame, its asset's media is the line's WAV at the right length; patching again, notes
applied twice and a conform of a re-cut keep all that; OTIO's FCPXML reader still reads the result.

DTD check: Apple's FCPXML DTDs are "Copyright Apple Inc. All rights reserved" (no licence to
redistribute), so they are not in this repository; the structural checks below cover what otio-dub
adds. To validate against them by hand, copy FCPXMLv1_8.dtd ... FCPXMLv1_11.dtd from Final Cut Pro
(Final Cut Pro.app/Contents/Frameworks/Interchange.framework/Versions/A/Resources/) into a folder and
run ``OTIO_DUB_FCPXML_DTDS=<folder> pytest tests/test_patch_fcpxml.py -k dtd`` (or
``xmllint --noout --dtdvalid FCPXMLv1_11.dtd <file>``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from fractions import Fraction
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import opentimelineio as otio
import pytest
from lxml import etree

import otio_dub
from otio_dub import DubOptions
from otio_dub.audio.bwf import read_bext, write_bwf
from otio_dub.core.errors import InputError
from otio_dub.core.timebase import frame_to_sample
from otio_dub.delivery.stems import StemOptions
from otio_dub.dialogue.lines import Line, timebase_of
from otio_dub.review import apply_notes
from otio_dub.stages.conform import conform
from otio_dub.timelines.apply import DubClip, add_dub_tracks
from otio_dub.timelines.formats import format_of, write_timeline
from otio_dub.timelines.media import wav_facts
from otio_dub.timelines.patch_fcpxml import patch
from otio_dub.timelines.timeline_io import read_timeline

DATA = Path(__file__).resolve().parent / "data"
STAMP = "com.otio-dub.stamp"
LONG = "This line is far too long to ever fit inside its tiny little window, however fast it is spoken."
#: the rich project starts at 01:00:00:00 (tcStart 3600s); its script counts from the programme start
RICH_EVENTS = [(2, 3.5, "ANNA: Hello there."), (9, 10, f"BOB: {LONG}"), (18, 19.2, "ANNA: Come here."),
               (27, 28, "BOB: See you."), (35, 36, "ANNA: Goodbye.")]
NTSC_EVENTS = [(1, 2.5, "ANNA: Hello there."), (5.5, 6.5, f"BOB: {LONG}"), (10, 12, "ANNA: Come here.")]
#: input -> (FCPXML version, script events (seconds from the programme start, 'WHO: text')): each event
#: lies on another kind of storyline element (clip, gap, ref-clip, asset-clip, sync-clip)
SOURCES = {
    "nle/fcpx_example.fcpxml": ("1.8", [(2, 3, "ANNA: Hello there."), (44, 45, "BOB: Come here."),
                                        (85, 86.2, "ANNA: See you."), (131, 132, f"BOB: {LONG}")]),
    "patch/fcpx_rich_1_11.fcpxml": ("1.11", RICH_EVENTS),
    "patch/fcpx_rich_1_10.fcpxmld": ("1.10", RICH_EVENTS),
    # 29.97 projects from 01:00:00;00 (DF) and 01:00:00:00 (NDF): lines on a clip, a gap and a clip
    "patch/fcpx_2997_df.fcpxml": ("1.10", NTSC_EVENTS),
    "patch/fcpx_2997_ndf.fcpxml": ("1.10", NTSC_EVENTS),
}
TIME = re.compile(r"^-?\d+(/\d+)?s$")
DTDS = os.environ.get("OTIO_DUB_FCPXML_DTDS")  # a folder holding Apple's FCPXMLv1_8.dtd ... FCPXMLv1_11.dtd
NO_STEMS = StemOptions(mode="none", loudness=None)


def srt(events: list[tuple[float, float, str]]) -> str:
    def stamp(seconds: float) -> str:
        ms = round(seconds * 1000)
        return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    return "\n".join(f"{n}\n{stamp(a)} --> {stamp(b)}\n{text}\n" for n, (a, b, text) in enumerate(events, 1))


def copy_input(source: Path, folder: Path) -> Path:
    target = folder / source.name
    (shutil.copytree if source.is_dir() else shutil.copyfile)(source, target)
    return target


def document(path: Path) -> Path:
    """The FCPXML document of a file or of an .fcpxmld bundle."""
    return path / "Info.fcpxml" if path.is_dir() else path


class Dubbed:
    """One input dubbed through the API: the copy it read, the result and the written FCPXML."""

    def __init__(self, key: str, work: Path) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.version, self.events = SOURCES[key]
        self.source = copy_input(DATA / key, work)
        script = work / "script.srt"
        script.write_text(srt(self.events), encoding="utf-8")
        self.options = DubOptions(stems=NO_STEMS, cache=work / "cache")
        self.result = otio_dub.dub(self.source, script=script, out_dir=work / "out", options=self.options)
        [self.written] = self.result.exports
        self.rate = Fraction(json.loads(self.result.report_path.read_text(encoding="utf-8"))["rate"])


@pytest.fixture(scope="module", params=sorted(SOURCES))
def dubbed(request, tmp_path_factory) -> Dubbed:
    return Dubbed(request.param, tmp_path_factory.mktemp(Path(request.param).stem))


# ---------------------------------------------------------------------------------------------
# reading FCPXML the way Final Cut does (lxml only)
# ---------------------------------------------------------------------------------------------


def seconds(value: str | None) -> Fraction:
    return Fraction(value.rstrip("s")) if value else Fraction(0)


def parse(path: Path) -> etree._ElementTree:
    return etree.parse(str(document(path)), etree.XMLParser(remove_blank_text=False, resolve_entities=False))


def stamped(root: etree._Element) -> list[etree._Element]:
    """otio-dub's elements: those carrying its metadata stamp."""
    return [el for el in root.iter() if any(md.get("key") == STAMP for md in el.findall("metadata/md"))]


def without_stamps(path: Path) -> tuple[etree._ElementTree, int]:
    """The tree of ``path`` with otio-dub's elements taken out (their whitespace given back), and how many."""
    tree = parse(path)
    found = stamped(tree.getroot())
    for element in found:
        previous, parent = element.getprevious(), element.getparent()
        if previous is not None:
            previous.tail = element.tail
        else:
            parent.text = element.tail
        parent.remove(element)
    return tree, len(found)


def elements(tree: etree._ElementTree) -> list[tuple]:
    """Every element in document order: (tag, attributes, text, tail)."""
    return [(el.tag, dict(el.attrib), el.text, el.tail) for el in tree.getroot().iter()]


def prolog(path: Path) -> bytes:
    data = document(path).read_bytes()
    return data[: data.index(b"<fcpxml")]


def dub_clips(root: etree._Element) -> dict[str, etree._Element]:
    clips = [el for el in stamped(root) if el.tag == "asset-clip"]
    names = [el.get("name") for el in clips]
    assert len(names) == len(set(names)), names
    return dict(zip(names, clips, strict=True))


def media_of(root: etree._Element, asset: etree._Element) -> Path:
    rep = asset.find("media-rep")
    url = asset.get("src") if rep is None else rep.get("src")
    parsed = urlparse(url)
    assert parsed.scheme == "file", url
    return Path(unquote(parsed.path))


def tc_frame(tc: str, rate: Fraction) -> int:
    return round(otio.opentime.from_timecode(tc, float(rate)).value)


# ---------------------------------------------------------------------------------------------
# 1. lossless: the input, element by element, plus otio-dub's stamped elements
# ---------------------------------------------------------------------------------------------


def check_lossless(original: Path, written: Path, lines: int, gaps: int = 0) -> None:
    before, (after, removed) = parse(original), without_stamps(written)
    assert removed == 2 * lines + gaps, f"{written.name}: {removed} stamped elements for {lines} lines"
    assert elements(after) == elements(before)
    assert etree.tostring(after, method="c14n") == etree.tostring(before, method="c14n")
    assert prolog(written) == prolog(original), "declaration, DOCTYPE and comments before the root kept as written"
    assert parse(written).docinfo.encoding == before.docinfo.encoding
    tail = [document(p).read_bytes() for p in (written, original)]
    assert tail[0][tail[0].rindex(b"</fcpxml>"):] == tail[1][tail[1].rindex(b"</fcpxml>"):]


def test_output_is_the_input_plus_the_dub(dubbed):
    name = dubbed.source.name.replace(dubbed.source.suffix, f".dub{dubbed.source.suffix}")
    assert dubbed.written == dubbed.result.out_dir / name
    assert format_of(dubbed.written) == format_of(dubbed.source)
    check_lossless(dubbed.source, dubbed.written, len(dubbed.result.lines))
    before, after = len(list(parse(dubbed.source).iter())), len(list(parse(dubbed.written).iter()))
    added = sum(len(list(el.iter())) for el in stamped(parse(dubbed.written).getroot()))
    assert after == before + added and added >= 6 * len(dubbed.result.lines)
    if dubbed.source.is_dir():  # the bundle's other files come along as they were
        assert (dubbed.written / "Data" / "tracker-1.dat").read_bytes() == (dubbed.source / "Data" / "tracker-1.dat").read_bytes()
        assert sorted(p.relative_to(dubbed.written) for p in dubbed.written.rglob("*")) == sorted(
            p.relative_to(dubbed.source) for p in dubbed.source.rglob("*"))


# ---------------------------------------------------------------------------------------------
# 2. dub clips at their frames, on the storyline element under them, media resolvable
# ---------------------------------------------------------------------------------------------


def check_placed(written: Path, rows: list[dict], rate: Fraction, media: Path) -> None:
    root = parse(written).getroot()
    clips = dub_clips(root)
    assert set(clips) == {row["id"] for row in rows}
    sequence = root.find("library/event/project/sequence")
    existing = [int(el.get("lane")) for el in sequence.iter() if el.get("lane") and el not in clips.values()]
    lanes = {}
    for row in rows:
        clip = clips[row["id"]]
        parent = clip.getparent()
        assert parent.getparent() == sequence.find("spine"), f"{row['id']} hangs on {parent.tag}, not a storyline item"
        assert parent.tag != "transition"
        at = seconds(parent.get("offset")) + seconds(clip.get("offset")) - seconds(parent.get("start"))
        assert at * rate == tc_frame(row["record_in"], rate), (row["id"], at, row["record_in"])
        assert seconds(parent.get("offset")) <= at <= seconds(parent.get("offset")) + seconds(parent.get("duration"))
        length = seconds(clip.get("duration")) * rate
        assert length == tc_frame(row["clip_out"], rate) - tc_frame(row["record_in"], rate), row["id"]
        lanes.setdefault(row["character"], set()).add(int(clip.get("lane")))
        assert clip.get("audioRole") == "dialogue"
        asset = root.find(f"resources/asset[@id='{clip.get('ref')}']")
        assert asset is not None and asset in stamped(root)
        wav = media_of(root, asset)
        assert wav == (media / f"{row['id']}.wav").resolve() and wav.is_file()
        facts = wav_facts(wav)
        assert seconds(asset.get("duration")) == Fraction(facts.frames, facts.sample_rate)
        assert (asset.get("audioRate"), asset.get("audioChannels"), asset.get("hasAudio"), asset.get("hasVideo")) == (
            str(facts.sample_rate), str(facts.channels), "1", "0")
        # the asset starts at its WAV's BWF time reference: the record frame's first sample
        start = Fraction(frame_to_sample(tc_frame(row["record_in"], rate), rate), 48000)
        assert seconds(asset.get("start")) == seconds(clip.get("start")) == start
        assert seconds(clip.get("start")) + seconds(clip.get("duration")) <= seconds(asset.get("start")) + seconds(
            asset.get("duration")) + 1 / rate
        markers = clip.findall("marker")
        if row["status"] in ("overrun", "borrowed"):
            [status] = [m for m in markers if m.get("value").startswith(row["status"].upper() + ":")]
            past = seconds(status.get("start")) - seconds(clip.get("start"))  # where the line's window ends
            assert past * rate == tc_frame(row["record_out"], rate) - tc_frame(row["record_in"], rate), row["id"]
            assert status.get("completed") == ("0" if row["status"] == "overrun" else None)
    assert all(len(found) == 1 for found in lanes.values()), lanes  # one lane per dub track
    used = [lane for found in lanes.values() for lane in found]
    assert len(set(used)) == len(used) and max(used) < min([0] + existing), (used, existing)


def test_dub_clips_sit_at_their_record_frames(dubbed):
    assert any(row["status"] == "overrun" for row in dubbed.result.lines)
    check_placed(dubbed.written, dubbed.result.lines, dubbed.rate, dubbed.result.out_dir / "media")


@pytest.mark.parametrize("key, labels", [
    ("patch/fcpx_2997_df.fcpxml", ["01:00:01;00", "01:00:05;15", "01:00:10;00"]),
    ("patch/fcpx_2997_ndf.fcpxml", ["01:00:01:00", "01:00:05:15", "01:00:10:00"]),
])
def test_a_2997_project_is_dubbed_from_its_start_timecode(key, labels, tmp_path):
    """A 29.97 project (DF and NDF) dubs end to end at 30000/1001: script times count from its tcStart,
    each clip lands on the storyline element under it, and the stems start at the programme start."""
    work = tmp_path / "work"
    work.mkdir()
    source = copy_input(DATA / key, work)
    script = work / "script.srt"
    script.write_text(srt(NTSC_EVENTS), encoding="utf-8")
    options = DubOptions(stems=StemOptions(mode="language", loudness=None), cache=work / "cache")
    result = otio_dub.dub(source, script=script, out_dir=work / "out", options=options)
    report = json.loads(result.report_path.read_text(encoding="utf-8"))
    assert Fraction(report["rate"]) == Fraction(30000, 1001)
    rows = sorted(result.lines, key=lambda row: row["id"])
    assert [row["record_in"] for row in rows] == labels
    [written] = result.exports
    check_placed(written, rows, Fraction(30000, 1001), result.out_dir / "media")
    clips = dub_clips(parse(written).getroot())
    assert [clips[row["id"]].getparent().get("name") for row in rows] == ["Scene_A", "Gap", "Scene_B"]
    start = 107892 if labels[0].count(";") else 108000
    assert result.stems
    for stem in result.stems.values():  # the programme's 510 frames from its first, no hour of silence before
        assert read_bext(stem).time_reference == frame_to_sample(start, Fraction(30000, 1001))
        assert wav_facts(stem).frames == frame_to_sample(510, Fraction(30000, 1001))


# ---------------------------------------------------------------------------------------------
# 3. idempotence: a patched file patched again is the same file
# ---------------------------------------------------------------------------------------------


def test_patching_the_patched_file_gives_the_same_file(dubbed, tmp_path):
    out = dubbed.result.out_dir
    timeline = otio.adapters.read_from_file(str(dubbed.result.timeline_path))
    tb = timebase_of(timeline)
    again, fresh = tmp_path / "again.fcpxml", tmp_path / "fresh.fcpxml"
    patch(document(dubbed.written), timeline, again, tb, out, out)
    patch(document(dubbed.source), timeline, fresh, tb, out, out)
    assert again.read_bytes() == document(dubbed.written).read_bytes()
    assert fresh.read_bytes() == document(dubbed.written).read_bytes()


# ---------------------------------------------------------------------------------------------
# 4. notes applied twice: the editor's content kept, one marker per noted clip
# ---------------------------------------------------------------------------------------------


def test_notes_applied_twice_keep_the_editors_file(dubbed, tmp_path):
    work = tmp_path / "dub"
    shutil.copytree(dubbed.result.out_dir, work)
    written = work / dubbed.written.name
    ids = sorted(row["id"] for row in dubbed.result.lines)
    notes = tmp_path / "notes.json"
    notes.write_text(json.dumps({"notes": [{"id": ids[0], "verdict": "redo", "comment": "too fast"},
                                           {"id": ids[1], "verdict": "approve"}]}), encoding="utf-8")
    for _ in range(2):
        result = apply_notes(work, notes)
        if written.is_dir():  # a bundle: patched again as notes patches its NLE files (review.notes.MARKER_FORMATS)
            timeline = otio.adapters.read_from_file(str(result.files[-2]))
            assert result.files[-2].name.endswith(".dub.otio")
            write_timeline(timeline, work, written.name[: -len(".dub.fcpxmld")], "fcpxmld", timebase_of(timeline),
                           source=written)
        else:
            assert written in result.files
        check_lossless(dubbed.source, written, len(ids))
        clips = dub_clips(parse(written).getroot())
        values = {line_id: [m.get("value") for m in clip.findall("marker")] for line_id, clip in clips.items()}
        assert [v for v in values[ids[0]] if v.startswith("REDO")] == ["REDO: too fast"], values
        assert [v for v in values[ids[1]] if v == "APPROVED"] == ["APPROVED"], values
        redo = next(m for m in clips[ids[0]].findall("marker") if m.get("value").startswith("REDO"))
        assert (redo.get("completed"), redo.get("note")) == ("0", "too fast")
    rows = json.loads((work / "report.json").read_text(encoding="utf-8"))["lines"]
    check_placed(written, rows, dubbed.rate, work / "media")
    check_structure(written, dubbed.version)


# ---------------------------------------------------------------------------------------------
# 5. conform of a re-cut: the new cut patched, lines moved with it
# ---------------------------------------------------------------------------------------------


def recut(source: Path, target: Path) -> None:
    """The editor's re-cut: the first storyline clip one second shorter, everything after it one second earlier."""
    tree = parse(source)
    spine = tree.getroot().find("library/event/project/sequence/spine")
    first, *rest = list(spine)
    for element, name in [(first, "duration"), (spine.getparent(), "duration")] + [(item, "offset") for item in rest]:
        element.set(name, f"{seconds(element.get(name)) - 1}s")  # str(Fraction): '90163/25'
    tree.write(str(target), xml_declaration=True, encoding="UTF-8", doctype="<!DOCTYPE fcpxml>")


def test_conform_of_a_recut_patches_the_new_cut(tmp_path):
    old = Dubbed("patch/fcpx_rich_1_11.fcpxml", tmp_path / "old")
    new_cut = tmp_path / "recut" / "fcpx_rich_1_11_v2.fcpxml"
    new_cut.parent.mkdir()
    recut(old.source, new_cut)
    script = tmp_path / "recut" / "script.srt"
    script.write_text(srt([(a, b, t) if a < 8 else (a - 1, b - 1, t) for a, b, t in RICH_EVENTS]), encoding="utf-8")
    result = conform(old.result.timeline_path, new_cut, tmp_path / "new", script=script, options=old.options)
    assert result.counts["kept"] == 1 and result.counts["moved"] == 4, result.counts
    [written] = result.dub.exports
    assert written.name == "fcpx_rich_1_11_v2.dub.fcpxml"
    check_lossless(new_cut, written, len(result.dub.lines))
    check_placed(written, result.dub.lines, old.rate, result.dub.out_dir / "media")
    check_structure(written, "1.11")


# ---------------------------------------------------------------------------------------------
# 6. OTIO's FCPXML reader reads the patched file, dub clips included
# ---------------------------------------------------------------------------------------------


def test_otio_reads_the_patched_file_with_the_dub_clips(dubbed):
    timeline = read_timeline(dubbed.written)
    before = read_timeline(dubbed.source)
    found = {c.name: c for c in timeline.find_clips() if c.name in {row["id"] for row in dubbed.result.lines}}
    assert set(found) == {row["id"] for row in dubbed.result.lines}
    originals = [c.name for c in timeline.find_clips() if c.name not in found]
    assert sorted(originals) == sorted(c.name for c in before.find_clips())
    rate = dubbed.rate
    for row in dubbed.result.lines:
        clip = found[row["id"]]
        at = clip.transformed_time_range(clip.trimmed_range(), timeline.tracks).start_time
        # read_timeline counts from the project's tcStart (global_start_time), in exact frames
        start = timeline.global_start_time.value_rescaled_to(float(rate))
        assert round(start + at.value_rescaled_to(float(rate))) == tc_frame(row["record_in"], rate), row["id"]
        if dubbed.version == "1.8":  # OTIO reads asset src only (not 1.9+'s media-rep: see test 2 for those)
            assert Path(unquote(urlparse(clip.media_reference.target_url).path)) == (
                dubbed.result.out_dir / "media" / f"{row['id']}.wav").resolve()


# ---------------------------------------------------------------------------------------------
# 7. validity: structure always, Apple's DTDs where they are at hand
# ---------------------------------------------------------------------------------------------


def check_structure(path: Path, version: str) -> None:
    """What otio-dub adds follows FCPXML's grammar (and the whole file Apple's DTD, where it is at hand)."""
    if DTDS:
        dtd = etree.DTD(str(Path(DTDS) / f"FCPXMLv{version.replace('.', '_')}.dtd"))
        assert dtd.validate(parse(path)), dtd.error_log.filter_from_errors()[:3]
    root = parse(path).getroot()
    assert root.get("version") == version
    ids = [el.get("id") for el in root.iter() if el.get("id")]
    assert len(ids) == len(set(ids)), "ids are unique"
    for element in root.iter():
        for name in ("ref", "format"):
            if element.get(name) is not None and element.tag not in ("text-style",):
                assert element.get(name) in ids, (element.tag, name, element.get(name))
        for name in ("offset", "start", "duration", "tcStart"):
            if element.get(name) is not None:
                assert TIME.match(element.get(name)), (element.tag, name, element.get(name))
    for asset in (el for el in stamped(root) if el.tag == "asset"):
        assert asset.getparent().tag == "resources"
        kids = [c.tag for c in asset]
        assert kids == (["metadata"] if version == "1.8" else ["media-rep", "metadata"])
        assert (asset.get("src") is not None) == (version == "1.8")
    for clip in (el for el in stamped(root) if el.tag == "asset-clip"):
        assert clip.get("ref") and clip.get("duration") and int(clip.get("lane")) < 0
        kinds = [c.tag for c in clip]
        assert kinds == ["marker"] * (len(kinds) - 1) + ["metadata"], kinds
        for marker in clip.findall("marker"):
            assert marker.get("start") and marker.get("value") is not None
        parent = clip.getparent()
        order = [c.tag for c in parent]
        after = {"marker", "chapter-marker", "rating", "keyword", "analysis-marker", "audio-channel-source",
                 "audio-role-source", "sync-source", "filter-video", "filter-video-mask", "filter-audio", "metadata"}
        assert not after & set(order[: order.index("asset-clip", list(parent).index(clip))]), order  # anchors first


def test_every_output_is_structurally_valid(dubbed):
    check_structure(dubbed.written, dubbed.version)


@pytest.mark.skipif(not DTDS, reason="Apple's FCPXML DTDs are not redistributable: set OTIO_DUB_FCPXML_DTDS")
def test_every_output_is_valid_against_its_dtd(dubbed):
    dtd = etree.DTD(str(Path(DTDS) / f"FCPXMLv{dubbed.version.replace('.', '_')}.dtd"))
    assert dtd.validate(parse(dubbed.source)), "the input itself"
    assert dtd.validate(parse(dubbed.written)), dtd.error_log.filter_from_errors()[:3]


# ---------------------------------------------------------------------------------------------
# 8. bad input: one clear line naming the file
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "message"), [
    ("<fcpxml version='1.8'><resources>", "not well-formed XML"),
    ("<xmeml version='4'/>", r"not an FCPXML document \(its root is <xmeml>\)"),
    ("<fcpxml version='1.8'><resources/><library><event name='e'/></library></fcpxml>", "holds no project"),
])
def test_malformed_source_is_one_clear_error(tmp_path, text, message):
    bad = tmp_path / "bad cut.fcpxml"
    bad.write_text(text, encoding="utf-8")
    timeline, tb = small_dub(tmp_path, 25)
    with pytest.raises(InputError, match=message) as info:
        patch(bad, timeline, tmp_path / "x.fcpxml", tb, tmp_path, tmp_path)
    assert str(info.value).startswith(str(bad)) and "\n" not in str(info.value)
    with pytest.raises(InputError) as info:  # the patcher's own error, naming the editor's file, passes through whole
        write_timeline(timeline, tmp_path, "bad cut", "fcpxml", tb, source=bad)
    assert str(info.value).startswith(str(bad)) and "\n" not in str(info.value)
    assert not list(tmp_path.glob("*.part*")) and bad.read_text(encoding="utf-8") == text


def test_malformed_input_through_the_api(tmp_path):
    bad = tmp_path / "cut.fcpxml"
    bad.write_text("<fcpxml version='1.10'><resources>", encoding="utf-8")
    script = tmp_path / "s.srt"
    script.write_text(srt([(1, 2, "ANNA: Hi.")]), encoding="utf-8")
    with pytest.raises(InputError) as info:
        otio_dub.dub(bad, script=script, out_dir=tmp_path / "out", options=DubOptions(stems=NO_STEMS))
    assert str(info.value).startswith(str(bad)) and "\n" not in str(info.value)
    with pytest.raises(InputError, match="no Info.fcpxml"):
        (tmp_path / "empty.fcpxmld").mkdir()
        read_timeline(tmp_path / "empty.fcpxmld")


# ---------------------------------------------------------------------------------------------
# the places a line can fall: a title, past the storyline's end; lanes below the project's own
# ---------------------------------------------------------------------------------------------


def small_dub(folder: Path, rate: int, frames: tuple[int, ...] = (10,), source: Path | None = None,
              length: int = 20) -> tuple[otio.schema.Timeline, object]:
    """A dub made without speech: lines at ``frames`` on ``source``'s timeline, real BWFs in ``folder/media``."""
    if source is not None:
        timeline = read_timeline(source)
    else:
        timeline = otio.schema.Timeline("t")
        track = otio.schema.Track("V", kind=otio.schema.TrackKind.Video)
        track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=otio.opentime.RationalTime(500, rate))))
        timeline.tracks.append(track)
    tb = timebase_of(timeline)
    clips = []
    for n, at in enumerate(frames, 1):
        line = Line(f"{n:03d}-ANNA", at, at + length, "ANNA", "fr", "Salut.")
        samples = tb.samples_between(at, at + length)
        write_bwf(folder / "media" / f"{line.id}.wav", np.zeros(samples, dtype=np.float32),
                  tb.start_sample + tb.sample_at(at), "ANNA")
        clips.append(DubClip(line, at + length, f"media/{line.id}.wav", "fit"))
    return add_dub_tracks(timeline, clips, tb), tb


def test_a_line_on_a_title_and_one_past_the_end(tmp_path):
    source = DATA / "patch" / "fcpx_rich_1_11.fcpxml"
    # 01:00:31:00 lies on the storyline title; 01:00:45:00 is past the storyline's end (01:00:40:00)
    timeline, tb = small_dub(tmp_path, 25, (775, 1125), source)
    assert tb.start_frame == 90000  # the project's tcStart: frames count from the programme start
    target = tmp_path / "out.fcpxml"
    patch(source, timeline, target, tb, tmp_path, tmp_path)
    root = parse(target).getroot()
    clips = dub_clips(root)
    assert clips["001-ANNA"].getparent().tag == "title"
    gap = clips["002-ANNA"].getparent()
    assert gap.tag == "gap" and gap in stamped(root) and gap.getparent().tag == "spine"
    assert (seconds(gap.get("offset")), seconds(gap.get("offset")) + seconds(gap.get("duration"))) == (3640, Fraction(91145, 25))
    for line_id, clip in clips.items():
        parent = clip.getparent()
        at = seconds(parent.get("offset")) + seconds(clip.get("offset")) - seconds(parent.get("start"))
        assert at * 25 == {"001-ANNA": 90775, "002-ANNA": 91125}[line_id]
    check_lossless(source, target, 2, gaps=1)
    assert len(stamped(root)) == 5  # two assets, two clips and the gap
    check_structure(target, "1.11")
    again = tmp_path / "again.fcpxml"
    patch(target, timeline, again, tb, tmp_path, tmp_path)
    assert again.read_bytes() == target.read_bytes()


def test_ids_stay_unique_and_a_one_line_file_stays_one_line(tmp_path):
    source = tmp_path / "cut.fcpxml"
    source.write_text(
        "<?xml version='1.0' encoding='ISO-8859-1'?><fcpxml version='1.9'><resources>"
        "<format id='otio-dub-r1' frameDuration='1/25s'/><asset id='a1' start='0s' duration='5s' hasAudio='1'>"
        "<media-rep kind='original-media' src='file:///m.wav'/></asset></resources><library><event><project name='Caf\u00e9'>"
        "<sequence format='otio-dub-r1' tcStart='0s' duration='20s'><spine><gap name='Gap' offset='0s' start='3600s' "
        "duration='20s'><asset-clip ref='a1' lane='-4' offset='3600s' duration='1s'/></gap>"
        "</spine></sequence></project></event></library></fcpxml>", encoding="iso-8859-1")
    timeline, tb = small_dub(tmp_path, 25)
    target = tmp_path / "out.fcpxml"
    patch(source, timeline, target, tb, tmp_path, tmp_path)
    assert target.read_bytes().startswith(b"<?xml version='1.0' encoding='ISO-8859-1'?><fcpxml")
    assert b"Caf\xe9" in target.read_bytes() and b"\n" not in target.read_bytes().strip()
    root = parse(target).getroot()
    [asset] = [el for el in stamped(root) if el.tag == "asset"]
    assert asset.get("id") == "otio-dub-r2" and asset.find("media-rep").get("kind") == "original-media"
    [clip] = dub_clips(root).values()
    assert clip.get("lane") == "-5" and clip.get("offset") == "18002/5s"  # 3600s + 10 frames at 25 fps
    check_lossless(source, target, 1)
    check_structure(target, "1.9")


def test_a_2997_drop_frame_sequence_gets_clips_on_its_frame_grid(tmp_path):
    """A 29.97 DF project from 01:00:00;00 is read at 30000/1001 from its tcStart: the dub lands on the
    sequence's own frames exactly, its media starting at the WAV's own time reference; a line on an
    audition hangs in its active pick (its first story element: a comment before it is skipped)."""
    source = tmp_path / "ntsc.fcpxml"
    source.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE fcpxml>\n\n<fcpxml version="1.10">\n    <resources>\n'
        '        <format id="r1" name="FFVideoFormat1080p2997" frameDuration="1001/30000s" width="1920" height="1080"/>\n'
        '        <asset id="r2" name="A" start="0s" duration="120s" hasVideo="1" format="r1" hasAudio="1" audioSources="1"'
        ' audioChannels="2" audioRate="48000">\n            <media-rep kind="original-media" src="file:///m/A.mov"/>\n'
        '        </asset>\n    </resources>\n    <library>\n        <event name="e">\n            <project name="p">\n'
        '                <sequence format="r1" duration="3003/50s" tcStart="107999892/30000s" tcFormat="DF" audioRate="48k">\n'
        '                    <spine>\n                        <audition offset="107999892/30000s">\n'
        '                            <!-- the take the director liked -->\n'
        '                            <asset-clip ref="r2" offset="107999892/30000s" name="A" start="3003/100s" duration="3003/100s" tcFormat="DF"/>\n'
        '                            <asset-clip ref="r2" offset="107999892/30000s" name="A alt" start="0s" duration="3003/100s" tcFormat="DF"/>\n'
        '                        </audition>\n'
        '                        <asset-clip ref="r2" offset="108900792/30000s" name="B" start="3003/50s" duration="3003/100s" tcFormat="DF"/>\n'
        '                    </spine>\n                </sequence>\n'
        '            </project>\n        </event>\n    </library>\n</fcpxml>\n', encoding="utf-8")
    timeline, tb = small_dub(tmp_path, 29, (290, 1001), source)
    assert (tb.rate, tb.start_frame, tb.drop_frame) == (Fraction(30000, 1001), 107892, True)
    assert tb.tc(0) == "01:00:00;00"
    target = tmp_path / "out.fcpxml"
    patch(source, timeline, target, tb, tmp_path, tmp_path)
    root = parse(target).getroot()
    frame = Fraction(1001, 30000)
    clips = dub_clips(root)
    assert clips["001-ANNA"].getparent().get("name") == "A"  # the active pick, not the comment nor the alternative
    assert clips["002-ANNA"].getparent().get("name") == "B"
    for line_id, clip in clips.items():
        parent = clip.getparent()
        offset = seconds(parent.getparent().get("offset") if parent.getparent().tag == "audition" else parent.get("offset"))
        at = offset + seconds(clip.get("offset")) - seconds(parent.get("start"))
        assert at == (107892 + {"001-ANNA": 290, "002-ANNA": 1001}[line_id]) * frame, (line_id, at)
        assert seconds(clip.get("duration")) == 20 * frame
        asset = root.find(f"resources/asset[@id='{clip.get('ref')}']")
        wav = media_of(root, asset)
        assert seconds(asset.get("start")) == seconds(clip.get("start")) == Fraction(read_bext(wav).time_reference, 48000)
        assert clip.get("tcFormat") == "DF"
    check_lossless(source, target, 2)
    check_structure(target, "1.10")


def test_the_project_read_and_patched_is_the_first_in_the_document(tmp_path):
    """An event of clips before the event holding the project: the project is read (tcStart, DF/NDF and
    rate from its own sequence) and patched, as the first project in the document."""
    source = tmp_path / "two_events.fcpxml"
    source.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE fcpxml>\n\n<fcpxml version="1.9">\n    <resources>\n'
        '        <format id="r1" name="FFVideoFormat1080p25" frameDuration="1/25s" width="1920" height="1080"/>\n'
        '        <format id="r9" name="FFVideoFormat1080p2997" frameDuration="1001/30000s" width="1920" height="1080"/>\n'
        '        <asset id="r2" name="A" start="0s" duration="120s" hasVideo="1" format="r1" hasAudio="1" audioSources="1"'
        ' audioChannels="2" audioRate="48000">\n            <media-rep kind="original-media" src="file:///m/A.mov"/>\n'
        '        </asset>\n    </resources>\n    <library>\n        <event name="Rushes">\n'
        '            <asset-clip ref="r2" name="A" duration="120s" format="r1" tcFormat="NDF"/>\n        </event>\n'
        '        <event name="Edit">\n            <project name="Cut">\n'
        '                <sequence format="r1" duration="20s" tcStart="36000s" tcFormat="NDF" audioRate="48k">\n'
        '                    <spine>\n                        <asset-clip ref="r2" offset="36000s" name="A" start="0s"'
        ' duration="20s"/>\n                    </spine>\n                </sequence>\n            </project>\n'
        '            <project name="Other">\n'
        '                <sequence format="r9" duration="20s" tcStart="0s" tcFormat="DF" audioRate="48k">\n'
        '                    <spine>\n                        <asset-clip ref="r2" offset="0s" name="B" start="0s"'
        ' duration="20s"/>\n                    </spine>\n                </sequence>\n            </project>\n'
        '        </event>\n    </library>\n</fcpxml>\n', encoding="utf-8")
    timeline, tb = small_dub(tmp_path, 25, (50,), source)
    assert timeline.name == "Cut" and (tb.rate, tb.start_frame, tb.drop_frame) == (25, 900000, False)
    target = tmp_path / "out.fcpxml"
    patch(source, timeline, target, tb, tmp_path, tmp_path)
    [clip] = dub_clips(parse(target).getroot()).values()
    assert clip.getparent().get("name") == "A" and clip.get("offset") == "2s"  # 10:00:02:00 on the Cut's clip
    check_lossless(source, target, 1)
