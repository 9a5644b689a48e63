"""The dub written back in the editor's own format (``--to``), checked by reading it back with the same
OTIO adapter: real NLE exports round-tripped, every supported rate through every writer, bad files.

The real exports in ``tests/data/nle`` carry no dialogue text: each test pairs them with an SRT whose
events lie inside their audio clips (record ranges computed with OTIO).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import xml.etree.ElementTree as ET
import zipfile
from fractions import Fraction
from pathlib import Path
from urllib.parse import unquote, urlparse

import opentimelineio as otio
import pytest
from click.testing import CliRunner
from lxml import etree as LET

import otio_dub
from otio_dub.cli import main
from otio_dub.core.errors import InputError, OtioDubError
from otio_dub.delivery.stems import StemOptions
from otio_dub.dialogue.lines import find_lines
from otio_dub.stages.pipeline import DubOptions, read_timeline

DATA = Path(__file__).resolve().parent / "data" / "nle"

#: sample -> (adapter read arguments, the --to a dub of it defaults to)
SAMPLES = {
    "premiere_example.xml": ({}, "xml"),
    "avid_simple.aaf": ({}, "aaf"),
    "avid_2997fps.aaf": ({}, "aaf"),
    "fcpx_example.fcpxml": ({}, "fcpxml"),
    "multi_audio.edl": ({"rate": 24}, "edl"),
}

#: Writers that flatten nested stacks (compound clips) and lay tracks their own way (FCPXML: one
#: storyline and lanes; generators as gaps/filler): their original clips are compared by record
#: position, not track by track.
FLATTENING = {"aaf", "fcpxml", "xml"}

LONG_TEXT = "This line is far too long to ever fit inside its tiny little window, however fast it is spoken."


def no_stems() -> StemOptions:
    return StemOptions(mode="none", loudness=None)


def first_timeline(result: otio.core.SerializableObject) -> otio.schema.Timeline:
    """A read result as a timeline (FCPXML projects read as a collection: its first timeline, as the dub does)."""
    if isinstance(result, otio.schema.SerializableCollection):
        return next(iter(result.find_children(descended_from_type=otio.schema.Timeline)))
    assert isinstance(result, otio.schema.Timeline)
    return result


def read_back(path: Path, **kwargs: object) -> otio.schema.Timeline:
    return first_timeline(otio.adapters.read_from_file(str(path), **kwargs))


def frame(time: otio.opentime.RationalTime, rate: Fraction) -> int:
    """A RationalTime as the nearest whole frame at ``rate``."""
    return round(time.value_rescaled_to(float(rate)))


def tc_frame(tc: str, rate: Fraction) -> int:
    """Absolute frame of a timecode (';' = drop-frame)."""
    return round(otio.opentime.from_timecode(tc, float(rate)).value)


def record_frames(timeline: otio.schema.Timeline, rate: Fraction) -> dict[str, tuple[int, int]]:
    """Clip name -> (absolute record frame, length in frames) for every clip of ``timeline``."""
    start = frame(timeline.global_start_time, rate) if timeline.global_start_time is not None else 0
    found = {}
    for clip in timeline.find_clips():
        rng = clip.transformed_time_range(clip.trimmed_range(), timeline.tracks)
        found[clip.name] = (start + frame(rng.start_time, rate), frame(rng.duration, rate))
    return found


def _fcpx_seconds(value: str | None) -> Fraction:
    if not value or value == "0s":
        return Fraction(0)
    num, _, den = value.rstrip("s").partition("/")
    return Fraction(int(num), int(den or 1))


def fcpxml_record_frames(path: Path, rate: Fraction) -> dict[str, tuple[int, int]]:
    """Clip name -> (record frame from the timeline start, length) read exactly from an FCPXML file:
    storyline items at their offset (from the sequence's tcStart), connected (lane) clips at parent
    offset + (offset - parent start).

    OTIO's FCPXML reader truncates ``int(float(offset) * fps)``, so its re-read can land a frame early
    (41/10s at 30 fps reads back as frame 122); Final Cut Pro reads the exact rational."""
    found = {}
    root = ET.parse(path).getroot()
    tc_start = _fcpx_seconds(root.find("library/event/project/sequence").get("tcStart"))
    for spine in root.iter("spine"):
        for item in spine:
            base, start = _fcpx_seconds(item.get("offset")) - tc_start, _fcpx_seconds(item.get("start"))
            if item.get("name"):
                found[item.get("name")] = (base * rate, _fcpx_seconds(item.get("duration")) * rate)
            for child in item:
                if child.get("lane") is not None and child.get("name"):
                    at = base + _fcpx_seconds(child.get("offset")) - start
                    found[child.get("name")] = (at * rate, _fcpx_seconds(child.get("duration")) * rate)
    for name, (at, length) in found.items():  # dub clips on whole frames, exactly (Final Cut's own may sit between)
        assert not re.match(r"^\d{3}-", name) or (at.denominator == 1 and length.denominator == 1), (name, at, length)
    return {name: (int(at), int(length)) for name, (at, length) in found.items()}


def srt_time(ms: int) -> str:
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def audio_clip_ranges_ms(timeline: otio.schema.Timeline) -> list[tuple[int, int]]:
    """Record ranges (ms from the timeline start) of the audio clips, overlapping ones dropped."""
    ranges = []
    for track in timeline.tracks:
        if track.kind != otio.schema.TrackKind.Audio:
            continue
        for clip in track.find_clips():
            rng = clip.transformed_time_range(clip.trimmed_range(), timeline.tracks)
            start = rng.start_time.to_seconds()
            ranges.append((round(start * 1000), round(rng.end_time_exclusive().to_seconds() * 1000)))
    chosen: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if all(start >= e or end <= s for s, e in chosen):
            chosen.append((start, end))
    return chosen


def script_for(timeline: otio.schema.Timeline, long_last: bool = False) -> str:
    """An SRT of up to 3 'BOB: ...' events, each inside an audio clip: first one per clip, then more in
    the clips that have room (slots 2 s apart), events up to a second long."""
    clips = audio_clip_ranges_ms(timeline)
    events = []
    for slot in range(3):
        for start, end in clips:
            at = start + 50 + 2000 * slot
            length = min(1000, end - 50 - at)
            if length >= 600:
                events.append((at, at + length))
    events = sorted(events[:3])
    assert events, f"{timeline.name}: no audio clip long enough for a line"
    texts = ["Hello there.", "Come here.", "See you."]
    if long_last:
        texts[len(events) - 1] = LONG_TEXT
    return "\n".join(f"{n}\n{srt_time(a)} --> {srt_time(b)}\nBOB: {texts[n - 1]}\n"
                     for n, (a, b) in enumerate(events, 1))


def track_summary(track: otio.schema.Track) -> dict:
    """What must survive of an original track: kind, name and per clip name, source range, media URL."""
    clips = list(track.find_clips())
    return {
        "kind": track.kind,
        "name": track.name,
        "clips": [(c.name, c.source_range, getattr(c.media_reference, "target_url", None)) for c in clips],
    }


def dub_tracks_of(timeline: otio.schema.Timeline, ids: set[str]) -> list[otio.schema.Track]:
    """Tracks of a read-back timeline that hold dub clips (found by clip name: '001-BOB' ...)."""
    return [t for t in timeline.tracks if any(c.name in ids for c in t.find_clips())]


def media_path(url: str) -> Path:
    parsed = urlparse(url)
    assert parsed.scheme == "file", url
    return Path(unquote(parsed.path))


# ---------------------------------------------------------------------------------------------
# 1. real NLE exports: dub with a script, write back in the input's format, read back
# ---------------------------------------------------------------------------------------------


class Exported:
    def __init__(self, name: str, source: Path, read_args: dict, fmt: str, result: otio_dub.DubResult):
        self.name, self.source, self.read_args, self.fmt, self.result = name, source, read_args, fmt, result
        self.rate = _report_rate(result)
        self.ids = {row["id"] for row in result.lines}


def _report_rate(result: otio_dub.DubResult) -> Fraction:
    import json

    return Fraction(json.loads(result.report_path.read_text(encoding="utf-8"))["rate"])


@pytest.fixture(scope="module", params=sorted(SAMPLES))
def exported(request, tmp_path_factory) -> Exported:
    name = request.param
    read_args, fmt = SAMPLES[name]
    work = tmp_path_factory.mktemp(Path(name).stem)
    source = work / name
    shutil.copyfile(DATA / name, source)
    script = work / f"{Path(name).stem}.srt"
    script.write_text(script_for(read_timeline(source, **read_args), long_last=True), encoding="utf-8")
    result = otio_dub.dub(source, script=script, out_dir=work / "out",
                          options=DubOptions(rate=read_args.get("rate"), stems=no_stems()))
    return Exported(name, source, read_args, fmt, result)


def test_real_export_dub_writes_the_input_format_and_otio(exported):
    out, stem = exported.result.out_dir, Path(exported.name).stem
    assert (out / f"{stem}.dub.otio").is_file()
    assert exported.result.timeline_path == out / f"{stem}.dub.otio"
    assert len(exported.result.lines) == 3
    if exported.fmt == "edl":  # one EDL per dub track
        dub_tracks = [t for t in exported.result.timeline.tracks if (t.metadata.get("otio_dub") or {}).get("role") == "dub"]
        expected = sorted(f"{stem}.dub.{re.sub(r'[^A-Za-z0-9_-]+', '_', t.name).strip('_')}.edl" for t in dub_tracks)
        assert sorted(p.name for p in exported.result.exports) == expected
    else:
        suffix = Path(exported.name).suffix
        assert [p.name for p in exported.result.exports] == [f"{stem}.dub{suffix}"]
    for path in exported.result.exports:
        assert path.is_file() and path.parent == out
    assert not [p for p in out.iterdir() if ".part" in p.name], "a temporary file was left behind"


def test_real_export_dub_clips_frame_exact(exported):
    """Every line's dub clip sits at its record frame (and is as long as report.json says) when read back."""
    rate = exported.rate
    if exported.fmt == "edl":
        start = exported.result.timeline.global_start_time
        check_edls(exported.result, rate, frame(start, rate) if start is not None else 0)
        return
    if exported.fmt == "fcpxml":  # exact, from the file (OTIO's reader truncates rationals and ignores tcStart)
        start = read_timeline(exported.source).global_start_time
        offset = frame(start, rate) if start is not None else 0
        placed = {n: (at + offset, length) for n, (at, length) in
                  fcpxml_record_frames(exported.result.exports[0], rate).items()}
    else:
        placed = record_frames(read_back(exported.result.exports[0], **exported.read_args), rate)
    for row in exported.result.lines:
        assert row["id"] in placed, f"{row['id']} missing from {exported.result.exports[0].name}: {sorted(placed)}"
        at, length = placed[row["id"]]
        assert at == tc_frame(row["record_in"], rate), (row["id"], row["record_in"])
        assert length == tc_frame(row["clip_out"], rate) - tc_frame(row["record_in"], rate), row["id"]


def edl_events(text: str) -> list[tuple[str, str, str, str, str]]:
    """(clip name, source in, source out, record in, record out) of each event of a CMX3600 EDL."""
    events = []
    tcs = r"(\d\d:\d\d:\d\d[:;]\d\d)"
    for match in re.finditer(rf"^\d{{3}}\s+\S+\s+\S+\s+C\s+{tcs}\s+{tcs}\s+{tcs}\s+{tcs}\s*\n\* FROM CLIP NAME:\s+(\S+)",
                             text, flags=re.MULTILINE):
        events.append((match.group(5), *match.group(1, 2, 3, 4)))
    return events


def check_edls(result: otio_dub.DubResult, rate: Fraction, start_frame: int) -> None:
    """Each EDL re-reads at ``rate``; its events keep the lines' spacing; its record timecodes are absolute."""
    rows = {row["id"]: row for row in result.lines}
    seen = set()
    for path in result.exports:
        back = otio.adapters.read_from_file(str(path), rate=float(rate))
        clips = [c for c in back.find_clips() if Path(c.name).stem in rows]
        for clip in clips:  # '* FROM CLIP NAME:' is the line file's name, extension included
            assert clip.name.endswith(".wav"), clip.name
            clip.name = Path(clip.name).stem
        assert clips, f"{path.name}: no dub clip read back"
        placed = record_frames(back, rate)
        first = clips[0].name
        for clip in clips:  # the reader re-bases to the first event: compare spacing
            assert placed[clip.name][0] - placed[first][0] == (
                tc_frame(rows[clip.name]["record_in"], rate) - tc_frame(rows[first]["record_in"], rate)), clip.name
            assert placed[clip.name][1] == tc_frame(rows[clip.name]["clip_out"], rate) - tc_frame(
                rows[clip.name]["record_in"], rate), clip.name
        events = [(Path(e[0]).stem, *e[1:]) for e in edl_events(path.read_text(encoding="ascii"))]
        assert sorted(e[0] for e in events) == sorted(c.name for c in clips), path.read_text(encoding="utf-8")
        for name, _, _, rec_in, rec_out in events:
            line = rows[name]
            assert tc_frame(rec_in, rate) == tc_frame(line["record_in"], rate), (path.name, name, rec_in)
            assert tc_frame(rec_in, rate) - start_frame >= 0
            assert tc_frame(rec_out, rate) == tc_frame(line["clip_out"], rate), (path.name, name, rec_out)
            seen.add(name)
    assert seen == set(rows), f"lines missing from the EDLs: {set(rows) - seen}"


def test_real_export_original_tracks_unchanged(exported):
    """The read-back output's own tracks equal a read of the input through the same adapter."""
    if exported.fmt == "edl":  # the EDL writer takes one track: each EDL is one dub track, the rest stays in .dub.otio
        for path in exported.result.exports:
            back = read_back(path, **exported.read_args)
            assert len(back.tracks) == 1
            assert {Path(c.name).stem for c in back.find_clips()} <= exported.ids
        return
    if exported.fmt in FLATTENING:
        check_originals_in_place(exported)
        return
    before = read_back(exported.source, **exported.read_args)
    after = read_back(exported.result.exports[0], **exported.read_args)
    originals = [t for t in after.tracks if t not in dub_tracks_of(after, exported.ids)]
    assert len(originals) == len(before.tracks)
    assert len(dub_tracks_of(after, exported.ids)) >= 1
    expected = [track_summary(t) for t in before.tracks]
    for index, (want, track) in enumerate(zip(expected, originals, strict=True)):
        got = track_summary(track)
        assert got["kind"] == want["kind"], index
        assert got["name"] == want["name"], index
        assert len(got["clips"]) == len(want["clips"]), (index, track.name)
        assert got["clips"] == want["clips"], (index, track.name)


def placed_originals(timeline: otio.schema.Timeline, rate: Fraction, ids: set[str]) -> list[tuple]:
    """(kind, clip name, record frame, length, media file name) of every non-dub clip with media, nested
    stacks flattened as the NLE shows them (the top track of a compound clip wins)."""
    found = []
    for track in timeline.tracks:
        flat = otio.algorithms.flatten_stack([track]) if any(
            isinstance(i, (otio.schema.Stack, otio.schema.Track)) for i in track) else track
        for item in flat:
            if isinstance(item, (otio.schema.Stack, otio.schema.Track)):
                inner = otio.algorithms.flatten_stack([t for t in item if isinstance(t, otio.schema.Track)
                                                       and t.kind == track.kind] or [otio.schema.Track()])
                trimmed = otio.algorithms.track_trimmed_to_range(inner, item.trimmed_range())  # keep it alive
                base = frame(item.range_in_parent().start_time, rate)
                rows = [(c, base + frame(c.range_in_parent().start_time, rate)) for c in trimmed.find_clips()]
            elif isinstance(item, otio.schema.Clip):
                rows = [(item, frame(item.range_in_parent().start_time, rate))]
            else:
                continue
            for clip, at in rows:
                url = getattr(clip.media_reference, "target_url", None)
                if clip.name in ids or not url:
                    continue
                found.append((track.kind, clip.name, at, frame(clip.trimmed_range().duration, rate),
                              Path(unquote(urlparse(url).path)).name))
    return sorted(found)


def check_originals_in_place(exported: Exported) -> None:
    """Every original clip of the input (compound clips flattened) is in the output, at its record frame."""
    rate = exported.rate
    written = exported.result.exports[0]
    if exported.fmt == "fcpxml":  # patched: the editor's document comes back as it was, the dub's elements stamped
        def unstamped(path: Path) -> list[tuple]:
            root = LET.parse(str(path)).getroot()
            for element in root.xpath("//*[metadata/md[@key='com.otio-dub.stamp']]"):
                element.getparent().remove(element)
            return [(e.tag, dict(e.attrib), (e.text or "").strip()) for e in root.iter() if isinstance(e.tag, str)]

        assert unstamped(written) == unstamped(exported.source), f"{written.name}: the editor's elements changed"
        return
    before = placed_originals(read_timeline(exported.source, **exported.read_args), rate, exported.ids)
    after = placed_originals(read_back(written, **exported.read_args), rate, exported.ids)
    missing = [c for c in before if c not in after]
    assert not missing, f"{written.name}: original clips not in place: {missing[:5]}"


def test_real_export_dub_otio_keeps_the_input_tracks(exported):
    """The lossless .dub.otio holds the input's tracks exactly, then the dub tracks."""
    source = read_timeline(exported.source, **exported.read_args)
    dubbed = read_timeline(exported.result.timeline_path)
    assert len(dubbed.tracks) > len(source.tracks)
    for before, after in zip(source.tracks, dubbed.tracks[: len(source.tracks)], strict=True):
        # through JSON and back: the .otio writer keeps floats in adapter metadata to 16 digits, not exactly
        before = otio.adapters.read_from_string(otio.adapters.write_to_string(before, "otio_json"), "otio_json")
        assert after.is_equivalent_to(before), before.name
    for track in dubbed.tracks[len(source.tracks):]:
        assert track.metadata["otio_dub"]["role"] == "dub"


def test_real_export_dub_media_are_absolute_file_urls(exported):
    for path in exported.result.exports:
        back = read_timeline(path, **exported.read_args)  # EDL: its '* FROM CLIP:' path, read as a file URL
        clips = [c for c in back.find_clips() if Path(c.name).stem in exported.ids]  # EDL names: 'id.wav'
        assert clips
        for clip in clips:
            url = clip.media_reference.target_url
            assert url.startswith("file://"), url
            where = media_path(url)
            assert where.is_absolute() and where.is_file(), url
            assert where == (exported.result.out_dir / "media" / f"{Path(clip.name).stem}.wav").resolve()


def test_real_export_overrun_marker_is_not_read_back_as_a_line(exported):
    """The OVERRUN marker on a dub clip ('OVERRUN: needs ...') must not come back as dialogue of a
    character 'OVERRUN' when the written file is read again (the dub clip's role metadata does not survive)."""
    assert any(row["status"] == "overrun" for row in exported.result.lines)
    for path in exported.result.exports:
        back = read_timeline(path, **exported.read_args)  # as `otio-dub lines` / a second dub reads it
        bogus = [(ln.character, ln.text, ln.origin) for ln in find_lines(back)
                 if ln.character in ("OVERRUN", "BORROWED") or ln.clip_name in exported.ids]
        assert bogus == [], f"{path.name}: dub clips read back as dialogue: {bogus}"


# ---------------------------------------------------------------------------------------------
# 2. timelines made in code at every rate through every writer
# ---------------------------------------------------------------------------------------------

#: label -> (exact rate, start timecode of the timeline, drop-frame display)
RATES = {
    "23.976": (Fraction(24000, 1001), "01:00:00:00", False),
    "24": (Fraction(24), "01:00:00:00", False),
    "25": (Fraction(25), "01:00:00:00", False),
    "29.97DF": (Fraction(30000, 1001), "01:00:00;00", True),
    "29.97NDF": (Fraction(30000, 1001), "01:00:00:00", False),
    "30": (Fraction(30), "01:00:00:00", False),
    "50": (Fraction(50), "01:00:00:00", False),
    "59.94": (Fraction(60000, 1001), "01:00:00;00", True),
}
WRITERS = ["otio", "otioz", "otiod", "xml", "fcpxml", "edl", "aaf"]


def made_timeline(tools, label: str) -> tuple[otio.schema.Timeline, Fraction, int]:
    rate, start_tc, drop = RATES[label]
    start = tc_frame(start_tc, rate)
    fps = float(rate)
    specs = [  # ANNA twice so one EDL holds two events
        tools.LineSpec(round(fps * 0.3), round(fps * 1.5), "Hi there.", "ANNA"),
        tools.LineSpec(round(fps * 2) + 1, round(fps * 3.5), "Go on.", "BOB"),
        tools.LineSpec(round(fps * 4) + 3, round(fps * 5.5), "Thank you.", "ANNA"),
    ]
    timeline = tools.make_timeline(rate, start, specs, round(fps * 6), name=f"made_{label.replace('.', '_')}")
    if rate.denominator != 1:  # DF/NDF is the source's to say, never the rate's
        timeline.metadata["otio_dub"] = {"drop_frame": drop}
    return timeline, rate, start


@pytest.mark.parametrize("fmt", WRITERS)
@pytest.mark.parametrize("label", list(RATES))
def test_made_timeline_through_each_writer(tools, tmp_path, label, fmt):
    timeline, rate, start = made_timeline(tools, label)
    out = tmp_path / "out"
    options = DubOptions(to=fmt, stems=no_stems())
    result = otio_dub.dub(timeline, out_dir=out, options=options)
    name = timeline.name
    rows = {row["id"]: row for row in result.lines}
    assert len(rows) == 3
    assert (out / f"{name}.dub.otio").is_file()
    assert not [p for p in out.rglob("*") if ".part" in p.name]

    def check_positions(back: otio.schema.Timeline) -> None:
        placed = record_frames(back, rate)
        for line_id, row in rows.items():
            assert line_id in placed, (line_id, sorted(placed))
            at, length = placed[line_id]
            assert at == tc_frame(row["record_in"], rate), (line_id, row["record_in"])
            assert length == tc_frame(row["clip_out"], rate) - tc_frame(row["record_in"], rate), line_id
        # the timeline's own clips are where they were made, too
        for clip in timeline.find_clips():
            rng = clip.transformed_time_range(clip.trimmed_range(), timeline.tracks)
            assert placed[clip.name][0] == start + frame(rng.start_time, rate), clip.name

    if fmt == "otio":
        assert result.exports == []
        check_positions(read_back(out / f"{name}.dub.otio"))
        return
    if fmt == "edl":
        check_edls(result, rate, start)
        return
    [path] = result.exports
    assert path.name == f"{name}.dub.{fmt}"
    if fmt == "otioz":
        with zipfile.ZipFile(path) as bundle:
            names = set(bundle.namelist())
            for line_id in rows:
                member = f"media/{line_id}.wav"
                assert member in names, sorted(names)
                assert bundle.read(member) == (out / "media" / f"{line_id}.wav").read_bytes()
        unpacked = tmp_path / "unpacked"
        unpacked.mkdir()
        back = read_back(path, extract_to_directory=str(unpacked))
        for clip in back.find_clips():
            if clip.name in rows:
                assert (unpacked / clip.media_reference.target_url).is_file()
        check_positions(back)
        return
    if fmt == "otiod":
        assert path.is_dir()
        for line_id in rows:
            assert (path / "media" / f"{line_id}.wav").read_bytes() == (out / "media" / f"{line_id}.wav").read_bytes()
        check_positions(read_back(path))
        return
    back = read_back(path)
    if fmt == "fcpxml":  # exact positions from the file itself (see fcpxml_record_frames), names from the re-read
        exact = fcpxml_record_frames(path, rate)
        sequence = ET.parse(path).getroot().find("library/event/project/sequence")
        assert _fcpx_seconds(sequence.get("tcStart")) * rate == start
        assert sequence.get("tcFormat") == ("DF" if RATES[label][2] else "NDF")
        assert {c.name for c in back.find_clips()} >= set(rows)
        for line_id, row in rows.items():
            at, length = exact[line_id]
            assert start + at == tc_frame(row["record_in"], rate), (line_id, row["record_in"])
            assert length == tc_frame(row["clip_out"], rate) - tc_frame(row["record_in"], rate), line_id
    else:
        check_positions(back)
    for clip in back.find_clips():
        if clip.name in rows:
            assert media_path(clip.media_reference.target_url) == (out / "media" / f"{clip.name}.wav").resolve()
    if fmt == "xml":
        [sequence] = [s for s in ET.parse(path).getroot().iter("sequence") if s.findtext("name") == name]
        assert sequence.findtext("./timecode/displayformat") == ("DF" if RATES[label][2] else "NDF")
        assert sequence.findtext("./timecode/frame") == str(start)


# ---------------------------------------------------------------------------------------------
# 3. bad files: one line naming the file (and where), through the library and the CLI
# ---------------------------------------------------------------------------------------------


def write_made_otio(tools, folder: Path, seconds: int = 10) -> Path:
    timeline = tools.make_timeline(25, 90000, [tools.LineSpec(25, 75, "Hello.", "ANNA")], 25 * seconds, name="bad")
    path = folder / "bad.otio"
    otio.adapters.write_to_file(timeline, str(path))
    return path


def bad_case(kind: str, tools, folder: Path) -> tuple[Path, Path | None, list[str]]:
    """(timeline, script, strings the error must name) for each kind of bad input."""
    script = folder / "ok.srt"
    script.write_text("1\n00:00:01,000 --> 00:00:02,000\nBOB: Hi.\n", encoding="utf-8")
    if kind == "truncated_xml":
        data = (DATA / "premiere_example.xml").read_bytes()
        path = folder / "cut.xml"
        path.write_bytes(data[: len(data) // 2])
        return path, script, ["cut.xml", "line"]
    if kind == "not_aaf":
        path = folder / "notes.aaf"
        path.write_bytes(b"This is a text file, not an AAF.\n" * 20)
        return path, script, ["notes.aaf"]
    timeline = write_made_otio(tools, folder)
    if kind == "broken_srt":
        bad = folder / "broken.srt"
        bad.write_text("1\n00:00:01,000 --> 00:00:02,000\nBOB: Hi.\n\n2\n00:00:03,000 --> 00:00:0x,000\nBOB: Bye.\n",
                       encoding="utf-8")
        return timeline, bad, ["broken.srt", "line 6", "00:00:0x,000"]
    if kind == "outside":
        bad = folder / "late.srt"
        bad.write_text("1\n00:00:01,000 --> 00:00:02,000\nBOB: Hi.\n\n2\n00:00:30,000 --> 00:00:31,000\nBOB: Late.\n",
                       encoding="utf-8")
        return timeline, bad, ["late.srt", "event 2", "outside the timeline"]
    raise AssertionError(kind)


BAD = ["truncated_xml", "not_aaf", "broken_srt", "outside"]


@pytest.mark.parametrize("kind", BAD)
def test_bad_input_library(tools, tmp_path, kind):
    timeline, script, names = bad_case(kind, tools, tmp_path)
    out = tmp_path / "out"
    with pytest.raises(OtioDubError) as caught:
        otio_dub.dub(timeline, script=script, out_dir=out, options=DubOptions(stems=no_stems()))
    message = str(caught.value)
    assert "\n" not in message
    for text in names:
        assert text in message, (text, message)
    if kind in ("truncated_xml", "not_aaf"):
        assert isinstance(caught.value, InputError)
    assert not out.exists() or not [p for p in out.rglob("*") if ".dub." in p.name]


@pytest.mark.parametrize("kind", BAD)
def test_bad_input_cli(tools, tmp_path, kind):
    timeline, script, names = bad_case(kind, tools, tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["dub", str(timeline), "--script", str(script), "-o", str(out),
                                       "--stems", "none", "-q"])
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    for text in names:
        assert text in errors[0], (text, result.output)
    assert not out.exists() or not [p for p in out.rglob("*") if ".dub." in p.name]


def test_overlapping_events_of_one_character_warn(tools, tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(logging.getLogger("otio_dub"), "propagate", True)  # the CLI turns it off
    caplog.set_level(logging.WARNING, logger="otio_dub")
    timeline = write_made_otio(tools, tmp_path)
    script = tmp_path / "overlap.srt"
    script.write_text("1\n00:00:04,000 --> 00:00:05,200\nBOB: Hi.\n\n2\n00:00:04,600 --> 00:00:05,800\nBOB: Yes.\n",
                      encoding="utf-8")
    result = otio_dub.dub(timeline, script=script, out_dir=tmp_path / "out", options=DubOptions(stems=no_stems()))
    assert [row["id"] for row in result.lines] == ["001-ANNA", "002-BOB", "003-BOB"]
    warnings = sorted({r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "overlap" in r.getMessage()})
    assert len(warnings) == 1, caplog.text
    assert "overlap.srt" in warnings[0] and "BOB" in warnings[0]
    names = [t.name for t in result.timeline.tracks]
    assert "DUB en BOB" in names and any("overlap" in n for n in names), names
    assert "event 2" in warnings[0] and "event 1" in warnings[0], warnings[0]  # both events named


def test_fcpxml_on_a_2997_timeline_cli(tmp_path):
    """An NTSC timeline writes FCPXML (OTIO's writer refused it): frame-exact 1001/30000s times."""
    source = tmp_path / "avid_2997fps.aaf"
    shutil.copyfile(DATA / "avid_2997fps.aaf", source)
    script = tmp_path / "s.srt"
    script.write_text(script_for(read_timeline(source)), encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["dub", str(source), "--script", str(script), "--to", "fcpxml", "-o", str(out),
                                       "--stems", "none", "-q"])
    assert result.exit_code == 0, result.output
    path = out / "avid_2997fps.dub.fcpxml"
    root = ET.parse(path).getroot()
    assert root.find("resources/format").get("frameDuration") == "1001/30000s"
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    placed = fcpxml_record_frames(path, Fraction(30000, 1001))
    for row in report["lines"]:
        assert placed[row["id"]][0] == tc_frame(row["record_in"], Fraction(30000, 1001))


def test_an_otiod_bundle_is_replaced_by_a_second_run(tmp_path):
    root = Path(__file__).resolve().parent.parent / "samples"
    for _ in range(2):
        result = otio_dub.dub(root / "scene.otio", root / "scene.ass", tmp_path, DubOptions(to="otiod"))
    (bundle,) = result.exports
    assert bundle.is_dir() and (bundle / "content.otio").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".scene.dub.otiod")]  # nothing left aside
