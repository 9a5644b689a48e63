"""Reusing what an earlier dub into the same folder already rendered: its loudness plan and stems.

A stems render is a pure function of its inputs: the line media laid on it (their samples and
places), the programme length and start, the title and the stem options, and the M&E. The dub's
``stems/stems.json`` records a key of those inputs; a re-dub whose key is the same links the
stems it would write from the previous folder (a hard link where the file system allows, else a
copy) instead of rendering them, and takes their measurements from the manifest, so a warm re-dub
writes byte-identical stems at the cost of a look at each line file (its take's key, else its size
and times). The loudness plan is keyed and reused the same way.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..audio.bwf import Placement
from ..core.errors import OutputError
from ..core.hashing import file_state, make_key

#: The manifest a dub's stems folder carries (``otio-dub stems`` writes one of the same name).
MANIFEST = "stems.json"
#: Bump when the stems, the loudness plan or a line's media file would come out differently from the
#: same inputs (line media are linked from the previous dub under a key that includes this).
STEMS_VERSION = 3  # 3: DIALOGUE's true peak from the characters' solo peaks; line files keyed by their state


def inputs_key(kind: str, placements: Sequence[tuple[str, str, Placement]], **parts: object) -> str:
    """The key of a render over ``placements``: each one's stem, place, gain and content (its
    ``identity`` where it has one, else its file's :func:`~otio_dub.core.hashing.file_state`: hashing every
    line file's samples was 3.3 s of a 90-minute ``otio-dub stems``, which re-renders anyway when a
    file was only rewritten), plus ``parts``."""
    laid = [(lang, character, p.start, p.length, p.offset, float(p.gain),
             p.identity or file_state(Path(p.path).resolve()))
            for lang, character, p in placements]
    return make_key(kind=kind, stems_version=STEMS_VERSION, placements=laid, **parts)


def mix_identity(path: Path | None) -> list | None:
    """What stands for an M&E in a key: its path, size and modification time (hashing gigabytes of
    M&E on every run would cost what reuse saves)."""
    if path is None:
        return None
    stat = Path(path).stat()
    return [str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns]


def load_manifest(folder: Path | None) -> dict:
    """The stems manifest in ``folder`` ({} when there is none, or it is not ours)."""
    if folder is None:
        return {}
    try:
        data = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def reusable(folder: Path | None, key: str) -> dict | None:
    """The manifest of ``folder`` when it was made from the inputs ``key`` names and every stem it
    lists is still there, whole (its recorded size); else None."""
    manifest = load_manifest(folder)
    if folder is None or manifest.get("inputs") != key or not isinstance(manifest.get("files"), dict):
        return None
    for entry in manifest["files"].values():
        try:
            path = Path(folder) / entry["file"]
            if path.name != entry["file"] or path.stat().st_size != entry["bytes"]:
                return None
        except (OSError, KeyError, TypeError):
            return None
    return manifest


def link_into(source: Path, target: Path, fresh: bool = False) -> Path:
    """``source`` at ``target`` without copying where possible (hard link), whole or not at all.

    ``fresh``: ``target`` is new, in a folder only this run writes (a spool or staging folder that
    appears whole or not at all): linked straight to its name, without a temporary one.
    """
    if fresh:
        try:
            try:
                os.link(source, target)  # a fresh name: linked at once (one call per take on a warm dub)
            except FileExistsError:  # never write through an earlier link to another file's samples
                target.unlink()
                _link_or_copy(source, target)
            except OSError:
                target.unlink(missing_ok=True)
                shutil.copyfile(source, target)
        except OSError as exc:
            raise OutputError(f"{target}: cannot write ({exc.strerror})") from None
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        os.close(fd)
        os.unlink(tmp)
        _link_or_copy(source, tmp)
        os.replace(tmp, target)
    except OSError as exc:
        raise OutputError(f"{target}: cannot write ({exc.strerror})") from None
    return target


def _link_or_copy(source: Path, target: str | Path) -> None:
    """A hard link at ``target`` (absent), or a copy on another file system or one without links."""
    try:
        os.link(source, target)
    except FileExistsError:  # recreated meanwhile: never copy through whatever is there now
        raise
    except OSError:
        shutil.copyfile(source, target)
