"""Pipeline rules found in review: unique stem names, borrowing never into another line, re-dubs."""

from __future__ import annotations

import opentimelineio as otio
import pytest

import otio_dub
from otio_dub.core.errors import InputError
from otio_dub.delivery.stems import stem_names
from otio_dub.dialogue.lines import Line
from otio_dub.dialogue.script import read_script
from otio_dub.stages.pipeline import free_frame


def _line(rin: int, rout: int, character: str = "A") -> Line:
    return Line(f"{rin}", rin, rout, character, "en", "text")


@pytest.mark.parametrize("others, expected", [
    ([], 1000),                      # nothing after: free to the timeline end
    ([(150, 200)], 150),             # next line starts after the gap
    ([(90, 200)], 100),              # another character already speaks at our record-out: nothing free
    ([(50, 80), (300, 400)], 300),   # lines that ended before ours do not block
    ([(100, 120), (110, 130)], 100), # one starts exactly at our out point
])
def test_free_frame_never_reaches_into_another_line(others, expected):
    lines = [_line(0, 100)] + [_line(a, b, "B") for a, b in others]
    assert free_frame(lines, 0, 1000) == expected


def test_stem_names_are_unique_and_never_take_dialogue():
    names = stem_names({("en", "A/B"), ("en", "A?B"), ("en", "DIALOGUE"), ("en", "dialogue")}, several_langs=False)
    assert len(set(n.lower() for n in names.values())) == 4
    assert "dialogue" not in {n.lower() for n in names.values()}
    assert names[("en", "A/B")] == "A_B" and names[("en", "A?B")] == "A_B_2"


def test_stem_names_carry_the_language_when_the_dub_has_several():
    names = stem_names({("en", "ANNA"), ("de", "ANNA")}, several_langs=True)
    assert names == {("en", "ANNA"): "en_ANNA", ("de", "ANNA"): "de_ANNA"}


def test_redubbing_a_dub_timeline_replaces_its_dub_tracks(tmp_path, tools, caplog):
    first = otio_dub.dub(tools.SCENE_OTIO, tools.SCENE_ASS, tmp_path / "one")
    second = otio_dub.dub(first.timeline_path, tools.SCENE_ASS, tmp_path / "two")
    names = [t.name for t in second.timeline.tracks]
    assert len(names) == len(set(names)), names
    assert [t.name for t in first.timeline.tracks] == names
    assert "replacing" in caplog.text
    reread = otio.adapters.read_from_file(str(second.timeline_path))
    assert sum(t.name.startswith("DUB ") for t in reread.tracks) == 3


def test_empty_script_file_says_it_has_no_events(tmp_path):
    path = tmp_path / "empty.srt"
    path.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(InputError, match="no dialogue events"):
        read_script(path)
