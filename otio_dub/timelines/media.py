"""The line media an NLE file names: a WAV's own facts, and media URLs made local or absolute.

Every writer and patcher of the editor's files needs them (AAF descriptors, FCP7 ``<file>``s,
FCPXML assets, EDL comments), so they live here, not in any one writer.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse


@dataclass(frozen=True)
class WavFacts:
    """What a PCMDescriptor says about a WAV, read from its own fmt and data chunks."""

    channels: int
    sample_rate: int
    bits: int
    block_align: int
    frames: int

    @property
    def average_bps(self) -> int:
        return self.sample_rate * self.block_align


def wav_facts(path: Path) -> WavFacts | None:
    """The fmt/data facts of a PCM RIFF WAV (BWF included), or None when it is not one."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            fmt = None
            while True:
                chunk = handle.read(8)
                if len(chunk) < 8:
                    return None
                cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if cid == b"fmt ":
                    fmt = struct.unpack("<HHIIHH", handle.read(16))
                    handle.seek(size - 16 + (size & 1), 1)
                elif cid == b"data" and fmt is not None:
                    _, channels, rate, _, align, bits = fmt
                    return WavFacts(channels, rate, bits, align, size // align if align else 0)
                else:
                    handle.seek(size + (size & 1), 1)
    except (OSError, struct.error):
        return None


def local_file(url: str, base: Path) -> Path | None:
    """The local file a media URL names (``file://`` URL, absolute path, or relative to ``base``)."""
    if not url:
        return None
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:
        return None
    path = Path(unquote(url))
    return path if path.is_absolute() else base / path


def link_url(url: str, link_dir: Path) -> str:
    """A media URL as an absolute file URL, relative paths taken from ``link_dir`` (what NLEs relink by)."""
    parsed = urlparse(url)
    if parsed.scheme and len(parsed.scheme) > 1:
        return url
    path = Path(unquote(url))
    return Path(os.path.abspath(path if path.is_absolute() else link_dir / path)).as_uri()
