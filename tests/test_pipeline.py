"""End-to-end dubs: the demo scene (dubbed once per session), overflow policies and frame rates."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from fractions import Fraction

import numpy as np
import opentimelineio as otio
import pytest
import soundfile as sf

import otio_dub
from otio_dub import DubOptions, FitPolicy
from otio_dub.audio import dsp
from otio_dub.core.errors import FitError
from otio_dub.delivery.stems import StemOptions
from otio_dub.stages.deliver import STATE
from otio_dub.timelines.dub_timeline import media_path

DEMO_RATE = Fraction(24000, 1001)
DEMO_START = 86400  # 01:00:00:00 at 23.976 NDF
DEMO_FRAMES = 959
FRAME_SAMPLES = 2002  # one 23.976 frame at 48 kHz
CHARACTERS = ("ANNA", "MARCUS", "NARRATOR")
STATUSES = {"fit", "padded", "borrowed", "overrun"}
REQUIRED_FIELDS = ("id", "record_in", "record_out", "target_s", "natural_s", "rate_factor", "stretch_factor", "status")


def frame_of_tc(tc: str, rate: Fraction, start: int) -> int:
    """Relative frame of a timecode string (independent of otio_dub's own parser)."""
    value = otio.opentime.from_timecode(tc, float(rate)).value
    assert value == int(value)
    return int(value) - start


def first_loud(audio: np.ndarray, lo: int, hi: int, level: float = 1e-3) -> int | None:
    """First sample in [lo, hi) whose magnitude exceeds ``level``."""
    lo = max(0, lo)
    hits = np.flatnonzero(np.abs(audio[lo:hi]) > level)
    return lo + int(hits[0]) if hits.size else None


def dub_tracks(timeline: otio.schema.Timeline) -> list[otio.schema.Track]:
    return [t for t in timeline.tracks if t.name.startswith("DUB ")]


def clip_by_id(timeline: otio.schema.Timeline, line_id: str) -> tuple[otio.schema.Track, otio.schema.Clip]:
    for track in dub_tracks(timeline):
        for clip in track.find_clips():
            if clip.name == line_id:
                return track, clip
    raise AssertionError(f"no dub clip {line_id!r}")


def frames(rt: otio.opentime.RationalTime, rate: Fraction) -> float:
    return rt.value_rescaled_to(float(rate))


# =============================================================================================
# the demo scene
# =============================================================================================


def test_demo_outputs_exist(demo):
    out = demo.out
    assert demo.timeline_path == out / "scene.dub.otio"
    assert demo.timeline_path.is_file()
    assert (out / "report.json").is_file()
    assert (out / "stems" / "DIALOGUE.wav").is_file()
    for character in CHARACTERS:
        assert (out / "stems" / f"{character}.wav").is_file()
    assert sorted(p.name for p in (out / "stems").iterdir()) == \
        sorted([f"{c}.wav" for c in (*CHARACTERS, "DIALOGUE")] + ["stems.json"])  # + what keys a warm re-dub's reuse
    ids = [row["id"] for row in demo.report["lines"]]
    assert len(ids) == 10
    assert sorted(p.name for p in (out / "media").iterdir()) == sorted(f"{i}.wav" for i in ids)
    # no staging folder or temporary file left behind; the one hidden file is the note an unchanged re-dub is known by
    leftovers = [p for p in out.rglob("*") if p.name.startswith(".") or p.name.endswith(".part")]
    assert leftovers == [out / STATE]
    assert set(demo.result.stems) == {*CHARACTERS, "DIALOGUE"}


def test_demo_report_header(demo):
    report = demo.report
    assert report["rate"] == "24000/1001"
    assert report["start"] == "01:00:00:00"
    assert report["sample_rate"] == 48000
    assert report["duration_frames"] == DEMO_FRAMES
    assert report["tracks"] == [f"DUB en {c}" for c in CHARACTERS]
    assert report["summary"]["lines"] == 10
    assert sum(report["summary"][s] for s in STATUSES) == 10
    assert Counter(r["character"] for r in report["lines"]) == {"ANNA": 4, "MARCUS": 4, "NARRATOR": 2}


def test_demo_duration_samples_computed_independently(demo):
    exact = Fraction(DEMO_FRAMES) * 48000 / DEMO_RATE  # 959 * 48000 * 1001 / 24000
    expected = (2 * exact.numerator + exact.denominator) // (2 * exact.denominator)  # round half up
    assert expected == 959 * 2002
    assert demo.report["duration_samples"] == expected


def test_demo_stems_are_exact_48k_24bit_mono(demo, tools):
    total = demo.report["duration_samples"]
    for path in (demo.out / "stems").glob("*.wav"):
        info = sf.info(str(path))
        assert (info.samplerate, info.subtype, info.channels) == (48000, "PCM_24", 1), path.name
        assert info.frames == total, path.name
        assert tools.fmt_of(path)["bits"] == 24
        assert tools.bext_time_reference(path) == DEMO_START * FRAME_SAMPLES, path.name


def test_demo_stems_are_not_silent_and_dialogue_is_the_sum(demo, tools):
    stems = {c: tools.read_wav(demo.out / "stems" / f"{c}.wav") for c in CHARACTERS}
    dialogue = tools.read_wav(demo.out / "stems" / "DIALOGUE.wav")
    for character, audio in stems.items():
        assert np.max(np.abs(audio)) > 0.05, character
    assert np.max(np.abs(dialogue - sum(stems.values()))) <= 4 / 2**23


def test_demo_speech_starts_at_each_record_in(demo, tools):
    stems = {c: tools.read_wav(demo.out / "stems" / f"{c}.wav") for c in CHARACTERS}
    dialogue = tools.read_wav(demo.out / "stems" / "DIALOGUE.wav")
    for row in demo.report["lines"]:
        rin = frame_of_tc(row["record_in"], DEMO_RATE, DEMO_START)
        rout = frame_of_tc(row["record_out"], DEMO_RATE, DEMO_START)
        start = rin * FRAME_SAMPLES
        for name, audio in ((row["character"], stems[row["character"]]), ("DIALOGUE", dialogue)):
            first = first_loud(audio, start - FRAME_SAMPLES, rout * FRAME_SAMPLES)
            assert first is not None, f"{row['id']}: no speech in {name} stem"
            assert abs(first - start) <= FRAME_SAMPLES, f"{row['id']} in {name}: speech at {first}, record in {start}"
        # nothing of this character leaks into the frame before its line
        assert np.max(np.abs(stems[row["character"]][max(0, start - FRAME_SAMPLES): start - 48])) <= 1e-3, row["id"]


def test_demo_record_ins_match_the_script(demo):
    # scene.ass event starts, from 01:00:00:00, as frames at 23.976 (round half up of ms * rate)
    starts_ms = [1000, 4000, 7500, 11500, 13500, 18500, 22000, 26000, 29000, 33000]
    expected = []
    for ms in starts_ms:
        x = Fraction(ms, 1000) * DEMO_RATE
        expected.append((2 * x.numerator + x.denominator) // (2 * x.denominator))
    got = [frame_of_tc(r["record_in"], DEMO_RATE, DEMO_START) for r in demo.report["lines"]]
    assert got == expected
    assert demo.report["lines"][0]["record_in"] == "01:00:01:00"


def test_demo_media_lengths_match_their_clips(demo, tools):
    timeline = otio.adapters.read_from_file(str(demo.timeline_path))
    for row in demo.report["lines"]:
        _, clip = clip_by_id(timeline, row["id"])
        media = demo.out / row["media"]
        length_frames = frames(clip.source_range.duration, DEMO_RATE)
        assert length_frames == int(length_frames)
        info = sf.info(str(media))
        assert (info.samplerate, info.subtype, info.channels) == (48000, "PCM_24", 1)
        assert info.frames == int(length_frames) * FRAME_SAMPLES, row["id"]
        rin = frame_of_tc(row["record_in"], DEMO_RATE, DEMO_START)
        assert tools.bext_time_reference(media) == (DEMO_START + rin) * FRAME_SAMPLES, row["id"]
        clip_out = frame_of_tc(row["clip_out"], DEMO_RATE, DEMO_START)
        assert clip_out - rin == int(length_frames)


def test_demo_dub_timeline_structure(demo):
    timeline = otio.adapters.read_from_file(str(demo.timeline_path))
    assert isinstance(timeline, otio.schema.Timeline)
    names = [t.name for t in timeline.tracks]
    assert names[:2] == ["V1", "DIA"]
    dubs = dub_tracks(timeline)
    assert sorted(t.name for t in dubs) == [f"DUB en {c}" for c in CHARACTERS]
    assert len(names) == 2 + len(CHARACTERS)
    per_character = Counter(r["character"] for r in demo.report["lines"])
    for track in dubs:
        assert track.kind == otio.schema.TrackKind.Audio
        character = track.name.split()[-1]
        assert len(list(track.find_clips())) == per_character[character]
    assert frames(timeline.global_start_time, DEMO_RATE) == DEMO_START


def test_demo_original_tracks_unchanged(demo, tools):
    original = otio.adapters.read_from_file(str(tools.SCENE_OTIO))
    dubbed = otio.adapters.read_from_file(str(demo.timeline_path))
    for name in ("V1", "DIA"):
        a = next(t for t in original.tracks if t.name == name)
        b = next(t for t in dubbed.tracks if t.name == name)
        assert a.kind == b.kind
        assert len(a) == len(b)
        assert len(list(a.find_clips())) == len(list(b.find_clips()))
        for x, y in zip(a, b, strict=True):
            assert type(x) is type(y)
            assert x.name == y.name
            assert x.source_range == y.source_range
            assert x.metadata == y.metadata
            if isinstance(x, otio.schema.Clip):  # relative media are rebased: the same file, found from -o
                assert media_path(y.media_reference.target_url, demo.out) == \
                    (tools.SCENE_OTIO.parent / x.media_reference.target_url).resolve()
                assert x.media_reference.available_range == y.media_reference.available_range
                assert x.range_in_parent() == y.range_in_parent()


def test_demo_dub_clips_sit_at_their_record_in(demo):
    timeline = otio.adapters.read_from_file(str(demo.timeline_path))
    for row in demo.report["lines"]:
        rin = frame_of_tc(row["record_in"], DEMO_RATE, DEMO_START)
        track, clip = clip_by_id(timeline, row["id"])
        assert track.name == f"DUB en {row['character']}"
        assert frames(track.range_of_child(clip).start_time, DEMO_RATE) == rin
        assert frames(clip.range_in_parent().start_time, DEMO_RATE) == rin
        ref = clip.media_reference
        assert isinstance(ref, otio.schema.ExternalReference)
        assert ref.target_url == f"media/{row['id']}.wav"
        assert row["media"] == ref.target_url
        assert frames(ref.available_range.start_time, DEMO_RATE) == DEMO_START + rin
        assert frames(clip.source_range.start_time, DEMO_RATE) == DEMO_START + rin
        meta = clip.metadata["otio_dub"]
        assert meta["line_id"] == row["id"]
        assert meta["status"] == row["status"]


def test_demo_inputs_untouched(demo, tools):
    after = {p.name: tools.sha256(p) for p in (tools.SCENE_OTIO, tools.SCENE_ASS)}
    assert after == demo.input_hashes_before


def test_demo_report_lines(demo):
    on_disk = json.loads((demo.out / "report.json").read_text(encoding="utf-8"))
    assert on_disk == demo.report
    for row in demo.report["lines"]:
        for key in REQUIRED_FIELDS:
            assert key in row, (row.get("id"), key)
        assert row["status"] in STATUSES
        assert row["natural_s"] > 0
        assert row["target_s"] > 0
        assert 0.4 < row["rate_factor"] < 2.6
        assert row["stretch_factor"] > 0
        rin = frame_of_tc(row["record_in"], DEMO_RATE, DEMO_START)
        rout = frame_of_tc(row["record_out"], DEMO_RATE, DEMO_START)
        assert row["target_s"] == pytest.approx((rout - rin) * FRAME_SAMPLES / 48000, abs=1e-4)
    assert demo.result.lines == demo.report["lines"]
    assert demo.result.summary == demo.report["summary"]


def test_demo_speech_ends_as_its_status_says(demo, tools):
    """fit: ends within a frame of record out; padded: before it; borrowed: <= 500 ms after; overrun: after.

    Measured on each line's media file (which starts at its record in); nothing is ever cut.
    """
    policy = demo.report["policy"]
    for row in demo.report["lines"]:
        rin = frame_of_tc(row["record_in"], DEMO_RATE, DEMO_START)
        rout = frame_of_tc(row["record_out"], DEMO_RATE, DEMO_START)
        window_end = (rout - rin) * FRAME_SAMPLES
        media = tools.read_wav(demo.out / row["media"])
        loud = np.flatnonzero(np.abs(media) > 1e-3)
        assert loud.size, row["id"]
        end = int(loud[-1]) + 1
        assert end < media.size, f"{row['id']}: speech runs to the very end of its media (cut?)"
        status = row["status"]
        if status == "fit":
            assert abs(end - window_end) <= FRAME_SAMPLES, (row["id"], end, window_end)
            assert abs(row["offset_error_ms"]) <= 1001 / 24, row["id"]
        elif status == "padded":
            assert end < window_end, row["id"]
        elif status == "borrowed":
            assert window_end < end <= window_end + policy["max_borrow_ms"] * 48, row["id"]
        else:
            assert end > window_end, row["id"]
            assert row["note"].startswith("needs"), row["id"]
        # never faster than the speed-up limit, never slower than the slow-down limit
        assert policy["max_slowdown"] - 2e-3 <= row["total_speed"] <= policy["max_speedup"] + 2e-3, row["id"]


def test_demo_dub_is_deterministic_across_processes(demo, tools, tmp_path):
    """A second dub in a fresh interpreter (fresh engine state) gives byte-identical outputs."""
    again = tmp_path / "again"
    proc = subprocess.run(
        [sys.executable, "-m", "otio_dub", "dub", str(tools.SCENE_OTIO), "--script", str(tools.SCENE_ASS),
         "-o", str(again), "-q"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert (again / "scene.dub.otio").read_bytes() == demo.timeline_path.read_bytes()
    for folder in ("stems", "media"):
        a = sorted((demo.out / folder).iterdir())
        b = sorted((again / folder).iterdir())
        assert [p.name for p in a] == [p.name for p in b]
        for x, y in zip(a, b, strict=True):
            assert x.read_bytes() == y.read_bytes(), f"{folder}/{x.name} differs between runs"


# =============================================================================================
# overflow, borrow, pad
# =============================================================================================

LONG_TEXT = ("This is a very long sentence that could never possibly be spoken within a single second "
             "of screen time by anyone at all.")


def _natural_samples(espeak, text: str, index: int = 0) -> int:
    """Speech length the pipeline measures for ``text`` spoken by the ``index``-th automatic voice."""
    take = espeak.synthesize(text, espeak.default_voice("en", index), 1.0)
    return dsp.trim(dsp.resample(take.audio, take.sample_rate)).size


def _overflow_timeline(tools):
    spec = tools.LineSpec
    return tools.make_timeline(24, 86400, [spec(24, 48, LONG_TEXT, "ANNA"), spec(48, 96, "Okay.", "BOB")], 200,
                               name="overflow")


def test_overrun_places_the_whole_line_and_flags_it(tools, fresh_dub):
    result = fresh_dub(_overflow_timeline(tools))
    row = result.lines[0]
    assert row["id"] == "001-ANNA"
    assert row["status"] == "overrun"
    assert "needs" in row["note"]
    assert result.summary["overrun"] == 1
    track, clip = clip_by_id(result.timeline, row["id"])
    assert frames(track.range_of_child(clip).start_time, 24) == 24
    length = frames(clip.source_range.duration, 24)
    assert length > 24  # longer than its 1-second window
    markers = [m for m in clip.markers if m.name.startswith("OVERRUN")]
    assert len(markers) == 1
    assert "needs" in markers[0].name
    # the media holds the whole speech: not cut at the window nor at the media end
    media = tools.read_wav(result.out_dir / row["media"])
    assert media.size == length * 2000
    first, end = dsp.speech_bounds(media.astype(np.float32))
    assert end < media.size
    assert first < 10 * 48
    assert end > 48000  # runs past the 1-second window
    # spoken at (about) the maximum speed-up, not faster: nothing was dropped
    assert row["speech_s"] == pytest.approx(row["natural_s"] / 1.25, rel=0.03)
    # the dub file reads back with the marker
    back = otio.adapters.read_from_file(str(result.timeline_path))
    _, clip_back = clip_by_id(back, row["id"])
    assert any(m.name.startswith("OVERRUN") and "needs" in m.name for m in clip_back.markers)


def test_overrun_in_stems_is_not_cut(tools, fresh_dub):
    result = fresh_dub(_overflow_timeline(tools))
    row = result.lines[0]
    stem = tools.read_wav(result.stems["ANNA"])
    media = tools.read_wav(result.out_dir / row["media"])
    start = 24 * 2000
    np.testing.assert_allclose(stem[start: start + media.size], media, atol=2 / 2**23)


def test_overflow_error_raises_and_writes_nothing(tools, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(FitError) as info:
        otio_dub.dub(_overflow_timeline(tools), out_dir=out, options=DubOptions(policy=FitPolicy(overflow="error")))
    assert info.value.lines == ["001-ANNA"]
    assert "001-ANNA" in str(info.value)
    written = list(out.rglob("*")) if out.exists() else []
    assert not [p for p in written if p.suffix == ".otio"]
    assert not (out / "stems").exists()
    assert not (out / "media").exists()
    assert not [p for p in written if p.suffix == ".wav"]
    assert written == []  # no staging folder left either


def test_borrowed_takes_silence_after_the_line(tools, espeak, fresh_dub):
    text = "Well, I suppose we could always take the long way home tonight."
    natural = _natural_samples(espeak, text)
    at_max = -(-natural * 4 // 5)  # ceil(natural / 1.25): the speech length at the maximum speed-up
    window_frames = (at_max - 12000) // 2000  # about 250 ms too short at the maximum speed-up
    assert window_frames > 12
    rin = 24
    rout = rin + window_frames
    spec = tools.LineSpec
    timeline = tools.make_timeline(24, 86400, [spec(rin, rout, text, "ANNA"), spec(rout + 48, rout + 96, "Right.", "BOB")],
                                   rout + 150, name="borrow")
    result = fresh_dub(timeline)
    row = result.lines[0]
    assert row["status"] == "borrowed", row
    assert 0 < row["borrowed_ms"] <= 500
    assert 200 <= row["borrowed_ms"] <= 300  # what the window was built for
    track, clip = clip_by_id(result.timeline, row["id"])
    assert frames(track.range_of_child(clip).start_time, 24) == rin
    assert frames(clip.source_range.duration, 24) > window_frames
    assert any(m.name.startswith("BORROWED") for m in clip.markers)
    media = tools.read_wav(result.out_dir / row["media"])
    first, end = dsp.speech_bounds(media.astype(np.float32))
    assert end <= window_frames * 2000 + 500 * 48  # never past the borrow limit
    assert end > window_frames * 2000  # it did use the borrowed time
    # speech ends before the next line starts
    stem = tools.read_wav(result.stems["ANNA"])
    assert np.max(np.abs(stem[(rout + 48) * 2000:])) == 0


def test_borrow_limit_respected_then_overrun(tools, espeak, fresh_dub):
    text = "Well, I suppose we could always take the long way home tonight."
    natural = _natural_samples(espeak, text)
    window_frames = (int(natural / 1.25) - 48000) // 2000  # about one second too short
    spec = tools.LineSpec
    timeline = tools.make_timeline(24, 86400, [spec(24, 24 + window_frames, text, "ANNA")], 24 + window_frames + 200)
    result = fresh_dub(timeline, options=DubOptions(policy=FitPolicy(max_borrow_ms=500)))
    assert result.lines[0]["status"] == "overrun"
    assert result.lines[0]["borrowed_ms"] == 0


def test_short_line_is_padded_and_starts_at_record_in(tools, fresh_dub):
    spec = tools.LineSpec
    rin, rout = 37, 37 + 5 * 24
    timeline = tools.make_timeline(24, 86400, [spec(rin, rout, "Yes.", "ANNA")], 200, name="pad")
    result = fresh_dub(timeline)
    row = result.lines[0]
    assert row["status"] == "padded"
    track, clip = clip_by_id(result.timeline, row["id"])
    assert frames(track.range_of_child(clip).start_time, 24) == rin
    assert frames(clip.source_range.duration, 24) == rout - rin  # padded lines never grow
    assert not clip.markers
    media = tools.read_wav(result.out_dir / row["media"])
    assert media.size == (rout - rin) * 2000
    first, end = dsp.speech_bounds(media.astype(np.float32))
    assert first <= 5 * 48  # within 5 ms of the record in
    assert end < 48000  # a short word stays short
    assert abs(row["onset_error_ms"]) <= 5
    stem = tools.read_wav(result.stems["DIALOGUE"])
    loud = first_loud(stem, 0, stem.size)
    assert loud is not None and abs(loud - rin * 2000) <= 2000


def test_center_alignment_centres_padded_speech(tools, fresh_dub):
    spec = tools.LineSpec
    rin, rout = 24, 24 + 5 * 24
    timeline = tools.make_timeline(24, 86400, [spec(rin, rout, "Yes.", "ANNA")], 200, name="centre")
    result = fresh_dub(timeline, options=DubOptions(policy=FitPolicy(align="center")))
    media = tools.read_wav(result.out_dir / result.lines[0]["media"])
    first, end = dsp.speech_bounds(media.astype(np.float32))
    middle = (first + end) / 2
    assert abs(middle - media.size / 2) <= 2000


def test_overlapping_lines_of_one_character_go_to_an_overlap_track(tools, fresh_dub):
    spec = tools.LineSpec
    timeline = tools.make_timeline(
        24, 86400, [spec(24, 48, LONG_TEXT, "ANNA"), spec(48, 96, "And another thing.", "ANNA")], 300)
    result = fresh_dub(timeline)
    names = sorted(t.name for t in dub_tracks(result.timeline))
    assert names == ["DUB en ANNA", "DUB en ANNA (overlap 2)"]
    for row in result.lines:
        rin = frame_of_tc(row["record_in"], Fraction(24), 86400)
        track, clip = clip_by_id(result.timeline, row["id"])
        assert frames(track.range_of_child(clip).start_time, 24) == rin


def test_dub_does_not_modify_an_in_memory_timeline(tools, fresh_dub):
    spec = tools.LineSpec
    timeline = tools.make_timeline(25, 90000, [spec(10, 60, "Hello there.", "ANNA")], 100)
    before = otio.adapters.write_to_string(timeline, "otio_json")
    result = fresh_dub(timeline)
    assert otio.adapters.write_to_string(timeline, "otio_json") == before
    assert result.timeline is not timeline
    assert result.timeline_path.name == "made.dub.otio"


def test_overrun_past_the_timeline_end_cuts_only_the_stems(tools, fresh_dub, caplog):
    spec = tools.LineSpec
    total = 60
    timeline = tools.make_timeline(24, 86400, [spec(24, 48, LONG_TEXT, "ANNA")], total, name="end")
    with caplog.at_level("WARNING", logger="otio_dub"):
        result = fresh_dub(timeline)
    row = result.lines[0]
    assert row["status"] == "overrun"
    _, clip = clip_by_id(result.timeline, row["id"])
    clip_frames = frames(clip.source_range.duration, 24)
    assert 24 + clip_frames > total  # the dub clip itself is whole
    media = tools.read_wav(result.out_dir / row["media"])
    assert media.size == clip_frames * 2000
    for path in result.stems.values():
        assert sf.info(str(path)).frames == total * 2000  # stems stay exactly the timeline's length
    stem = tools.read_wav(result.stems["ANNA"])
    np.testing.assert_allclose(stem[24 * 2000:], media[: (total - 24) * 2000], atol=2 / 2**23)
    assert any("past the timeline end" in r.getMessage() for r in caplog.records)


def test_head_pad_delays_speech(tools, fresh_dub):
    spec = tools.LineSpec
    timeline = tools.make_timeline(25, 90000, [spec(25, 150, "Yes, of course.", "ANNA")], 200, name="pads")
    result = fresh_dub(timeline, options=DubOptions(policy=FitPolicy(head_pad_ms=200, tail_pad_ms=100)))
    row = result.lines[0]
    media = tools.read_wav(result.out_dir / row["media"])
    first, end = dsp.speech_bounds(media.astype(np.float32))
    assert abs(first - 200 * 48) <= 5 * 48
    assert end <= media.size - 100 * 48
    assert abs(row["onset_error_ms"]) <= 5


def test_lines_in_two_languages_get_separate_tracks_and_stems(tools, fresh_dub):
    spec = tools.LineSpec
    timeline = tools.make_timeline(25, 90000, [spec(10, 60, "Hello there.", "ANNA"), spec(70, 120, "Guten Tag.", "ANNA")],
                                   150, name="multi")
    clips = list(timeline.tracks[0].find_clips())
    clips[1].metadata["otio_dub"]["lang"] = "de"
    result = fresh_dub(timeline)
    assert sorted(t.name for t in dub_tracks(result.timeline)) == ["DUB de ANNA", "DUB en ANNA"]
    assert set(result.stems) == {"en_ANNA", "de_ANNA", "DIALOGUE_en", "DIALOGUE_de", "DIALOGUE"}
    assert [row["lang"] for row in result.lines] == ["en", "de"]
    assert result.lines[1]["voice"].startswith("de")
    for path in result.stems.values():
        assert sf.info(str(path)).frames == 150 * 1920


def test_default_out_dir_and_progress(tools, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = tools.LineSpec
    timeline = tools.make_timeline(25, 90000, [spec(10, 60, "Hello there.", "ANNA"), spec(70, 120, "Bye.", "BOB")],
                                   150, name="prog")
    calls = []
    result = otio_dub.dub(timeline, progress=lambda done, total, line: calls.append((done, total, line.id)))
    assert result.out_dir == tmp_path / "prog_dub"
    assert (tmp_path / "prog_dub" / "prog.dub.otio").is_file()
    assert calls == [(1, 2, "001-ANNA"), (2, 2, "002-BOB")]


def test_no_stems_option(tools, fresh_dub):
    spec = tools.LineSpec
    timeline = tools.make_timeline(25, 90000, [spec(10, 60, "Hello there.", "ANNA")], 100, name="nostems")
    result = fresh_dub(timeline, options=DubOptions(stems=StemOptions(mode="none")))
    assert result.stems == {}
    assert not (result.out_dir / "stems").exists()
    assert (result.out_dir / "media" / "001-ANNA.wav").is_file()
    report = json.loads(result.report_path.read_text(encoding="utf-8"))
    assert report["stems"]["files"] == {}
    assert report["stems"]["loudness"]["gains_db"]["ANNA"] == result.lines[0]["gain_db"]  # media still normalised


# =============================================================================================
# frame rates and start timecodes
# =============================================================================================

RATES = [
    pytest.param(Fraction(24), "01:00:00:00", id="24"),
    pytest.param(Fraction(25), "01:00:00:00", id="25"),
    pytest.param(Fraction(30000, 1001), "01:00:00;00", id="29.97df"),
    pytest.param(Fraction(50), "01:00:00:00", id="50"),
    pytest.param(Fraction(60000, 1001), "01:00:00;00", id="59.94df"),
    pytest.param(Fraction(24000, 1001), "02:58:58:00", id="23.976-2h"),
]


@pytest.mark.parametrize(("rate", "start_tc"), RATES)
def test_frame_rates_place_lines_on_exact_samples(tools, fresh_dub, rate, start_tc):
    fps = float(rate)
    start = int(otio.opentime.from_timecode(start_tc, fps).value)
    nominal = round(fps)
    rin1, rout1 = 2 * nominal + 1, 2 * nominal + 1 + round(2.3 * fps)  # odd frames: non-integer sample positions
    rin2, rout2 = rout1 + nominal // 2 + 3, rout1 + nominal // 2 + 3 + round(1.7 * fps)
    total = rout2 + nominal + 7
    spec = tools.LineSpec
    timeline = tools.make_timeline(rate, start, [spec(rin1, rout1, "Hello there, how are you today?", "ANNA"),
                                                 spec(rin2, rout2, "Fine, thanks.", "BOB")], total, name="rates")
    result = fresh_dub(timeline)
    report = json.loads(result.report_path.read_text(encoding="utf-8"))
    stem_start = tools.abs_sample(start, rate)
    expected_total = tools.abs_sample(start + total, rate) - stem_start
    assert report["duration_frames"] == total
    assert report["duration_samples"] == expected_total
    assert report["rate"] == str(rate)
    for path in result.stems.values():
        info = sf.info(str(path))
        assert (info.samplerate, info.subtype, info.channels) == (48000, "PCM_24", 1)
        assert info.frames == expected_total, path.name
        assert tools.bext_time_reference(path) == stem_start
    dialogue = tools.read_wav(result.stems["DIALOGUE"])
    frame_len = int(Fraction(48000) / rate) + 1
    for row, rin in zip(result.lines, (rin1, rin2), strict=True):
        abs_in = start + rin
        media = result.out_dir / row["media"]
        assert tools.bext_time_reference(media) == tools.round_half_up(Fraction(abs_in) * 48000 / rate), row["id"]
        track, clip = clip_by_id(result.timeline, row["id"])
        assert frames(track.range_of_child(clip).start_time, rate) == pytest.approx(rin, abs=1e-6)
        assert frames(clip.media_reference.available_range.start_time, rate) == pytest.approx(abs_in, abs=1e-6)
        clip_frames = round(frames(clip.source_range.duration, rate))
        expected_len = tools.abs_sample(abs_in + clip_frames, rate) - tools.abs_sample(abs_in, rate)
        assert sf.info(str(media)).frames == expected_len, row["id"]
        assert frame_of_tc(row["record_in"], rate, start) == rin
        at = tools.abs_sample(abs_in, rate) - stem_start
        first = first_loud(dialogue, at - frame_len, at + 48000)
        assert first is not None and abs(first - at) <= frame_len, (row["id"], first, at)


@pytest.mark.parametrize("value", [
    {"text": "Ça va — «oui» 日本語", "n": -3, "big": 2**62, "f": 0.1, "neg": -369.4, "b": True, "none": None,
     "nested": {"list": [1, "a", 2.5, [True]], "empty": {}}, "key": "d57c9f41"},
    {"odd": float("nan")},  # JSON cannot carry it: OTIO converts it its own way
    {"third": 1 / 3, "long": 11.584868302633947, "tiny": 1e-30, "list": [0.1, 2.0 / 3]},  # 17 digits: converted the slow way
])
@pytest.mark.parametrize("pyany", [True, False])
def test_dub_clip_metadata_is_what_otio_makes_of_the_dict(monkeypatch, value, pyany):
    """The dub clips' metadata goes through OTIO's JSON reader (a workaround for its slow Python
    conversion): the clip must serialize exactly as with the plain dictionary, also where OTIO has
    no PyAny to take it whole."""
    import math

    from otio_dub.timelines import apply

    if not pyany:
        monkeypatch.setattr(apply, "_PyAny", None)
    fast = otio.schema.Clip(name="c", metadata={"otio_dub": apply.otio_metadata(value)})
    plain = otio.schema.Clip(name="c", metadata={"otio_dub": value})
    if any(isinstance(v, float) and math.isnan(v) for v in value.values()):
        assert math.isnan(fast.metadata["otio_dub"]["odd"])
        return
    assert otio.adapters.write_to_string(fast, "otio_json") == otio.adapters.write_to_string(plain, "otio_json")
    if "nested" in value:
        assert list(fast.metadata["otio_dub"]["nested"]["list"])[:3] == [1, "a", 2.5]
        assert fast.metadata["otio_dub"]["text"] == value["text"] and fast.metadata["otio_dub"]["big"] == 2**62
    else:
        assert fast.metadata["otio_dub"]["long"] == value["long"] and fast.metadata["otio_dub"]["third"] == 1 / 3


def test_report_json_is_the_report_with_one_line_per_row():
    """report.json reads back as the report, whatever its text holds, with each line's row on one
    line of its own (readable and greppable on a feature)."""
    from otio_dub.stages.deliver import report_text

    rows = [{"id": "001-ANNA", "text": 'Ça "va" \\ — 日本語', "x": 1.5, "none": None}, {"id": "002-BOB", "text": "lines"}]
    report = {"otio_dub": "1", "lines": rows, "stems": {"files": {}}, "entries": ["media", "report.json"]}
    text = report_text(report)
    assert json.loads(text) == report and text.endswith("}\n")
    assert [ln.strip().rstrip(",") for ln in text.splitlines() if "-ANNA" in ln or "-BOB" in ln] == \
        [json.dumps(r, ensure_ascii=False) for r in rows]
    assert json.loads(report_text({"lines": []})) == {"lines": []}
