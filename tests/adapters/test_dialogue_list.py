"""The ``otio_dub_dialogue_list`` OTIO adapter: CSV/TSV dialogue (spotting) lists <-> dialogue timelines."""

from __future__ import annotations

import json
from pathlib import Path

import opentimelineio as otio
import pytest
from click.testing import CliRunner

from otio_dub.cli import main
from otio_dub.core.errors import InputError

ADAPTER = "otio_dub_dialogue_list"

ROWS = [  # TC IN, TC OUT, CHARACTER, LINE
    ("01:00:01:00", "01:00:02:12", "ANNA", "Hello there."),
    ("01:00:03:00", "01:00:04:00", "BOB", "[angry] Go away."),
    ("01:00:04:10", "01:00:05:20", "ANNA", "Wait, please."),
]
#: what those rows are at 25 fps from 01:00:00:00: (record in, record out, character, text, emotion)
EXPECTED = [
    (25, 62, "ANNA", "Hello there.", None),
    (75, 100, "BOB", "Go away.", "angry"),
    (110, 145, "ANNA", "Wait, please.", None),
]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def csv_text(rows=ROWS, header: str | None = "TC IN,TC OUT,CHARACTER,LINE", sep: str = ",") -> str:
    def cell(value: str) -> str:
        return f'"{value}"' if sep in value else value

    lines = [header] if header is not None else []
    lines += [sep.join(cell(v) for v in row) for row in rows]
    return "\n".join(lines) + "\n"


def layout(timeline: otio.schema.Timeline) -> list[tuple]:
    """(record in, record out, character, text, emotion) of every clip, record frames from the start."""
    found = []
    for clip in timeline.find_clips():
        rng = clip.transformed_time_range(clip.trimmed_range(), timeline.tracks)
        meta = clip.metadata["otio_dub"]
        found.append((round(rng.start_time.value), round(rng.end_time_exclusive().value), meta.get("character"),
                      meta["text"], meta.get("emotion")))
    return sorted(found)


def check_timeline(timeline: otio.schema.Timeline, name: str) -> None:
    assert isinstance(timeline, otio.schema.Timeline)
    assert timeline.name == name
    assert timeline.global_start_time == otio.opentime.RationalTime(90000, 25)  # the hour of the first row
    assert [(t.name, t.kind) for t in timeline.tracks] == [("DIALOGUE", otio.schema.TrackKind.Audio)]
    assert layout(timeline) == EXPECTED
    for clip in timeline.find_clips():
        assert clip.source_range.start_time.rate == 25


def test_read_csv_with_header(tmp_path):
    path = write(tmp_path, "spot.csv", csv_text())
    timeline = otio.adapters.read_from_file(str(path), adapter_name=ADAPTER, rate=25)
    check_timeline(timeline, "spot")
    rows = [c.metadata["otio_dub"]["row"] for c in timeline.find_clips()]
    assert rows == [2, 3, 4]  # the file line of each row


def test_read_tsv(tmp_path):
    path = write(tmp_path, "spot.tsv", csv_text(header="TC IN\tTC OUT\tCHARACTER\tLINE", sep="\t"))
    check_timeline(otio.adapters.read_from_file(str(path), adapter_name=ADAPTER, rate=25), "spot")


def test_read_without_header(tmp_path):
    path = write(tmp_path, "bare.csv", csv_text(header=None))
    check_timeline(otio.adapters.read_from_file(str(path), adapter_name=ADAPTER, rate=25), "bare")


def test_read_synonym_header_semicolons(tmp_path):
    path = write(tmp_path, "studio.csv", csv_text(header="Start;End;Speaker;Dialogue", sep=";"))
    check_timeline(otio.adapters.read_from_file(str(path), adapter_name=ADAPTER, rate=25), "studio")


def test_read_by_suffix_alone(tmp_path):
    for name, text in (("a.csv", csv_text()), ("b.tsv", csv_text(header="TC IN\tTC OUT\tCHARACTER\tLINE", sep="\t"))):
        path = write(tmp_path, name, text)
        check_timeline(otio.adapters.read_from_file(str(path), rate=25), Path(name).stem)


def test_start_is_the_hour_of_the_earliest_row(tmp_path):
    rows = [("10:00:07:00", "10:00:08:00", "ANNA", "Later."), ("10:00:02:00", "10:00:03:00", "BOB", "Earlier.")]
    timeline = otio.adapters.read_from_file(str(write(tmp_path, "ten.csv", csv_text(rows))), rate=25)
    assert timeline.global_start_time == otio.opentime.RationalTime(10 * 3600 * 25, 25)
    assert [r[:3] for r in layout(timeline)] == [(50, 75, "BOB"), (175, 200, "ANNA")]


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_write_and_read_back(tmp_path, suffix):
    timeline = otio.adapters.read_from_file(str(write(tmp_path, "spot.csv", csv_text())), adapter_name=ADAPTER, rate=25)
    out = tmp_path / f"out{suffix}"
    otio.adapters.write_to_file(timeline, str(out))
    text = out.read_text(encoding="utf-8")
    assert text.splitlines()[0].split("\t" if suffix == ".tsv" else ",")[:4] == ["TC IN", "TC OUT", "CHARACTER", "LINE"]
    assert "01:00:01:00" in text and "01:00:05:20" in text
    again = otio.adapters.read_from_file(str(out), rate=25)
    assert again.global_start_time == timeline.global_start_time
    assert layout(again) == layout(timeline) == EXPECTED


def test_write_lines_of_an_edit_timeline(tmp_path, tools):
    """Any timeline's dialogue lines can be written as a list (record timecodes are absolute)."""
    edit = tools.make_timeline(25, 90000, [tools.LineSpec(25, 62, "Hello there.", "ANNA")], 100)
    out = tmp_path / "edit.csv"
    otio.adapters.write_to_file(edit, str(out), adapter_name=ADAPTER)
    assert out.read_text(encoding="utf-8").splitlines()[1].startswith("01:00:01:00,01:00:02:12,ANNA,Hello there.")


@pytest.mark.parametrize(("rows", "where", "what"), [
    ([("01:00:01:00", "01:00:02:00", "ANNA", "Fine."), ("01:00:0x:00", "01:00:04:00", "BOB", "Bad.")], "line 3", "timecode"),
    ([("01:00:01:00", "01:00:02:00", "ANNA", "Fine."), ("01:00:03:00", "01:00:61:00", "BOB", "Bad.")], "line 3", "timecode"),
    ([("01:00:03:00", "01:00:02:00", "ANNA", "Backwards.")], "line 2", "not after"),
    ([("01:00:03:00", "01:00:03:00", "ANNA", "Zero length.")], "line 2", "not after"),
    ([("01:00:01:00", "01:00:02:00", "ANNA", "Fine."), ("01:00:03:00", "01:00:04:00", "BOB", "  ")], "line 3", "no text"),
    ([("01:00:03:00", "01:00:04:00", "BOB", "[angry]")], "line 2", "no text"),
])
def test_bad_rows_name_the_line(tmp_path, rows, where, what):
    path = write(tmp_path, "bad.csv", csv_text(rows))
    with pytest.raises(InputError) as caught:
        otio.adapters.read_from_file(str(path), adapter_name=ADAPTER, rate=25)
    message = str(caught.value)
    assert "bad.csv" in message and where in message and what in message, message
    assert "\n" not in message


@pytest.mark.parametrize("text", ["TC IN,TC OUT,CHARACTER,LINE\n", "", "\n\n", "# a comment only\n"])
def test_list_without_rows(tmp_path, text):
    path = write(tmp_path, "empty.csv", text)
    with pytest.raises(InputError, match="no rows") as caught:
        otio.adapters.read_from_file(str(path), adapter_name=ADAPTER, rate=25)
    assert "empty.csv" in str(caught.value)


def test_cli_dubs_a_dialogue_list_without_an_edit(tmp_path):
    path = write(tmp_path, "spot.csv", csv_text())
    out = tmp_path / "dub"
    result = CliRunner().invoke(main, ["dub", str(path), "--rate", "25", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert (out / "spot.dub.otio").is_file()
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["start"] == "01:00:00:00"
    assert [(r["record_in"], r["record_out"], r["character"], r["text"]) for r in report["lines"]] == [
        (tc_in, tc_out, who, text.replace("[angry] ", "")) for tc_in, tc_out, who, text in ROWS]
    assert [r["emotion"] for r in report["lines"]][1] == "angry"
    for row in report["lines"]:
        assert (out / row["media"]).is_file()
    dubbed = otio.adapters.read_from_file(str(out / "spot.dub.otio"))
    names = [t.name for t in dubbed.tracks]
    assert names[0] == "DIALOGUE" and "DUB en ANNA" in names and "DUB en BOB" in names
    placed = {c.name: c.transformed_time_range(c.trimmed_range(), dubbed.tracks).start_time.value
              for c in dubbed.find_clips() if (c.metadata.get("otio_dub") or {}).get("role") == "dub"}
    assert placed == {"001-ANNA": 25, "002-BOB": 75, "003-ANNA": 110}
    assert list((out / "stems").glob("*.wav")), "stems were not written"


GENDERED = [("01:00:01:00", "01:00:02:12", "ANNA", "Hello there.", "M"),  # against the name: the column decides
            ("01:00:03:00", "01:00:04:00", "BOB", "Go away.", "alto"),  # a voice type
            ("01:00:04:10", "01:00:05:20", "ANNA", "Wait, please.", "")]


def _gender_of(performer) -> str:
    from otio_dub.engines import voice_quality

    return voice_quality.gender(performer.engine, performer.spec.voice)


def test_gender_column_casts_each_character_as_a_list_or_a_script(tmp_path):
    """GENDER (or VOICE TYPE) is evidence automatic casting keeps to: read as the timeline (clip
    metadata) and as the --script of an edit (the lines), kept when the list is written again."""
    from otio_dub.stages.options import DubOptions
    from otio_dub.stages.plan import plan_dub

    path = write(tmp_path, "spot.csv", csv_text(GENDERED, header="TC IN,TC OUT,CHARACTER,LINE,GENDER"))
    plan = plan_dub(path, None, tmp_path / "a", DubOptions(rate=25))
    assert {c: _gender_of(p) for (c, _), p in plan.performers.items()} == {"ANNA": "male", "BOB": "female"}
    assert "male from clip" in plan.performers[("ANNA", "en")].why
    edit = otio.schema.Timeline("edit", global_start_time=otio.opentime.RationalTime(90000, 25))
    track = otio.schema.Track("DIA", kind=otio.schema.TrackKind.Audio)
    track.append(otio.schema.Clip("dialogue", source_range=otio.opentime.TimeRange(
        otio.opentime.RationalTime(0, 25), otio.opentime.RationalTime(200, 25))))  # a plain clip: no lines of its own
    edit.tracks.append(track)
    otio.adapters.write_to_file(edit, str(tmp_path / "edit.otio"))
    tsv = write(tmp_path, "spot.tsv", csv_text(GENDERED, header="TC IN\tTC OUT\tCHARACTER\tLINE\tVOICE TYPE", sep="\t"))
    plan = plan_dub(tmp_path / "edit.otio", tsv, tmp_path / "b", DubOptions())
    assert {c: _gender_of(p) for (c, _), p in plan.performers.items()} == {"ANNA": "male", "BOB": "female"}
    assert "the GENDER column (spot.tsv event 2)" in plan.performers[("ANNA", "en")].why
    timeline = otio.adapters.read_from_file(str(path), adapter_name=ADAPTER, rate=25)
    otio.adapters.write_to_file(timeline, str(tmp_path / "again.csv"))
    rows = (tmp_path / "again.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0].endswith(",EMOTION,GENDER") and [r.rsplit(",", 1)[1] for r in rows[1:]] == ["male", "female", ""]


def test_a_bad_gender_names_the_file_and_line(tmp_path):
    path = write(tmp_path, "bad.csv", csv_text([("01:00:01:00", "01:00:02:00", "ANNA", "Fine.", "child")],
                                               header="TC IN,TC OUT,CHARACTER,LINE,GENDER"))
    with pytest.raises(InputError) as caught:
        otio.adapters.read_from_file(str(path), adapter_name=ADAPTER, rate=25)
    assert str(caught.value).startswith(str(path)) and "line 2" in str(caught.value) and "'child'" in str(caught.value)
