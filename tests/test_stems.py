"""Stems and delivery: bext timecode at 24 / 23.976 / 29.97 DF read back independently, loudness to
spec (measured here with an independent BS.1770 implementation), one gain per character, stem
modes, the full mix over an M&E, RF64, flat memory, and `otio-dub stems` following an edited dub."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import tracemalloc
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest
import soundfile as sf
from click.testing import CliRunner

import otio_dub
from otio_dub import DubOptions
from otio_dub.audio import bwf as render
from otio_dub.audio.bwf import BwfWriter, Placement, write_bwf
from otio_dub.cli import main
from otio_dub.core.errors import InputError
from otio_dub.delivery.stems import StemOptions, render_stems, restem

LSB = 1.0 / 2**23
FRAME_2398 = 2002


# ---------------------------------------------------------------------------------------------
# independent timecode arithmetic (no otio_dub, no OTIO)
# ---------------------------------------------------------------------------------------------


def frames_of_tc(tc: str, nominal: int, drop: bool) -> int:
    """Frames since midnight of a SMPTE timecode; drop-frame skips labels 0 and 1 each minute but every tenth."""
    h, m, s, f = (int(x) for x in re.split("[:;]", tc))
    frames = ((h * 60 + m) * 60 + s) * nominal + f
    if drop:
        minutes = 60 * h + m
        frames -= 2 * (minutes - minutes // 10)
    return frames


def samples_since_midnight(frames: int, rate: Fraction) -> int:
    x = Fraction(frames) * 48000 / rate
    return (2 * x.numerator + x.denominator) // (2 * x.denominator)


def ffprobe_time_reference(path: Path) -> int:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format_tags=time_reference", "-of", "json",
                          str(path)], capture_output=True, text=True, check=True).stdout
    return int(json.loads(out)["format"]["tags"]["time_reference"])


RATES = [
    pytest.param(Fraction(24), 24, False, "01:00:00:00", id="24"),
    pytest.param(Fraction(24000, 1001), 24, False, "00:59:58:12", id="23.976"),
    pytest.param(Fraction(30000, 1001), 30, True, "01:00:59;20", id="29.97DF"),  # lines cross the 01:01:00;02 drop
]


@pytest.fixture(scope="module")
def rate_dubs(tmp_path_factory, tools):
    """One small dub per rate (two lines, two characters), then `otio-dub stems` of it."""
    made = {}
    for param in RATES:
        rate, nominal, drop, start_tc = param.values
        start = frames_of_tc(start_tc, nominal, drop)
        timeline = _made_timeline(tools, rate, start, nominal)
        if drop:  # drop-frame is the source's to say (as an NLE export does), never the rate's
            timeline.metadata["otio_dub"] = {"drop_frame": True}
        out = tmp_path_factory.mktemp(param.id.replace(".", "_")) / "dub"
        result = otio_dub.dub(timeline, out_dir=out)
        restemmed = restem(result.timeline_path, out / "restem")
        made[param.id] = (rate, nominal, drop, start, result, restemmed)
    return made


def _made_timeline(tools, rate: Fraction, start: int, nominal: int) -> otio.schema.Timeline:
    LineSpec, make_timeline = tools.LineSpec, tools.make_timeline
    lines = [LineSpec(nominal + 3, nominal + 3 + 2 * nominal, "Hello there, how are you today?", "ANNA"),
             LineSpec(4 * nominal + 1, 4 * nominal + 1 + 2 * nominal, "Fine, thanks. And you?", "BOB")]
    return make_timeline(rate, start, lines, 8 * nominal, name="tc")


@pytest.mark.parametrize("rate_id", [p.id for p in RATES])
def test_bext_time_reference_is_samples_since_midnight(tools, rate_dubs, rate_id):
    rate, nominal, drop, start, result, restemmed = rate_dubs[rate_id]
    stem_tr = samples_since_midnight(start, rate)
    report = json.loads(result.report_path.read_text(encoding="utf-8"))
    assert frames_of_tc(report["start"], nominal, drop) == start  # the report's start TC, read back independently
    assert report["stems"]["time_reference"] == stem_tr
    stems = [*result.stems.values(), *(f.path for f in restemmed.files.values())]
    assert len(stems) == 6
    for path in stems:
        assert tools.bext_time_reference(path) == stem_tr, path
    for row in result.lines:
        media = result.out_dir / row["media"]
        rin = frames_of_tc(row["record_in"], nominal, drop)  # absolute frame of the line's record-in
        assert (";" in row["record_in"]) == drop
        assert tools.bext_time_reference(media) == samples_since_midnight(rin, rate), row["id"]
    if rate_id == "29.97DF":  # 01:00:59;20 -> 107,892 + 1,790 frames: exact arithmetic, not 30 fps
        assert start == 109_682
        assert stem_tr == 175_666_691  # 109,682 x 1601.6 = 175,666,691.2
        # 33 frames after 01:00:59;20: ten frames to the minute, whose labels ;00 and ;01 do not exist
        assert [r["record_in"] for r in result.lines] == ["01:01:00;25", "01:01:03;23"]
        assert tools.bext_time_reference(result.out_dir / result.lines[0]["media"]) == 175_719_544  # 109,715 x 1601.6


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe (Debian package ffmpeg) not installed")
@pytest.mark.parametrize("rate_id", [p.id for p in RATES])
def test_ffprobe_reads_the_same_time_reference(rate_dubs, rate_id):
    rate, nominal, drop, start, result, restemmed = rate_dubs[rate_id]
    assert ffprobe_time_reference(result.stems["DIALOGUE"]) == samples_since_midnight(start, rate)
    assert ffprobe_time_reference(restemmed.files["DIALOGUE"].path) == samples_since_midnight(start, rate)
    for row in result.lines:
        rin = frames_of_tc(row["record_in"], nominal, drop)
        assert ffprobe_time_reference(result.out_dir / row["media"]) == samples_since_midnight(rin, rate)


@pytest.mark.skipif(shutil.which("mediainfo") is None, reason="mediainfo not installed")
def test_mediainfo_places_the_stem_at_its_timecode(rate_dubs):
    rate, _, _, start, result, _ = rate_dubs["23.976"]
    out = subprocess.run(["mediainfo", "--Output=Audio;%Delay%", str(result.stems["DIALOGUE"])],
                         capture_output=True, text=True, check=True).stdout.strip()
    # mediainfo turns the bext TimeReference into a delay in ms: samples / 48
    assert float(out) == pytest.approx(samples_since_midnight(start, rate) / 48, abs=1)


# ---------------------------------------------------------------------------------------------
# loudness of the demo
# ---------------------------------------------------------------------------------------------


def test_demo_dialogue_is_on_target_and_under_the_true_peak_limit(demo, tools):
    dialogue = tools.read_wav(demo.out / "stems" / "DIALOGUE.wav")
    measured = tools.bs1770_loudness(dialogue)
    assert measured == pytest.approx(-27.0, abs=0.5)
    assert measured == pytest.approx(-27.0, abs=0.05)  # what it actually achieves
    assert tools.true_peak_dbtp(dialogue) <= -2.0
    section = demo.report["stems"]
    files = section["files"]
    assert files["DIALOGUE"]["integrated_lkfs"] == pytest.approx(measured, abs=0.01)
    assert files["DIALOGUE"]["true_peak_dbtp"] == pytest.approx(tools.true_peak_dbtp(dialogue), abs=0.01)
    # far under the limit, the plan left the DIALOGUE's true peak to the stem's write: the same figure
    assert section["loudness"]["dialogue_true_peak_dbtp"] == files["DIALOGUE"]["true_peak_dbtp"]
    assert section["loudness"]["target_lkfs"] == -27.0 and section["loudness"]["true_peak_limit_dbtp"] == -2.0
    assert section["loudness"]["level_set_by"] == "target"
    for name in ("ANNA", "MARCUS", "NARRATOR", "DIALOGUE"):
        audio = tools.read_wav(demo.out / "stems" / f"{name}.wav")
        assert files[name]["path"] == f"stems/{name}.wav"
        assert files[name]["integrated_lkfs"] == pytest.approx(tools.bs1770_loudness(audio), abs=0.01), name
        assert files[name]["true_peak_dbtp"] <= -2.0
        # the bext v2 loudness fields hold the same numbers (x100)
        body = tools.riff_chunks(demo.out / "stems" / f"{name}.wav")["bext"]
        version = struct.unpack_from("<H", body, tools.BEXT_TIME_REFERENCE_OFFSET + 8)[0]
        value, lra, tp, momentary, short = struct.unpack_from("<5h", body, tools.BEXT_TIME_REFERENCE_OFFSET + 10 + 64)
        assert version == 2
        assert value == round(files[name]["integrated_lkfs"] * 100)
        assert tp == round(files[name]["true_peak_dbtp"] * 100)
        assert lra == round(files[name]["loudness_range_lu"] * 100)
        assert momentary == round(files[name]["max_momentary_lkfs"] * 100)
        assert short == round(files[name]["max_short_term_lkfs"] * 100)
    gains = section["loudness"]["gains_db"]
    assert set(gains) == {"ANNA", "MARCUS", "NARRATOR"}
    for character in gains:
        assert files[character]["gain_db"] == gains[character]
    for row in demo.report["lines"]:
        assert row["gain_db"] == gains[row["character"]]


def test_one_gain_per_character_for_the_whole_programme(demo, tools, tmp_path):
    """The same dub with --loudness off: every line of a character is its natural media times one factor."""
    natural = otio_dub.dub(tools.SCENE_OTIO, tools.SCENE_ASS, tmp_path / "off",
                           options=DubOptions(stems=StemOptions(loudness=None)))
    report = json.loads(natural.report_path.read_text(encoding="utf-8"))
    assert report["stems"]["loudness"] is None
    assert "gain_db" not in natural.lines[0]
    gains = demo.report["stems"]["loudness"]["gains_db"]  # rounded to 0.01 dB
    assert len({round(g, 1) for g in gains.values()}) > 1  # the voices differ: the gains do too
    factors: dict[str, list[float]] = {}
    for row in demo.report["lines"]:
        on = tools.read_wav(demo.out / row["media"])
        off = tools.read_wav(natural.out_dir / row["media"])
        unclipped = np.abs(off) < 0.999  # espeak's natural level reaches full scale, where 24-bit clips it
        factor = float(on[unclipped] @ off[unclipped] / (off[unclipped] @ off[unclipped]))
        assert 20 * np.log10(factor) == pytest.approx(gains[row["character"]], abs=0.006), row["id"]
        assert np.max(np.abs(on - off * factor)[unclipped]) <= (1 + factor) * LSB, row["id"]  # 24-bit rounding only
        # the gain is applied to the float take before quantising: the peaks clipped at natural level survive
        assert np.max(np.abs(on)) < 0.9
        factors.setdefault(row["character"], []).append(factor)
    for character, found in factors.items():  # one factor per character, to 24-bit precision
        assert max(found) / min(found) - 1 < 1e-5, character
    # clip metadata tells the editor the gain baked into the file
    timeline = otio.adapters.read_from_file(str(demo.timeline_path))
    for clip in timeline.find_clips():
        meta = clip.metadata.get("otio_dub") or {}
        if meta.get("role") == "dub":
            assert meta["gain_db"] == gains[meta["character"]]
    # the natural level: espeak is louder than dialogue spec, so the gains are cuts
    assert report["stems"]["files"]["DIALOGUE"]["integrated_lkfs"] > -24


def test_true_peak_limit_sets_the_level_when_the_target_is_too_loud(tools, fresh_dub, caplog):
    spec = tools.LineSpec
    timeline = tools.make_timeline(25, 90000, [spec(10, 80, "Hello there, how are you doing today?", "ANNA"),
                                               spec(90, 160, "Fine, thank you very much.", "BOB")], 175, name="hot")
    with caplog.at_level("WARNING", logger="otio_dub"):
        result = fresh_dub(timeline, options=DubOptions(stems=StemOptions(loudness=-12.0, true_peak=-3.0)))
    section = result.stem_report
    assert section["loudness"]["level_set_by"] == "true_peak"
    dialogue = tools.read_wav(result.stems["DIALOGUE"])
    assert -3.05 <= tools.true_peak_dbtp(dialogue) <= -3.0
    assert tools.bs1770_loudness(dialogue) < -12.5
    assert any("true-peak limit" in r.getMessage() for r in caplog.records)


def test_ebu_r128_target(tools, demo, tmp_path):
    result = restem(demo.timeline_path, tmp_path / "r128", StemOptions(loudness=-23.0))
    dialogue = tools.read_wav(result.files["DIALOGUE"].path)
    if result.plan.set_by == "target":
        assert tools.bs1770_loudness(dialogue) == pytest.approx(-23.0, abs=0.5)
    assert tools.true_peak_dbtp(dialogue) <= -2.0


def test_stem_options_are_validated():
    for bad in (dict(mode="all"), dict(loudness=3.0), dict(true_peak=1.0), dict(jobs=0)):
        with pytest.raises(ValueError):
            StemOptions(**bad)


# ---------------------------------------------------------------------------------------------
# stem modes, languages
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bilingual(tmp_path_factory, tools):
    LineSpec, make_timeline = tools.LineSpec, tools.make_timeline
    timeline = make_timeline(25, 90000, [LineSpec(10, 60, "Hello there.", "ANNA"), LineSpec(70, 120, "Guten Tag.", "ANNA"),
                                         LineSpec(130, 180, "Good evening.", "BOB")], 200, name="bi")
    clips = list(timeline.tracks[0].find_clips())
    clips[1].metadata["otio_dub"]["lang"] = "de"
    return otio_dub.dub(timeline, out_dir=tmp_path_factory.mktemp("bi") / "dub",
                        options=DubOptions(stems=StemOptions(loudness=None)))


def test_character_stems_language_stems_and_dialogue_add_up(tools, bilingual):
    stems = {name: tools.read_wav(path) for name, path in bilingual.stems.items()}
    assert set(stems) == {"en_ANNA", "de_ANNA", "en_BOB", "DIALOGUE_en", "DIALOGUE_de", "DIALOGUE"}
    assert np.max(np.abs(stems["DIALOGUE_en"] - stems["en_ANNA"] - stems["en_BOB"])) <= 3 * LSB
    assert np.max(np.abs(stems["DIALOGUE_de"] - stems["de_ANNA"])) <= LSB
    assert np.max(np.abs(stems["DIALOGUE"] - stems["DIALOGUE_en"] - stems["DIALOGUE_de"])) <= 3 * LSB
    assert np.max(np.abs(stems["de_ANNA"])) > 0.05


def test_language_mode_and_stale_stems_are_removed(tools, bilingual, tmp_path):
    out = tmp_path / "stems"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    first = restem(bilingual.timeline_path, out, StemOptions(loudness=None))
    assert {p.name for p in out.glob("*.wav")} == {f"{n}.wav" for n in first.files}
    second = restem(bilingual.timeline_path, out, StemOptions(mode="language", loudness=None))
    assert set(second.files) == {"DIALOGUE_en", "DIALOGUE_de", "DIALOGUE"}
    assert {p.name for p in out.iterdir()} == {"DIALOGUE_en.wav", "DIALOGUE_de.wav", "DIALOGUE.wav", "stems.json",
                                               "notes.txt"}
    assert np.max(np.abs(tools.read_wav(out / "DIALOGUE.wav") - tools.read_wav(bilingual.stems["DIALOGUE"]))) <= LSB


def test_stems_none_writes_no_stems_but_keeps_line_media(tools, fresh_dub):
    spec = tools.LineSpec
    timeline = tools.make_timeline(25, 90000, [spec(10, 60, "Hello there.", "ANNA")], 100, name="nostems")
    result = fresh_dub(timeline, options=DubOptions(stems=StemOptions(mode="none")))
    assert result.stems == {} and not (result.out_dir / "stems").exists()
    assert (result.out_dir / "media" / "001-ANNA.wav").is_file()


# ---------------------------------------------------------------------------------------------
# the full mix over an M&E
# ---------------------------------------------------------------------------------------------


def _write_me(path: Path, frames: int, channels: int, time_reference: int | None, seed: int = 0) -> np.ndarray:
    audio = (np.random.default_rng(seed).uniform(-0.03, 0.03, (frames, channels))).astype(np.float32)
    if time_reference is None:
        sf.write(str(path), audio, 48000, subtype="PCM_24")
    else:
        with BwfWriter(path, time_reference, "M&E", channels=channels) as out:
            out.write(audio)
    return sf.read(str(path), dtype="float64", always_2d=True)[0]


@pytest.mark.parametrize("channels", [1, 2, 6])
def test_mix_with_an_me_aligned_by_its_timecode(tools, demo, tmp_path, channels):
    tr = tools.bext_time_reference(demo.out / "stems" / "DIALOGUE.wav")
    total = demo.report["duration_samples"]
    me_path = tmp_path / "M_AND_E.wav"
    me = _write_me(me_path, total + 3 * 48000, channels, tr - 48000)  # starts 1 s before the programme, runs on
    result = restem(demo.timeline_path, tmp_path / "out", StemOptions(mix_with=me_path))
    mix_path = result.files["MIX"].path
    assert mix_path.name == "MIX.wav"
    info = sf.info(str(mix_path))
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (48000, channels, total, "PCM_24")
    assert tools.bext_time_reference(mix_path) == tr
    mix = sf.read(str(mix_path), dtype="float64", always_2d=True)[0]
    dialogue = tools.read_wav(result.files["DIALOGUE"].path)
    expected = me[48000:48000 + total].copy()
    if channels == 2:
        expected += dialogue[:, None] * 10 ** (-3.0103 / 20)
    else:
        expected[:, 0 if channels == 1 else 2] += dialogue
    assert np.max(np.abs(mix - expected)) <= 3 * LSB
    if channels == 6:  # WAVE_FORMAT_EXTENSIBLE, 5.1 mask, parsed here
        fmt = tools.riff_chunks(mix_path)["fmt "]
        tag, ch = struct.unpack_from("<HH", fmt, 0)
        mask = struct.unpack_from("<I", fmt, 20)[0]
        assert (tag, ch, mask, len(fmt)) == (0xFFFE, 6, 0x3F, 40)
        weights = (1.0, 1.0, 1.0, 0.0, 1.41, 1.41)
        assert result.files["MIX"].measured.integrated == pytest.approx(tools.bs1770_loudness(mix, weights), abs=0.01)


def test_mix_with_an_me_without_timecode_that_is_short(tools, demo, tmp_path, caplog):
    total = demo.report["duration_samples"]
    me_path = tmp_path / "me.wav"
    me = _write_me(me_path, total - 48000, 1, None)
    with caplog.at_level("WARNING", logger="otio_dub"):
        result = restem(demo.timeline_path, tmp_path / "out", StemOptions(mix_with=me_path, loudness=None))
    assert any("ends 1.000 s before the timeline end" in r.getMessage() for r in caplog.records)
    mix = tools.read_wav(result.files["MIX"].path)
    dialogue = tools.read_wav(result.files["DIALOGUE"].path)
    assert mix.size == total
    assert np.max(np.abs(mix[: total - 48000] - me[:, 0] - dialogue[: total - 48000])) <= 2 * LSB
    assert np.max(np.abs(mix[total - 48000:] - dialogue[total - 48000:])) <= LSB


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "M&E file not found"),
    (lambda p: p.write_text("not audio", encoding="utf-8"), "cannot read the M&E as audio"),
    (lambda p: sf.write(str(p), np.zeros((4800, 1)), 44100), "44100 Hz"),
    (lambda p: sf.write(str(p), np.zeros((4800, 4)), 48000), "4 channels"),
    (lambda p: write_bwf(p, np.zeros(4800, dtype=np.float32), 10), "does not overlap"),
])
def test_bad_me_is_one_line_naming_the_file_and_nothing_is_written(demo, tmp_path, make, message):
    me_path = tmp_path / "bad_me.wav"
    make(me_path)
    with pytest.raises(InputError, match=re.escape(message)) as info:
        restem(demo.timeline_path, tmp_path / "out", StemOptions(mix_with=me_path))
    assert "bad_me.wav" in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()


def test_dub_checks_the_me_before_synthesising(tools, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["dub", str(tools.SCENE_OTIO), "--script", str(tools.SCENE_ASS), "-o", str(out),
                                       "--mix-with", str(tmp_path / "missing.wav"), "-q"])
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error:") and "missing.wav" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()


# ---------------------------------------------------------------------------------------------
# RF64 past 4 GB, streaming memory
# ---------------------------------------------------------------------------------------------


def test_rf64_when_the_file_outgrows_riff(tools, tmp_path, monkeypatch):
    monkeypatch.setattr(render, "RIFF_LIMIT", 4000)  # as if 4 GB were 4,000 bytes
    audio = np.random.default_rng(5).uniform(-0.5, 0.5, 2001).astype(np.float32)
    path = write_bwf(tmp_path / "big.wav", audio, 2**33 + 7, description="RF64")
    data = path.read_bytes()
    assert data[:4] == b"RF64" and struct.unpack_from("<I", data, 4)[0] == 0xFFFFFFFF and data[8:12] == b"WAVE"
    assert data[12:16] == b"ds64"  # first chunk, where the JUNK placeholder was
    riff_size, data_size, sample_count = struct.unpack_from("<QQQ", data, 20)
    assert riff_size == len(data) - 8
    assert (data_size, sample_count) == (2001 * 3, 2001)
    pos, chunks = 12, {}
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4].decode(), struct.unpack_from("<I", data, pos + 4)[0]
        if cid == "data":
            assert size == 0xFFFFFFFF  # the real size is in ds64
            size = data_size
        chunks[cid] = data[pos + 8:pos + 8 + size]
        pos += 8 + size + (size & 1)
    assert pos == len(data)
    assert set(chunks) == {"ds64", "bext", "fmt ", "data"}
    low, high = struct.unpack_from("<II", chunks["bext"], tools.BEXT_TIME_REFERENCE_OFFSET)
    assert low | (high << 32) == 2**33 + 7
    back, rate = sf.read(str(path), dtype="float64")
    assert rate == 48000 and np.max(np.abs(back - audio)) <= LSB
    if shutil.which("ffprobe"):
        assert ffprobe_time_reference(path) == 2**33 + 7


def _peak_traced(tmp_path: Path, minutes: int) -> int:
    rng = np.random.default_rng(3)
    files = [write_bwf(tmp_path / "media" / f"{i}.wav", rng.uniform(-0.2, 0.2, 3 * 48000).astype(np.float32), 0)
             for i in range(6)]
    total = minutes * 60 * 48000
    placements = [(("en", "ABC"[i % 3]) + (Placement(files[i % 6], i * 4 * 48000, 3 * 48000),))
                  for i in range(total // (4 * 48000))]
    tracemalloc.start()
    try:
        render_stems(tmp_path / f"stems{minutes}", placements, total, 0, "mem", StemOptions())
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_stem_memory_does_not_grow_with_programme_length(tmp_path):
    short, long = _peak_traced(tmp_path, 1), _peak_traced(tmp_path, 8)
    assert long < 40 * 2**20  # four stems of 8 minutes are 180 MB of float32: never held
    assert long < 1.3 * short + 2**20


# ---------------------------------------------------------------------------------------------
# `otio-dub stems`: the stems follow the edited dub timeline
# ---------------------------------------------------------------------------------------------


def _edited_copy(demo, folder: Path) -> tuple[Path, dict]:
    """The demo's dub timeline as an editor left it: one clip moved, one head-trimmed, one deleted, one disabled."""
    shutil.copytree(demo.out / "media", folder / "media")
    timeline = otio.adapters.read_from_file(str(demo.timeline_path))
    clips = {c.name: c for c in timeline.find_clips() if (c.metadata.get("otio_dub") or {}).get("role") == "dub"}
    rate = clips["001-ANNA"].source_range.duration.rate

    def gap_before(clip):
        track = clip.parent()
        prev = track[track.index(clip) - 1]
        assert isinstance(prev, otio.schema.Gap)
        return track, prev

    def resize(item, delta):
        rng = item.source_range
        item.source_range = otio.opentime.TimeRange(rng.start_time, otio.opentime.RationalTime(rng.duration.value + delta, rate))

    moved, trimmed = clips["001-ANNA"], clips["003-ANNA"]
    before = {name: clip.range_in_parent().start_time.value for name, clip in clips.items()}
    _, gap = gap_before(moved)  # 001 moves 30 frames later: the gap before it grows, the one after shrinks
    track = moved.parent()
    after = track[track.index(moved) + 1]
    resize(gap, 30)
    resize(after, -30)
    _, gap = gap_before(trimmed)  # 003 loses its first 12 frames, its tail stays where it was
    resize(gap, 12)
    rng = trimmed.source_range
    trimmed.source_range = otio.opentime.TimeRange(otio.opentime.RationalTime(rng.start_time.value + 12, rate),
                                                   otio.opentime.RationalTime(rng.duration.value - 12, rate))
    deleted = clips["002-MARCUS"]
    track = deleted.parent()
    track[track.index(deleted)] = otio.schema.Gap(source_range=otio.opentime.TimeRange(
        duration=deleted.source_range.duration))
    clips["005-NARRATOR"].enabled = False
    path = folder / "edited.dub.otio"
    otio.adapters.write_to_file(timeline, str(path))
    return path, before


def test_stems_follow_an_edited_dub_timeline(tools, demo, tmp_path):
    path, before = _edited_copy(demo, tmp_path)
    result = CliRunner().invoke(main, ["stems", str(path), "-o", str(tmp_path / "stems"), "--loudness", "off"])
    assert result.exit_code == 0, result.output
    assert "DIALOGUE" in result.output and "LKFS" in result.output
    stems = {name: tools.read_wav(tmp_path / "stems" / f"{name}.wav") for name in ("ANNA", "MARCUS", "NARRATOR", "DIALOGUE")}
    media = {name: tools.read_wav(demo.out / "media" / f"{name}.wav") for name in ("001-ANNA", "003-ANNA",
                                                                                    "002-MARCUS", "005-NARRATOR")}
    pos = {name: int(before[name]) * FRAME_2398 for name in before}
    # moved: the whole line 30 frames later, nothing left where it was
    new = pos["001-ANNA"] + 30 * FRAME_2398
    n = media["001-ANNA"].size
    assert np.max(np.abs(stems["ANNA"][new:new + n] - media["001-ANNA"])) <= LSB
    assert np.max(np.abs(stems["ANNA"][pos["001-ANNA"]:new])) == 0
    # trimmed: the first 12 frames of the file are gone, the rest stays where it was
    cut = 12 * FRAME_2398
    start = pos["003-ANNA"]
    assert np.max(np.abs(stems["ANNA"][start:start + cut])) == 0
    assert np.max(np.abs(stems["ANNA"][start + cut:start + media["003-ANNA"].size] - media["003-ANNA"][cut:])) <= LSB
    # deleted and disabled: silent
    for name, stem in (("002-MARCUS", "MARCUS"), ("005-NARRATOR", "NARRATOR")):
        assert np.max(np.abs(stems[stem][pos[name]:pos[name] + media[name].size])) == 0, name
    assert np.max(np.abs(stems["DIALOGUE"] - stems["ANNA"] - stems["MARCUS"] - stems["NARRATOR"])) <= 3 * LSB
    report = json.loads((tmp_path / "stems" / "stems.json").read_text(encoding="utf-8"))
    assert report["clips"] == 8 and report["loudness"] is None
    assert report["files"]["DIALOGUE"]["path"] == "DIALOGUE.wav"


def test_restem_renormalises_the_edited_programme_with_one_gain_per_character(tools, demo, tmp_path):
    path, before = _edited_copy(demo, tmp_path)
    result = restem(path, tmp_path / "stems")
    dialogue = tools.read_wav(result.files["DIALOGUE"].path)
    assert tools.bs1770_loudness(dialogue) == pytest.approx(-27.0, abs=0.05)
    assert tools.true_peak_dbtp(dialogue) <= -2.0
    anna = tools.read_wav(result.files["ANNA"].path)
    factor = 10 ** (result.plan.gains_db[("en", "ANNA")] / 20)
    start = int(before["006-ANNA"]) * FRAME_2398
    line = tools.read_wav(demo.out / "media" / "006-ANNA.wav")
    assert np.max(np.abs(anna[start:start + line.size] - factor * line)) <= 2 * LSB
    assert result.files["ANNA"].gain_db == result.plan.gains_db[("en", "ANNA")]


def test_unedited_dub_restems_to_the_same_stems(tools, demo, tmp_path):
    result = restem(demo.timeline_path, tmp_path / "again")
    for name, path in demo.result.stems.items():
        assert np.max(np.abs(tools.read_wav(result.files[name].path) - tools.read_wav(path))) <= 2 * LSB, name
        assert tools.bext_time_reference(result.files[name].path) == tools.bext_time_reference(path)


@pytest.mark.parametrize("fmt", ["xml", "aaf", "otioz", "otiod"])
def test_stems_read_back_from_every_bundle_and_nle_format(tools, tmp_path, fmt):
    """FCP7 XML and AAF keep neither our metadata nor (all) track names: the clips are known by their line media."""
    dubbed = otio_dub.dub(tools.SCENE_OTIO, tools.SCENE_ASS, tmp_path / "dub", DubOptions(to=fmt))
    exported = next(p for p in dubbed.exports if p.suffix == f".{fmt}")
    if fmt in ("otioz", "otiod"):  # bundles carry their own media: move the loose copy away to prove it
        (tmp_path / "dub" / "media").rename(tmp_path / "dub" / "media.away")
    result = restem(exported, tmp_path / "stems")
    assert set(result.files) == {"ANNA", "MARCUS", "NARRATOR", "DIALOGUE"}
    for name, path in dubbed.stems.items():
        assert np.max(np.abs(tools.read_wav(result.files[name].path) - tools.read_wav(path))) <= 2 * LSB, name


def test_fcpxml_is_refused_for_stems_with_the_reason(tools, tmp_path):
    """OTIO's FCPXML reader drops the storyline's gaps and titles and FCPXML 1.9+ media: say so, write nothing."""
    spec = tools.LineSpec
    timeline = tools.make_timeline(25, 90000, [spec(10, 60, "Hello there.", "ANNA"), spec(70, 120, "Bye now.", "BOB")],
                                   150, name="fx")
    dubbed = otio_dub.dub(timeline, out_dir=tmp_path / "dub", options=DubOptions(to="fcpxml"))
    exported = next(p for p in dubbed.exports if p.suffix == ".fcpxml")
    with pytest.raises(InputError, match="render the stems from the .dub.otio"):
        restem(exported, tmp_path / "stems")
    assert not (tmp_path / "stems").exists()
    result = restem(dubbed.timeline_path, tmp_path / "stems")  # what the message says works
    for name, path in dubbed.stems.items():
        assert np.max(np.abs(tools.read_wav(result.files[name].path) - tools.read_wav(path))) <= 2 * LSB, name


def test_restem_errors_name_the_file_and_write_nothing(tools, demo, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(InputError, match="no dub clips"):
        restem(tools.SCENE_OTIO, out)
    shutil.copytree(demo.out / "media", tmp_path / "media")
    shutil.copy(demo.timeline_path, tmp_path / "scene.dub.otio")
    (tmp_path / "media" / "004-MARCUS.wav").unlink()
    with pytest.raises(InputError) as info:
        restem(tmp_path / "scene.dub.otio", out)
    message = str(info.value)
    assert "004-MARCUS.wav" in message and "clip '004-MARCUS' at 01:00:" in message and "not found" in message
    sf.write(str(tmp_path / "media" / "004-MARCUS.wav"), np.zeros(4800), 44100)
    with pytest.raises(InputError, match="44100 Hz"):
        restem(tmp_path / "scene.dub.otio", out)
    edl = tmp_path / "x.edl"
    edl.write_text("TITLE: x\n", encoding="utf-8")
    with pytest.raises(InputError, match="EDL"):
        restem(edl, out)
    with pytest.raises(InputError, match="nothing to render"):
        restem(demo.timeline_path, out, StemOptions(mode="none"))
    assert not out.exists()


def test_stems_on_threads_are_the_same_bytes(demo, tmp_path):
    """``--jobs``: the programme measured in parts on threads and the next block read while one is
    written; every file the same bytes as on one thread."""
    for jobs in ("1", "3"):
        result = CliRunner().invoke(main, ["stems", str(demo.timeline_path), "-o", str(tmp_path / jobs), "-j", jobs])
        assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "1").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "3").iterdir()) and "DIALOGUE.wav" in names
    for name in names:
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "3" / name).read_bytes(), name


@pytest.mark.parametrize("args, message", [
    (["--jobs", "0"], "--jobs"),
    (["--loudness", "loud"], "not a loudness"),
    (["--true-peak", "1"], "true-peak limit"),
    (["--stems", "all"], "Invalid value for '--stems'"),
])
def test_stems_cli_usage_errors(demo, tmp_path, args, message):
    result = CliRunner().invoke(main, ["stems", str(demo.timeline_path), "-o", str(tmp_path / "o"), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------------------------------------
# a warm re-dub reuses the stems and the loudness plan it would compute again
# ---------------------------------------------------------------------------------------------


def _scene(folder: Path, seed: int = 5) -> tuple[list, int]:
    rng = np.random.default_rng(seed)
    files = [write_bwf(folder / "media" / f"{i}.wav", rng.uniform(-0.3, 0.3, 2 * 48000).astype(np.float32), 0)
             for i in range(4)]
    placements = [("en", "AB"[i % 2], Placement(files[i], 48000 + i * 3 * 48000, 2 * 48000)) for i in range(4)]
    return placements, 14 * 48000


def _dub_stems(out: Path, placements, total, previous=None, title="scene", options=None):
    from otio_dub.delivery.stems import dub_stems, plan_loudness

    options = options or StemOptions()

    plan = plan_loudness(placements, total, options, previous=previous)
    # as a dub delivers them: each line's media carries its character's gain
    gained = [(lang, c, replace(p, gain=p.gain * plan.linear((lang, c)))) for lang, c, p in placements]
    result = dub_stems(out, gained, total, 1234, title, options, plan, None, previous=previous)
    return result.plan, result  # the plan as the render completed it (the DIALOGUE's true peak)


def test_unchanged_inputs_reuse_the_previous_stems_and_plan(tmp_path, monkeypatch):
    from otio_dub.delivery import stems as stems_module

    placements, total = _scene(tmp_path)
    plan, first = _dub_stems(tmp_path / "a", placements, total)
    manifest = json.loads((tmp_path / "a" / "stems" / "stems.json").read_text())
    assert manifest["inputs"] and manifest["plan_inputs"] == plan.inputs

    def no_render(*args, **kwargs):
        raise AssertionError("rendered although nothing changed")

    monkeypatch.setattr(stems_module, "render_stems", no_render)
    monkeypatch.setattr(stems_module, "_measure_plan", no_render)
    plan2, again = _dub_stems(tmp_path / "b", placements, total, previous=tmp_path / "a")
    assert plan2 == plan
    assert again.report(tmp_path / "b") == first.report(tmp_path / "a")
    for name, f in first.files.items():
        assert again.files[name].path.read_bytes() == f.path.read_bytes()
    assert (tmp_path / "b" / "stems" / "stems.json").read_bytes() == (tmp_path / "a" / "stems" / "stems.json").read_bytes()


@pytest.mark.parametrize("change", ["media", "place", "gain", "title", "mode", "missing"])
def test_any_changed_input_renders_the_stems_again(tmp_path, change):
    placements, total = _scene(tmp_path)
    _dub_stems(tmp_path / "a", placements, total)
    options, title = StemOptions(), "scene"
    if change == "media":  # same file name, other samples
        write_bwf(placements[0][2].path, np.full(2 * 48000, 0.1, np.float32), 0)
    elif change == "place":
        placements[1] = ("en", "B", Placement(placements[1][2].path, placements[1][2].start + 1, 2 * 48000))
    elif change == "gain":
        placements[2] = ("en", "A", Placement(placements[2][2].path, placements[2][2].start, 2 * 48000, gain=0.5))
    elif change == "title":
        title = "another"
    elif change == "mode":
        options = StemOptions(mode="language")
    else:
        (tmp_path / "a" / "stems" / "DIALOGUE.wav").unlink()
    _, again = _dub_stems(tmp_path / "b", placements, total, previous=tmp_path / "a", title=title, options=options)
    fresh_plan, fresh = _dub_stems(tmp_path / "c", placements, total, title=title, options=options)
    assert again.report(tmp_path / "b") == fresh.report(tmp_path / "c")
    for name, f in fresh.files.items():
        assert again.files[name].path.read_bytes() == f.path.read_bytes()
        if change != "missing":
            assert again.files[name].path.stat().st_ino != (tmp_path / "a" / "stems" / f.path.name).stat().st_ino


@pytest.mark.parametrize("fresh", [True, False])
@pytest.mark.parametrize("links", [True, False])
def test_link_into_replaces_a_name_without_writing_through_it(tmp_path, monkeypatch, fresh, links):
    """A target already linked to another file is replaced, never written through (that file keeps its
    bytes); where hard links fail (another file system) the source is copied."""
    import errno
    import os

    from otio_dub.delivery.stem_reuse import link_into

    source, other, target = tmp_path / "take.npy", tmp_path / "other.npy", tmp_path / "spool.npy"
    source.write_bytes(b"new samples")
    other.write_bytes(b"someone else's")
    os.link(other, target)
    if not links:
        def no_link(src, dst, *args, **kwargs):
            if os.path.exists(dst):
                raise FileExistsError(errno.EEXIST, "File exists", str(dst))
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        monkeypatch.setattr(os, "link", no_link)
    assert link_into(source, target, fresh=fresh) == target
    assert target.read_bytes() == b"new samples" and other.read_bytes() == b"someone else's"
    assert (target.stat().st_ino == source.stat().st_ino) is links
