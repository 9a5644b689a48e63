"""DubOptions: everything a dub run can be told, shared by the CLI, the API, the hooks and every stage."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..casting.cast import CastEntry
from ..core.errors import EngineError
from ..delivery.stems import StemOptions
from ..engines import BEST, DEFAULT_ENGINE, available_engines
from ..speech import fit

#: The house's default engine, where a studio sets one (``espeak``, ``piper``, ``kokoro`` or ``best``).
ENGINE_ENV = "OTIO_DUB_ENGINE"


def default_engine() -> str:
    """The engine a run uses unless told: ``$OTIO_DUB_ENGINE``, else ``best`` (each character's language's
    best installed voice, by measured WER: neural before espeak, :mod:`otio_dub.casting.auto`).

    A name no engine answers to is refused here, naming the variable: found later, the error named
    the first cast entry that fell back to it, as if the cast file held the typo."""
    name = os.environ.get(ENGINE_ENV, "").strip()
    if not name:
        return BEST
    known = available_engines()
    if name != BEST and name not in known:
        raise EngineError(f"${ENGINE_ENV}: unknown engine {name!r}; known engines: {BEST}, {', '.join(sorted(known))}")
    return name


@dataclass(frozen=True)
class DubOptions:
    """Everything a dub run can be told; the CLI's options map onto these fields."""

    engine: str = field(default_factory=default_engine)  # "best", or one engine for every uncast character
    best_voices: bool = False  # as engine="best" (kept for callers that set it beside engine="espeak")
    lang: str = "en"
    cast: Mapping[str, CastEntry] | str | Path | None = None
    script_offset: str | None = None
    dialogue_tracks: tuple[str, ...] = ()
    policy: fit.FitPolicy = field(default_factory=fit.FitPolicy)
    to: str | None = None  # output format (formats.FORMATS); default: the input's
    rate: float | None = None  # frame rate for inputs without one (EDL, subtitles, dialogue lists)
    start: str | None = None  # start timecode for subtitle / dialogue-list inputs
    stems: StemOptions = field(default_factory=StemOptions)  # stems, loudness, true peak, full mix
    cache: str | Path | None = None  # render cache folder (cache.default_folder() is the CLI's default)
    jobs: int | None = 1  # local worker processes for the render stage (None: one per core)
    ray: str | None = None  # render on Ray: "local" for a local instance, "auto" or an address for a cluster
    only_lines: tuple[str, ...] = ()  # speak just these line ids again; keep every other take of the dub in -o
    aaf_embed: bool = False  # AAF with the line media embedded instead of linked
    drop_frame: bool | None = None  # force DF (True) or NDF (False) timecode; None: as the source says
    subtitles: tuple[str, ...] = ()  # subtitle formats of the dubbed lines (srt, vtt, ass)
    review: bool = True  # write review.html (and the originals it plays) with the dub
    match: bool = True  # cast uncast characters from the original actors' speech where their media can be read
    translate: str | None = None  # translate the lines into this language before dubbing them (otio_dub.translation)
    translator: str | None = None  # the translator for it (default: the first offline one with the pair)
    glossary: str | Path | None = None  # terms the translation keeps as given (source<TAB>target rows)

    @property
    def best(self) -> bool:
        """Whether uncast characters get the best installed voice of their language (no engine forced)."""
        return self.best_voices or self.engine == BEST

    @property
    def voice_engine(self) -> str:
        """The engine uncast characters fall back to: the one named, or espeak (always installed) for best."""
        return DEFAULT_ENGINE if self.engine == BEST else self.engine

    @property
    def engine_choice(self) -> str:
        """``best``, or the one engine forced: what a stage that casts on its own (translation) is told."""
        return BEST if self.best else self.engine
