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

from .. import __version__
from ..cache import RenderCache, file_state
from ..dub_timeline import media_path
from .deliver import STATE, DubResult
from .plan import DubPlan

log = logging.getLogger("otio_dub")

_FORMAT = "otio-dub unchanged 1"


def run_key(plan: DubPlan, timeline: object, script: object) -> str | None:
    """The key of everything this run's files are made of; None where a run cannot be keyed (a
    timeline handed over as an object: its content has no file to stand for it)."""
    if not isinstance(timeline, (str, Path)):
        return None
    options = plan.options
    cast = options.cast
    shaped = replace(options, cache=None, jobs=None, ray=None, stems=replace(options.stems, jobs=None),
                     cast=None if isinstance(cast, (str, Path)) else cast)  # where and how fast: not what
    files = {role: _file_digest(p) if isinstance(p, (str, Path)) else "-"
             for role, p in (("timeline", timeline), ("script", script), ("cast", cast))}
    if None in files.values():  # a bundle folder, or unreadable: nothing short stands for it
        return None
    digest = hashlib.sha256()
    for part in (_FORMAT, __version__, otio.__version__, _package_digest(), repr(files), str(Path(timeline).resolve()),
                 repr(file_state(options.stems.mix_with)) if options.stems.mix_with else "",
                 repr(shaped), str(plan.out.resolve()), repr(plan.tb), plan.total_frames, repr(sorted(plan.guides.items())),
                 repr(sorted((str(k), repr(p)) for k, p in plan.performers.items())), _originals(plan),
                 json.dumps([_line(lj) for lj in plan.jobs], ensure_ascii=False)):
        digest.update(str(part).encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()


def _line(lj: object) -> list:
    """One planned line: what deliver writes of it (its record range, text, ids) and its take's keys."""
    line, window = lj.line, lj.window
    return [line.id, line.record_in, line.record_out, line.character, line.lang, line.text, line.emotion, line.source,
            line.origin, line.clip_name, line.track_name, repr(line.extra.get("identity")), lj.job.key,
            lj.job.delivery, window.samples, window.head_pad, window.tail_pad, window.free_after]


def _originals(plan: DubPlan) -> str:
    """The state of every file the source timeline names (the review plays them, matching and guides
    listen to them)."""
    states = []
    for clip in plan.source.find_clips():
        ref = clip.media_reference
        url = getattr(ref, "target_url", None) if isinstance(ref, otio.schema.ExternalReference) else None
        if url:
            try:
                states.append(file_state(media_path(url, plan.base or Path.cwd())))
            except ValueError:
                states.append((url, -1, 0, 0, 0))
    return repr(sorted(set(states)))


def _file_digest(path: str | Path) -> str | None:
    """The SHA-256 of a file's bytes (None for a folder or an unreadable file)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


_PACKAGE: list[str] = []


def _package_digest() -> str:
    """otio-dub's own files (its code and the review page's assets), once per process: any change to
    the code that writes the files is a change to them."""
    if not _PACKAGE:
        root = Path(__file__).resolve().parent.parent
        digest = hashlib.sha256()
        for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
        _PACKAGE.append(digest.hexdigest())
    return _PACKAGE[0]


def record(result: DubResult, key: str) -> None:
    """Note ``key`` and the state of every file ``result`` wrote, in its output folder (just put in
    place). Best effort: without the note the next run dubs as usual."""
    out = result.out_dir
    try:
        state = {"key": key, "files": _states(out, result.entries), "timeline": result.timeline_path.name,
                 "exports": [p.name for p in result.exports], "stems": {k: v.relative_to(out).as_posix()
                                                                      for k, v in result.stems.items()},
                 "voices": result.voices}
        tmp = out / f"{STATE}.part"
        tmp.write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, out / STATE)
    except (OSError, ValueError) as exc:
        log.debug("%s: could not note the dub's state (%s): the next run dubs again", out, exc)


def reuse(plan: DubPlan, key: str) -> DubResult | None:
    """The dub already in the output folder when it was made from ``key`` and is as it was left; None
    otherwise (it is then dubbed as usual)."""
    out = plan.out
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
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    _touch(plan, [row.get("key") for row in result.lines if isinstance(row, dict)])
    log.info("%s: nothing changed since the last dub into this folder: kept as it is", out)
    return result


class KeptDub(DubResult):
    """A dub found unchanged in its folder; its timeline is read from there when first asked for (a
    feature's .dub.otio takes longer to parse than the rest of an unchanged run)."""

    @property
    def timeline(self) -> otio.schema.Timeline:
        if self._timeline is None:
            self._timeline = otio.adapters.read_from_file(str(self.timeline_path))
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
        if name == STATE or not (top.exists() or top.is_symlink()):
            continue
        paths = [top] if not top.is_dir() or top.is_symlink() else \
            [Path(root) / f for root, _, files in os.walk(top) for f in files]
        for path in paths:
            _, *rest = file_state(path)
            found.append([path.relative_to(out).as_posix(), *rest])
    return sorted(found)
