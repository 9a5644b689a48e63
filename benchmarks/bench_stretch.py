"""Residual time-stretch: Rubber Band (pedalboard, as otio-dub uses it) against WSOLA (pytsmod),
and Rubber Band's two engines on the small trims most fitted lines get.

For espeak lines in several voices and speed factors 0.8-1.25: an artefact score (log-spectral
distance after stretching there and back; lower is better), F0 drift, and real-time factor.
WSOLA needs `pip install pytsmod` (not a dependency of otio-dub; skipped when missing).
Then the small trims most fitted lines get (0.97-1.03), on espeak and piper takes alike, by R3
(``high_quality``) and R2 (what otio-dub uses there), at each engine's own rate as otio-dub stretches:
artefact score, real-time factor, and the word error rate tiny.en reads off the trimmed takes
where the ``listen`` extra is installed (slow: a take is transcribed per engine and factor).

    python benchmarks/bench_stretch.py [--lines 12]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from _measure import f0, log_spectral_distance

from otio_dub.audio import dsp
from otio_dub.engines import get_engine

SENTENCES = ["You promised me you would be back before midnight.", "Neither of them noticed the light.",
             "At the station the last train was cancelled, so I walked home.", "I had to see you tonight."]
FACTORS = (0.8, 0.9, 1.1, 1.25)  # speed factors (> 1 is faster)
TRIMS = (0.97, 0.99, 1.01, 1.03)


def rubberband(audio: np.ndarray, speed: float) -> np.ndarray:
    return dsp.time_stretch(audio, speed, length=round(audio.size / speed))


def rubberband_engine(fine: bool, rate: int = 48000):
    """Rubber Band as dsp.time_stretch calls it, on R3 (``fine``) or R2 whatever the factor."""
    import pedalboard

    def stretch(audio: np.ndarray, speed: float) -> np.ndarray:
        return pedalboard.time_stretch(audio[np.newaxis, :].astype(np.float32), float(rate), stretch_factor=float(speed),
                                       high_quality=fine, use_long_fft_window=False, preserve_formants=True)[0]
    return stretch


def trims(lines: int) -> None:
    """R3 against R2 on the small trims, espeak and piper takes, at each engine's own rate (where
    otio-dub stretches: the fitted take is resampled to 48 kHz after)."""
    from bench_fit import heard, texts, transcriber, wer

    model = transcriber()
    spoken = texts(lines)  # distinct sentences: the recognizer must not meet one twice
    takes = []
    for name in ("espeak", "piper"):
        try:
            engine = get_engine(name)
        except Exception as exc:  # noqa: BLE001 - piper is an extra
            print(f"{name}: skipped ({exc})")
            continue
        for i in range(lines):
            take = engine.synthesize(spoken[i], engine.default_voice("en", i))
            takes.append((name, spoken[i], dsp.trim(take.audio, take.sample_rate), take.sample_rate))
    print(f"\ntrims: {len(takes)} takes; WER by tiny.en {'(not installed)' if model is None else ''}")
    print(f"{'engine':8}{'rubber band':>12}{'factor':>7}{'artefact (dB)':>15}{'RTF':>8}{'WER':>7}")
    for name in sorted({t[0] for t in takes}):
        mine = [t for t in takes if t[0] == name]
        seconds = sum(t[2].size / t[3] for t in mine)
        for label, fine in (("R3", True), ("R2", False)):
            for factor in TRIMS:
                scores, errors, elapsed = [], [], 0.0
                for _, text, take, rate in mine:
                    method = rubberband_engine(fine, rate)
                    t0 = time.perf_counter()
                    there = method(take, factor)
                    elapsed += time.perf_counter() - t0
                    scores.append(log_spectral_distance(take, method(there, 1 / factor)))
                    if model is not None:
                        errors.append(wer(text, heard(model, dsp.resample(there, rate))))
                shown = f"{statistics.mean(errors):>7.1%}" if errors else f"{'-':>7}"
                print(f"{name:8}{label:>12}{factor:>7.2f}{statistics.median(scores):>15.2f}{elapsed / seconds:>8.3f}{shown}")


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
    trims(args.lines)


if __name__ == "__main__":
    main()
