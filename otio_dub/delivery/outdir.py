"""An output folder written as one transaction: locked, staged beside it, swapped in whole.

A dub writes many files (line media, stems, the timeline in each format, the report, the review
page). They are all written into a staging folder next to the output folder; only when every one
succeeded does the staging folder replace the output folder, in one atomic exchange on Linux
(``renameat2(RENAME_EXCHANGE)``), else in two renames that the next run completes or undoes.
So a failure or a kill at any point leaves the previous dub byte-identical, or the new one whole.
Files in the output folder that no otio-dub run wrote (a cast file a user keeps there, an input)
are carried over as hard links. A lock file beside the folder keeps two runs apart.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import json
import logging
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.errors import OutputError

if TYPE_CHECKING:
    from filelock import BaseFileLock

log = logging.getLogger("otio_dub")

MANIFEST = "report.json"  # its "entries": the top-level names otio-dub wrote into the output folder
_STAGING = ".otio-dub-staging-"
_OLD = ".otio-dub-old-"
_RENAME_EXCHANGE = 2


def _sibling(out: Path, kind: str) -> str:
    return f".{out.name}{kind}"


def _renameat2_exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux 3.15+); False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    result = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False  # a file system without the exchange: fall back to two renames
    raise OSError(err, os.strerror(err), str(b))


def owned_entries(out: Path) -> set[str]:
    """Top-level names an earlier otio-dub run wrote into ``out`` (its manifest), plus the manifest."""
    try:
        names = json.loads((out / MANIFEST).read_text(encoding="utf-8")).get("entries", [])
        found = {n for n in names if isinstance(n, str) and n and "/" not in n and n not in (".", "..")}
    except (OSError, ValueError, AttributeError):
        found = set()
    return found | {MANIFEST}


def recover(out: Path) -> None:
    """Finish or undo what a killed run left beside ``out``: a half-done swap, stale staging folders."""
    parent = out.parent
    old_prefix, staging_prefix = _sibling(out, _OLD), _sibling(out, _STAGING)
    for entry in sorted(parent.glob(f"{old_prefix}*")) + sorted(parent.glob(f"{staging_prefix}*")):
        if entry.name.startswith(old_prefix) and not out.exists():
            os.replace(entry, out)  # killed between the two renames: the old dub goes back
            log.warning("%s: restored the previous dub after an interrupted run", out)
            continue
        shutil.rmtree(entry, ignore_errors=True)


def lock_folder(out: Path) -> BaseFileLock:
    """Take the lock that keeps otio-dub runs writing ``out`` apart (one OutputError when another holds it).

    Not thread-local: a holder (the studio) may commit from any of its threads."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(out.parent / f"{_sibling(out, '.otio-dub.lock')}"), timeout=0, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        raise OutputError(f"{out}: another otio-dub run is writing this folder; wait for it to finish") from None
    except OSError as exc:
        raise OutputError(f"{out}: cannot lock the output folder ({exc.strerror})") from None
    return lock


class OutputFolder:
    """The transaction: ``with OutputFolder(out) as tx:`` write under ``tx.staging``, then ``tx.commit()``."""

    def __init__(self, out: str | Path, held: BaseFileLock | None = None) -> None:
        if str(out).strip() == "":
            raise OutputError("the output folder is empty ('-o \"\"'): name a folder")
        self.out = Path(out).absolute()
        self.staging: Path = self.out  # set on entry
        self._lock: BaseFileLock | None = None
        self._held = held  # the folder's lock, held already by the caller (otio-dub studio, for its session)
        self._committed = False

    def __enter__(self) -> OutputFolder:
        parent = self.out.parent
        if self.out.exists() and not self.out.is_dir():
            raise OutputError(f"{self.out}: exists and is not a folder")
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{parent}: cannot create the output folder's parent ({exc.strerror})") from None
        self._take_lock()
        try:
            recover(self.out)
            self.staging = Path(tempfile.mkdtemp(prefix=_sibling(self.out, _STAGING), dir=parent))
            _set_mode(self.staging, self.out)
        except OSError as exc:
            self._release()
            raise OutputError(f"{self.out}: cannot write beside the output folder ({exc.strerror})") from None
        return self

    def _take_lock(self) -> None:
        if self._held is not None and self._held.is_locked:
            return  # the caller's lock keeps other runs out; it stays the caller's to release
        self._lock = lock_folder(self.out)

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __exit__(self, exc_type: object, *_: object) -> None:
        try:
            if not self._committed and self.staging != self.out:
                shutil.rmtree(self.staging, ignore_errors=True)
        finally:
            self._release()

    def public(self, message: str) -> str:
        """An error message with the staging folder's paths shown as the output folder's (where the user looks).

        libsndfile reports a failed write as "System error.": the file system's own reason (disk
        full, file too large) is found by asking it for one byte more in the same folder.
        """
        if "System error" in message:
            message = message.replace("System error.", _why_unwritable(self.staging)).replace("System error", "")
        # a spooled take is named as the line media it becomes (its name holds the line id: a name too long
        # for the file system fails there too)
        message = re.sub(re.escape(str(self.staging / ".takes")) + r"/([^:/]*)\.npy",
                         lambda m: str(self.out / "media" / f"{m.group(1)}.wav"), message)
        message = re.sub(re.escape(str(self.staging / ".takes")) + r"/[^:]*", str(self.out), message)
        return message.replace(str(self.staging), str(self.out))

    def commit(self, entries: Iterable[str]) -> None:
        """Swap the staged folder in: ``entries`` (top-level names, listed in its manifest) are this run's."""
        entries = sorted(set(entries))
        try:
            if self.out.exists():
                self._carry_foreign(set(entries))
                self._swap()
            else:
                os.replace(self.staging, self.out)
        except OSError as exc:
            raise OutputError(f"{self.out}: cannot put the new dub in place ({exc.strerror})") from None
        self._committed = True

    def _carry_foreign(self, ours: set[str]) -> None:
        """Hard-link (else copy) into staging what is in the folder but no otio-dub run wrote."""
        skip = ours | owned_entries(self.out)
        for entry in self.out.iterdir():
            if entry.name in skip or (self.staging / entry.name).exists():
                continue
            target = self.staging / entry.name
            if entry.is_dir() and not entry.is_symlink():
                shutil.copytree(entry, target, symlinks=True, copy_function=_link_or_copy)
            else:
                _link_or_copy(str(entry), str(target))

    def _swap(self) -> None:
        if self.out.resolve() == Path.cwd().resolve():
            # the shell's own folder must stay the same inode: replace the entries one by one
            self._replace_entries()
            return
        if _renameat2_exchange(self.staging, self.out):
            shutil.rmtree(self.staging, ignore_errors=True)  # now the old dub
            return
        old = Path(tempfile.mkdtemp(prefix=_sibling(self.out, _OLD), dir=self.out.parent))
        os.rmdir(old)  # only its unique name is wanted
        os.replace(self.out, old)  # a kill here: recover() puts the old dub back
        os.replace(self.staging, self.out)
        shutil.rmtree(old, ignore_errors=True)

    def _replace_entries(self) -> None:
        """Fallback for the current folder: each entry replaced atomically, stale ones removed."""
        for name in owned_entries(self.out) - {n.name for n in self.staging.iterdir()}:
            _remove(self.out / name)
        for entry in sorted(self.staging.iterdir()):
            target = self.out / entry.name
            if entry.is_dir() and target.is_dir() and not target.is_symlink():
                aside = self.out / f"{_OLD}{entry.name}"
                _remove(aside)
                os.replace(target, aside)
                os.replace(entry, target)
                _remove(aside)
            else:
                if target.is_dir() and not target.is_symlink():
                    _remove(target)
                os.replace(entry, target)
        shutil.rmtree(self.staging, ignore_errors=True)


def _why_unwritable(folder: Path) -> str:
    """The OS's reason a write in ``folder`` fails now (probing with a small file), else a generic one."""
    probe = folder / ".otio-dub-probe"
    try:
        with probe.open("wb") as fh:
            fh.write(b"\0" * (1 << 16))
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        return exc.strerror or str(exc)
    finally:
        probe.unlink(missing_ok=True)
    return "the audio writer failed"


def _set_mode(staging: Path, out: Path) -> None:
    """The staging folder (made private by mkdtemp) gets the output folder's mode, else the umask's."""
    if out.is_dir():
        shutil.copymode(out, staging)
        return
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(staging, 0o777 & ~mask)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, dst, follow_symlinks=False)
