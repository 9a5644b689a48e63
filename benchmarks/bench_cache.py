"""Render cache benchmark: a cold dub against a warm re-dub of the same 500-line timeline.

A timeline is generated in code: 24 fps from 01:00:00:00, one DIA track, 3 characters, 500
distinct short sentences (no two lines share a render key, so the cold run never hits its own
takes), windows 0.85-1.25x a rough estimate of each sentence's espeak length, and 0.5-1.5 s of
silence between lines. It is dubbed with espeak and stems on (the defaults):

* cold: a fresh cache, every line synthesized and fitted;
* warm: the same timeline again into the same folder with that cache: every take a hit, and the
  stems and loudness plan reused from the dub already there.

Before timing, a one-line dub loads torch, espeak and Rubber Band, so the cold number is the
dub's own work, not the imports. The time spent in ``fit_line`` (speaking and fitting) and in
``dub_stems`` (mixing, loudness, writing the stems) is measured by wrapping them, so the table
shows what is left once synthesis is gone.

A re-cut is generated too (30% of lines moved in blocks of 5, 10% trimmed by 1-3 frames at the
tail, 5% with new text) and re-dubbed with the warm cache alone: with an ideal key only the
trimmed and re-written lines miss. ``bench_conform`` is where the conform benchmark goes.

    python benchmarks/bench_cache.py [--lines 500] [--seed 7] [--work DIR]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import opentimelineio as otio

RATE = 24
START = 86400  # 01:00:00:00
CHARACTERS = ("ANNA", "MARCUS", "NARRATOR")
OPENERS = (
    "Listen,", "Honestly,", "Look,", "Wait,", "Well,", "Right,", "So", "Then", "Maybe", "Of course",
    "Quiet,", "Please,", "Come on,", "Still,", "Now", "Tonight", "Yesterday", "Somehow", "Again,", "Sure,",
)
MIDDLES = (
    "the train is late.", "she never called back.", "we should leave now.", "the door was open.",
    "nobody saw a thing.", "I kept the letter.", "he knows the way.", "it is raining again.",
    "the lights went out.", "you were right about him.", "they moved the meeting.", "the car will not start.",
    "I lost the keys.", "the river is rising.", "we missed the bridge.", "it was not my idea.",
    "the phone kept ringing.", "the children are asleep.", "he lied to all of us.", "the money is gone.",
    "I heard footsteps upstairs.", "she took the last bus.", "the map is wrong.", "we are out of time.",
    "the dog found something.",
)


@dataclass
class Spec:
    """One dialogue line: frames from the timeline start."""

    record_in: int
    record_out: int
    text: str
    character: str


def estimate_frames(text: str) -> int:
    """A rough espeak length at its default pace: about 0.36 s a word, plus a comma's pause."""
    words = len(text.split())
    return round((0.36 * words + 0.15 * text.count(",")) * RATE)


def generate(count: int, seed: int) -> tuple[list[Spec], int]:
    rng = random.Random(seed)
    pairs = [(o, m) for o in OPENERS for m in MIDDLES]
    rng.shuffle(pairs)
    if count > len(pairs):
        raise SystemExit(f"at most {len(pairs)} distinct lines")
    specs, cursor = [], RATE
    for n, (opener, middle) in enumerate(pairs[:count]):
        text = f"{opener} {middle}"
        length = max(12, round(estimate_frames(text) * rng.uniform(0.85, 1.25)))
        specs.append(Spec(cursor, cursor + length, text, CHARACTERS[n % 3 if rng.random() < 0.7 else rng.randrange(3)]))
        cursor += length + rng.randint(12, 36)
    return specs, cursor + RATE


def recut(specs: list[Spec], total: int, seed: int) -> tuple[list[Spec], int, dict[str, int]]:
    """The editor's next cut: 30% of lines moved (blocks of 5 slid later inside the silence after
    them, their own spacing kept), 10% trimmed at the tail by 1-3 frames, 5% with new text."""
    rng = random.Random(seed + 1)
    out = [Spec(s.record_in, s.record_out, s.text, s.character) for s in specs]
    n = len(out)
    starts = list(range(0, n - 5, 5))
    rng.shuffle(starts)
    moved: set[int] = set()
    for start in starts:
        if len(moved) >= round(0.3 * n):
            break
        block = range(start, start + 5)
        nxt = start + 5
        room = (out[nxt].record_in if nxt < n else total) - out[block[-1]].record_out
        shift = min(6, room - 12)  # keep at least half a second before the next line
        if shift <= 0:
            continue
        for i in block:
            out[i].record_in += shift
            out[i].record_out += shift
        moved.update(block)
    rest = [i for i in range(n) if i not in moved]
    rng.shuffle(rest)
    trimmed = rest[: round(0.1 * n)]
    for i in trimmed:
        out[i].record_out -= min(rng.randint(1, 3), out[i].record_out - out[i].record_in - 6)
    rewritten = rest[round(0.1 * n): round(0.1 * n) + round(0.05 * n)]
    for i in rewritten:
        out[i].text = out[i].text.replace(".", ", I think.")
    return out, total, {"moved": len(moved), "trimmed": len(trimmed), "rewritten": len(rewritten)}


def make_timeline(specs: list[Spec], total: int, name: str) -> otio.schema.Timeline:
    def rt(frames: int) -> otio.opentime.RationalTime:
        return otio.opentime.RationalTime(frames, RATE)

    timeline = otio.schema.Timeline(name, global_start_time=rt(START))
    track = otio.schema.Track("DIA", kind=otio.schema.TrackKind.Audio)
    cursor = 0
    for n, spec in enumerate(specs, 1):
        if spec.record_in > cursor:
            track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=rt(spec.record_in - cursor))))
        track.append(otio.schema.Clip(
            name=f"dia_{n:04d}",
            source_range=otio.opentime.TimeRange(rt(START + spec.record_in), rt(spec.record_out - spec.record_in)),
            metadata={"otio_dub": {"text": spec.text, "character": spec.character}},
        ))
        cursor = spec.record_out
    if total > cursor:
        track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=rt(total - cursor))))
    timeline.tracks.append(track)
    return timeline


class Clock:
    """Seconds spent inside wrapped pipeline functions (fit_line: synthesis; dub_stems: stems)."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}

    @contextmanager
    def wrapping(self, module: object, *names: str):
        originals = {name: getattr(module, name) for name in names}

        def timed(name: str, func):
            def run(*args, **kwargs):
                started = time.perf_counter()
                try:
                    return func(*args, **kwargs)
                finally:
                    self.spent[name] = self.spent.get(name, 0.0) + time.perf_counter() - started
            return run

        for name, func in originals.items():
            setattr(module, name, timed(name, func))
        try:
            yield self
        finally:
            for name, func in originals.items():
                setattr(module, name, func)


@dataclass
class Row:
    name: str
    wall: float
    takes: dict[str, int]
    synthesis: float  # speak.fit_line: speaking and fitting
    lookup: float  # RenderCache.get and put
    loudness: float  # plan_loudness: each character's loudness, measured from the staged lines
    stems: float  # dub_stems: mixing, measuring and writing the stems

    @property
    def other(self) -> float:
        """Staging and finishing the line media, the dub timeline, report.json."""
        return self.wall - self.synthesis - self.lookup - self.loudness - self.stems


@contextmanager
def stage_clocks(clock: Clock, out: Path):
    """Time synthesis (speak.fit_line), the loudness plan and the stems (the deliver stage's calls),
    and the render cache; the earlier dub in ``out`` is handed to the stems as ``previous`` where
    the deliver stage does not pass it itself (what lets a warm re-dub reuse its stems)."""
    import inspect

    from otio_dub.speech import speak
    from otio_dub.stages import deliver
    from otio_dub.store.cache import RenderCache

    originals = {name: getattr(deliver, name) for name in ("plan_loudness", "dub_stems")}

    def with_previous(original):
        def run(*args, **kwargs):
            if "previous" in inspect.signature(original).parameters:
                kwargs.setdefault("previous", out)
            return original(*args, **kwargs)
        return run

    for name, original in originals.items():
        setattr(deliver, name, with_previous(original))
    try:
        with clock.wrapping(speak, "fit_line"), clock.wrapping(deliver, "plan_loudness", "dub_stems"), \
                clock.wrapping(RenderCache, "get", "put"):
            yield
    finally:
        for name, original in originals.items():
            setattr(deliver, name, original)


def timed_dub(name: str, timeline: otio.schema.Timeline, out: Path, cache: Path | None) -> Row:
    import otio_dub

    clock = Clock()
    with stage_clocks(clock, out):
        started = time.perf_counter()
        result = otio_dub.dub(timeline, out_dir=out, options=otio_dub.DubOptions(cache=cache))
        wall = time.perf_counter() - started
    spent = clock.spent.get
    return Row(name, wall, dict(result.takes), spent("fit_line", 0.0), spent("get", 0.0) + spent("put", 0.0),
               spent("plan_loudness", 0.0), spent("dub_stems", 0.0))


def identical(a: Path, b: Path) -> bool:
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file() and not p.name.startswith("."))
    return all((b / f).is_file() and (a / f).read_bytes() == (b / f).read_bytes() for f in files)


def bench_conform(old_dub: Path, recut_timeline: otio.schema.Timeline, out: Path, cache: Path) -> Row:
    """Conform the warm dub in ``old_dub`` to ``recut_timeline`` (30% of lines moved, 10% trimmed,
    5% re-written; see ``recut``) into ``out`` with ``cache``: only trimmed and re-written lines
    should be fitted; the change list's counts are printed too."""
    import otio_dub
    from otio_dub.stages.conform import conform

    old = next(old_dub.glob("*.dub.otio"))
    clock = Clock()
    with stage_clocks(clock, out):
        started = time.perf_counter()
        result = conform(old, recut_timeline, out, options=otio_dub.DubOptions(cache=cache))
        wall = time.perf_counter() - started
    print("conform changes:", ", ".join(f"{n} {kind}" for kind, n in result.counts.items()))
    spent = clock.spent.get
    return Row("re-cut, conform", wall, dict(result.dub.takes), spent("fit_line", 0.0),
               spent("get", 0.0) + spent("put", 0.0), spent("plan_loudness", 0.0), spent("dub_stems", 0.0))


# ---------------------------------------------------------------------------------------------


def table(rows: list[Row]) -> None:
    heads = ("wall s", "fit_line s", "cache s", "loudness s", "stems s", "other s")
    print(f"| {'run':<34} | " + " | ".join(heads) + " | takes |")
    print(f"| {'-' * 34} | " + " | ".join("-" * len(h) for h in heads) + " | ----- |")
    for r in rows:
        takes = ", ".join(f"{n} {k}" for k, n in sorted(r.takes.items()))
        cells = (r.wall, r.synthesis, r.lookup, r.loudness, r.stems, r.other)
        print(f"| {r.name:<34} | " + " | ".join(f"{v:{len(h)}.2f}" for v, h in zip(cells, heads, strict=True))
              + f" | {takes} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", type=Path, help="folder for the dubs and the cache (default: a temp folder)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-cache-"))
    cache = work / "cache"
    for path in (cache, work / "cache-recut", work / "cold", work / "warm", work / "recut", work / "conform", work / "warmup"):
        shutil.rmtree(path, ignore_errors=True)

    import otio_dub

    specs, total = generate(args.lines, args.seed)
    timeline = make_timeline(specs, total, "bench")
    print(f"{args.lines} lines, {total / RATE / 60:.1f} min at {RATE} fps, {len(CHARACTERS)} characters, espeak, "
          f"stems on; otio-dub {otio_dub.__version__}, Python {sys.version.split()[0]}")
    warmup = make_timeline(specs[:1], specs[0].record_out + RATE, "warmup")
    otio_dub.dub(warmup, out_dir=work / "warmup", options=otio_dub.DubOptions(cache=None))

    cold = timed_dub("cold (fresh cache)", timeline, work / "cold", cache)
    shutil.copytree(work / "cold", work / "warm")  # the warm re-dub replaces the dub in its own folder
    warm = timed_dub("warm (same timeline and folder)", timeline, work / "warm", cache)
    recut_specs, recut_total, changes = recut(specs, total, args.seed)
    recut_timeline = make_timeline(recut_specs, recut_total, "bench")
    shutil.copytree(cache, work / "cache-recut")  # both re-cut runs start from the cache the warm dub left
    recut_row = timed_dub("re-cut, cache only", recut_timeline, work / "recut", work / "cache-recut")
    conform_row = bench_conform(work / "warm", recut_timeline, work / "conform", cache)
    rows = [cold, warm, recut_row, conform_row]

    print()
    table(rows)
    print()
    ratio = cold.wall / warm.wall
    print(f"cold / warm, wall: {ratio:.1f}x (goal >= 20x) {'ok' if ratio >= 20 else 'BELOW GOAL'}; "
          f"warm outputs byte-identical to cold: {identical(work / 'cold', work / 'warm')}")
    print(f"cold / warm without loudness and stems: {(cold.wall - cold.loudness - cold.stems) / (warm.wall - warm.loudness - warm.stems):.1f}x; "
          f"per line, synthesis ({cold.synthesis + cold.lookup:.2f} s) / cache ({warm.synthesis + warm.lookup:.2f} s): "
          f"{(cold.synthesis + cold.lookup) / max(warm.synthesis + warm.lookup, 1e-9):.0f}x")
    ideal = changes["trimmed"] + changes["rewritten"]
    missed = recut_row.takes.get("synthesized", 0)
    print(f"re-cut: {changes['moved']} moved, {changes['trimmed']} trimmed, {changes['rewritten']} re-written; "
          f"{missed} synthesized (an ideal key: {ideal}), {recut_row.takes.get('cache', 0)} from the cache")
    print(f"conform: {conform_row.takes.get('synthesized', 0)} synthesized (ideal {ideal}), "
          f"{conform_row.takes.get('reused', 0)} reused, {conform_row.wall:.1f} s against {cold.wall:.1f} s cold "
          f"({cold.wall / conform_row.wall:.1f}x)")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
