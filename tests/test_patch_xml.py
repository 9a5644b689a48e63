"""FCP7 XML (Premiere's xmeml) dubbed by patching the editor's own file (issue 24).

Each input (the Premiere export, the 29.97 NDF regression input, and a hand-made Premiere XML with
generators, transitions, links, audio keyframes, named tracks and a DF clock) is dubbed into its own
format through the real pipeline; the output is then read with lxml, never through otio-dub's reader:
with the stamped elements taken out it is the input, element by element and byte for byte; the dub
clips sit at the report's frames with their WAVs; patching again, notes (twice) and conform keep all
of that; OTIO's fcp_xml adapter reads the dub back.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import opentimelineio as otio
import pytest
import soundfile as sf
from click.testing import CliRunner
from lxml import etree

import otio_dub
from otio_dub import DubOptions
from otio_dub.audio.bwf import read_bext, write_bwf
from otio_dub.cli import main
from otio_dub.core.errors import InputError, OtioDubError
from otio_dub.core.timebase import frames_of, parse_timecode
from otio_dub.delivery.stems import StemOptions
from otio_dub.dialogue.lines import Line, find_dialogue_tracks, is_dub, timebase_of
from otio_dub.review import apply_notes
from otio_dub.review.data import read_dub_timeline
from otio_dub.stages.conform import conform
from otio_dub.timelines.apply import DubClip, add_dub_tracks
from otio_dub.timelines.formats import write_timeline
from otio_dub.timelines.media import wav_facts
from otio_dub.timelines.patch_xml import patch
from otio_dub.timelines.timeline_io import read_timeline

DATA = Path(__file__).resolve().parent / "data"
INPUTS = ["nle/premiere_example.xml", "regress/ndf_2997_1h.xml", "patch/premiere_rich_df.xml"]
RICH = DATA / "patch" / "premiere_rich_df.xml"
LONG = "This line is far too long to ever fit inside its tiny little window, however fast it is spoken."
#: what otio-dub adds, as an independent reader finds it: tracks by attribute, clipitems and files by id
ADDED_TRACK = re.compile(rb'(?:\r?\n[ \t]*)?<track otio-dub="track".*?</track>', re.DOTALL)


def stamped(element: etree._Element) -> bool:
    """A track or container otio-dub added, or a clipitem or file of its id inside one of its tracks."""
    if element.get("otio-dub") is not None:
        return True
    return element.tag in ("clipitem", "file") and (element.get("id") or "").startswith("otio-dub-") \
        and any(up.get("otio-dub") == "track" for up in element.iterancestors())


def unstamped(root: etree._Element) -> int:
    """Take the stamped elements out of ``root`` (whitespace closed up); returns how many."""
    found = [el for el in root.iter(etree.Element) if stamped(el)]
    outermost = [el for el in found if not any(stamped(up) for up in el.iterancestors())]
    for el in outermost:
        parent, previous = el.getparent(), el.getprevious()
        if previous is not None:
            previous.tail = el.tail
        else:
            parent.text = el.tail
        parent.remove(el)
    return len(outermost)


def same_tree(a: etree._Element, b: etree._Element, where: str = "") -> int:
    """Assert ``a`` and ``b`` are the same nodes (tag, attributes in order, text, tail, children); count them."""
    here = f"{where}/{a.tag if isinstance(a.tag, str) else 'comment'}"
    assert a.tag == b.tag, here
    assert list(a.attrib.items()) == list(b.attrib.items()), here
    assert (a.text, a.tail) == (b.text, b.tail), here
    assert len(a) == len(b), (here, [c.tag for c in a], [c.tag for c in b])
    return 1 + sum(same_tree(x, y, here) for x, y in zip(a, b, strict=True))


def parse(path: Path) -> etree._ElementTree:
    return etree.parse(str(path), etree.XMLParser(resolve_entities=False, remove_blank_text=False))


def check_lossless(source: Path, output: Path, codec: str = "utf-8") -> int:
    """``output`` minus its stamped elements is ``source``: as a tree, and as bytes (in the document's
    ``codec``); returns the elements compared."""
    before, after = parse(source), parse(output)
    assert after.docinfo.xml_version == before.docinfo.xml_version
    assert (after.docinfo.encoding, after.docinfo.doctype) == (before.docinfo.encoding, before.docinfo.doctype)
    assert unstamped(after.getroot()) >= 1
    compared = same_tree(before.getroot(), after.getroot())
    assert compared == sum(1 for _ in before.getroot().iter())
    if codec == "utf-8":
        assert ADDED_TRACK.sub(b"", output.read_bytes()) == source.read_bytes()
    else:
        text = re.sub(ADDED_TRACK.pattern.decode(), "", output.read_bytes().decode(codec), flags=re.DOTALL)
        assert text.encode(codec) == source.read_bytes()
    return compared


def url_path(url: str) -> Path:
    parsed = urlparse(url)
    assert parsed.scheme == "file", url
    return Path(unquote(parsed.path))


def no_stems() -> StemOptions:
    return StemOptions(mode="none", loudness=None)


def srt_time(ms: int) -> str:
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def script_for(timeline: otio.schema.Timeline) -> str:
    """Three events inside the timeline's audio clips (the last far too long: an OVERRUN marker)."""
    ranges = []
    for track in timeline.tracks:
        if track.kind == otio.schema.TrackKind.Audio:
            for clip in track.find_clips():
                rng = clip.transformed_time_range(clip.trimmed_range(), timeline.tracks)
                ranges.append((round(rng.start_time.to_seconds() * 1000), round(rng.end_time_exclusive().to_seconds() * 1000)))
    events = sorted({(start + 50 + 1500 * slot, start + 1050 + 1500 * slot) for start, end in ranges for slot in range(3)
                     if start + 1050 + 1500 * slot <= end})[:3]
    assert len(events) == 3, ranges
    texts = ["BOB: Bonjour à vous.", "ANNA: Merci, entrez.", f"BOB: {LONG}"]
    return "\n".join(f"{n}\n{srt_time(a)} --> {srt_time(b)}\n{texts[n - 1]}\n" for n, (a, b) in enumerate(events, 1))


@dataclass
class Dubbed:
    source: Path  # the editor's file (a copy)
    result: otio_dub.DubResult

    @property
    def output(self) -> Path:
        [path] = self.result.exports
        return path


def dub_input(source: Path, work: Path, script: str | None = None) -> Dubbed:
    work.mkdir(parents=True, exist_ok=True)
    copy = work / source.name
    shutil.copyfile(source, copy)
    srt = work / f"{source.stem}.srt"
    srt.write_text(script or script_for(read_timeline(copy)), encoding="utf-8")
    result = otio_dub.dub(copy, script=srt, out_dir=work / "out", options=DubOptions(stems=no_stems()))
    return Dubbed(copy, result)


@pytest.fixture(scope="module", params=INPUTS)
def dubbed(request, tmp_path_factory) -> Dubbed:
    return dub_input(DATA / request.param, tmp_path_factory.mktemp(Path(request.param).stem))


def dub_clipitems(root: etree._Element) -> dict[str, etree._Element]:
    return {item.findtext("name"): item for item in root.iter("clipitem") if stamped(item)}


def sequence_start(root: etree._Element) -> int:
    [sequence] = [s for s in root.iter("sequence") if s.find("media/audio/track[@otio-dub]") is not None]
    return int(sequence.findtext("timecode/frame") or 0)


# ---------------------------------------------------------------------------------------------
# 1. lossless: the output is the input plus the dub
# ---------------------------------------------------------------------------------------------


def test_output_is_the_input_plus_the_dub(dubbed):
    assert dubbed.output.name == f"{dubbed.source.stem}.dub.xml"
    assert check_lossless(dubbed.source, dubbed.output) > 40
    root = parse(dubbed.output).getroot()
    tracks = [t for t in root.iter("track") if stamped(t)]
    dub_tracks = [t for t in dubbed.result.timeline.tracks if is_dub(t)]
    assert [t.get("MZ.TrackName") for t in tracks] == [t.name for t in dub_tracks]
    assert all(t.getparent().tag == "audio" and t.getparent().getparent().getparent().tag == "sequence" for t in tracks)


# ---------------------------------------------------------------------------------------------
# 2. the dub clips at their frames, their media resolvable
# ---------------------------------------------------------------------------------------------


def check_dub_clips(root: etree._Element, result: otio_dub.DubResult, out: Path) -> None:
    rate = Fraction(json.loads(result.report_path.read_text(encoding="utf-8"))["rate"])
    tb = timebase_of(result.timeline)
    start, items = sequence_start(root), dub_clipitems(root)
    assert set(items) == {row["id"] for row in result.lines}
    files = {f.get("id"): f for f in root.iter("file") if len(f)}
    placed = {c.name: c.range_in_parent() for t in result.timeline.tracks if is_dub(t) for c in t.find_clips()}
    display = root.findtext(".//sequence/timecode/displayformat")
    for row in result.lines:
        item = items[row["id"]]
        rin, rout = parse_timecode(row["record_in"], rate) - start, parse_timecode(row["clip_out"], rate) - start
        assert (int(item.findtext("start")), int(item.findtext("end"))) == (rin, rout), row["id"]
        assert (frames_of(placed[row["id"]].start_time, rate), frames_of(placed[row["id"]].end_time_exclusive(), rate)) == (rin, rout)
        assert (int(item.findtext("in")), int(item.findtext("out"))) == (0, rout - rin)
        assert item.findtext("sourcetrack/mediatype") == "audio" and item.findtext("sourcetrack/trackindex") == "1"
        described = files[item.find("file").get("id")]
        wav = url_path(described.findtext("pathurl"))
        assert wav.is_file() and wav == (out / "media" / f"{row['id']}.wav").resolve()
        assert sf.info(str(wav)).frames == tb.samples_between(rin, rout), row["id"]
        facts = wav_facts(wav)
        assert described.findtext("media/audio/samplecharacteristics/samplerate") == str(facts.sample_rate)
        assert described.findtext("media/audio/samplecharacteristics/depth") == str(facts.bits)
        assert described.findtext("media/audio/channelcount") == str(facts.channels)
        assert int(described.findtext("duration")) == rout - rin
        assert int(described.findtext("timecode/frame")) == start + rin
        assert described.findtext("timecode/displayformat") == display
        assert described.findtext("timecode/string") == row["record_in"]
        assert item.find("rate/timebase").text == root.findtext(".//sequence/rate/timebase")
    assert sum(1 for f in root.iter("file") if stamped(f) and len(f)) == len(items)  # each file described once


def test_dub_clips_at_their_frames(dubbed):
    check_dub_clips(parse(dubbed.output).getroot(), dubbed.result, dubbed.result.out_dir)
    overrun = [row["id"] for row in dubbed.result.lines if row["status"] == "overrun"]
    assert overrun
    for line_id in overrun:
        markers = dub_clipitems(parse(dubbed.output).getroot())[line_id].findall("marker")
        assert [m.findtext("name")[:8] for m in markers] == ["OVERRUN:"]
        assert int(markers[0].findtext("out")) > int(markers[0].findtext("in")) >= 0


# ---------------------------------------------------------------------------------------------
# 3. patching the output again (as notes does) changes nothing
# ---------------------------------------------------------------------------------------------


def test_patching_the_output_again_changes_nothing(dubbed, tmp_path):
    work = tmp_path / "dub"
    shutil.copytree(dubbed.result.out_dir, work)
    name = dubbed.source.stem
    timeline = read_dub_timeline(work / f"{name}.dub.otio")  # as notes reads it: media relative to the folder
    first = (work / f"{name}.dub.xml").read_bytes()
    [again] = write_timeline(timeline, work, name, "xml", timebase_of(timeline), link_dir=dubbed.result.out_dir,
                             source=work / f"{name}.dub.xml")
    assert again.read_bytes() == first
    patch(dubbed.source, timeline, tmp_path / "fresh.xml", timebase_of(timeline), work, dubbed.result.out_dir)
    assert (tmp_path / "fresh.xml").read_bytes() == first  # the original patched: the same file


# ---------------------------------------------------------------------------------------------
# 4. notes applied twice
# ---------------------------------------------------------------------------------------------


def test_notes_twice_keep_the_editors_content_and_one_marker_a_clip(dubbed, tmp_path):
    work = tmp_path / "dub"
    shutil.copytree(dubbed.result.out_dir, work)
    ids = [row["id"] for row in dubbed.result.lines]
    notes = tmp_path / "review-notes.json"
    notes.write_text(json.dumps({"notes": [{"id": ids[0], "verdict": "redo", "comment": "trop rapide"},
                                           {"id": ids[2], "verdict": "approve"}]}), encoding="utf-8")
    output = work / dubbed.output.name
    apply_notes(work, notes)
    once = output.read_bytes()
    run = CliRunner().invoke(main, ["notes", str(work), str(notes)])
    assert run.exit_code == 0, run.output
    assert output.read_bytes() == once
    check_lossless(dubbed.source, output)
    items = dub_clipitems(parse(output).getroot())
    names = {line_id: [m.findtext("name") for m in items[line_id].findall("marker")] for line_id in ids}
    assert [n for n in names[ids[0]] if n.startswith(("REDO", "APPROVED", "NOTE"))] == ["REDO: trop rapide"]
    assert [n for n in names[ids[2]] if n.startswith(("REDO", "APPROVED", "NOTE"))] == ["APPROVED"]
    assert any(n.startswith("OVERRUN:") for n in names[ids[2]])  # otio-dub's own marker stays
    assert names[ids[1]] == []
    redo = next(m for m in items[ids[0]].findall("marker") if m.findtext("name").startswith("REDO"))
    assert redo.findtext("comment") == "trop rapide"
    assert (int(redo.findtext("in")), int(redo.findtext("out"))) == (0, int(items[ids[0]].findtext("out")))


# ---------------------------------------------------------------------------------------------
# 5. conform of a re-cut writes the new cut, patched
# ---------------------------------------------------------------------------------------------


def test_conform_of_a_recut_patches_the_new_cut(tmp_path):
    old = dub_input(RICH, tmp_path / "v1")
    recut_dir = tmp_path / "v2"
    recut_dir.mkdir()
    recut = recut_dir / "premiere_rich_df_v2.xml"
    text = RICH.read_text(encoding="utf-8")
    text = text.replace("<start>150</start>\n\t\t\t\t\t\t<end>240</end>", "<start>180</start>\n\t\t\t\t\t\t<end>270</end>")
    text = text.replace("<red>12</red>", "<red>200</red>").replace("<value>0.501187</value>", "<value>0.7</value>")
    assert text != RICH.read_text(encoding="utf-8")
    recut.write_text(text, encoding="utf-8")
    srt = old.source.with_suffix(".srt").read_text(encoding="utf-8").splitlines()
    start, end = (parse_srt_ms(t) for t in srt[5].split(" --> "))  # the second event, 300 ms later
    srt[5] = f"{srt_time(start + 300)} --> {srt_time(end + 300)}"
    script = recut_dir / "v2.srt"
    script.write_text("\n".join(srt) + "\n", encoding="utf-8")
    result = conform(old.result.timeline_path, recut, tmp_path / "v2out", script=script,
                     options=DubOptions(stems=no_stems()))
    assert result.counts["kept"] == 2 and len(result.dub.lines) == 3, result.counts
    [output] = result.dub.exports
    assert output.name == "premiere_rich_df_v2.dub.xml"
    check_lossless(recut, output)
    check_dub_clips(parse(output).getroot(), result.dub, result.dub.out_dir)


def parse_srt_ms(text: str) -> int:
    h, m, rest = text.strip().split(":")
    s, ms = rest.split(",")
    return ((int(h) * 60 + int(m)) * 60 + int(s)) * 1000 + int(ms)


# ---------------------------------------------------------------------------------------------
# 6. OTIO's fcp_xml adapter reads the dub back, and the editor's tracks as before
# ---------------------------------------------------------------------------------------------


def test_output_rereads_through_otio(dubbed):
    before = otio.adapters.read_from_file(str(dubbed.source), adapter_name="fcp_xml")
    after = otio.adapters.read_from_file(str(dubbed.output), adapter_name="fcp_xml")
    ours = [t for t in after.tracks if (t.metadata.get("fcp_xml") or {}).get("@otio-dub") == "track"]
    theirs = [t for t in after.tracks if t not in ours]
    assert [otio.adapters.write_to_string(t, "otio_json") for t in theirs] == \
        [otio.adapters.write_to_string(t, "otio_json") for t in before.tracks]
    expected = [t for t in dubbed.result.timeline.tracks if is_dub(t)]
    assert [t.metadata["fcp_xml"]["@MZ.TrackName"] for t in ours] == [t.name for t in expected]
    rate = timebase_of(dubbed.result.timeline).rate
    for got, want in zip(ours, expected, strict=True):
        assert got.kind == otio.schema.TrackKind.Audio
        read = [(c.name, frames_of(c.range_in_parent().start_time, rate), frames_of(c.duration(), rate),
                 url_path(c.media_reference.target_url)) for c in got.find_clips()]
        made = [(c.name, frames_of(c.range_in_parent().start_time, rate), frames_of(c.duration(), rate),
                 (dubbed.result.out_dir / c.media_reference.target_url).resolve()) for c in want.find_clips()]
        assert read == made
    back = read_timeline(dubbed.output)  # and otio-dub's own reader: the same clock
    assert timebase_of(back) == timebase_of(before)
    assert timebase_of(back).drop_frame == timebase_of(dubbed.result.timeline).drop_frame


# ---------------------------------------------------------------------------------------------
# 7. a malformed input: one clear error line naming the file
# ---------------------------------------------------------------------------------------------


def made_dub(source: Path, out: Path) -> tuple[otio.schema.Timeline, object]:
    """``source`` read and given two dub lines with real BWFs in ``out/media`` (no speech)."""
    timeline = read_timeline(source)
    tb = timebase_of(timeline)
    clips = []
    for n, (at, length, status) in enumerate([(2, 20, "fit"), (40, 25, "overrun")], 1):
        line = Line(f"{n:03d}-ANNA", at, at + length - (5 if status == "overrun" else 0), "ANNA", "fr", f"Ligne {n}.")
        samples = tb.samples_between(at, at + length)
        write_bwf(out / "media" / f"{line.id}.wav", np.zeros(samples, np.float32), tb.start_sample + tb.sample_at(at), "x")
        clips.append(DubClip(line, at + length, f"media/{line.id}.wav", status, note="5 frames over"))
    return add_dub_tracks(timeline, clips, tb), tb


def test_malformed_input_is_one_error_line_naming_the_file(tmp_path):
    dubbed, tb = made_dub(RICH, tmp_path)
    bad = tmp_path / "montage coupé.xml"
    bad.write_bytes(RICH.read_bytes()[:5000])
    with pytest.raises(InputError) as caught:
        patch(bad, dubbed, tmp_path / "t.xml", tb, tmp_path, tmp_path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{bad}: not well-formed XML") and "line" in message
    with pytest.raises(OtioDubError) as caught:  # through the seam, as notes reaches it
        write_timeline(dubbed, tmp_path, "montage coupé", "xml", tb, source=bad)
    assert "\n" not in str(caught.value) and str(bad) in str(caught.value)
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name or p.name.endswith(".dub.xml")]
    other = tmp_path / "other.xml"
    other.write_text('<?xml version="1.0"?>\n<fcpxml version="1.8"/>\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"other\.xml: not an FCP7 XML document \(its root is <fcpxml>"):
        patch(other, dubbed, tmp_path / "t.xml", tb, tmp_path, tmp_path)


def test_notes_on_a_damaged_export_is_one_error_line(dubbed, tmp_path):
    work = tmp_path / "dub"
    shutil.copytree(dubbed.result.out_dir, work)
    output = work / dubbed.output.name
    damaged = output.read_bytes()[: len(output.read_bytes()) // 3]
    output.write_bytes(damaged)
    notes = tmp_path / "notes.json"
    notes.write_text(json.dumps({"redo": [dubbed.result.lines[0]["id"]]}), encoding="utf-8")
    run = CliRunner().invoke(main, ["notes", str(work), str(notes)])
    assert run.exit_code != 0 and "Traceback" not in run.output
    errors = [line for line in run.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and str(output) in errors[0] and "not well-formed XML" in errors[0], run.output
    assert output.read_bytes() == damaged  # left as it was


# ---------------------------------------------------------------------------------------------
# documents of other shapes
# ---------------------------------------------------------------------------------------------

BARE = """<?xml version="1.0" encoding="ISO-8859-1"?>
<xmeml version="5">
  <project>
    <name>Bin</name>
    <children>
      <sequence id="s1">
        <name>Autre</name>
        <duration>100</duration>
        <rate><timebase>25</timebase><ntsc>FALSE</ntsc></rate>
        <media>
          <video><track><clipitem id="c1"><name>a</name><duration>100</duration><rate><timebase>25</timebase><ntsc>FALSE</ntsc></rate><start>0</start><end>100</end><in>0</in><out>100</out><file id="f1"><name>a.mov</name><pathurl>file:///a.mov</pathurl><duration>100</duration></file></clipitem></track></video>
        </media>
      </sequence>
      <sequence id="s2">
        <name>Scène</name>
        <duration>100</duration>
        <rate><timebase>25</timebase><ntsc>FALSE</ntsc></rate>
        <media>
          <video><track><clipitem id="c2"><name>b é</name><duration>100</duration><rate><timebase>25</timebase><ntsc>FALSE</ntsc></rate><start>0</start><end>100</end><in>0</in><out>100</out><file id="f1"/></clipitem></track></video>
          AUDIO
        </media>
        <timecode><rate><timebase>25</timebase><ntsc>FALSE</ntsc></rate><string>10:00:00:00</string><frame>900000</frame><displayformat>NDF</displayformat></timecode>
      </sequence>
    </children>
  </project>
</xmeml>
"""


@pytest.mark.parametrize("audio", ["<audio/>", "<audio></audio>", "", "NO MEDIA"])
def test_other_shapes_patch_the_named_sequence_losslessly(tmp_path, audio):
    """A project of two sequences (the one named as the dub is patched), Latin-1, CRLF, no DOCTYPE;
    an empty or missing audio element (made, and stamped, by otio-dub)."""
    text = BARE.replace("AUDIO", audio)
    if audio == "NO MEDIA":
        text = re.sub(r"(<name>Scène</name>.*?)<media>.*?</media>\s*", r"\1", text, flags=re.DOTALL)
    source = tmp_path / "bin.xml"
    source.write_bytes(text.replace("\n", "\r\n").encode("iso-8859-1"))
    dubbed, tb = made_dub(source, tmp_path)  # read in its own encoding
    assert dubbed.name == "Autre"  # OTIO's reader takes the first sequence: dub the second by its name
    dubbed.name = "Scène"
    patch(source, dubbed, tmp_path / "out.xml", tb, tmp_path, tmp_path)
    output = (tmp_path / "out.xml").read_bytes()
    assert output.count(b"\r\n") == output.count(b"\n")  # the document's own line ends
    assert "Scène".encode("iso-8859-1") in output and "Scène".encode() not in output  # in its own encoding
    before, after = parse(source), parse(tmp_path / "out.xml")
    scene = [s for s in after.getroot().iter("sequence") if s.findtext("name") == "Scène"][0]
    assert [t.get("MZ.TrackName") for t in scene.iter("track") if stamped(t)] == ["DUB fr ANNA"]
    assert [i.findtext("start") for i in scene.iter("clipitem") if stamped(i)] == ["2", "40"]
    assert unstamped(after.getroot()) >= 1
    assert same_tree(before.getroot(), after.getroot())  # <audio/> comes back as <audio></audio>: the same element
    patch(tmp_path / "out.xml", dubbed, tmp_path / "again.xml", tb, tmp_path, tmp_path)
    assert (tmp_path / "again.xml").read_bytes() == output


def test_notes_on_a_cross_format_xml_keep_one_clip_a_line(tmp_path):
    source, script = tmp_path / "montage.otio", tmp_path / "montage.srt"
    otio.adapters.write_to_file(read_timeline(RICH), str(source))
    script.write_text(script_for(read_timeline(RICH)), encoding="utf-8")
    out = otio_dub.dub(source, script=script, out_dir=tmp_path / "out", options=DubOptions(stems=no_stems(), to="xml"))
    [output] = out.exports
    notes = tmp_path / "notes.json"
    notes.write_text(json.dumps({"redo": [out.lines[0]["id"]]}), encoding="utf-8")
    apply_notes(out.out_dir, notes)
    names = [item.findtext("name") for item in parse(output).getroot().iter("clipitem")]
    assert sorted(n for n in names if n in {row["id"] for row in out.lines}) == sorted(row["id"] for row in out.lines)


# ---------------------------------------------------------------------------------------------
# review findings: an editor's id that looks like otio-dub's, a re-dub of a patched file, encodings
# ---------------------------------------------------------------------------------------------


def test_an_editors_clipitem_with_an_otio_dub_id_is_kept(tmp_path):
    """Only what sits in otio-dub's own tracks is removed; its new ids never take one the editor uses."""
    text = RICH.read_text(encoding="utf-8")
    text = text.replace('id="clipitem-1"', 'id="otio-dub-clipitem-1"')
    text = text.replace("<linkclipref>clipitem-1<", "<linkclipref>otio-dub-clipitem-1<")
    text = text.replace('<file id="file-1"', '<file id="otio-dub-file-1"')
    assert text.count('id="otio-dub-clipitem-1"') == 1 and 'id="otio-dub-file-1"' in text
    source = tmp_path / "collide" / "premiere_rich_df.xml"
    source.parent.mkdir()
    source.write_text(text, encoding="utf-8")
    made = dub_input(source, tmp_path / "dub")
    check_lossless(made.source, made.output)  # the editor's clipitem and file are still there, as they were
    root = parse(made.output).getroot()
    ids = [el.get("id") for el in root.iter("clipitem", "file") if len(el) and el.get("id")]
    assert len(ids) == len(set(ids)), ids  # every described element's id unique
    [own] = [el for el in root.iter("clipitem") if el.get("id") == "otio-dub-clipitem-1"]
    assert not stamped(own) and own.findtext("name") != made.result.lines[0]["id"]
    assert "otio-dub-clipitem-1" not in [i.get("id") for i in dub_clipitems(root).values()]
    assert all(f.get("id") != "otio-dub-file-1" for t in root.iter("track") if stamped(t) for f in t.iter("file"))
    check_dub_clips(root, made.result, made.result.out_dir)
    timeline = read_dub_timeline(made.result.timeline_path)
    patch(made.output, timeline, tmp_path / "again.xml", timebase_of(timeline), made.result.out_dir, made.result.out_dir)
    assert (tmp_path / "again.xml").read_bytes() == made.output.read_bytes()  # the editor's element survives a re-patch


def test_redubbing_a_dubbed_xml_replaces_its_dub(tmp_path, caplog):
    """The dub of a .dub.xml: its old dub tracks are otio-dub's (never dialogue, never the editor's),
    replaced by the new dub; the output is the original with one set of dub tracks."""
    first = dub_input(RICH, tmp_path / "one")
    first_dub = [t.name for t in first.result.timeline.tracks if is_dub(t)]
    source = tmp_path / "two" / first.output.name
    source.parent.mkdir()
    shutil.copyfile(first.output, source)
    read = read_timeline(source)
    old = [t for t in read.tracks if is_dub(t)]
    assert [t.name for t in old] == first_dub and all(is_dub(c) for t in old for c in t.find_clips())
    assert [t.name for t in read.tracks if not is_dub(t)] == ["Picture", "Titles", "DIA", "MUSIC"]  # MZ.TrackName
    old_media = (first.result.out_dir / "media").resolve()
    dialogue = find_dialogue_tracks(read)
    assert [t.name for t in dialogue] == ["DIA"]  # what is listened to and matched: never the old dub's WAVs
    assert not any(old_media in url_path(c.media_reference.target_url).parents for t in dialogue for c in t.find_clips())
    script = tmp_path / "two" / "again.srt"
    shutil.copyfile(first.source.with_suffix(".srt"), script)
    second = otio_dub.dub(source, script=script, out_dir=tmp_path / "two" / "out",
                          options=DubOptions(stems=StemOptions(mode="character", loudness=None)))
    assert "replacing" in caplog.text
    names = [t.name for t in second.timeline.tracks]
    assert names == ["Picture", "Titles", "DIA", "MUSIC", *first_dub], names  # one set of dub tracks
    for clip in second.timeline.find_clips():  # nothing of the old dub left, as a dub or an editor's clip
        url = getattr(clip.media_reference, "target_url", None) or ""
        assert old_media not in (second.out_dir / url_path(url) if "://" in url else second.out_dir / url).resolve().parents
    [output] = second.exports
    check_lossless(first.source, output)  # the original, plus the new dub only
    assert sum(1 for t in parse(output).getroot().iter("track") if stamped(t)) == len(first_dub)
    check_dub_clips(parse(output).getroot(), second, second.out_dir)
    stems = json.loads((second.out_dir / "stems" / "stems.json").read_text(encoding="utf-8"))
    characters = {row["character"] for row in second.lines}
    assert set(stems["files"]) == characters | {"DIALOGUE"}, stems["files"]
    dialogue_stem, _ = sf.read(str(second.out_dir / "stems" / stems["files"]["DIALOGUE"]["file"]), dtype="float64")
    stem_start = read_bext(second.out_dir / "stems" / stems["files"]["DIALOGUE"]["file"]).time_reference
    expected = np.zeros_like(dialogue_stem)
    for row in second.lines:  # the new lines at their BWF time references, and nothing else
        wav = second.out_dir / "media" / f"{row['id']}.wav"
        at = read_bext(wav).time_reference - stem_start
        signal, _ = sf.read(str(wav), dtype="float64")
        expected[at:at + len(signal)] += signal
    assert np.abs(expected).max() > 0.01
    assert np.abs(dialogue_stem - expected).max() < 1e-3


@pytest.mark.parametrize("encoding, codec", [("ISO-8859-1", "latin-1"), ("UTF-16", "utf-16-le"), ("UTF-16", "utf-16-be")])
def test_premiere_exports_in_other_encodings_dub_end_to_end(tmp_path, encoding, codec):
    """Latin-1 and UTF-16 (either byte order, with its BOM) are read, dubbed and written in their own
    encoding: outside the added tracks the output is the input byte for byte."""
    text = RICH.read_text(encoding="utf-8").replace('encoding="UTF-8"', f'encoding="{encoding}"')
    source = tmp_path / "in" / "premiere_rich_df.xml"
    source.parent.mkdir()
    bom = {"utf-16-le": "\ufeff", "utf-16-be": "\ufeff"}.get(codec, "")
    source.write_bytes((bom + text).encode(codec, errors="xmlcharrefreplace"))
    read = read_timeline(source)
    assert read.name == "Entretien Jeanne \u2013 montage 3 (DF)"  # the en dash: a character reference in Latin-1
    made = dub_input(source, tmp_path / "dub")
    assert check_lossless(made.source, made.output, codec) > 40
    assert parse(made.output).docinfo.encoding == encoding
    root = parse(made.output).getroot()
    check_dub_clips(root, made.result, made.result.out_dir)
    back = read_timeline(made.output)  # held: OTIO empties a timeline's stack when the timeline goes
    assert [t.name for t in back.tracks if is_dub(t)] == [t.name for t in made.result.timeline.tracks if is_dub(t)]
