"""Review page benchmark: build time, page size, load time and scrolling of a feature-length dub's page.

A 90-minute dub of 1,200 lines (three characters, real espeak speech from a cache, laid out by
``bench_stems.build`` exactly as ``dub`` lays clips) gets a report.json whose statuses and speed
figures are drawn at random in realistic proportions. Then:

* ``write_review`` (what every dub runs at the end): wall time, and the page's size;
* the page in headless Chromium (Debian's, /usr/bin/chromium), a fresh profile per run: time
  from navigation to the page's script having drawn everything (``performance.now()`` at its end);
* scrolling: the lines table scrolled from top to bottom and the timeline strip (zoomed to
  4 px/frame) from start to end, one step per animation frame; the frame intervals say whether
  it stays smooth (16.7 ms is 60 fps); the same loop on a bare page of plain rows is this machine's floor.

    python benchmarks/bench_review.py [--lines-per-hour 800] [--minutes 90] [--runs 3] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_stems import RATE, SENTENCES, build, cached_takes  # noqa: E402  (the same generated dub)

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STATUSES = (("fit", 0.6), ("padded", 0.22), ("borrowed", 0.12), ("overrun", 0.06))

SCROLL = """async ([selector, step, before]) => {
  const el = document.querySelector(selector);
  if (before) { eval(before); }
  const gaps = []; let last = performance.now();
  const horizontal = el.scrollWidth > el.clientWidth + 1 && selector === '#strip-scroll';
  const end = horizontal ? el.scrollWidth - el.clientWidth : el.scrollHeight - el.clientHeight;
  while ((horizontal ? el.scrollLeft : el.scrollTop) < end - 1) {
    if (horizontal) { el.scrollLeft += step; } else { el.scrollTop += step; }
    await new Promise(r => requestAnimationFrame(r));
    const now = performance.now(); gaps.push(now - last); last = now;
  }
  return gaps;
}"""


def write_report(folder: Path, timeline_path: Path, seed: int = 7) -> int:
    """report.json for the generated dub: one row per dub clip, statuses and figures drawn at random."""
    import numpy as np
    import opentimelineio as otio

    from otio_dub.core.timebase import frames_of
    from otio_dub.dialogue.lines import timebase_of

    timeline = otio.adapters.read_from_file(str(timeline_path))
    tb = timebase_of(timeline)
    rng = np.random.default_rng(seed)
    rows = []
    for track in timeline.tracks:
        for clip in track.find_clips():
            r = clip.transformed_time_range(clip.trimmed_range(), timeline.tracks)
            rin, rout = frames_of(r.start_time, tb.rate), frames_of(r.end_time_exclusive(), tb.rate)
            status = rng.choice([s for s, _ in STATUSES], p=[p for _, p in STATUSES])
            window = float((rout - rin) / RATE)
            needed = {"fit": rng.uniform(0.92, 1.24), "padded": rng.uniform(0.6, 0.9), "borrowed": rng.uniform(1.26, 1.4),
                      "overrun": rng.uniform(1.45, 1.9)}[status]
            speed = min(max(needed, 0.9), 1.25)
            rows.append({"id": clip.name, "character": clip.name.split("-", 1)[1], "lang": "en",
                         "text": SENTENCES[int(rng.integers(len(SENTENCES)))], "record_in": tb.tc(rin), "record_out": tb.tc(rout),
                         "clip_out": tb.tc(rout), "target_s": round(window, 4), "natural_s": round(window * needed, 4),
                         "window_s": round(window, 4), "speech_s": round(window * needed / speed, 4),
                         "needed_speed": round(needed, 4), "rate_factor": round(speed, 4), "stretch_factor": 1.0,
                         "total_speed": round(speed, 4), "passes": int(rng.integers(1, 4)), "status": status,
                         "note": f"needs {needed:.2f}x (max 1.25x); shorten by ~3 syllables" if status == "overrun" else "",
                         "media": f"media/{clip.name}.wav", "engine": "espeak", "voice": "en", "emotion": None})
    rows.sort(key=lambda row: row["record_in"])
    total = frames_of(timeline.duration(), tb.rate)
    summary = {"lines": len(rows), **{s: sum(r["status"] == s for r in rows) for s, _ in STATUSES}}
    report = {"otio_dub": "bench", "timeline": "bench", "rate": str(tb.rate), "start": tb.tc(0), "duration_frames": total,
              "policy": {"max_speedup": 1.25, "max_slowdown": 0.9}, "summary": summary, "engines": {"espeak": "bench"},
              "tracks": sorted({t.name for t in timeline.tracks}), "stems": {}, "lines": rows}
    (folder / "report.json").write_text(json.dumps(report), encoding="utf-8")
    return len(rows)


def browse(page_path: Path, runs: int) -> dict:
    from playwright.sync_api import sync_playwright

    loads, table, wheel, strip, errors = [], [], [], [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for _ in range(runs):
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(page_path.as_uri())
            page.wait_for_selector("html[data-ready]")
            loads.append(page.evaluate("() => otioDubReview.readyMs"))
            table += page.evaluate(SCROLL, ["#rows-scroll", 900, None])[1:]
            page.evaluate("() => { document.querySelector('#rows-scroll').scrollTop = 0; }")
            wheel += page.evaluate(SCROLL, ["#rows-scroll", 120, None])[1:]
            strip += page.evaluate(SCROLL, ["#strip-scroll", 800, "for (let i = 0; i < 12; i++) document.querySelector('#zoom-in').click()"])[1:]
            context.close()
        page = browser.new_page(viewport={"width": 1600, "height": 1000})  # the same loop on a bare page: the machine's floor
        page.set_content("<div id='bare' style='height:700px;overflow:auto'>" +
                         "".join(f"<div style='height:30px'>row {i}</div>" for i in range(3000)) + "</div>")
        bare = page.evaluate(SCROLL, ["#bare", 900, None])[1:]
        browser.close()
    return {"loads": loads, "table": table, "wheel": wheel, "strip": strip, "bare": bare, "errors": errors}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=90)
    parser.add_argument("--lines-per-hour", type=int, default=800, help="800/h = 1,200 lines in 90 minutes")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "otio-dub-bench-takes")
    parser.add_argument("--work", type=Path, help="keep the generated dub here (default: a temp folder)")
    args = parser.parse_args()
    from otio_dub.review import write_review

    with tempfile.TemporaryDirectory(prefix="otio-dub-bench-review-") as tmp:
        folder = (args.work or Path(tmp)) / f"{args.minutes:g}min"
        timeline_path, _ = build(folder, args.minutes, args.lines_per_hour, cached_takes(args.cache))
        count = write_report(folder, timeline_path)
        builds = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            page = write_review(folder)
            builds.append(time.perf_counter() - t0)
        got = browse(page, args.runs)
        size = page.stat().st_size
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{count} lines, {args.minutes:g} min, page {size / 1024:.0f} kB, console errors: {len(got['errors'])}, "
          f"load average {load} on {os.cpu_count()} cores")
    print("| step | median | best | worst |")
    print("| --- | --- | --- | --- |")
    print(f"| write_review (Python) | {statistics.median(builds):.2f} s | {min(builds):.2f} s | {max(builds):.2f} s |")
    loads = got["loads"]
    print(f"| page load to drawn (Chromium) | {statistics.median(loads):.0f} ms | {min(loads):.0f} ms | {max(loads):.0f} ms |")
    for name, what in (("wheel", "scroll the lines table, 4 rows a frame (mouse wheel)"),
                       ("table", "scroll the lines table, 30 rows a frame (a fling)"),
                       ("strip", "scroll the strip at full zoom (12 px/frame)"),
                       ("bare", "the same scroll on a bare page (this machine's floor)")):
        gaps = got[name]
        print(f"| {what}: frame interval ({len(gaps)} frames) | {statistics.median(gaps):.1f} ms "
              f"| p95 {pct(gaps, 0.95):.1f} ms | {max(gaps):.1f} ms |")


if __name__ == "__main__":
    main()
