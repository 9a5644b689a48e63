"""What refusing hostile input costs: limits.check_timeline against reading the same timeline.

Builds a timeline of N dialogue clips with gaps between (2N items), reads it back from otio_json
and times the read, check_timeline, and find_lines (which runs the check itself). Prints seconds.
Usage: python benchmarks/bench_limits.py [N=5000] [runs=3]
"""

from __future__ import annotations

import sys
import time

import opentimelineio as otio

from otio_dub.dialogue.limits import check_timeline
from otio_dub.dialogue.lines import find_lines


def build(n: int) -> str:
    rt, tr = otio.opentime.RationalTime, otio.opentime.TimeRange
    timeline = otio.schema.Timeline("bench", global_start_time=rt(90000, 25))
    track = otio.schema.Track("DIA", kind=otio.schema.TrackKind.Audio)
    for i in range(n):
        track.append(otio.schema.Clip(f"dia_{i:05d}", source_range=tr(rt(0, 25), rt(50, 25)),
                                      metadata={"otio_dub": {"text": "Hello there.", "character": "ANNA"}}))
        track.append(otio.schema.Gap(source_range=tr(duration=rt(25, 25))))
    timeline.tracks.append(track)
    return otio.adapters.write_to_string(timeline, "otio_json")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    text = build(n)
    best: dict[str, float] = {}
    for _ in range(runs):
        t0 = time.perf_counter()
        timeline = otio.adapters.read_from_string(text, "otio_json",  # as otio-dub reads: no tagging hook
                                                  hook_function_argument_map={"otio_dub": {"tag_dialogue": False}})
        t1 = time.perf_counter()
        check_timeline(timeline, "bench.otio")
        t2 = time.perf_counter()
        for name, took in (("otio_json read", t1 - t0), ("check_timeline", t2 - t1)):
            best[name] = min(best.get(name, float("inf")), took)
    t3 = time.perf_counter()
    lines = find_lines(timeline)
    best["find_lines (once)"] = time.perf_counter() - t3
    print(f"{n:,} clips + {n:,} gaps, best of {runs}: " + "; ".join(f"{k} {v:.3f} s" for k, v in best.items())
          + f"; check/read {best['check_timeline'] / best['otio_json read']:.0%}; {len(lines)} lines")


if __name__ == "__main__":
    main()
