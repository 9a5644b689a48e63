"""Isochrony benchmark: otio-dub's fit against the stretch-only baseline, in the same run.

200 generated lines whose natural/window ratio spreads evenly over 0.6-1.6 (24 fps windows).
Baseline (what atempo-style tools do): speak once, time-stretch the whole take to the window.
Ours: engine rate re-synthesis (secant), a small Rubber Band residual, bounds, borrow/pad.
Prints: share of lines within +-1 frame (of those inside the bounds), |total speed - 1| and
|stretch - 1| (median, p95), pitch drift (median F0 before vs after), wall time per minute of
speech and synthesis passes per line.

    python benchmarks/bench_fit.py [--lines 200] [--engine espeak]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from _measure import f0

from otio_dub import dsp, fit
from otio_dub.engines import get_engine
from otio_dub.lines import Line
from otio_dub.speak import fit_line

FRAME = 2000  # samples per frame at 24 fps
SUBJECTS = ["The train", "My sister", "Nobody here", "The old captain", "Every evening the light", "Your letter"]
VERBS = ["arrived", "was waiting", "never came back", "had forgotten everything", "kept burning", "changed my mind"]
TAILS = ["", " before midnight", " across the street", " in the pouring rain, again", " and I still do not know why",
         " while we were talking about the future of this town"]


def texts(n: int) -> list[str]:
    """n distinct sentences of varied length."""
    out = []
    for i in range(n):
        s, v, t = SUBJECTS[i % 6], VERBS[(i // 6) % 6], TAILS[(i // 36 + i) % 6]
        out.append(f"{s} {v}{t}.")
    return out


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200)
    parser.add_argument("--engine", default="espeak")
    parser.add_argument("--verbose", action="store_true", help="print the lines that miss the window")
    args = parser.parse_args()
    engine = get_engine(args.engine)
    voice = engine.default_voice("en", 0) if hasattr(engine, "default_voice") else None
    policy = fit.FitPolicy()
    ratios = np.linspace(0.6, 1.6, args.lines)
    rows = {"ours": [], "baseline": []}
    wall = {"ours": 0.0, "baseline": 0.0}
    speech_total = 0.0
    for i, (text, ratio) in enumerate(zip(texts(args.lines), ratios, strict=True)):
        take = engine.synthesize(text, voice)
        natural = dsp.trim(dsp.resample(take.audio, take.sample_rate))
        speech_total += natural.size / 48000
        frames = max(1, round(natural.size / ratio / FRAME))
        window = fit.Window(samples=frames * FRAME, free_after=48000)  # 1 s of silence after each line
        natural_f0 = f0(natural)
        in_bounds = policy.max_slowdown <= natural.size / window.samples <= policy.max_speedup

        t0 = time.perf_counter()
        line = Line(f"{i:03d}", 0, frames, "A", "en", text)
        fitted = fit_line(engine, line, voice, window, policy, FRAME)
        wall["ours"] += time.perf_counter() - t0
        first, end = dsp.speech_bounds(fitted.media)
        rows["ours"].append(dict(
            in_bounds=in_bounds, status=fitted.plan.status, passes=fitted.report["passes"],
            speed=fitted.report["total_speed"], stretch=fitted.report["stretch_factor"],
            end_error=abs(end - window.samples), f0=f0(fitted.media[first:end]) / natural_f0 - 1,
        ))
        if args.verbose and in_bounds and abs(end - window.samples) > FRAME:
            print("miss", i, text, fitted.report, end - window.samples)

        t0 = time.perf_counter()
        take = engine.synthesize(text, voice)  # the baseline speaks once too, then stretches everything
        base_natural = dsp.trim(dsp.resample(take.audio, take.sample_rate))
        factor = base_natural.size / window.samples
        stretched = dsp.time_stretch(base_natural, factor, length=window.samples)
        wall["baseline"] += time.perf_counter() - t0
        first, end = dsp.speech_bounds(stretched)
        rows["baseline"].append(dict(
            in_bounds=in_bounds, status="fit", passes=1, speed=factor, stretch=factor,
            end_error=abs(end - window.samples), f0=f0(stretched[first:end]) / natural_f0 - 1,
        ))

    print(f"engine {engine.info.name} {engine.info.version}, {args.lines} lines, natural/window 0.6-1.6, "
          f"{speech_total:.0f} s of natural speech, 24 fps (1 frame = {FRAME} samples)")
    header = f"{'':10}{'in +-1 frame':>14}{'|speed-1| med':>15}{'p95':>7}{'|stretch-1| med':>17}{'p95':>7}" \
             f"{'F0 drift med':>14}{'s / min speech':>16}{'passes':>8}"
    print(header)
    for name, data in rows.items():
        inside = [r for r in data if r["in_bounds"]]
        within = sum(r["end_error"] <= FRAME for r in inside) / max(1, len(inside))
        speed = [abs(r["speed"] - 1) for r in data]
        stretch = [abs(r["stretch"] - 1) for r in data]
        drift = [abs(r["f0"]) for r in data if not np.isnan(r["f0"])]
        print(f"{name:10}{within:>13.1%} {statistics.median(speed):>14.3f}{pct(speed, 95):>7.3f}"
              f"{statistics.median(stretch):>17.3f}{pct(stretch, 95):>7.3f}{statistics.median(drift):>13.2%} "
              f"{wall[name] / speech_total * 60:>15.2f}{statistics.mean(r['passes'] for r in data):>8.2f}")
    statuses = {s: sum(r["status"] == s for r in rows["ours"]) for s in ("fit", "padded", "borrowed", "overrun")}
    print("ours by status:", ", ".join(f"{k} {v}" for k, v in statuses.items()),
          f"(inside the bounds: {sum(r['in_bounds'] for r in rows['ours'])} lines)")


if __name__ == "__main__":
    main()
