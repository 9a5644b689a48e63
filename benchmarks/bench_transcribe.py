"""Transcription benchmark: WER, first-word onset error, speaker purity and real-time factor, with
and without DeepFilterNet3 enhancement, on clean speech and on speech under pink noise at 5 dB SNR.

A scene is generated in code (the test suite's generator, tests/listen/listen_speech.py): a
23.976 timeline at 01:00:00:00 with one DIA track of 10 clips, three voices (piper's joe, espeak's
m3 and f4), Harvard sentences of known text, one or two per clip (0.9 s apart). ``--hard-voices``
adds a scene where two clips speak with espeak m1 and f1, variants hardly told from m3 and f4
(their embeddings are closer than two sentences of one voice), clustered with and without the
speaker count.
The noisy scene is the same speech with pink noise at 5 dB SNR in .mov media (decoded by PyAV).

* WER: word error rate of each clip's events against its known text (all, piper, espeak).
* onset: |first word of the event nearest each sentence - the sentence's first sample|, ms.
* purity: cluster purity, the share of words whose label's majority voice is their own voice
  (voices merged into one label lower it); clusters: labels found / true voices.
* RTF: transcribe wall time (decode, enhance, ASR, voiceprints, writing) / seconds of clip audio,
  models already loaded; CPU/s: process CPU seconds (all threads) per audio second, which is
  what a busy machine does not distort; enh% / asr% / voice%: share of the wall time per stage.

    python benchmarks/bench_transcribe.py [--model tiny.en] [--work DIR]

``--real`` measures real recorded voices instead (Debian's Asterisk prompts: a man and a woman in
Italian, a woman in French, a woman in Spanish; tests/listen/real_voices.py), clean, under
synthesised music at 8 dB and under pink noise at 5 dB, with the bundled multilingual base model,
today's code beside a baseline copy of the package (``--baseline DIR``, a folder holding
``otio_dub``, e.g. ``mkdir /tmp/base && git archive HEAD otio_dub | tar -x -C /tmp/base``), each in
its own process; ``--lang-set it,fr,es`` adds a row of today's code restricted to those languages.

    python benchmarks/bench_transcribe.py --real --baseline /tmp/base [--conditions clean,music] [--lang-set it,fr,es]

``--feature`` repeats those real lines, reordered each round, to ``--minutes`` of speech (default an
hour: a feature's dialogue) and transcribes it with enhancement on and languages detected, with the
baseline and with today's code at each ``--jobs`` (wall, CPU of the process tree, RTF, peak RSS of one
process, the measures above), and says whether today's outputs are byte-identical across ``--jobs``.

    python benchmarks/bench_transcribe.py --feature --baseline /tmp/base [--minutes 60] [--jobs 1,2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "listen"))

from listen_speech import build_scene, normalise, wer  # noqa: E402

from otio_dub.listen import asr, media, speakers, transcribe  # noqa: E402

CLIPS = [
    [("joe", "The birch canoe slid on the smooth planks.")],
    [("m3", "It is easy to tell the depth of a well."), ("m3", "These days a chicken leg is a rare dish.")],
    [("f4", "Rice is often served in round bowls.")],
    [("joe", "Glue the sheet to the dark blue background.")],
    [("f4", "Four hours of steady work faced us."), ("f4", "A large size in stockings is hard to sell.")],
    [("m3", "The box was thrown beside the parked truck.")],
    [("joe", "The juice of lemons makes fine punch.")],
    [("f4", "The hogs were fed chopped corn and garbage.")],
    [("m3", "The boy was there when the sun rose.")],
    [("joe", "Help the woman get back to her feet.")],
]
#: --hard-voices: two more espeak variants, m1 and f1, which speaker embeddings barely tell from m3 and f4.
HARD = {5: "m1", 7: "f1"}


def scene(folder: Path, noisy: bool, hard: bool = False):
    at, clips = 1.0, []
    for i, say in enumerate(CLIPS):
        if hard and i in HARD:
            say = [(HARD[i], text) for _, text in say]
        clips.append({"at": at, "say": say})
        at += 2.0 + 3.2 * len(say)
    return build_scene(folder, "noisy" if noisy else "clean" if not hard else "hard", Fraction(24000, 1001), "01:00:00:00",
                       {"DIA": clips}, noisy=noisy)


class Timer:
    """Wall time spent inside a function, accumulated (wraps it in place)."""

    def __init__(self, owner: object, name: str) -> None:
        self.owner, self.name, self.total = owner, name, 0.0
        self.inner = getattr(owner, name)

        def wrapped(*args, **kwargs):
            t = time.perf_counter()
            try:
                return self.inner(*args, **kwargs)
            finally:
                self.total += time.perf_counter() - t

        setattr(owner, name, wrapped)


def measure(sc, out: Path, model: str | None, enhance: bool, timers: dict[str, Timer], count: int | None = None) -> dict:
    for t in timers.values():
        t.total = 0.0
    started, cpu = time.perf_counter(), time.process_time()
    result = transcribe(sc.path, out, model=model, lang="en", enhance=enhance, speakers=count)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    events = sorted(result.events, key=lambda e: e.start)
    names = [c.clip.name for c in result.transcript.clips]
    onsets, errors = [], {"piper": [0.0, 0], "espeak": [0.0, 0]}
    for clip in sc.clips:
        mine = [e for e in events if names[e.clip] == clip["name"]]
        starts = [e.words[0].start for e in mine]
        onsets += [min((abs(s - u.onset_s) for s in starts), default=9.9) * 1000 for u in clip["utterances"]]
        reference = " ".join(u.text for u in clip["utterances"])
        n = len(normalise(reference))
        kind = errors["piper" if clip["utterances"][0].voice == "joe" else "espeak"]
        kind[0] += wer(reference, " ".join(e.text for e in mine)) * n
        kind[1] += n
    truth = {c["name"]: c["utterances"][0].voice for c in sc.clips}
    by_label: dict[str, Counter] = {}
    for w in result.transcript.words:
        by_label.setdefault(w.speaker, Counter())[truth[names[w.clip]]] += 1
    words = sum(sum(c.values()) for c in by_label.values())
    purity = sum(c.most_common(1)[0][1] for c in by_label.values()) / max(1, words)  # merged voices lower it
    seconds = sum(c["record_out"] - c["record_in"] for c in sc.clips) / float(sc.rate)
    return {
        "wer": sum(e for e, _ in errors.values()) / sum(n for _, n in errors.values()),
        "wer_piper": errors["piper"][0] / max(1, errors["piper"][1]),
        "wer_espeak": errors["espeak"][0] / max(1, errors["espeak"][1]),
        "onset_med": statistics.median(onsets), "onset_max": max(onsets), "purity": purity,
        "clusters": len(by_label), "voices": len(set(truth.values())), "rtf": wall / seconds, "cpu": cpu / seconds,
        **{k: t.total / wall for k, t in timers.items()},
    }


ROW = ("{label:<11} {enh:<4} {spk:<5} {wer:>6.1%} {wer_piper:>6.1%} {wer_espeak:>7.1%} {onset_med:>6.0f}ms "
       "{onset_max:>6.0f}ms {purity:>7.1%} {found:>8} {rtf:>6.3f} {cpu:>6.3f} {enhance:>5.0%} {asr:>5.0%} {voice:>6.0%}")
HEADER = (f"{'speech':<11} {'enh':<4} {'--spk':<5} {'WER':>6} {'piper':>6} {'espeak':>7} {'onset':>8} {'max':>8} "
          f"{'purity':>7} {'clusters':>8} {'RTF':>6} {'CPU/s':>6} {'enh%':>5} {'asr%':>5} {'voice%':>6}")


def _embedder():
    """The speaker embedder the code under test uses: CAM++ now, resemblyzer in a baseline before it."""
    try:
        from otio_dub.listen.speaker_prints import get_speaker_prints
    except ImportError:  # a baseline before CAM++: resemblyzer, in speakers
        return speakers.get_voiceprints()  # type: ignore[attr-defined]
    return get_speaker_prints()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="whisper model (default: bundled tiny.en)")
    parser.add_argument("--work", type=Path, default=None, help="folder for scenes and outputs (default: a temp dir)")
    parser.add_argument("--hard-voices", action="store_true", help="also a clean scene with five espeak/piper voices")
    parser.add_argument("--real", action="store_true", help="real recorded voices (Debian asterisk prompts)")
    parser.add_argument("--baseline", type=Path, default=None, help="--real: a folder holding the baseline otio_dub")
    parser.add_argument("--conditions", default="clean,music,noise", help="--real: clean, music, noise")
    parser.add_argument("--lang-set", default=None, help="--real: also today's code with --lang restricted to these")
    parser.add_argument("--feature", action="store_true", help="real voices repeated to --minutes of speech")
    parser.add_argument("--minutes", type=float, default=60.0, help="--feature: minutes of speech (default 60)")
    parser.add_argument("--jobs", default="1,2", help="--feature: today's code at each of these --jobs")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_transcribe_"))
    if args.feature:
        import real_bench

        real_bench.feature(work, args.baseline, args.minutes, [int(j) for j in args.jobs.split(",")])
        return
    if args.real:
        import real_bench

        wanted = [c for c in real_bench.CONDITIONS if c.split()[0] in args.conditions.split(",")]
        real_bench.main(work, args.baseline, wanted, args.lang_set)
        return
    t = time.perf_counter()
    scenes = [("clean", scene(work / "clean", False), (False, True), (None,)),
              ("noisy 5 dB", scene(work / "noisy", True), (False, True), (None,))]
    if args.hard_voices:
        scenes.append(("5 voices", scene(work / "hard", False, hard=True), (False,), (None, 5)))
    print(f"scenes generated in {time.perf_counter() - t:.1f} s; {len(CLIPS)} clips, "
          f"{sum(len(c) for c in CLIPS)} sentences each")
    t = time.perf_counter()
    asr.get_recognizer(args.model, "en")
    embedder = _embedder()
    embedder.embed(media.np.zeros(48000, media.np.float32) + 0.01, 48000)  # librosa's JIT too
    media.enhance(media.np.zeros(4800, media.np.float32))
    print(f"models loaded in {time.perf_counter() - t:.1f} s (not counted below)")
    import otio_dub.listen.clip_listen as clip_listen

    timers = {"enhance": Timer(clip_listen, "enhance_audio"), "asr": Timer(asr.Recognizer, "words"),
              "voice": Timer(type(embedder), "embed")}
    print(HEADER)
    print("-" * len(HEADER))
    for label, sc, enhancements, counts in scenes:
        for enhance in enhancements:
            for count in counts:
                m = measure(sc, work / f"out_{label[:5]}_{enhance}_{count}", args.model, enhance, timers, count)
                print(ROW.format(label=label, enh="on" if enhance else "off", spk=str(count or "auto"),
                                 found=f"{m['clusters']}/{m['voices']}", **m), flush=True)


if __name__ == "__main__":
    main()
