"""One job at a time per tenant (packs, publish, rollback, delete), across the worker processes
of ``provider serve --workers N``.

A ``TenantLock`` is an asyncio lock, so a process's own requests queue without holding threads,
around an exclusive ``flock`` on ``<data>/locks/<tenant>.lock``, taken in a worker thread (it
may wait for another process). Closing the file releases the ``flock``, and so does the
process's death: a killed worker never leaves a tenant locked. The lock files live outside the
tenants' directories because deleting a tenant removes its directory while holding the lock.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from pathlib import Path
from types import TracebackType

import anyio

LOCKS_DIR = "locks"


class TenantLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = asyncio.Lock()
        self._fd: int | None = None

    @classmethod
    def of(cls, data_dir: Path, tenant: str) -> TenantLock:
        return cls(data_dir / LOCKS_DIR / f"{tenant}.lock")

    async def __aenter__(self) -> None:
        await self._local.acquire()
        try:
            self.path.parent.mkdir(exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except BaseException:
            self._local.release()
            raise
        try:
            await anyio.to_thread.run_sync(fcntl.flock, fd, fcntl.LOCK_EX)
        except BaseException:  # cancelled while waiting: closing drops the lock if it was got
            os.close(fd)
            self._local.release()
            raise
        self._fd = fd

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        fd, self._fd = self._fd, None
        try:
            if fd is not None:
                os.close(fd)
        finally:
            self._local.release()
