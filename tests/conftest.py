"""Shared fixtures: the demo dubbed once per session, timeline builders and BWF/RIFF readers."""

from __future__ import annotations

import hashlib
import logging
import os
import struct
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
SCENE_OTIO = SAMPLES / "scene.otio"
SCENE_ASS = SAMPLES / "scene.ass"
SAMPLE_RATE = 48000
# tests/listen's speech helpers (listen_speech: scenes, WER) importable from every test, whatever runs first
if str(ROOT / "tests" / "listen") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests" / "listen"))


# ---------------------------------------------------------------------------------------------
# helpers (exposed to tests through fixtures so no test module imports conftest)
# ---------------------------------------------------------------------------------------------


def round_half_up(x: Fraction) -> int:
    """Nearest integer, halves rounded up (the convention an NLE uses for sample positions)."""
    x = Fraction(x)
    return (2 * x.numerator + x.denominator) // (2 * x.denominator)


def abs_sample(frame: int, rate: Fraction) -> int:
    """48 kHz sample index of the first sample of absolute ``frame`` at exact ``rate``."""
    return round_half_up(Fraction(frame) * SAMPLE_RATE / Fraction(rate))


def riff_chunks(path: str | Path) -> dict[str, bytes]:
    """The top-level chunks of a RIFF/WAVE file by id, parsed with struct (not via soundfile)."""
    data = Path(path).read_bytes()
    assert data[:4] == b"RIFF", f"{path}: not a RIFF file"
    riff_size = struct.unpack_from("<I", data, 4)[0]
    assert riff_size == len(data) - 8, f"{path}: RIFF size {riff_size} != file size - 8 ({len(data) - 8})"
    assert data[8:12] == b"WAVE"
    chunks: dict[str, bytes] = {}
    pos = 12
    while pos + 8 <= len(data):
        cid = data[pos:pos + 4].decode("ascii")
        size = struct.unpack_from("<I", data, pos + 4)[0]
        body = data[pos + 8:pos + 8 + size]
        assert len(body) == size, f"{path}: chunk {cid!r} truncated"
        assert cid not in chunks, f"{path}: duplicate chunk {cid!r}"
        chunks[cid] = body
        pos += 8 + size + (size & 1)
    assert pos == len(data), f"{path}: trailing bytes after the last chunk"
    return chunks


#: bext body offset of TimeReferenceLow: description, originator, originator ref, date, time.
BEXT_TIME_REFERENCE_OFFSET = 256 + 32 + 32 + 10 + 8


def bext_time_reference(path: str | Path) -> int:
    """The bext TimeReference (64-bit sample count since midnight) of a BWF."""
    body = riff_chunks(path)["bext"]
    low, high = struct.unpack_from("<II", body, BEXT_TIME_REFERENCE_OFFSET)
    return low | (high << 32)


def fmt_of(path: str | Path) -> dict[str, int]:
    """The PCM fmt chunk of a WAV as a dict."""
    body = riff_chunks(path)["fmt "]
    tag, channels, rate, byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", body, 0)
    return dict(format_tag=tag, channels=channels, sample_rate=rate, byte_rate=byte_rate,
                block_align=block_align, bits=bits)


#: BS.1770-4 Tables 1 and 2: the K-weighting biquads at 48 kHz, as printed in the Recommendation.
K_PRE = ((1.53512485958697, -2.69169618940638, 1.19839281085285), (1.0, -1.69065929318241, 0.73248077421585))
K_RLB = ((1.0, -2.0, 1.0), (1.0, -1.99004745483398, 0.99007225036621))
#: BS.1770-4 Annex 2: phases 0 and 1 of the 48-tap true-peak interpolation filter (2, 3 are them reversed).
TP_PHASE0 = (0.0017089843750, 0.0109863281250, -0.0196533203125, 0.0332031250000, -0.0594482421875, 0.1373291015625,
             0.9721679687500, -0.1022949218750, 0.0476074218750, -0.0266113281250, 0.0148925781250, -0.0083007812500)
TP_PHASE1 = (-0.0291748046875, 0.0292968750000, -0.0517578125000, 0.0891113281250, -0.1665039062500, 0.4650878906250,
             0.7797851562500, -0.2003173828125, 0.1015625000000, -0.0582275390625, 0.0330810546875, -0.0189208984375)


def bs1770_loudness(audio: np.ndarray, weights: Sequence[float] | None = None) -> float:
    """Independent BS.1770-4 integrated loudness of a whole 48 kHz array (printed coefficients, plain loops)."""
    from scipy.signal import lfilter

    audio = np.asarray(audio, dtype=np.float64).reshape(len(audio), -1)
    weights = list(weights or [1.0] * audio.shape[1])
    filtered = lfilter(*K_RLB, lfilter(*K_PRE, audio, axis=0), axis=0)
    block, step = int(0.4 * SAMPLE_RATE), int(0.1 * SAMPLE_RATE)
    energies = np.array([float(np.dot(weights, np.mean(filtered[i:i + block] ** 2, axis=0)))
                         for i in range(0, len(audio) - block + 1, step)])
    if energies.size == 0:
        return float("-inf")
    loud = -0.691 + 10 * np.log10(np.maximum(energies, 1e-300))
    gate1 = energies[loud > -70]
    if not gate1.size:
        return float("-inf")
    relative = -0.691 + 10 * np.log10(gate1.mean()) - 10
    return float(-0.691 + 10 * np.log10(energies[(loud > -70) & (loud > relative)].mean()))


def true_peak_dbtp(audio: np.ndarray) -> float:
    """Brute-force true peak: the Annex 2 filter as one 48-tap FIR, 4x upsampled by scipy's upfirdn."""
    from scipy.signal import upfirdn

    h = np.zeros(48)
    for phase, taps in enumerate((TP_PHASE0, TP_PHASE1, TP_PHASE1[::-1], TP_PHASE0[::-1])):
        h[phase::4] = taps
    audio = np.asarray(audio, dtype=np.float64).reshape(len(audio), -1)
    peak = max(float(np.max(np.abs(upfirdn(h, audio[:, c], up=4)))) for c in range(audio.shape[1]))
    peak = max(peak, float(np.max(np.abs(audio))))
    return 20 * np.log10(peak) if peak > 0 else float("-inf")


def read_wav(path: str | Path) -> np.ndarray:
    """A mono WAV as float64 samples."""
    audio, _ = sf.read(str(path), dtype="float64", always_2d=False)
    return audio


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass(frozen=True)
class LineSpec:
    """A metadata dialogue clip for :func:`make_timeline` (frames relative to the timeline start)."""

    record_in: int
    record_out: int
    text: str
    character: str


def make_timeline(rate: Fraction | float, start_frame: int, lines: Sequence[LineSpec], total_frames: int,
                  name: str = "made") -> otio.schema.Timeline:
    """A timeline at ``rate`` starting at absolute ``start_frame`` with one audio track of metadata clips."""
    fps = float(rate)

    def rt(frames: int) -> otio.opentime.RationalTime:
        return otio.opentime.RationalTime(frames, fps)

    timeline = otio.schema.Timeline(name, global_start_time=rt(start_frame))
    track = otio.schema.Track("DIA", kind=otio.schema.TrackKind.Audio)
    cursor = 0
    for n, spec in enumerate(sorted(lines, key=lambda s: s.record_in), 1):
        assert spec.record_in >= cursor, "make_timeline lines must not overlap"
        if spec.record_in > cursor:
            track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=rt(spec.record_in - cursor))))
        track.append(otio.schema.Clip(
            name=f"dia_{n:03d}",
            source_range=otio.opentime.TimeRange(rt(start_frame + spec.record_in), rt(spec.record_out - spec.record_in)),
            metadata={"otio_dub": {"text": spec.text, "character": spec.character}},
        ))
        cursor = spec.record_out
    if total_frames > cursor:
        track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=rt(total_frames - cursor))))
    timeline.tracks.append(track)
    return timeline


class Tools:
    """Namespace handed to tests by the ``tools`` fixture."""

    round_half_up = staticmethod(round_half_up)
    abs_sample = staticmethod(abs_sample)
    riff_chunks = staticmethod(riff_chunks)
    bext_time_reference = staticmethod(bext_time_reference)
    fmt_of = staticmethod(fmt_of)
    read_wav = staticmethod(read_wav)
    sha256 = staticmethod(sha256)
    make_timeline = staticmethod(make_timeline)
    bs1770_loudness = staticmethod(bs1770_loudness)
    true_peak_dbtp = staticmethod(true_peak_dbtp)
    TP_PHASES = (TP_PHASE0, TP_PHASE1, TP_PHASE1[::-1], TP_PHASE0[::-1])
    K_PRE = K_PRE
    K_RLB = K_RLB
    LineSpec = LineSpec
    BEXT_TIME_REFERENCE_OFFSET = BEXT_TIME_REFERENCE_OFFSET
    SAMPLE_RATE = SAMPLE_RATE
    ROOT = ROOT
    SCENE_OTIO = SCENE_OTIO
    SCENE_ASS = SCENE_ASS


@pytest.fixture(scope="session")
def tools() -> type[Tools]:
    return Tools


# ---------------------------------------------------------------------------------------------
# the demo, dubbed once
# ---------------------------------------------------------------------------------------------


@dataclass
class DemoDub:
    out: Path
    result: object  # otio_dub.DubResult
    report: dict
    input_hashes_before: dict[str, str]
    timeline_path: Path


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoDub:
    """samples/scene.otio + scene.ass dubbed once into a session temp folder (read-only for tests)."""
    import json

    import otio_dub

    out = tmp_path_factory.mktemp("demo") / "out"
    before = {p.name: sha256(p) for p in (SCENE_OTIO, SCENE_ASS)}
    result = otio_dub.dub(SCENE_OTIO, script=SCENE_ASS, out_dir=out)
    report = json.loads(result.report_path.read_text(encoding="utf-8"))
    return DemoDub(out, result, report, before, result.timeline_path)


@pytest.fixture(scope="session")
def espeak():
    """The process-wide espeak engine."""
    from otio_dub.engines import get_engine

    return get_engine("espeak")


@pytest.fixture
def fresh_dub(tmp_path: Path) -> Callable:
    """``fresh_dub(timeline, **kw)`` dubs into a new folder under tmp_path and returns the DubResult."""
    import otio_dub

    counter = {"n": 0}

    def run(timeline, script=None, options=None):
        counter["n"] += 1
        return otio_dub.dub(timeline, script=script, out_dir=tmp_path / f"dub{counter['n']}", options=options)

    return run


@pytest.fixture(autouse=True, scope="session")
def _isolated_render_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The CLI caches takes, and voice matching its reference measures, in the user cache dir by
    default: keep the tests' out of it (and the user's out of the tests)."""
    names = ("OTIO_DUB_CACHE", "OTIO_DUB_VOICES")
    previous = {name: os.environ.get(name) for name in names}
    for name in names:
        os.environ[name] = str(tmp_path_factory.mktemp(name.lower()))
    yield
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def _otio_dub_logger_as_found() -> Iterator[None]:
    """Every test starts with otio-dub's logger as a fresh process has it and leaves it so: a library a
    test loads (Ray, a logging config) or a command that failed mid-way must not silence the next test's
    ``caplog`` (pytest-xdist runs tests in any order on each worker)."""
    logger = logging.getLogger("otio_dub")
    saved = (logger.level, logger.propagate, logger.disabled, list(logger.handlers))
    logger.setLevel(logging.NOTSET)
    logger.propagate, logger.disabled = True, False
    yield
    logger.setLevel(saved[0])
    logger.propagate, logger.disabled = saved[1], saved[2]
    logger.handlers[:] = saved[3]


@pytest.fixture(autouse=True, scope="session")
def _house_engine_espeak() -> Iterator[None]:
    """Tests that name no engine speak with espeak, set as a studio sets its house engine
    ($OTIO_DUB_ENGINE): the default, ``best``, would speak them with kokoro where it is installed, at
    ten times the time. Session-wide, so module fixtures that dub see it too; the tests of the
    default itself remove it with monkeypatch (tests/test_casting_gender.py)."""
    previous = os.environ.get("OTIO_DUB_ENGINE")
    os.environ["OTIO_DUB_ENGINE"] = "espeak"
    yield
    if previous is None:
        os.environ.pop("OTIO_DUB_ENGINE", None)
    else:
        os.environ["OTIO_DUB_ENGINE"] = previous
