"""Every timeline format otio-dub writes, read with the format's own structure (issue 11).

No speech is synthesised here: each source (the shared NLE exports and the regression inputs in
``tests/data/regress``) gets three dub lines whose media are real 24-bit BWFs written by otio-dub's
own writer, laid by ``apply.add_dub_tracks`` exactly as a dub lays them. The written files are then
read the way the applications read them: pyaaf2 mobs/descriptors/locators for AAF, lxml for FCPXML
and FCP7 XML, CMX3600 event lines for EDL, and a round trip through OTIO's readers puts every dub
clip within one frame of the ``.dub.otio``, its media resolvable and its timecode labelled DF/NDF
as the source says.
"""

from __future__ import annotations

import logging
import re
import zipfile
from fractions import Fraction
from pathlib import Path
from urllib.parse import unquote, urlparse

import aaf2
import numpy as np
import opentimelineio as otio
import pytest
from lxml import etree

from otio_dub.audio.bwf import write_bwf
from otio_dub.core.errors import InputError
from otio_dub.core.timebase import TimeBase, frames_of, timecode
from otio_dub.dialogue.lines import Line, duration_frames, timebase_of
from otio_dub.timelines.apply import DubClip, add_dub_tracks
from otio_dub.timelines.formats import check_writable, is_media_file, write_timeline
from otio_dub.timelines.timeline_io import read_timeline

DATA = Path(__file__).resolve().parent / "data"

#: source -> (read arguments, the source's own DF label)
SOURCES = {
    "nle/premiere_example.xml": ({}, False),
    "nle/avid_simple.aaf": ({}, False),
    "nle/avid_2997fps.aaf": ({}, False),
    "nle/fcpx_example.fcpxml": ({}, False),
    "nle/multi_audio.edl": ({"rate": 24}, False),
    "regress/ndf_2997_1h.xml": ({}, False),
    "regress/programme_1h.edl": ({"rate": 29.97}, False),
    "regress/df_2997_1h_programme.edl": ({"rate": 29.97}, True),
    "regress/mixed_rates_generator.otio": ({}, True),
}
FORMATS = ["aaf", "fcpxml", "edl", "xml", "otioz"]


class Dub:
    """A source dubbed without speech: the dub timeline, its folder and the lines' facts."""

    def __init__(self, source: str, out: Path, read_args: dict) -> None:
        self.source = DATA / source
        self.timeline = read_timeline(self.source, **read_args)
        self.tb = timebase_of(self.timeline)
        self.read_args = read_args
        self.out = out
        self.name = "dub " + Path(source).stem + " é"  # a name with a space and an accent
        total = duration_frames(self.timeline, self.tb)
        rate = self.tb.rate
        clips = []
        self.lines: dict[str, tuple[int, int, int]] = {}  # id -> (record in, record out, samples)
        for n, (at, length) in enumerate([(1, 25), (total // 3, 31), (total // 2 + 1, 40)], 1):
            at, length = min(at, total - 2), max(1, min(length, total - at - 1))
            line = Line(f"{n:03d}-ANNA", at, at + length, "ANNA", "fr", f"Réplique {n}.")
            samples = self.tb.samples_between(at, at + length)
            audio = (0.1 * np.sin(np.arange(samples) * 2 * np.pi * 440 / 48000)).astype(np.float32)
            write_bwf(out / "media" / f"{line.id}.wav", audio, self.tb.start_sample + self.tb.sample_at(at),
                      f"ANNA (fr): {line.text}")
            clips.append(DubClip(line, at + length, f"media/{line.id}.wav", "fit"))
            self.lines[line.id] = (at, at + length, samples)
        self.dubbed = add_dub_tracks(self.timeline, clips, self.tb)
        (out / f"{self.name}.dub.otio").write_text(otio.adapters.write_to_string(self.dubbed, "otio_json"))
        assert float(rate) > 0

    def write(self, fmt: str, **kwargs: object) -> list[Path]:
        return write_timeline(self.dubbed, self.out, self.name, fmt, self.tb, **kwargs)

    def media(self, line_id: str) -> Path:
        return (self.out / "media" / f"{line_id}.wav").resolve()


@pytest.fixture(params=sorted(SOURCES))
def dub(request, tmp_path) -> Dub:
    read_args, _ = SOURCES[request.param]
    out = tmp_path / "Sortie é x"  # output folder with a space and an accent
    out.mkdir()
    made = Dub(request.param, out, read_args)
    made.drop = SOURCES[request.param][1]
    return made


def url_path(url: str) -> Path:
    parsed = urlparse(url)
    assert parsed.scheme == "file", url
    return Path(unquote(parsed.path))


def fcpx_time(value: str | None) -> Fraction:
    if not value or value == "0s":
        return Fraction(0)
    num, _, den = value.rstrip("s").partition("/")
    return Fraction(int(num), int(den or 1))


# ---------------------------------------------------------------------------------------------
# reading: DF/NDF and the programme start come from the source
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_source_drop_frame_label(source):
    read_args, drop = SOURCES[source]
    tb = timebase_of(read_timeline(DATA / source, **read_args))
    assert tb.drop_frame is drop
    assert timebase_of(read_timeline(DATA / source, **read_args), drop_frame=not drop).drop_frame is (
        not drop and tb.rate in (Fraction(30000, 1001), Fraction(60000, 1001)))


def test_2997_ndf_sequence_reads_one_hour_non_drop():
    tb = timebase_of(read_timeline(DATA / "regress/ndf_2997_1h.xml"))
    assert (tb.rate, tb.start_frame, tb.drop_frame, tb.tc(0)) == (Fraction(30000, 1001), 108000, False, "01:00:00:00")


@pytest.mark.parametrize(("source", "start", "label"), [("regress/programme_1h.edl", 108000, "01:00:00:00"),
                                                        ("regress/df_2997_1h_programme.edl", 107892, "01:00:00;00")])
def test_edl_programme_start_from_record_timecodes(source, start, label):
    timeline = read_timeline(DATA / source, rate=29.97)
    tb = timebase_of(timeline)
    assert (tb.start_frame, tb.tc(0)) == (start, label)
    placed = {c.name: frames_of(c.transformed_time_range(c.trimmed_range(), timeline.tracks).start_time, tb.rate)
              for c in timeline.find_clips()}
    assert placed["Dialogue ete.wav"] == 30  # record 01:00:01:00, a second after the programme start


def test_relative_media_made_absolute_when_read(tmp_path):
    folder = tmp_path / "projet é"
    folder.mkdir()
    timeline = otio.schema.Timeline("rel")
    track = otio.schema.Track("A1", kind=otio.schema.TrackKind.Audio)
    rng = otio.opentime.TimeRange(otio.opentime.RationalTime(0, 25), otio.opentime.RationalTime(25, 25))
    track.append(otio.schema.Clip("a", otio.schema.ExternalReference("sons/voix 1.wav"), rng))
    timeline.tracks.append(track)
    path = folder / "rel.otio"
    otio.adapters.write_to_file(timeline, str(path))
    [clip] = read_timeline(path).find_clips()
    assert url_path(clip.media_reference.target_url) == folder.resolve() / "sons" / "voix 1.wav"


def test_check_writable_names_unknown_formats_only():
    for fmt in FORMATS + ["otio", "otiod"]:
        check_writable(fmt, TimeBase(Fraction(30000, 1001), 107892, True))  # NTSC DF writes everywhere now
    with pytest.raises(InputError, match="unknown format 'mp4'"):
        check_writable("mp4", TimeBase(Fraction(25)))


# ---------------------------------------------------------------------------------------------
# AAF: pyaaf2 mobs, descriptors and locators
# ---------------------------------------------------------------------------------------------


def composition_positions(comp: object) -> dict[str, tuple[int, int, object]]:
    """Dub line id -> (record frame, length, the SourceClip) in the composition's dub slots."""
    found = {}
    for slot in comp.slots:
        segment = slot.segment
        if not isinstance(segment, aaf2.components.Sequence):
            continue
        at = 0
        for component in segment.components:
            if isinstance(component, aaf2.components.SourceClip) and component.mob is not None \
                    and re.match(r"^\d{3}-ANNA$", component.mob.name or ""):
                found[component.mob.name] = (at, component.length, component)
            at += component.length
    return found


@pytest.mark.parametrize("embed", [False, True])
def test_aaf_structure(dub, embed):
    [path] = dub.write("aaf", aaf_embed=embed)
    total = duration_frames(dub.dubbed, dub.tb)
    with aaf2.open(str(path), "r") as f:
        [comp] = list(f.content.toplevel())
        assert comp.name == dub.dubbed.name
        tc_slots = [s for s in comp.slots if isinstance(s.segment, aaf2.components.Timecode)]
        assert len(tc_slots) == 1 and tc_slots[0]["PhysicalTrackNumber"].value == 1
        tc = tc_slots[0].segment
        assert (tc.start, bool(tc.drop), tc.fps) == (dub.tb.start_frame, dub.drop, round(float(dub.tb.rate)))
        for slot in comp.slots:
            assert slot["PhysicalTrackNumber"].value >= 1
            assert Fraction(slot.edit_rate) == dub.tb.rate
            if isinstance(slot.segment, aaf2.components.Sequence):
                assert slot.segment.length == total == sum(c.length for c in slot.segment.components)
        pictures = [s for s in comp.slots if s.media_kind == "Picture"]
        assert all(s.segment.length == total for s in pictures)  # the video sequence has its length
        placed = composition_positions(comp)
        assert set(placed) == set(dub.lines)
        for line_id, (record_in, record_out, samples) in dub.lines.items():
            at, length, clip = placed[line_id]
            assert (at, length, clip.start) == (record_in, record_out - record_in, 0)
            master_slot = clip.mob.slot_at(clip.slot_id)
            assert master_slot["PhysicalTrackNumber"].value == 1
            file_clip = master_slot.segment
            file_mob = file_clip.mob
            descriptor = file_mob.descriptor
            assert isinstance(descriptor, aaf2.essence.PCMDescriptor)
            assert (descriptor["QuantizationBits"].value, descriptor["BlockAlign"].value,
                    descriptor["AverageBPS"].value, descriptor["Channels"].value) == (24, 3, 144000, 1)
            assert descriptor["Length"].value == samples  # exact, not a sample short
            assert Fraction(descriptor["SampleRate"].value) == 48000
            assert descriptor["ContainerFormat"].value is not None
            file_slot = file_mob.slot_at(file_clip.slot_id)
            assert Fraction(file_slot.edit_rate) == 48000  # the file mob runs at the sample rate
            assert file_slot["PhysicalTrackNumber"].value == 1
            tape_clip = file_slot.segment
            assert tape_clip.start == dub.tb.start_sample + dub.tb.sample_at(record_in)  # the BWF TimeReference
            locators = [loc["URLString"].value for loc in descriptor["Locator"].value]
            if embed:
                assert file_mob.essence is not None and locators == []
                assert len(file_mob.essence.open("r").read()) == samples * 3
            else:
                assert [url_path(u) for u in locators] == [dub.media(line_id)]


def test_aaf_stereo_pair_keeps_both_channels(tmp_path):
    """Avid's two audio tracks of one source (a stereo pair) stay channels 1 and 2 of its master clip."""
    dub = Dub("nle/avid_2997fps.aaf", tmp_path, {})
    [path] = dub.write("aaf")
    with aaf2.open(str(path), "r") as f:
        [comp] = list(f.content.toplevel())
        firsts = []
        for slot in comp.slots:
            if slot.media_kind == "Sound" and not slot.name.startswith("DUB"):
                clip = next(c for c in slot.segment.components if isinstance(c, aaf2.components.SourceClip))
                firsts.append((clip.mob.mob_id, clip.slot_id, clip.mob.slot_at(clip.slot_id)["PhysicalTrackNumber"].value))
        assert len(firsts) == 2 and firsts[0][0] == firsts[1][0]  # one source
        assert {channel for _, _, channel in firsts} == {1, 2} and firsts[0][1] != firsts[1][1]


def test_aaf_round_trip(dub):
    [path] = dub.write("aaf")
    back = otio.adapters.read_from_file(str(path))
    check_round_trip(dub, back)
    assert timebase_of(read_timeline(path)).drop_frame is dub.drop


def test_aaf_links_to_the_final_folder_when_written_in_staging(dub, tmp_path):
    final = tmp_path / "final é"
    [path] = dub.write("aaf", link_dir=final)
    assert path.parent == dub.out
    with aaf2.open(str(path), "r") as f:
        urls = [loc["URLString"].value for mob in f.content.sourcemobs() if mob.descriptor is not None
                and "Locator" in mob.descriptor.keys() for loc in mob.descriptor["Locator"].value]
    dub_urls = sorted(u for u in urls if u.endswith("-ANNA.wav"))
    assert dub_urls and all(url_path(u).parent == final.resolve() / "media" for u in dub_urls)


def test_aaf_mixed_rates_and_generator_write(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="otio_dub")
    dub = Dub("regress/mixed_rates_generator.otio", tmp_path, {})
    [path] = dub.write("aaf")
    assert "Colour matte" in caplog.text  # the generator is named where it became filler
    back = otio.adapters.read_from_file(str(path))
    video = [c for c in back.find_clips() if c.name == "Plan 23.976.mov"]
    assert len(video) >= 2  # both 23.976 shots of the 29.97 sequence are there
    check_round_trip(dub, back)


# ---------------------------------------------------------------------------------------------
# FCPXML: lxml on Final Cut's structure
# ---------------------------------------------------------------------------------------------


def fcpxml_dub_positions(root: etree._Element, rate: Fraction) -> dict[str, tuple[Fraction, Fraction, etree._Element]]:
    """Dub line id -> (record frame from the sequence start, length, element), exactly as FCP reads it."""
    sequence = root.find("library/event/project/sequence")
    tc_start = fcpx_time(sequence.get("tcStart"))
    found = {}
    for item in sequence.find("spine"):
        base, start = fcpx_time(item.get("offset")), fcpx_time(item.get("start"))
        for child in item:
            if child.tag == "asset-clip" and re.match(r"^\d{3}-ANNA$", child.get("name") or ""):
                at = (base - tc_start + fcpx_time(child.get("offset")) - start) * rate
                found[child.get("name")] = (at, fcpx_time(child.get("duration")) * rate, child)
    return found


def test_fcpxml_structure(dub):
    [path] = dub.write("fcpxml")
    root = etree.parse(str(path)).getroot()
    assert root.tag == "fcpxml" and root.get("version") == "1.8"
    assert etree.parse(str(path)).docinfo.doctype == "<!DOCTYPE fcpxml>"
    [sequence] = root.findall("library/event/project/sequence")
    assert fcpx_time(sequence.get("tcStart")) == Fraction(dub.tb.start_frame) / dub.tb.rate
    assert sequence.get("tcFormat") == ("DF" if dub.drop else "NDF")
    fmt = root.find(f"resources/format[@id='{sequence.get('format')}']")
    assert fcpx_time(fmt.get("frameDuration")) == 1 / dub.tb.rate
    assert fmt.get("name").startswith("FFVideoFormat") and fmt.get("width") and fmt.get("height")
    assert not root.findall(".//clip"), "no <clip><gap> wrappers (Final Cut plays them silent)"
    ids = {el.get("id") for el in root.find("resources")}
    for element in root.iter("asset-clip"):
        assert element.get("ref") in ids
    placed = fcpxml_dub_positions(root, dub.tb.rate)
    assert set(placed) == set(dub.lines)
    for line_id, (record_in, record_out, samples) in dub.lines.items():
        at, length, element = placed[line_id]
        assert (at, length) == (record_in, record_out - record_in)
        assert int(element.get("lane")) < 0 and element.get("audioRole") == "dialogue"
        asset = root.find(f"resources/asset[@id='{element.get('ref')}']")
        assert url_path(asset.get("src")) == dub.media(line_id)
        assert (asset.get("hasAudio"), asset.get("hasVideo"), asset.get("audioRate"), asset.get("audioChannels")) == (
            "1", "0", "48000", "1")
        record_tc = Fraction(dub.tb.start_frame + record_in) / dub.tb.rate
        # the asset starts at its BWF time reference (the line's timecode, to the sample) and plays from its head
        assert fcpx_time(asset.get("start")) == fcpx_time(element.get("start"))
        assert abs(fcpx_time(asset.get("start")) - record_tc) < Fraction(1, 48000)
        assert fcpx_time(asset.get("duration")) == Fraction(samples, 48000)


#: FCPXML's content model for what otio-dub writes: element -> (allowed attributes, allowed children).
#: Written from Final Cut Pro's documented DTD (which is not redistributed here).
GRAMMAR = {
    "fcpxml": ({"version"}, ("resources", "library")),
    "resources": (set(), ("format", "asset")),
    "format": ({"id", "name", "frameDuration", "width", "height", "fieldOrder", "paspH", "paspV", "colorSpace"}, ()),
    "asset": ({"id", "name", "uid", "src", "start", "duration", "hasVideo", "format", "hasAudio", "audioSources",
               "audioChannels", "audioRate"}, ("metadata",)),
    "metadata": (set(), ("md",)),  # otio-dub's stamp on what it adds: <md key="com.otio-dub.stamp" .../>
    "md": ({"key", "value"}, ()),
    "library": ({"location"}, ("event",)),
    "event": ({"name", "uid"}, ("project", "asset-clip")),
    "project": ({"name", "uid", "id", "modDate"}, ("sequence",)),
    "sequence": ({"format", "duration", "tcStart", "tcFormat", "audioLayout", "audioRate", "renderFormat", "keywords"},
                 ("spine",)),
    "spine": ({"lane", "offset", "name", "format"}, ("asset-clip", "gap")),
    "gap": ({"name", "offset", "start", "duration", "enabled"}, ("asset-clip", "marker", "metadata")),
    "asset-clip": ({"ref", "lane", "offset", "name", "start", "duration", "enabled", "srcEnable", "audioStart",
                    "audioDuration", "format", "tcStart", "tcFormat", "modDate", "audioRole", "videoRole"},
                   ("asset-clip", "marker", "metadata")),
    "marker": ({"start", "duration", "value", "completed", "note"}, ()),
}
TIME = re.compile(r"^-?\d+(/\d+)?s$")


def test_fcpxml_follows_the_fcpxml_grammar(dub):
    [path] = dub.write("fcpxml")
    root = etree.parse(str(path)).getroot()
    ids = {el.get("id") for el in root.iter() if el.get("id")}
    for element in root.iter():
        attributes, children = GRAMMAR[element.tag]
        assert set(element.attrib) <= attributes, (element.tag, set(element.attrib) - attributes)
        assert all(child.tag in children for child in element), (element.tag, [c.tag for c in element])
        kinds = [child.tag for child in element]
        if "marker" in kinds:  # anchored items first, then markers
            assert "asset-clip" not in kinds[kinds.index("marker"):], (element.tag, kinds)
        for name in ("offset", "start", "duration", "tcStart", "frameDuration"):
            if element.get(name) is not None:
                assert TIME.match(element.get(name)), (element.tag, name, element.get(name))
        for name in ("ref", "format"):
            if element.get(name) is not None:  # IDREFs resolve
                assert element.get(name) in ids, (element.tag, name, element.get(name))
        assert element.get("tcFormat") in (None, "DF", "NDF")
        assert element.get("srcEnable") in (None, "all", "audio", "video")
    assert [c.tag for c in root.find("library/event/project/sequence")] == ["spine"]
    assert root.find("library/event/project/sequence").get("audioRate") in ("32k", "44.1k", "48k", "88.2k", "96k")


@pytest.mark.parametrize(("source", "name", "size"), [
    ("nle/fcpx_example.fcpxml", "FFVideoFormat1080p30", ("1920", "1080")),  # the source's own format
    ("nle/premiere_example.xml", "FFVideoFormat720p30", ("1280", "720")),  # FCP7 samplecharacteristics
    ("regress/mixed_rates_generator.otio", "FFVideoFormat1080p2997", ("1920", "1080")),  # nothing said
])
def test_fcpxml_keeps_the_video_format(tmp_path, source, name, size):
    dub = Dub(source, tmp_path, {})
    fmt = etree.parse(str(dub.write("fcpxml")[0])).getroot().find("resources/format")
    assert (fmt.get("name"), (fmt.get("width"), fmt.get("height"))) == (name, size)


def test_fcpxml_asset_of_unknown_extent_covers_every_use(tmp_path):
    """Media named without a range (an EDL's): its one asset takes in every clip cut from it."""
    rate = 25.0
    track = otio.schema.Track("V1", kind=otio.schema.TrackKind.Video)
    for start in (250, 50):
        rng = otio.opentime.TimeRange(otio.opentime.RationalTime(start, rate), otio.opentime.RationalTime(25, rate))
        track.append(otio.schema.Clip("shot", otio.schema.ExternalReference("file:///media/shot.mov"), rng))
    timeline = otio.schema.Timeline("edl cut")
    timeline.tracks.append(track)
    [path] = write_timeline(timeline, tmp_path, "cut", "fcpxml", TimeBase(Fraction(25)))
    [asset] = etree.parse(str(path)).getroot().findall("resources/asset")
    assert (fcpx_time(asset.get("start")), fcpx_time(asset.get("duration"))) == (2, Fraction(275 - 50, 25))


def test_fcpxml_format_renamed_for_another_rate():
    from otio_dub.timelines.fcpxml_writer import _video_format

    timeline = otio.schema.Timeline("uhd")
    timeline.metadata["otio_dub"] = {"video_format": {"name": "FFVideoFormat3840x2160p25", "width": "3840",
                                                      "height": "2160", "frameDuration": "1/25s"}}
    assert _video_format(timeline, Fraction(25)) == ("FFVideoFormat3840x2160p25", 3840, 2160)
    assert _video_format(timeline, Fraction(30000, 1001)) == ("FFVideoFormat3840x2160p2997", 3840, 2160)


def test_fcpxml_round_trip(dub):
    [path] = dub.write("fcpxml")
    back = otio.adapters.read_from_file(str(path))
    timeline = next(iter(back.find_children(descended_from_type=otio.schema.Timeline)))
    for clip in timeline.find_clips():
        if clip.name in dub.lines:
            assert url_path(clip.media_reference.target_url) == dub.media(clip.name)
    # OTIO's FCPXML reader takes 1001/30000s frames as 29 fps, so the label is checked as read, not via the rate
    again = read_timeline(path)
    assert again.metadata["otio_dub"]["drop_frame"] is dub.drop


# ---------------------------------------------------------------------------------------------
# EDL: CMX3600 lines
# ---------------------------------------------------------------------------------------------

EVENT = re.compile(r"^(\d{3})  (\S+)\s+(\S+)\s+C\s+(\S+) (\S+) (\S+) (\S+)$")


def test_edl_lines(dub):
    paths = dub.write("edl")  # one per dub track (an overlap track is a track of its own)
    assert len(paths) == len([t for t in dub.dubbed.tracks if t.name.startswith("DUB ")])
    events = []
    for path in paths:
        data = path.read_bytes()
        data.decode("ascii")  # CMX3600 is ASCII
        lines = data.decode("ascii").splitlines()
        assert lines[0].startswith("TITLE: ") and lines[1] == ("FCM: DROP FRAME" if dub.drop else "FCM: NON-DROP FRAME")
        for i, line in enumerate(lines):
            if EVENT.match(line):
                block = lines[i + 1:i + 4]
                assert block[1] == block[2].replace("* SOURCE FILE: ", "* FROM CLIP: "), block  # Avid's link too
                events.append((EVENT.match(line), block[0], block[2]))
    assert len(events) == len(dub.lines)
    separator = ";" if dub.drop else ":"
    for match, from_clip, source_file in events:
        line_id = from_clip.removeprefix("* FROM CLIP NAME: ").removesuffix(".wav")
        record_in, record_out, _ = dub.lines[line_id]
        src_in, src_out, rec_in, rec_out = match.group(4, 5, 6, 7)
        assert rec_in == timecode(dub.tb.start_frame + record_in, dub.tb.rate, dub.drop)  # absolute, not from zero
        assert rec_out == timecode(dub.tb.start_frame + record_out, dub.tb.rate, dub.drop)
        assert (src_in, src_out) == (rec_in, rec_out)  # the line file's timecode is its record timecode
        assert all(tc[8] == separator for tc in (src_in, src_out, rec_in, rec_out))
        assert from_clip == f"* FROM CLIP NAME: {line_id}.wav"
        assert source_file.startswith("* SOURCE FILE: ")
        named = Path(source_file[len("* SOURCE FILE: "):])
        if str(dub.media(line_id)).isascii():
            assert named == dub.media(line_id)
        else:  # a non-ASCII folder: the file name only
            assert str(named) == f"{line_id}.wav"


def test_edl_of_more_than_999_lines_is_split(tmp_path):
    from otio_dub.timelines.edl_writer import edl_for_track

    rate = 25.0
    track = otio.schema.Track("DUB en BOB", kind=otio.schema.TrackKind.Audio, metadata={"otio_dub": {"role": "dub"}})
    for n in range(1001):
        rng = otio.opentime.TimeRange(otio.opentime.RationalTime(90000 + 2 * n, rate), otio.opentime.RationalTime(1, rate))
        track.append(otio.schema.Clip(f"{n:04d}-BOB", otio.schema.ExternalReference(f"media/{n:04d}-BOB.wav"), rng))
        track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=otio.opentime.RationalTime(1, rate))))
    texts = edl_for_track(track, "scene", TimeBase(Fraction(25), 90000), tmp_path)
    assert len(texts) == 2 and texts[0].startswith("TITLE: scene (1 of 2)\nFCM: NON-DROP FRAME")
    numbers = [[int(line[:3]) for line in text.splitlines() if EVENT.match(line)] for text in texts]
    assert numbers == [list(range(1, 1000)), [1, 2]]
    assert "01:01:19:23 01:01:19:24" in texts[1]  # the 1000th line (frame 1998 after 01:00:00:00)
    timeline = otio.schema.Timeline("scene", global_start_time=otio.opentime.RationalTime(90000, rate))
    timeline.tracks.append(track.clone())
    paths = write_timeline(timeline, tmp_path, "scene", "edl", TimeBase(Fraction(25), 90000))
    assert [p.name for p in paths] == ["scene.dub.DUB_en_BOB.edl", "scene.dub.DUB_en_BOB.part2.edl"]


def test_edl_absolute_source_file(tmp_path):
    dub = Dub("regress/programme_1h.edl", tmp_path, {"rate": 29.97})
    text = dub.write("edl")[0].read_text(encoding="ascii")
    assert f"* SOURCE FILE: {dub.media('001-ANNA')}" in text


def test_edl_round_trip(dub):
    found = {}
    for path in dub.write("edl"):
        back = read_timeline(path, rate=float(dub.tb.rate))
        tb = timebase_of(back)
        assert tb.drop_frame is dub.drop
        clips = list(back.find_clips())
        first = min(dub.lines[Path(c.name).stem][0] for c in clips)
        assert tb.start_frame == dub.tb.start_frame + first  # the EDL's programme starts at its first event
        for clip in clips:
            rng = clip.transformed_time_range(clip.trimmed_range(), back.tracks)
            found[Path(clip.name).stem] = (tb.start_frame + frames_of(rng.start_time, tb.rate) - dub.tb.start_frame,
                                           frames_of(rng.duration, tb.rate))
    assert set(found) == set(dub.lines)
    for line_id, (record_in, record_out, _) in dub.lines.items():
        at, length = found[line_id]
        assert abs(at - record_in) <= 1 and abs(length - (record_out - record_in)) <= 1


# ---------------------------------------------------------------------------------------------
# FCP7 XML: lxml on xmeml
# ---------------------------------------------------------------------------------------------


def test_fcp7_dub_files(dub):
    [path] = dub.write("xml")
    root = etree.parse(str(path)).getroot()
    [sequence] = [s for s in root.iter("sequence") if s.findtext("name") == dub.dubbed.name]
    assert sequence.findtext("timecode/displayformat") == ("DF" if dub.drop else "NDF")
    assert sequence.findtext("timecode/frame") == str(dub.tb.start_frame)
    assert sequence.findtext("timecode/string") == dub.tb.tc(0)
    files = {f.get("id"): f for f in root.iter("file") if f.find("pathurl") is not None}
    seen = set()
    for item in root.iter("clipitem"):
        if item.findtext("name") not in dub.lines:
            continue
        seen.add(item.findtext("name"))
        file_el = files[item.find("file").get("id")]
        assert url_path(file_el.findtext("pathurl")) == dub.media(item.findtext("name"))
        assert file_el.findtext("media/audio/samplecharacteristics/samplerate") == "48000"
        assert file_el.findtext("media/audio/samplecharacteristics/depth") == "24"
        assert file_el.findtext("media/audio/channelcount") == "1"
        assert file_el.findtext("timecode/displayformat") == ("DF" if dub.drop else "NDF")
        assert item.findtext("sourcetrack/mediatype") == "audio" and item.findtext("sourcetrack/trackindex") == "1"
    assert seen == set(dub.lines)


def test_fcp7_relative_media_of_an_otio_input_go_out_as_file_urls(tmp_path):
    folder = tmp_path / "projet é"
    (folder / "sons").mkdir(parents=True)
    source = otio.adapters.read_from_file(str(DATA / "regress/mixed_rates_generator.otio"))
    for clip in source.find_clips():
        if clip.name.startswith("Dialogue"):
            clip.media_reference.target_url = "sons/Dialogue é.wav"
    otio.adapters.write_to_file(source, str(folder / "relative.otio"))
    out = tmp_path / "out"
    out.mkdir()
    dub = Dub(str(folder / "relative.otio"), out, {})
    [path] = dub.write("xml")
    urls = [el.text for el in etree.parse(str(path)).getroot().iter("pathurl")]
    assert urls and all(u.startswith("file://") for u in urls)
    assert folder.resolve() / "sons" / "Dialogue é.wav" in {url_path(u) for u in urls}


def test_drop_frame_override_labels_every_format(tmp_path):
    """--drop-frame on a 29.97 source that says NDF: every format labels the dub DF, at the same frames."""
    out = tmp_path / "out"
    out.mkdir()
    dub = Dub("regress/ndf_2997_1h.xml", out, {})
    dub.tb = timebase_of(dub.timeline, drop_frame=True)
    dub.dubbed.metadata["otio_dub"] = {**dict(dub.dubbed.metadata.get("otio_dub") or {}), "drop_frame": True}
    with aaf2.open(str(dub.write("aaf")[0]), "r") as f:
        assert next(s.segment for c in f.content.toplevel() for s in c.slots
                    if isinstance(s.segment, aaf2.components.Timecode)).drop
    assert "FCM: DROP FRAME" in dub.write("edl")[0].read_text(encoding="ascii")
    root = etree.parse(str(dub.write("fcpxml")[0])).getroot()
    assert root.find("library/event/project/sequence").get("tcFormat") == "DF"
    xml = etree.parse(str(dub.write("xml")[0])).getroot()
    assert {el.text for el in xml.iter("displayformat") if el.getparent().getparent().tag == "sequence"} == {"DF"}
    assert read_timeline(dub.out / f"{dub.name}.dub.xml").metadata.get("fcp_xml", {}).get("timecode", {}).get(
        "displayformat") == "DF"


def test_fcp7_round_trip(dub):
    [path] = dub.write("xml")
    back = read_timeline(path)
    check_round_trip(dub, back)
    assert timebase_of(back).drop_frame is dub.drop


# ---------------------------------------------------------------------------------------------
# otioz: only audio and video are bundled
# ---------------------------------------------------------------------------------------------


def test_otioz_bundles_only_audio_and_video(dub, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="otio_dub")
    secret = tmp_path / "passwd.wav"  # a media suffix, but not media
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    track = otio.schema.Track("notes", kind=otio.schema.TrackKind.Audio)
    rng = otio.opentime.TimeRange(otio.opentime.RationalTime(0, float(dub.tb.rate)),
                                  otio.opentime.RationalTime(5, float(dub.tb.rate)))
    track.append(otio.schema.Clip("secret", otio.schema.ExternalReference(secret.as_uri()), rng))
    dub.dubbed.tracks.append(track)
    [path] = dub.write("otioz")
    with zipfile.ZipFile(path) as bundle:
        names = set(bundle.namelist())
        assert {f"media/{line_id}.wav" for line_id in dub.lines} <= names
        assert not any("passwd" in n for n in names), sorted(names)
        assert all(is_media_file(dub.media(line_id)) for line_id in dub.lines)
    assert not is_media_file(secret) and not is_media_file(Path("/etc/passwd"))
    assert "not bundled" in caplog.text and "passwd.wav" in caplog.text
    assert "bundled 3 media file(s)" in caplog.text


# ---------------------------------------------------------------------------------------------
# the round trip every format shares
# ---------------------------------------------------------------------------------------------


def check_round_trip(dub: Dub, back: otio.schema.Timeline) -> None:
    """Every dub clip read back within one frame of the .dub.otio, its media an existing file."""
    tb = timebase_of(back)
    assert tb.rate == dub.tb.rate and tb.start_frame == dub.tb.start_frame
    found = {}
    for clip in back.find_clips():
        if clip.name in dub.lines:
            rng = clip.transformed_time_range(clip.trimmed_range(), back.tracks)
            found[clip.name] = (frames_of(rng.start_time, tb.rate), frames_of(rng.duration, tb.rate))
            media = url_path(clip.media_reference.target_url)
            assert media.is_file() and media == dub.media(clip.name)
    assert set(found) == set(dub.lines)
    for line_id, (record_in, record_out, _) in dub.lines.items():
        at, length = found[line_id]
        assert abs(at - record_in) <= 1 and abs(length - (record_out - record_in)) <= 1, (line_id, found[line_id])
