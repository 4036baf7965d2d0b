"""Hand freed heap memory back to the OS between ingest windows (glibc; elsewhere a no-op).

A long ingest frees each window's texts, vectors and store buffers, but glibc keeps freed
blocks in its per-thread arenas, so the process's resident size creeps up window after window
(measured: 529 MB vs 497 MB peak on a 99k-chunk file). ``malloc_trim`` returns them.
"""

from __future__ import annotations

import ctypes
import functools
import sys
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # musl and others have no malloc_trim
        return None


def release_free_memory() -> bool:
    """Return free heap pages to the OS; False where the C library cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
