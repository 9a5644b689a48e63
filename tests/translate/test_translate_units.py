"""The pure parts of translation: choosing a candidate, subtitle breaks, condensing, placeholders, codes."""

from __future__ import annotations

import pytest

from otio_dub.speech.fit import FitPolicy
from otio_dub.translation import TRANSLATORS, available_translators
from otio_dub.translation.adapt import Candidate, choose
from otio_dub.translation.deepl import deepl_target
from otio_dub.translation.glossary import Protected, Terms, names_of
from otio_dub.translation.layout import break_lines, condensed, fits_two_lines


def cand(order: int, speed: float, lost: tuple[str, ...] = ()) -> Candidate:
    return Candidate(f"c{order}", order, speed, speed, lost)


def test_choose_least_speed_change_then_meaning() -> None:
    policy = FitPolicy()
    assert choose([cand(0, 1.6), cand(1, 1.3), cand(2, 0.5)], policy).order == 1  # nearest the bounds
    assert choose([cand(0, 1.2), cand(1, 1.0)], policy).order == 1  # clearly less change wins
    assert choose([cand(0, 1.03), cand(1, 1.01)], policy).order == 0  # alike within 5%: the faithful one
    assert choose([cand(0, 1.0, ("Anna",)), cand(1, 1.2)], policy).order == 1  # a lost term loses
    assert choose([cand(0, 1.0, ("Anna",))], policy).order == 0


def test_break_lines_two_balanced_lines() -> None:
    assert break_lines("Onde você estava?") == ["Onde você estava?"]
    text = "Você me prometeu que estaria de volta antes da meia-noite. Olhe para o tempo!"
    first, second = break_lines(text)
    assert f"{first} {second}" == text and max(len(first), len(second)) <= 42
    assert break_lines("Onde você estava ontem? Eu esperei a noite toda.") == \
        ["Onde você estava ontem?", "Eu esperei a noite toda."]  # punctuation near the middle
    assert not fits_two_lines("palavra " * 14)


def test_condensed_drops_fillers_only() -> None:
    assert condensed("Well, listen, the train is late.") == "The train is late."
    assert condensed("Honestly, the river is rising, believe me.") == "The river is rising."
    assert condensed("Look at the time!") == "Look at the time!"
    assert condensed("Well,") == "Well,"


def test_terms_protect_and_restore() -> None:
    terms = Terms([("New York Times", "NYT"), ("train", "TREM")], names_of(["ANNA", "SPEAKER", "X"]))
    protected = terms.protect("Anna read the New York Times on the train, anna.")
    assert "Anna" not in protected.text and "train" not in protected.text and "New York" not in protected.text
    assert len(protected.tokens) == 4
    back, lost = protected.restore(protected.text.replace("__T3__", "").upper())
    assert lost == [protected.terms[3][1]]
    assert "NYT" in back and "TREM" in back and "ANNA" not in back.replace("Anna", "")


def test_deepl_codes_and_registry() -> None:
    assert [deepl_target(c) for c in ("pt-BR", "pt", "en", "en-gb", "es", "zh-TW")] == \
        ["PT-BR", "PT-PT", "EN-US", "EN-GB", "ES", "ZH-HANT"]
    assert set(TRANSLATORS) <= set(available_translators()) and {"bergamot", "apertium", "llm", "deepl"} <= set(TRANSLATORS)


@pytest.mark.parametrize("text", ["", "# only a comment\n"])
def test_empty_glossary_is_fine(tmp_path, text) -> None:
    from otio_dub.translation.glossary import read_glossary

    path = tmp_path / "g.tsv"
    path.write_text(text, encoding="utf-8")
    assert read_glossary(path) == []


@pytest.mark.parametrize("answer", ["Olá __ T0 __, tudo bem?", "Olá __t0__, tudo bem?", "Olá _T0_, tudo bem?",
                                    "Olá __T 0__, tudo bem?"])
def test_a_token_an_engine_mangled_is_still_restored(answer) -> None:
    protected = Protected("Hello __T0__, how are you?", (("__T0__", "Anna"),))
    assert protected.restore(answer) == ("Olá Anna, tudo bem?", [])


def test_a_lost_token_leaves_no_debris_to_voice() -> None:
    protected = Protected("Hello __T0__ and __T1__", (("__T0__", "Anna"), ("__T1__", "Marc")))
    text, lost = protected.restore("Olá __T0__ e __ T 7 __")
    assert text == "Olá Anna e" and lost == ["Marc"]
