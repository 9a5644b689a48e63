"""Translation benchmark: how many translated lines can be spoken in their windows, first translation
vs the fitted choice, in the same run, for each offline translator and for the LLM candidate path.

Lines: the feature benchmark's generator (bench_feature.generate: 23.976 fps, windows 0.85-1.25x a
rough estimate of each *English* sentence's length, 3 characters), so a translation that is longer
than its English has to be fitted or adapted. Voices: espeak, cast automatically as the dub would;
each candidate's length is predicted by synthesis (otio_dub.translation.predict). Bounds: the dub's
defaults (x0.9 - x1.25).

Per translator: share of lines whose predicted speed is within the bounds, and median |speed - 1|,
for the first translation (``fit=False``) and the fitted choice (``fit=True``), plus the candidates
per line and wall time of each pass (fresh cache for the first, the same cache for the second: the
second pass only asks again for lines that do not fit).

The LLM path runs against a scripted stub on 127.0.0.1, not a model (no local LLM installs offline
here: llama-cpp-python builds from source only and no GGUF model ships in a package). The stub
answers three variants per line: the Bergamot translation of the line, the Bergamot translation of
its condensed source, and that translation cut or extended (with its own words) to the target length
the request asks for; a "shorter"/"longer" rewrite is the translation cut/extended to the target. It
measures the candidate path (target lengths, prediction, choice), not translation quality.

    python benchmarks/bench_translate.py [--lines 120] [--engines bergamot apertium llm]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_feature import generate  # noqa: E402

from otio_dub.core.timebase import TimeBase  # noqa: E402
from otio_dub.dialogue.lines import Line  # noqa: E402
from otio_dub.speech.fit import FitPolicy  # noqa: E402
from otio_dub.translation import get_translator  # noqa: E402
from otio_dub.translation.adapt import translate_lines  # noqa: E402
from otio_dub.translation.base import Item  # noqa: E402
from otio_dub.translation.layout import condensed  # noqa: E402

TARGETS = {"bergamot": "pt-BR", "apertium": "es", "llm": "pt-BR"}


def lines_of(count: int, seed: int) -> tuple[TimeBase, list[Line]]:
    specs, _ = generate(count, count * 4.5 / 60, seed)
    lines = [Line(f"{n:04d}-{s['character']}", s["in"], s["out"], s["character"], "en", s["text"], origin=f"line {n}")
             for n, s in enumerate(specs, 1)]
    return TimeBase(Fraction(24000, 1001), 0, False), lines


def _fit_to(text: str, chars: int) -> str:
    """``text`` cut at a word (or extended with its own words) to about ``chars`` characters."""
    words, out = text.split(), []
    while len(" ".join(out)) < chars and words:
        out.append(words[len(out) % len(words)])
    return " ".join(out).rstrip(",;") or text


def start_stub() -> tuple[ThreadingHTTPServer, str]:
    """The scripted LLM stub (see the module doc), answering on 127.0.0.1."""
    mt = get_translator("bergamot")

    def translate(text: str) -> str:
        return mt.translate([Item(text)], "en", "pt-BR")[0][0]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            ask = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            request = json.loads(ask["messages"][1]["content"])
            out = []
            for line in request["lines"]:
                full = translate(line["text"])
                if "task" in line:
                    variants = [_fit_to(full, line["target_chars"])]
                else:
                    variants = [full, translate(condensed(line["text"])), _fit_to(full, line["target_chars"])]
                out.append({"id": line["id"], "variants": variants})
            body = json.dumps({"choices": [{"finish_reason": "stop", "message": {
                "content": json.dumps({"lines": out}, ensure_ascii=False)}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


def measure(engine: str, tb: TimeBase, lines: list[Line], policy: FitPolicy, work: Path) -> list[tuple]:
    cache = work / f"cache-{engine}"
    shutil.rmtree(cache, ignore_errors=True)
    rows = []
    for label, fit in (("first translation", False), ("fitted choice", True)):
        started = time.perf_counter()
        result = translate_lines(lines, tb, TARGETS[engine], translator=engine, policy=policy, cache=cache, fit=fit)
        wall = time.perf_counter() - started
        speeds = [r.speed for r in result.rows]
        within = sum(policy.max_slowdown <= s <= policy.max_speedup for s in speeds) / len(speeds)
        median = statistics.median(abs(s - 1) for s in speeds)
        cands = statistics.mean(r.candidates for r in result.rows)
        rows.append((engine, f"en -> {TARGETS[engine]}", label, f"{within:.0%}", f"{median:.3f}", f"{cands:.2f}",
                     f"{wall:.1f}"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=120)
    parser.add_argument("--engines", nargs="+", default=["bergamot", "apertium", "llm"])
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    tb, lines = lines_of(args.lines, args.seed)
    policy = FitPolicy()
    work = Path(tempfile.mkdtemp(prefix="bench-translate-"))
    os.environ["OTIO_DUB_CACHE"] = str(work / "cache")
    server = None
    if "llm" in args.engines:
        server, url = start_stub()
        os.environ.update(OTIO_DUB_LLM_URL=url, OTIO_DUB_LLM_MODEL="scripted-stub")
    print(f"{len(lines)} lines (bench_feature generator, seed {args.seed}), espeak voices, bounds "
          f"x{policy.max_slowdown}-x{policy.max_speedup}; {os.cpu_count()} cores; Python {sys.version.split()[0]}")
    table = [("translator", "pair", "candidates", "within bounds", "median |speed-1|", "candidates/line", "wall s")]
    try:
        for engine in args.engines:
            table += measure(engine, tb, lines, policy, work)
    finally:
        if server is not None:
            server.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    print("| " + " | ".join(table[0]) + " |")
    print("|" + " --- |" * len(table[0]))
    for row in table[1:]:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
