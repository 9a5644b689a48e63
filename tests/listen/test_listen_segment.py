"""Subtitle conventions, as pure functions: line layout, where events split, how they are timed."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from otio_dub.listen.segment import Word, group_words, layout, segment, spread_text
from otio_dub.listen.speakers import cluster, name_clusters

RATE = Fraction(24000, 1001)


@pytest.mark.parametrize("text, lines", [
    ("Short line.", ["Short line."]),
    ("Exactly forty-two characters on this line", ["Exactly forty-two characters on this line"]),
    ("I told you already, we are leaving tonight whatever happens.",
     ["I told you already,", "we are leaving tonight whatever happens."]),
    ("one two three four five six seven eight nine ten eleven twelve",
     ["one two three four five six seven", "eight nine ten eleven twelve"]),
])
def test_layout_breaks_at_punctuation_else_evenly(text, lines):
    assert layout(text) == lines
    assert all(len(line) <= 42 for line in layout(text))


def test_layout_refuses_what_two_lines_cannot_hold():
    assert layout("word " * 30) is None
    assert layout("x" * 60) == ["x" * 60]  # one unbreakable word stands alone


def _words(text: str, start: float, step: float = 0.3, **kw) -> list[Word]:
    return [Word(w, start + i * step, start + i * step + step * 0.8, **kw) for i, w in enumerate(text.split())]


def test_runs_split_at_sentence_ends_pauses_speakers_and_cuts():
    words = (_words("Hello there. How are", 1.0) + _words("you today?", 2.3)  # no pause: same run
             + _words("Fine thanks", 4.0)  # 1.1 s pause
             + _words("and you", 4.6, speaker="B")  # another speaker
             + _words("still talking", 5.2, speaker="B", clip=1))  # another clip
    runs = [" ".join(w.text for w in run) for run in group_words(words)]
    assert runs == ["Hello there.", "How are you today?", "Fine thanks", "and you", "still talking"]


def test_long_runs_split_to_two_lines_and_seven_seconds():
    text = ("this is a very long piece of dialogue that goes on and on without any punctuation at all "
            "so that it has to be cut somewhere sensible by the segmenter because nobody can read it")
    words = _words(text, 0.0, step=0.25)
    events = segment(words, RATE, [(0, 2000)])
    assert len(events) >= 2
    for e in events:
        assert len(e.lines) <= 2 and all(len(line) <= 42 for line in e.lines)
        assert e.end - e.start <= 7 * RATE
    assert " ".join(e.text for e in events) == text


def test_events_are_held_to_one_second_and_17_cps_within_their_clip_and_before_the_next():
    words = _words("Yes.", 1.0, step=0.2) + _words("Absolutely not, I refuse.", 1.6, step=0.2)
    events = segment(words, RATE, [(0, 24 * 10)])
    first, second = events
    assert first.start == int(1.0 * RATE)  # starts on the frame holding the first word
    assert first.end == second.start - 2  # held, but leaves two frames before the next event
    assert second.end - second.start >= RATE  # a full second
    assert len(second.text) / ((second.end - second.start) / RATE) <= 17
    clipped = segment(_words("Yes.", 1.0, step=0.2), RATE, [(0, 30)])
    assert clipped[0].end == 30  # never past its clip


def test_spread_text_keeps_order_and_span():
    words = spread_text("one three fifteen", 2.0, 5.0, "ANNA")
    assert [w.text for w in words] == ["one", "three", "fifteen"]
    assert words[0].start == 2.0 and words[-1].end == pytest.approx(5.0, abs=0.3)
    assert all(a.end <= b.start for a, b in zip(words, words[1:], strict=False))
    assert {w.speaker for w in words} == {"ANNA"}


def _unit(v):
    return v / np.linalg.norm(v)


def test_cluster_by_threshold_by_count_and_short_runs_join_the_nearest():
    rng = np.random.default_rng(0)
    a, b = _unit(rng.standard_normal(256)), _unit(rng.standard_normal(256))
    prints = np.array([_unit(v + 0.1 * rng.standard_normal(256) / 16) for v in (a, b, a, b, a)])
    assert cluster(prints, [True] * 5) == [0, 1, 0, 1, 0]
    assert cluster(prints, [True] * 5, count=1) == [0] * 5
    assert cluster(prints, [True, True, False, False, True]) == [0, 1, 0, 1, 0]


def _voices(rng, centres, runs: int, spread: float) -> tuple[np.ndarray, list[int]]:
    truth = [i % len(centres) for i in range(runs)]
    return np.array([_unit(centres[t] + spread * rng.standard_normal(centres[t].size)) for t in truth]), truth


def test_many_runs_find_their_number_of_voices_where_one_threshold_cannot():
    """Spectral clustering from SPECTRAL_MIN runs: four voices whose runs lie farther from each other
    than the linkage threshold (as noise makes them) still come out as four pure clusters."""
    from otio_dub.listen.speakers import DISTANCE, SPECTRAL_MIN, partition

    rng = np.random.default_rng(1)
    centres = [_unit(rng.standard_normal(192)) for _ in range(4)]
    prints, truth = _voices(rng, centres, SPECTRAL_MIN + 8, 0.065)
    within = [1 - float(prints[i] @ prints[j]) for i in range(len(truth)) for j in range(i) if truth[i] == truth[j]]
    assert np.mean(within) > DISTANCE  # a threshold would split every voice
    labels = cluster(prints, [True] * len(truth))
    assert len(set(labels)) == 4
    assert all(len({t for t, lab in zip(truth, labels, strict=True) if lab == k}) == 1 for k in set(labels))
    assert len(set(partition(prints, count=2).tolist())) == 2  # --speakers is the user's word
    few = prints[: SPECTRAL_MIN - 1]
    assert len(set(partition(few).tolist())) > 4  # too few runs for spectral: the threshold, pure but split


def test_more_separate_voices_than_the_eigengap_looks_for_still_come_apart():
    """25 voices with nothing in common: more zero eigenvalues than computed, no gap to read."""
    from otio_dub.listen.speakers import MAX_VOICES

    rng = np.random.default_rng(4)
    voices = MAX_VOICES + 5
    prints = np.zeros((2 * voices, 2 * voices))
    for i in range(2 * voices):
        angle = rng.uniform(0, 0.3)
        prints[i, 2 * (i // 2)], prints[i, 2 * (i // 2) + 1] = np.cos(angle), np.sin(angle)
    truth = [i // 2 for i in range(2 * voices)]
    for count in (None, voices):
        labels = cluster(prints, [True] * len(truth), count=count)
        assert len(set(labels)) == voices and all(labels[i] == labels[i + 1] for i in range(0, len(truth), 2))


def test_a_name_on_a_short_run_is_still_the_editor_s_word():
    """BOB speaks one short run that sounds like ANNA: it is clustered by its name, not by its sound."""
    rng = np.random.default_rng(5)
    anna = rng.standard_normal(64)
    prints = np.array([_unit(anna + 0.05 * rng.standard_normal(64)) for _ in range(4)])
    labels = cluster(prints, [True, True, True, False], anchors=["ANNA", None, None, "BOB"])
    assert labels[0] != labels[3] and len(set(labels)) == 2
    from otio_dub.listen.speakers import name_clusters

    names = name_clusters(labels, ["ANNA", None, None, "BOB"], [1.0, 1.0, 1.0, 0.3])
    assert names[labels[0]] == "ANNA" and names[labels[3]] == "BOB"
    rng2 = np.random.default_rng(6)
    bea = _unit(rng2.standard_normal(64))
    short = np.array([_unit(v + 0.02 * rng2.standard_normal(64)) for v in (anna, anna, bea, bea)])
    labels = cluster(short, [False] * 4, anchors=[None, "BOB", None, None])  # every run short, one named
    assert labels[2] == labels[3] != labels[1]  # the name does not take the other voice's runs


def test_names_split_a_cluster_and_join_a_character_s_clusters():
    rng = np.random.default_rng(2)
    a = rng.standard_normal(64)
    b = a + 0.2 * rng.standard_normal(64)  # two voices alike: one cluster by voice alone
    c = rng.standard_normal(64)
    prints = np.array([_unit(v + 0.02 * rng.standard_normal(64)) for v in (a, b, a, b, c, c)])
    assert cluster(prints, [True] * 6)[:4] == [0, 0, 0, 0]
    names = ["ANNA", "BEA", None, None, "ANNA", None]  # ANNA named on a's run and on c's: the editor's word
    labels = cluster(prints, [True] * 6, anchors=names)
    assert labels[0] == labels[2] == labels[4] == labels[5] and labels[1] == labels[3] and labels[0] != labels[1]
    assert len(set(cluster(prints, [True] * 6, count=2, anchors=[None, "BEA", None, None, None, "CAT"]))) == 2


def test_clusters_take_the_timeline_s_names_once_else_numbers():
    labels = [0, 1, 0, 2, 1]
    hints = ["ANNA", None, None, None, "ANNA"]
    names = name_clusters(labels, hints, [3.0, 1.0, 1.0, 1.0, 1.0])
    assert names == ["ANNA", "SPEAKER 1", "SPEAKER 2"]  # ANNA goes to the cluster with more of her speech
    assert name_clusters([0, 1], ["SPEAKER 1", None], [1.0, 1.0]) == ["SPEAKER 1", "SPEAKER 2"]


def test_clusters_the_timeline_gives_to_one_character_merge_under_that_name():
    # two clusters of BOB's voice (another room, another mic): the track says both are BOB
    assert name_clusters([0, 1, 2, 1], ["BOB", "BOB", None, "BOB"], [2.0, 1.0, 2.0, 1.0]) == ["BOB", "BOB", "SPEAKER 1"]


@pytest.mark.parametrize("name, character", [
    ("ANNA", "ANNA"), ("DIA BOB", "BOB"), ("Dia - Bob", "BOB"), ("Jean-Luc", "JEAN-LUC"),
    ("A1", None), ("Audio 2", None), ("DIALOGUE", None), ("DX 2", None), ("Boom", None), ("Lav 2", None),
    ("Room tone", None), ("Guide mix", None),
])
def test_tracks_named_for_a_character(name, character):
    import opentimelineio as otio

    from otio_dub.listen.listening import _track_character

    assert _track_character(otio.schema.Track(name)) == character
