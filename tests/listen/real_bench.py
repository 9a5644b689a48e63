"""``bench_transcribe.py --real``: real recorded voices (tests/listen/real_voices.py), today's code
against a baseline copy of the package, each run in its own process with its own ``PYTHONPATH``.

Per condition and code: WER per language, onset median/max, speaker purity and coverage, clusters
found / voices, and the language named right per line (a clip holds one line of one voice).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from real_voices import build_real_scene, missing, wer

#: Four people, three of them women, interleaved (women next to women), three languages, short lines.
LINES = [
    ("menardi", ["confbridge-conf-begin"]), ("armelle", ["conf-onlyperson"]), ("july", ["vm-torerecord"]),
    ("carlo", ["conf-full"]), ("armelle", ["auth-thankyou"]), ("menardi", ["conf-leaderhasleft", "conf-locked"]),
    ("july", ["vm-num-i-have"]), ("armelle", ["vm-nobodyavail"]), ("carlo", ["unidentified-no-callback"]),
    ("july", ["conf-getchannel"]), ("menardi", ["conf-otherinparty"]), ("armelle", ["conf-locked", "queue-callswaiting"]),
    ("carlo", ["confbridge-there-are"]), ("july", ["conf-noempty"]), ("menardi", ["conf-invalidpin"]),
    ("carlo", ["conf-getchannel"]),
]
CONDITIONS = {"clean": (None, 0.0), "music 8 dB": ("music", 8.0), "noise 5 dB": ("noise", 5.0)}

_WORKER = """
import json, sys, time
from otio_dub.listen import transcribe
import otio_dub.listen as l
scene, out, lang = sys.argv[1], sys.argv[2], sys.argv[3] or None
t = time.perf_counter()
transcribe(scene, out, lang=lang, model="base")
print(json.dumps({"wall": time.perf_counter() - t, "code": l.__file__}))
"""


def scenes(work: Path, conditions: list[str]) -> dict:
    """The real-voice scene of each condition (media alternate WAV/FLAC; one clip is the 8 kHz source)."""
    out = {}
    for name in conditions:
        bed, snr = CONDITIONS[name]
        clips = [{"voice": v, "prompts": p, "media": "flac" if i % 2 else "wav"} for i, (v, p) in enumerate(LINES)]
        if bed is None:
            clips[3]["media"] = "source"
        out[name] = build_real_scene(work / name.split()[0], name.split()[0], clips, bed=bed, snr_db=snr)
    return out


def run(code: Path, scene, out: Path, lang: str | None) -> dict:
    """Transcribe ``scene`` with the package at ``code`` in a fresh process; the measures of its transcript."""
    env = dict(os.environ, PYTHONPATH=str(code))
    done = subprocess.run([sys.executable, "-c", _WORKER, str(scene.path), str(out), lang or ""], env=env,
                          capture_output=True, text=True, cwd=str(out.parent))
    if done.returncode:
        raise SystemExit(f"{code}: transcribe failed:\n{done.stderr[-3000:]}")
    info = json.loads(done.stdout.strip().splitlines()[-1])
    doc = json.loads((out / f"{scene.path.stem}.transcript.json").read_text())
    return measure(scene, doc) | {"wall": info["wall"]}


def measure(scene, doc: dict) -> dict:
    """WER per language, onsets, purity/coverage, clusters, language per line from a transcript.json."""
    truth = {c["name"]: c for c in scene.clips}
    words_of: dict[str, list[dict]] = {}
    for w in doc["words"]:
        words_of.setdefault(w["clip"], []).append(w)
    heard = {e["clip"]: [] for e in doc["events"]}
    for e in sorted(doc["events"], key=lambda e: e["start"]):
        heard[e["clip"]].append(" ".join(e["lines"]))
    errors: dict[str, list[float]] = {}
    onsets, right, lines = [], 0, 0
    lang_of = {c["clip"]: c.get("lang") for c in doc["clips"]}
    for name, clip in truth.items():
        reference = " ".join(line.text for line in clip["lines"])
        n = len(reference.split())
        e = errors.setdefault(clip["lang"], [0.0, 0])
        e[0] += wer(reference, " ".join(heard.get(name, []))) * n
        e[1] += n
        words = sorted(words_of.get(name, []), key=lambda w: w["start"])
        starts = [w["start"] for i, w in enumerate(words) if i == 0 or w["start"] - words[i - 1]["end"] >= 0.3]
        onsets += [min((abs(s - line.onset_s) for s in starts), default=9.9) * 1000 for line in clip["lines"]]
        lines += 1
        right += lang_of.get(name) == clip["lang"]
    by_label: dict[str, Counter] = {}
    for w in doc["words"]:
        by_label.setdefault(w["speaker"], Counter())[truth[w["clip"]]["voice"]] += 1
    by_voice: dict[str, Counter] = {}
    for label, c in by_label.items():
        for voice, k in c.items():
            by_voice.setdefault(voice, Counter())[label] += k
    total = max(1, sum(sum(c.values()) for c in by_label.values()))
    return {
        "wer": {lang: e / max(1, n) for lang, (e, n) in sorted(errors.items())},
        "onset_med": statistics.median(onsets), "onset_max": max(onsets),
        "purity": sum(c.most_common(1)[0][1] for c in by_label.values()) / total,
        "coverage": sum(c.most_common(1)[0][1] for c in by_voice.values()) / total,
        "clusters": len(by_label), "voices": len(scene.voices), "lang_right": right, "lines": lines,
    }


HEADER = (f"{'condition':<11} {'code':<9} {'--lang':<9} {'WER it':>7} {'fr':>6} {'es':>6} {'onset':>7} {'max':>7} "
          f"{'purity':>7} {'cover':>6} {'clusters':>8} {'lang ok':>8} {'wall s':>7}")


def main(work: Path, baseline: Path, conditions: list[str], restricted: str | None) -> None:
    """Build the scenes, run both codes on each, print one row per condition, code and --lang."""
    reason = missing()
    if reason:
        raise SystemExit(reason)
    t = time.perf_counter()
    built = scenes(work, conditions)
    print(f"real-voice scenes built in {time.perf_counter() - t:.1f} s: {len(LINES)} clips, 4 voices (3 women), it/fr/es")
    here = Path(__file__).resolve().parents[1]
    print(HEADER)
    print("-" * len(HEADER))
    for name, scene in built.items():
        rows = [("baseline", baseline, None)] if baseline else []
        rows += [("today", here, None)] + ([("today", here, restricted)] if restricted else [])
        for label, code, lang in rows:
            m = run(code, scene, work / f"out_{name.split()[0]}_{label}_{lang or 'auto'}", lang)
            w = m["wer"]
            print(f"{name:<11} {label:<9} {lang or 'auto':<9} {w.get('it', 0):>7.1%} {w.get('fr', 0):>6.1%} "
                  f"{w.get('es', 0):>6.1%} {m['onset_med']:>5.0f}ms {m['onset_max']:>5.0f}ms {m['purity']:>7.1%} "
                  f"{m['coverage']:>6.1%} {m['clusters']:>4}/{m['voices']:<3} {m['lang_right']:>4}/{m['lines']:<3} "
                  f"{m['wall']:>7.1f}", flush=True)


_FEATURE_WORKER = """
import json, resource, sys, time
from otio_dub.listen import transcribe
import otio_dub.listen as l
scene, out, jobs = sys.argv[1], sys.argv[2], sys.argv[3]
t = time.perf_counter()
transcribe(scene, out, model="base", **({"jobs": int(jobs) if jobs != "cores" else None} if jobs else {}))
wall = time.perf_counter() - t
me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall": wall, "cpu": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
                  "rss_mb": max(me.ru_maxrss, kids.ru_maxrss) / 1024, "code": l.__file__}))
"""


def feature_scene(work: Path, minutes: float):
    """The 16 real-voice lines repeated in a new order each round (clean, WAV and FLAC, the 8 kHz
    sources among them) until their speech lasts ``minutes``: a feature's dialogue, four people."""
    import random

    from real_voices import load

    per_round = sum(load(v, p).size / 8000 for v, prompts in LINES for p in prompts)
    rounds = max(1, round(minutes * 60 / per_round))
    clips = []
    for r in range(rounds):
        order = list(LINES)
        random.Random(r).shuffle(order)
        clips += [{"voice": v, "prompts": p, "media": ("source", "wav", "flac")[(r + i) % 3]} for i, (v, p) in enumerate(order)]
    return build_real_scene(work / "feature", "feature", clips), rounds * per_round


def feature(work: Path, baseline: Path | None, minutes: float, jobs: list[int]) -> None:
    """Transcribe a feature-length real-voice timeline with the baseline and with today's code at each
    ``jobs`` (enhancement on, languages detected); print wall, CPU, RTF, the measures, and whether
    today's outputs are byte-identical across ``jobs``."""
    reason = missing()
    if reason:
        raise SystemExit(reason)
    t = time.perf_counter()
    scene, speech = feature_scene(work, minutes)
    print(f"feature scene built in {time.perf_counter() - t:.1f} s: {len(scene.clips)} clips, {speech / 60:.1f} min "
          f"of speech, 4 voices (3 women), it/fr/es")
    here = Path(__file__).resolve().parents[1]
    print(f"{'code':<9} {'jobs':>5} {'wall s':>8} {'CPU s':>8} {'RTF':>6} {'RSS MB':>7} {'WER it':>7} {'fr':>6} {'es':>6} "
          f"{'purity':>7} {'clusters':>8} {'lang ok':>9}")
    outputs = {}
    for label, code, n in ([("baseline", baseline, None)] if baseline else []) + [("today", here, j) for j in jobs]:
        out = work / f"feature_{label}_{n or 'default'}"
        env = dict(os.environ, PYTHONPATH=str(code))
        done = subprocess.run([sys.executable, "-c", _FEATURE_WORKER, str(scene.path), str(out), str(n or "")], env=env,
                              capture_output=True, text=True, cwd=str(work))
        if done.returncode:
            raise SystemExit(f"{code}: transcribe failed:\n{done.stderr[-3000:]}")
        info = json.loads(done.stdout.strip().splitlines()[-1])
        m = measure(scene, json.loads((out / "feature.transcript.json").read_text()))
        w = m["wer"]
        print(f"{label:<9} {n or '-':>5} {info['wall']:>8.1f} {info['cpu']:>8.1f} {info['wall'] / speech:>6.3f} "
              f"{info['rss_mb']:>7.0f} {w.get('it', 0):>7.1%} {w.get('fr', 0):>6.1%} {w.get('es', 0):>6.1%} "
              f"{m['purity']:>7.1%} {m['clusters']:>4}/{m['voices']:<3} {m['lang_right']:>4}/{m['lines']:<4}", flush=True)
        if label == "today":
            outputs[n] = {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}
    if len(outputs) > 1:
        first = next(iter(outputs.values()))
        same = all(files == first for files in outputs.values())
        print(f"today's outputs across --jobs {', '.join(map(str, outputs))}: {'byte-identical' if same else 'DIFFER'}")
