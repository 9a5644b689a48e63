"""Time and peak memory of each timeline writer on a feature-sized dub (no speech synthesised).

A 29.97 DF timeline at 01:00:00;00 with a video track of 1-minute shots and N dub lines spread over
four characters, each line a real 24-bit BWF: prints seconds, peak RSS growth and the written size
per format. Usage: python benchmarks/bench_formats.py [lines, default 500]
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio

from otio_dub.audio.bwf import write_bwf
from otio_dub.core.timebase import TimeBase
from otio_dub.dialogue.lines import Line
from otio_dub.timelines.apply import DubClip, add_dub_tracks
from otio_dub.timelines.formats import write_timeline

RATE = Fraction(30000, 1001)


def made_dub(lines: int, out: Path) -> tuple[otio.schema.Timeline, TimeBase]:
    tb = TimeBase(RATE, 107892, True)
    fps = float(RATE)
    total = lines * 90 + 300
    timeline = otio.schema.Timeline("bench", global_start_time=otio.opentime.RationalTime(tb.start_frame, fps))
    timeline.metadata["otio_dub"] = {"drop_frame": True}
    video = otio.schema.Track("V1", kind=otio.schema.TrackKind.Video)
    for n in range(0, total, 1800):
        length = min(1800, total - n)
        ref = otio.schema.ExternalReference(f"file:///media/shot {n // 1800:04d}.mov", otio.opentime.TimeRange(
            otio.opentime.RationalTime(0, fps), otio.opentime.RationalTime(100000, fps)))
        video.append(otio.schema.Clip(f"shot {n // 1800}", ref, otio.opentime.TimeRange(
            otio.opentime.RationalTime(100, fps), otio.opentime.RationalTime(length, fps))))
    timeline.tracks.append(video)
    clips = []
    tone = (0.1 * np.sin(np.arange(48000 * 3) * 2 * np.pi * 220 / 48000)).astype(np.float32)
    for n in range(lines):
        at, length = 10 + n * 90, 60 + n % 20
        line = Line(f"{n + 1:04d}-{'ABCD'[n % 4]}", at, at + length, "ABCD"[n % 4], "en", "Benchmark line.")
        write_bwf(out / "media" / f"{line.id}.wav", tone[:tb.samples_between(at, at + length)],
                  tb.start_sample + tb.sample_at(at))
        clips.append(DubClip(line, at + length, f"media/{line.id}.wav", "fit"))
    return add_dub_tracks(timeline, clips, tb), tb


def main() -> None:
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        started = time.perf_counter()
        dubbed, tb = made_dub(lines, out)
        print(f"{lines} lines, {len(dubbed.tracks)} tracks: made in {time.perf_counter() - started:.1f} s")
        for fmt, kwargs in [("otio", {}), ("xml", {}), ("fcpxml", {}), ("edl", {}), ("aaf", {}),
                            ("aaf", {"aaf_embed": True}), ("otioz", {})]:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            started = time.perf_counter()
            paths = write_timeline(dubbed, out, "bench", fmt, tb, **kwargs)
            seconds = time.perf_counter() - started
            grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
            size = sum(p.stat().st_size for p in paths) / 1e6
            label = fmt + (" (embedded)" if kwargs else "")
            print(f"{label:16s} {seconds:7.2f} s   peak RSS +{grown:6.1f} MiB   {size:7.2f} MB in {len(paths)} file(s)")


if __name__ == "__main__":
    main()
