"""Writing files so that a reader, or a crash, sees the old bytes or the new ones, never half."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def stage(path: Path, data: bytes) -> str:
    """Write ``data`` to a temporary file beside ``path`` (made if missing); its name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return tmp


def write_atomically(path: Path, data: bytes) -> None:
    tmp = stage(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
