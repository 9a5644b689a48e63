"""``llm``: any OpenAI-compatible chat endpoint (Ollama, llama.cpp's server, vLLM, LM Studio, OpenAI).

Set ``OTIO_DUB_LLM_URL`` (the base URL, e.g. ``http://127.0.0.1:11434/v1``), ``OTIO_DUB_LLM_MODEL``
and, where the server wants one, ``OTIO_DUB_LLM_KEY``. Lines go in batches with their neighbours as
context; the model answers JSON with ``VARIANTS`` variants per line (the faithful one first, the
others near the line's target length), and rewrites a line shorter or longer when asked.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence

from .base import Item, TranslatorError, TranslatorInfo
from .web import post_json

VARIANTS = 3
BATCH = 20

SYSTEM = (
    "You adapt film dialogue for dubbing. Each line must be spoken in the time its original takes, "
    "so its length in characters matters. Keep every token that looks like __T0__ exactly as written "
    "(names and glossary terms). Keep the register and the meaning; localise numbers and times. "
    'Answer with JSON only, no prose: {"lines": [{"id": <id>, "variants": ["...", ...]}, ...]}, '
    "one entry for every line, with the same ids.")


def _strip_fences(text: str) -> str:
    match = re.search(r"```(?:json)?\s*(.*?)```", text, re.S)
    return match.group(1) if match else text


class LlmTranslator:
    """Chat completions at ``$OTIO_DUB_LLM_URL``/chat/completions with ``$OTIO_DUB_LLM_MODEL``."""

    def __init__(self) -> None:
        self.url = os.environ.get("OTIO_DUB_LLM_URL", "").strip().rstrip("/")
        self.model = os.environ.get("OTIO_DUB_LLM_MODEL", "").strip()
        self.key = os.environ.get("OTIO_DUB_LLM_KEY", "").strip()
        if not self.url or not self.model:
            raise TranslatorError("translator 'llm' needs OTIO_DUB_LLM_URL (e.g. http://127.0.0.1:11434/v1) and "
                                  "OTIO_DUB_LLM_MODEL set")
        self.info = TranslatorInfo("llm", self.model, "the model's own licence", offline=False, rewrites=True)

    def supports(self, source: str, target: str) -> bool:
        """Any pair: whether the model knows it is the model's business."""
        return True

    def identity(self, source: str, target: str) -> dict:
        """The endpoint, the model, the prompt and the variant count decide the output."""
        return {"translator": "llm", "url": self.url, "model": self.model, "system": SYSTEM, "variants": VARIANTS}

    def translate(self, items: Sequence[Item], source: str, target: str) -> list[list[str]]:
        """Variants for each item, asked in batches of ``BATCH`` lines."""
        out: list[list[str]] = []
        for first in range(0, len(items), BATCH):
            batch = items[first:first + BATCH]
            try:
                out += self._ask(batch, source, target)
            except TranslatorError as exc:
                raise TranslatorError(str(exc), None if exc.index is None else first + exc.index) from None
        return out

    def _ask(self, batch: Sequence[Item], source: str, target: str) -> list[list[str]]:
        lines = []
        for number, item in enumerate(batch, 1):
            entry: dict = {"id": number, "text": item.text}
            if item.target_chars:
                entry["target_chars"] = item.target_chars
            if item.before or item.after:
                entry["context_before"], entry["context_after"] = list(item.before), list(item.after)
            if item.want != "translate":
                entry["task"] = f"rewrite the draft {item.want}, about target_chars characters"
                entry["draft"] = item.draft or ""
            lines.append(entry)
        request = {"source_lang": source, "target_lang": target, "variants": VARIANTS, "lines": lines}
        payload = {"model": self.model, "temperature": 0.3,
                   "messages": [{"role": "system", "content": SYSTEM},
                                {"role": "user", "content": json.dumps(request, ensure_ascii=False)}]}
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        answer = post_json("llm", f"{self.url}/chat/completions", payload, headers)
        return self._read(answer, len(batch))

    def _read(self, answer: dict, count: int) -> list[list[str]]:
        """The variants per line from a chat completion; partial, malformed or miscounted answers are errors."""
        try:
            choice = answer["choices"][0]
            content = choice["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise TranslatorError("llm: the answer has no choices[0].message.content") from None
        if choice.get("finish_reason") == "length":
            raise TranslatorError("llm: the answer was cut off (finish_reason 'length'); fewer lines per batch "
                                  "or a larger context would help")
        try:
            data = json.loads(_strip_fences(str(content)))
            entries = data["lines"]
            found = {int(e["id"]): e["variants"] for e in entries}
        except (ValueError, KeyError, TypeError):
            raise TranslatorError(f"llm: the model did not answer the JSON asked for ({str(content)[:80]!r})") from None
        if len(entries) != count or set(found) != set(range(1, count + 1)):
            missing = sorted(set(range(1, count + 1)) - set(found))
            raise TranslatorError(f"llm: answered {len(entries)} lines for {count}",
                                  index=(missing[0] - 1) if missing else None)
        out = []
        for number in range(1, count + 1):
            variants = found[number]
            if isinstance(variants, str):
                variants = [variants]
            if not isinstance(variants, list) or not variants or not all(isinstance(v, str) and v.strip() for v in variants):
                raise TranslatorError("llm: no usable variant for this line", index=number - 1)
            out.append([" ".join(v.split()) for v in variants])
        return out
