"""The base install as a new user gets it: a fresh venv, ``pip install .``, its size and time, and the demo dub.

    python benchmarks/bench_install.py [--no-cache]   # --no-cache: pip downloads every wheel again

Prints the venv's size (MB), the install's wall time, the largest installed packages, whether torch
or torchaudio came with it (they must not: only the listen/match extras and the tests need them),
and the demo dub's wall time in that venv.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6


def _largest(site: Path, count: int = 8) -> list[tuple[str, float]]:
    sizes = [(p.name, _size_mb(p)) for p in site.iterdir() if p.is_dir() and not p.name.endswith(".dist-info")]
    return sorted(sizes, key=lambda item: -item[1])[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-cache", action="store_true", help="pip --no-cache-dir: download every wheel")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="otio-dub-install-"))
    try:
        venv = work / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = venv / "bin" / "python"
        cmd = [str(python), "-m", "pip", "install", "-q", str(ROOT)] + (["--no-cache-dir"] if args.no_cache else [])
        started = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=work)
        installed = time.perf_counter() - started
        site = next((venv / "lib").glob("python*/site-packages"))
        print(f"install: {installed:.1f} s wall, venv {_size_mb(venv):.0f} MB ({'no pip cache' if args.no_cache else 'pip cache as it is'})")
        for name, size in _largest(site):
            print(f"  {name:28s} {size:7.1f} MB")
        heavy = [name for name in ("torch", "torchaudio", "nvidia", "triton") if (site / name).exists()]
        print(f"torch, torchaudio, CUDA: {'installed: ' + ', '.join(heavy) if heavy else 'none (as it should be)'}")
        started = time.perf_counter()
        subprocess.run([str(venv / "bin" / "otio-dub"), "dub", str(ROOT / "samples" / "scene.otio"), "--script",
                        str(ROOT / "samples" / "scene.ass"), "-o", str(work / "dub_out"), "-q",
                        "--cache", str(work / "cache")], check=True, cwd=work)
        print(f"demo dub in that venv: {time.perf_counter() - started:.1f} s wall")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
