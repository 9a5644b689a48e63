"""Render cache: fitted takes stored under a content key, so a re-run or a re-cut redoes nothing
it already did.

The key is a SHA-256 of everything a fitted take depends on (engine and its version, voice,
prosody, text, window in samples, fit policy, otio-dub's render version). Takes are ``.npy``
files (exact float32: a hit gives byte-identical outputs) under ``objects/``, indexed in SQLite
(WAL mode, so several processes, or machines on a share, can render into one cache). A take is
written to a temporary name, renamed, and only then indexed: a killed run leaves at worst an
orphan file, never an index entry without its take.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .errors import OutputError

#: Bump when a change to fitting or synthesis makes old takes wrong.
RENDER_VERSION = 2  # 2: resampling through a reused torchaudio Resample kernel
_SCHEMA = """CREATE TABLE IF NOT EXISTS takes (
    key TEXT PRIMARY KEY, path TEXT NOT NULL, meta TEXT NOT NULL, bytes INTEGER NOT NULL,
    created REAL NOT NULL, used REAL NOT NULL)"""


def default_folder() -> Path:
    """``$OTIO_DUB_CACHE``, else the user cache dir (XDG on Linux, Caches on macOS, LocalAppData)."""
    if os.environ.get("OTIO_DUB_CACHE"):
        return Path(os.environ["OTIO_DUB_CACHE"]).expanduser()
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "otio-dub" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "otio-dub"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "otio-dub"


def make_key(**parts: object) -> str:
    """The content key of a take: canonical JSON of its parts and the render version, hashed."""
    text = json.dumps({"render_version": RENDER_VERSION, **parts}, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _retry_locked(action: object, seconds: float = 60.0) -> None:
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


class RenderCache:
    """A folder of fitted takes and their SQLite index; safe for concurrent processes."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder).expanduser()
        try:
            (self.folder / "objects").mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.folder / "index.sqlite", timeout=60, isolation_level=None)
            self._db.execute("PRAGMA busy_timeout=60000")
            _retry_locked(lambda: self._db.execute("PRAGMA journal_mode=WAL"))  # ignores busy_timeout
            _retry_locked(lambda: self._db.execute(_SCHEMA))
        except (OSError, sqlite3.Error) as exc:
            raise OutputError(f"{self.folder}: cannot use as render cache ({exc})") from None
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        return self.folder / "objects" / key[:2] / f"{key}.npy"

    def get(self, key: str) -> tuple[np.ndarray, dict] | None:
        """The take and its metadata, or None (a missing or unreadable file is a miss, and forgotten)."""
        row = self._db.execute("SELECT meta FROM takes WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        try:
            audio = np.load(self._path(key), allow_pickle=False)
        except (OSError, ValueError, EOFError):  # missing, truncated or empty: a miss, and forgotten
            self._db.execute("DELETE FROM takes WHERE key = ?", (key,))
            self.misses += 1
            return None
        self._db.execute("UPDATE takes SET used = ? WHERE key = ?", (time.time(), key))
        self.hits += 1
        return audio, json.loads(row[0])

    def put(self, key: str, audio: np.ndarray, meta: dict) -> None:
        """Store a take: file to a temporary name, rename, then index (a crash never corrupts)."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{key[:12]}.", suffix=".part", dir=path.parent)
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, np.ascontiguousarray(audio, dtype=np.float32), allow_pickle=False)
            os.replace(tmp, path)
            now = time.time()
            self._db.execute("INSERT OR REPLACE INTO takes VALUES (?, ?, ?, ?, ?, ?)",
                             (key, str(path.relative_to(self.folder)), json.dumps(meta),  # order kept: identical reports
                              path.stat().st_size, now, now))
        except (OSError, sqlite3.Error) as exc:
            raise OutputError(f"{self.folder}: cannot store a take in the render cache ({exc})") from None

    def info(self) -> dict:
        """Location, entry count, bytes, and the oldest / newest use."""
        count, size, oldest, newest = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(bytes), 0), MIN(used), MAX(used) FROM takes").fetchone()
        return {"folder": str(self.folder), "entries": count, "bytes": size, "oldest_use": oldest, "newest_use": newest}

    def prune(self, older_than: float | None = None) -> int:
        """Forget takes unused for ``older_than`` seconds (all when None) and sweep orphan files."""
        cutoff = time.time() - older_than if older_than is not None else float("inf")
        keys = [k for (k,) in self._db.execute("SELECT key FROM takes WHERE used < ?", (cutoff,))]
        for key in keys:
            self._db.execute("DELETE FROM takes WHERE key = ?", (key,))
            self._path(key).unlink(missing_ok=True)
        indexed = {k for (k,) in self._db.execute("SELECT key FROM takes")}
        for path in (self.folder / "objects").glob("*/*"):
            # left by a killed run; an hour's grace so a take another process is indexing survives
            try:
                old = time.time() - path.stat().st_mtime > 3600
            except FileNotFoundError:  # renamed by another process meanwhile
                continue
            if old and (path.suffix == ".part" or path.stem not in indexed):
                path.unlink(missing_ok=True)
        return len(keys)

    def close(self) -> None:
        """Close the index connection."""
        self._db.close()
