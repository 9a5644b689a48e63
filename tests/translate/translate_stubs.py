"""Helpers of the translation tests: scripted replies of the local HTTP server and chat answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Reply:
    """One scripted answer: status, body (a dict is sent as JSON), headers, a delay before it, and ``cut``
    bytes promised by Content-Length but never sent (the connection closes: a reply cut short)."""

    status: int = 200
    body: object = None
    headers: dict = field(default_factory=dict)
    delay: float = 0.0
    cut: int = 0


@dataclass
class StubServer:
    """A local server answering from ``replies`` (in order; the last one repeats) or from ``answer(request)``."""

    url: str
    replies: list[Reply] = field(default_factory=list)
    answer: Callable[[dict], Reply] | None = None
    requests: list[dict] = field(default_factory=list)
    times: list[float] = field(default_factory=list)


def chat(content: object, finish: str = "stop") -> dict:
    """A chat-completion answer whose message content is ``content`` (a dict is written as JSON)."""
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    return {"choices": [{"index": 0, "finish_reason": finish, "message": {"role": "assistant", "content": text}}]}
