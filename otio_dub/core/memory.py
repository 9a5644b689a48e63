"""Memory the C heap keeps after it is freed, handed back to the system.

glibc keeps freed heap pages mapped for reuse; a process that loaded a 100 MB voice model and let
it go (the driver checking a cast), or whose engine freed a line's activations, would otherwise
keep the pages it no longer uses for the rest of the dub, and a feature runs one such process per core.
"""

from __future__ import annotations

import ctypes
import functools
import sys
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` from the C library this process runs on; None elsewhere (macOS,
    Windows, musl without it)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def return_freed_memory() -> bool:
    """Give freed heap pages back to the system (``malloc_trim(0)``); False where there is no such call.

    A few milliseconds: called after a voice is let go and after each neural synthesis, not per sample.
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
