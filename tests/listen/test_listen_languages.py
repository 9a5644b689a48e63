"""Language per line and timeline-anchored speaker clusters, on numbers (no model needed)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from otio_dub.listen.asr import parse_languages
from otio_dub.listen.clip_listen import HeardClip
from otio_dub.listen.languages import decide_languages, pooled
from otio_dub.listen.segment import Event, Word
from otio_dub.listen.speakers import cluster
from otio_dub.listen.subtitles import format_events


def _clip(index: int, languages: dict[str, float], speaker: str, seconds: float) -> tuple[HeardClip, list[Word]]:
    heard = HeardClip(index, None, "DIA", index * 100, index * 100 + 50)  # type: ignore[arg-type]
    heard.languages, heard.lang = languages, next(iter(languages))
    heard.lang_probability, heard.lang_source = languages[heard.lang], "clip"
    words = [Word("w", index * 10.0 + k * 0.5, index * 10.0 + k * 0.5 + 0.4, 1.0, speaker, index)
             for k in range(round(seconds / 0.4))]
    heard.words = words
    return heard, words


def test_parse_languages():
    assert parse_languages("en") == ("en",)
    assert parse_languages(" EN, fr ,en,") == ("en", "fr")
    assert parse_languages(None) == ()


def test_pooled_weighs_clips_by_their_speech():
    probs = pooled([({"fr": 0.9, "en": 0.1}, 6.0), ({"en": 0.6, "fr": 0.4}, 1.0)])
    assert next(iter(probs)) == "fr"
    assert probs["fr"] == pytest.approx(1 - probs["en"])
    assert pooled([({"fr": 0.9, "en": 0.1}, 1.0), ({"en": 0.99, "fr": 0.01}, 6.0)])["en"] > 0.85


def test_a_mixed_cluster_keeps_to_a_language_its_clips_speak():
    """Two voices merged into one cluster (heavy noise): Italian and French lines, each finding Latin
    a little likely. The speaker's language is one of theirs, never the third both half-believe."""
    italian = ({"it": 0.80, "la": 0.15, "fr": 0.001}, 3.0)
    french = ({"fr": 0.70, "la": 0.25, "it": 0.001}, 2.0)
    probs = pooled([italian, french])
    assert next(iter(probs)) == "it"
    assert probs["la"] < probs["fr"]


def test_a_short_unsure_line_takes_its_speakers_language():
    a, wa = _clip(0, {"fr": 0.95, "en": 0.05}, "ANNE", 6.0)  # settles itself
    b, wb = _clip(1, {"en": 0.55, "fr": 0.45}, "ANNE", 0.8)  # "Merci": too little to tell
    c, wc = _clip(2, {"en": 0.97, "fr": 0.03}, "ANNE", 3.2)  # the same speaker, confidently English: stays
    d, wd = _clip(3, {"it": 0.6, "es": 0.4}, "BOB", 1.0)  # alone: its own best guess
    changed = decide_languages([a, b, c, d], wa + wb + wc + wd)
    assert [h.index for h in changed] == [1]
    assert (a.lang, a.lang_source) == ("fr", "clip")
    assert (b.lang, b.lang_source) == ("fr", "speaker") and 0.5 < b.lang_probability <= 1
    assert (c.lang, c.lang_source) == ("en", "clip")
    assert (d.lang, d.lang_source) == ("it", "speaker")


def _prints(rng, centre: np.ndarray, n: int, spread: float) -> np.ndarray:
    p = centre + spread * rng.standard_normal((n, centre.size))
    return p / np.linalg.norm(p, axis=1, keepdims=True)


def test_timeline_names_anchor_clusters():
    rng = np.random.default_rng(3)
    base = rng.standard_normal(32)
    near = base + 0.35 * rng.standard_normal(32)  # two voices closer than the threshold separates
    prints = np.vstack([_prints(rng, base, 4, 0.05), _prints(rng, near, 4, 0.05)])
    reliable = [True] * 8
    assert len(set(cluster(prints, reliable))) == 1  # by voice alone they merge
    anchors = ["ANNA", None, None, None, "MARIE", None, None, None]
    labels = cluster(prints, reliable, anchors=anchors)
    assert labels == [0, 0, 0, 0, 1, 1, 1, 1]
    assert cluster(prints, reliable, count=1, anchors=anchors) == [0] * 8  # --speakers 1 is the user's word


def test_subtitles_carry_the_language():
    words = [Word("Bonjour", 0.5, 1.0, 1.0, "ANNE", 0)]
    event = Event(12, 36, ["Bonjour."], words, "ANNE", 0, "fr")
    vtt = format_events([event], Fraction(24), "vtt")
    assert "<v ANNE><lang fr>Bonjour.</lang>" in vtt
    ass = format_events([event], Fraction(24), "ass")
    assert ",lang=fr," in ass
    assert "lang" not in format_events([Event(12, 36, ["Hello."], words, "ANNE", 0)], Fraction(24), "vtt")
