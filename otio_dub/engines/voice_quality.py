"""What each voice is, as measured: its gender (name, checked by F0) and how well it speaks each language.

The figures come from ``benchmarks/bench_voice_quality.py`` (one run, kept in
:mod:`otio_dub.engines.voice_measures`): Whisper base reads back a fixed sentence set spoken by each
voice, giving a WER (CER for Japanese and Chinese) per language, a real-time factor, how far the
speed control misses 1/speed, and the voice's median F0. Automatic casting ranks voices by these
figures instead of by guess; a voice never measured ranks after the measured ones.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .voice_measures import MEASURES

#: F0 that tells a voice's gender apart: male speech sits near 85-155 Hz, female near 165-255 Hz.
SPLIT_HZ = 160.0
#: Piper voices whose speaker is known (Piper's catalogue carries no gender): by voice name.
PIPER_GENDER = {"joe": "male", "amy": "female", "lessac": "female", "ryan": "male", "alan": "male",
                "jenny_dioco": "female", "thorsten": "male", "kristin": "female", "kathleen": "female"}
GENDERS = ("female", "male")


def short(lang: str) -> str:
    """``pt-BR`` -> ``pt``, ``cmn`` -> ``zh``: the two-letter code a measure is kept under."""
    base = lang.lower().replace("_", "-").split("-")[0]
    return {"cmn": "zh", "jp": "ja"}.get(base, base)


def key(engine: str, voice: str | None) -> str:
    """How a voice is named in the measures: ``kokoro jf_alpha``, ``espeak +f4``, ``piper joe``."""
    if engine == "espeak":
        variant = (voice or "").partition("+")[2]
        return f"espeak +{variant}" if variant else "espeak"
    name = re.sub(r"\.onnx$", "", (voice or "").rsplit("/", 1)[-1])
    return f"{engine} {name}"


def measure(engine: str, voice: str | None, lang: str) -> dict | None:
    """The voice's figures in ``lang`` (``wer``, ``rtf``, ``speed_error``), None when never measured."""
    return MEASURES.get(key(engine, voice), {}).get("langs", {}).get(short(lang))


def wer(engine: str, voice: str | None, lang: str) -> float | None:
    """The voice's measured WER (CER for ja/zh) in ``lang``, 0..1, None when never measured."""
    found = measure(engine, voice, lang)
    return None if found is None else found["wer"]


def voice_f0(engine: str, voice: str | None) -> float | None:
    """The voice's measured median F0 in Hz, None when never measured."""
    return MEASURES.get(key(engine, voice), {}).get("f0")


def named_gender(engine: str, voice: str | None) -> str | None:
    """The gender a voice's name gives: kokoro ``jf_``/``jm_``, espeak ``+f``/``+m``, known piper voices."""
    name = voice or ""
    if engine == "kokoro" and len(name) > 2 and name[2] == "_":
        return {"f": "female", "m": "male"}.get(name[1])
    if engine == "espeak":
        variant = name.partition("+")[2]
        if not variant:
            return "male"  # espeak's own voices without a variant are male
        return {"f": "female", "m": "male"}.get(variant[:1]) if variant[1:].isdigit() else None
    if engine == "piper":
        stem = re.sub(r"\.onnx$", "", name.rsplit("/", 1)[-1])
        parts = stem.split("-")
        return PIPER_GENDER.get(parts[1] if len(parts) >= 2 else stem)
    return None


def gender(engine: str, voice: str | None) -> str | None:
    """The voice's gender: its name's, else its measured F0's (None: unknown, never given to a gendered part)."""
    named = named_gender(engine, voice)
    if named is not None:
        return named
    f0 = voice_f0(engine, voice)
    return None if f0 is None else ("male" if f0 < SPLIT_HZ else "female")


def ranked(engine: str, voices: Sequence[str], lang: str) -> list[str]:
    """``voices`` best first by measured WER in ``lang`` (unmeasured after, in their given order)."""
    def order(item: tuple[int, str]) -> tuple[float, int]:
        found = wer(engine, item[1], lang)
        return (found if found is not None else 2.0, item[0])

    return [v for _, v in sorted(enumerate(voices), key=order)]
