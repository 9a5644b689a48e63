"""Render cache: fitted takes stored under a content key, so a re-run or a re-cut redoes nothing
it already did.

The key is a SHA-256 of everything a fitted take depends on (engine and its version, voice,
prosody, text, window in samples, fit policy, otio-dub's render version). Takes are ``.npy``
files (exact float32: a hit gives byte-identical outputs) under ``objects/``, indexed in SQLite
(WAL mode, so several processes, or machines on a share, can render into one cache). A take is
written to a temporary name, renamed, and only then indexed: a killed run leaves at worst an
orphan file, never an index entry without its take.

A cache folder carries a ``CACHEDIR.TAG`` naming otio-dub (the Cache Directory Tagging standard,
so backup tools skip it too). Nothing is ever stored in, pruned from or counted in a folder
without one: a mistyped ``--cache`` pointing at a project or a git repository is refused whole.
What comes out of the cache is checked before it is trusted: a take whose samples or plan do not
agree with each other is forgotten and rendered again.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import math
import os
import re
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import cast
from urllib.parse import quote

import numpy as np

from ..core.errors import OutputError
from ..speech.fit import FitPlan

log = logging.getLogger("otio_dub")

#: Bump when a change to fitting or synthesis makes old takes wrong.
_SCHEMA = """CREATE TABLE IF NOT EXISTS takes (
    key TEXT PRIMARY KEY, path TEXT NOT NULL, meta TEXT NOT NULL, bytes INTEGER NOT NULL,
    created REAL NOT NULL, used REAL NOT NULL)"""
_COLUMNS = ("key", "path", "meta", "bytes", "created", "used")
#: The cache's marker: a CACHEDIR.TAG (https://bford.info/cachedir/) whose comment names otio-dub.
MARKER = "CACHEDIR.TAG"
_SIGNATURE = "Signature: 8a477f597d28d172789f06886806bc55"
_MARKER_TEXT = (f"{_SIGNATURE}\n# This file is a cache directory tag created by otio-dub (render cache of fitted takes).\n"
                "# For information about cache directory tags, see https://bford.info/cachedir/\n")
#: What a cache folder from before the marker held (adopted, and marked, by a dub); ``models`` is
#: where ``transcribe`` keeps its joined Whisper model (listen/asr.py), inside the default folder
_LEGACY_ENTRIES = {"index.sqlite", "index.sqlite-wal", "index.sqlite-shm", "objects", "models"}
# fit.py has ``from __future__ import annotations``: each field's type is its annotation's text
_PLAN_FIELDS = {f.name: cast(str, f.type) for f in fields(FitPlan)}
#: A take's key as make_key makes it; anything else (read from a tampered dub, say) is no key
KEY_PATTERN = re.compile(r"[0-9a-f]{64}")
#: The report fields a fitted take carries (speak.fit_line's, and the delivery key conform checks):
#: numbers, but ``delivery``. A cached report with others is not trusted (they would reach report.json).
REPORT_FIELDS = ("natural_s", "window_s", "speech_s", "needed_speed", "rate_factor", "stretch_factor", "total_speed",
                 "passes", "onset_error_ms", "offset_error_ms", "borrowed_ms", "delivery")


def default_folder() -> Path:
    """``$OTIO_DUB_CACHE``, else the user cache dir (XDG on Linux, Caches on macOS, LocalAppData)."""
    if os.environ.get("OTIO_DUB_CACHE"):
        return Path(os.environ["OTIO_DUB_CACHE"]).expanduser()
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "otio-dub" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "otio-dub"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "otio-dub"


def _retry_locked(action: Callable[[], object], seconds: float = 60.0) -> None:
    """Run a statement SQLite refuses with 'database is locked' while another process sets the
    index up (switching a new database to WAL does not wait on the busy timeout)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            action()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def is_cache(folder: str | Path) -> bool:
    """True when ``folder`` carries otio-dub's cache marker (a CACHEDIR.TAG naming otio-dub)."""
    marker = Path(folder).expanduser() / MARKER
    try:
        if marker.is_symlink() or not marker.is_file():
            return False
        with marker.open("r", encoding="utf-8", errors="replace") as fh:
            head = fh.read(512)
    except OSError:
        return False
    return head.startswith(_SIGNATURE) and "otio-dub" in head


def _claim(folder: Path) -> None:
    """Make ``folder`` a cache: create it, or mark an empty one (or one a pre-marker otio-dub made).

    Anything else is refused: a cache folder is pruned wholesale, so it must never be someone's data.
    """
    folder.mkdir(parents=True, exist_ok=True)
    if is_cache(folder):
        return
    # another process claiming it at the same moment may have its temporary marker here
    entries = {p.name for p in folder.iterdir() if not p.name.startswith(f".{MARKER}.")}
    if entries and is_cache(folder):  # marked by another process meanwhile
        return
    # an objects/ folder is ours only beside our index: prune sweeps it, so it must never be someone's
    indexed = "index.sqlite" in entries and _is_our_index(folder / "index.sqlite")
    legacy = entries <= _LEGACY_ENTRIES and (indexed or not entries & {"objects", "index.sqlite"})
    if entries and not legacy:
        raise OutputError(f"{folder}: not an otio-dub render cache (no {MARKER} from otio-dub) and not empty; "
                          "name a new or empty folder for --cache")
    fd, tmp = tempfile.mkstemp(prefix=f".{MARKER}.", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(_MARKER_TEXT)
    os.replace(tmp, folder / MARKER)


def _is_our_index(path: Path) -> bool:
    """True for an SQLite file whose ``takes`` table has exactly our columns (read-only look)."""
    try:
        db = sqlite3.connect(f"file:{quote(str(path))}?mode=ro&immutable=1", uri=True)
        try:
            return tuple(r[1] for r in db.execute("PRAGMA table_info(takes)")) == _COLUMNS
        finally:
            db.close()
    except sqlite3.Error:
        return False


def _check_marked(folder: Path) -> None:
    if not is_cache(folder):
        raise OutputError(f"{folder}: not an otio-dub render cache (no {MARKER} from otio-dub): nothing done")


def _check_schema(db: sqlite3.Connection, folder: Path) -> None:
    columns = tuple(r[1] for r in db.execute("PRAGMA table_info(takes)"))
    if columns != _COLUMNS:
        raise OutputError(f"{folder / 'index.sqlite'}: not a render-cache index otio-dub understands (columns "
                          f"{', '.join(columns) or 'none'}); use another --cache, or --no-cache")


def checked_take(audio: object, meta: object, samples: bool = True) -> str | None:
    """Why a cached take cannot be trusted, or None: the plan must be a FitPlan's exact fields with
    sane values, the report a table, and the samples finite float32 mono, ``media_samples`` long
    (``samples=False``: their type and count only; whoever reads them checks them)."""
    if (problem := checked_meta(meta)) is not None:
        return problem
    assert isinstance(meta, dict)  # checked_meta found it a table
    if not isinstance(audio, np.ndarray) or audio.dtype != np.float32 or audio.ndim != 1:
        return "its samples are not mono float32"
    if audio.size != meta["plan"]["media_samples"]:
        return f"it holds {audio.size} samples, its plan says {meta['plan']['media_samples']}"
    if samples and not np.isfinite(audio).all():
        return "its samples are not all finite"
    return None


def npy_bytes(samples: int) -> int:
    """The size of the ``.npy`` file ``np.save`` writes for ``samples`` mono float32 samples."""
    return _npy_header(len(str(samples))) + 4 * samples


@functools.cache
def _npy_header(digits: int) -> int:
    """The ``.npy`` header's size for a shape of that many digits (it is padded to 64 bytes, so only
    the digits can change it): asked once per take a warm dub links."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (10 ** (digits - 1),)})
    return header.tell()


def checked_meta(meta: object) -> str | None:
    """Why a cached take's index entry (its plan and report) cannot be trusted, or None."""
    if not isinstance(meta, dict) or set(meta) - {"plan", "report"} or not isinstance(meta.get("report"), dict):
        return "its index entry is not a plan and a report"
    for name, value in meta["report"].items():
        if name not in REPORT_FIELDS:
            return f"its report has an unknown field {name!r}"
        if not (isinstance(value, str) if name == "delivery" else _finite(value)):
            return f"its report's {name} is {value!r}"
    plan = meta.get("plan")
    if not isinstance(plan, dict) or set(plan) != set(_PLAN_FIELDS):
        return "its plan has unknown or missing fields"
    for name, kind in _PLAN_FIELDS.items():
        value = plan[name]
        ok = {"str": isinstance(value, str), "int": _finite(value) and isinstance(value, int) and value >= 0,
              "float": _finite(value)}.get(kind, False)
        if not ok:
            return f"its plan's {name} is {value!r}"
    if plan["status"] not in ("fit", "padded", "borrowed", "overrun"):
        return f"its plan's status is {plan['status']!r}"
    return None


def _finite(value: object) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value) and abs(value) < 2**53
    except OverflowError:  # an int too large for a float
        return False


class RenderCache:
    """A folder of fitted takes and their SQLite index; safe for concurrent processes.

    ``create=False`` (``cache prune``) opens only a folder already marked as a cache.
    """

    def __init__(self, folder: str | Path, create: bool = True) -> None:
        self.folder = Path(folder).expanduser()
        if not create:
            _check_marked(self.folder)
        try:
            if create:
                _claim(self.folder)
            (self.folder / "objects").mkdir(exist_ok=True)
            self._db = sqlite3.connect(self.folder / "index.sqlite", timeout=60, isolation_level=None)
            self._db.execute("PRAGMA busy_timeout=60000")
            _retry_locked(lambda: self._db.execute("PRAGMA journal_mode=WAL"))  # ignores busy_timeout
            # a cache, not a ledger: NORMAL keeps the index consistent after a crash (WAL) and skips
            # an fsync per commit; a power cut may forget the last takes, which are rendered again
            self._db.execute("PRAGMA synchronous=NORMAL")
            _retry_locked(lambda: self._db.execute(_SCHEMA))
        except (OSError, sqlite3.Error) as exc:
            raise OutputError(f"{self.folder}: cannot use as render cache ({exc})") from None
        try:
            _check_schema(self._db, self.folder)
        except OutputError:
            self._db.close()
            raise
        self.hits = 0
        self.misses = 0
        self._used: list[str] = []
        self._objects = str(self.folder / "objects")

    def _file(self, key: str) -> str:
        """:meth:`_path` as a string (key checked by the caller)."""
        return os.path.join(self._objects, key[:2], f"{key}.npy")

    def _path(self, key: str) -> Path:
        if not KEY_PATTERN.fullmatch(key):  # never a path out of the cache
            raise ValueError(f"not a render-cache key: {key[:80]!r}")
        return Path(self._file(key))

    def get(self, key: str) -> tuple[np.ndarray, dict] | None:
        """The take and its metadata, or None: a missing, unreadable or inconsistent take is a miss
        and is forgotten, so it is rendered again (see :func:`checked_take`)."""
        found = self._checked(key, read=True)
        if found is None:
            return None
        _, audio, meta = found
        assert audio is not None  # read=True loads the samples
        return audio, meta

    def locate(self, key: str) -> tuple[Path, dict] | None:
        """The file holding a take (a ``.npy``) and its metadata, checked as :meth:`get` checks them
        but without opening the file: its size must be what its plan's length gives. A warm dub links
        takes and mostly never reads them (its line media and stems are linked too), and scanning, then
        parsing, a feature's takes was most of a warm run. Whoever reads the samples checks them
        (``render.read_span`` raises DamagedTake)."""
        found = self._checked(key, read=False)
        return None if found is None else (found[0], found[2])

    def _checked(self, key: str, read: bool) -> tuple[Path, np.ndarray | None, dict] | None:
        if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
            self.misses += 1
            return None
        try:
            row = self._db.execute("SELECT meta FROM takes WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise OutputError(f"{self.folder / 'index.sqlite'}: cannot read the render cache ({exc})") from None
        if row is None:
            self.misses += 1
            return None
        audio, path = None, self._file(key)  # a str: a warm dub asks this for every take
        try:
            meta = json.loads(row[0])
            if read:
                audio = np.load(path, allow_pickle=False)
                problem = checked_take(audio, meta)
            elif (problem := checked_meta(meta)) is None \
                    and os.stat(path).st_size != npy_bytes(meta["plan"]["media_samples"]):
                # not the size np.save gives (another numpy may pad its header otherwise): read the header
                problem = checked_take(np.load(path, mmap_mode="r", allow_pickle=False), meta, samples=False)
        except (OSError, ValueError, EOFError, TypeError):  # missing, truncated, empty or not JSON
            problem = "its file or index entry is unreadable"
        if problem is not None:
            log.warning("render cache: take %s… is damaged (%s): rendered again", key[:12], problem)
            self._db.execute("DELETE FROM takes WHERE key = ?", (key,))
            Path(path).unlink(missing_ok=True)
            self.misses += 1
            return None
        self._used.append(key)  # recorded in one transaction at close: one commit per take cost more than the take
        self.hits += 1
        return Path(path), audio, meta

    def touch(self, keys: list[str]) -> None:
        """Count ``keys`` as used now (recorded at close, as reads are): takes a run relies on without
        reading them (an unchanged re-dub) are kept by ``prune`` as if read."""
        self._used.extend(k for k in keys if KEY_PATTERN.fullmatch(k))

    def forget(self, key: str) -> None:
        """Drop a take found damaged after :meth:`locate` handed it out: the next run renders it again."""
        if KEY_PATTERN.fullmatch(key):
            self._db.execute("DELETE FROM takes WHERE key = ?", (key,))
            self._path(key).unlink(missing_ok=True)

    def put(self, key: str, audio: np.ndarray, meta: dict) -> Path:
        """Store a take: file to a temporary name, rename, then index (a crash never corrupts).
        Returns the take's ``.npy`` file (which a caller may link, never write)."""
        path = self._path(key)
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{key[:12]}.", suffix=".part", dir=path.parent)
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, np.ascontiguousarray(audio, dtype=np.float32), allow_pickle=False)
            os.replace(tmp, path)
            tmp = None
            now = time.time()
            self._db.execute(f"INSERT OR REPLACE INTO takes ({', '.join(_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?)",
                             (key, str(path.relative_to(self.folder)), json.dumps(meta),  # order kept: identical reports
                              path.stat().st_size, now, now))
        except OSError as exc:  # disk full, file too large, unwritable: name the take's file
            # numpy reports a short write (a full disk, a file-size limit) with no errno: say what it means
            reason = exc.strerror or f"disk full or file too large: {exc}"
            raise OutputError(f"{path}: cannot store a take in the render cache ({reason})") from None
        except sqlite3.Error as exc:
            raise OutputError(f"{self.folder / 'index.sqlite'}: cannot index a take in the render cache ({exc})") from None
        finally:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
        return path

    def info(self) -> dict:
        """Location, entry count, bytes, and the oldest / newest use."""
        return _info(self._db, self.folder)

    def prune(self, older_than: float | None = None) -> int:
        """Forget takes unused for ``older_than`` seconds (all when None) and sweep orphan files."""
        cutoff = time.time() - older_than if older_than is not None else float("inf")
        keys = [k for (k,) in self._db.execute("SELECT key FROM takes WHERE used < ?", (cutoff,))]
        for key in keys:
            self._db.execute("DELETE FROM takes WHERE key = ?", (key,))
            self._path(key).unlink(missing_ok=True)
        indexed = {k for (k,) in self._db.execute("SELECT key FROM takes")}
        for path in self._swept():
            # left by a killed run; an hour's grace so a take another process is indexing survives
            try:
                old = time.time() - path.lstat().st_mtime > 3600
            except FileNotFoundError:  # renamed by another process meanwhile
                continue
            if old and (path.suffix == ".part" or path.stem not in indexed):
                path.unlink(missing_ok=True)
        return len(keys)

    def _swept(self) -> list[Path]:
        """The files an orphan sweep may remove: takes and temporaries of our own shape, in real
        folders under ``objects/`` (a symlink there is never followed out of the cache)."""
        objects = self.folder / "objects"
        if objects.is_symlink() or not objects.is_dir():
            return []
        found = []
        for sub in objects.iterdir():
            if len(sub.name) != 2 or sub.is_symlink() or not sub.is_dir():
                continue
            found += [p for p in sub.iterdir() if not p.is_symlink() and p.is_file()
                      and (p.suffix == ".npy" or p.suffix == ".part" and p.name.startswith("."))]
        return found

    def close(self) -> None:
        """Record when the takes read were last used (what ``prune`` goes by), then close the index."""
        try:
            if self._used:
                now = time.time()
                with self._db:
                    self._db.execute("BEGIN")
                    self._db.executemany("UPDATE takes SET used = ? WHERE key = ?", [(now, k) for k in self._used])
        except sqlite3.Error as exc:  # the takes were read: a stale use time only makes prune keep them less
            log.warning("render cache: %s: cannot record use of %d takes (%s)", self.folder, len(self._used), exc)
        finally:
            self._used = []
            self._db.close()


def _info(db: sqlite3.Connection, folder: Path) -> dict:
    count, size, oldest, newest = db.execute(
        "SELECT COUNT(*), COALESCE(SUM(bytes), 0), MIN(used), MAX(used) FROM takes").fetchone()
    return {"folder": str(folder), "entries": count, "bytes": size, "oldest_use": oldest, "newest_use": newest}


def cache_info(folder: str | Path) -> dict:
    """What ``otio-dub cache info`` shows, creating nothing: a folder that does not exist yet is an
    empty cache; a folder that exists but is not a cache is refused."""
    folder = Path(folder).expanduser()
    empty = {"folder": str(folder), "entries": 0, "bytes": 0, "oldest_use": None, "newest_use": None}
    if not folder.exists():
        return empty
    _check_marked(folder)
    index = folder / "index.sqlite"
    if not index.is_file():
        return empty
    # read-only; while no writer has a WAL open the file is read as immutable (no -wal/-shm is made)
    wal = index.with_name("index.sqlite-wal").exists()
    try:
        db = sqlite3.connect(f"file:{quote(str(index))}?mode=ro" + ("" if wal else "&immutable=1"), uri=True)
        try:
            _check_schema(db, folder)
            return _info(db, folder)
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise OutputError(f"{index}: cannot read the render cache index ({exc})") from None
