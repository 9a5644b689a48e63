"""hooks/resolve/otio_dub_resolve.py against a fake DaVinci Resolve scripting API.

The fake implements exactly the calls the script makes, with the signatures of Blackmagic
Design's Developer/Scripting/README.txt; every attribute the script touches on a fake object is
recorded and must be in DOCUMENTED_API, so a call Resolve does not document fails here.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import opentimelineio as otio
import pytest

import otio_dub

ROOT = Path(__file__).resolve().parents[1]
SCRIPT_FILE = ROOT / "hooks" / "resolve" / "otio_dub_resolve.py"
RATE = 24.0
START = 86400  # 01:00:00:00 at 24 fps

#: Names from Resolve's scripting README (v18.5+), section "DaVinci Resolve API" per object, and
#: "Looking up timeline export properties" for the export constants.
DOCUMENTED_API = {
    "Resolve": {"GetProjectManager", "EXPORT_OTIO", "EXPORT_NONE"},
    "ProjectManager": {"GetCurrentProject"},
    "Project": {"GetName", "GetCurrentTimeline", "GetMediaPool", "GetTimelineCount", "GetTimelineByIndex",
                "SetCurrentTimeline"},
    "Timeline": {"GetName", "Export"},
    "MediaPool": {"GetRootFolder", "AddSubFolder", "SetCurrentFolder", "ImportMedia", "ImportTimelineFromFile"},
    "Folder": {"GetName", "GetSubFolderList"},
    "MediaPoolItem": set(),
}
#: importOptions keys of MediaPool.ImportTimelineFromFile in the same README.
DOCUMENTED_IMPORT_OPTIONS = {"timelineName", "importSourceClips", "sourceClipsPath", "sourceClipsFolders",
                             "interlaceProcessing"}


# ---------------------------------------------------------------------------------------------
# the fake Resolve
# ---------------------------------------------------------------------------------------------


class Api:
    """A fake Resolve object: every public attribute the script reads is logged as (kind, name)."""

    _kind = "?"

    def __init__(self, log: list) -> None:
        self._log = log

    def __getattribute__(self, name: str):
        if not name.startswith("_"):
            object.__getattribute__(self, "_log").append((type(self)._kind, name))
        return object.__getattribute__(self, name)


class FakeResolve(Api):
    _kind = "Resolve"
    EXPORT_NONE = 0  # real ints, as Resolve's constants are
    EXPORT_OTIO = 17

    def __init__(self, project: FakeProject | None, log: list) -> None:
        super().__init__(log)
        self._manager = FakeProjectManager(project, log)

    def GetProjectManager(self):
        return self._manager


class FakeProjectManager(Api):
    _kind = "ProjectManager"

    def __init__(self, project, log) -> None:
        super().__init__(log)
        self._project = project

    def GetCurrentProject(self):
        return self._project


class FakeProject(Api):
    _kind = "Project"

    def __init__(self, name: str, log: list) -> None:
        super().__init__(log)
        self._name = name
        self._timelines: list[FakeTimeline] = []
        self._current: FakeTimeline | None = None
        self._pool = FakeMediaPool(self, log)

    def GetName(self):
        return self._name

    def GetCurrentTimeline(self):
        return self._current

    def SetCurrentTimeline(self, timeline):
        assert timeline in self._timelines
        self._current = timeline
        return True

    def GetMediaPool(self):
        return self._pool

    def GetTimelineCount(self):
        return len(self._timelines)

    def GetTimelineByIndex(self, idx):
        assert 1 <= idx <= len(self._timelines), idx
        return self._timelines[idx - 1]


class FakeTimeline(Api):
    _kind = "Timeline"

    def __init__(self, name: str, content: otio.schema.Timeline, log: list, export_ok: bool = True) -> None:
        super().__init__(log)
        self._name = name
        self._content = content
        self._export_ok = export_ok
        self._exports: list[tuple] = []

    def GetName(self):
        return self._name

    def Export(self, fileName, exportType, exportSubtype):
        assert isinstance(fileName, str) and Path(fileName).is_absolute(), fileName
        self._exports.append((fileName, exportType, exportSubtype))
        if exportType != FakeResolve.EXPORT_OTIO or not self._export_ok:
            return False
        timeline = self._content.clone()
        timeline.name = self._name
        otio.adapters.write_to_file(timeline, fileName)
        return True


class FakeFolder(Api):
    _kind = "Folder"

    def __init__(self, name: str, log: list) -> None:
        super().__init__(log)
        self._name = name
        self._subfolders: list[FakeFolder] = []
        self._clips: list = []

    def GetName(self):
        return self._name

    def GetSubFolderList(self):
        return list(self._subfolders)


class FakeMediaPoolItem(Api):
    _kind = "MediaPoolItem"

    def __init__(self, path: str, log: list) -> None:
        super().__init__(log)
        self._path = path


class FakeMediaPool(Api):
    _kind = "MediaPool"

    def __init__(self, project: FakeProject, log: list, import_ok: bool = True) -> None:
        super().__init__(log)
        self._project = project
        self._root = FakeFolder("Master", log)
        self._current = self._root
        self._import_ok = import_ok
        self._imports: list[tuple] = []

    def GetRootFolder(self):
        return self._root

    def AddSubFolder(self, folder, name):
        assert isinstance(folder, FakeFolder) and isinstance(name, str)
        sub = FakeFolder(name, self._log)
        folder._subfolders.append(sub)
        return sub

    def SetCurrentFolder(self, Folder):
        assert isinstance(Folder, FakeFolder)
        self._current = Folder
        return True

    def ImportMedia(self, items):
        assert isinstance(items, list)
        made = []
        for path in items:
            assert isinstance(path, str) and Path(path).is_file(), path
            item = FakeMediaPoolItem(path, self._log)
            self._current._clips.append(item)
            made.append(item)
        return made

    def ImportTimelineFromFile(self, filePath, importOptions):
        assert isinstance(filePath, str) and Path(filePath).is_file(), filePath
        assert set(importOptions) <= DOCUMENTED_IMPORT_OPTIONS, importOptions
        self._imports.append((filePath, dict(importOptions)))
        content = otio.adapters.read_from_file(filePath)  # Resolve reads it as OTIO
        name = importOptions.get("timelineName", content.name)
        if not self._import_ok or any(t._name == name for t in self._project._timelines):
            return None
        timeline = FakeTimeline(name, content, self._log)
        self._project._timelines.append(timeline)
        self._current._clips.append(timeline)
        return timeline


# ---------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------


def rt(frames: int) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(frames, RATE)


def resolve_like_timeline(markers: bool = True) -> otio.schema.Timeline:
    """What Resolve exports for a small cut: V1 and "Audio 1" with two dialogue clips that carry
    ``CHARACTER: text`` clip markers (or none, to dub from a script)."""
    timeline = otio.schema.Timeline("Reel 1", global_start_time=rt(START))
    video = otio.schema.Track("Video 1", kind=otio.schema.TrackKind.Video)
    video.append(otio.schema.Clip("A001_C003.mov", media_reference=otio.schema.ExternalReference("/media/A001_C003.mov"),
                                  source_range=otio.opentime.TimeRange(rt(START), rt(120))))
    audio = otio.schema.Track("Audio 1", kind=otio.schema.TrackKind.Audio)
    lines = [("ANNA: Is that you out there?", 12, 60), ("MARCUS: Who else would it be?", 72, 120)]
    cursor = 0
    for n, (text, record_in, record_out) in enumerate(lines, 1):
        audio.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=rt(record_in - cursor))))
        clip = otio.schema.Clip(f"A001_C003_dia{n}.wav",
                                source_range=otio.opentime.TimeRange(rt(START + record_in), rt(record_out - record_in)))
        if markers:
            clip.markers.append(otio.schema.Marker(name=text, marked_range=otio.opentime.TimeRange(rt(START + record_in), rt(1))))
        audio.append(clip)
        cursor = record_out
    timeline.tracks.extend([video, audio])
    return timeline


SRT = """1
00:00:00,500 --> 00:00:02,500
ANNA: Is that you out there?

2
00:00:03,000 --> 00:00:05,000
MARCUS: Who else would it be?
"""


@pytest.fixture(scope="module")
def script_module():
    """The script, loaded by path: hooks/resolve is a folder of files to copy, not a package."""
    spec = importlib.util.spec_from_file_location("otio_dub_resolve_under_test", SCRIPT_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


class Studio:
    """A fake Resolve with one project whose current timeline is ``content``, plus its call log."""

    def __init__(self, content: otio.schema.Timeline | None = None, project: bool = True,
                 export_ok: bool = True, import_ok: bool = True) -> None:
        self.log: list[tuple[str, str]] = []
        self.project = FakeProject("Last Train: EN/DE", self.log) if project else None
        if self.project is not None and content is not None:
            self.timeline = FakeTimeline("Reel 1", content, self.log, export_ok=export_ok)
            self.project._timelines.append(self.timeline)
            self.project._current = self.timeline
            self.project._pool._import_ok = import_ok
        self.resolve = FakeResolve(self.project, self.log)

    @property
    def pool(self) -> FakeMediaPool:
        return self.project._pool


@pytest.fixture
def env(tmp_path):
    """An environment with none of the script's variables: nothing leaks in from the machine."""
    return {"HOME": str(tmp_path / "home")}


def printed(capsys) -> list[str]:
    return capsys.readouterr().out.splitlines()


# ---------------------------------------------------------------------------------------------
# the whole round trip
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def round_trip(script_module, tmp_path_factory):
    """One real dub of a marker-only Resolve timeline through the fake, no script configured."""
    studio = Studio(resolve_like_timeline())
    out_root = tmp_path_factory.mktemp("resolve_out")
    outcome = script_module.run(studio.resolve, out_root=out_root, env={})
    return studio, outcome, out_root


def test_round_trip_imports_the_dub_timeline_and_makes_it_current(round_trip):
    studio, outcome, out_root = round_trip
    assert outcome.ok, outcome.message
    folder = out_root / "Last Train_ EN_DE" / "Reel 1"  # ':' and '/' cannot be in a folder name
    assert outcome.out_dir == folder
    assert outcome.export_path == folder / "Reel 1.otio" and outcome.export_path.is_file()
    assert studio.timeline._exports == [(str(folder / "Reel 1.otio"), FakeResolve.EXPORT_OTIO, FakeResolve.EXPORT_NONE)]
    assert outcome.script is None  # the lines came from the clip markers

    [(path, options)] = studio.pool._imports
    # Resolve imports a copy of the .dub.otio whose dub clips name their media by absolute file URL
    assert path == str(folder / "Reel 1.dub.resolve.otio")
    imported = otio.adapters.read_from_file(path)
    urls = [c.media_reference.target_url for t in imported.tracks[2:] for c in t.find_clips()]
    assert urls and all(u.startswith("file://") and Path(unquote(urlparse(u).path)).is_file() for u in urls)
    assert options == {"timelineName": "Reel 1 DUB", "importSourceClips": True, "sourceClipsPath": str(folder)}
    dubbed = studio.project._current
    assert dubbed is outcome.timeline and dubbed._name == "Reel 1 DUB"
    tracks = [t.name for t in dubbed._content.tracks]
    assert tracks[:2] == ["Video 1", "Audio 1"]
    assert sorted(tracks[2:]) == ["DUB en ANNA", "DUB en MARCUS"]
    texts = sorted(c.metadata["otio_dub"]["text"] for t in dubbed._content.tracks[2:] for c in t.find_clips())
    assert texts == ["Is that you out there?", "Who else would it be?"]


def test_round_trip_fills_a_bin_named_after_the_timeline(round_trip):
    studio, outcome, _ = round_trip
    [media_bin] = studio.pool._root._subfolders
    assert media_bin._name == "otio-dub Reel 1" and outcome.bin is media_bin
    result = outcome.result
    paths = [Path(item._path) for item in media_bin._clips if isinstance(item, FakeMediaPoolItem)]
    stems = set(result.stems.values())
    # the stems only: line media arrive with the timeline (importSourceClips), not a second time
    assert set(paths) == stems and len(paths) == len(stems) == 3
    assert {p.parent.name for p in stems} == {"stems"}
    assert all(p.is_file() for p in paths)
    assert outcome.timeline in media_bin._clips  # the timeline was imported with the bin current
    assert [f for f in result.out_dir.iterdir() if f.name.startswith(".otio-dub-staging")] == []


def test_every_resolve_call_is_documented(round_trip):
    studio, _, _ = round_trip
    used = set(studio.log)
    undocumented = {(kind, name) for kind, name in used if name not in DOCUMENTED_API.get(kind, set())}
    assert undocumented == set()
    called = {name for _, name in used}
    assert {"Export", "ImportMedia", "ImportTimelineFromFile", "SetCurrentTimeline", "AddSubFolder",
            "SetCurrentFolder", "EXPORT_OTIO", "EXPORT_NONE"} <= called


def test_the_recorder_would_catch_an_undocumented_call():
    studio = Studio(resolve_like_timeline())
    studio.resolve.GetProjectManager().GetCurrentProject().GetMediaPool()
    with pytest.raises(AttributeError):
        studio.resolve.GetMediaStorage()  # real Resolve has it; the script must not need it
    assert ("Resolve", "GetMediaStorage") in studio.log
    assert "GetMediaStorage" not in DOCUMENTED_API["Resolve"]


def test_a_second_run_keeps_the_first_dub_and_reuses_the_bin(script_module, tmp_path, env):
    studio = Studio(resolve_like_timeline())
    first = script_module.run(studio.resolve, out_root=tmp_path, env=env)
    studio.project._current = studio.timeline  # the editor goes back to the cut and dubs again
    second = script_module.run(studio.resolve, out_root=tmp_path, env=env)
    assert first.ok and second.ok
    assert [t._name for t in studio.project._timelines] == ["Reel 1", "Reel 1 DUB", "Reel 1 DUB 2"]
    assert studio.project._current._name == "Reel 1 DUB 2"
    assert len(studio.pool._root._subfolders) == 1 and first.bin is second.bin


# ---------------------------------------------------------------------------------------------
# where the dialogue, the cast and the output go
# ---------------------------------------------------------------------------------------------


def test_a_script_beside_the_export_is_used(script_module, tmp_path, env):
    studio = Studio(resolve_like_timeline(markers=False))
    folder = tmp_path / "Last Train_ EN_DE" / "Reel 1"
    folder.mkdir(parents=True)
    (folder / "Reel 1.srt").write_text(SRT, encoding="utf-8")
    outcome = script_module.run(studio.resolve, out_root=tmp_path, env=env)
    assert outcome.ok, outcome.message
    assert outcome.script == folder / "Reel 1.srt"
    assert [row["character"] for row in outcome.result.lines] == ["ANNA", "MARCUS"]
    assert [row["origin"] for row in outcome.result.lines] == ["Reel 1.srt event 1", "Reel 1.srt event 2"]


def test_environment_names_the_output_script_and_cast(script_module, tmp_path):
    script = tmp_path / "elsewhere" / "dub.srt"
    script.parent.mkdir()
    script.write_text(SRT, encoding="utf-8")
    cast = tmp_path / "elsewhere" / "cast.toml"
    cast.write_text('[characters.ANNA]\nvoice = "en-us+f3"\n', encoding="utf-8")
    seen = {}

    def fake_dub(timeline, script=None, out_dir=None, options=None, progress=None):
        seen.update(timeline=timeline, script=script, out_dir=out_dir, options=options)
        return otio_dub.dub(timeline, script=script, out_dir=out_dir, options=options, progress=progress)

    env = {"OTIO_DUB_RESOLVE_OUT": str(tmp_path / "dubs"), "OTIO_DUB_SCRIPT": str(script), "OTIO_DUB_CAST": str(cast)}
    outcome = script_module.run(Studio(resolve_like_timeline(markers=False)).resolve, env=env, dub=fake_dub)
    assert outcome.ok, outcome.message
    assert seen["out_dir"] == tmp_path / "dubs" / "Last Train_ EN_DE" / "Reel 1"
    assert seen["script"] == script and seen["options"].cast == cast
    assert "en-us+f3" in outcome.result.voices["ANNA (en)"]


def test_arguments_win_over_the_environment(script_module, tmp_path):
    seen = {}

    def fake_dub(timeline, script=None, out_dir=None, options=None, progress=None):
        seen.update(script=script, options=options, out_dir=out_dir)
        raise otio_dub.InputError(str(timeline), "stop here")

    env = {"OTIO_DUB_SCRIPT": "/nowhere/env.srt", "OTIO_DUB_CAST": "/nowhere/env.toml",
           "OTIO_DUB_RESOLVE_OUT": str(tmp_path / "env")}
    options = otio_dub.DubOptions(lang="de")
    script_module.run(Studio(resolve_like_timeline()).resolve, out_root=tmp_path / "arg", script_path="/x/arg.srt",
                      cast_path="/x/arg.toml", options=options, env=env, dub=fake_dub)
    assert seen["script"] == Path("/x/arg.srt") and seen["options"].cast == Path("/x/arg.toml")
    assert seen["options"].lang == "de" and seen["out_dir"].parts[-3] == "arg"


# ---------------------------------------------------------------------------------------------
# failures: one printed line, a failed Outcome, nothing imported
# ---------------------------------------------------------------------------------------------


def assert_one_error_line(lines: list[str], *words: str) -> str:
    errors = [line for line in lines if line.startswith("otio-dub: error: ")]
    assert len(errors) == 1, lines
    assert not any("Traceback" in line for line in lines)
    assert all(word in errors[0] for word in words), errors[0]
    return errors[0]


def test_no_project(script_module, tmp_path, env, capsys):
    outcome = script_module.run(Studio(project=False).resolve, out_root=tmp_path, env=env)
    assert not outcome.ok and "no project" in outcome.message
    lines = printed(capsys)
    assert lines == ["otio-dub: error: no project is open in DaVinci Resolve"]


def test_no_current_timeline(script_module, tmp_path, env, capsys):
    studio = Studio(content=None)
    outcome = script_module.run(studio.resolve, out_root=tmp_path, env=env)
    assert not outcome.ok
    assert printed(capsys) == ["otio-dub: error: project 'Last Train: EN/DE' has no current timeline: "
                               "open one in the Edit page"]


def test_export_refused(script_module, tmp_path, env, capsys):
    studio = Studio(resolve_like_timeline(), export_ok=False)
    outcome = script_module.run(studio.resolve, out_root=tmp_path, env=env)
    assert not outcome.ok
    lines = printed(capsys)
    assert len(lines) == 1
    assert_one_error_line(lines, "could not export timeline 'Reel 1' as OTIO", "Reel 1.otio")
    assert studio.pool._imports == [] and studio.pool._root._subfolders == []


def test_export_claimed_but_no_file_is_a_failure_too(script_module, tmp_path, env, capsys):
    studio = Studio(resolve_like_timeline())
    studio.timeline.Export = lambda fileName, exportType, exportSubtype: True  # says yes, writes nothing
    outcome = script_module.run(studio.resolve, out_root=tmp_path, env=env)
    assert not outcome.ok
    assert_one_error_line(printed(capsys), "could not export")


def test_otio_dub_error_is_one_line(script_module, tmp_path, env, capsys):
    studio = Studio(resolve_like_timeline(markers=False))  # no markers, no metadata, no script
    outcome = script_module.run(studio.resolve, out_root=tmp_path, env=env)
    assert not outcome.ok and "no dialogue lines found" in outcome.message
    lines = printed(capsys)
    assert_one_error_line(lines, "no dialogue lines found")
    assert lines[-1].startswith("otio-dub: error: ")
    assert studio.pool._imports == [] and studio.pool._root._subfolders == []


def test_a_bad_house_engine_is_one_line(script_module, tmp_path, env, capsys, monkeypatch):
    """$OTIO_DUB_ENGINE with a typo: the script's one error line names the variable, no traceback."""
    monkeypatch.setenv("OTIO_DUB_ENGINE", "pipper")
    studio = Studio(resolve_like_timeline())
    outcome = script_module.run(studio.resolve, out_root=tmp_path, env=env)
    assert not outcome.ok and outcome.message.startswith("$OTIO_DUB_ENGINE: unknown engine 'pipper'")
    assert_one_error_line(printed(capsys), "$OTIO_DUB_ENGINE")
    assert studio.pool._imports == []


def test_a_missing_script_is_named(script_module, tmp_path, env, capsys):
    outcome = script_module.run(Studio(resolve_like_timeline()).resolve, out_root=tmp_path, env=env,
                                script_path=tmp_path / "gone.srt")
    assert not outcome.ok
    assert_one_error_line(printed(capsys), "gone.srt", "not found")


def test_timeline_import_refused(script_module, tmp_path, env, capsys):
    studio = Studio(resolve_like_timeline(), import_ok=False)
    outcome = script_module.run(studio.resolve, out_root=tmp_path, env=env)
    assert not outcome.ok
    assert_one_error_line(printed(capsys), "could not import", "Reel 1.dub.otio", str(outcome.out_dir))
    assert studio.project._current is studio.timeline
    assert (outcome.out_dir / "Reel 1.dub.otio").is_file()  # the dub itself is kept


def test_otio_dub_not_importable(script_module, tmp_path, env, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "otio_dub", None)  # as in a Resolve Python that cannot see it
    outcome = script_module.run(Studio(resolve_like_timeline()).resolve, out_root=tmp_path, env=env)
    assert not outcome.ok
    assert_one_error_line(printed(capsys), "cannot import otio_dub", "OTIO_DUB_SITE_PACKAGES")


# ---------------------------------------------------------------------------------------------
# finding otio-dub and Resolve
# ---------------------------------------------------------------------------------------------


def test_site_packages_from_the_environment_go_first_with_their_pth_files(script_module, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    packages = tmp_path / "site-packages"
    (packages / "src").mkdir(parents=True)
    (packages / "editable.pth").write_text(str(packages / "src") + "\n", encoding="utf-8")
    added = script_module.add_site_packages({"OTIO_DUB_SITE_PACKAGES": str(packages)})
    assert set(added) == {str(packages), str(packages / "src")}
    assert set(sys.path[:2]) == set(added)


def test_a_missing_site_packages_folder_warns(script_module, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert script_module.add_site_packages({"OTIO_DUB_SITE_PACKAGES": str(tmp_path / "nope")}) == []
    assert printed(capsys) == [f"otio-dub: warning: site-packages folder {tmp_path / 'nope'} does not exist"]


def test_find_resolve_in_each_place_resolve_puts_it(script_module, monkeypatch):
    monkeypatch.setitem(sys.modules, "DaVinciResolveScript", None)  # not on this machine
    fake = object()

    class App:
        def GetResolve(self):
            return fake

    class Bmd:
        def scriptapp(self, name):
            return fake if name == "Resolve" else None

    assert script_module.find_resolve({"resolve": fake}) is fake
    assert script_module.find_resolve({"app": App()}) is fake
    assert script_module.find_resolve({"bmd": Bmd()}) is fake
    assert script_module.find_resolve({}) is None


def test_find_resolve_outside_resolve_uses_davinciresolvescript(script_module, monkeypatch):
    fake = object()

    class Module:
        @staticmethod
        def scriptapp(name):
            return fake if name == "Resolve" else None

    monkeypatch.setitem(sys.modules, "DaVinciResolveScript", Module)
    assert script_module.find_resolve({}) is fake


@pytest.fixture
def console_logging(monkeypatch):
    """main() adds a Console handler to the otio_dub logger: undo it after the test."""
    logger = logging.getLogger("otio_dub")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "level", logger.level)


def test_main_without_resolve_says_so(script_module, monkeypatch, capsys, console_logging):
    monkeypatch.setitem(sys.modules, "DaVinciResolveScript", None)
    monkeypatch.setattr(script_module, "find_resolve", lambda namespace=None: None)
    assert script_module.main() == 1
    assert_one_error_line(printed(capsys), "not reachable", "Workspace > Scripts")


def test_main_runs_on_the_resolve_it_finds(script_module, tmp_path, monkeypatch, capsys, console_logging):
    studio = Studio(resolve_like_timeline(markers=False))
    monkeypatch.setattr(script_module, "find_resolve", lambda namespace=None: studio.resolve)
    monkeypatch.setenv("OTIO_DUB_RESOLVE_OUT", str(tmp_path))
    for name in ("OTIO_DUB_SCRIPT", "OTIO_DUB_CAST"):
        monkeypatch.delenv(name, raising=False)
    assert script_module.main() == 1  # no lines in this timeline: a clean failure, exit code 1
    assert_one_error_line(printed(capsys), "no dialogue lines found")
