"""Broadcast WAV output: 48 kHz / 24-bit PCM with a ``bext`` chunk, streamed and written atomically.

soundfile cannot write ``bext``, so this module writes the RIFF itself (the format is small and
fixed). A JUNK chunk reserves room for ``ds64`` so a file that passes 4 GB becomes RF64 in place
(EBU Tech 3306). More than two channels use WAVE_FORMAT_EXTENSIBLE with the standard channel mask.
A stem's measured loudness goes into the bext v2 loudness fields (EBU Tech 3285) before it closes.
Every file is written under a temporary name and renamed when complete.

Stems are mixed block by block (:func:`mix_blocks`): each block reads only the stretch of each
line's media that falls in it, so memory does not grow with the programme's length.
"""

from __future__ import annotations

import bisect
import math
import os
import struct
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..core.errors import DamagedTake, OutputError
from ..core.timebase import SAMPLE_RATE

if TYPE_CHECKING:
    from .loudness import Loudness

_BEXT_SIZE = 602
_FMT_SIZE = 16
_FMT_EXTENSIBLE_SIZE = 40
_JUNK_SIZE = 28  # becomes the ds64 chunk if the file outgrows RIFF's 4 GB
_U32 = 0xFFFFFFFF
#: Largest RIFF size field; a bigger file is written as RF64 (a module constant so tests can lower it).
RIFF_LIMIT = _U32
#: Offsets inside the bext body (EBU Tech 3285): TimeReference, Version, loudness fields (v2).
BEXT_TIME_REFERENCE = 256 + 32 + 32 + 10 + 8
BEXT_VERSION = BEXT_TIME_REFERENCE + 8
BEXT_LOUDNESS = BEXT_VERSION + 2 + 64
#: WAVE_FORMAT_EXTENSIBLE speaker masks: 5.1 = L R C LFE Ls Rs, 7.1 adds side left/right.
_CHANNEL_MASKS = {3: 0x7, 4: 0x33, 6: 0x3F, 8: 0x63F}
_PCM_GUID = struct.pack("<IHH8s", 1, 0x0000, 0x0010, b"\x80\x00\x00\xaa\x00\x38\x9b\x71")
#: Samples per mixing block: 5 s at 48 kHz, a whole number of 100 ms loudness segments.
BLOCK = 240_000


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


def _file_mode() -> int:
    """Permissions a plain new file gets (mkstemp makes 0600; a delivery is shared: 0666 & ~umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def to_int24(block: np.ndarray) -> bytes:
    """Float samples in [-1, 1] as little-endian 24-bit PCM bytes (clipped, rounded)."""
    # float32 is exact here: scaling by 2**23 only moves the exponent, and rint of a float32 is exact
    scaled = np.rint(np.asarray(block, dtype=np.float32) * np.float32(8388608.0))
    ints = np.clip(scaled, -8388608, 8388607).astype("<i4")
    low = ints.view(np.uint8)
    out = np.empty(ints.size * 3, dtype=np.uint8)
    for byte in range(3):  # the three low bytes of each little-endian int32 (strided copies are fast)
        out[byte::3] = low[byte::4]
    return out.tobytes()


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
        if channels <= 2:
            fmt = b"fmt " + struct.pack("<IHHIIHH", _FMT_SIZE, 1, channels, sample_rate, sample_rate * block_align,
                                        block_align, 24)
        else:
            fmt = b"fmt " + struct.pack("<IHHIIHHHHI", _FMT_EXTENSIBLE_SIZE, 0xFFFE, channels, sample_rate,
                                        sample_rate * block_align, block_align, 24, 22, 24,
                                        _CHANNEL_MASKS.get(channels, 0)) + _PCM_GUID
        header = b"WAVE" + b"JUNK" + struct.pack("<I", _JUNK_SIZE) + b"\0" * _JUNK_SIZE
        self._bext_body = 12 + 8 + _JUNK_SIZE + 8  # file offset of the bext chunk's body
        header += _bext(description, originator, self.path.stem, time_reference) + fmt
        self._write(b"RIFF" + struct.pack("<I", 0) + header + b"data" + struct.pack("<I", 0))
        self._data_start = self._fh.tell()

    def write(self, block: np.ndarray) -> None:
        """Append samples (shape ``(n,)`` mono or ``(n, channels)``)."""
        data = to_int24(block.reshape(-1))
        self._write(data)
        self.frames += len(data) // (3 * self.channels)

    def _write(self, data: bytes) -> None:
        """Write, naming this file when the file system refuses (a failed write(2) names no file)."""
        try:
            self._fh.write(data)
        except OSError as exc:
            self.abort()
            raise OutputError(f"{self.path}: cannot write ({exc.strerror or exc})") from None

    def write_silence(self, frames: int) -> None:
        """Append ``frames`` of silence without computing them: the file position moves on and the gap
        reads back as zeros (written as a hole where the file system allows, filled in at ``close``)."""
        if frames <= 0:
            return
        try:
            self._fh.seek(frames * 3 * self.channels, os.SEEK_CUR)
        except OSError as exc:
            self.abort()
            raise OutputError(f"{self.path}: cannot write ({exc.strerror})") from None
        self.frames += frames

    def set_loudness(self, measured: Loudness) -> None:
        """Record a measurement in the bext v2 loudness fields (x100, 0x7FFF where unknown)."""

        def word(value: float) -> int:
            if not math.isfinite(value):
                return 0x7FFF
            return max(-32768, min(32766, round(value * 100)))

        fields = (measured.integrated, measured.loudness_range, measured.true_peak, measured.max_momentary,
                  measured.max_short_term)
        try:
            here = self._fh.tell()
            self._fh.seek(self._bext_body + BEXT_VERSION)
            self._fh.write(struct.pack("<H", 2))
            self._fh.seek(self._bext_body + BEXT_LOUDNESS)
            self._fh.write(struct.pack("<5h", *(word(v) for v in fields)))
            self._fh.seek(here)
        except OSError as exc:
            self.abort()
            raise OutputError(f"{self.path}: cannot write ({exc.strerror})") from None

    def close(self) -> Path:
        """Patch the sizes (RF64 past 4 GB), flush, and rename into place."""
        try:
            data_size = self.frames * 3 * self.channels
            self._fh.seek(self._data_start + data_size)
            self._fh.truncate()  # a file that ends in silence is extended to its full length here
            if data_size % 2:
                self._fh.write(b"\0")
            riff_size = self._fh.tell() - 8
            if riff_size > RIFF_LIMIT:
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
            os.chmod(self._tmp, _file_mode())
            os.replace(self._tmp, self.path)
        except OSError as exc:
            self.abort()
            raise OutputError(f"{self.path}: cannot write ({exc.strerror})") from None
        return self.path

    def abort(self) -> None:
        """Drop the partial file: an interrupted render leaves nothing half-written behind."""
        if not self._fh.closed:
            try:
                self._fh.close()
            except OSError:  # the buffered tail cannot be flushed either (disk full, file too large)
                pass
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
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror})") from None
    return path


@dataclass(frozen=True)
class Placement:
    """A media file laid on a stem: its first sample relative to the stem start, how many samples
    are laid, from which sample of the file (a head trim), and a linear gain."""

    path: Path
    start: int
    length: int
    gain: float = 1.0
    offset: int = 0
    identity: str = ""  # a key naming the file's samples, where one does (else its content is hashed)


def mix_blocks(groups: Sequence[Sequence[Placement]], total: int, block: int = BLOCK) -> Iterator[tuple[int, np.ndarray]]:
    """Mix each group of placements into its own signal, ``block`` samples at a time.

    Yields ``(first sample, array (len(groups), n))`` covering ``[0, total)`` in order. Only the part
    of a placement inside the block is read from its file; samples past a file's end are silence.
    """
    for b0, buf, n in mix_spans(groups, total, block):
        yield b0, buf if buf is not None else np.zeros((len(groups), n), dtype=np.float32)


def mix_spans(groups: Sequence[Sequence[Placement]], total: int, block: int = BLOCK,
              ) -> Iterator[tuple[int, np.ndarray | None, int]]:
    """Like :func:`mix_blocks`, but a stretch where no placement sounds comes as one ``(b0, None, n)``.

    Dialogue stems are mostly silence: a consumer writes and measures a silent stretch without
    computing it (:meth:`BwfWriter.write_silence`, :meth:`~otio_dub.audio.loudness.Meter.feed_silence`).
    Blocks with sound are at most ``block`` samples and start on a multiple of ``block`` past the
    start of their sounding stretch.
    """
    items = sorted(((p.start, g, p) for g, group in enumerate(groups) for p in group
                    if p.length > 0 and p.gain != 0 and p.start < total and p.start + p.length > 0),
                   key=lambda t: (t[0], t[1]))
    starts = [start for start, _, _ in items]
    longest = max((p.length for _, _, p in items), default=0)
    pos = 0
    i = 0
    while pos < total:
        if i >= len(items):
            yield pos, None, total - pos
            return
        start = max(pos, items[i][0])
        if start > pos:
            yield pos, None, start - pos
            pos = start
        end = pos  # the end of the sounding stretch: placements that overlap or touch chain on
        j = i
        while j < len(items) and items[j][0] <= end:
            end = max(end, items[j][2].start + items[j][2].length)
            j += 1
        end = min(end, total)
        for b0 in range(pos, end, block):
            b1 = min(end, b0 + block)
            buf = np.zeros((len(groups), b1 - b0), dtype=np.float32)
            for _, g, p in items[bisect.bisect_left(starts, b0 - longest, i, j): bisect.bisect_left(starts, b1, i, j)]:
                s0, s1 = max(b0, p.start), min(b1, p.start + p.length)
                if s1 <= s0:
                    continue
                first = p.offset + s0 - p.start
                audio = read_span(p.path, first, first + s1 - s0)
                if p.gain != 1.0:
                    audio = audio * np.float32(p.gain)
                buf[g, s0 - b0: s0 - b0 + audio.shape[0]] += audio
            yield b0, buf, b1 - b0
        pos, i = end, j


def render_stem(path: str | Path, placements: Sequence[Placement], total: int, time_reference: int,
                description: str = "", block: int = BLOCK) -> Path:
    """Mix placements into one stem exactly ``total`` samples long, block by block (memory stays flat)."""
    with BwfWriter(path, time_reference, description) as out:
        for _, buf, n in mix_spans([placements], total, block):
            if buf is None:
                out.write_silence(n)
            else:
                out.write(buf[0])
    return Path(path)


@dataclass(frozen=True)
class Bext:
    """What a WAV's bext chunk says (None fields when it has none)."""

    time_reference: int | None
    description: str
    originator: str
    version: int | None


def read_bext(path: str | Path) -> Bext:
    """The bext chunk of a RIFF or RF64 WAVE file, walking its chunks (no bext: None fields).

    Raises ValueError for a file that is not RIFF/RF64 WAVE.
    """
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64", b"BW64") or head[8:12] != b"WAVE":
            raise ValueError("not a RIFF/RF64 WAVE file")
        while True:
            chunk = fh.read(8)
            if len(chunk) < 8:
                return Bext(None, "", "", None)
            cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"bext":
                body = fh.read(min(size, _BEXT_SIZE))
                if len(body) < BEXT_VERSION + 2:
                    return Bext(None, "", "", None)
                low, high = struct.unpack_from("<II", body, BEXT_TIME_REFERENCE)

                def text(raw: bytes) -> str:
                    return raw.split(b"\0", 1)[0].decode("ascii", "replace")

                return Bext(low | (high << 32), text(body[:256]), text(body[256:288]),
                            struct.unpack_from("<H", body, BEXT_VERSION)[0])
            if cid == b"data":  # bext comes before the audio in every BWF writer we know of
                return Bext(None, "", "", None)
            fh.seek(size + (size & 1), os.SEEK_CUR)


def read_span(path: str | Path, first: int, stop: int) -> np.ndarray:
    """Samples ``[first, stop)`` of a mono take (float32 ``.npy``, only the span read) or audio file, as
    float32; fewer where the file ends sooner."""
    if Path(path).suffix == ".npy":  # a take, maybe from the cache, whose file nobody had opened yet
        span = _npy_span(path, first, stop)
        if not np.isfinite(span).all():
            raise DamagedTake(path)
        return span
    import soundfile as sf

    audio, _ = sf.read(str(path), start=first, stop=stop, dtype="float32", always_2d=False)
    return audio


def _npy_span(path: str | Path, first: int, stop: int) -> np.ndarray:
    """Samples ``[first, stop)`` of a mono float32 ``.npy``: its header read, then only the span
    (a memory map per span cost twice as much; a feature's takes are read four times each)."""
    fmt = np.lib.format
    try:
        with open(path, "rb") as fh:
            major, _ = fmt.read_magic(fh)
            shape, fortran, dtype = (fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0)(fh)
            if dtype != np.dtype("<f4") or len(shape) != 1 or fortran:
                raise DamagedTake(path, "not a mono float32 take")
            first = max(0, first)
            count = max(0, min(stop, shape[0]) - first)
            fh.seek(4 * first, os.SEEK_CUR)
            span = np.fromfile(fh, dtype=np.float32, count=count)
    except (OSError, ValueError, EOFError):  # a damaged header, or a file that ends early
        raise DamagedTake(path, "not a readable take file") from None
    if span.size != count:
        raise DamagedTake(path, "not a readable take file")
    return span


def finish_line(staged: str | Path, path: str | Path, gain: float, time_reference: int, description: str,
                length: int, block: int = BLOCK) -> Path:
    """Deliver a staged take as a 24-bit BWF ``length`` samples long (silence past the take) with its
    gain applied (quantised once, after the gain)."""
    with BwfWriter(path, time_reference, description) as out:
        for first in range(0, length, block):
            chunk = read_span(staged, first, min(length, first + block))
            out.write(chunk * np.float32(gain) if gain != 1.0 else chunk)
            if chunk.size < min(block, length - first):
                out.write_silence(length - first - chunk.size)
                break
    return Path(path)


def bwf_size(frames: int, channels: int = 1) -> int:
    """The bytes of a :class:`BwfWriter` file of ``frames`` (RIFF; what a reused file must measure)."""
    fmt = 8 + (_FMT_SIZE if channels <= 2 else _FMT_EXTENSIBLE_SIZE)
    data = frames * 3 * channels
    return 12 + 8 + _JUNK_SIZE + 8 + _BEXT_SIZE + fmt + 8 + data + data % 2
