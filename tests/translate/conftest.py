"""Fixtures of the translation tests: a private cache, the demo scene's lines, and a scripted HTTP server
on 127.0.0.1 that answers as an OpenAI-compatible chat endpoint or DeepL would (never the internet)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from translate_stubs import StubServer

ROOT = Path(__file__).resolve().parents[2]
SCENE_OTIO = ROOT / "samples" / "scene.otio"
SCENE_ASS = ROOT / "samples" / "scene.ass"


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test its own cache folder (translations, takes, voice responses)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("OTIO_DUB_CACHE", str(folder))
    for name in ("OTIO_DUB_LLM_URL", "OTIO_DUB_LLM_MODEL", "OTIO_DUB_LLM_KEY", "OTIO_DUB_DEEPL_KEY", "OTIO_DUB_DEEPL_URL"):
        monkeypatch.delenv(name, raising=False)
    from otio_dub.translation import web

    monkeypatch.setattr(web, "BACKOFF_S", 0.01)
    return folder


@pytest.fixture
def scene_lines() -> tuple:
    """The demo scene's clock and lines (timeline + its English ASS script)."""
    from otio_dub.stages.options import DubOptions
    from otio_dub.stages.plan import collect_lines
    from otio_dub.timelines.timeline_io import read_timeline

    return collect_lines(read_timeline(SCENE_OTIO), SCENE_ASS, DubOptions())


@pytest.fixture
def stub() -> Iterator[StubServer]:
    """A scripted HTTP server on 127.0.0.1 (a random port), stopped after the test."""
    state = StubServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            request = {"path": self.path, "headers": dict(self.headers), "json": json.loads(body or b"{}")}
            state.requests.append(request)
            state.times.append(time.monotonic())
            if state.answer is not None:
                reply = state.answer(request)
            else:
                reply = state.replies[min(len(state.requests), len(state.replies)) - 1]
            time.sleep(reply.delay)
            data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
            try:
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data) + reply.cut))
                self.end_headers()
                self.wfile.write(data)
                self.close_connection = self.close_connection or bool(reply.cut)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()
