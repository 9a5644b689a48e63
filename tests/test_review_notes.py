"""Review helpers without a browser: notes files, waveform thumbnails, the originals under lines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest
import soundfile as sf

from otio_dub.core.errors import InputError
from otio_dub.dialogue.lines import Line, timebase_of
from otio_dub.review import extract_originals, load_notes, write_review
from otio_dub.review.peaks import PEAK_BUCKETS, decode_peaks, encode_peaks


def _write(tmp_path: Path, doc: object, raw: str | None = None) -> Path:
    path = tmp_path / "review-notes.json"
    path.write_text(raw if raw is not None else json.dumps(doc), encoding="utf-8")
    return path


def test_notes_file_as_the_page_writes_it(tmp_path):
    notes = load_notes(_write(tmp_path, {
        "otio_dub_review": 1, "timeline": "scene", "redo": ["008-ANNA"], "approved": ["001-ANNA"],
        "notes": [{"id": "001-ANNA", "verdict": "approve", "comment": "", "take": "k1"},
                  {"id": "008-ANNA", "verdict": "redo", "comment": " too fast ", "take": "k8", "text": "You walked here?",
                   "rate": 1.1, "line_text": "You walked twelve kilometres?"}]}))
    assert notes.timeline == "scene" and notes.redo == ["008-ANNA"]
    assert notes.notes[1].comment == "too fast" and notes.notes[1].marker_name() == "REDO: too fast"
    assert notes.notes[0].marker_name() == "APPROVED"
    assert notes.overrides() == {"008-ANNA": {"text": "You walked here?", "rate": 1.1}}


def test_a_hand_written_redo_list_is_a_notes_file(tmp_path):
    notes = load_notes(_write(tmp_path, {"redo": ["003-ANNA", "005-NARRATOR"]}))
    assert notes.redo == ["003-ANNA", "005-NARRATOR"] and all(n.comment == "" for n in notes.notes)


@pytest.mark.parametrize(("doc", "raw", "message"), [
    (None, '{"notes": [', r"review-notes\.json: not valid JSON \(line 1 column 12: "),
    ([1, 2], None, r"review-notes\.json: not a review notes file"),
    ({"notes": {"id": "x"}}, None, r"'notes' must be a list"),
    ({"notes": [{"verdict": "redo"}]}, None, r"review-notes\.json: note 1: has no line id"),
    ({"notes": [{"id": "001-ANNA", "verdict": "maybe"}]}, None, r"note 1 \(001-ANNA\): verdict must be approve, redo or null, not 'maybe'"),
    ({"notes": [{"id": "001-ANNA", "verdict": "redo", "rate": 7}]}, None, r"note 1 \(001-ANNA\): rate must be a number from 0\.5 to 2\.0"),
    ({"notes": [{"id": "001-ANNA", "comment": 3}]}, None, r"comment must be text"),
    ({"notes": [{"id": "a", "verdict": "redo"}, {"id": "a", "verdict": "approve"}]}, None, r"line 'a' is noted twice"),
    ({"redo": "001-ANNA"}, None, r"'redo' must be a list of line ids"),
])
def test_bad_notes_files_are_one_clear_error_naming_the_file(tmp_path, doc, raw, message):
    with pytest.raises(InputError, match=message):
        load_notes(_write(tmp_path, doc, raw))


def test_missing_notes_file(tmp_path):
    with pytest.raises(InputError, match=r"nope\.json: notes file not found"):
        load_notes(tmp_path / "nope.json")


def test_a_folder_that_is_not_a_dub_is_refused(tmp_path):
    with pytest.raises(InputError, match=r"not a dub folder \(no report\.json\)"):
        write_review(tmp_path)
    assert not (tmp_path / "review.html").exists()


def test_peaks_follow_the_envelope():
    audio = np.zeros(48000, np.float32)
    audio[12000:24000] = 0.5 * np.sin(np.arange(12000) * 0.1)  # -6 dBFS in the second quarter
    audio[36000:48000] = 0.05  # -26 dBFS in the last quarter
    levels = decode_peaks(encode_peaks(audio))
    q = PEAK_BUCKETS // 4
    assert len(levels) == PEAK_BUCKETS
    assert max(levels[:q]) == 0 and max(levels[2 * q:3 * q]) == 0
    assert min(levels[q + 1:2 * q - 1]) > 0.95
    assert all(0.08 < v < 0.13 for v in levels[3 * q + 1:])
    assert len(encode_peaks(np.zeros(10, np.float32))) == PEAK_BUCKETS  # shorter than the buckets
    assert encode_peaks(np.zeros(0, np.float32)) == "A" * PEAK_BUCKETS


def test_originals_are_cut_from_the_clips_under_each_line(tmp_path):
    """Two dialogue clips (the second reading its file from 0.5 s in); a line spanning the cut gets
    both parts at their record positions, a line where no clip lies gets no file."""
    rate = 25
    rt = lambda f: otio.opentime.RationalTime(f, rate)  # noqa: E731
    ramp = np.linspace(0, 0.8, 96000, dtype=np.float32)  # 2 s: each sample says where it came from
    sf.write(tmp_path / "a.wav", ramp, 48000, subtype="FLOAT")
    timeline = otio.schema.Timeline("t", global_start_time=rt(90000))
    track = otio.schema.Track("DIA", kind=otio.schema.TrackKind.Audio)
    ref = lambda: otio.schema.ExternalReference(target_url="a.wav", available_range=otio.opentime.TimeRange(rt(0), rt(50)))  # noqa: E731
    track.append(otio.schema.Clip("c1", media_reference=ref(), source_range=otio.opentime.TimeRange(rt(0), rt(25))))
    track.append(otio.schema.Clip("c2", media_reference=ref(), source_range=otio.opentime.TimeRange(rt(12), rt(25))))
    track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=rt(50))))
    timeline.tracks.append(track)
    tb = timebase_of(timeline)
    lines = [Line("L1", 20, 30, "A", "en", "across the cut"), Line("L2", 60, 70, "A", "en", "over silence")]
    written = extract_originals(timeline, tb, lines, tmp_path, tmp_path / "orig")
    assert written == {"L1": "L1.wav"}
    audio, sr = sf.read(tmp_path / "orig" / "L1.wav", dtype="float32")
    assert sr == 48000 and audio.size == 10 * 1920
    # frames 20-24 come from c1 (file 0.8-1.0 s), frames 25-29 from c2 (file 0.48-0.68 s)
    assert audio[0] == pytest.approx(ramp[int(0.8 * 48000)], abs=2e-4)
    assert audio[5 * 1920] == pytest.approx(ramp[int(0.48 * 48000)], abs=2e-4)
    assert audio[-1] == pytest.approx(ramp[int(0.68 * 48000) - 1], abs=2e-4)
    assert not (tmp_path / "orig" / "L2.wav").exists()
