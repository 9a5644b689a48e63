"""Piper voices by name (``de_DE-thorsten-medium``): downloaded once into the user cache, then offline.

Piper's voice repository keeps each voice at ``{family}/{lang}/{name}/{quality}/{voice}.onnx`` beside
its ``.onnx.json``, and a ``voices.json`` catalog giving every file's size and MD5. A download is
streamed to a temporary name, checked against the catalog (size, MD5, SHA-256 where published;
the Content-Length where there is no catalog) and renamed into place; a ``verified.json`` written
last records each file's size and SHA-256. A voice is used only when that record matches the
files, so a partial or corrupt download is never loaded, and a cached voice needs no network.
"""

from __future__ import annotations

import difflib
import hashlib
import http.client
import json
import logging
import os
import re
import sys
import tempfile
import time
import urllib.error
import urllib.request
import urllib.response
from collections.abc import Callable
from pathlib import Path

from ..core.errors import EngineError
from ..core.hashing import file_sha256

log = logging.getLogger("otio_dub")

#: Where voices come from: Piper's own repository unless ``$OTIO_DUB_PIPER_URL`` names a mirror.
DEFAULT_BASE_URL = "https://huggingface.co/rhasspy/piper-voices/resolve/main"
BASE_URL_ENV = "OTIO_DUB_PIPER_URL"
#: Where downloaded voices live: ``$OTIO_DUB_VOICES``, else ``<user cache>/otio-dub-voices``.
CACHE_ENV = "OTIO_DUB_VOICES"
VOICE_PATTERN = re.compile(r"^(?P<family>[a-z]{2,3})_(?P<region>[A-Za-z0-9]+)-(?P<name>[^-/\\]+)-(?P<quality>x_low|low|medium|high)$")
_RECORD = "verified.json"
_CHUNK = 1 << 20


def is_voice_name(name: str) -> bool:
    """Whether ``name`` reads as a voice of Piper's repository (``lang_REGION-name-quality``)."""
    return bool(VOICE_PATTERN.match(name))


def base_url() -> str:
    """The voice repository in use (``$OTIO_DUB_PIPER_URL`` or Piper's own), without a trailing slash."""
    return (os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")


def cache_root() -> Path:
    """The folder downloaded piper voices are kept in (one sub-folder per voice)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser() / "piper"
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "otio-dub-voices" / "piper"


def _layout(name: str) -> str:
    m = VOICE_PATTERN.match(name)
    if m is None:
        raise EngineError(f"{name!r} is not a piper voice name (like 'de_DE-thorsten-medium')")
    lang = f"{m['family']}_{m['region']}"
    return f"{m['family']}/{lang}/{m['name']}/{m['quality']}/{name}"


def cached_voice(name: str, root: Path | None = None, verify: bool = True) -> tuple[Path, Path] | None:
    """The (model, config) of a completely downloaded, verified voice, or None (never a network call).

    ``verify`` re-hashes the files against the record written at download time (a damaged cache
    file is then not used); without it only the sizes are compared.
    """
    folder = (root or cache_root()) / name
    try:
        record = json.loads((folder / _RECORD).read_text(encoding="utf-8"))
        files = record["files"]
        paths = (folder / f"{name}.onnx", folder / f"{name}.onnx.json")
        for path in paths:
            want = files[path.name]
            if path.stat().st_size != want["size"] or (verify and file_sha256(path) != want["sha256"]):
                return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return paths


def cached_voice_names(root: Path | None = None) -> list[str]:
    """Names of the voices downloaded so far (checked by size only: this is a listing)."""
    folder = root or cache_root()
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if is_voice_name(p.name) and cached_voice(p.name, folder, verify=False))


def _open(url: str, timeout: float) -> http.client.HTTPResponse | urllib.response.addinfourl:
    request = urllib.request.Request(url, headers={"User-Agent": "otio-dub"})
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - http(s) from a configured base URL


def _catalog_entry(name: str, url: str, timeout: float) -> dict | None:
    """The voice's entry in the repository's ``voices.json``; None when the mirror has no catalog."""
    try:
        with _open(f"{url}/voices.json", timeout) as response:
            catalog = json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise
    except (ValueError, UnicodeDecodeError):
        raise EngineError(f"{url}/voices.json is not a piper voice catalog") from None
    if not isinstance(catalog, dict):
        raise EngineError(f"{url}/voices.json is not a piper voice catalog")
    entry = catalog.get(name) or next((v for v in catalog.values() if isinstance(v, dict)
                                       and name in (v.get("aliases") or [])), None)
    if entry is None:
        close = difflib.get_close_matches(name, list(catalog), n=5, cutoff=0.6)
        raise EngineError(f"piper has no voice {name!r} in {url}/voices.json"
                          + (f"; did you mean {', '.join(close)}?" if close else ""))
    return entry


def _expected(entry: dict | None, name: str, suffix: str) -> tuple[str, dict]:
    """The file's path in the repository and what the catalog publishes about it."""
    if entry is not None:
        for path, facts in (entry.get("files") or {}).items():
            if path.rsplit("/", 1)[-1] == f"{name}{suffix}" and isinstance(facts, dict):
                return path, facts
    return _layout(name) + suffix, {}


def _download(url: str, target: Path, facts: dict, timeout: float) -> None:
    """Stream ``url`` to a temporary file beside ``target``, check it, and rename it into place."""
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.part-", dir=target.parent)
    try:
        size = 0
        with os.fdopen(fd, "wb") as out, _open(url, timeout) as response:
            length = response.headers.get("Content-Length")
            for block in iter(lambda: response.read(_CHUNK), b""):
                out.write(block)
                md5.update(block)
                sha.update(block)
                size += len(block)
            out.flush()
            os.fsync(out.fileno())
        want = facts.get("size_bytes", int(length) if length and length.isdigit() else None)
        if want is None:
            raise EngineError(f"{url}: no size published (no catalog entry, no Content-Length); not trusted")
        checks = [("size", size, int(want)), ("MD5", md5.hexdigest(), facts.get("md5_digest")),
                  ("SHA-256", sha.hexdigest(), facts.get("sha256_digest") or facts.get("sha256"))]
        for what, got, expected in checks:
            if expected is not None and got != expected:
                raise EngineError(f"{url}: downloaded file is damaged ({what} {got} != published {expected}); not used")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def fetch_voice(name: str, url: str | None = None, root: Path | None = None, timeout: float = 60.0,
                progress: Callable[[str], None] | None = None) -> tuple[Path, Path]:
    """The (model, config) of voice ``name``: from the cache, else downloaded into it once.

    Raises EngineError naming the voice, the cache and the repository when it is not cached and
    cannot be downloaded (offline), or when what arrives does not match what the catalog publishes.
    """
    root = root or cache_root()
    found = cached_voice(name, root)
    if found is not None:
        return found
    url = (url or base_url()).rstrip("/")
    _layout(name)  # a name that cannot be a voice fails before any request
    folder = root / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob(".*.part-*"):  # left by a killed download
            if time.time() - stale.stat().st_mtime > 3600:
                stale.unlink(missing_ok=True)
        entry = _catalog_entry(name, url, timeout)
        record = {}
        for suffix in (".onnx.json", ".onnx"):
            path, facts = _expected(entry, name, suffix)
            target = folder / f"{name}{suffix}"
            if progress:
                size = facts.get("size_bytes")
                progress(f"downloading piper voice {name}{suffix}" + (f" ({size / 1e6:.0f} MB)" if size else ""))
            _download(f"{url}/{path}", target, facts, timeout)
            record[target.name] = {"size": target.stat().st_size, "sha256": file_sha256(target), "url": f"{url}/{path}"}
        json.loads((folder / f"{name}.onnx.json").read_text(encoding="utf-8"))  # a config that is not JSON fails here
        fd, tmp = tempfile.mkstemp(prefix=f".{_RECORD}.part-", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"voice": name, "files": record}, fh, indent=2)
        os.replace(tmp, folder / _RECORD)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise EngineError(f"piper voice {name!r} is not in the voice cache ({folder}) and cannot be downloaded "
                          f"from {url} ({reason}); connect once or set ${BASE_URL_ENV} to a mirror, or give "
                          f"a path to a .onnx voice") from None
    except http.client.HTTPException as exc:
        raise EngineError(f"piper voice {name!r}: the download from {url} broke off ({exc!r}); nothing was "
                          "kept, try again") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise EngineError(f"piper voice {name!r}: the downloaded config is not valid JSON ({exc}); not used") from None
    except OSError as exc:
        raise EngineError(f"piper voice {name!r}: cannot write the voice cache {folder} ({exc.strerror or exc})") from None
    found = cached_voice(name, root)
    if found is None:  # pragma: no cover - another process replaced a file between the rename and here
        raise EngineError(f"piper voice {name!r}: the cached files changed while downloading; try again")
    log.info("piper voice %s downloaded into %s", name, folder)
    return found
