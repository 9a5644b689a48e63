"""Automatic voices: the best installed voice of a character's language, never of the other gender.

A character without a cast voice gets, among the voices that speak its language, the one with the
lowest measured WER (:mod:`otio_dub.engines.voice_quality`; espeak counts ``ESPEAK_PENALTY`` worse,
so neural voices come first where they are as clear), that nobody else has. Its gender comes from
the evidence, in order: the original actor heard (median F0, by :mod:`.matching`), the cast's
``gender`` (or ``voice_type``), the clip metadata's ``gender`` / ``voice_type``. With evidence only
voices of that gender are candidates; without, the pick keeps away from the pitch of voices already
given in the language, so characters sound different, and says that it had no evidence.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from ..audio.pitch import gender_of_f0, semitones
from ..core.errors import EngineError
from ..dialogue.lines import Line
from ..dialogue.script import normal_gender
from ..engines import VoiceSpec, get_engine
from ..engines import voice_quality as quality
from .cast import CastEntry

log = logging.getLogger("otio_dub")

#: Engines tried for the best voice when none is forced: neural first (order breaks ties only).
ENGINES = ("kokoro", "piper", "espeak")
#: How much worse an espeak voice counts than a neural one with the same WER.
ESPEAK_PENALTY = 0.1
#: WER assumed for a voice never measured in the language (a downloaded piper voice): after the measured.
UNMEASURED = 0.3
#: Extra cost per voice already given in the language within this many semitones (no gender evidence).
CLOSE_ST, CLOSE_COST = 3.0, 0.15


@dataclass(frozen=True)
class Evidence:
    """A character's gender and where it came from (``gender`` None: no evidence)."""

    gender: str | None
    source: str

    def describe(self) -> str:
        """``female from the cast``, ``male from actor F0 112 Hz``, ``no gender evidence``."""
        return f"{self.gender} from {self.source}" if self.gender else "no gender evidence"


def evidence(character: str, entry: CastEntry | None, lines: Sequence[Line], actor_f0: float | None = None) -> Evidence:
    """The character's gender: the actor heard, else the cast's, else its clips' metadata, else a
    dialogue list's GENDER column (the first row of the character that gives one)."""
    if actor_f0 and (heard := gender_of_f0(actor_f0)):
        return Evidence(heard, f"actor F0 {actor_f0:.0f} Hz")
    if entry is not None and entry.gender:
        return Evidence(entry.gender, "the cast")
    for line in lines:
        clip = line.extra.get("clip") if line.character == character else None
        if clip is None:
            continue
        meta = getattr(clip, "metadata", {}).get("otio_dub")
        if meta is not None and hasattr(meta, "get"):
            found = normal_gender(meta.get("gender")) or normal_gender(meta.get("voice_type"))
            if found:
                return Evidence(found, f"clip {clip.name!r} metadata")
    listed = next((line for line in lines if line.character == character and line.extra.get("gender")), None)
    if listed is not None:
        return Evidence(listed.extra["gender"], f"the GENDER column ({listed.origin})")
    return Evidence(None, "none")


@dataclass(frozen=True)
class Pick:
    """An automatic voice and why it was chosen."""

    engine: str
    spec: VoiceSpec
    why: str
    shared: bool = False  # no free voice of the gender was left: someone else has it too


def _offer(name: str, lang: str) -> list[VoiceSpec]:
    """The distinct automatic voices ``name`` offers for ``lang`` (none when it cannot speak it)."""
    try:
        engine = get_engine(name)
        count = len(engine.voices(lang)) if name != "espeak" else 8
        specs = []
        for index in range(max(count, 1) if name == "espeak" else count):
            spec = engine.default_voice(lang, index)
            engine.check(spec)
            if spec not in specs:
                specs.append(spec)
        return specs
    except EngineError:  # not installed, or no voice of the language
        return []


def choose(lang: str, found: Evidence, taken: set[tuple[str, str | None, int | None]],
           engines: Sequence[str] | None = None) -> Pick | None:
    """The best free voice of ``engines`` (default: every engine, neural first) for ``lang`` and ``found``'s gender.

    Taken voices are reused only when no free one of the gender is left (said in ``why``); None
    when no engine has a voice of the gender for the language.
    """
    offers = [(name, spec) for name in (engines or ENGINES) for spec in _offer(name, lang)]
    if found.gender:
        offers = [(n, s) for n, s in offers if quality.gender(n, s.voice) == found.gender]
    if not offers:
        return None
    free = [(n, s) for n, s in offers if (n, s.voice, s.speaker) not in taken]
    shared = not free
    given = [quality.voice_f0(n, v) for n, v, _ in taken]

    def cost(item: tuple[int, tuple[str, VoiceSpec]]) -> tuple[float, int]:
        index, (name, spec) = item
        wer = quality.wer(name, spec.voice, lang)
        score = (UNMEASURED if wer is None else wer) + (ESPEAK_PENALTY if name == "espeak" else 0.0)
        f0 = quality.voice_f0(name, spec.voice)
        if found.gender is None and f0:
            score += CLOSE_COST * sum(1 for g in given if g and abs(semitones(g, f0)) < CLOSE_ST)
        return score, index

    _, (name, spec) = min(enumerate(free or offers), key=cost)
    wer = quality.wer(name, spec.voice, lang)
    kind = "espeak" if name == "espeak" else "neural"
    rate = "CER" if quality.short(lang) in ("ja", "zh") else "WER"
    heard = f"{quality.short(lang)} {rate} {wer:.0%}" if wer is not None else f"{quality.short(lang)} unmeasured"
    voice_gender = quality.gender(name, spec.voice) or "gender unknown"
    why = f"{kind}, {heard}; {found.describe() if found.gender else 'no gender evidence, ' + voice_gender + ' voice'}"
    if shared:
        why += "; shared: no free voice of this gender left"
    return Pick(name, spec, why, shared)
