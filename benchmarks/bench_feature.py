"""Feature benchmark: a 90-minute, 1,200-line timeline dubbed with --jobs 1, --jobs 2 and --ray, for
espeak and piper, then warm (the same timeline again, same folder and cache) twice, where the folder is
found unchanged and kept, once more without the note that proves it (every take from the cache, every
file delivered again), and a re-cut conform.

The timeline is generated in code: 23.976 fps from 01:00:00:00, one DIA track, 3 characters, one
line every ~4.5 s, windows 0.85-1.25x a rough estimate of each sentence's length, no two lines with
the same text. Characters get a cast as the README's cast section suggests: on piper, MARCUS 2
semitones down and NARRATOR 3 up and a little slower; on espeak, each its own variant and NARRATOR
a little slower. Stems on.

Each run is its own interpreter (``--child``), watched from here: wall time of the whole command,
CPU time and peak RSS of the process tree (driver, pool workers, Ray's processes; sampled from /proc
every 0.2 s, so peaks shorter than that can be missed; RSS summed over the tree, as the machine
sees it). Piper is slow on 2 cores, so by default it dubs a sample: every 10th line of the same
90-minute timeline (stems still 90 minutes); the table shows the measured run and the render
stage scaled to all lines (render wall x 10, the rest as measured): an estimate, marked ``~``.
The earlier dub in the output folder is passed to the stems stage as ``previous`` (what lets a
warm re-dub reuse its stems) where the deliver stage does not pass it itself.

    python benchmarks/bench_feature.py [--engines espeak piper kokoro] [--runs jobs1 jobs2 ray] [--piper-every 10]
        [--kokoro-every 10]

kokoro (the bundled int8 model: ANNA jf_alpha, MARCUS jm_kumo, NARRATOR jf_nezumi) samples every 10th
line by default like piper, estimated the same way; ``--kokoro-every 1`` is the full run.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import typing
from pathlib import Path

WARM = "warm (same timeline, folder, cache: kept unchanged)"
REDELIVERED = "warm, re-delivered (unchanged note removed)"
RATE_NUM, RATE_DEN = 24000, 1001
START = 86400  # 01:00:00:00 at 23.976 (non-drop: the timecode counts 24 frames a second)
CHARACTERS = ("ANNA", "MARCUS", "NARRATOR")
OPENERS = ("Listen,", "Honestly,", "Look,", "Wait,", "Well,", "Right,", "So", "Then", "Maybe", "Of course",
           "Quiet,", "Please,", "Come on,", "Still,", "Now", "Tonight", "Yesterday", "Somehow", "Again,", "Sure,")
MIDDLES = ("the train is late", "she never called back", "we should leave now", "the door was open",
           "nobody saw a thing", "I kept the letter", "he knows the way", "it is raining again",
           "the lights went out", "you were right about him", "they moved the meeting", "the car will not start",
           "I lost the keys", "the river is rising", "we missed the bridge", "it was not my idea",
           "the phone kept ringing", "the children are asleep", "he lied to all of us", "the money is gone")
ENDINGS = (".", " and I know why.", ", believe me.", " before midnight.")
CHILD_RUNS = {"jobs1": {"jobs": 1}, "jobs2": {"jobs": 2}, "ray": {"jobs": 2, "ray": "local"}}


def sentences(count: int, seed: int) -> list[str]:
    combos = [f"{o} {m}{e}" for o in OPENERS for m in MIDDLES for e in ENDINGS]
    random.Random(seed).shuffle(combos)
    if count > len(combos):
        raise SystemExit(f"at most {len(combos)} distinct lines")
    return combos[:count]


def generate(lines: int, minutes: float, seed: int) -> tuple[list[dict], int]:
    """Line specs (frames from the start) spread over ``minutes``; the programme length in frames."""
    rng = random.Random(seed)
    total = round(minutes * 60 * RATE_NUM / RATE_DEN)
    slot = total // lines
    specs = []
    for n, text in enumerate(sentences(lines, seed)):
        estimate = (0.33 * len(text.split()) + 0.15 * text.count(",")) * RATE_NUM / RATE_DEN
        length = min(slot - 12, max(12, round(estimate * rng.uniform(0.85, 1.25))))
        start = n * slot + rng.randint(0, slot - length - 6)
        character = CHARACTERS[n % 3 if rng.random() < 0.7 else rng.randrange(3)]
        specs.append({"in": start, "out": start + length, "text": text, "character": character})
    return specs, total


def recut(specs: list[dict], seed: int) -> list[dict]:
    """The editor's next cut: 30% of lines moved later inside their silence, 10% trimmed 1-3 frames, 5% re-written."""
    rng = random.Random(seed + 1)
    out = [dict(s) for s in specs]
    order = list(range(len(out)))
    rng.shuffle(order)
    n = len(out)
    for i in order[: round(0.3 * n)]:
        room = (out[i + 1]["in"] if i + 1 < n else out[i]["out"] + 12) - out[i]["out"]
        shift = min(6, room - 6)
        if shift > 0:
            out[i]["in"] += shift
            out[i]["out"] += shift
    for i in order[round(0.3 * n): round(0.4 * n)]:
        out[i]["out"] -= min(rng.randint(1, 3), out[i]["out"] - out[i]["in"] - 6)
    for i in order[round(0.4 * n): round(0.45 * n)]:
        out[i]["text"] = out[i]["text"].rstrip(".") + ", I think."
    return out


def write_timeline(specs: list[dict], total: int, path: Path) -> None:
    import opentimelineio as otio

    rate = RATE_NUM / RATE_DEN

    def rt(frames: int) -> otio.opentime.RationalTime:
        return otio.opentime.RationalTime(frames, rate)

    timeline = otio.schema.Timeline("feature", global_start_time=rt(START))
    track = otio.schema.Track("DIA", kind=otio.schema.TrackKind.Audio)
    cursor = 0
    for n, spec in enumerate(specs, 1):
        if spec["in"] > cursor:
            track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=rt(spec["in"] - cursor))))
        track.append(otio.schema.Clip(name=f"dia_{n:04d}", source_range=otio.opentime.TimeRange(
            rt(START + spec["in"]), rt(spec["out"] - spec["in"])),
            metadata={"otio_dub": {"text": spec["text"], "character": spec["character"]}}))
        cursor = spec["out"]
    if total > cursor:
        track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=rt(total - cursor))))
    timeline.tracks.append(track)
    otio.adapters.write_to_file(timeline, str(path))


def cast_for(engine: str) -> dict:
    """The cast as README suggests: distinct voices, two characters pitched apart on piper."""
    if engine == "piper":
        return {"ANNA": {"engine": "piper"}, "MARCUS": {"engine": "piper", "pitch": -2.0},
                "NARRATOR": {"engine": "piper", "pitch": 3.0, "rate": 0.95}}
    if engine == "kokoro":  # the bundled model's voices, as `best` casts the demo: two women and a man
        return {"ANNA": {"engine": "kokoro", "voice": "jf_alpha"}, "MARCUS": {"engine": "kokoro", "voice": "jm_kumo"},
                "NARRATOR": {"engine": "kokoro", "voice": "jf_nezumi", "rate": 0.95}}
    return {"ANNA": {"engine": "espeak"}, "MARCUS": {"engine": "espeak"},  # each gets its own variant
            "NARRATOR": {"engine": "espeak", "rate": 0.95}}


# ---------------------------------------------------------------------------------------------
# the child: one dub (or conform) in its own interpreter
# ---------------------------------------------------------------------------------------------


def child(task: dict) -> None:
    started = time.perf_counter()
    import otio_dub
    from otio_dub.casting.cast import CastEntry
    from otio_dub.stages import pipeline

    spent = {"render": 0.0}
    render_lines = pipeline.render_lines

    def timed_render(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return render_lines(*args, **kwargs)
        finally:
            spent["render"] += time.perf_counter() - t0

    pipeline.render_lines = timed_render
    from otio_dub.stages import deliver

    for name in ("plan_loudness", "dub_stems"):  # the earlier dub in -o: its stems are reused when unchanged
        original = getattr(deliver, name)

        def with_previous(*args, _original=original, **kwargs):
            if "previous" in inspect.signature(_original).parameters:
                kwargs.setdefault("previous", Path(task["out"]))
            return _original(*args, **kwargs)

        setattr(deliver, name, with_previous)
    cast = {name: CastEntry(name, **fields) for name, fields in task["cast"].items()}
    options = otio_dub.DubOptions(cast=cast, cache=task["cache"], jobs=task.get("jobs"), ray=task.get("ray"),
                                  review=False)
    t0 = time.perf_counter()
    if task.get("conform_from"):
        from otio_dub.stages.conform import conform

        result = conform(task["conform_from"], task["timeline"], task["out"], options=options).dub
    else:
        result = otio_dub.dub(task["timeline"], out_dir=task["out"], options=options)
    dub_s = time.perf_counter() - t0
    rows = result.lines
    print(json.dumps({"dub_s": dub_s, "render_s": spent["render"], "process_s": time.perf_counter() - started,
                      "takes": result.takes, "lines": len(rows),
                      "passes": sum(r.get("passes", 0) for r in rows if r.get("passes"))}))


# ---------------------------------------------------------------------------------------------
# the parent: runs children and watches their process trees
# ---------------------------------------------------------------------------------------------


def _proc_table() -> dict[int, tuple[int, float, int]]:
    """pid -> (ppid, cpu seconds, rss bytes) of every process now."""
    tick = os.sysconf("SC_CLK_TCK")
    page = os.sysconf("SC_PAGE_SIZE")
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read().decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        table[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick, int(fields[21]) * page)
    return table


def watched(command: list[str]) -> dict:
    """Run ``command``; its output's last line as JSON plus wall, tree CPU and tree peak RSS."""
    out_file, err_file = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")  # no pipe to fill up
    t0 = time.perf_counter()
    proc = subprocess.Popen(command, stdout=out_file, stderr=err_file, text=True)
    cpu: dict[int, float] = {}
    peak = 0
    while proc.poll() is None:
        table = _proc_table()
        tree = {proc.pid}
        grew = True
        while grew:
            grew = False
            for pid, (ppid, _, _) in table.items():
                if ppid in tree and pid not in tree:
                    tree.add(pid)
                    grew = True
        peak = max(peak, sum(table[p][2] for p in tree if p in table))
        for p in tree:
            if p in table:
                cpu[p] = table[p][1]
        try:
            proc.wait(timeout=0.2)  # the next sample, or the exit itself: wall time is not rounded up to a tick
        except subprocess.TimeoutExpired:
            pass
    wall = time.perf_counter() - t0
    out, err = _read_back(out_file), _read_back(err_file)
    if proc.returncode:
        sys.exit(f"{' '.join(command[:3])} failed:\n{err[-3000:]}")
    return {**json.loads(out.strip().splitlines()[-1]), "wall_s": wall, "cpu_s": sum(cpu.values()),
            "peak_rss_mb": peak / 2**20}


def _bytecode() -> bool:
    """Compile otio_dub's modules as installing a wheel does, so no run pays for compiling them (a
    tree where ``PYTHONDONTWRITEBYTECODE`` is set never keeps them: 0.2 s of every start)."""
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("otio_dub")
    if spec is None or spec.origin is None:
        return False
    return bool(compileall.compile_dir(Path(spec.origin).parent, quiet=1))


def _read_back(file: typing.IO[str]) -> str:
    with file:
        file.seek(0)
        return file.read()


def run_child(task: dict) -> dict:
    """One dub in a fresh interpreter, timed from a settled machine: the gigabytes the previous run wrote
    are flushed first (os.sync), and what it left running (Ray's processes wind down after its driver
    exits) is waited out, so a run is not charged for its predecessor."""
    if hasattr(os, "sync"):
        os.sync()
    waited = _quiet()
    if waited > 1.0:
        print(f"(waited {waited:.1f} s for the machine to go quiet before the next run)", flush=True)
    return watched([sys.executable, __file__, "--child", json.dumps(task)])


def _quiet(busy: float = 0.25, longest: float = 20.0) -> float:
    """Seconds waited until the machine's CPUs were under ``busy`` over half a second (Linux; at most
    ``longest``)."""
    def ticks() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(values), values[3] + values[4]  # all, idle + iowait

    started = time.perf_counter()
    try:
        while time.perf_counter() - started < longest:
            total0, idle0 = ticks()
            time.sleep(0.5)
            total1, idle1 = ticks()
            if total1 > total0 and 1 - (idle1 - idle0) / (total1 - total0) < busy:
                break
    except (OSError, ValueError, IndexError):
        pass
    return time.perf_counter() - started


def identical(a: Path, b: Path) -> list[str]:
    """Files that differ between two dub folders (names; empty when byte-identical). Not the note of the
    files' states that proves a folder unchanged: it names the folder and its files' inodes."""
    names = sorted(({p.relative_to(a) for p in a.rglob("*") if p.is_file()} |
                    {p.relative_to(b) for p in b.rglob("*") if p.is_file()}) - {Path(".otio-dub-state.json")})
    return [str(n) for n in names if not ((a / n).is_file() and (b / n).is_file()
                                          and (a / n).read_bytes() == (b / n).read_bytes())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1200)
    parser.add_argument("--minutes", type=float, default=90)
    parser.add_argument("--engines", nargs="+", default=["espeak", "piper"])
    parser.add_argument("--runs", nargs="+", default=list(CHILD_RUNS), choices=list(CHILD_RUNS))
    parser.add_argument("--piper-every", type=int, default=10, help="piper dubs every Nth line (1: all)")
    parser.add_argument("--kokoro-every", type=int, default=10, help="kokoro dubs every Nth line (1: all)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--work", type=Path, help="keep the dubs here (default: a temporary folder)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-feature-"))
    work.mkdir(parents=True, exist_ok=True)
    compiled = _bytecode()
    specs, total = generate(args.lines, args.minutes, args.seed)
    print(f"{args.lines} lines, {args.minutes:g} min at 23.976 fps, {len(CHARACTERS)} characters, stems on; "
          f"{os.cpu_count()} cores; Python {sys.version.split()[0]}; otio_dub bytecode "
          f"{'compiled' if compiled else 'NOT compiled (every run compiles it)'}")
    rows = []
    for engine in args.engines:
        every = {"piper": args.piper_every, "kokoro": args.kokoro_every}.get(engine, 1)
        sample = specs[::every]
        timeline = work / f"{engine}.otio"
        write_timeline(sample, total, timeline)
        outs = {}
        for run in args.runs:
            out, cache = work / f"{engine}-{run}", work / f"cache-{engine}-{run}"
            for path in (out, cache):
                shutil.rmtree(path, ignore_errors=True)
            got = run_child({"timeline": str(timeline), "out": str(out), "cache": str(cache), "cast": cast_for(engine),
                             **CHILD_RUNS[run]})
            rows.append((engine, f"--jobs {CHILD_RUNS[run]['jobs']}" + (" --ray" if run == "ray" else "") + " cold",
                         len(sample), every, got))
            outs[run] = out
        base = args.runs[-1] if "jobs2" not in args.runs else "jobs2"
        out, cache = work / f"{engine}-{base}", work / f"cache-{engine}-{base}"
        reference = work / f"{engine}-reference"
        shutil.rmtree(reference, ignore_errors=True)
        shutil.copytree(out, reference)
        warm_task = {"timeline": str(timeline), "out": str(out), "cache": str(cache), "cast": cast_for(engine),
                     **CHILD_RUNS[base]}
        rows.append((engine, WARM, len(sample), every, run_child(warm_task)))
        # once more: the first warm run right after the cold ones pays for the machine settling after their
        # gigabytes of writes (its imports alone take twice as long); the goal is judged on the first
        rows.append((engine, "warm again", len(sample), every, run_child(warm_task)))
        # without the note that proves the folder unchanged: every take from the cache, every file delivered
        # again (linked where unchanged): what a re-dub costs when anything at all changed
        (out / ".otio-dub-state.json").unlink(missing_ok=True)
        rows.append((engine, REDELIVERED, len(sample), every, run_child(warm_task)))
        recut_path = work / f"{engine}-recut.otio"
        write_timeline(recut(specs, args.seed)[::every], total, recut_path)
        conformed = run_child({"timeline": str(recut_path), "out": str(work / f"{engine}-conform"), "cache": str(cache),
                               "cast": cast_for(engine), "conform_from": str(out / f"{engine}.dub.otio"),
                               **CHILD_RUNS[base]})
        rows.append((engine, "re-cut conform (30% moved, 10% trimmed, 5% new text)", len(sample), every, conformed))
        print(f"{engine}: outputs byte-identical across {', '.join(args.runs)}: "
              + ("; ".join(f"{r}: {'yes' if not (d := identical(outs[args.runs[0]], outs[r])) else 'no: ' + ', '.join(d[:5])}"
                           for r in args.runs[1:]) or "one run only"))
        diff = identical(reference, out)
        print(f"{engine}: re-delivered warm outputs byte-identical to cold: {'yes' if not diff else 'no: ' + ', '.join(diff[:5])}")
    print()
    print("| engine | run | lines | wall s | CPU s | peak RSS MB (tree) | syntheses/line | takes | "
          f"wall s, all {args.lines} lines |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for engine, name, lines, every, got in rows:
        synthesized = got["takes"].get("synthesized", 0)
        per_line = f"{got['passes'] / synthesized:.2f}" if synthesized == lines else "-"  # cached rows carry old passes
        scaled = got["wall_s"] if every == 1 else got["wall_s"] - got["render_s"] + got["render_s"] * every
        takes = ", ".join(f"{n} {k}" for k, n in sorted(got["takes"].items()))
        print(f"| {engine} | {name} | {lines} | {got['wall_s']:.1f} | {got['cpu_s']:.1f} | {got['peak_rss_mb']:.0f} | "
              f"{per_line} | {takes} | {'' if every == 1 else '~'}{scaled:.0f} |")
    for engine in args.engines:
        mine = {name: got for e, name, _, _, got in rows if e == engine}
        cold = next(got for name, got in mine.items() if name.endswith("cold") and "--jobs 2" in name) \
            if any("--jobs 2" in n for n in mine) else next(iter(mine.values()))
        warm, again, redelivered = mine[WARM], mine["warm again"], mine[REDELIVERED]
        print(f"{engine}: cold / warm wall {cold['wall_s'] / warm['wall_s']:.1f}x (goal >= 20x); "
              f"dub() alone {cold['dub_s'] / warm['dub_s']:.1f}x; warm again {cold['wall_s'] / again['wall_s']:.1f}x; "
              f"re-delivered from the cache {cold['wall_s'] / redelivered['wall_s']:.1f}x")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
