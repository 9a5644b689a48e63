"""JSON over HTTP for the network translators: timeouts, retries with backoff, Retry-After, one clear error.

Only urllib: nothing to install. 429 and 5xx answers, timeouts and dropped connections are tried
again (``RETRIES`` more times, waiting ``BACKOFF_S`` x 2^attempt, or what the server's Retry-After
says, at most ``MAX_WAIT_S``); any other HTTP error, or an answer that is not JSON, fails at once.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import os
import time
import urllib.error
import urllib.request

from .base import TranslatorError

RETRIES = 4
BACKOFF_S = 1.0
MAX_WAIT_S = 60.0


def timeout_s() -> float:
    """Seconds to wait for one answer: ``$OTIO_DUB_TRANSLATE_TIMEOUT``, else 60."""
    try:
        return float(os.environ.get("OTIO_DUB_TRANSLATE_TIMEOUT", "60"))
    except ValueError:
        raise TranslatorError("OTIO_DUB_TRANSLATE_TIMEOUT is not a number of seconds") from None


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (seconds or an HTTP date), None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def post_json(name: str, url: str, payload: dict, headers: dict[str, str]) -> dict:
    """POST ``payload`` as JSON to ``url``; the decoded JSON object answered (errors name ``name`` and the URL)."""
    body = json.dumps(payload).encode("utf-8")
    last = ""
    for attempt in range(RETRIES + 1):
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json", **headers})
        wait = BACKOFF_S * 2 ** attempt
        try:
            with urllib.request.urlopen(request, timeout=timeout_s()) as response:  # noqa: S310 - the user's URL
                raw = response.read()
            break
        except urllib.error.HTTPError as exc:
            detail = exc.read(300).decode("utf-8", "replace").strip()
            last = f"HTTP {exc.code}" + (f" ({' '.join(detail.split())[:200]})" if detail else "")
            if exc.code != 429 and exc.code < 500:
                raise TranslatorError(f"{name}: {url}: {last}") from None
            told = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
            wait = told if told is not None else wait
        except TimeoutError:
            last = f"no answer within {timeout_s():g} s"
        except http.client.HTTPException as exc:  # a reply cut short (IncompleteRead), a garbled status line
            last = f"a broken answer ({type(exc).__name__})"
        except (urllib.error.URLError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            last = f"cannot connect ({reason})"
        if attempt == RETRIES:
            raise TranslatorError(f"{name}: {url}: {last} after {RETRIES + 1} tries")
        time.sleep(min(wait, MAX_WAIT_S))
    try:
        answer = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise TranslatorError(f"{name}: {url}: the answer is not JSON ({raw[:80]!r})") from None
    if not isinstance(answer, dict):
        raise TranslatorError(f"{name}: {url}: the answer is not a JSON object")
    return answer
