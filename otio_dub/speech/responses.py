"""Voice duration responses kept beside the render cache, so a voice is calibrated once per machine.

Measuring how a voice's length answers its speed control takes a dozen syntheses of fixed
passages (:func:`otio_dub.speech.speak.voice_response`): nothing for espeak, minutes for a slow neural
voice, and once per process it was paid again by every pool worker and every run. The curve is a
pure function of its key (engine, version, voice, pace, passages), so it is stored under that key
in ``<cache>/responses/``; one process measures while the others wait on a lock and then read it.
JSON keeps a float exactly (shortest round-trip repr), so a curve read back gives the same takes
as one just measured. A folder that cannot be used means measuring in memory, as before.
"""

from __future__ import annotations

import enum
import itertools
import json
import logging
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Final, Literal

from .fit import Curve

log = logging.getLogger(__name__)

#: How long a process waits for another one measuring the same voice before measuring it itself.
LOCK_TIMEOUT_S = 900


class _Missing(enum.Enum):
    """No usable curve stored (absent or invalid): not None, which is a voice with no measurable response."""

    MISSING = enum.auto()


_MISSING: Final = _Missing.MISSING


def stored_curve(folder: str | Path | None, key: str, measure: Callable[[], Curve | None]) -> Curve | None:
    """The curve stored under ``key`` in ``folder``/responses, else ``measure()``, stored there."""
    if not folder:
        return measure()
    path = Path(folder).expanduser() / "responses" / f"{key}.json"
    if (known := _read(path)) is not _MISSING:
        return known
    from filelock import FileLock, Timeout

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(f"{path}.lock", timeout=LOCK_TIMEOUT_S):
            if (known := _read(path)) is not _MISSING:  # another process measured it meanwhile
                return known
            curve = measure()
            _write(path, curve)
            return curve
    except (OSError, Timeout) as exc:  # read-only, missing on this node, or a stuck measurer: measure here
        log.debug("voice response %s…: not stored (%s)", key[:12], exc)
        return measure()


def _read(path: Path) -> Curve | None | Literal[_Missing.MISSING]:
    """The stored curve (None: the voice has no measurable response), or _MISSING when absent or
    not a valid curve (then it is measured again and the file replaced)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return _MISSING
    if not isinstance(data, dict) or "curve" not in data:
        return _MISSING
    if data["curve"] is None:
        return None
    return _checked(data["curve"])


def _checked(points: object) -> Curve | Literal[_Missing.MISSING]:
    """A curve as ``fit.response_curve`` makes them: (speed, relative length) pairs, positive and
    finite, speeds rising and lengths falling, 1.0 among the speeds; else _MISSING."""
    if not isinstance(points, list) or len(points) < 2:
        return _MISSING
    curve = []
    for point in points:
        if (not isinstance(point, list) or len(point) != 2
                or not all(isinstance(v, float) and math.isfinite(v) and v > 0 for v in point)):
            return _MISSING
        curve.append((point[0], point[1]))
    rising = all(a[0] < b[0] and a[1] > b[1] for a, b in itertools.pairwise(curve))
    return tuple(curve) if rising and any(speed == 1.0 for speed, _ in curve) else _MISSING


def _write(path: Path, curve: Curve | None) -> None:
    """Write the curve under a temporary name, then rename it into place (readers see all or nothing)."""
    payload = json.dumps({"curve": None if curve is None else [list(point) for point in curve]})
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(payload)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:  # a full disk: the next run measures again
        log.debug("voice response %s: not stored (%s)", path.name, exc)
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
