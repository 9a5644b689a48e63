"""Errors otio-dub raises: each names the offending file, line, clip or timecode.

The CLI prints ``str(error)`` as one line and exits non-zero; a traceback reaching a user is a bug.
"""

from __future__ import annotations


class OtioDubError(Exception):
    """Base class of every error a user can cause; its message is one line, complete."""

    exit_code = 1


class InputError(OtioDubError):
    """An input file is missing, unreadable or malformed."""

    def __init__(self, path: str, message: str, where: str | None = None) -> None:
        self.path = str(path)
        self.where = where
        self.detail = message
        location = f"{self.path}: {where}" if where else self.path
        super().__init__(f"{location}: {message}")


class TimelineError(OtioDubError):
    """The timeline cannot be dubbed as asked (unknown track, zero-length clip, bad rate)."""

    def __init__(self, message: str, clip: str | None = None, timecode: str | None = None) -> None:
        self.clip = clip
        self.timecode = timecode
        where = " ".join(p for p in (f"clip {clip!r}" if clip else "", f"at {timecode}" if timecode else "") if p)
        super().__init__(f"{where}: {message}" if where else message)


class EngineError(OtioDubError):
    """A TTS engine is missing, misconfigured, or failed on a line."""


class FitError(OtioDubError):
    """Lines do not fit their windows and the overflow policy is ``error``."""

    def __init__(self, message: str, lines: list[str] | None = None) -> None:
        self.lines = list(lines or [])
        super().__init__(message)


class OutputError(OtioDubError):
    """An output cannot be written (unwritable folder, disk full)."""


class DamagedTake(OutputError):
    """A spooled take holds samples that are not numbers, or is no take file at all (found where it is
    read, see cache.locate)."""

    def __init__(self, path: object, why: str = "samples that are not numbers") -> None:
        super().__init__(f"{path}: {why}")
        self.path, self.why = path, why


class HookError(OtioDubError):
    """An OTIO hook failed; the message names the hook and the timeline."""

    def __init__(self, hook: str, timeline: str, message: str) -> None:
        self.hook = hook
        self.timeline = timeline
        super().__init__(f"OTIO hook {hook} on timeline {timeline!r}: {message}")
