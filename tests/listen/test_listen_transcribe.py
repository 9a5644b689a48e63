"""transcribe, end to end, against speech whose text, onsets and voices are known.

Scene A (23.976 at 01:00:00:00, clean, no enhancement): joe (piper, named ANNA by a marker on his
first clip), espeak m3 (two sentences in one clip), espeak f4, joe again. Scene B (29.97 DF, pink
noise at 5 dB SNR, .mov media, DeepFilterNet3 on): joe on a track named DIA BOB, espeak m3 on DX.

WER bounds (tiny.en, measured on these scenes): 0 on piper's joe in both; espeak's robotic voices
lose a word or two per sentence (7.3% over scene A; 'bag'->'back', 'have'->'am'), noise costs a
little more: bounds are 0.15 clean and 0.2 noisy, about twice what was measured, low enough that
a misaligned decode (a wrong source range hears the 440 Hz handle, or the wrong clip) fails them.
"""

from __future__ import annotations

import json
import statistics

import opentimelineio as otio
import pysubs2
import pytest
from click.testing import CliRunner
from listen_speech import normalise, wer

import otio_dub
from otio_dub.dialogue.dialogue_list import read_dialogue_list
from otio_dub.dialogue.lines import find_lines, timebase_of
from otio_dub.listen import ListenError, transcribe
from otio_dub.timelines.timeline_io import read_timeline

pytest.importorskip("faster_whisper")


@pytest.fixture(scope="module")
def heard_a(scene_2398, tmp_path_factory):
    return transcribe(scene_2398.path, tmp_path_factory.mktemp("out_a"), lang="en", enhance=False)


@pytest.fixture(scope="module")
def heard_b(scene_2997_noisy, tmp_path_factory):
    return transcribe(scene_2997_noisy.path, tmp_path_factory.mktemp("out_b"), lang="en", enhance=True)


def _clip_of(scene, result, event) -> dict:
    """The scene's clip an event was heard in (the transcript numbers clips in record order)."""
    name = result.transcript.clips[event.clip].clip.name
    return next(c for c in scene.clips if c["name"] == name)


def _by_voice(scene, result) -> dict[str, list]:
    """Events per true voice: an event belongs to the utterance whose clip holds it."""
    out: dict[str, list] = {}
    for event in result.events:
        out.setdefault(_clip_of(scene, result, event)["utterances"][0].voice, []).append(event)
    return out


@pytest.mark.parametrize("which, bound", [("a", 0.15), ("b", 0.2)])
def test_words_match_the_known_text(which, bound, request):
    scene = request.getfixturevalue("scene_2398" if which == "a" else "scene_2997_noisy")
    result = request.getfixturevalue(f"heard_{which}")
    reference = " ".join(u.text for u in scene.utterances)
    hypothesis = " ".join(e.text for e in result.events)
    assert wer(reference, hypothesis) <= bound, (reference, hypothesis)
    for clip in scene.clips:  # piper's voice is heard word for word
        if clip["utterances"][0].voice == "joe":
            heard = " ".join(e.text for e in result.events if _clip_of(scene, result, e) is clip)
            assert normalise(heard) == normalise(" ".join(u.text for u in clip["utterances"]))


@pytest.mark.parametrize("which", ["a", "b"])
def test_first_words_start_on_the_speech(which, request):
    scene = request.getfixturevalue("scene_2398" if which == "a" else "scene_2997_noisy")
    result = request.getfixturevalue(f"heard_{which}")
    errors = []
    for clip in scene.clips:
        starts = [e.words[0].start for e in result.events if _clip_of(scene, result, e) is clip]
        for u in clip["utterances"]:
            errors.append(min((abs(s - u.onset_s) for s in starts), default=9.9) * 1000)
    assert statistics.median(errors) <= 100, errors
    assert max(errors) <= 250, errors


@pytest.mark.parametrize("which, named", [("a", {"joe": "ANNA", "m3": "SPEAKER 1", "f4": "SPEAKER 2"}),
                                          ("b", {"joe": "BOB", "m3": "SPEAKER 1"})])
def test_speakers_are_pure_clusters_named_from_the_timeline(which, named, request):
    scene = request.getfixturevalue("scene_2398" if which == "a" else "scene_2997_noisy")
    result = request.getfixturevalue(f"heard_{which}")
    speakers = {voice: {e.speaker for e in events} for voice, events in _by_voice(scene, result).items()}
    assert speakers == {voice: {name} for voice, name in named.items()}
    assert sorted(result.transcript.speakers) == sorted(named.values())


@pytest.mark.parametrize("which", ["a", "b"])
def test_events_obey_the_subtitle_rules(which, request):
    scene = request.getfixturevalue("scene_2398" if which == "a" else "scene_2997_noisy")
    result = request.getfixturevalue(f"heard_{which}")
    rate = result.transcript.tb.rate
    events = sorted(result.events, key=lambda e: e.start)
    for i, e in enumerate(events):
        clip = _clip_of(scene, result, e)
        assert clip["record_in"] <= e.start < e.end <= clip["record_out"]  # never across a cut
        assert len(e.lines) <= 2 and all(len(line) <= 42 for line in e.lines)
        seconds = (e.end - e.start) / rate
        assert seconds <= 7
        room = min([clip["record_out"]] + [n.start - 2 for n in events[i + 1:] if n.start >= e.start])
        if e.end < room:  # only the next event or the cut may keep it short or fast
            assert seconds >= 1
            assert len(e.text) / seconds <= 17 + 1e-9
        assert e.words[0].start * rate >= e.start and e.words[-1].end * rate <= e.end + 1


def test_outputs_parse_back_as_what_was_heard(heard_a, scene_2398):
    t = heard_a.transcript
    tb, files = t.tb, heard_a.files
    assert {p.name for p in heard_a.out_dir.iterdir()} == {
        "scene2398.ass", "scene2398.srt", "scene2398.vtt", "scene2398.csv", "scene2398.transcript.json",
        "scene2398.spotted.otio"}
    ass = pysubs2.load(str(files["ass"]))
    assert [(ev.name, ev.style) for ev in ass.events] == [(e.speaker, e.speaker) for e in t.events]
    assert set(ass.styles) >= set(t.speakers)
    for subs in (ass, pysubs2.load(str(files["srt"])), pysubs2.load(str(files["vtt"]))):
        frames = [(tb.frame_of_seconds(ev.start / 1000), tb.frame_of_seconds(ev.end / 1000)) for ev in subs.events]
        assert frames == [(e.start, e.end) for e in t.events]  # times count from the timeline start
    assert files["vtt"].read_text().count("<v ANNA>") == sum(e.speaker == "ANNA" for e in t.events)
    rows = read_dialogue_list(files["csv"], tb.rate)
    assert [(r.tc_in - tb.start_frame, r.tc_out - tb.start_frame, r.character, r.text, r.lang) for r in rows] == [
        (e.start, e.end, e.speaker, e.text, "en") for e in t.events]
    doc = json.loads(files["json"].read_text())
    assert doc["lang"] == "en" and doc["start"] == "01:00:00:00" and doc["enhanced"] is False
    assert len(doc["words"]) == len(t.words)
    assert {"text", "start", "end", "probability", "speaker", "clip"} <= set(doc["words"][0])
    assert doc["words"][0]["clip"] == scene_2398.clips[0]["name"]


def test_the_spotted_timeline_dubs_every_line_inside_its_clip(heard_a, scene_2398, tmp_path):
    spotted = heard_a.files["otio"]
    timeline = read_timeline(spotted)  # as dub reads it
    tb = timebase_of(timeline)
    lines = find_lines(timeline)
    assert [(ln.record_in, ln.record_out, ln.character, ln.text) for ln in lines] == [
        (e.start, e.end, e.speaker, e.text) for e in heard_a.events]
    result = otio_dub.dub(spotted, out_dir=tmp_path / "dub", options=otio_dub.DubOptions(engine="espeak"))
    assert len(result.lines) == len(heard_a.events)
    for row, event in zip(result.lines, heard_a.events, strict=True):
        clip = _clip_of(scene_2398, heard_a, event)
        rin = otio.opentime.from_timecode(row["record_in"], float(tb.rate)).value - tb.start_frame
        out = otio.opentime.from_timecode(row["clip_out"], float(tb.rate)).value - tb.start_frame
        assert clip["record_in"] <= rin and out <= clip["record_out"], (row, clip)
    # the copy's media are absolute: it is read from its own folder, not the original's
    assert all(c.media_reference.target_url.startswith("file://") for c in timeline.find_clips())


def test_drop_frame_timecodes_in_the_dialogue_list(heard_b):
    doc = json.loads(heard_b.files["json"].read_text())  # speech under noise 5 dB down: every clip enhanced
    assert all(c["enhanced"] and c["speech_over_floor_db"] < 20 for c in doc["clips"]), doc["clips"]
    text = heard_b.files["csv"].read_text().splitlines()
    assert text[1].startswith("01:00:0") and ";" in text[1].split(",")[0]


def test_clips_without_readable_media_are_listed_and_skipped(scene_2397_missing, tmp_path):
    result = transcribe(scene_2397_missing, tmp_path / "out", lang="en", enhance=False)
    assert len(result.skipped) == 1 and "no readable media" in result.skipped[0] and "'DIA_1'" in result.skipped[0]
    assert {e.clip for e in result.events} == {0}
    again = transcribe(scene_2397_missing, tmp_path / "again", lang="en", enhance=False)
    for kind, path in result.files.items():  # same input, same settings: the same bytes
        assert path.read_bytes() == again.files[kind].read_bytes(), kind


@pytest.fixture
def scene_2397_missing(scene_2398, tmp_path):
    """Scene A's first two clips, the second one's media gone."""
    timeline = otio.adapters.read_from_file(str(scene_2398.path))
    track = timeline.tracks[0]
    while len(track) > 4:  # gap, clip 0, gap, clip 1
        del track[-1]
    clips = list(track.find_clips())
    clips[0].media_reference.target_url = (scene_2398.path.parent / clips[0].media_reference.target_url).as_uri()
    clips[1].media_reference.target_url = str(tmp_path / "gone.wav")
    path = tmp_path / "missing.otio"
    otio.adapters.write_to_file(timeline, str(path))
    return path


def test_a_folder_that_is_not_a_model_and_a_language_the_model_lacks(tmp_path, scene_2398):
    (tmp_path / "nomodel").mkdir()
    with pytest.raises(ListenError, match="not a CTranslate2 whisper model"):
        transcribe(scene_2398.path, tmp_path / "o1", model=str(tmp_path / "nomodel"), lang="en")
    with pytest.raises(ListenError, match="has no language 'fr'"):
        transcribe(scene_2398.path, tmp_path / "o2", model="tiny.en", lang="fr")
    with pytest.raises(ListenError, match="not installed here"):
        transcribe(scene_2398.path, tmp_path / "o3", model="large-v9-nonexistent", lang="en")


def test_cli_prints_one_line_errors(tmp_path, scene_2398):
    from otio_dub.cli import main

    result = CliRunner().invoke(main, ["transcribe", str(scene_2398.path), "-o", str(tmp_path / "o"),
                                       "--model", "tiny.en", "--lang", "xx"])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and result.output.startswith("Error: ") and "Traceback" not in result.output


@pytest.mark.parametrize("which", ["a", "b"])
def test_every_core_or_one_process_writes_the_same_files(which, request, tmp_path):
    """Clips heard in this process (the API's default), in one worker per core (the CLI's) or in two:
    byte for byte the same subtitles, dialogue list, transcript and spotted timeline (b: enhanced, 29.97 DF)."""
    scene = request.getfixturevalue("scene_2398" if which == "a" else "scene_2997_noisy")
    alone = request.getfixturevalue(f"heard_{which}")
    pooled = transcribe(scene.path, tmp_path / "cores", lang="en", enhance=which == "b", jobs=None)
    two = transcribe(scene.path, tmp_path / "two", lang="en", enhance=which == "b", jobs=2)  # whatever the cores
    assert sorted(alone.files) == sorted(pooled.files) == sorted(two.files)
    for kind, path in alone.files.items():
        assert path.read_bytes() == pooled.files[kind].read_bytes() == two.files[kind].read_bytes(), kind


@pytest.mark.parametrize("which", ["a", "b"])
def test_clips_heard_as_ray_tasks_write_the_same_files(which, request, tmp_path):
    """--ray: each clip a Ray task (media decoded by the driver, models loaded once per Ray worker),
    byte for byte the files heard in one process (b: noisy, enhanced, full windows); the local Ray it
    started is shut down after."""
    ray = pytest.importorskip("ray")
    scene = request.getfixturevalue("scene_2398" if which == "a" else "scene_2997_noisy")
    alone = request.getfixturevalue(f"heard_{which}")
    assert not ray.is_initialized()
    on_ray = transcribe(scene.path, tmp_path / "ray", lang="en", enhance=which == "b", jobs=2, ray="local")
    assert not ray.is_initialized()
    assert sorted(on_ray.files) == sorted(alone.files)
    for kind, path in alone.files.items():
        assert path.read_bytes() == on_ray.files[kind].read_bytes(), kind
