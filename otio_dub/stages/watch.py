"""Watch folder: dub every timeline dropped into a folder, for any NLE that can export to one.

A timeline is dubbed once it has stopped growing (same size and modification time on two polls,
``settle`` seconds apart), with the script beside it (same stem: .ass/.ssa/.srt/.vtt/.csv/.tsv)
when there is one, into ``DIR/dubbed/<stem>_<ext>/`` (``cut.otio`` -> ``dubbed/cut_otio/``, so
``cut.xml`` beside it gets a folder of its own). What was processed is remembered by content hash
in ``DIR/dubbed/.otio-dub-watch.json``: a file is never processed twice, but a re-export (new
content) is. A bad file is logged to ``DIR/dubbed/watch.log`` and its folder's ``error.txt``, and
the watch moves on: nothing one file does (its name, its content, a full disk) stops the watch.
No input can name the watch's own files: every input's folder ends in ``_<timeline suffix>``,
and files whose names start with a dot are never inputs.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..audio.bwf import write_text_atomic
from ..core.errors import OtioDubError, OutputError
from ..core.hashing import file_sha256 as _sha256  # tests patch the name watch uses
from ..dialogue.dialogue_list import LIST_SUFFIXES
from ..dialogue.script import SCRIPT_SUFFIXES as SUBTITLE_SUFFIXES
from ..timelines.formats import FORMATS

log = logging.getLogger("otio_dub")

#: Files a watch dubs: every timeline format otio-dub writes (an .otiod folder is not a file)
TIMELINE_SUFFIXES = tuple(suffix for _, suffix in FORMATS.values() if suffix != ".otiod")
#: The script beside a timeline: a subtitle script or a dialogue list
SCRIPT_SUFFIXES = (*SUBTITLE_SUFFIXES, *LIST_SUFFIXES)
LOG_NAME = "watch.log"
STATE_NAME = ".otio-dub-watch.json"
ERROR_NAME = "error.txt"


def folder_name(timeline: Path) -> str:
    """The output folder of one input: its name with the suffix's dot made ``_`` (``cut.xml`` ->
    ``cut_xml``): one folder per input file, never the name of the watch's log or state."""
    return f"{timeline.stem}_{timeline.suffix[1:]}"




@dataclass
class Watcher:
    """Polls ``folder``; ``dub`` is the pipeline's ``dub`` (injectable for tests)."""

    folder: Path
    dub: Callable[..., object]
    options: object = None
    settle: float = 2.0
    _seen: dict[str, tuple[int, int, float]] = field(default_factory=dict)
    _failed: set[str] = field(default_factory=set)

    @property
    def out_root(self) -> Path:
        """Where results go: ``DIR/dubbed``."""
        return self.folder / "dubbed"

    @property
    def state_path(self) -> Path:
        """The record of processed files."""
        return self.out_root / STATE_NAME

    def out_dir(self, timeline: Path) -> Path:
        """Where one input's dub goes: ``DIR/dubbed/<stem>_<ext>``."""
        return self.out_root / folder_name(timeline)

    def _state(self) -> dict:
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return state if isinstance(state, dict) else {}

    def _log(self, message: str) -> None:
        """One line in watch.log; a log that cannot be written is reported, never fatal."""
        try:
            with (self.out_root / LOG_NAME).open("a", encoding="utf-8") as fh:
                fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")
        except OSError as exc:
            log.warning("%s: cannot write the watch log (%s)", self.out_root / LOG_NAME, exc.strerror or exc)

    def script_for(self, timeline: Path) -> Path | None:
        """The script beside a timeline: same stem, a script suffix."""
        for suffix in SCRIPT_SUFFIXES:
            candidate = timeline.with_suffix(suffix)
            if candidate.is_file():
                return candidate
        return None

    def ready(self, now: float | None = None) -> list[Path]:
        """Timelines that stopped changing: same size and mtime as at the previous poll, settled."""
        now = time.time() if now is None else now
        found = []
        for path in sorted(self.folder.iterdir()):
            try:
                if path.name.startswith(".") or path.suffix.lower() not in TIMELINE_SUFFIXES or not path.is_file():
                    continue
                stat = path.stat()
            except OSError:  # gone, or unreadable, since the listing: looked at again next poll
                continue
            signature = (stat.st_size, stat.st_mtime_ns)
            previous = self._seen.get(path.name)
            self._seen[path.name] = (*signature, previous[2] if previous and previous[:2] == signature else now)
            if previous and previous[:2] == signature and now - self._seen[path.name][2] >= self.settle:
                found.append(path)
        return found

    def process(self, path: Path) -> str:
        """Dub one timeline unless this content was already processed; returns what happened.

        Never raises: whatever one file does is logged against that file and the watch goes on.
        """
        out = self.out_dir(path)
        state = self._state()
        try:
            script = self.script_for(path)
            key = _sha256(path) + (":" + _sha256(script) if script else "")
        except OSError as exc:  # unreadable: keyed by what the poll saw, so it is not retried every poll
            key = "unreadable:" + ":".join(str(v) for v in self._seen.get(path.name, ())[:2])
            if state.get(path.name) == {"key": key, "status": "failed"} and path.name in self._failed:
                return "skipped"
            return self._fail(path, out, state, key, f"{path}: cannot read ({exc.strerror or exc})")
        seen = state.get(path.name)
        seen = seen if isinstance(seen, dict) else {}
        # done once: never again; failed: not again in this watch, but retried after a restart
        # (a full disk or a fixed cast file may have cleared it)
        if seen.get("key") == key and (seen.get("status") == "dubbed" or path.name in self._failed):
            return "skipped"
        try:
            self.dub(path, script=script, out_dir=out, options=self.options)
        except Exception as exc:  # one bad file never stops the watch
            detail = str(exc) if isinstance(exc, OtioDubError) else f"{type(exc).__name__}: {exc}"
            return self._fail(path, out, state, key, detail)
        (out / ERROR_NAME).unlink(missing_ok=True)  # an earlier failure's note, carried over by the dub
        self._record(state, path, key, "dubbed", f"dubbed {path.name}" + (f" with {script.name}" if script else "")
                     + f" -> {out}")
        return "dubbed"

    def _fail(self, path: Path, out: Path, state: dict, key: str, detail: str) -> str:
        self._failed.add(path.name)
        try:
            write_text_atomic(out / ERROR_NAME, f"{detail}\n")
        except OtioDubError as exc:
            log.warning("%s", exc)
        self._record(state, path, key, "failed", f"FAILED {path.name}: {detail}")
        return "failed"

    def _record(self, state: dict, path: Path, key: str, status: str, message: str) -> None:
        """Log what happened and remember it (a state that cannot be saved is reported, not fatal)."""
        self._log(message)
        log.warning(message) if status == "failed" else log.info(message)
        state[path.name] = {"key": key, "status": status}
        try:
            write_text_atomic(self.state_path, json.dumps(state, indent=2, sort_keys=True) + "\n")
        except OtioDubError as exc:
            log.warning("%s", exc)

    def check(self) -> None:
        """Make ``DIR/dubbed`` (the watch's one place to write), or say in one line why it cannot be."""
        try:
            self.out_root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{self.out_root}: cannot create the watch's output folder ({exc.strerror or exc})") from None

    def poll_once(self, now: float | None = None) -> dict[str, str]:
        """One pass: process every settled timeline; returns name -> dubbed/failed/skipped."""
        self.check()
        return {path.name: self.process(path) for path in self.ready(now)}

    def run(self, interval: float = 1.0, stop: threading.Event | None = None,
            report: Callable[[str, str], None] | None = None) -> None:
        """Poll until ``stop`` is set (Ctrl-C ends the CLI's loop)."""
        stop = stop or threading.Event()
        while not stop.is_set():
            for name, status in self.poll_once().items():
                if report and status != "skipped":
                    report(name, status)
            stop.wait(interval)
