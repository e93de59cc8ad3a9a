"""One publish at a time per data dir, across processes: ``homeport publish`` run beside
``homeport serve`` waits for the auto-publisher (and the other way round) instead of building,
snapshotting and pushing the same repository at the same time.

An exclusive lock on ``<data>/publish.lock`` (``store/filelock.py``: the kernel drops it when
the holder dies, so a killed publisher never leaves the home locked).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from homeport.store import filelock

LOCK_FILE = "publish.lock"


class PublishBusy(Exception):
    """Another publish of this home is running and did not finish in the time allowed."""


def publish_lock(data_dir: Path, wait: float) -> contextlib.AbstractContextManager[None]:
    """Hold the home's publish lock, waiting at most ``wait`` seconds for it."""
    return filelock.held(data_dir / LOCK_FILE, wait, _busy)


def _busy() -> PublishBusy:
    return PublishBusy("another publish of this home is running; try again when it is done")
