"""Give freed memory back to the system after heavy work (image variants, builds).

Decoding and resizing photos leaves glibc's heap holding tens of megabytes that Python has
already freed; ``malloc_trim`` returns them, so a home idles small on a small device. A no-op
where glibc is not the C library.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def trim() -> None:
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
