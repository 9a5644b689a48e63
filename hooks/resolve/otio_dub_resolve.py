"""otio-dub for DaVinci Resolve: dub the current timeline from Workspace > Scripts.

Copy this file into Resolve's Fusion/Scripts/Utility (or Edit) folder and pick
Workspace > Scripts > otio_dub_resolve. It

1. exports the current timeline as OTIO into ``<out>/<project>/<timeline>/<timeline>.otio``,
2. dubs it with otio-dub into that same folder (a subtitle script or dialogue list is used when
   one is configured or lies beside the export; otherwise the timeline's own clip metadata or
   ``CHARACTER: text`` markers on the dialogue clips give the lines),
3. imports the stems and line media into a media-pool bin ``otio-dub <timeline>`` and the
   ``.dub.otio`` as a new timeline ``<timeline> DUB``, and makes that the current timeline.

Everything it prints goes to Resolve's Console (Workspace > Console), one line per step; an
error is one line starting ``otio-dub: error:``, never a traceback.

Resolve API calls used, by the names of Blackmagic Design's Developer/Scripting/README.txt
(v18.5 and later), section "DaVinci Resolve API":
  Resolve:        GetProjectManager(), EXPORT_OTIO, EXPORT_NONE
                  (constants: section "Looking up timeline export properties")
  ProjectManager: GetCurrentProject()
  Project:        GetName(), GetCurrentTimeline(), GetMediaPool(), GetTimelineCount(),
                  GetTimelineByIndex(idx), SetCurrentTimeline(timeline)
  Timeline:       GetName(), Export(fileName, exportType, exportSubtype)
  MediaPool:      GetRootFolder(), AddSubFolder(folder, name), SetCurrentFolder(Folder),
                  ImportMedia([items...]),
                  ImportTimelineFromFile(filePath, {importOptions}) with the keys
                  "timelineName", "importSourceClips", "sourceClipsPath"
  Folder:         GetName(), GetSubFolderList()
Getting the resolve object: section "Using a script" (``DaVinciResolveScript.scriptapp``).
tests/test_resolve_script.py fails if this script touches any other name.
"""

from __future__ import annotations

import logging
import os
import re
import site
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

# -------------------------------------------------------------------------------------------
# Settings. Resolve runs scripts with its own Python, which usually cannot see otio-dub:
# point SITE_PACKAGES (or the environment variable OTIO_DUB_SITE_PACKAGES, several paths
# joined with os.pathsep) at the site-packages folder of the environment otio-dub is installed
# in, e.g. "/home/me/otio-dub/.venv/lib/python3.11/site-packages". That environment's Python
# must be the same major.minor version as the Python Resolve runs.
# -------------------------------------------------------------------------------------------
SITE_PACKAGES = ""
OUT_ROOT = ""  # where dubs go; also OTIO_DUB_RESOLVE_OUT; default ~/otio-dub/resolve
SCRIPT = ""  # a subtitle script / dialogue list to dub from; also OTIO_DUB_SCRIPT
CAST = ""  # a cast file; also OTIO_DUB_CAST

ENV_SITE_PACKAGES = "OTIO_DUB_SITE_PACKAGES"
ENV_OUT = "OTIO_DUB_RESOLVE_OUT"
ENV_SCRIPT = "OTIO_DUB_SCRIPT"
ENV_CAST = "OTIO_DUB_CAST"

PREFIX = "otio-dub: "


@dataclass
class Outcome:
    """What a run did: ``ok`` and a one-line ``message``, plus what it made when it got that far."""

    ok: bool
    message: str
    out_dir: Path | None = None
    export_path: Path | None = None
    script: Path | None = None
    result: object | None = None  # otio_dub.DubResult
    timeline: object | None = None  # the imported Resolve Timeline
    bin: object | None = None  # the media-pool Folder
    imported: list[Path] = field(default_factory=list)


def say(message: str) -> None:
    """One line on Resolve's Console (stdout)."""
    print(PREFIX + message, flush=True)


def fail(message: str, **made: object) -> Outcome:
    say("error: " + message)
    return Outcome(False, message, **made)


def add_site_packages(env: Mapping[str, str] | None = None) -> list[str]:
    """Put SITE_PACKAGES and $OTIO_DUB_SITE_PACKAGES at the front of sys.path, .pth files included
    (an editable install is found through one). Returns the entries added."""
    env = os.environ if env is None else env
    wanted = [SITE_PACKAGES, *env.get(ENV_SITE_PACKAGES, "").split(os.pathsep)]
    added: list[str] = []
    for entry in (w.strip() for w in wanted):
        if not entry:
            continue
        if not Path(entry).is_dir():
            say(f"warning: site-packages folder {entry} does not exist")
            continue
        before = list(sys.path)
        site.addsitedir(entry)  # appends the folder and what its .pth files name
        new = [p for p in sys.path if p not in before]
        sys.path[:] = new + before
        added += new
    return added


def load_otio_dub(env: Mapping[str, str] | None = None) -> object:
    """The otio_dub module; raises ImportError with a one-line message saying how to fix it."""
    add_site_packages(env)
    try:
        import otio_dub
    except ImportError as exc:
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        raise ImportError(
            f"cannot import otio_dub ({exc}); set {ENV_SITE_PACKAGES} or SITE_PACKAGES at the top of "
            f"{Path(__file__).name} to the site-packages folder otio-dub is installed in "
            f"(a Python {version} environment, the version Resolve runs)"
        ) from None
    return otio_dub


def safe_name(name: object, fallback: str) -> str:
    """A project or timeline name usable as a file or folder name on every OS."""
    cleaned = re.sub(r'[<>:"/\\|?*\x00-\x1f]', "_", str(name or "")).strip().rstrip(". ")
    return cleaned or fallback


def script_beside(folder: Path, stem: str, suffixes: tuple[str, ...]) -> Path | None:
    """``<stem>.srt`` / ``.ass`` / ... in ``folder`` (the export's folder), first suffix first."""
    for suffix in suffixes:
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def find_bin(media_pool: object, name: str) -> object | None:
    """The root folder's subfolder ``name``, created when missing."""
    root = media_pool.GetRootFolder()
    if root is None:
        return None
    for folder in root.GetSubFolderList() or []:
        if folder.GetName() == name:
            return folder
    return media_pool.AddSubFolder(root, name)


def unused_timeline_name(project: object, wanted: str) -> str:
    """``wanted``, or ``wanted 2``, ``wanted 3``... when the project already has a timeline so named."""
    taken = set()
    for index in range(1, int(project.GetTimelineCount() or 0) + 1):
        timeline = project.GetTimelineByIndex(index)
        if timeline is not None:
            taken.add(timeline.GetName())
    name, n = wanted, 1
    while name in taken:
        n += 1
        name = f"{wanted} {n}"
    return name


def run(
    resolve: object,
    out_root: str | Path | None = None,
    script_path: str | Path | None = None,
    cast_path: str | Path | None = None,
    options: object | None = None,
    dub: Callable[..., object] | None = None,
    env: Mapping[str, str] | None = None,
    import_source_clips: bool = True,
) -> Outcome:
    """Export Resolve's current timeline, dub it, import the dub back. Never raises for an
    otio-dub error: it prints one line and returns ``Outcome(ok=False, ...)``.

    ``options`` is an ``otio_dub.DubOptions`` (default: otio-dub's defaults); ``dub`` replaces
    ``otio_dub.dub`` (tests); ``env`` replaces ``os.environ``.
    """
    env = os.environ if env is None else env
    try:
        otio_dub = load_otio_dub(env)
    except ImportError as exc:
        return fail(str(exc))
    dub = dub or otio_dub.dub
    from otio_dub.dialogue.dialogue_list import LIST_SUFFIXES
    from otio_dub.dialogue.script import SCRIPT_SUFFIXES

    manager = resolve.GetProjectManager()
    project = manager.GetCurrentProject() if manager is not None else None
    if project is None:
        return fail("no project is open in DaVinci Resolve")
    project_name = project.GetName() or "project"
    timeline = project.GetCurrentTimeline()
    if timeline is None:
        return fail(f"project {project_name!r} has no current timeline: open one in the Edit page")
    timeline_name = timeline.GetName() or "timeline"

    root = Path(out_root or env.get(ENV_OUT) or OUT_ROOT or Path.home() / "otio-dub" / "resolve").expanduser()
    stem = safe_name(timeline_name, "timeline")
    folder = root / safe_name(project_name, "project") / stem
    export_path = folder / f"{stem}.otio"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        export_path.unlink(missing_ok=True)  # so a failed export cannot pass for a stale one
    except OSError as exc:
        return fail(f"{folder}: cannot write there ({exc.strerror})")

    # "Looking up timeline export properties": exportSubtype matters only for AAF and EDL.
    export_otio = getattr(resolve, "EXPORT_OTIO", None)
    if export_otio is None:
        return fail("this DaVinci Resolve cannot export OTIO from a script (needs 18.5 or later)")
    if not timeline.Export(str(export_path), export_otio, resolve.EXPORT_NONE) or not export_path.is_file():
        return fail(f"Resolve could not export timeline {timeline_name!r} as OTIO to {export_path}",
                    out_dir=folder)
    say(f"exported {timeline_name!r} to {export_path}")

    script = script_path or env.get(ENV_SCRIPT) or SCRIPT or script_beside(folder, stem, SCRIPT_SUFFIXES + LIST_SUFFIXES)
    script = Path(script).expanduser() if script else None
    try:
        options = options or otio_dub.DubOptions()  # reads $OTIO_DUB_ENGINE: a bad one is the user's to fix
    except otio_dub.OtioDubError as exc:
        return fail(str(exc), out_dir=folder, export_path=export_path, script=script)
    cast = cast_path
    if not cast and options.cast is None:  # a cast given in options wins over the environment
        cast = env.get(ENV_CAST) or CAST or next(
            (p for p in (folder / "cast.toml", folder.parent / "cast.toml") if p.is_file()), None)
    if cast:
        options = replace(options, cast=Path(cast).expanduser())
    source = script or "the timeline's clip metadata and CHARACTER: text markers"
    cast_note = f", cast {options.cast}" if isinstance(options.cast, (str, Path)) else ""
    say(f"dubbing {timeline_name!r} from {source}{cast_note} into {folder}")

    def progress(done: int, total: int, line: object) -> None:
        say(f"{done}/{total} {line.id} {line.character}")

    try:
        result = dub(export_path, script=script, out_dir=folder, options=options, progress=progress)
    except otio_dub.OtioDubError as exc:
        return fail(str(exc), out_dir=folder, export_path=export_path, script=script)
    counts = ", ".join(f"{n} {status}" for status, n in result.summary.items() if status != "lines" and n)
    say(f"{result.summary.get('lines', len(result.lines))} lines: {counts}")
    for character, voice in result.voices.items():
        say(f"voice {character}: {voice}")

    media_pool = project.GetMediaPool()
    bin_name = f"otio-dub {timeline_name}"
    media_bin = find_bin(media_pool, bin_name) if media_pool is not None else None
    made = dict(out_dir=folder, export_path=export_path, script=script, result=result)
    if media_bin is None:
        return fail(f"Resolve could not make the media-pool bin {bin_name!r}; the dub is in {folder}", **made)
    media_pool.SetCurrentFolder(media_bin)

    # the stems only: the line media come in with the timeline import below (importSourceClips)
    files = list(dict.fromkeys(result.stems.values())) if import_source_clips else list(dict.fromkeys(
        [*result.stems.values(), *(result.out_dir / row["media"] for row in result.lines)]))
    files = [Path(f) for f in files if Path(f).is_file()]
    items = media_pool.ImportMedia([str(f) for f in files]) or []
    if len(items) < len(files):
        say(f"warning: Resolve imported {len(items)} of {len(files)} files into bin {bin_name!r}")

    new_name = unused_timeline_name(project, f"{timeline_name} DUB")
    # Resolve gets a copy of the dub timeline whose clips name their media by absolute file URL;
    # "sourceClipsPath" is the fallback where Resolve looks for clips it cannot find at their path.
    import opentimelineio as otio

    from otio_dub.audio.bwf import write_text_atomic
    from otio_dub.timelines.formats import absolute_media

    for_resolve = result.out_dir / f"{result.timeline_path.stem}.resolve.otio"
    write_text_atomic(for_resolve, otio.adapters.write_to_string(absolute_media(result.timeline, result.out_dir), "otio_json"))
    import_options = {"timelineName": new_name, "importSourceClips": import_source_clips,
                      "sourceClipsPath": str(result.out_dir)}
    dubbed = media_pool.ImportTimelineFromFile(str(for_resolve), import_options)
    if dubbed is None:
        return fail(f"Resolve could not import {result.timeline_path} as a timeline; the dub is in {folder}",
                    bin=media_bin, imported=files, **made)
    if not project.SetCurrentTimeline(dubbed):
        say(f"warning: could not switch to timeline {new_name!r}")
    message = f"timeline {new_name!r} and {len(files)} files in bin {bin_name!r}; report: {result.report_path}"
    say(message)
    return Outcome(True, message, timeline=dubbed, bin=media_bin, imported=files, **made)


def find_resolve(namespace: Mapping[str, object] | None = None) -> object | None:
    """The Resolve object: the ``resolve`` global Resolve gives scripts, ``app.GetResolve()``,
    ``bmd.scriptapp("Resolve")``, or outside Resolve ``DaVinciResolveScript.scriptapp("Resolve")``."""
    if namespace is None:
        import __main__
        namespace = {**vars(__main__), **globals()}
    candidates: list[Callable[[], object]] = []
    if namespace.get("resolve") is not None:
        candidates.append(lambda: namespace["resolve"])
    if namespace.get("app") is not None:
        candidates.append(lambda: namespace["app"].GetResolve())
    if namespace.get("bmd") is not None:
        candidates.append(lambda: namespace["bmd"].scriptapp("Resolve"))

    def external() -> object:
        import DaVinciResolveScript as dvr  # the Modules folder of "Using a script" on PYTHONPATH

        return dvr.scriptapp("Resolve")

    candidates.append(external)
    for candidate in candidates:
        try:
            found = candidate()
        except Exception:  # a missing or dead scripting bridge: try the next way
            found = None
        if found is not None:
            return found
    return None


def _log_to_console() -> None:
    """otio-dub's warnings (logging) as ``otio-dub: warning: ...`` lines on the Console."""
    logger = logging.getLogger("otio_dub")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter(PREFIX + "%(levelname)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def main() -> int:
    """Run on the Resolve found in the environment; 0 on success, 1 on any failure."""
    _log_to_console()
    resolve = find_resolve()
    if resolve is None:
        say("error: DaVinci Resolve is not reachable: run this from Workspace > Scripts, or set "
            "RESOLVE_SCRIPT_API, RESOLVE_SCRIPT_LIB and PYTHONPATH as Resolve's scripting README says")
        return 1
    return 0 if run(resolve).ok else 1


if __name__ == "__main__":
    code = main()
    if code and "bmd" not in globals() and "resolve" not in globals():  # a terminal, not Resolve's menu
        sys.exit(code)
