"""Voice matching on timelines whose dialogue clips hold speech of known synthetic "actors"."""

from __future__ import annotations

import re
import shutil
from fractions import Fraction

import numpy as np
import opentimelineio as otio
import pytest
import soundfile as sf

from otio_dub.audio import dsp
from otio_dub.audio.pitch import f0_stats, semitones
from otio_dub.casting import matching, voice_refs
from otio_dub.casting.cast import CastEntry
from otio_dub.casting.matching import Candidate, MatchResult, Measure, assign_matches, match_voices
from otio_dub.casting.voices import assign
from otio_dub.engines import VoiceSpec, get_engine
from otio_dub.stages.pipeline import DubOptions, collect_lines

pytest.importorskip("resemblyzer")

RATE = 24
#: (character, engine, voice, pitch shift in st, lines)
ACTORS = [
    ("ANNA", "espeak", "en-us+f4", 0.0, ["I never thought I would see this place again.",
                                         "Tell me the truth, all of it, right now."]),
    ("MARCUS", "espeak", "en-us+m1", 0.0, ["The train was late, and the road was closed.",
                                           "We should leave before the storm comes in."]),
    ("JOE", "piper", "joe", 2.0, ["Nobody told me anything about the money.",
                                  "I have been waiting here for over an hour."]),
]


def _acf_median_f0(audio: np.ndarray, rate: int) -> float:
    """An independent check of pitch: autocorrelation peak per 40 ms voiced frame, median (Hz)."""
    x = dsp.resample(audio, rate, 16000).astype(np.float64)
    win, hop, found = 640, 160, []
    for start in range(0, x.size - win, hop):
        f = x[start:start + win] - x[start:start + win].mean()
        if np.sqrt(np.mean(f ** 2)) < 0.02 * np.abs(x).max():
            continue
        ac = np.correlate(f, f, "full")[win - 1:]
        lo, hi = 16000 // 450, 16000 // 65
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.5 * ac[0]:
            found.append(16000 / lag)
    return float(np.median(found))


def _speak(engine: str, voice: str, shift: float, text: str) -> np.ndarray:
    take = get_engine(engine).synthesize(text, VoiceSpec(voice=voice, lang="en-us"), 1.0)
    audio = dsp.trim(dsp.resample(take.audio, take.sample_rate))
    return dsp.time_stretch(audio, 1.0, semitones=shift) if shift else audio


def _timeline(tmp_path, actors=ACTORS, with_media=True) -> otio.schema.Timeline:
    """One DIA clip per line, each over its own WAV of the actor speaking (24 fps, media at 0)."""
    timeline = otio.schema.Timeline("cast test", global_start_time=otio.opentime.RationalTime(0, RATE))
    track = otio.schema.Track("DIA", kind=otio.schema.TrackKind.Audio)
    n = 0
    for character, engine, voice, shift, texts in actors:
        for text in texts:
            n += 1
            audio = np.concatenate([np.zeros(4800, np.float32), _speak(engine, voice, shift, text),
                                    np.zeros(4800, np.float32)])
            frames = int(np.ceil(audio.size / 48000 * RATE))
            wav = tmp_path / f"dia_{n:02d}.wav"
            sf.write(wav, audio, 48000, subtype="PCM_16")
            ref = otio.schema.ExternalReference(wav.name, available_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(0, RATE), otio.opentime.RationalTime(frames, RATE)))
            track.append(otio.schema.Clip(
                f"dia_{n:02d}", media_reference=ref if with_media else None,
                source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, RATE),
                                                     otio.opentime.RationalTime(frames, RATE)),
                metadata={"otio_dub": {"text": text, "character": character}}))
            track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(
                duration=otio.opentime.RationalTime(12, RATE))))
    timeline.tracks.append(track)
    return timeline


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    folder = tmp_path_factory.mktemp("actors")
    timeline = _timeline(folder)
    _, lines = collect_lines(timeline, None, DubOptions(lang="en-us"))
    return folder, timeline, lines


@pytest.fixture(scope="module")
def refs(tmp_path_factory):
    return tmp_path_factory.mktemp("refs")


@pytest.fixture(scope="module")
def matched(scene, refs):
    folder, timeline, lines = scene
    return match_voices(timeline, lines, folder, ["espeak", "piper"], refs=refs)


@pytest.mark.slow
def test_each_character_gets_its_actors_voice(matched):
    assert set(matched) == {"ANNA", "MARCUS", "JOE"}
    for character, engine, voice, _, _ in ACTORS:
        m = matched[character]
        assert m.evidence, m
        assert (m.engine, m.voice) == (engine, voice), (character, m)
    assert len({(m.engine, m.voice, m.speaker) for m in matched.values()}) == 3  # distinct


@pytest.mark.slow
def test_matched_voice_is_the_nearest_candidate_by_embedding_and_f0(matched, scene, refs):
    """The choice is the argmin of the cost over all candidates (here, with distinct nearest voices)."""
    folder, timeline, lines = scene
    heard = matching.actor_audio(timeline, lines, folder)
    passage = matching.reference_passage("en-us")
    pool = [(c, matching.candidate_measure(c, passage, refs)) for e in ("espeak", "piper")
            for c in matching.candidates(e, "en-us")]
    for character, m in matched.items():
        actor = matching.measure(heard[character], 48000)
        costs = {(c.engine, c.voice): matching._cost(actor, cm, True, c.engine)[0] for c, cm in pool}
        assert min(costs, key=costs.get) == (m.engine, m.voice)
        assert m.similarity == pytest.approx(float(np.dot(actor.embedding, dict(
            ((c.engine, c.voice), cm) for c, cm in pool)[(m.engine, m.voice)].embedding)), abs=1e-6)


@pytest.mark.slow
def test_pitch_offset_brings_the_voice_within_a_semitone_of_the_actor(matched, scene):
    folder, timeline, lines = scene
    heard = matching.actor_audio(timeline, lines, folder)
    joe = matched["JOE"]
    assert 1.0 <= joe.semitones <= 3.0  # the actor is joe two semitones up
    for character, _, _, _, texts in ACTORS:
        m = matched[character]
        actor_hz = _acf_median_f0(heard[character], 48000)
        dubbed = _speak(m.engine, m.voice, m.semitones, " ".join(texts))
        assert abs(semitones(actor_hz, _acf_median_f0(dubbed, 48000))) < 1.0, (character, m)
        assert abs(m.semitones) <= matching.MAX_SHIFT


def test_comment_says_why(matched):
    comment = matched["ANNA"].comment()
    assert re.fullmatch(r"actor F0 \d+ Hz; espeak en-us\+f4 [+-]\d+\.\d st; similarity 0\.\d\d; \d+ s heard", comment)


@pytest.mark.slow
def test_reference_passages_are_rendered_once_and_cached(scene, tmp_path, monkeypatch):
    folder, timeline, lines = scene
    espeak = get_engine("espeak")
    calls = []
    real = espeak.synthesize
    monkeypatch.setattr(espeak, "synthesize", lambda *a, **k: calls.append(a) or real(*a, **k))
    first = match_voices(timeline, lines, folder, ["espeak"], refs=tmp_path / "refs")
    # each candidate speaks the passage; each chosen voice also speaks its character's heard lines (the offset)
    assert len(calls) == len(matching.candidates("espeak", "en-us")) + len(first)
    calls.clear()
    second = match_voices(timeline, lines, folder, ["espeak"], refs=tmp_path / "refs")
    assert calls == []
    assert first == second
    assert len(list((tmp_path / "refs").glob("*.npz"))) == len(matching.candidates("espeak", "en-us")) + len(first)
    assert not list((tmp_path / "refs").glob(".ref-*"))  # no temporary files left


def test_refs_folder_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("OTIO_DUB_VOICES", str(tmp_path / "v"))
    assert voice_refs.refs_folder() == tmp_path / "v" / "refs"


def test_without_media_there_is_no_evidence_and_assignment_is_unchanged(tmp_path):
    timeline = _timeline(tmp_path, with_media=False)
    _, lines = collect_lines(timeline, None, DubOptions(lang="en-us"))
    results = match_voices(timeline, lines, tmp_path, ["espeak"], refs=tmp_path / "refs")
    assert all(not m.evidence for m in results.values())
    assert "no readable original media" in results["ANNA"].comment()
    assert assign(lines, {}, "espeak", results) == assign(lines, {}, "espeak")


def test_assign_uses_the_matches(matched, scene):
    _, _, lines = scene
    performers = assign(lines, {}, "espeak", matched)
    for character, engine, voice, _, _ in ACTORS:
        p = performers[(character, "en-us")]
        assert (p.engine, p.spec.voice, p.semitones) == (engine, voice, matched[character].semitones)
        assert p.label().endswith("(matched)")


def test_a_cast_voice_beats_the_match_and_its_pitch_adds(matched, scene):
    _, _, lines = scene
    cast = {"ANNA": CastEntry("ANNA", engine="espeak", voice="en-us+m7"), "JOE": CastEntry("JOE", pitch=-1.0)}
    performers = assign(lines, cast, "espeak", matched)
    assert performers[("ANNA", "en-us")].spec.voice == "en-us+m7"
    joe = performers[("JOE", "en-us")]
    assert joe.spec.voice == "joe" and joe.semitones == pytest.approx(matched["JOE"].semitones - 1.0)


def test_more_characters_than_voices_reuse_only_after_all_are_taken():
    pool = [(Candidate("espeak", f"en+{v}", None, "en"), Measure(f0, None, None, None, 3.0))
            for v, f0 in (("m1", 100.0), ("f1", 200.0))]
    actors = {name: Measure(f0, None, None, None, 3.0) for name, f0 in (("A", 100), ("B", 210), ("C", 105))}
    out = assign_matches(actors, pool, "en")
    assert {out["A"].voice, out["B"].voice} == {"en+m1", "en+f1"} and out["B"].voice == "en+f1"
    assert out["C"].voice in ("en+m1", "en+f1")


def test_offsets_are_bounded():
    pool = [(Candidate("espeak", "en+m1", None, "en"), Measure(100.0, None, None, None, 3.0))]
    out = assign_matches({"A": Measure(400.0, None, None, None, 3.0)}, pool, "en")
    assert out["A"].semitones == matching.MAX_SHIFT


def test_f0_of_harmonic_tones_and_noise():
    rate = 48000
    t = np.arange(rate) / rate
    for hz in (70.0, 110.0, 220.0, 440.0):
        tone = sum(np.sin(2 * np.pi * hz * k * t) / k for k in range(1, 8))
        assert f0_stats(tone, rate)[0] == pytest.approx(hz, rel=0.005)
    noise = np.random.default_rng(0).standard_normal(rate) * 0.1
    assert f0_stats(noise, rate) == (None, None, None)


@pytest.mark.slow
def test_demo_does_not_cross_voices_when_media_exist(tools, tmp_path):
    """The demo with French originals under its clips: ANNA gets a female voice, MARCUS a male one."""
    shutil.copy(tools.SCENE_OTIO, tmp_path / "scene.otio")
    timeline = otio.adapters.read_from_file(str(tmp_path / "scene.otio"))
    (tmp_path / "media").mkdir()
    actor = {"ANNA": "fr+f4", "MARCUS": "fr+m3", "NARRATOR": "fr+m1"}
    _, lines = collect_lines(timeline, tools.SCENE_ASS, DubOptions(lang="en"))
    speakers = {}
    for line in lines:
        for clip in timeline.find_clips():
            start = clip.range_in_parent().start_time.to_frames() if clip.parent().kind == "Audio" else -1
            if start == line.record_in or (start >= 0 and clip.range_in_parent().contains(
                    otio.opentime.RationalTime(line.record_in, clip.range_in_parent().start_time.rate))):
                speakers[clip.name] = line.character
    assert len(speakers) >= 8
    for clip in timeline.find_clips():
        if clip.name not in speakers:
            continue
        take = get_engine("espeak").synthesize("Bonjour, je suis là depuis une heure, et personne ne m'a rien dit.",
                                               VoiceSpec(voice=actor[speakers[clip.name]], lang="fr"))
        offset = round(Fraction(clip.source_range.start_time.to_frames() - 86400) * 1001 / 24000 * 48000)
        audio = np.zeros(offset + 48000 * 8, np.float32)
        speech = dsp.resample(take.audio, take.sample_rate)
        audio[offset + 2400: offset + 2400 + speech.size] = speech[: audio.size - offset - 2400]
        sf.write(tmp_path / clip.media_reference.target_url, audio, 48000, subtype="PCM_16")
    results = match_voices(timeline, lines, tmp_path, ["espeak"], refs=tmp_path / "refs")
    assert results["ANNA"].voice.split("+")[1].startswith("f"), results["ANNA"]
    assert results["MARCUS"].voice.split("+")[1].startswith("m"), results["MARCUS"]
    performers = assign(lines, {}, "espeak", results)
    assert performers[("ANNA", "en")].spec.voice.split("+")[1].startswith("f")


def test_match_result_without_evidence_comment():
    m = MatchResult("ANNA", "en", note="no readable original media under its lines")
    assert not m.evidence
    assert m.comment() == "no evidence: no readable original media under its lines; automatic voice"


def test_cast_match_command_writes_a_commented_cast(scene, refs, monkeypatch):
    """`otio-dub cast TIMELINE --match --engine espeak > cast.toml`: a valid cast that says why."""
    from click.testing import CliRunner

    from otio_dub.casting.cast import parse_cast
    from otio_dub.cli import main

    folder, timeline, _ = scene
    otio.adapters.write_to_file(timeline, str(folder / "cut.otio"))
    monkeypatch.setenv("OTIO_DUB_VOICES", str(refs.parent / "cli-voices"))
    result = CliRunner().invoke(main, ["cast", str(folder / "cut.otio"), "--lang", "en-us", "--match",
                                       "--engine", "espeak"])
    assert result.exit_code == 0, result.output
    cast = parse_cast(result.output, "cast.toml")
    assert cast["ANNA"].voice == "en-us+f4" and cast["MARCUS"].voice == "en-us+m1"
    assert cast["JOE"].engine == "espeak" and cast["JOE"].voice not in ("en-us+f4", "en-us+m1")
    comments = [line for line in result.output.splitlines() if line.startswith("# actor F0")]
    assert len(comments) == 3
    assert re.search(r"# actor F0 \d+ Hz; espeak en-us\+f4 [+-]\d\.\d st; similarity 0\.\d\d", result.output)
    assert cast["ANNA"].pitch == pytest.approx(float(re.search(
        r"espeak en-us\+f4 ([+-]\d\.\d) st", result.output).group(1)))
