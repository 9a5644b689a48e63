"""Stems: which lines go into which stem file, and rendering them from placed line media.

Used by ``dub`` after the line media are in place; a stem is exactly the timeline's length and
starts at its start timecode (bext TimeReference), so it lands in place when imported.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .render import Placement, group, render_stem
from .timebase import TimeBase

if TYPE_CHECKING:
    from .pipeline import DubOptions


def stem_names(keys: set[tuple[str, str]], several_langs: bool) -> dict[tuple[str, str], str]:
    """A file-safe, unique stem name per (lang, character); ``DIALOGUE`` is kept for the full mix."""
    taken = {"dialogue"}
    names = {}
    for lang, character in sorted(keys):
        base = re.sub(r"[^\w\- ]+", "_", f"{lang}_{character}" if several_langs else character).strip() or "UNNAMED"
        name, n = base, 1
        while name.lower() in taken:  # case-insensitive: macOS and Windows file systems are
            n += 1
            name = f"{base}_{n}"
        taken.add(name.lower())
        names[(lang, character)] = name
    return names


def render_stems(out: Path, placements: Sequence[tuple[str, str, Placement]], tb: TimeBase, total: int, name: str,
                 options: DubOptions) -> dict[str, Path]:
    """One stem per (language, character) and the full ``DIALOGUE`` stem, written into ``out/stems``."""
    langs = {lang for lang, _, _ in placements}
    names = stem_names({(lang, character) for lang, character, _ in placements}, several_langs=len(langs) > 1)
    by_stem = group((names[(lang, character)], p) for lang, character, p in placements)
    by_stem["DIALOGUE"] = [p for _, _, p in placements]
    return {stem: render_stem(out / "stems" / f"{stem}.wav", items, total, tb.start_sample,
                              description=f"otio-dub {stem} stem of {name}")
            for stem, items in by_stem.items()}
