"""``apertium``: rule-based machine translation through Debian's ``apertium`` and its pair packages
(GPL, run as a separate program). Literal, word for word: every line wants a human adapter's eye.

Pairs are whatever ``apertium -l`` lists (``apt-get install apertium apertium-eng-spa`` gives
eng-spa and spa-eng). Lines go in as one text, separated by blank lines, so the pair's rules see
each line alone; the answer must come back with as many lines, else nothing is used.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

from .base import Item, TranslatorError, TranslatorInfo, base_lang

#: BCP 47 language -> Apertium's ISO 639-3 code (the pairs Debian packages).
ISO3 = {"en": "eng", "es": "spa", "ca": "cat", "gl": "glg", "fr": "fra", "pt": "por", "it": "ita", "oc": "oci",
        "ro": "ron", "eo": "epo", "eu": "eus", "an": "arg", "ast": "ast", "nb": "nob", "nn": "nno", "da": "dan",
        "sv": "swe", "is": "isl", "sh": "hbs", "mk": "mkd", "bg": "bul", "cy": "cym", "br": "bre", "mt": "mlt"}
TIMEOUT_S = 120


class ApertiumTranslator:
    """The ``apertium`` program, asked once per batch with an argument list (never a shell)."""

    def __init__(self) -> None:
        program = shutil.which("apertium")
        if program is None:
            raise TranslatorError("translator 'apertium' needs the apertium program: apt-get install apertium "
                                  "apertium-eng-spa (or another pair)")
        self.program: str = program
        self.modes = self._modes()
        self.info = TranslatorInfo("apertium", self._version(), "GPL-3.0 (apertium and its language data)",
                                   offline=True, literal=True)

    def _run(self, args: list[str], text: str = "") -> str:
        try:
            done = subprocess.run([self.program, *args], input=text, capture_output=True, text=True,
                                  encoding="utf-8", timeout=TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TranslatorError(f"apertium {' '.join(args)}: {exc}") from None
        if done.returncode != 0:
            raise TranslatorError(f"apertium {' '.join(args)}: {done.stderr.strip() or f'exit code {done.returncode}'}")
        return done.stdout

    def _modes(self) -> set[str]:
        return {m.strip() for m in self._run(["-l"]).split() if m.strip()}

    def _version(self) -> str:
        try:
            return self._run(["-V"]).strip() or "unknown"
        except TranslatorError:
            return "unknown"

    def mode(self, source: str, target: str) -> str | None:
        """The installed Apertium mode for the pair (``eng-spa``), or None."""
        src, tgt = ISO3.get(base_lang(source), base_lang(source)), ISO3.get(base_lang(target), base_lang(target))
        name = f"{src}-{tgt}"
        return name if name in self.modes else None

    def pairs(self) -> list[str]:
        """The installed pairs, as Apertium names them (``eng-spa``)."""
        return sorted(self.modes) or ["nothing: no pair package installed"]

    def supports(self, source: str, target: str) -> bool:
        """Whether a pair package for ``source`` -> ``target`` is installed."""
        return self.mode(source, target) is not None

    def identity(self, source: str, target: str) -> dict:
        """Apertium's version and the pair's mode decide the output."""
        return {"translator": "apertium", "version": self.info.version, "mode": self.mode(source, target)}

    def translate(self, items: Sequence[Item], source: str, target: str) -> list[list[str]]:
        """One literal translation per item (unknown words are passed through unmarked)."""
        mode = self.mode(source, target)
        if mode is None:
            raise TranslatorError(f"apertium has no {source} -> {target} pair installed (installed: "
                                  f"{', '.join(sorted(self.modes)) or 'none'})")
        if not items:
            return []
        text = "\n\n".join(" ".join(item.text.split()) for item in items) + "\n"
        answer = [part.strip() for part in self._run(["-u", "-f", "txt", mode], text).strip().split("\n\n")]
        if len(answer) != len(items):
            raise TranslatorError(f"apertium {mode}: answered {len(answer)} lines for {len(items)}")
        return [[" ".join(a.split())] for a in answer]
