"""``otio-dub studio``: the review page of a dub served with an editing mode, engines kept warm.

Per line the director changes the text, voice, emotion, pace or window, presses Speak, and hears
the refitted take beside the current take and the original; tries are kept in memory until one
is chosen; Keep writes the chosen takes into the dub folder (:mod:`studio_keep`).

Safety on a workstation: the server listens on 127.0.0.1 only, on a random port by default; every
URL carries a per-session secret; a request whose Host or Origin is not the server's own is
refused (DNS rebinding); only regular files inside the dub folder are served (no ``..``, no
dot-files, no symlink leading out); request bodies and texts are bounded; nothing runs a shell.

The standard library's ThreadingHTTPServer serves it: no new dependency, and one local user's
page (a few requests a second, one render at a time) is well within what it handles.
"""

from __future__ import annotations

import hmac
import io
import json
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import numpy as np

from ..core.errors import OtioDubError, OutputError
from ..core.timebase import SAMPLE_RATE
from ..delivery.outdir import lock_folder
from ..review.data import page_data
from ..review.page import render_page
from ..speech.speak import Fitted, render_job
from ..store.cache import RenderCache
from .plan import LineJob
from .studio_keep import Chosen, keep, notes_document, undo, undo_folder
from .studio_plan import StudioDub, parse_edit

if TYPE_CHECKING:
    from filelock import BaseFileLock

log = logging.getLogger("otio_dub")

MAX_BODY = 64 * 1024  # bytes of a request body (an edit is a few hundred)
MAX_TRIES = 50  # tries kept per line (the oldest unchosen one goes first)
_TYPES = {".html": "text/html; charset=utf-8", ".wav": "audio/wav", ".json": "application/json",
          ".otio": "application/json", ".css": "text/css", ".js": "text/javascript", ".png": "image/png"}


class Refused(Exception):
    """A request refused with an HTTP status and one clear line."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Session:
    """What one studio holds: the dub as planned, the tries per line, the folder's lock."""

    def __init__(self, out: Path, cache: Path | None, mix_with: Path | None = None) -> None:
        self.out = Path(out).absolute()
        self.cache, self.mix_with = cache, mix_with
        self.dub = StudioDub(self.out, cache, mix_with)
        self.tries: dict[str, list[tuple[Chosen, bytes]]] = {}
        self.chosen: dict[str, int] = {}
        self.render_lock = threading.Lock()  # one render at a time: engines are shared by the process
        self.keeping = threading.Lock()
        self.lock: BaseFileLock | None = None
        self.folder_message = ""
        self.take_lock()
        shutil_rmtree(undo_folder(self.out))  # an undo from an earlier session is not this one's to use

    def take_lock(self) -> bool:
        """Hold the dub folder's lock (a dub or conform into it is refused meanwhile); False when another run has it."""
        if self.lock is not None:
            return True
        try:
            self.lock = lock_folder(self.out)
            self.folder_message = ""
        except OutputError as exc:
            self.folder_message = str(exc)
        return self.lock is not None

    def close(self) -> None:
        """Release the folder and forget the undo."""
        shutil_rmtree(undo_folder(self.out))
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def speak(self, raw: dict) -> dict:
        """Speak one line as edited (the render cache first), keep it as a try; what the page plays."""
        line_id = raw.get("id")
        if not isinstance(line_id, str):
            raise Refused(400, "id: the line to speak is missing")
        edit = parse_edit(raw)
        with self.render_lock:
            lj = self.dub.job_for(line_id, edit)
            fitted = self._cached(lj.job.key) or render_job(lj.job.portable())
            self._store(lj.job.key, fitted)
        tries = self.tries.setdefault(line_id, [])
        if len(tries) >= MAX_TRIES:
            drop = next((i for i in range(len(tries)) if self.chosen.get(line_id) != i), 0)
            tries[drop] = tries[drop][:1] + (b"",)  # its number stays; its audio is let go
        tries.append((Chosen(lj, fitted, edit), wav_bytes(fitted.media)))
        number = len(tries)
        return {"id": line_id, "take": number, "url": f"take/{line_id}/{number}.wav", **self._describe(lj, fitted)}

    def _describe(self, lj: LineJob, fitted: Fitted) -> dict:
        return {"seconds": round(fitted.media.size / SAMPLE_RATE, 4), "samples": int(fitted.media.size),
                "window": lj.window.samples, "status": fitted.plan.status, "speed": fitted.report.get("total_speed"),
                "key": lj.job.key}

    def _cached(self, key: str) -> Fitted | None:
        if self.cache is None:
            return None
        from ..speech import fit

        cache = RenderCache(self.cache)
        try:
            hit = cache.get(key)
        finally:
            cache.close()
        return Fitted(hit[0], fit.FitPlan(**hit[1]["plan"]), hit[1]["report"]) if hit else None

    def _store(self, key: str, fitted: Fitted) -> None:
        if self.cache is None:
            return
        from dataclasses import asdict

        cache = RenderCache(self.cache)
        try:
            cache.put(key, fitted.media, {"plan": asdict(fitted.plan), "report": fitted.report})
        finally:
            cache.close()

    def take_audio(self, line_id: str, number: int) -> bytes:
        """A try's WAV, by line and number (never a path from the request)."""
        tries = self.tries.get(line_id) or []
        if not 1 <= number <= len(tries) or not tries[number - 1][1]:
            raise Refused(404, f"no take {number} of {line_id}")
        return tries[number - 1][1]

    def choose(self, raw: dict) -> dict:
        """Choose (or with take null, unchoose) the try a keep writes for a line."""
        line_id, number = raw.get("id"), raw.get("take")
        if not isinstance(line_id, str) or line_id not in self.tries:
            raise Refused(400, "id: no try of that line to choose")
        if number is None:
            self.chosen.pop(line_id, None)
        elif isinstance(number, int) and not isinstance(number, bool) and 1 <= number <= len(self.tries[line_id]):
            self.chosen[line_id] = number - 1
        else:
            raise Refused(400, f"take: {line_id} has no take {number!r}")
        return self.state()

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """One keep or undo at a time, holding the folder's lock and the renders; the dub is read
        back from the folder after it. Refused while another keep runs or another run holds the folder."""
        if not self.keeping.acquire(blocking=False):
            raise Refused(409, "a keep is already running: wait for it to finish")
        try:
            if not self.take_lock():
                raise Refused(409, self.folder_message)
            with self.render_lock:
                yield
                self.dub = StudioDub(self.out, self.cache, self.mix_with)
        finally:
            self.keeping.release()

    def keep(self) -> dict:
        """Write the chosen takes into the dub folder."""
        with self._writing():
            chosen = {lid: self.tries[lid][i][0] for lid, i in self.chosen.items()}
            kept = keep(self.dub, chosen, self.lock)
            for lid in kept:
                self.tries.pop(lid, None)
                self.chosen.pop(lid, None)
        return {**self.state(), "kept": kept}

    def undo(self) -> dict:
        """Put back the dub as it was before the last keep."""
        with self._writing():
            undo(self.out, self.lock)
        return {**self.state(), "undone": True}

    def state(self) -> dict:
        """The tries per line, the chosen ones, and whether the folder can be written."""
        self.take_lock()
        tries = {lid: [{"take": i + 1, "url": f"take/{lid}/{i + 1}.wav", "edit": c.edit.as_dict(),
                        **self._describe(c.job, c.fitted)} for i, (c, audio) in enumerate(items) if audio]
                 for lid, items in self.tries.items()}
        return {"tries": tries, "chosen": {lid: i + 1 for lid, i in self.chosen.items()},
                "folder": self.folder_message or "held by this studio", "writable": self.lock is not None,
                "canUndo": (undo_folder(self.out) / "report.json").is_file(), "approximate": self.dub.approximate}

    def notes(self) -> dict:
        """The session's edits as a notes file: kept lines approved, chosen tries not kept yet to redo."""
        from ..review.notes import Note

        pending = [Note(lid, "redo", "tried in the studio", self.dub.rows[self.dub.line_index(lid)].get("key") or "",
                        self.tries[lid][i][0].edit.text, self.tries[lid][i][0].edit.pace
                        if self.tries[lid][i][0].edit.pace != 1.0 else None) for lid, i in self.chosen.items()]
        return notes_document(self.dub, pending)


def shutil_rmtree(path: Path) -> None:
    """Remove a folder if it is there."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def wav_bytes(media: np.ndarray) -> bytes:
    """A take as 16-bit PCM WAV for the browser (the kept media are written as the dub writes them)."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.asarray(media, dtype=np.float32), SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def studio_page(out: Path) -> str:
    """The review page with the studio's script added (the page on disk stays as ``otio-dub review`` writes it)."""
    page = render_page(page_data(out))
    script = files("otio_dub.review").joinpath("assets").joinpath("studio.js").read_text(encoding="utf-8")
    addition = f"<script>{script}</script>\n</body>"
    at = page.rfind("</body>")
    return page[:at] + addition + page[at + len("</body>"):]


class Handler(BaseHTTPRequestHandler):
    """One request: checked (Host, Origin, secret, size), then routed; every refusal is a status and a line."""

    server: StudioServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        log.debug("studio: " + format, *args)

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802 - the base class's name
        self._handle("POST")

    def do_HEAD(self) -> None:  # noqa: N802 - the base class's name
        self._handle("HEAD")

    def _handle(self, method: str) -> None:
        try:
            rest = self._checked()
            if method == "POST":
                body = self._body()
                self._json(self._post(rest, body))
            else:
                self._get(rest, head=method == "HEAD")
        except Refused as exc:
            self._error(exc.status, str(exc))
        except OtioDubError as exc:
            self._error(400 if not isinstance(exc, OutputError) else 409, str(exc))
        except Exception as exc:  # one clear line to the page; the server goes on
            log.exception("studio: %s failed", self.path)
            self._error(500, f"{type(exc).__name__}: {exc}")

    def _checked(self) -> str:
        """The path after the session prefix, once the request is known to come from the server's own page."""
        port = self.server.server_address[1]
        own = {f"127.0.0.1:{port}", f"localhost:{port}"}
        if self.headers.get("Host", "") not in own:
            raise Refused(403, "foreign Host: the studio answers only its own address")
        origin = self.headers.get("Origin")
        if origin is not None and origin not in {f"http://{h}" for h in own}:
            raise Refused(403, "foreign Origin: the studio answers only its own page")
        path = urlsplit(self.path).path
        prefix = "/s/"
        if not path.startswith(prefix):
            raise Refused(403, "wrong or missing session secret")
        secret, _, rest = path[len(prefix):].partition("/")
        if not hmac.compare_digest(secret.encode(), self.server.secret.encode()):
            raise Refused(403, "wrong or missing session secret")
        return unquote(rest)

    def _body(self) -> dict:
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            raise Refused(415, "the studio takes JSON bodies only")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise Refused(411, "a body needs its Content-Length") from None
        if length < 0 or length > MAX_BODY:
            self.close_connection = True  # the body is not read
            raise Refused(413, f"request body over {MAX_BODY} bytes")
        try:
            data = json.loads(self.rfile.read(length) or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise Refused(400, "the body is not JSON") from None
        if not isinstance(data, dict):
            raise Refused(400, "the body must be a JSON object")
        return data

    def _post(self, rest: str, body: dict) -> dict:
        session = self.server.session
        routes = {"api/speak": session.speak, "api/choose": session.choose,
                  "api/keep": lambda _: session.keep(), "api/undo": lambda _: session.undo()}
        if rest not in routes:
            raise Refused(404, f"no such action {rest!r}")
        return routes[rest](body)

    def _get(self, rest: str, head: bool) -> None:
        session = self.server.session
        if rest in ("", "review.html"):
            return self._send(200, studio_page(session.out).encode("utf-8"), _TYPES[".html"], head)
        if rest == "api/state":
            return self._json(session.state())
        if rest == "api/notes":
            return self._json(session.notes())
        if rest.startswith("take/"):
            parts = rest.split("/")
            if len(parts) != 3 or not parts[2].endswith(".wav") or not parts[2][:-4].isdigit():
                raise Refused(404, "no such take")
            return self._send(200, session.take_audio(parts[1], int(parts[2][:-4])), "audio/wav", head)
        return self._send(200, self._file(rest).read_bytes(), _TYPES.get(Path(rest).suffix.lower(), "application/octet-stream"), head)

    def _file(self, rest: str) -> Path:
        """A regular file inside the dub folder (no ``..``, no dot-files, no symlink leading out)."""
        parts = rest.split("/")
        if not rest or "\\" in rest or "\x00" in rest or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
            raise Refused(404, "not a file of this dub")
        root = Path(os.path.realpath(self.server.session.out))
        path = Path(os.path.realpath(root.joinpath(*parts)))
        if root not in path.parents or not path.is_file():
            raise Refused(404, "not a file of this dub")
        return path

    def _json(self, data: dict) -> None:
        self._send(200, json.dumps(data, ensure_ascii=False).encode("utf-8"), "application/json")

    def _error(self, status: int, message: str) -> None:
        try:
            self._send(status, json.dumps({"error": message, "status": status}).encode("utf-8"), "application/json")
        except OSError:
            pass

    def _send(self, status: int, body: bytes, kind: str, head: bool = False) -> None:
        self.send_response(status, HTTPStatus(status).phrase)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Content-Security-Policy", "default-src 'self' 'unsafe-inline' blob:; frame-ancestors 'none'")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not head:
            self.wfile.write(body)


class StudioServer(ThreadingHTTPServer):
    """The studio's HTTP server: 127.0.0.1 only, a random port unless told, a secret per session."""

    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, session: Session, port: int = 0) -> None:
        self.session = session
        self.secret = secrets.token_urlsafe(24)
        super().__init__(("127.0.0.1", port), Handler)

    @property
    def url(self) -> str:
        """The page's address, secret included (what the command prints and opens)."""
        return f"http://127.0.0.1:{self.server_address[1]}/s/{self.secret}/review.html"

    def server_close(self) -> None:
        """Stop listening, then release the folder."""
        super().server_close()
        self.session.close()


def start(out: Path, cache: Path | None, port: int = 0, mix_with: Path | None = None) -> StudioServer:
    """A studio on ``out`` serving from a background thread (tests, benchmarks); ``shutdown()`` then ``server_close()``."""
    server = StudioServer(Session(out, cache, mix_with), port)
    threading.Thread(target=server.serve_forever, daemon=True, name="otio-dub-studio").start()
    return server
