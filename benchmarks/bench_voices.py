"""Voices benchmark: how each engine fits lines (passes, residual stretch) and what voice matching costs.

For each engine, N generated lines (Japanese for kokoro, English otherwise) whose natural/window
ratio spreads evenly over 0.7-1.4 (24 fps windows) are fitted with otio-dub's fit (engine rate by
secant, then a Rubber Band residual). Prints the share of in-bounds lines ending within +-1 frame,
synthesis passes per line, |rate-1| and |residual stretch-1| (median, p95), the engine's load time
and real-time factor. Then voice matching: measuring every candidate of each engine cold (rendered)
and warm (from the cache).

    python benchmarks/bench_voices.py [--lines 40] [--engines espeak,piper,kokoro]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from otio_dub.audio import dsp
from otio_dub.casting import matching
from otio_dub.dialogue.lines import Line
from otio_dub.engines import get_engine
from otio_dub.speech import fit
from otio_dub.speech.speak import fit_line

FRAME = 2000  # samples per frame at 24 fps
EN = (["The train", "My sister", "Nobody here", "The old captain", "Every evening the light", "Your letter"],
      ["arrived", "was waiting", "never came back", "had forgotten everything", "kept burning", "changed my mind"],
      ["", " before midnight", " across the street", " in the pouring rain, again", " and I still do not know why"])
JA = (["電車は", "私の妹は", "ここでは誰も", "年老いた船長は", "毎晩その明かりは", "あなたの手紙は"],
      ["着いた", "待っていた", "戻らなかった", "すべてを忘れていた", "燃え続けた", "考えを変えた"],
      ["", "、真夜中の前に", "、通りの向こうで", "、また土砂降りの雨の中で", "、理由は今もわからない"])


def texts(n: int, words: tuple[list[str], list[str], list[str]], japanese: bool) -> list[str]:
    """n distinct sentences of varied length."""
    subjects, verbs, tails = words
    out = []
    for i in range(n):
        s, v, t = subjects[i % 6], verbs[(i // 6) % 6], tails[(i // 36 + i) % len(tails)]
        out.append(f"{s}{t}{v}。" if japanese else f"{s} {v}{t}.")
    return out


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def bench_fit(name: str, n: int) -> None:
    t0 = time.perf_counter()
    engine = get_engine(name)
    lang = "ja" if name == "kokoro" else "en-us"
    voice = engine.default_voice(lang, 0)
    engine.synthesize("warm up." if lang != "ja" else "準備。", voice)
    load = time.perf_counter() - t0
    policy = fit.FitPolicy()
    rows, synth_s, speech_s = [], 0.0, 0.0
    for i, (text, ratio) in enumerate(zip(texts(n, JA if lang == "ja" else EN, lang == "ja"),
                                          np.linspace(0.7, 1.4, n), strict=True)):
        t0 = time.perf_counter()
        take = engine.synthesize(text, voice)
        synth_s += time.perf_counter() - t0
        natural = dsp.trim(dsp.resample(take.audio, take.sample_rate))
        speech_s += natural.size / 48000
        frames = max(1, round(natural.size / ratio / FRAME))
        window = fit.Window(samples=frames * FRAME, free_after=48000)
        fitted = fit_line(engine, Line(f"{i:03d}", 0, frames, "A", lang, text), voice, window, policy, FRAME)
        first, end = dsp.speech_bounds(fitted.media)
        rows.append(dict(in_bounds=policy.max_slowdown <= natural.size / window.samples <= policy.max_speedup,
                         passes=fitted.report["passes"], rate=fitted.report["rate_factor"],
                         stretch=fitted.report["stretch_factor"], end_error=abs(end - window.samples),
                         status=fitted.plan.status))
    inside = [r for r in rows if r["in_bounds"]]
    within = sum(r["end_error"] <= FRAME for r in inside) / max(1, len(inside))
    rate = [abs(r["rate"] - 1) for r in rows]
    stretch = [abs(r["stretch"] - 1) for r in rows]
    statuses = {s: sum(r["status"] == s for r in rows) for s in ("fit", "padded", "borrowed", "overrun")}
    print(f"{name:8}{engine.info.version[:34]:36}{len(rows):>6}{within:>9.0%}{statistics.mean(r['passes'] for r in rows):>8.2f}"
          f"{statistics.median(rate):>9.3f}{pct(rate, 95):>7.3f}{statistics.median(stretch):>9.3f}{pct(stretch, 95):>7.3f}"
          f"{load:>8.1f}{synth_s / speech_s:>7.2f}   " + ", ".join(f"{k} {v}" for k, v in statuses.items()))


def bench_matching(names: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        refs = Path(tmp)
        for name in names:
            lang = "ja" if name == "kokoro" else "en-us"
            found = matching.candidates(name, lang)
            passage = matching.reference_passage(lang)
            timings = []
            for _ in ("cold", "warm"):
                t0 = time.perf_counter()
                for cand in found:
                    matching.candidate_measure(cand, passage, refs)
                timings.append(time.perf_counter() - t0)
            print(f"{name:8}{len(found):>11}{timings[0]:>10.1f}{timings[1]:>10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=40)
    parser.add_argument("--engines", default="espeak,piper,kokoro")
    args = parser.parse_args()
    names = [n for n in args.engines.split(",") if n]
    os.environ.setdefault("KOKORO_JA_CACHE", str(Path(tempfile.gettempdir()) / "otio-dub-bench-kokoro"))
    print(f"fit: {args.lines} lines per engine, natural/window 0.7-1.4, 24 fps; |x-1| as median and p95")
    print(f"{'engine':8}{'version':36}{'lines':>6}{'+-1 fr':>9}{'passes':>8}{'|rate-1|':>9}{'p95':>7}"
          f"{'|strch-1|':>9}{'p95':>7}{'load s':>8}{'RTF':>7}   status")
    for name in names:
        bench_fit(name, args.lines)
    print("\nmatching: measuring every candidate's reference passage (render + F0 + voiceprint)")
    print(f"{'engine':8}{'candidates':>11}{'cold s':>10}{'warm s':>10}")
    bench_matching(names)


if __name__ == "__main__":
    main()
