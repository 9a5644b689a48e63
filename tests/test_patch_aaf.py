"""Same-format AAF dubs patch the editor's own file (issue 24), proved with pyaaf2's structure.

Each input (the two Avid exports and a richer AAF made here with pyaaf2: a dissolve, effects, a
nested scope, a marker, 29.97 DF from 01:00:00;00) is dubbed through the API. The input and the
output are then read as pyaaf2 object trees: every property of every object under the header
(raw encoded bytes for plain values, MobIDs/AUIDs for references), and the two trees compared.
The only differences allowed are what otio-dub stamps and adds (its mobs, its slots at the end of
the composition, its Identification, dictionary definitions); the header's LastModified is kept.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import time
from fractions import Fraction
from pathlib import Path
from urllib.parse import unquote, urlparse

import aaf2
import opentimelineio as otio
import pytest
from click.testing import CliRunner

import otio_dub
from otio_dub import DubOptions
from otio_dub.cli import main
from otio_dub.core.errors import InputError, OtioDubError
from otio_dub.delivery.stems import StemOptions
from otio_dub.stages.conform import conform
from otio_dub.timelines.aaf_writer import WRITTEN_AT, stamped, write_aaf
from otio_dub.timelines.formats import write_timeline
from otio_dub.timelines.media import wav_facts
from otio_dub.timelines.patch_aaf import PRODUCT_ID, patch

DATA = Path(__file__).resolve().parent / "data"
_spec = importlib.util.spec_from_file_location("aaf_rich", DATA / "patch" / "aaf_rich.py")
aaf_rich = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(aaf_rich)

#: input -> SRT events (seconds from the timeline start) over its dialogue; two of one character overlap
SCRIPTS = {
    "avid_simple.aaf": [(1.0, 3.0, "ANNA", "Hello there."), (2.0, 4.0, "ANNA", "Come here."),
                        (50.0, 52.0, "BOB", "See you.")],
    "avid_2997fps.aaf": [(0.2, 1.2, "ANNA", "Hello there."), (1.0, 2.0, "ANNA", "Come here."),
                         (2.5, 3.5, "BOB", "See you.")],
    "rich.aaf": [(0.5, 2.0, "ANNA", "You promised me."), (1.5, 3.0, "ANNA", "I know."),
                 (7.0, 9.0, "BOB", "Where were you?")],
}


def srt(events: list[tuple[float, float, str, str]], shift: float = 0.0) -> str:
    def stamp(seconds: float) -> str:
        ms = round((seconds + shift) * 1000)
        return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    return "\n".join(f"{n}\n{stamp(a)} --> {stamp(b)}\n{who}: {text}\n" for n, (a, b, who, text) in enumerate(events, 1))


def source_file(name: str, folder: Path) -> Path:
    """A copy of the input in ``folder`` (the rich one made with pyaaf2)."""
    path = folder / name
    if name == "rich.aaf":
        return aaf_rich.make_aaf(path, 1)
    shutil.copyfile(DATA / "nle" / name, path)
    return path


def options(tmp_path: Path, **kwargs: object) -> DubOptions:
    return DubOptions(stems=StemOptions(mode="none", loudness=None), cache=tmp_path / "cache", review=False, **kwargs)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Dubbed:
    """An input dubbed through the API: its copy, its bytes' hash before, the result."""

    def __init__(self, name: str, tmp_path: Path, embed: bool = False) -> None:
        self.name, self.tmp = name, tmp_path
        self.source = source_file(name, tmp_path)
        self.before = digest(self.source)
        script = tmp_path / f"{Path(name).stem}.srt"
        script.write_text(srt(SCRIPTS[name]), encoding="utf-8")
        self.result = otio_dub.dub(self.source, script, tmp_path / "out", options(tmp_path, aaf_embed=embed))
        [self.output] = self.result.exports


@pytest.fixture(scope="module", params=sorted(SCRIPTS))
def dubbed(request, tmp_path_factory) -> Dubbed:
    return Dubbed(request.param, tmp_path_factory.mktemp(Path(request.param).stem))


# ---------------------------------------------------------------------------------------------
# pyaaf2 object trees
# ---------------------------------------------------------------------------------------------


def tree(obj: object) -> dict:
    """Every property of ``obj`` and of the objects it owns: plain values as their encoded bytes,
    references as the MobID/AUID they name, owned vectors as lists, owned sets by key."""
    props = aaf2.properties
    found = {"@class": type(obj).__name__}
    for prop in obj.properties():
        if isinstance(prop, props.StrongRefProperty):
            value = tree(prop.value)
        elif isinstance(prop, props.StrongRefVectorProperty):
            value = [tree(item) for item in prop.value]
        elif isinstance(prop, props.StrongRefSetProperty):
            value = {str(key): tree(item) for key, item in prop.items()}
        elif isinstance(prop, props.WeakRefArrayProperty):
            value = ("weak", [str(ref) for ref in prop.references])
        elif isinstance(prop, props.WeakRefProperty):
            value = ("weak", str(prop.ref))
        else:
            value = bytes(prop.data) if prop.data is not None else None
        found[prop.name or f"pid {prop.pid}"] = value
    return found


def header_tree(path: Path) -> dict:
    with aaf2.open(str(path), "r") as f:
        return tree(f.header)


def diff(before: object, after: object, path: str = "") -> tuple[list[str], list[str]]:
    """(changed or removed paths, added paths) from ``before`` to ``after``: a set or property map
    may gain keys, a vector entries at its end; anything else that differs is a change."""
    if isinstance(before, dict) and isinstance(after, dict):
        changed, added = [], [f"{path}/{k}" for k in after if k not in before]
        for key, value in before.items():
            if key not in after:
                changed.append(f"{path}/{key} (removed)")
                continue
            c, a = diff(value, after[key], f"{path}/{key}")
            changed += c
            added += a
        return changed, added
    if isinstance(before, list) and isinstance(after, list):
        changed, added = [], [f"{path}[{i}]" for i in range(len(before), len(after))]
        if len(after) < len(before):
            changed.append(f"{path} (lost {len(before) - len(after)} entries)")
        for i, (x, y) in enumerate(zip(before, after, strict=False)):
            c, a = diff(x, y, f"{path}[{i}]")
            changed += c
            added += a
        return changed, added
    return ([] if before == after else [path]), []


def count(node: object) -> int:
    """How many objects a tree holds."""
    if isinstance(node, dict):
        return ("@class" in node) + sum(count(v) for v in node.values())
    if isinstance(node, list):
        return sum(count(v) for v in node)
    return 0


def stamped_content(path: Path) -> dict:
    """What otio-dub stamped in a file: its mobs by role, its composition slots, their components."""
    with aaf2.open(str(path), "r") as f:
        roles: dict[str, int] = {}
        for mob in f.content.mobs:
            if stamped(mob):
                roles[stamped(mob)] = roles.get(stamped(mob), 0) + 1
        slots = [(s.slot_id, s.name, s["PhysicalTrackNumber"].value, len(s.segment.components))
                 for comp in f.content.compositionmobs() for s in comp.slots if stamped(s.segment)]
        return {"mobs": roles, "slots": slots, "essence": len(list(f.content.essencedata))}


def check_lossless(source: Path, output: Path) -> dict[str, int]:
    """Every object of ``source`` is in ``output`` unchanged; what was added is otio-dub's, stamped."""
    before, after = header_tree(source), header_tree(output)
    changed, added = diff(before, after)
    assert changed == [], changed  # the header's LastModified too: a patch is dated by its input, never the clock
    with aaf2.open(str(output), "r") as f:
        ours = {str(m.mob_id) for m in f.content.mobs if stamped(m)}
        comp_ids = {str(c.mob_id): c for c in f.content.compositionmobs()}
        identities = [str(i["ProductID"].value) for i in f.header["IdentificationList"].value]
    assert identities.count(PRODUCT_ID) == 1
    mobs = slots = 0
    for where in added:
        parts = where.split("/")
        if where.startswith("/Content/Mobs/") and len(parts) == 4:
            assert parts[3] in ours, where  # a new mob: otio-dub's
            mobs += 1
        elif where.startswith("/Content/Mobs/") and parts[4].startswith("Slots["):
            assert parts[3] in comp_ids and len(parts) == 5, where  # a new slot at the end of a composition
            slots += 1
        elif where.startswith("/Content/EssenceData"):  # embedded essence: the set, or entries of it
            keys = [parts[3]] if len(parts) > 3 else list(after["Content"]["EssenceData"])
            assert set(keys) <= ours, where
        else:
            assert where == f"/IdentificationList[{len(identities) - 1}]" or where.startswith("/Dictionary/"), where
    kept = {k: v for k, v in before["Content"]["Mobs"].items()}
    return {"mobs_kept": len(kept), "objects_compared": count(before["Content"]), "objects_in_header": count(before),
            "mobs_added": mobs, "slots_added": slots}


# ---------------------------------------------------------------------------------------------
# (1) lossless, (7) the input untouched
# ---------------------------------------------------------------------------------------------


def test_dub_patches_the_editors_aaf_losslessly(dubbed):
    assert dubbed.output.name == f"{Path(dubbed.name).stem}.dub.aaf"
    counts = check_lossless(dubbed.source, dubbed.output)
    tracks = {t.name for t in dubbed.result.timeline.tracks if (t.metadata.get("otio_dub") or {}).get("role") == "dub"}
    assert counts["slots_added"] == len(tracks) >= 2  # two ANNA lines overlap: an (overlap 2) track
    lines = len(dubbed.result.lines)
    assert counts["mobs_added"] == 2 * lines + 1  # a master and a file mob per line, one sound roll
    assert stamped_content(dubbed.output)["mobs"] == {"master": lines, "file": lines, "tape": 1}
    assert digest(dubbed.source) == dubbed.before  # (7) the editor's file is never written


@pytest.mark.parametrize("dubbed", ["rich.aaf"], indirect=True)
def test_rich_input_keeps_what_otio_cannot_model(dubbed):
    """The transition, effects, nested scope, marker and DF timecode are in the output as they were."""
    with aaf2.open(str(dubbed.output), "r") as f:
        comp = next(f.content.toplevel())
        kinds = {type(c).__name__ for s in comp.slots if isinstance(s.segment, aaf2.components.Sequence)
                 for c in s.segment.components}
        assert {"Transition", "OperationGroup", "NestedScope", "DescriptiveMarker"} <= kinds
        tc = comp.slot_at(1).segment
        assert (tc.start, bool(tc.drop), tc.fps) == (aaf_rich.START, True, 30)


# ---------------------------------------------------------------------------------------------
# (2) the dub clips at their frames, their media resolvable
# ---------------------------------------------------------------------------------------------


def composition_start(comp: object) -> int:
    return next(s.segment.start for s in comp.slots if isinstance(s.segment, aaf2.components.Timecode)
                and s["PhysicalTrackNumber"].value == 1)


def dub_clips(comp: object) -> dict[str, tuple[int, object, object]]:
    """Line id -> (record frame from the composition start, the SourceClip, its slot) in stamped slots."""
    found = {}
    for slot in comp.slots:
        if not stamped(slot.segment):
            continue
        at = 0
        for component in slot.segment.components:
            if isinstance(component, aaf2.components.SourceClip):
                found[component.mob.name] = (at, component, slot)
            at += component.length
        assert at == slot.segment.length
    return found


def url_path(url: str) -> Path:
    parsed = urlparse(url)
    assert parsed.scheme == "file", url
    return Path(unquote(parsed.path))


def check_dub_clips(output: Path, result: otio_dub.DubResult, embed: bool = False) -> None:
    with aaf2.open(str(output), "r") as f:
        comp = next(c for c in f.content.toplevel() if c.name == result.timeline.name)
        start = composition_start(comp)
        rate = Fraction(next(s.edit_rate for s in comp.slots if s.media_kind == "Picture"))
        picture = max(s["PhysicalTrackNumber"].value for s in comp.slots if s.media_kind == "Sound" and not stamped(s.segment))
        placed = dub_clips(comp)
        assert set(placed) == {row["id"] for row in result.lines}
        numbers = sorted(slot["PhysicalTrackNumber"].value for _, _, slot in placed.values())
        assert numbers[0] == picture + 1  # after the editor's audio tracks
        for row in result.lines:
            at, clip, slot = placed[row["id"]]
            record_in = otio.opentime.from_timecode(row["record_in"], float(rate)).value
            clip_out = otio.opentime.from_timecode(row["clip_out"], float(rate)).value
            assert (at + start, at + start + clip.length) == (record_in, clip_out), row["id"]
            assert Fraction(slot.edit_rate) == rate and slot.name.startswith("DUB ")
            master_slot = clip.mob.slot_at(clip.slot_id)
            file_mob = master_slot.segment.mob
            descriptor = file_mob.descriptor
            assert isinstance(descriptor, aaf2.essence.PCMDescriptor)
            assert Fraction(file_mob.slot_at(master_slot.segment.slot_id).edit_rate) == 48000
            media = result.out_dir / "media" / f"{row['id']}.wav"
            wav = wav_facts(media)
            assert descriptor["Length"].value == master_slot.segment.length == wav.frames
            assert (descriptor["QuantizationBits"].value, descriptor["BlockAlign"].value,
                    descriptor["AverageBPS"].value) == (wav.bits, wav.block_align, wav.average_bps)
            assert abs(Fraction(wav.frames) * rate / 48000 - clip.length) < 1  # the WAV is as long as the clip
            locators = [loc["URLString"].value for loc in descriptor["Locator"].value]
            if embed:
                assert locators == [] and len(file_mob.essence.open("r").read()) == wav.frames * wav.block_align
            else:
                assert [url_path(u) for u in locators] == [media.resolve()]


def test_dub_clips_sit_at_their_frames_with_their_media(dubbed):
    check_dub_clips(dubbed.output, dubbed.result)


def test_embedded_essence(tmp_path):
    made = Dubbed("rich.aaf", tmp_path, embed=True)
    check_lossless(made.source, made.output)
    check_dub_clips(made.output, made.result, embed=True)
    assert stamped_content(made.output)["essence"] == len(made.result.lines)


# ---------------------------------------------------------------------------------------------
# (3) idempotence, (5) OTIO reads the output
# ---------------------------------------------------------------------------------------------


def test_patching_the_patched_file_changes_nothing(dubbed):
    again = dubbed.tmp / "again.aaf"
    out = dubbed.result.out_dir
    tb = otio_dub.dialogue.lines.timebase_of(dubbed.result.timeline)
    patch(dubbed.output, dubbed.result.timeline, again, tb, out, out)
    changed, added = diff(header_tree(dubbed.output), header_tree(again))
    assert changed == [] and added == []  # same MobIDs, slots, components, dates: nothing doubled
    assert stamped_content(again) == stamped_content(dubbed.output)


@pytest.mark.parametrize("dubbed", ["avid_2997fps.aaf"], indirect=True)
def test_a_regenerated_dub_aaf_patched_again_loses_its_old_dub(dubbed, tmp_path):
    """An AAF otio-dub regenerated (a cross-format dub) stamps its dub too: patching it replaces that dub."""
    tb = otio_dub.dialogue.lines.timebase_of(dubbed.result.timeline)
    [regenerated] = write_timeline(dubbed.result.timeline, tmp_path, "regen", "aaf", tb, link_dir=dubbed.result.out_dir)
    before = stamped_content(regenerated)
    assert before["mobs"]["master"] == len(dubbed.result.lines) and before["slots"]
    again = tmp_path / "again.aaf"
    patch(regenerated, dubbed.result.timeline, again, tb, dubbed.result.out_dir, dubbed.result.out_dir)
    after = stamped_content(again)
    assert after["mobs"] == {"master": len(dubbed.result.lines), "file": len(dubbed.result.lines), "tape": 1}
    assert [name for _, name, _, _ in after["slots"]] == [name for _, name, _, _ in before["slots"]]
    with aaf2.open(str(again), "r") as f:
        assert len([s for s in next(f.content.toplevel()).slots if (s.name or "").startswith("DUB ")]) == len(after["slots"])


def test_output_reads_back_through_otio_with_the_dub_tracks(dubbed):
    back = otio.adapters.read_from_file(str(dubbed.output))
    if isinstance(back, otio.schema.SerializableCollection):
        back = next(iter(back.find_children(descended_from_type=otio.schema.Timeline)))
    rate = float(Fraction(dubbed.result.timeline.tracks[0].duration().rate))
    start = otio.opentime.to_frames(back.global_start_time, rate)
    found = {}
    for track in back.tracks:
        for clip in track.find_clips():
            if clip.name in {row["id"] for row in dubbed.result.lines}:
                found[clip.name] = (track.name, otio.opentime.to_frames(clip.range_in_parent().start_time, rate) + start)
                assert url_path(clip.media_reference.target_url).is_file()
    for row in dubbed.result.lines:
        record_in = otio.opentime.from_timecode(row["record_in"], rate).value
        assert found[row["id"]][0].startswith("DUB ") and found[row["id"]][1] == record_in
    originals = otio_dub.stages.pipeline.read_timeline(dubbed.source)
    assert len(back.tracks) == len(originals.tracks) + len({name for name, _ in found.values()})


def mob_trees(path: Path) -> tuple[dict[str, dict], set[str]]:
    """Each mob's tree (its stamped slots left out) by MobID, and the MobIDs otio-dub stamped."""
    with aaf2.open(str(path), "r") as f:
        trees, ours = {}, set()
        for mob in f.content.mobs:
            trees[str(mob.mob_id)] = {**tree(mob), "Slots": [tree(s) for s in mob.slots if not stamped(s.segment)]}
            if stamped(mob):
                ours.add(str(mob.mob_id))
        return trees, ours


def test_a_dub_clip_the_editor_reused_keeps_its_media(dubbed, tmp_path):
    """A dub master the editor laid on a track of their own (in Media Composer, then exported) is
    theirs now: a later patch keeps it and its chain, and adds the dub beside it."""
    edited = tmp_path / "edited.aaf"
    shutil.copyfile(dubbed.output, edited)
    with aaf2.open(str(edited), "rw") as f:
        comp = next(c for c in f.content.toplevel() if c.name == dubbed.result.timeline.name)
        line_id, (_, clip, _) = sorted(dub_clips(comp).items())[0]
        slot = comp.create_timeline_slot(next(s.edit_rate for s in comp.slots if s.media_kind == "Picture"))
        slot.name = "A9 editor"
        slot.segment = f.create.Sequence(media_kind="sound")
        slot.segment.components.append(clip.mob.create_source_clip(clip.slot_id, 0, clip.length, "sound"))
        slot.segment.length = clip.length
        file_mob = clip.mob.slot_at(clip.slot_id).segment.mob
        chain = {str(clip.mob.mob_id), str(file_mob.mob_id), str(file_mob.slot_at(1).segment.mob.mob_id)}
    again = tmp_path / "again.aaf"
    out = dubbed.result.out_dir
    patch(edited, dubbed.result.timeline, again, otio_dub.dialogue.lines.timebase_of(dubbed.result.timeline), out, out)
    (before, ours), (after, _) = mob_trees(edited), mob_trees(again)
    assert chain <= set(after) and set(before) - set(after) <= ours - chain  # only unused dub mobs went
    for mob_id in set(before) - (ours - chain):  # the dub's other mobs are written again
        assert diff(before[mob_id], after[mob_id]) == ([], []), mob_id  # the editor's slot, the reused chain: unchanged
    with aaf2.open(str(again), "r") as f:
        comp = next(c for c in f.content.toplevel() if c.name == dubbed.result.timeline.name)
        assert str(next(s for s in comp.slots if s.name == "A9 editor").segment.components[0].mob.mob_id) in chain
        placed = dub_clips(comp)
        assert set(placed) == {row["id"] for row in dubbed.result.lines}
        assert str(placed[line_id][1].mob.mob_id) not in chain  # the dub's own master, beside the editor's
    assert stamped_content(again)["mobs"]["master"] == len(dubbed.result.lines) + 1


# ---------------------------------------------------------------------------------------------
# (4) conform of a re-cut
# ---------------------------------------------------------------------------------------------


def test_conform_writes_the_new_cut_patched(tmp_path):
    (tmp_path / "one").mkdir()
    first = Dubbed("rich.aaf", tmp_path / "one")
    cut2 = aaf_rich.make_aaf(tmp_path / "rich2.aaf", 2)
    before = digest(cut2)
    script = tmp_path / "cut2.srt"
    script.write_text(srt(SCRIPTS["rich.aaf"], shift=30 * 1001 / 30000), encoding="utf-8")
    result = conform(first.result.timeline_path, cut2, tmp_path / "two", script, options(tmp_path / "one"))
    assert [c.kind for c in result.changes] == ["moved"] * 3
    [output] = result.dub.exports
    assert output.name == "rich2.dub.aaf"
    counts = check_lossless(cut2, output)
    assert counts["mobs_added"] == 2 * 3 + 1
    check_dub_clips(output, result.dub)
    assert digest(cut2) == before


# ---------------------------------------------------------------------------------------------
# (6) a damaged input: one line naming the file
# ---------------------------------------------------------------------------------------------


def test_truncated_aaf_is_one_clear_error(tmp_path):
    good = source_file("avid_simple.aaf", tmp_path)
    bad = tmp_path / "cut é.aaf"
    bad.write_bytes(good.read_bytes()[: 9000])
    held = digest(bad)
    timeline = otio_dub.stages.pipeline.read_timeline(good)
    tb = otio_dub.dialogue.lines.timebase_of(timeline)
    with pytest.raises(InputError) as caught:
        patch(bad, timeline, tmp_path / "out.aaf", tb, tmp_path, tmp_path)
    assert str(bad) in str(caught.value) and "\n" not in str(caught.value)
    folder = tmp_path / "seam"
    folder.mkdir()
    with pytest.raises(OtioDubError) as through_seam:  # formats.write_timeline, as the dub calls it
        write_timeline(timeline, folder, "cut", "aaf", tb, source=bad)
    assert str(bad) in str(through_seam.value) and list(folder.iterdir()) == []  # no half-written file left
    assert digest(bad) == held
    script = tmp_path / "s.srt"
    script.write_text(srt(SCRIPTS["avid_simple.aaf"]), encoding="utf-8")
    with pytest.raises(OtioDubError) as through_api:
        otio_dub.dub(bad, script, tmp_path / "d", options(tmp_path))
    assert str(bad) in str(through_api.value) and "\n" not in str(through_api.value)
    cli = CliRunner().invoke(main, ["dub", str(bad), "--script", str(script), "-o", str(tmp_path / "d2"),
                                    "--stems", "none", "-q"])
    errors = [line for line in cli.output.splitlines() if line.startswith("Error:")]
    assert cli.exit_code != 0 and "Traceback" not in cli.output and len(errors) == 1 and bad.name in errors[0]


def test_aaf_without_a_composition_is_named(tmp_path):
    path = tmp_path / "bin only.aaf"
    with aaf2.open(str(path), "w") as f:
        master = f.create.MasterMob("clip")
        f.content.mobs.append(master)
    timeline = otio.schema.Timeline("bin only")
    tb = otio_dub.dialogue.lines.timebase_of(otio_dub.stages.pipeline.read_timeline(DATA / "nle" / "avid_simple.aaf"))
    with pytest.raises(InputError, match="holds no composition"):
        patch(path, timeline, tmp_path / "out.aaf", tb, tmp_path, tmp_path)


# ---------------------------------------------------------------------------------------------
# the same inputs give the same bytes
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("embed", [False, True])
def test_the_same_inputs_give_byte_identical_aafs(tmp_path, embed):
    """Patching the same input twice, and writing the same timeline as a new AAF twice, give the same
    bytes: nothing is dated by the clock (the input's LastModified dates what a patch adds, a fixed
    time a new file) and every id is derived (MobIDs, the Identification's GenerationAUID)."""
    made = Dubbed("avid_2997fps.aaf", tmp_path, embed=embed)
    out, timeline = made.result.out_dir, made.result.timeline
    tb = otio_dub.dialogue.lines.timebase_of(timeline)
    for n in (1, 2):
        patch(made.source, timeline, tmp_path / f"patched{n}.aaf", tb, out, out, embed=embed)
        write_aaf(timeline, tmp_path / f"written{n}.aaf", tb, out, link_dir=out, embed=embed)
        time.sleep(0.05)  # a clock would have moved on
    assert (tmp_path / "patched1.aaf").read_bytes() == (tmp_path / "patched2.aaf").read_bytes()
    assert (tmp_path / "patched1.aaf").read_bytes() == made.output.read_bytes()  # as the pipeline wrote it
    assert (tmp_path / "written1.aaf").read_bytes() == (tmp_path / "written2.aaf").read_bytes()
    with aaf2.open(str(made.source), "r") as f:
        input_date = f.header["LastModified"].value
    with aaf2.open(str(tmp_path / "patched1.aaf"), "r") as f:
        [ours] = [i for i in f.header["IdentificationList"].value if str(i["ProductID"].value) == PRODUCT_ID]
        assert ours["Date"].value == f.header["LastModified"].value == input_date
        assert {m["CreationTime"].value for m in f.content.mobs if stamped(m)} == {input_date}
    with aaf2.open(str(tmp_path / "written1.aaf"), "r") as f:
        assert {m["LastModified"].value for m in f.content.mobs} == {WRITTEN_AT}
