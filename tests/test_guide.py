"""--align guide: the dub's speech lands on the original speech found in the dialogue clip's media."""

from __future__ import annotations

import json

import numpy as np
import opentimelineio as otio
import soundfile as sf

import otio_dub
from otio_dub.audio import dsp
from otio_dub.engines import VoiceSpec, get_engine
from otio_dub.speech.fit import FitPolicy

RATE = 24.0
FRAME = 2000  # samples per frame at 24 fps


def _scene(tmp_path, with_media: bool = True):
    """A 24 fps timeline at 01:00:00:00; DIA clip 'orig' (3 s) reads its file from 1 s in, where the
    file (44.1 kHz, TC origin 01:00:00:00) holds French speech starting at 1.6 s, i.e. 0.6 s into the clip."""
    engine = get_engine("espeak")
    take = engine.synthesize("Bonjour, comment allez-vous?", VoiceSpec(lang="fr"))
    speech = dsp.trim(dsp.resample(take.audio, take.sample_rate, 44100), 44100)
    audio = np.zeros(44100 * 5, dtype=np.float32)
    audio[int(1.6 * 44100): int(1.6 * 44100) + speech.size] = speech
    if with_media:
        sf.write(tmp_path / "orig_fr.wav", audio, 44100, subtype="PCM_24")
    rt = lambda f: otio.opentime.RationalTime(f, RATE)  # noqa: E731
    timeline = otio.schema.Timeline("guided", global_start_time=rt(86400))
    track = otio.schema.Track("DIA", kind=otio.schema.TrackKind.Audio)
    track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=rt(48))))
    ref = otio.schema.ExternalReference(target_url="orig_fr.wav", available_range=otio.opentime.TimeRange(rt(86400), rt(120)))
    track.append(otio.schema.Clip("orig", media_reference=ref, source_range=otio.opentime.TimeRange(rt(86424), rt(72)),
                                  metadata={"otio_dub": {"text": "Hello, how are you?", "character": "ANNA"}}))
    track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=rt(48))))
    timeline.tracks.append(track)
    path = tmp_path / "guided.otio"
    otio.adapters.write_to_file(timeline, str(path))
    return path, speech.size / 44100


def test_guide_places_speech_on_the_original_onset_and_offset(tmp_path):
    path, original_s = _scene(tmp_path)
    result = otio_dub.dub(path, out_dir=tmp_path / "out", options=otio_dub.DubOptions(policy=FitPolicy(align="guide")))
    (row,) = result.lines
    assert row["guide"] is True
    media, _ = sf.read(tmp_path / "out" / row["media"], dtype="float32")
    first, end = dsp.speech_bounds(media)
    assert abs(first - 0.6 * 48000) <= FRAME, first / 48000
    if row["status"] == "fit":  # the original's length is reachable within the bounds: ends with it too
        assert abs(end - (0.6 + original_s) * 48000) <= FRAME, (end / 48000, 0.6 + original_s)
    assert abs(row["onset_error_ms"]) <= 1000 / RATE


def test_guide_without_readable_media_falls_back_to_start_and_warns(tmp_path, caplog):
    path, _ = _scene(tmp_path, with_media=False)
    result = otio_dub.dub(path, out_dir=tmp_path / "out", options=otio_dub.DubOptions(policy=FitPolicy(align="guide")))
    (row,) = result.lines
    assert row["guide"] is False
    assert "no readable original media" in caplog.text
    media, _ = sf.read(tmp_path / "out" / row["media"], dtype="float32")
    assert dsp.speech_bounds(media)[0] <= FRAME
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["policy"]["align"] == "guide"
