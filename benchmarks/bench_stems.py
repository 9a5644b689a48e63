"""Stems render benchmark: wall time and peak memory of `otio-dub stems` on long generated dubs.

For each programme length a dub is generated the way ``dub`` lays it out: 3 characters on their
``DUB en <CHARACTER>`` tracks, one line every few seconds (1,200 lines in 90 minutes), each line a
24-bit BWF under media/ at its record-in, 23.976 fps from 01:00:00:00. The line audio is real
espeak speech taken from a cache (synthesised once into --cache), so the numbers measure
rendering, not synthesis. Each size is then rendered by ``restem`` (what ``otio-dub stems`` runs:
two loudness passes and the write pass, three character stems and DIALOGUE, loudness -27 LKFS,
true peak -2 dBTP) in a fresh interpreter, so the peak RSS (getrusage ru_maxrss) is that size's own,
twice: with silent stretches skipped (as rendered now) and computed block by block like speech
(as before), so both costs come from the same run; the stems must be byte-identical.
Building runs in a child process too: Linux keeps a process's ru_maxrss across fork and exec, so the
parent stays small (no numpy, no torch) and each render's peak is its own.
``--baseline REV`` (default: c695dcf, the code issue 14 measured 44 s on) renders the same dub with
that revision's otio_dub too (``git archive`` into a temp folder, first on the child's path), so the
speed-up is a ratio from one run on one machine, whatever its load.

    python benchmarks/bench_stems.py [--minutes 10 90] [--lines-per-hour 800] [--work DIR] [--baseline REV|none]
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from fractions import Fraction
from pathlib import Path

CHARACTERS = ("ANNA", "MARCUS", "NARRATOR")
RATE = Fraction(24000, 1001)
START = 86400  # 01:00:00:00 at 23.976
SENTENCES = [
    "I told you we should never have come back to this town.",
    "Where were you when the lights went out?",
    "Nobody remembers the old bridge anymore.",
    "Keep your voice down, they can hear us from the hallway.",
    "It was raining the night she left, and it has not stopped since.",
    "Yes.",
    "We have about ten minutes before the train.",
    "Do you really think he will forgive us?",
    "The letter arrived three days too late.",
    "Tell me the truth this time, all of it.",
    "Fine. Have it your way.",
    "Somewhere out there, someone is still waiting for an answer.",
]

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
t0 = time.perf_counter()
try:
    from otio_dub.delivery import character_levels, stems
except ImportError:  # a baseline revision from before the package was laid out in rooms
    from otio_dub import character_levels, stems
restem = stems.restem
if sys.argv[3] == "dense":  # silence computed like speech, block by block: how stems were rendered before
    sparse = stems.mix_spans
    def dense(groups, total, block=stems.BLOCK):
        import numpy as np
        for b0, buf, n in sparse(groups, total, block):
            if buf is not None:
                yield b0, buf, n
                continue
            for s0 in range(b0, b0 + n, block):
                m = min(block, b0 + n - s0)
                yield s0, np.zeros((len(groups), m), dtype=np.float32), m
    stems.mix_spans = dense
    character_levels.mix_spans = dense  # the loudness pass streams through its own name for it
rss_imports = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t1 = time.perf_counter()
result = restem(Path(sys.argv[1]), Path(sys.argv[2]))
wall = time.perf_counter() - t1
hwm = next((int(l.split()[1]) / 1024 for l in open("/proc/self/status") if l.startswith("VmHWM")), None)
import otio_dub
print(json.dumps({"module": otio_dub.__file__, "wall_s": wall, "vmhwm_mb": hwm, "import_s": t1 - t0, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rss_imports_mb": rss_imports, "report": result.report(Path(sys.argv[2]))}))
"""


def cached_takes(cache: Path) -> dict:
    """Natural espeak takes per character (48 kHz float32), synthesised once into ``cache``."""
    import numpy as np

    from otio_dub.audio import dsp
    from otio_dub.engines import get_engine

    cache.mkdir(parents=True, exist_ok=True)
    engine = None
    takes: dict = {}
    for index, character in enumerate(CHARACTERS):
        takes[character] = []
        for n, text in enumerate(SENTENCES):
            path = cache / f"{character}-{n:02d}.npy"
            if not path.exists():
                engine = engine or get_engine("espeak")
                take = engine.synthesize(text, engine.default_voice("en", index), 1.0)
                np.save(path, dsp.trim(dsp.resample(take.audio, take.sample_rate)).astype(np.float32))
            takes[character].append(np.load(path))
    return takes


def build(folder: Path, minutes: float, lines_per_hour: int, takes: dict) -> tuple[Path, int]:
    """A dub folder: media/<id>.wav and <name>.dub.otio, laid out as ``dub`` does."""
    import numpy as np
    import opentimelineio as otio

    from otio_dub.audio.bwf import write_bwf
    from otio_dub.core.timebase import TimeBase
    from otio_dub.dialogue.lines import Line
    from otio_dub.timelines.apply import DubClip, add_dub_tracks

    tb = TimeBase(RATE, START)
    total_frames = round(minutes * 60 * RATE)
    count = round(lines_per_hour * minutes / 60)
    spacing = total_frames // count
    rng = np.random.default_rng(int(minutes * 1000))
    clips = []
    (folder / "media").mkdir(parents=True, exist_ok=True)
    for n in range(count):
        character = CHARACTERS[rng.integers(len(CHARACTERS))]
        take = takes[character][rng.integers(len(SENTENCES))]
        rin = n * spacing + int(rng.integers(0, 12))
        frames = min(-(-take.size // 2002) + 6, spacing - 13)  # speech plus a few frames, never into the next line
        length = tb.samples_between(rin, rin + frames)
        media = np.zeros(length, dtype=np.float32)
        media[:min(length, take.size)] = take[:length]
        line = Line(f"{n + 1:04d}-{character}", rin, rin + frames, character, "en", SENTENCES[0])
        write_bwf(folder / "media" / f"{line.id}.wav", media, tb.start_sample + tb.sample_at(rin), f"{character}: bench")
        clips.append(DubClip(line, rin + frames, f"media/{line.id}.wav", "fit"))
    timeline = otio.schema.Timeline("bench", global_start_time=otio.opentime.RationalTime(START, float(RATE)))
    dubbed = add_dub_tracks(timeline, clips, tb)
    for track in dubbed.tracks:  # every track runs to the programme end
        missing = total_frames - round(track.duration().value)
        if missing > 0:
            track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(
                duration=otio.opentime.RationalTime(missing, float(RATE)))))
    path = folder / "bench.dub.otio"
    otio.adapters.write_to_file(dubbed, str(path))
    return path, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[10, 90])
    parser.add_argument("--lines-per-hour", type=int, default=800, help="800/h = 1,200 lines in 90 minutes")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "otio-dub-bench-takes")
    parser.add_argument("--work", type=Path, help="keep the generated dubs and stems here (default: a temp folder)")
    parser.add_argument("--baseline", default="c695dcf",
                        help="also render with this git revision's otio_dub ('none': not)")
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)  # child: build one size into this folder
    args = parser.parse_args()
    if args.build:
        _, count = build(args.build, args.minutes[0], args.lines_per_hour, cached_takes(args.cache))
        print(count)
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="otio-dub-bench-") as tmp:
        work = args.work or Path(tmp)
        baseline = _checkout(args.baseline, Path(tmp) / "baseline") if args.baseline != "none" else None
        for minutes in args.minutes:
            folder = work / f"{minutes:g}min"
            made = _run([sys.executable, __file__, "--build", str(folder), "--minutes", str(minutes),
                         "--lines-per-hour", str(args.lines_per_hour), "--cache", str(args.cache)])
            for how in ("baseline", "dense", "sparse") if baseline else ("dense", "sparse"):
                env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(baseline), os.environ.get(
                    "PYTHONPATH")]))) if how == "baseline" else None
                got = json.loads(_run([sys.executable, "-c", CHILD, str(folder / "bench.dub.otio"),
                                       str(folder / f"stems-{how}"), how], env, baseline if env else None))
                if env and not got["module"].startswith(str(baseline)):
                    sys.exit(f"the baseline child imported {got['module']}, not {baseline}")
                dialogue = got["report"]["files"]["DIALOGUE"]
                rows.append((minutes, how, int(made), got["wall_s"], minutes * 60 / got["wall_s"], got["rss_mb"],
                             got["vmhwm_mb"], got["rss_imports_mb"], dialogue["integrated_lkfs"],
                             dialogue["true_peak_dbtp"]))
            # compared in chunks: reading whole stems here would raise this process's peak RSS, which
            # Linux hands on to every child started after it (ru_maxrss survives fork and exec)
            same = all(filecmp.cmp(folder / "stems-dense" / f.name, f, shallow=False)
                       for f in (folder / "stems-sparse").glob("*.wav"))
            print(f"{minutes:g} min: stems byte-identical with silence computed and skipped: {same}")
    print("| programme | code, silence | lines | stems wall s | x real time | peak RSS MB (ru_maxrss) | VmHWM MB "
          "| RSS after imports MB | DIALOGUE LKFS | DIALOGUE dBTP |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    labels = {"dense": "computed", "sparse": "skipped (now)", "baseline": f"{args.baseline} (baseline)"}
    for m, how, count, wall, speed, rss, hwm, base, lkfs, tp in rows:
        print(f"| {m:g} min | {labels[how]} | {count} | {wall:.1f} | {speed:.0f}x | {rss:.0f} | {hwm:.0f} | {base:.0f} "
              f"| {lkfs} | {tp} |")
    walls = {(m, how): wall for m, how, _, wall, *_ in rows}
    for m in args.minutes:
        if (m, "baseline") in walls:
            print(f"{m:g} min: now / {args.baseline} = {walls[(m, 'sparse')] / walls[(m, 'baseline')]:.2f}x the time")


def _checkout(revision: str, into: Path) -> Path:
    """That revision's otio_dub package extracted under ``into`` (what goes first on a child's path)."""
    root = Path(__file__).resolve().parent.parent
    into.mkdir(parents=True)
    archive = into / "otio_dub.tar"
    with archive.open("wb") as fh:
        proc = subprocess.run(["git", "-C", str(root), "archive", revision, "otio_dub"], stdout=fh,
                              stderr=subprocess.PIPE, text=False, check=False)
    if proc.returncode:
        sys.exit(f"--baseline {revision}: {proc.stderr.decode(errors='replace').strip()}")
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into


def _run(command: list[str], env: dict | None = None, cwd: Path | None = None) -> str:
    proc = subprocess.run(command, capture_output=True, text=True, check=False, env=env, cwd=cwd)
    if proc.returncode:
        sys.exit(proc.stderr)
    return proc.stdout


if __name__ == "__main__":
    main()
