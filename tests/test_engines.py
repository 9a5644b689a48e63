"""The engine registry and the embedded espeak-ng engine."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from otio_dub.core.errors import EngineError
from otio_dub.engines import Engine, VoiceSpec, get_engine

TEXT = "The quick brown fox jumps over the lazy dog."


def test_get_engine_returns_the_same_instance(espeak):
    first = get_engine("espeak")
    second = get_engine("espeak")
    assert first is second
    assert first is espeak
    assert isinstance(first, Engine)
    assert get_engine() is first  # espeak is the default engine


def test_unknown_engine_lists_known_engines():
    with pytest.raises(EngineError) as info:
        get_engine("nope")
    message = str(info.value)
    assert "nope" in message
    assert "espeak" in message


def test_info(espeak):
    assert espeak.info.name == "espeak"
    assert espeak.info.sample_rate == 22050
    assert espeak.info.deterministic is True
    lo, hi = espeak.info.speed_range
    assert lo < 0.8 and hi > 1.25


def test_synthesize_gives_float32_speech_at_native_rate(espeak):
    take = espeak.synthesize(TEXT, VoiceSpec(lang="en"), 1.0)
    assert take.sample_rate == espeak.info.sample_rate == 22050
    assert take.audio.dtype == np.float32
    assert take.audio.ndim == 1
    assert 1.0 < take.audio.size / take.sample_rate < 10.0
    assert np.all(np.isfinite(take.audio))
    assert np.max(np.abs(take.audio)) <= 1.0
    assert np.max(np.abs(take.audio)) > 0.05  # not silent
    assert np.sqrt(np.mean(take.audio.astype(np.float64) ** 2)) > 0.01
    assert take.seconds == pytest.approx(take.audio.size / 22050)


def test_speed_is_monotonic(espeak):
    voice = VoiceSpec(lang="en")
    lengths = [espeak.synthesize(TEXT, voice, speed).audio.size for speed in (0.8, 1.0, 1.25)]
    assert lengths[0] > lengths[1] > lengths[2], lengths
    # roughly inverse to speed: not a tiny change
    assert lengths[0] / lengths[2] > 1.2


def test_synthesize_is_deterministic(espeak):
    voice = espeak.default_voice("en", 1)
    a = espeak.synthesize(TEXT, voice, 1.1)
    b = espeak.synthesize(TEXT, voice, 1.1)
    assert a.sample_rate == b.sample_rate
    np.testing.assert_array_equal(a.audio, b.audio)


def test_unknown_voice_raises_engine_error_listing_languages(espeak):
    with pytest.raises(EngineError) as info:
        espeak.synthesize("Hello.", VoiceSpec(voice="xx-no-such-voice", lang="xx"))
    message = str(info.value)
    assert "xx-no-such-voice" in message
    assert "known" in message
    listed = re.split(r"[,:\s]+", message.split("known", 1)[1])
    known = set(espeak.languages())
    assert len(known.intersection(listed)) >= 5, message


def test_engine_still_works_after_a_bad_voice(espeak):
    with pytest.raises(EngineError):
        espeak.synthesize("Hello.", VoiceSpec(voice="xx-no-such-voice"))
    take = espeak.synthesize("Hello.", VoiceSpec(lang="en"))
    assert np.max(np.abs(take.audio)) > 0.05


def test_languages(espeak):
    langs = espeak.languages()
    assert {"en", "de", "fr"} <= set(langs)
    assert langs == sorted(set(langs))


@pytest.mark.parametrize("lang", ["de", "fr"])
def test_other_languages_speak(espeak, lang):
    take = espeak.synthesize("Bonjour, guten Tag.", VoiceSpec(lang=lang))
    assert np.max(np.abs(take.audio)) > 0.05


def test_default_voices_differ_per_index(espeak):
    v0 = espeak.default_voice("en", 0)
    v1 = espeak.default_voice("en", 1)
    assert v0.voice != v1.voice
    assert v0.lang == v1.lang == "en"
    a = espeak.synthesize(TEXT, v0).audio
    b = espeak.synthesize(TEXT, v1).audio
    assert a.size != b.size or not np.array_equal(a, b)
    # the variant list wraps around but consecutive indices always differ
    for i in range(12):
        assert espeak.default_voice("en", i).voice != espeak.default_voice("en", i + 1).voice


def test_a_take_does_not_depend_on_what_was_spoken_before(espeak):
    voice = espeak.default_voice("en", 0)
    first = espeak.synthesize(TEXT, voice).audio
    espeak.synthesize("Something entirely different, spoken slowly.", espeak.default_voice("en", 3), 0.8)
    espeak.synthesize("Und jetzt auf Deutsch.", VoiceSpec(lang="de"), 1.2)
    again = espeak.synthesize(TEXT, voice).audio
    np.testing.assert_array_equal(first, again)


def test_a_take_does_not_depend_on_another_package_holding_libespeak(espeak):
    """kokoro-onnx's phonemizer loads espeakng-loader's library and keeps it: our per-call
    instance must still start fresh (it loads a private copy), or takes drift call to call."""
    import _ctypes
    import ctypes

    import espeakng_loader

    voice = espeak.default_voice("en", 0)
    first = espeak.synthesize(TEXT, voice).audio
    held = ctypes.CDLL(espeakng_loader.get_library_path())  # as phonemizer's EspeakWrapper does
    try:
        held.espeak_Initialize(2, 0, espeakng_loader.get_data_path().encode(), 0x8000)
        takes = [espeak.synthesize(TEXT, voice).audio for _ in range(3)]
    finally:
        held.espeak_Terminate()
        _ctypes.dlclose(held._handle)
    for take in takes:
        np.testing.assert_array_equal(first, take)


def test_takes_are_identical_in_a_fresh_process(espeak):
    """Every automatic voice speaks the same samples in another interpreter (no run-to-run noise)."""
    indices = range(8)
    code = (
        "import hashlib, sys\n"
        "from otio_dub.engines import get_engine\n"
        "e = get_engine('espeak')\n"
        f"for i in {list(indices)!r}:\n"
        f"    a = e.synthesize({TEXT!r}, e.default_voice('en', i), 1.1).audio\n"
        "    print(hashlib.sha256(a.tobytes()).hexdigest())\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    theirs = proc.stdout.split()
    ours = [hashlib.sha256(espeak.synthesize(TEXT, espeak.default_voice("en", i), 1.1).audio.tobytes()).hexdigest()
            for i in indices]
    assert ours == theirs


def test_the_private_library_copy_is_one_shared_file_not_one_per_process(tmp_path, monkeypatch):
    """Pool and Ray workers exit without atexit: each process must reuse one copy, not leave its own."""
    import espeakng_loader

    from otio_dub.engines.espeak import _private_copy

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    first = _private_copy(espeakng_loader.get_library_path())
    assert first != espeakng_loader.get_library_path() and first.startswith(str(tmp_path))
    assert _private_copy(espeakng_loader.get_library_path()) == first
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [Path(first).name]


def test_a_language_tag_in_any_case_is_the_same_voice(espeak):
    """BCP 47 tags are case-insensitive: ``pt-BR`` (what translators and scripts write) is espeak's ``pt-br``."""
    espeak.check(VoiceSpec(lang="pt-BR"))
    espeak.check(VoiceSpec(voice="PT-BR+f4", lang="pt-BR"))
    upper = espeak.synthesize("Bom dia.", VoiceSpec(lang="pt-BR"))
    lower = espeak.synthesize("Bom dia.", VoiceSpec(lang="pt-br"))
    np.testing.assert_array_equal(upper.audio, lower.audio)
