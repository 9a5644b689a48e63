"""Freed heap memory handed back to the system (what keeps the driver and render workers small)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from otio_dub.core.memory import _malloc_trim, return_freed_memory

PROBE = textwrap.dedent("""
    import json
    from otio_dub.core.memory import return_freed_memory

    def anon():
        with open("/proc/self/smaps_rollup") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("Anonymous:")) // 1024

    blocks = [bytearray(64 * 1024) for _ in range(3000)]  # 190 MB of heap, below the mmap threshold
    kept = blocks[::50]  # a few live blocks pin the heap's top: free() alone cannot shrink it
    del blocks
    before = anon()
    return_freed_memory()
    print(json.dumps({"before": before, "after": anon(), "kept": len(kept)}))
""")


@pytest.mark.skipif(_malloc_trim() is None, reason="no malloc_trim in this C library")
def test_freed_heap_goes_back_to_the_system():
    """A heap left full of holes (a voice let go) shrinks to what is still used: measured in a
    fresh interpreter, whose heap no other test has touched."""
    import json

    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    assert got["before"] - got["after"] > 100, got


def test_without_malloc_trim_it_is_a_no_op(monkeypatch):
    monkeypatch.setattr("otio_dub.core.memory._malloc_trim", lambda: None)
    assert return_freed_memory() is False
