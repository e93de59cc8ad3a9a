"""The one way a data dir's lock file is held across processes: an ``flock`` on the file, which
the kernel drops when the holder closes it or dies (a killed holder never leaves the lock held).
Each holding opens the file itself, so two threads of one process exclude each other too.

Used by the home's publish lock (``publish/lock.py``), its gc lock (``repo/gc.py``: shared by
writers, exclusive for a collection) and the provider's one-collector lock (``provider/gc.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

POLL_SECONDS = 0.05


def _open(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _take(fd: int, shared: bool) -> bool:
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _waits(fd: int, shared: bool, wait: float, busy: Callable[[], Exception]) -> Iterator[None]:
    """One item per try that found the lock taken (the caller sleeps, each in its own way);
    ends when the lock is held, raises ``busy()`` past ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while not _take(fd, shared):
        if time.monotonic() >= deadline:
            raise busy()
        yield


@contextlib.contextmanager
def held(
    path: Path, wait: float, busy: Callable[[], Exception], shared: bool = False
) -> Iterator[None]:
    """Hold ``path``'s lock (exclusive, or ``shared`` with other shared holders), waiting at
    most ``wait`` seconds; then ``busy()`` is raised."""
    fd = _open(path)
    try:
        for _ in _waits(fd, shared, wait, busy):
            time.sleep(POLL_SECONDS)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextlib.asynccontextmanager
async def held_async(
    path: Path, wait: float, busy: Callable[[], Exception], shared: bool = False
) -> AsyncIterator[None]:
    """`held`, waiting without blocking the event loop."""
    fd = _open(path)
    try:
        for _ in _waits(fd, shared, wait, busy):
            await asyncio.sleep(POLL_SECONDS)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def held_if_free(path: Path) -> Iterator[bool]:
    """The exclusive lock if no one holds it: True while held, False (and nothing held) when
    another holder has it. Never waits."""
    fd = _open(path)
    try:
        yield _take(fd, shared=False)
    finally:
        os.close(fd)


__all__ = ["POLL_SECONDS", "held", "held_async", "held_if_free"]
