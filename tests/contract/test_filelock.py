"""The one lock-file helper (``store/filelock.py``) the publish lock and both gc locks use:
exclusive and shared holders across processes, a bounded wait ending in the caller's error, a
try that never waits, and a holder killed with -9 leaving the lock free."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from homeport.store import filelock


class Busy(Exception):
    pass


HOLDER = """
import sys, time
from pathlib import Path
from homeport.store import filelock
with filelock.held(Path(sys.argv[1]), 5, RuntimeError, shared=sys.argv[2] == "shared"):
    Path(sys.argv[1] + ".held").write_text("yes")
    time.sleep(60)
"""


def _holder(path: Path, mode: str) -> subprocess.Popen[bytes]:
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), mode])
    marker = Path(str(path) + ".held")
    deadline = time.monotonic() + 30
    while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert marker.exists(), "the holder never took the lock"
    return child


def test_an_exclusive_holder_in_another_process_keeps_everyone_out_until_killed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sub" / "x.lock"
    child = _holder(path, "exclusive")
    try:
        started = time.monotonic()
        with pytest.raises(Busy), filelock.held(path, 0.2, Busy):
            pass
        assert time.monotonic() - started >= 0.2
        with filelock.held_if_free(path) as mine:
            assert mine is False

        async def shared() -> None:
            async with filelock.held_async(path, 0.1, Busy, shared=True):
                pass

        with pytest.raises(Busy):
            asyncio.run(shared())
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    with filelock.held(path, 0, Busy), filelock.held_if_free(path) as mine:
        assert mine is False  # a second holding, even in this process, is kept out
    with filelock.held_if_free(path) as mine:
        assert mine is True


def test_shared_holders_share_and_keep_an_exclusive_one_out(tmp_path: Path) -> None:
    path = tmp_path / "gc.lock"
    child = _holder(path, "shared")
    try:

        async def both() -> None:
            async with (
                filelock.held_async(path, 1, Busy, shared=True),
                filelock.held_async(path, 1, Busy, shared=True),
            ):
                pass

        asyncio.run(both())
        with pytest.raises(Busy), filelock.held(path, 0.1, Busy):
            pass
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
