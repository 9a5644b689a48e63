"""Text shaping for the target language: subtitle line breaks and the condensed source an MT engine
is given when its translation is too long to speak in the window."""

from __future__ import annotations

import re

MAX_CHARS = 42
MAX_LINES = 2

#: Spoken English that carries little meaning and that adapters drop first when a line is too long
#: (only where a comma sets it off: "Look, ..." goes, "Look at the time!" stays).
FILLERS = ("you know", "I mean", "well", "oh", "um", "uh", "so", "look", "listen", "honestly", "actually",
           "really", "just", "now", "right", "okay", "ok", "hey", "come on", "of course", "still", "again", "sure",
           "then", "maybe", "somehow")
_FILLER = re.compile(r"(?:(?<=^)|(?<=[,.!?;:] ))(?:" + "|".join(re.escape(f) for f in FILLERS) + r"),\s*",
                     re.IGNORECASE)
_INNER = re.compile(r",\s*(?:" + "|".join(re.escape(f) for f in ("you know", "I mean", "believe me", "of course"))
                    + r")(?=[,.!?])", re.IGNORECASE)


def condensed(text: str) -> str:
    """``text`` without its discourse fillers ("Well, listen, the train is late" -> "The train is late")."""
    out = text
    for _ in range(3):
        out = _INNER.sub("", _FILLER.sub("", out))
    out = " ".join(out.split())
    out = re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), out)
    return out if out.strip(" .,!?") else text


def break_lines(text: str, width: int = MAX_CHARS) -> list[str]:
    """Subtitle lines: one when it fits ``width``, else two balanced at a space (after punctuation where
    one is near the middle); never more than two (a longer line is flagged, not cut)."""
    text = " ".join(text.split())
    if len(text) <= width:
        return [text]
    spaces = [i for i, ch in enumerate(text) if ch == " "]
    if not spaces:
        return [text]

    def cost(i: int) -> float:
        worst = max(i, len(text) - i - 1)
        punct = text[i - 1] in ",.;:!?" if i else False
        return worst - (4 if punct else 0) + (100 if worst > width else 0)

    cut = min(spaces, key=cost)
    return [text[:cut], text[cut + 1:]]


def fits_two_lines(text: str, width: int = MAX_CHARS) -> bool:
    """Whether ``text`` reads as at most two subtitle lines of ``width`` characters."""
    return all(len(part) <= width for part in break_lines(text, width))
