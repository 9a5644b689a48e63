"""Translations kept by content key, so a re-run asks no engine again: one small JSON file per key
under ``<cache folder>/translations/`` (the render cache's folder, ``store.cache.default_folder()``),
written under a temporary name and renamed; a file that cannot be read is a miss. The folder is
claimed as a render cache first (``RenderCache``), so a folder that is someone's data is refused and
the dub that follows finds a cache, not a stranger's folder."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger("otio_dub")


class TranslationStore:
    """Values by key in ``folder``/translations; ``None`` as the folder keeps nothing."""

    def __init__(self, folder: str | Path | None) -> None:
        self.folder = Path(folder).expanduser() / "translations" if folder else None
        if folder:
            from ..store.cache import RenderCache

            RenderCache(folder).close()
        self.hits = self.misses = 0

    def _path(self, key: str) -> Path:
        assert self.folder is not None
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> object | None:
        """The value stored under ``key``, else None."""
        if self.folder is None:
            return None
        try:
            value = json.loads(self._path(key).read_text(encoding="utf-8"))["value"]
        except (OSError, ValueError, KeyError, TypeError):
            self.misses += 1
            return None
        self.hits += 1
        return value

    def put(self, key: str, value: object) -> None:
        """Store ``value`` under ``key`` (silently nothing when the folder cannot be written)."""
        if self.folder is None:
            return
        path = self._path(key)
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"value": value}, fh, ensure_ascii=False)
            os.replace(tmp, path)
            tmp = None
        except OSError as exc:
            log.debug("translation %s…: not stored (%s)", key[:12], exc)
        finally:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
