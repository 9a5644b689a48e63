"""The network translators against a scripted server on 127.0.0.1: the LLM's variants and rewrites,
DeepL's answers, retries on 429/5xx with Retry-After, timeouts, malformed and miscounted answers."""

from __future__ import annotations

import re
import time

import pytest
from click.testing import CliRunner
from conftest import SCENE_ASS
from translate_stubs import Reply, chat

from otio_dub.cli import main
from otio_dub.translation import TranslatorError, web
from otio_dub.translation.adapt import translate_lines

WORDS = "agora ninguém viu nada porque a porta estava aberta e o trem partiu cedo demais para todos nós".split()


def sized(chars: int, tokens: list[str]) -> str:
    """Portuguese-looking text of about ``chars`` characters carrying every placeholder token."""
    words, n = list(tokens), 0
    while len(" ".join(words)) < chars:
        words.append(WORDS[n % len(WORDS)])
        n += 1
    return " ".join(words).capitalize() + "."


def llm_answer(request: dict, first_round: tuple[float, ...] = (2.2, 1.0, 0.35)) -> Reply:
    """Variants at the given multiples of each line's target length; a rewrite lands on the target."""
    ask = request["json"]["messages"][1]["content"]
    import json

    lines = json.loads(ask)["lines"]
    out = []
    for line in lines:
        tokens = re.findall(r"__T\d+__", line["text"])
        target = line["target_chars"]
        scales = (1.0,) if "task" in line else first_round
        out.append({"id": line["id"], "variants": [sized(round(target * k), tokens) for k in scales]})
    return Reply(body=chat({"lines": out}))


@pytest.fixture
def llm_env(stub, monkeypatch):
    monkeypatch.setenv("OTIO_DUB_LLM_URL", stub.url + "/v1")
    monkeypatch.setenv("OTIO_DUB_LLM_MODEL", "stub-model")
    monkeypatch.setenv("OTIO_DUB_LLM_KEY", "sekrit")
    return stub


def test_llm_variants_are_chosen_by_fit_and_sent_with_context(llm_env, scene_lines, private_cache) -> None:
    llm_env.answer = llm_answer
    tb, lines = scene_lines
    result = translate_lines(lines, tb, "pt-BR", translator="llm", cache=private_cache)
    request = llm_env.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sekrit" and request["json"]["model"] == "stub-model"
    import json

    sent = json.loads(request["json"]["messages"][1]["content"])
    assert sent["target_lang"] == "pt-br" and sent["variants"] == 3
    assert sent["lines"][1]["context_before"] == [lines[0].text] and sent["lines"][1]["target_chars"] > 10
    assert "__T0__" in sent["lines"][3]["text"]  # "Anna" protected
    assert "Anna" in result.rows[3].line.text
    for row in result.rows:
        assert row.candidates >= 3
        assert abs(row.speed - 1) < abs(row.first_speed - 1)  # the variant near the target beats the first
    within = sum(row.within(result_policy()) for row in result.rows)
    assert within >= 8


def result_policy():
    from otio_dub.speech.fit import FitPolicy

    return FitPolicy()


def test_llm_rewrites_a_line_that_does_not_fit(llm_env, scene_lines, private_cache) -> None:
    llm_env.answer = lambda request: llm_answer(request, first_round=(2.5, 2.0))
    tb, lines = scene_lines
    result = translate_lines(lines, tb, "pt-BR", translator="llm", cache=private_cache)
    assert len(llm_env.requests) == 2
    import json

    second = json.loads(llm_env.requests[1]["json"]["messages"][1]["content"])["lines"]
    assert len(second) == 10 and all(line["task"].startswith("rewrite the draft shorter") for line in second)
    assert all(line["draft"] for line in second)
    assert all(row.candidates == 3 and row.speed < 1.4 for row in result.rows)
    again = translate_lines(lines, tb, "pt-BR", translator="llm", cache=private_cache)  # all from the cache
    assert len(llm_env.requests) == 2 and [r.line.text for r in again.rows] == [r.line.text for r in result.rows]


def test_retries_honour_retry_after_and_5xx(llm_env, scene_lines, private_cache) -> None:
    answers = iter([Reply(429, {"error": "slow down"}, {"Retry-After": "1"}), Reply(503, {"error": "busy"})])
    llm_env.answer = lambda request: next(answers, None) or llm_answer(request)
    tb, lines = scene_lines
    result = translate_lines(lines, tb, "pt-BR", translator="llm", cache=private_cache, fit=False)
    assert len(result.rows) == 10 and len(llm_env.requests) == 3
    assert llm_env.times[1] - llm_env.times[0] >= 0.95  # Retry-After: 1, not the 0.01 s backoff
    assert llm_env.times[2] - llm_env.times[1] < 0.9


def test_timeouts_give_up_after_the_retries(llm_env, scene_lines, private_cache, monkeypatch) -> None:
    monkeypatch.setenv("OTIO_DUB_TRANSLATE_TIMEOUT", "0.2")
    monkeypatch.setattr(web, "RETRIES", 1)
    llm_env.replies = [Reply(body=chat({"lines": []}), delay=1.0)]
    tb, lines = scene_lines
    started = time.monotonic()
    with pytest.raises(TranslatorError, match=r"lines scene.ass event 1 to scene.ass event 10: llm: .*/v1/chat/completions: "
                                              r"no answer within 0.2 s after 2 tries"):
        translate_lines(lines, tb, "pt-BR", translator="llm", cache=private_cache)
    assert len(llm_env.requests) == 2 and time.monotonic() - started < 3


@pytest.mark.parametrize(("reply", "message"), [
    (Reply(body=chat("Sure! Here are your translations: ...")), r"lines scene.ass event 1 to scene.ass event 10: "
                                                                  r"llm: the model did not answer the JSON asked for"),
    (Reply(body=chat('{"lines": [{"id": 1, "variants": ["Olá"]}')), r"did not answer the JSON asked for"),
    (Reply(body=chat({"lines": [{"id": n, "variants": ["Sim."]} for n in range(1, 10)]})),
     r"^scene.ass event 10: llm: answered 9 lines for 10$"),
    (Reply(body=chat({"lines": [{"id": n, "variants": ["Sim."] if n != 4 else []} for n in range(1, 11)]})),
     r"^scene.ass event 4: llm: no usable variant for this line$"),
    (Reply(body=chat({"lines": []}, finish="length")), r"cut off \(finish_reason 'length'\)"),
    (Reply(body=b"<html>bad gateway</html>"), r"the answer is not JSON"),
    (Reply(400, {"error": "no such model"}), r"HTTP 400 \(.*no such model"),
])
def test_bad_answers_are_one_clear_error(llm_env, scene_lines, private_cache, reply, message) -> None:
    llm_env.replies = [reply]
    tb, lines = scene_lines
    with pytest.raises(TranslatorError, match=message):
        translate_lines(lines, tb, "pt-BR", translator="llm", cache=private_cache)
    assert len(llm_env.requests) == 1  # none of these is worth asking again


def test_cli_error_writes_nothing(llm_env, tmp_path) -> None:
    llm_env.replies = [Reply(body=chat({"lines": [{"id": 1, "variants": ["Sim."]}]}))]
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["translate", str(SCENE_ASS), "--to", "pt-BR", "--engine", "llm", "-o", str(out)])
    assert res.exit_code == 1
    assert res.output == "Error: clip '0002 MARCUS' on track 'DIALOGUE': llm: answered 1 lines for 10\n"
    assert not out.exists()


def test_deepl(stub, scene_lines, private_cache, monkeypatch) -> None:
    monkeypatch.setenv("OTIO_DUB_DEEPL_KEY", "abc:fx")
    monkeypatch.setenv("OTIO_DUB_DEEPL_URL", stub.url)
    stub.answer = lambda request: Reply(body={"translations": [
        {"detected_source_language": "EN", "text": f"PT {text}"} for text in request["json"]["text"]]})
    tb, lines = scene_lines
    result = translate_lines(lines, tb, "pt-BR", translator="deepl", cache=private_cache, fit=False)
    request = stub.requests[0]
    assert request["path"] == "/v2/translate" and request["headers"]["Authorization"] == "DeepL-Auth-Key abc:fx"
    assert request["json"]["target_lang"] == "PT-BR" and request["json"]["source_lang"] == "EN"
    assert result.rows[0].line.text == "PT " + lines[0].text
    assert result.rows[3].line.text.endswith("Anna.")  # the token went out and came back as the name
    stub.answer = None
    stub.replies = [Reply(body={"translations": [{"text": "Sim."}]})]
    with pytest.raises(TranslatorError, match=r"deepl: answered 1 lines for 10"):
        translate_lines(lines, tb, "es", translator="deepl", cache=private_cache)


def test_a_reply_cut_short_is_tried_again_then_one_error(llm_env, scene_lines, private_cache, monkeypatch) -> None:
    """A server that promises 100 bytes and sends 6 (http.client's IncompleteRead) is a dropped answer:
    tried again like a timeout, then one TranslatorError naming the lines, never a traceback."""
    monkeypatch.setattr(web, "RETRIES", 1)
    monkeypatch.setattr(web, "BACKOFF_S", 0.01)
    llm_env.replies = [Reply(body=b'{"a": ', cut=94)]
    tb, lines = scene_lines
    with pytest.raises(TranslatorError, match=r"llm: .*/v1/chat/completions: a broken answer \(IncompleteRead\) "
                                              r"after 2 tries"):
        translate_lines(lines, tb, "pt-BR", translator="llm", cache=private_cache)
    assert len(llm_env.requests) == 2
    answers = iter([Reply(body=b'{"a": ', cut=94)])
    llm_env.requests.clear()
    llm_env.answer = lambda request: next(answers, None) or llm_answer(request)
    result = translate_lines(lines, tb, "pt-BR", translator="llm", cache=private_cache, fit=False)
    assert len(result.rows) == 10 and len(llm_env.requests) == 2  # the cut reply, then a whole one
