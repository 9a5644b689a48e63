"""Watch folder: dub every timeline dropped into a folder, for any NLE that can export to one.

A timeline is dubbed once it has stopped growing (same size and modification time on two polls,
``settle`` seconds apart), with the script beside it (same stem: .ass/.ssa/.srt/.vtt/.csv/.tsv)
when there is one, into ``DIR/dubbed/<name>/``. What was processed is remembered by content hash
in ``DIR/dubbed/.otio-dub-watch.json``: a file is never processed twice, but a re-export (new
content) is. A bad file is logged to ``DIR/dubbed/watch.log`` and its folder's ``error.txt``, and
the watch moves on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .dialogue_list import LIST_SUFFIXES
from .errors import OtioDubError
from .formats import FORMATS
from .render import write_text_atomic
from .script import SCRIPT_SUFFIXES as SUBTITLE_SUFFIXES

log = logging.getLogger("otio_dub")

#: Files a watch dubs: every timeline format otio-dub writes (an .otiod folder is not a file)
TIMELINE_SUFFIXES = tuple(suffix for _, suffix in FORMATS.values() if suffix != ".otiod")
#: The script beside a timeline: a subtitle script or a dialogue list
SCRIPT_SUFFIXES = (*SUBTITLE_SUFFIXES, *LIST_SUFFIXES)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
        return self.out_root / ".otio-dub-watch.json"

    def _state(self) -> dict:
        try:
            return json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def _log(self, message: str) -> None:
        self.out_root.mkdir(parents=True, exist_ok=True)
        with (self.out_root / "watch.log").open("a", encoding="utf-8") as fh:
            fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")

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
            if not path.is_file() or path.suffix.lower() not in TIMELINE_SUFFIXES or path.name.startswith("."):
                continue
            stat = path.stat()
            signature = (stat.st_size, stat.st_mtime_ns)
            previous = self._seen.get(path.name)
            self._seen[path.name] = (*signature, previous[2] if previous and previous[:2] == signature else now)
            if previous and previous[:2] == signature and now - self._seen[path.name][2] >= self.settle:
                found.append(path)
        return found

    def process(self, path: Path) -> str:
        """Dub one timeline unless this content was already processed; returns what happened."""
        script = self.script_for(path)
        key = _sha256(path) + (":" + _sha256(script) if script else "")
        state = self._state()
        seen = state.get(path.name, {})
        # done once: never again; failed: not again in this watch, but retried after a restart
        # (a full disk or a fixed cast file may have cleared it)
        if seen.get("key") == key and (seen.get("status") == "dubbed" or path.name in self._failed):
            return "skipped"
        out = self.out_root / path.stem
        try:
            self.dub(path, script=script, out_dir=out, options=self.options)
            status, message = "dubbed", f"dubbed {path.name}" + (f" with {script.name}" if script else "") + f" -> {out}"
        except Exception as exc:  # one bad file never stops the watch
            detail = str(exc) if isinstance(exc, OtioDubError) else f"{type(exc).__name__}: {exc}"
            status, message = "failed", f"FAILED {path.name}: {detail}"
            self._failed.add(path.name)
            write_text_atomic(out / "error.txt", f"{detail}\n")
        self._log(message)
        log.warning(message) if status == "failed" else log.info(message)
        state[path.name] = {"key": key, "status": status}
        write_text_atomic(self.state_path, json.dumps(state, indent=2, sort_keys=True) + "\n")
        return status

    def poll_once(self, now: float | None = None) -> dict[str, str]:
        """One pass: process every settled timeline; returns name -> dubbed/failed/skipped."""
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
