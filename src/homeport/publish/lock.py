"""One publish at a time per data dir, across processes: ``homeport publish`` run beside
``homeport serve`` waits for the auto-publisher (and the other way round) instead of building,
snapshotting and pushing the same repository at the same time.

An exclusive ``flock`` on ``<data>/publish.lock``; the kernel drops it when the holder's file
is closed or the holder dies, so a killed publisher never leaves the home locked. Each holder
opens the file itself, so two threads of one process exclude each other too.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

LOCK_FILE = "publish.lock"
POLL_SECONDS = 0.05


class PublishBusy(Exception):
    """Another publish of this home is running and did not finish in the time allowed."""


@contextlib.contextmanager
def publish_lock(data_dir: Path, wait: float) -> Iterator[None]:
    """Hold the home's publish lock, waiting at most ``wait`` seconds for it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise PublishBusy(
                        "another publish of this home is running; try again when it is done"
                    ) from None
                time.sleep(POLL_SECONDS)
        yield
    finally:
        os.close(fd)  # closing releases the lock
