"""Two malloc arenas for a server process, not glibc's default of eight per core.

glibc gives threads that allocate at once arenas of their own, and memory freed in one is
reused only there. A provider node has ~50 threads (anyio's pool, the database pools), and
with its caches full and Python's own allocations flat its memory still crept up 1-2 MB a
minute, all of it malloc's free space; with two arenas it stayed within 1 MB over the last
5 minutes of a 10-minute run (docs/benchmarks.md, "Memory"). ``MALLOC_ARENA_MAX`` set by the
operator wins.
"""

from __future__ import annotations

import ctypes
import os

ARENAS = 2
M_ARENA_MAX = -8
"""``mallopt``'s parameter number in glibc's ``malloc.h``."""


def limit_malloc_arenas() -> bool:
    """Whether the limit now holds in this process; worker processes, started afresh, take
    it from the environment set here."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False  # glibc read the operator's value when the process started
    os.environ["MALLOC_ARENA_MAX"] = str(ARENAS)
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False
    return bool(mallopt(M_ARENA_MAX, ARENAS))
