"""Waveform thumbnails: a take's peak envelope in a few dozen buckets, as compact text.

Each bucket is the largest absolute sample in its stretch of the file, scaled so that -6 dBFS
fills the thumbnail (line media sit near -27 LKFS, peaking around -7 dBFS), and written as one
character of ``ALPHABET`` (64 levels). 1,200 lines cost about 80 kB of page.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ..core.hashing import file_sha256

log = logging.getLogger("otio_dub")

PEAK_BUCKETS = 64
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
FULL = 0.5  # -6 dBFS draws full height


def encode_peaks(audio: np.ndarray, buckets: int = PEAK_BUCKETS) -> str:
    """The peak envelope of mono or multichannel ``audio`` as ``buckets`` characters."""
    mono = np.abs(np.asarray(audio, dtype=np.float32))
    if mono.ndim == 2:
        mono = mono.max(axis=1)
    if mono.size == 0:
        return ALPHABET[0] * buckets
    edges = np.linspace(0, mono.size, buckets + 1).astype(np.int64)
    edges[1:] = np.maximum(edges[1:], edges[:-1] + 1)  # a file shorter than the buckets repeats samples
    edges = np.minimum(edges, mono.size)
    starts = np.minimum(edges[:-1], mono.size - 1)
    peaks = np.maximum.reduceat(mono, starts)
    levels = np.clip(np.ceil(peaks / FULL * (len(ALPHABET) - 1)), 0, len(ALPHABET) - 1).astype(int)
    return "".join(ALPHABET[i] for i in levels)


def decode_peaks(text: str) -> list[float]:
    """The levels of :func:`encode_peaks` (0..1 of the thumbnail's height): what the page draws."""
    return [ALPHABET.index(c) / (len(ALPHABET) - 1) for c in text]


def take_peaks(path: Path, buckets: int = PEAK_BUCKETS) -> str | None:
    """A take file's envelope (None when it cannot be read: the page draws no thumbnail)."""
    import soundfile as sf

    try:
        audio, _ = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, OSError) as exc:  # soundfile raises LibsndfileError (a RuntimeError) on bad files
        if path.exists():
            log.warning("%s: cannot draw its waveform (%s)", path, exc)
        return None
    return encode_peaks(audio, buckets)




class PeakCache:
    """Thumbnails of earlier builds by file name and content hash, kept in a JSON file, so rebuilding a
    page (``otio-dub review``, ``notes``, after ``conform``) decodes only changed takes. The content
    hash, not the modification time, keys them: the same dub writes a byte-identical cache file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            self._old = data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            self._old = {}
        self._new: dict[str, list] = {}

    def peaks(self, media: Path, name: str) -> str | None:
        """The envelope of ``media`` (cached under ``name`` while the file stays the same)."""
        try:
            stamp = [media.stat().st_size, file_sha256(media)]
        except OSError:
            return None
        old = self._old.get(name)
        peaks: str | None
        if isinstance(old, list) and len(old) == 3 and old[:2] == stamp and isinstance(old[2], str):
            peaks = old[2]
        else:
            peaks = take_peaks(media)
        if peaks is not None:
            self._new[name] = [*stamp, peaks]
        return peaks

    def save(self) -> None:
        """Keep what this build drew (only the takes still in the dub) for the next build."""
        from ..audio.bwf import write_text_atomic

        if self._new != self._old:
            write_text_atomic(self.path, json.dumps(self._new, separators=(",", ":")) + "\n")
