"""An unchanged re-dub: when the output folder already holds exactly what this run would write, keep it.

After planning, a run's key is computed from everything its files are made of: the code and the
libraries that write them, the timeline, script, cast and M&E files, the original media the review
and matching read, the options that shape the output, and every line as planned (its take's cache
key, which names the engine, voice files and fit). The last dub into the folder recorded its key and
the state (size, inode, mtime, ctime) of every file it wrote, right after putting them in place.
When both still match, the run writes nothing and returns that dub: an editor's hook re-running an
unchanged timeline costs the planning, not the delivery. Anything else, however small, dubs as usual.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import replace
from pathlib import Path

import opentimelineio as otio

from ..core.hashing import file_state
from ..core.version import __version__
from ..store.cache import RenderCache
from .deliver import STATE, DubResult
from .options import DubOptions
from .plan import DubPlan, LineJob, original_states

log = logging.getLogger("otio_dub")

_FORMAT = "otio-dub unchanged 2"
#: Libraries whose versions shape the written files (readers, writers, the audio they write and measure).
_LIBRARIES = ("opentimelineio", "otio-fcp-adapter", "otio-fcpx-xml-adapter", "otio-cmx3600-adapter", "otio-aaf-adapter",
              "pyaaf2", "pysubs2", "numpy", "scipy", "soundfile")
#: A source medium changed this close before the run started may have changed while it was read (a file
#: system's clock runs a tick behind): the run is not keyed.
_SETTLE_NS = 50_000_000


def input_states(timeline: object, script: object, options: DubOptions) -> dict | None:
    """The state of the run's own input files and the bytes of those it parses, taken before they are
    read: :func:`run_key` takes them again after planning, and any difference makes the run unkeyed
    (two saves within one tick of the file system's clock keep a file's state, not its bytes). None
    where the run cannot be keyed: a timeline handed over as an object, or on Windows, where a file's
    ctime is its creation time and a rewrite need not show in its state."""
    if not isinstance(timeline, (str, Path)) or os.name == "nt":
        return None
    paths = [p for p in (timeline, script, options.cast, options.stems.mix_with) if isinstance(p, (str, Path))]
    return {"states": [file_state(p) for p in paths],
            "bytes": {role: _file_digest(p) if isinstance(p, (str, Path)) else "-"
                      for role, p in (("timeline", timeline), ("script", script), ("cast", options.cast))}}


def run_key(plan: DubPlan, timeline: object, script: object, out: Path, before: dict | None, started: int) -> str | None:
    """The key of everything this run's files are made of; None where a run cannot be keyed: a timeline
    handed over as an object (no file stands for it), a bundle folder, or an input that changed while
    it was being read. Never raises: a run without a key is dubbed as usual."""
    try:
        return _run_key(plan, timeline, script, out, before, started)
    except Exception as exc:  # noqa: BLE001 - a key is an optimisation; never the reason a dub fails
        log.debug("no unchanged-dub key for this run (%s)", exc)
        return None


def _run_key(plan: DubPlan, timeline: object, script: object, out: Path, before: dict | None, started: int) -> str | None:
    options = plan.options
    if before is None or _CODE is None or not isinstance(timeline, (str, Path)) \
            or input_states(timeline, script, options) != before:  # a timeline object has no states
        return None
    cast = options.cast
    shaped = replace(options, cache=None, jobs=None, ray=None, stems=replace(options.stems, jobs=None),
                     cast=None if isinstance(cast, (str, Path)) else cast)  # where and how fast: not what
    files = before["bytes"]  # as before planning, and as after it: what planning read
    originals = _originals(plan, started)
    if None in files.values() or originals is None:
        return None
    digest = hashlib.sha256()
    for part in (_FORMAT, __version__, _CODE, repr(files), os.path.abspath(timeline), str(Path(timeline).resolve()),
                 plan.name, plan.fmt, str(out), str(out.resolve()),
                 repr(file_state(options.stems.mix_with)) if options.stems.mix_with else "", repr(shaped),
                 repr(plan.tb), plan.total_frames, repr(sorted(plan.guides.items())),
                 repr(sorted((str(k), repr(p)) for k, p in plan.performers.items())), originals,
                 json.dumps([_line(lj) for lj in plan.jobs], ensure_ascii=False)):
        digest.update(str(part).encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()


def _line(lj: LineJob) -> list:
    """One planned line: what deliver writes of it (its record range, text, ids) and its take's keys."""
    line, window = lj.line, lj.window
    return [line.id, line.record_in, line.record_out, line.character, line.lang, line.text, line.emotion, line.source,
            line.origin, line.clip_name, line.track_name, repr(line.extra.get("identity")), lj.job.key,
            lj.job.delivery, window.samples, window.head_pad, window.tail_pad, window.free_after]


def _originals(plan: DubPlan, started: int | None = None) -> str | None:
    """The state of every file the source timeline names (the review plays them, matching and guides
    listen to them); None when one changed since planning began, or just before the run (its clock
    may lag this machine's)."""
    states = original_states(plan.source, plan.base)
    if states != plan.originals:
        return None
    if started is not None and any(max(state[3], state[4]) >= started - _SETTLE_NS for state in states):
        return None
    return repr(states)


def _file_digest(path: str | Path) -> str | None:
    """The SHA-256 of a file's bytes (None for a folder or an unreadable file)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def _code_digest() -> str | None:
    """otio-dub's own files (its code, adapters, hooks and the review page's assets) and the versions of
    the libraries that read and write for it: a change to any is a change to the files. Taken once, when
    this module is imported, so that it names the code running (None if they cannot be read)."""
    import importlib.metadata
    import importlib.util

    try:
        digest = hashlib.sha256()
        for package in ("otio_dub", "otio_dub_adapters", "otio_dub_hooks"):
            spec = importlib.util.find_spec(package)
            if spec is None or not spec.origin:
                continue
            root = Path(spec.origin).parent
            for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
                digest.update(f"{package}/{path.relative_to(root).as_posix()}".encode() + b"\0" + path.read_bytes() + b"\0")
        for name in _LIBRARIES:
            try:
                version = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                version = "-"
            digest.update(f"{name}={version}".encode() + b"\0")
    except Exception as exc:  # noqa: BLE001 - no digest, no key: every run dubs as usual
        log.debug("otio-dub's code could not be read for the unchanged-dub key (%s)", exc)
        return None
    return digest.hexdigest()


_CODE = _code_digest()


def record(result: DubResult, key: str) -> None:
    """Note ``key`` and the state of every file ``result`` wrote, in its output folder (just put in
    place). Best effort, never raises: without the note the next run dubs as usual."""
    out = result.out_dir
    tmp = out / f"{STATE}.part"
    try:
        state = {"key": key, "files": _states(out, result.entries), "timeline": result.timeline_path.name,
                 "exports": [p.name for p in result.exports], "stems": {k: v.relative_to(out).as_posix()
                                                                      for k, v in result.stems.items()},
                 "voices": result.voices}
        tmp.write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, out / STATE)
    except Exception as exc:  # noqa: BLE001 - the dub is in place; only the next run's shortcut is lost
        log.debug("%s: could not note the dub's state (%s): the next run dubs again", out, exc)
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


def reuse(plan: DubPlan, out: Path, key: str) -> DubResult | None:
    """The dub already in ``out`` (the absolute output folder) when it was made from ``key`` and is as it
    was left; None otherwise (it is then dubbed as usual). Never raises."""
    try:
        state = json.loads((out / STATE).read_text(encoding="utf-8"))
        if not isinstance(state, dict) or state.get("key") != key:
            return None
        report = json.loads((out / "report.json").read_text(encoding="utf-8"))
        if _states(out, report["entries"]) != state["files"]:
            log.info("%s: its files changed since the last dub: dubbed again", out)
            return None
        result = KeptDub(None, out, out / state["timeline"], [out / n for n in state["exports"]],
                         {k: out / v for k, v in state["stems"].items()}, out / "report.json", report["lines"],
                         report["summary"], state["voices"], {"unchanged": len(report["lines"])}, report["stems"],
                         report["entries"])
        _touch(plan, [row.get("key") for row in result.lines])
    except Exception as exc:  # noqa: BLE001 - anything unexpected in the note or the folder: dub as usual
        log.debug("%s: not kept as unchanged (%s)", out, exc)
        return None
    log.info("%s: nothing changed since the last dub into this folder: kept as it is", out)
    return result


class KeptDub(DubResult):
    """A dub found unchanged in its folder; its timeline is read from there when first asked for (a
    feature's .dub.otio takes longer to parse than the rest of an unchanged run)."""

    _timeline: otio.schema.Timeline | None

    @property
    def timeline(self) -> otio.schema.Timeline:
        if self._timeline is None:  # as written: no adapter hooks (a dub's own timeline comes without them)
            from ..review.data import read_dub_timeline

            self._timeline = read_dub_timeline(self.timeline_path)
        return self._timeline

    @timeline.setter
    def timeline(self, value: otio.schema.Timeline | None) -> None:
        self._timeline = value


def _touch(plan: DubPlan, keys: list) -> None:
    """Mark the takes as used in the render cache, as a warm dub would (so pruning keeps them)."""
    if plan.options.cache is None:
        return
    cache = RenderCache(plan.options.cache)
    try:
        cache.touch([k for k in keys if isinstance(k, str)])
    finally:
        cache.close()


def _states(out: Path, entries: list) -> list:
    """(relative path, size, inode, mtime, ctime) of every file under ``entries`` in ``out``, sorted."""
    found = []
    for name in entries:
        top = out / name
        if not isinstance(name, str) or name in ("", ".", "..", STATE) or "/" in name or "\\" in name \
                or not (top.exists() or top.is_symlink()):
            continue
        paths = [top] if not top.is_dir() or top.is_symlink() else \
            [Path(root) / f for root, _, files in os.walk(top) for f in files]
        for path in paths:
            _, *rest = file_state(path)
            found.append([path.relative_to(out).as_posix(), *rest])
    return sorted(found)
