"""Neural-voice sessions benchmark: what a synthesis costs on each way of running piper's graph.

Speaks the same lines (the feature benchmark's sentences) with piper's joe voice, one thread, in a
fresh process per way, so none inherits another's heap:

- ``1-D, no arena``: the voice's own graph without onnxruntime's memory arena, the freed heap handed
  back after each line (``malloc_trim``), as otio-dub spoke before the 2-D rewrite;
- ``1-D, arena``: the own graph, arena on;
- ``2-D, arena``: its convolutions 2-D (``onnx_conv2d``), arena on, loaded from a file as a render
  worker loads it from the render cache;
- ``2-D, arena shrunk``: as otio-dub speaks (``onnx_session.cpu_session(shrink=True)``): the weights
  outside the arena, the arena shrunk after every synthesis.

Also the process's RSS after the last line (what it holds between lines).

Prints wall and CPU time (user, system), real-time factor, the process's peak RSS, minor page
faults, and how far each way's samples are from the first's (relative RMS).

    python benchmarks/bench_onnx.py [--lines 40] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WAYS = ("1-D, no arena", "1-D, arena", "2-D, arena", "2-D, arena shrunk")


def child(way: str, lines: int, out: Path) -> None:
    """Speak ``lines`` sentences the ``way`` named; print one JSON row, keep the samples in ``out``."""
    import onnx
    import onnxruntime
    from piper import PiperVoice, SynthesisConfig
    from piper.config import PiperConfig

    sys.path.insert(0, str(Path(__file__).parent))
    import bench_feature

    from otio_dub.core.memory import return_freed_memory
    from otio_dub.engines import onnx_conv2d, onnx_session, piper

    model, config = piper._bundled()["joe"]
    source = str(model)
    if way.startswith("2-D"):
        graph = onnx.load(str(model))
        onnx_conv2d.as_conv2d(graph)
        source = str(out.with_suffix(".onnx"))
        onnx.save(graph, source)
        del graph
        return_freed_memory()
    if way == WAYS[-1]:
        session = onnx_session.cpu_session(source, shrink=True)
    else:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        options.enable_cpu_mem_arena = way != WAYS[0]
        session = onnxruntime.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])
    voice = PiperVoice(session=session, config=PiperConfig.from_dict(json.loads(Path(config).read_text())),
                       download_dir=Path.cwd())
    settings = SynthesisConfig(length_scale=1.0, noise_scale=0.0, noise_w_scale=0.0, normalize_audio=False)
    texts = bench_feature.sentences(lines, 3)

    def speak(text: str) -> np.ndarray:
        audio = np.concatenate([c.audio_float_array for c in voice.synthesize(text, settings)])
        if way == WAYS[0]:
            return_freed_memory()
        return audio

    speak(texts[0])  # the first run sets the session up
    before, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    takes = [speak(text) for text in texts]
    wall, after = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    audio = np.concatenate(takes)
    np.save(out, audio)
    print(json.dumps({"wall": wall, "user": after.ru_utime - before.ru_utime, "sys": after.ru_stime - before.ru_stime,
                      "seconds": audio.size / voice.config.sample_rate, "rss_mb": after.ru_maxrss / 1024,
                      "faults": after.ru_minflt - before.ru_minflt, "held_mb": _rss_mb()}))


def _rss_mb() -> float:
    """This process's resident memory now (Linux), MB."""
    with open("/proc/self/status", encoding="ascii") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:")) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each way, interleaved (the fastest is shown)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), Path(args.child[2]))
        return
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as work:
        for _ in range(args.repeat):
            for n, way in enumerate(WAYS):
                run = subprocess.run([sys.executable, __file__, "--child", way, str(args.lines), f"{work}/{n}.npy"],
                                     capture_output=True, text=True, check=True)
                row = json.loads(run.stdout.strip().splitlines()[-1])
                if way not in rows or row["wall"] < rows[way]["wall"]:
                    rows[way] = row
        first = np.load(f"{work}/0.npy")
        print(f"piper joe, {args.lines} lines ({rows[WAYS[0]]['seconds']:.1f} s of speech), one thread, "
              f"fastest of {args.repeat}")
        print("| way | wall s | user s | system s | RTF | vs first | peak RSS MB | held after MB | minor faults | "
              "samples vs first (rel. RMS) |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for n, way in enumerate(WAYS):
            row, audio = rows[way], np.load(f"{work}/{n}.npy")
            error = np.sqrt(np.mean((audio - first) ** 2) / np.mean(first ** 2)) if audio.size == first.size else float("nan")
            print(f"| {way} | {row['wall']:.2f} | {row['user']:.2f} | {row['sys']:.2f} | {row['wall'] / row['seconds']:.3f} | "
                  f"{row['wall'] / rows[WAYS[0]]['wall']:.2f}x | {row['rss_mb']:.0f} | {row['held_mb']:.0f} | {row['faults']} | "
                  f"{error:.1e} |")


if __name__ == "__main__":
    main()
