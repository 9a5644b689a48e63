"""Broadcast WAV output: 48 kHz / 24-bit PCM with a ``bext`` chunk, streamed and written atomically.

soundfile cannot write ``bext``, so this module writes the RIFF itself (the format is small and
fixed). A JUNK chunk reserves room for ``ds64`` so a file that passes 4 GB becomes RF64 in place.
Every file is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import bisect
import os
import struct
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import OutputError
from .timebase import SAMPLE_RATE

_BEXT_SIZE = 602
_FMT_SIZE = 16
_JUNK_SIZE = 28  # becomes the ds64 chunk if the file outgrows RIFF's 4 GB
_U32 = 0xFFFFFFFF


def _bext(description: str, originator: str, reference: str, time_reference: int) -> bytes:
    def fixed(text: str, size: int) -> bytes:
        return text.encode("ascii", "replace")[:size].ljust(size, b"\0")

    body = (
        fixed(description, 256) + fixed(originator, 32) + fixed(reference, 32)
        + b"\0" * 10 + b"\0" * 8  # origination date/time left empty: outputs stay byte-identical
        + struct.pack("<II", time_reference & _U32, time_reference >> 32)
        + struct.pack("<H", 1) + b"\0" * 64 + b"\0" * 10 + b"\0" * 180
    )
    assert len(body) == _BEXT_SIZE
    return b"bext" + struct.pack("<I", _BEXT_SIZE) + body


def to_int24(block: np.ndarray) -> bytes:
    """Float samples in [-1, 1] as little-endian 24-bit PCM bytes (clipped, rounded)."""
    ints = np.clip(np.rint(block.astype(np.float64) * 8388608.0), -8388608, 8388607).astype("<i4")
    return ints.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()


class BwfWriter:
    """Streams float blocks into a 24-bit BWF at ``path``; nothing appears there until ``close``."""

    def __init__(self, path: str | Path, time_reference: int, description: str = "",
                 originator: str = "otio-dub", channels: int = 1, sample_rate: int = SAMPLE_RATE) -> None:
        self.path = Path(path)
        self.channels = channels
        self.frames = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part", dir=self.path.parent)
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot write ({exc.strerror})") from None
        self._tmp = Path(tmp)
        self._fh = os.fdopen(fd, "wb")
        block_align = 3 * channels
        fmt = b"fmt " + struct.pack("<IHHIIHH", _FMT_SIZE, 1, channels, sample_rate, sample_rate * block_align, block_align, 24)
        header = b"WAVE" + b"JUNK" + struct.pack("<I", _JUNK_SIZE) + b"\0" * _JUNK_SIZE
        header += _bext(description, originator, self.path.stem, time_reference) + fmt
        self._fh.write(b"RIFF" + struct.pack("<I", 0) + header + b"data" + struct.pack("<I", 0))
        self._data_start = self._fh.tell()

    def write(self, block: np.ndarray) -> None:
        """Append samples (shape ``(n,)`` mono or ``(n, channels)``)."""
        data = to_int24(block.reshape(-1))
        self._fh.write(data)
        self.frames += len(data) // (3 * self.channels)

    def close(self) -> Path:
        """Patch the sizes (RF64 past 4 GB), flush, and rename into place."""
        try:
            data_size = self.frames * 3 * self.channels
            if data_size % 2:
                self._fh.write(b"\0")
            riff_size = self._fh.tell() - 8
            if riff_size > _U32:
                self._fh.seek(0)
                self._fh.write(b"RF64" + struct.pack("<I", _U32) + b"WAVE")
                self._fh.write(b"ds64" + struct.pack("<IQQQI", _JUNK_SIZE, riff_size, data_size, self.frames, 0))
                self._fh.seek(self._data_start - 4)
                self._fh.write(struct.pack("<I", _U32))
            else:
                self._fh.seek(4)
                self._fh.write(struct.pack("<I", riff_size))
                self._fh.seek(self._data_start - 4)
                self._fh.write(struct.pack("<I", data_size))
            self._fh.close()
            os.replace(self._tmp, self.path)
        except OSError as exc:
            self.abort()
            raise OutputError(f"{self.path}: cannot write ({exc.strerror})") from None
        return self.path

    def abort(self) -> None:
        """Drop the partial file: an interrupted render leaves nothing half-written behind."""
        if not self._fh.closed:
            self._fh.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> BwfWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_bwf(path: str | Path, audio: np.ndarray, time_reference: int, description: str = "") -> Path:
    """Write a whole array as one BWF file (per-line media)."""
    with BwfWriter(path, time_reference, description) as out:
        out.write(audio)
    return Path(path)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write a text file under a temporary name, then rename it into place."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror})") from None
    return path


@dataclass(frozen=True)
class Placement:
    """A media file laid on the stem: first sample relative to the stem start, its length, gain."""

    path: Path
    start: int
    length: int
    gain: float = 1.0


def render_stem(path: str | Path, placements: Sequence[Placement], total: int, time_reference: int,
                description: str = "", block: int = 1 << 18) -> Path:
    """Mix placements into a stem exactly ``total`` samples long, block by block (memory stays flat)."""
    import soundfile as sf

    items = sorted(placements, key=lambda p: p.start)
    starts = [p.start for p in items]
    longest = max((p.length for p in items), default=0)
    with BwfWriter(path, time_reference, description) as out:
        for b0 in range(0, total, block):
            b1 = min(total, b0 + block)
            buf = np.zeros(b1 - b0, dtype=np.float32)
            lo = bisect.bisect_left(starts, b0 - longest)
            hi = bisect.bisect_left(starts, b1)
            for p in items[lo:hi]:
                s0, s1 = max(b0, p.start), min(b1, p.start + p.length)
                if s1 <= s0:
                    continue
                audio, _ = sf.read(str(p.path), start=s0 - p.start, stop=s1 - p.start, dtype="float32", always_2d=False)
                buf[s0 - b0: s0 - b0 + audio.shape[0]] += audio * p.gain
            out.write(buf)
    return Path(path)


def group(placements: Iterable[tuple[str, Placement]]) -> dict[str, list[Placement]]:
    """Placements by stem name, preserving first-appearance order."""
    stems: dict[str, list[Placement]] = {}
    for name, placement in placements:
        stems.setdefault(name, []).append(placement)
    return stems
