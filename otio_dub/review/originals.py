"""The original dialogue under each line, cut out for the review page's A/B listening.

For every line, the original (non-dub) dialogue clips under its window are decoded with
``listen.media.clip_audio`` (exactly their source range, 48 kHz mono), laid where they sit on the
timeline, and written as ``<into>/<line-id>.wav`` covering the line's window. Lines with no
readable original media get no file; the page then offers the take alone.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import opentimelineio as otio

from ..core.errors import InputError, OutputError
from ..core.timebase import SAMPLE_RATE, TimeBase, parse_timecode
from ..dialogue.lines import Line, find_dialogue_tracks
from .data import ORIG_DIR, clock, dub_timeline_path, read_dub_timeline, read_report, track_clips

log = logging.getLogger("otio_dub")


def _dialogue_clips(timeline: otio.schema.Timeline, tb: TimeBase) -> list[tuple[int, int, otio.schema.Clip]]:
    """(record in, record out, clip) of the enabled original dialogue clips, in record order."""
    found = [(rin, rout, clip) for track in find_dialogue_tracks(timeline) if track.enabled
             for clip, rin, rout in track_clips(track, tb) if clip.enabled and rout > rin]
    return sorted(found, key=lambda c: (c[0], c[1]))


def _write_wav(path: Path, audio: np.ndarray) -> None:
    """16-bit PCM WAV at 48 kHz under a temporary name, renamed into place (for listening only)."""
    import soundfile as sf

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part.wav", dir=path.parent)
    os.close(fd)
    try:
        sf.write(tmp, np.clip(audio, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16", format="WAV")
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write ({exc})") from None


def extract_originals(timeline: otio.schema.Timeline, tb: TimeBase, lines: Sequence[Line], base: Path | None,
                      into: Path) -> dict[str, str]:
    """Write the original dialogue under each line's window to ``into/<line-id>.wav``.

    ``base`` is the timeline file's folder (relative media URLs resolve against it). Returns, per
    line id that got a file, its name inside ``into``. Each clip is decoded once, however many
    lines lie on it; only the clips under the current line stay in memory.
    """
    from ..listen.media import clip_audio

    clips = _dialogue_clips(timeline, tb)
    decoded: dict[int, np.ndarray | None] = {}
    written: dict[str, str] = {}
    try:
        into.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{into}: cannot create folder ({exc.strerror})") from None
    for line in sorted(lines, key=lambda ln: (ln.record_in, ln.record_out)):
        under = [(i, c) for i, c in enumerate(clips) if c[0] < line.record_out and c[1] > line.record_in]
        keep = {i for i, _ in under}
        for gone in [i for i in decoded if i not in keep and clips[i][1] <= line.record_in]:
            del decoded[gone]  # lines come in record order: a clip that ended before this one is done
        start = tb.sample_at(line.record_in)
        out = np.zeros(tb.samples_between(line.record_in, line.record_out), np.float32)
        heard = False
        for i, (rin, _, clip) in under:
            if i not in decoded:
                decoded[i] = clip_audio(clip, base)
            audio = decoded[i]
            if audio is None:
                continue
            offset = tb.sample_at(rin) - start  # where the clip's first sample falls in the window
            lo, hi = max(0, offset), min(out.size, offset + audio.size)
            if hi > lo:
                out[lo:hi] += audio[lo - offset: hi - offset]
                heard = True
        if heard:
            _write_wav(into / f"{line.id}.wav", out)
            written[line.id] = f"{line.id}.wav"
        else:
            log.info("%s: no readable original dialogue under the line", line.id)
    return written


def refresh_originals(dub_dir: Path, media_root: Path) -> int:
    """Cut the originals of a finished dub again into ``review/orig`` (``otio-dub review --media-root``).

    ``media_root`` is where the original timeline's relative media paths start (its folder).
    Returns how many lines got an original.
    """
    report = read_report(dub_dir)
    timeline = read_dub_timeline(dub_timeline_path(dub_dir, report))
    tb = clock(timeline, report)
    lines = []
    for index, row in enumerate(report["lines"]):
        try:
            rin, rout = (parse_timecode(str(row.get(k)), tb.rate) - tb.start_frame for k in ("record_in", "record_out"))
        except ValueError as exc:
            raise InputError(str(dub_dir / "report.json"), str(exc), f"line {index + 1}") from None
        lines.append(Line(str(row.get("id")), rin, rout, str(row.get("character") or ""), str(row.get("lang") or ""),
                          str(row.get("text") or "")))
    return len(extract_originals(timeline, tb, lines, media_root, dub_dir / ORIG_DIR))
