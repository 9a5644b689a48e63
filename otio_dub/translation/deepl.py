"""``deepl``: DeepL's API v2 (``/v2/translate``). The key comes from ``OTIO_DUB_DEEPL_KEY`` (a free key,
ending in ``:fx``, uses api-free.deepl.com); ``OTIO_DUB_DEEPL_URL`` overrides the server. One
candidate per line; lines are sent 50 at a time with the surrounding lines as ``context``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from .base import Item, TranslatorError, TranslatorInfo, base_lang
from .web import post_json

BATCH = 50


def deepl_target(code: str) -> str:
    """A BCP 47 target as DeepL names it: ``pt-BR`` -> ``PT-BR``, ``en`` -> ``EN-US``, ``pt`` -> ``PT-PT``."""
    parts = code.replace("_", "-").split("-")
    lang = parts[0].upper()
    region = parts[1].upper() if len(parts) > 1 else ""
    if lang == "EN":
        return f"EN-{region}" if region in ("GB", "US") else "EN-US"
    if lang == "PT":
        return "PT-BR" if region == "BR" else "PT-PT"
    if lang == "ZH":
        return "ZH-HANT" if region in ("TW", "HK", "HANT") else "ZH-HANS"
    return lang


class DeeplTranslator:
    """POST /v2/translate with ``Authorization: DeepL-Auth-Key``."""

    def __init__(self) -> None:
        self.key = os.environ.get("OTIO_DUB_DEEPL_KEY", "").strip()
        if not self.key:
            raise TranslatorError("translator 'deepl' needs OTIO_DUB_DEEPL_KEY set")
        default = "https://api-free.deepl.com" if self.key.endswith(":fx") else "https://api.deepl.com"
        self.url = (os.environ.get("OTIO_DUB_DEEPL_URL", "").strip() or default).rstrip("/")
        self.info = TranslatorInfo("deepl", "v2", "DeepL's terms of service (commercial API)", offline=False)

    def supports(self, source: str, target: str) -> bool:
        """Any pair DeepL lists (checked by the server, not here)."""
        return True

    def identity(self, source: str, target: str) -> dict:
        """The server decides the output."""
        return {"translator": "deepl", "url": self.url, "target": deepl_target(target)}

    def translate(self, items: Sequence[Item], source: str, target: str) -> list[list[str]]:
        """One translation per item."""
        out: list[list[str]] = []
        for first in range(0, len(items), BATCH):
            batch = items[first:first + BATCH]
            context = " ".join(dict.fromkeys(t for item in batch for t in (*item.before, *item.after)))
            payload = {"text": [item.text for item in batch], "source_lang": base_lang(source).upper(),
                       "target_lang": deepl_target(target), "preserve_formatting": True}
            if context:
                payload["context"] = context
            answer = post_json("deepl", f"{self.url}/v2/translate", payload,
                               {"Authorization": f"DeepL-Auth-Key {self.key}"})
            got = answer.get("translations")
            if not isinstance(got, list):
                raise TranslatorError("deepl: the answer has no 'translations' list", index=first)
            if len(got) != len(batch):
                raise TranslatorError(f"deepl: answered {len(got)} lines for {len(batch)}", index=first + min(len(got), len(batch) - 1))
            for index, entry in enumerate(got):
                text = entry.get("text") if isinstance(entry, dict) else None
                if not isinstance(text, str) or not text.strip():
                    raise TranslatorError("deepl: no translation for this line", index=first + index)
                out.append([" ".join(text.split())])
        return out
