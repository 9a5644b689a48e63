"""Guide alignment: where the original speech starts and ends under a line, read from its media.

For ``--align guide`` the dub's speech is placed on the original actor's onset and offset. The
original is the audio clip (not a dub track) that overlaps the line most and whose media file
can be read; its speech is found with the same detector that trims engine takes. The result is
just head/tail pads for the planner, so fitting itself does not change.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from . import dsp
from .dub_timeline import media_path
from .lines import METADATA_KEY, Line
from .timebase import SAMPLE_RATE, TimeBase, exact_rate, frames_of

log = logging.getLogger("otio_dub")


def _local_file(ref: otio.core.MediaReference | None, base: Path | None) -> Path | None:
    """The readable local file of an ExternalReference (dub_timeline.media_path's rules), else None."""
    if not isinstance(ref, otio.schema.ExternalReference) or not ref.target_url:
        return None
    try:
        path = media_path(ref.target_url, base or Path.cwd())
    except ValueError:  # not a local file (http://, ...)
        return None
    return path if path.is_file() else None


def _audio_clips(timeline: otio.schema.Timeline, tb: TimeBase, base: Path | None) -> list[tuple]:
    """(clip, record in, record out, file) of every original audio clip whose media can be read."""
    found = []
    for track in timeline.tracks:
        if track.kind != otio.schema.TrackKind.Audio or (track.metadata.get(METADATA_KEY) or {}).get("role") == "dub":
            continue
        for clip in track.find_clips():
            try:
                rng = clip.transformed_time_range(clip.trimmed_range(), timeline.tracks)
            except otio.exceptions.OTIOError:  # no length to read: it cannot guide a line
                continue
            path = _local_file(clip.media_reference, base)
            if path is not None:  # resolved once per clip, not once per line
                found.append((clip, frames_of(rng.start_time, tb.rate), frames_of(rng.end_time_exclusive(), tb.rate), path))
    return found


def guide_pads(timeline: otio.schema.Timeline, tb: TimeBase, lines: list[Line], base: Path | None) -> dict[str, tuple[int, int]]:
    """Per line id: (head, tail) samples of silence before/after the original speech in its window.

    Lines with no readable original media are missing from the result (and logged).
    """
    import soundfile as sf

    clips = _audio_clips(timeline, tb, base)
    pads: dict[str, tuple[int, int]] = {}
    for line in lines:
        best, overlap = None, 0
        for clip, rin, rout, path in clips:
            shared = min(rout, line.record_out) - max(rin, line.record_in)
            if shared > overlap:
                best, overlap = (clip, rin, path), shared
        if best is None:
            log.warning("%s at %s: no readable original media under the line; aligned to its start",
                        line.id, tb.tc(line.record_in))
            continue
        clip, clip_in, path = best
        available = clip.media_reference.available_range
        origin = available.start_time if available is not None else otio.opentime.RationalTime(0, float(tb.rate))
        source_in = clip.trimmed_range().start_time
        # seconds into the file where the line's first frame is: source time of the record-in minus the file's origin
        seconds = (Fraction(source_in.value) / exact_rate(source_in.rate) - Fraction(origin.value) / exact_rate(origin.rate)
                   + Fraction(line.record_in - clip_in) / tb.rate)
        window = tb.samples_between(line.record_in, line.record_out)
        try:
            info = sf.info(str(path))
            start = round(seconds * info.samplerate)
            frames = round(Fraction(window, SAMPLE_RATE) * info.samplerate)
            audio, rate = sf.read(str(path), start=max(0, start), frames=frames, dtype="float32", always_2d=True)
        except (RuntimeError, OSError) as exc:
            log.warning("%s: cannot read guide media %s (%s); aligned to its start", line.id, path, exc)
            continue
        mono = dsp.resample(audio.mean(axis=1), rate)
        first, end = dsp.speech_bounds(mono)
        if end <= first:
            log.warning("%s: no speech found in the guide media %s; aligned to its start", line.id, path.name)
            continue
        pads[line.id] = (min(first, window - 1), max(0, window - end))
    return pads
