"""Residual time-stretch: Rubber Band (pedalboard, as otio-dub uses it) against WSOLA (pytsmod).

For espeak lines in several voices and speed factors 0.8-1.25: an artefact score (log-spectral
distance after stretching there and back; lower is better), F0 drift, and real-time factor.
WSOLA needs `pip install pytsmod` (not a dependency of otio-dub; skipped when missing).

    python benchmarks/bench_stretch.py [--lines 12]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from _measure import f0, log_spectral_distance

from otio_dub import dsp
from otio_dub.engines import get_engine

SENTENCES = ["You promised me you would be back before midnight.", "Neither of them noticed the light.",
             "At the station the last train was cancelled, so I walked home.", "I had to see you tonight."]
FACTORS = (0.8, 0.9, 1.1, 1.25)  # speed factors (> 1 is faster)


def rubberband(audio: np.ndarray, speed: float) -> np.ndarray:
    return dsp.time_stretch(audio, speed, length=round(audio.size / speed))


def wsola(audio: np.ndarray, speed: float) -> np.ndarray:
    import pytsmod

    return np.asarray(pytsmod.wsola(audio.astype(np.float64), 1 / speed), dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=12)
    args = parser.parse_args()
    engine = get_engine("espeak")
    methods = {"rubberband (otio-dub)": rubberband}
    try:
        import pytsmod  # noqa: F401

        methods["wsola (pytsmod)"] = wsola
    except ImportError:
        print("pytsmod not installed: WSOLA skipped")
    takes = []
    for i in range(args.lines):
        take = engine.synthesize(SENTENCES[i % len(SENTENCES)], engine.default_voice("en", i))
        takes.append(dsp.trim(dsp.resample(take.audio, take.sample_rate)))
    seconds = sum(t.size for t in takes) / 48000
    print(f"{len(takes)} espeak takes, {seconds:.1f} s of speech, speed factors {FACTORS}")
    print(f"{'method':24}{'factor':>7}{'artefact (dB)':>15}{'F0 drift':>10}{'RTF':>8}")
    for name, method in methods.items():
        for factor in FACTORS:
            scores, drifts, elapsed = [], [], 0.0
            for take in takes:
                t0 = time.perf_counter()
                there = method(take, factor)
                elapsed += time.perf_counter() - t0
                back = method(there, 1 / factor)
                scores.append(log_spectral_distance(take, back))
                drifts.append(abs(f0(there) / f0(take) - 1))
            print(f"{name:24}{factor:>7.2f}{statistics.median(scores):>15.2f}{statistics.median(drifts):>10.2%}"
                  f"{elapsed / seconds:>8.3f}")


if __name__ == "__main__":
    main()
