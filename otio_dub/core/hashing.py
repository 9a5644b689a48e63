"""Content keys and file identities: SHA-256 of a file, a take's key, a file's state; one helper for every place
that keys or checks a file (the cache, speech and delivery alike)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

RENDER_VERSION = 3  # 3: resampling by the numpy Kaiser sinc (within 2e-5 of torchaudio's kernel, not bit-equal)


def file_sha256(path: str | Path) -> str:
    """The hex SHA-256 of the file at ``path`` (read 1 MiB at a time)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def make_key(**parts: object) -> str:
    """The content key of a take: canonical JSON of its parts and the render version, hashed."""
    text = json.dumps({"render_version": RENDER_VERSION, **parts}, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_state(path: str | Path) -> tuple[str, int, int, int, int]:
    """What tells a file's content changed without reading it: path, size, inode, mtime and ctime (a
    rewrite moves ctime even when a copy keeps size and mtime); size -1 when there is no regular file.
    What keys a voice file and a stem's line files (hashing them on every run would cost what reuse saves)."""
    try:
        st = os.stat(path)
    except OSError:
        return (str(path), -1, 0, 0, 0)
    return (str(path), st.st_size, st.st_ino, st.st_mtime_ns, st.st_ctime_ns) if stat.S_ISREG(st.st_mode) \
        else (str(path), -1, 0, 0, 0)
