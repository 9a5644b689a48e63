"""``review.html``: one self-contained page per dub folder (inline CSS, JS and data; no CDN, no server).

The template, its stylesheet and its script are package data; the page's data is the JSON of
:func:`data.page_data`, embedded in a ``<script type="application/json">`` element. Media are
referenced relative to the page (``media/``, ``stems/``, ``review/orig/``), so the folder can be
moved, staged and swapped, or opened from disk offline.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

from ..audio.bwf import write_text_atomic
from .data import page_data

PAGE_NAME = "review.html"


def _asset(name: str) -> str:
    return files(__package__).joinpath("assets").joinpath(name).read_text(encoding="utf-8")


def _script_json(data: dict) -> str:
    """JSON safe inside a <script> element: no ``</script>``, no ``<!--``, no line separators."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def render_page(data: dict) -> str:
    """The page's HTML for ``data`` (what :func:`write_review` writes)."""
    from html import escape

    page = _asset("review.html")
    title = escape(f"{data.get('timeline') or 'dub'} - otio-dub review")
    for slot, value in (("/*@CSS@*/", _asset("review.css")), ("/*@JS@*/", _asset("review.js")),
                        ("@DATA@", _script_json(data)), ("@TITLE@", title)):
        page = page.replace(slot, value, 1)
    return page


def write_review(out_dir: Path) -> Path:
    """Build ``out_dir/review.html`` from the dub folder's own files (atomically); returns its path.

    Raises :class:`otio_dub.core.errors.InputError` when ``out_dir`` is not a dub folder.
    """
    out_dir = Path(out_dir)
    return write_text_atomic(out_dir / PAGE_NAME, render_page(page_data(out_dir)))
