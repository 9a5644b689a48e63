"""Conform: a re-cut reuses what it can, and says what changed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import opentimelineio as otio
import pytest
from click.testing import CliRunner

import otio_dub
from otio_dub.cli import main
from otio_dub.core.errors import InputError
from otio_dub.stages.conform import conform, read_old_dub
from otio_dub.stages.pipeline import DubOptions

DATA = Path(__file__).resolve().parent / "data" / "nle"
RT = lambda f: otio.opentime.RationalTime(f, 24)  # noqa: E731
TEXTS = ["You promised me you would be back.", "I know, I am sorry.", "Where were you all night?",
         "At the station.", "I do not believe you."]
WHO = ["ANNA", "BOB", "ANNA", "BOB", "ANNA"]


def _cut(tools, spans, texts=TEXTS, who=WHO, name="cut"):
    """A timeline of metadata lines whose clips read media dia_NNN.wav from frame 86400 on."""
    specs = [tools.LineSpec(a, b, t, c) for (a, b), t, c in zip(spans, texts, who, strict=False)]
    timeline = tools.make_timeline(24, 86400, specs, 420, name=name)
    for i, clip in enumerate(timeline.tracks[0].find_clips()):
        clip.media_reference = otio.schema.ExternalReference(
            target_url=f"file:///media/dia_{i + 1:03d}.wav", available_range=otio.opentime.TimeRange(RT(86400), RT(2000)))
        clip.source_range = otio.opentime.TimeRange(RT(86400), clip.source_range.duration)
    return timeline


OLD = [(24, 72), (96, 150), (170, 230), (250, 300), (320, 380)]


@pytest.fixture
def old_dub(tools, tmp_path):
    options = DubOptions(cache=tmp_path / "cache")
    result = otio_dub.dub(_cut(tools, OLD, name="cut1"), out_dir=tmp_path / "d1", options=options)
    assert result.takes == {"synthesized": 5}
    return result, options


def _kinds(result):
    return {c.line_id or c.old_id: c.kind for c in result.changes}


def test_each_kind_of_change(tools, tmp_path, old_dub):
    old, options = old_dub
    spans = [(24, 72), (126, 180), (190, 240), (250, 300)]  # kept, moved +30, trimmed 10 frames, text changed
    texts = [TEXTS[0], TEXTS[1], TEXTS[2], "At the old train station."]
    new = _cut(tools, spans, texts, name="cut2")
    extra = tools.LineSpec(330, 390, "Then prove it.", "BOB")
    new.tracks[0].append(otio.schema.Clip("dia_new", source_range=otio.opentime.TimeRange(RT(90000), RT(60)),
                                          metadata={"otio_dub": {"text": extra.text, "character": "BOB"}}))
    result = conform(old.timeline_path, new, tmp_path / "d2", options=options)
    kinds = _kinds(result)
    assert [c.kind for c in result.changes] == ["kept", "moved", "refitted", "changed", "new", "removed"], kinds
    assert result.counts == {"kept": 1, "moved": 1, "refitted": 1, "changed": 1, "new": 1, "removed": 1}
    assert result.dub.takes == {"reused": 2, "synthesized": 3}  # only trimmed, changed and new lines are fitted
    report = json.loads(result.path.read_text())
    assert report["counts"] == result.counts and len(report["changes"]) == 6
    removed = [c for c in result.changes if c.kind == "removed"]
    assert removed[0].old_id == "005-ANNA" and removed[0].old_in == "01:00:13:08"
    moved = next(c for c in result.changes if c.kind == "moved")
    assert (moved.old_in, moved.new_in) == ("01:00:04:00", "01:00:05:06")


def test_moved_take_is_placed_untouched(tools, tmp_path, old_dub):
    old, options = old_dub
    new = _cut(tools, [(24, 72), (126, 180), (190, 250), (270, 320), (340, 400)], name="cut2")
    result = conform(old.timeline_path, new, tmp_path / "d2", options=options)
    assert result.dub.takes == {"reused": 5}
    before = {row["id"]: row for row in old.lines}
    after = {row["id"]: row for row in result.dub.lines}
    for line_id in before:  # the same take: only its place changed
        for field in ("natural_s", "speech_s", "rate_factor", "stretch_factor", "passes", "status"):
            assert after[line_id][field] == before[line_id][field], (line_id, field)
    # a conform of the conformed dub finds every take under the keys it recorded: nothing is fitted again
    again = conform(result.dub.timeline_path, new, tmp_path / "d3", options=options)
    assert again.dub.takes == {"reused": 5}


def test_unchanged_cut_reuses_everything_and_matches_a_fresh_dub(tools, tmp_path, old_dub):
    old, options = old_dub
    result = conform(old.timeline_path, _cut(tools, OLD, name="cut1"), tmp_path / "d2", options=options)
    assert set(result.counts.items()) >= {("kept", 5), ("removed", 0), ("new", 0)}
    for name in ("ANNA", "BOB", "DIALOGUE"):
        assert (tmp_path / "d2" / "stems" / f"{name}.wav").read_bytes() == (old.out_dir / "stems" / f"{name}.wav").read_bytes()


def test_text_fallback_matches_lines_without_a_source(tools, tmp_path, old_dub):
    old, options = old_dub
    new = _cut(tools, [(30, 78), (96, 150), (170, 230), (250, 300), (320, 380)], name="cut2")
    new.tracks[0].find_clips()[0].media_reference = otio.schema.ExternalReference(target_url="file:///media/replaced.wav")
    result = conform(old.timeline_path, new, tmp_path / "d2", options=options)
    assert _kinds(result)["001-ANNA"] == "moved"  # other media, same words: matched by text


def _edit_old(path: Path, edit) -> None:
    timeline = otio.adapters.read_from_file(str(path), hook_function_argument_map={"otio_dub": {"tag_dialogue": False}})
    edit(timeline)
    otio.adapters.write_to_file(timeline, str(path))


def _slide_second_clip(timeline, frames=3):
    track = next(t for t in timeline.tracks if t.name == "DUB en BOB")
    gap_before, clip, gap_after = track[0], track[1], track[2]
    gap_before.source_range = otio.opentime.TimeRange(duration=RT(gap_before.duration().value + frames))
    gap_after.source_range = otio.opentime.TimeRange(duration=RT(gap_after.duration().value - frames))
    clip.enabled = False


def test_hand_edits_on_the_old_dub_are_kept(tools, tmp_path, old_dub):
    old, options = old_dub
    _edit_old(old.timeline_path, _slide_second_clip)
    (edited,) = [o for o in read_old_dub(old.timeline_path)[1] if o.edited]
    assert (edited.line_id, edited.slide, edited.muted) == ("002-BOB", 3, True)
    new = _cut(tools, [(24, 72), (126, 180), (190, 250), (270, 320), (340, 400)], name="cut2")
    result = conform(old.timeline_path, new, tmp_path / "d2", options=options)
    track = next(t for t in result.dub.timeline.tracks if t.name == "DUB en BOB")
    clip = next(c for c in track.find_clips() if c.name == "002-BOB")
    assert clip.range_in_parent().start_time.value == 126 + 3 and clip.enabled is False
    reread = otio.adapters.read_from_file(str(result.dub.timeline_path))
    again = next(c for t in reread.tracks for c in t.find_clips() if c.name == "002-BOB")
    assert again.enabled is False
    assert "hand edit kept" in next(c.note for c in result.changes if c.line_id == "002-BOB")


def test_reset_drops_hand_edits(tools, tmp_path, old_dub):
    old, options = old_dub
    _edit_old(old.timeline_path, _slide_second_clip)
    result = conform(old.timeline_path, _cut(tools, OLD, name="cut1"), tmp_path / "d2", options=options, reset=True)
    clip = next(c for t in result.dub.timeline.tracks for c in t.find_clips() if c.name == "002-BOB")
    assert clip.range_in_parent().start_time.value == 96 and clip.enabled


def test_without_the_cache_moved_lines_are_fitted_again(tools, tmp_path, old_dub):
    old, options = old_dub
    result = conform(old.timeline_path, _cut(tools, OLD, name="cut1"), tmp_path / "d2", options=DubOptions())
    assert result.dub.takes == {"synthesized": 5}
    assert all("not in the render cache" in c.note for c in result.changes if c.kind == "kept")


def test_errors(tools, tmp_path, old_dub):
    old, options = old_dub
    with pytest.raises(InputError, match="no otio-dub dub clips"):
        conform(DATA / "premiere_example.xml", _cut(tools, OLD), tmp_path / "x", options=options)
    other = tools.make_timeline(25, 90000, [tools.LineSpec(10, 40, "Hi.", "ANNA")], 100, name="pal")
    with pytest.raises(InputError, match="25 fps but the dub is at 24 fps"):
        conform(old.timeline_path, other, tmp_path / "y", options=options)


def test_real_export_conform(tmp_path):
    """Premiere FCP7 XML: dub it with a script over its audio, then conform the same cut with one line rewritten."""
    export = DATA / "premiere_example.xml"
    timeline = otio_dub.stages.pipeline.read_timeline(export)
    clips = sorted({(c.transformed_time_range(c.trimmed_range(), timeline.tracks).start_time.value,
                     c.transformed_time_range(c.trimmed_range(), timeline.tracks).end_time_exclusive().value)
                    for t in timeline.audio_tracks() for c in t.find_clips()})[:2]

    def script(path, texts):
        body = ""
        for i, ((a, _b), text) in enumerate(zip(clips, texts, strict=True), 1):
            s0 = a / 30 + 0.1
            body += f"{i}\n00:00:{int(s0):02d},{int(s0 % 1 * 1000):03d} --> 00:00:{int(s0) + 1:02d},{int(s0 % 1 * 1000):03d}\nBOB: {text}\n\n"
        path.write_text(body, encoding="utf-8")
        return path

    options = DubOptions(cache=tmp_path / "cache")
    first = otio_dub.dub(export, script(tmp_path / "a.srt", ["Hello there.", "See you."]), tmp_path / "d1", options)
    result = conform(first.timeline_path, export, tmp_path / "d2", script(tmp_path / "b.srt", ["Hello there.", "Goodbye."]),
                     options)
    assert [c.kind for c in result.changes] == ["kept", "changed"]
    assert result.dub.takes == {"reused": 1, "synthesized": 1}
    assert (tmp_path / "d2" / "premiere_example.dub.xml").is_file()  # the new cut's own format


def test_cli_conform(tools, tmp_path, old_dub):
    old, _ = old_dub
    new = tmp_path / "cut2.otio"
    otio.adapters.write_to_file(_cut(tools, [(24, 72), (126, 180), (190, 250), (270, 320)], name="cut2"), str(new))
    result = CliRunner().invoke(main, ["conform", str(old.timeline_path), str(new), "-o", str(tmp_path / "d2"),
                                       "--cache", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    assert re.search(r"^moved +002-BOB", result.output, re.M) and "removed" in result.output
    assert "4 reused" in result.output
    bad = CliRunner().invoke(main, ["conform", str(new), str(new), "-o", str(tmp_path / "d3")])
    assert bad.exit_code != 0 and "Error:" in bad.output and "Traceback" not in bad.output
    assert not (tmp_path / "d3").exists()


def _trim_head_of_first_anna(timeline, frames=3):
    track = next(t for t in timeline.tracks if t.name == "DUB en ANNA")
    gap, clip = track[0], track[1]
    gap.source_range = otio.opentime.TimeRange(duration=RT(gap.duration().value + frames))  # the cut stays in place
    src = clip.source_range
    clip.source_range = otio.opentime.TimeRange(RT(src.start_time.value + frames), RT(src.duration.value - frames))


def test_a_carried_trim_never_moves_the_clips_after_it(tools, tmp_path, old_dub):
    old, options = old_dub
    _edit_old(old.timeline_path, _trim_head_of_first_anna)
    result = conform(old.timeline_path, _cut(tools, OLD, name="cut1"), tmp_path / "d2", options=options)
    track = next(t for t in result.dub.timeline.tracks if t.name == "DUB en ANNA")
    starts = {c.name: c.range_in_parent().start_time.value for c in track.find_clips()}
    assert starts == {"001-ANNA": 27, "003-ANNA": 170, "005-ANNA": 320}


def test_a_take_in_another_voice_is_never_reused(tools, tmp_path, old_dub):
    from otio_dub.casting.cast import CastEntry

    old, options = old_dub
    bob = next(row["voice"] for row in old.lines if row["character"] == "BOB")  # BOB keeps his voice
    recast = DubOptions(cache=options.cache, cast={"ANNA": CastEntry("ANNA", engine="espeak", voice="en+m7", pitch=3.0),
                                                   "BOB": CastEntry("BOB", engine="espeak", voice=bob)})
    result = conform(old.timeline_path, _cut(tools, OLD, name="cut1"), tmp_path / "d2", options=recast)
    assert result.dub.takes == {"reused": 2, "synthesized": 3}  # BOB's two lines move, ANNA's three are spoken anew
    fresh = otio_dub.dub(_cut(tools, OLD, name="cut1"), out_dir=tmp_path / "d3", options=DubOptions(cast=recast.cast))
    for row in fresh.lines:  # what conform placed for ANNA is what a fresh dub in the new voice gives
        if row["character"] == "ANNA":
            assert (tmp_path / "d2" / row["media"]).read_bytes()[700:] == (tmp_path / "d3" / row["media"]).read_bytes()[700:]


def test_old_takes_are_read_when_placed_and_never_held(tools, tmp_path, old_dub):
    """Conform knows up front which old takes the cache has, but reads each only when asked and keeps
    none (a feature's takes at once were 1.5 GB); one damaged meanwhile is missing, so fitted again."""
    from otio_dub.dialogue.lines import find_lines
    from otio_dub.stages.conform import CachedTakes, match

    old, options = old_dub
    _, old_lines = read_old_dub(old.timeline_path)
    new_lines = find_lines(_cut(tools, [(24, 72), (126, 180), (190, 250), (270, 320), (340, 400)], name="cut2"))
    with CachedTakes(match(new_lines, old_lines), options.cache) as takes:
        assert sorted(takes) == sorted(line.id for line in new_lines) and len(takes) == 5
        first = takes[new_lines[0].id]
        assert first.media.size == first.plan.media_samples
        assert takes[new_lines[0].id].media is not first.media  # read again: nothing kept
        key = next(old for old in old_lines if old.line_id == new_lines[1].id).key
        npy = next((Path(options.cache) / "objects").rglob(f"{key}.npy"))
        npy.write_bytes(npy.read_bytes()[:-400])  # damaged after the mapping was made
        assert new_lines[1].id in takes and takes.get(new_lines[1].id) is None
        assert new_lines[1].id not in takes and len(takes) == 4  # found damaged: no longer a take to reuse
    result = conform(old.timeline_path, _cut(tools, [(24, 72), (126, 180), (190, 250), (270, 320), (340, 400)],
                                             name="cut2"), tmp_path / "d2", options=options)
    assert result.dub.takes == {"reused": 4, "synthesized": 1}
