"""Worker processes log as their driver does: its ``otio_dub`` level, on stderr as the CLI prints.

A spawned worker starts with Python's default logging: only warnings, through the last-resort
handler, so ``-v`` showed what the driver did and nothing the workers did (which clip took its
speaker's language, which line was spoken again). The driver passes its level to each pool's
initializer, and the worker takes it.
"""

from __future__ import annotations

import logging
import sys

_LOGGER = "otio_dub"


def driver_level() -> int:
    """The level this process logs ``otio_dub`` at (what its workers should log at)."""
    return logging.getLogger(_LOGGER).getEffectiveLevel()


def log_line(record: logging.LogRecord) -> str:
    """How a log record is printed for the user, by the CLI and its workers alike: ``warning: message``."""
    return f"{record.levelname.lower()}: {record.getMessage()}"


class _Lowercase(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return log_line(record)


def follow_driver(level: int) -> None:
    """In a worker: log ``otio_dub`` at ``level``; below warnings, on stderr as ``level: message``
    lines (the CLI's form), once however often a worker is set up. A forked worker keeps the handler
    it inherited (a second one would print every line twice)."""
    ours = logging.getLogger(_LOGGER)
    ours.setLevel(level)
    if level < logging.WARNING and not ours.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_Lowercase())
        ours.addHandler(handler)
        ours.propagate = False
