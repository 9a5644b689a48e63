"""Subtitles of a dub: timed to the fitted speech inside each take, cut by the transcript's rules."""

from __future__ import annotations

from fractions import Fraction

import opentimelineio as otio
import pysubs2
import pytest
import soundfile as sf

import otio_dub
from otio_dub.audio import dsp
from otio_dub.core.errors import OutputError
from otio_dub.core.timebase import parse_timecode
from otio_dub.dialogue.lines import timebase_of
from otio_dub.listen.subtitles import check_formats, write_dub_subtitles

RATE = Fraction(25)
LONG = ("This line is far too long to be shown as one subtitle, so it has to be cut into two events "
        "that each fit two lines of forty-two characters.")


@pytest.fixture(scope="module")
def dubbed(tmp_path_factory):
    """A 25 fps timeline at 10:00:00:00 with a short French line and a long English one, dubbed with espeak."""
    folder = tmp_path_factory.mktemp("dubsubs")
    rt = lambda f: otio.opentime.RationalTime(f, 25)  # noqa: E731
    timeline = otio.schema.Timeline("subs", global_start_time=rt(900000))
    track = otio.schema.Track("DIA", kind=otio.schema.TrackKind.Audio)
    track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=rt(25))))
    track.append(otio.schema.Clip("a", source_range=otio.opentime.TimeRange(rt(0), rt(60)),
                                  metadata={"otio_dub": {"text": "Bonjour, ça va?", "character": "ANNA", "lang": "fr"}}))
    track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=rt(25))))
    track.append(otio.schema.Clip("b", source_range=otio.opentime.TimeRange(rt(0), rt(250)),
                                  metadata={"otio_dub": {"text": LONG, "character": "BOB", "lang": "en"}}))
    timeline.tracks.append(track)
    path = folder / "subs.otio"
    otio.adapters.write_to_file(timeline, str(path))
    policy = otio_dub.speech.fit.FitPolicy(head_pad_ms=200)
    options = otio_dub.DubOptions(engine="espeak", policy=policy, subtitles=("srt", "vtt", "ass"))
    result = otio_dub.dub(path, out_dir=folder / "out", options=options)
    return result, timebase_of(timeline)


def _speech_frames(result, row, tb):
    """(first, end) of the speech in a row's line media, as fractional frames from the timeline start."""
    audio, rate = sf.read(result.out_dir / row["media"], dtype="float32")
    first, end = dsp.speech_bounds(audio, rate)
    rin = parse_timecode(row["record_in"], tb.rate) - tb.start_frame
    return rin + Fraction(first, rate) * tb.rate, rin + Fraction(end, rate) * tb.rate


@pytest.mark.parametrize("with_media", [True, False])
def test_events_start_on_the_fitted_speech_and_obey_the_rules(dubbed, tmp_path, with_media):
    result, tb = dubbed
    rows = result.lines
    if not with_media:  # no media to read: the row's head pad and onset error place the speech
        rows = [{**r, "media": None, "head_pad_ms": 200} for r in rows]
    written = write_dub_subtitles(rows, tb, tmp_path, "srt,vtt,ass", media_dir=result.out_dir if with_media else None)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == sorted(
        f"subtitles/{lang}.{ext}" for lang in ("en", "fr") for ext in ("srt", "vtt", "ass"))
    for row in result.lines:
        first, end = _speech_frames(result, row, tb)
        subs = pysubs2.load(str(tmp_path / "subtitles" / f"{row['lang']}.ass"))
        frames = [(tb.frame_of_seconds(Fraction(e.start, 1000)), tb.frame_of_seconds(Fraction(e.end, 1000))) for e in subs]
        assert abs(frames[0][0] - first) <= 1, (frames, first)  # starts with the dubbed voice
        assert frames[-1][1] >= end - 1  # shown until the voice stops
        assert all(e.name == row["character"] for e in subs)
        text = " ".join(e.plaintext.replace("\n", " ") for e in subs)
        assert text == row["text"]
        for e in subs:
            lines = e.plaintext.split("\n")
            assert len(lines) <= 2 and all(len(line) <= 42 for line in lines)
            assert (e.end - e.start) <= 7000
    assert len(pysubs2.load(str(tmp_path / "subtitles" / "en.srt"))) >= 2  # the long line is cut
    assert "<v BOB>" in (tmp_path / "subtitles" / "en.vtt").read_text()


def test_unknown_subtitle_formats_are_named(dubbed, tmp_path):
    result, tb = dubbed
    with pytest.raises(OutputError, match="unknown subtitle format 'sub'"):
        write_dub_subtitles(result.lines, tb, tmp_path, ["srt", "sub"])
    assert not (tmp_path / "subtitles").exists()
    assert check_formats(["SRT, vtt", "srt"]) == ["srt", "vtt"]


def test_dub_subtitles_option_writes_the_same_files(dubbed, tmp_path):
    result, tb = dubbed
    write_dub_subtitles(result.lines, tb, tmp_path, "srt,vtt,ass", media_dir=result.out_dir)
    for name in ("en.srt", "en.vtt", "en.ass", "fr.srt", "fr.vtt", "fr.ass"):
        assert (result.out_dir / "subtitles" / name).read_text() == (tmp_path / "subtitles" / name).read_text()
