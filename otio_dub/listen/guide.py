"""Guide alignment: where the original speech starts and ends under a line, read from its media.

For ``--align guide`` the dub's speech is placed on the original actor's onset and offset. The
original is the audio clip (not a dub track) that overlaps the line most and whose media file
can be read (WAV/AIFF/FLAC, or the audio of a .mov/.mp4/.mxf). With the ``listen`` extra it is
cleaned by DeepFilterNet3 and its speech found by Silero VAD (edges refined on the level); without
it, a level detector whose threshold rises with the recording's floor. The result is just head/tail
pads for the planner, so fitting itself does not change.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np
import opentimelineio as otio

from ..audio import dsp
from ..core.errors import OtioDubError
from ..core.timebase import SAMPLE_RATE, TimeBase, frames_of
from ..dialogue.lines import METADATA_KEY, Line
from .asr import speech_span
from .media import clip_audio, clip_file, enhance, enhance_available

log = logging.getLogger("otio_dub")


def readable_audio_clips(timeline: otio.schema.Timeline, tb: TimeBase, base: Path | None) -> list[tuple]:
    """(clip, record in, record out) of every original audio clip whose media file exists."""
    found = []
    for track in timeline.tracks:
        if track.kind != otio.schema.TrackKind.Audio or (track.metadata.get(METADATA_KEY) or {}).get("role") == "dub":
            continue
        for clip in track.find_clips():
            try:
                rng = clip.transformed_time_range(clip.trimmed_range(), timeline.tracks)
            except otio.exceptions.OTIOError:  # no length to read: it cannot guide a line
                continue
            if clip_file(clip, base) is not None:  # resolved once per clip, not once per line
                found.append((clip, frames_of(rng.start_time, tb.rate), frames_of(rng.end_time_exclusive(), tb.rate)))
    return found


class _Originals:
    """Each guide clip's sound decoded once (its whole source range) and, with the listen extra,
    cleaned by DeepFilterNet3 so noise under the original does not read as speech."""

    def __init__(self, base: Path | None) -> None:
        self.base = base
        self.clean = enhance_available()
        self.vad = importlib.util.find_spec("faster_whisper") is not None  # Silero VAD, with the listen extra
        self._audio: dict[int, np.ndarray | None] = {}

    def audio(self, clip: otio.schema.Clip) -> np.ndarray | None:
        key = id(clip)
        if key not in self._audio:
            audio = clip_audio(clip, self.base)
            if audio is not None and self.clean:
                try:
                    audio = enhance(audio)
                except OtioDubError as exc:  # a broken runtime: the raw sound still guides
                    log.warning("guide: speech enhancement unavailable (%s); using the raw original", exc)
                    self.clean = False
            self._audio[key] = audio
        return self._audio[key]


def guide_pads(timeline: otio.schema.Timeline, tb: TimeBase, lines: list[Line], base: Path | None) -> dict[str, tuple[int, int]]:
    """Per line id: (head, tail) samples of silence before/after the original speech in its window.

    Lines with no readable original media are missing from the result (and logged).
    """
    clips = readable_audio_clips(timeline, tb, base)
    originals = _Originals(base)
    pads: dict[str, tuple[int, int]] = {}
    for line in lines:
        best, overlap = None, 0
        for clip, rin, rout in clips:
            shared = min(rout, line.record_out) - max(rin, line.record_in)
            if shared > overlap:
                best, overlap = (clip, rin), shared
        if best is None:
            log.warning("%s at %s: no readable original media under the line; aligned to its start",
                        line.id, tb.tc(line.record_in))
            continue
        clip, clip_in = best
        audio = originals.audio(clip)
        if audio is None:
            log.warning("%s: cannot read guide media of clip %r; aligned to its start", line.id, clip.name)
            continue
        window = tb.samples_between(line.record_in, line.record_out)
        start = tb.samples_between(clip_in, line.record_in)  # the clip may start before the line (or after it)
        mono = np.zeros(window, np.float32)
        lo, hi = max(0, start), min(audio.size, start + window)
        if hi > lo:
            mono[lo - start: hi - start] = audio[lo:hi]
        span = speech_span(mono, SAMPLE_RATE) if originals.vad else None
        first, end = span if span is not None else speech_in_recording(mono)
        if end <= first:
            log.warning("%s: no speech found in the guide media of clip %r; aligned to its start", line.id, clip.name)
            continue
        pads[line.id] = (min(first, window - 1), max(0, window - end))
    return pads


#: Recorded speech: 10 ms frames, loud = 15 dB over the recording's floor (its 10th percentile),
#: within 40 dB of its peak, above -55 dBFS; a run of 30 ms makes speech (a click does not).
_FRAME_S, _OVER_FLOOR_DB, _RANGE_DB, _FLOOR_DBFS, _RUN_S = 0.010, 15.0, 40.0, -55.0, 0.030


def speech_in_recording(audio: np.ndarray, rate: int = 48000) -> tuple[int, int]:
    """(first, end) sample of the speech in a recorded original, (0, 0) if none.

    Unlike a synthetic take, a recording has a floor (room tone, the residue DeepFilterNet leaves):
    the threshold rises with it, so the floor itself never reads as speech.
    """
    hop = int(rate * _FRAME_S)
    level = dsp.frame_levels(audio, rate, _FRAME_S)
    if level.size < 3:
        return (0, 0)
    threshold = max(float(np.percentile(level, 10)) + _OVER_FLOOR_DB, float(level.max()) - _RANGE_DB, _FLOOR_DBFS)
    loud = level > threshold
    run = max(1, round(_RUN_S / _FRAME_S))
    starts = np.flatnonzero(np.convolve(loud, np.ones(run), "valid") >= run)  # frames opening a loud run
    if starts.size == 0:
        return (0, 0)
    first, last = int(starts[0]), int(starts[-1]) + run - 1
    return first * hop, min(audio.size, (last + 1) * hop)
