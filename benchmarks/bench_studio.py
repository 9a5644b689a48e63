"""Studio benchmark: edit-to-audio latency of `otio-dub studio` on a warm server, per engine.

Builds a feature-sized dub (bench_feature's generator: 1,200 lines over 90 minutes, espeak), starts
the studio on it in this process, and for each engine changes the text of lines whose windows are
about 3 seconds (2.5-3.5 s; a voice edit switches the line to piper's or kokoro's voice), each
edit new so nothing comes from the render cache. A request's latency is from the Speak POST to
the last byte of the take's WAV (what the page's audio element plays). The first edit per engine
warms it (loads the model, measures the voice's response) and is reported apart. Then one keep
of a chosen take and its undo are timed.

    python benchmarks/bench_studio.py [--lines 1200] [--minutes 90] [--edits 20] [--engines espeak piper kokoro]
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_feature import generate, write_timeline  # noqa: E402

VOICES = {"espeak": None, "piper": ("piper", "joe"), "kokoro": ("kokoro", "jf_alpha")}


def post(port: int, url: str, body: dict) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    conn.request("POST", url, json.dumps(body), {"Content-Type": "application/json", "Host": f"127.0.0.1:{port}"})
    resp = conn.getresponse()
    data = json.loads(resp.read())
    conn.close()
    if resp.status != 200:
        raise SystemExit(f"{url}: {resp.status} {data}")
    return data


def get(port: int, url: str) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    conn.request("GET", url, headers={"Host": f"127.0.0.1:{port}"})
    data = conn.getresponse().read()
    conn.close()
    return data


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1200)
    parser.add_argument("--minutes", type=float, default=90)
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--engines", nargs="+", default=["espeak", "piper", "kokoro"])
    parser.add_argument("--kokoro-voice", default="jf_alpha")
    args = parser.parse_args()
    VOICES["kokoro"] = ("kokoro", args.kokoro_voice)

    import otio_dub
    from otio_dub.stages.options import DubOptions
    from otio_dub.stages.studio import start

    with tempfile.TemporaryDirectory(prefix="bench-studio-") as tmp:
        work = Path(tmp)
        specs, total = generate(args.lines, args.minutes, seed=7)
        write_timeline(specs, total, work / "feature.otio")
        t0 = time.perf_counter()
        otio_dub.dub(work / "feature.otio", out_dir=work / "dub", options=DubOptions(engine="espeak", cache=work / "cache"))
        print(f"dub of {args.lines} lines ({args.minutes:g} min, espeak): {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        server = start(work / "dub", work / "cache")
        print(f"studio start (plan read back from the folder): {(time.perf_counter() - t0) * 1000:.0f} ms")
        port, prefix = server.server_address[1], f"/s/{server.secret}/"
        try:
            lines = server.session.dub.plan.lines
            tb = server.session.dub.tb
            three = [ln for ln in lines if 2.5 <= tb.samples_between(ln.record_in, ln.record_out) / 48000 <= 3.5]
            print(f"lines with a 2.5-3.5 s window: {len(three)}")
            print(f"{'engine':<8} {'first (warm-up)':>16} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  edits")
            chosen = None
            for engine in args.engines:
                times = []
                for n in range(args.edits + 1):
                    line = three[(n * 37 + len(engine)) % len(three)]
                    body = {"id": line.id, "text": f"{line.text.rstrip('.')}, {engine} {n}."}
                    if VOICES.get(engine):
                        body["engine"], body["voice"] = VOICES[engine]
                    started = time.perf_counter()
                    take = post(port, prefix + "api/speak", body)
                    get(port, prefix + take["url"])
                    times.append((time.perf_counter() - started) * 1000)
                    chosen = chosen or (line.id, take["take"])
                first, rest = times[0], times[1:]
                print(f"{engine:<8} {first:>14.0f} ms {statistics.median(rest):>8.0f} {pct(rest, 0.95):>8.0f} {max(rest):>8.0f}  {len(rest)}")
            if chosen is not None:
                post(port, prefix + "api/choose", {"id": chosen[0], "take": chosen[1]})
                t0 = time.perf_counter()
                post(port, prefix + "api/keep", {})
                keep_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                post(port, prefix + "api/undo", {})
                print(f"keep of one line into the {args.lines}-line dub: {keep_s:.2f} s; undo: {time.perf_counter() - t0:.2f} s")
        finally:
            server.shutdown()
            server.server_close()


if __name__ == "__main__":
    main()
