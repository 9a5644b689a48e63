"""Text to IPA phonemes with espeak-ng in-process (ctypes, the espeakng-loader library): Kokoro's input.

Kokoro-82M was trained on espeak-ng IPA for every language but English, Japanese and Chinese
(misaki's ``EspeakG2P``: stress marks kept, multi-letter phonemes tied then folded into single
symbols such as ``ʦ``, ``ʤ``, ``A`` for /eɪ/). This module produces the same string without the
GPL ``phonemizer`` package: espeak-ng's own ``espeak_TextToPhonemes``, clause by clause, with the
punctuation put back where the text had it (Kokoro pauses and inflects on it). It runs on the
espeak engine's private library copy, loaded per call under the engine's lock, so phonemizing
never leaves state behind that would change an espeak take.
"""

from __future__ import annotations

import ctypes
import re

from ..core.errors import EngineError

#: Marks Kokoro's vocabulary has that espeak drops: kept, attached to the word before them.
PUNCTUATION = ';:,.!?¡¿—…"«»“”()'
_OPENING = "¡¿“«("
_SPLIT = re.compile(r"([" + re.escape(PUNCTUATION) + r"]+)")
_TIE = "\u0361"  # espeak's tie between the letters of one phoneme (phonememode bit 7)
_IPA = 0x02
_FLAG = re.compile(r"\([a-z^-]{2,16}\)")  # espeak's language-switch flags, tied as they come: (e^n) ... (es)
#: Full-width and Devanagari marks as the ASCII ones Kokoro knows.
_MARKS = str.maketrans({"，": ",", "。": ".", "？": "?", "！": "!", "：": ":", "；": ";", "、": ",", "।": ".", "॥": "."})
#: misaki's folding of tied espeak phonemes into Kokoro's single symbols (EspeakG2P), then English's.
_FOLD = {"a^ɪ": "I", "a^ʊ": "W", "d^z": "ʣ", "d^ʒ": "ʤ", "e^ɪ": "A", "o^ʊ": "O", "ə^ʊ": "Q", "s^s": "S",
         "t^s": "ʦ", "t^ʃ": "ʧ", "ɔ^ɪ": "Y"}
_FOLD_EN = {"ʔˌn\u0329": "tn", "ʔn\u0329": "tn", "ʔn": "tn", "ʔ": "t", "ə^l": "ᵊl", "ɚ": "əɹ", "r": "ɹ",
            "x": "k", "ç": "k", "ɐ": "ə", "ɬ": "l", "ʲ": "", "ɜː": "ɜɹ", "ɾ": "T", "ː": "", "e": "A"}


def _fold(phonemes: str, english: bool) -> str:
    table = {**_FOLD, **(_FOLD_EN if english else {})}
    for old in sorted(table, key=len, reverse=True):
        phonemes = phonemes.replace(old, table[old])
    return phonemes.replace("^", "").replace("-", "")


def _clause_phonemes(lib: ctypes.CDLL, text: str) -> str:
    """espeak-ng's IPA of ``text`` (no punctuation in it), words separated by spaces."""
    payload = ctypes.c_char_p(text.encode("utf-8"))
    pointer = ctypes.pointer(payload)
    mode = _IPA | 0x80 | (ord(_TIE) << 8)
    words = []
    for _ in range(10_000):  # one clause per call; the pointer is NULL once the text is used up
        if not ctypes.cast(pointer.contents, ctypes.c_void_p).value:
            break
        out = lib.espeak_TextToPhonemes(pointer, 1, mode)  # 1: UTF-8 text
        if out:
            words.append(out.decode("utf-8", errors="replace").strip())
    return " ".join(w for w in words if w)


def phonemes(text: str, lang: str) -> str:
    """Kokoro's phoneme string for ``text`` in espeak language ``lang`` (``es``, ``fr-fr``, ``en-us`` ...)."""
    from . import get_engine
    from .espeak import EspeakEngine

    engine = get_engine("espeak")
    if not isinstance(engine, EspeakEngine):  # pragma: no cover - a plugin replaced the built-in name
        engine = EspeakEngine()
    english = lang.lower().startswith("en")
    text = text.translate(_MARKS).replace("«", "“").replace("»", "”")
    parts = [p for p in _SPLIT.split(" ".join(text.split())) if p]
    out: list[str] = []
    with engine._lock, engine._session() as (lib, _):
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
        names = dict.fromkeys((lang.lower(), lang.lower().split("-")[0]))
        if all(lib.espeak_SetVoiceByName(name.encode()) != 0 for name in names):
            raise EngineError(f"espeak-ng has no language {lang!r} to phonemize with")
        for part in parts:
            if _SPLIT.fullmatch(part):  # closing marks end the word before, opening ones start the next
                closing = part.rstrip(_OPENING)
                if out and closing:
                    out[-1] = out[-1].rstrip() + closing + " "
                elif closing:
                    out.append(closing + " ")
                if len(closing) < len(part):
                    out.append(part[len(closing):])
                continue
            said = _fold(_FLAG.sub("", _clause_phonemes(lib, part).replace(_TIE, "^")), english)
            if said.strip():
                out.append(said.strip() + " ")
    return " ".join("".join(out).split())
