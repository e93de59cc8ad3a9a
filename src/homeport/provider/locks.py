"""One job at a time per tenant (packs, publish, rollback, delete), across the worker processes
of ``provider serve --workers N`` and, on PostgreSQL, across every node sharing the database.

A ``TenantLock`` is an asyncio lock, so a process's own requests queue without holding threads,
around an exclusive ``flock`` on ``<data>/locks/<tenant>.lock``, taken in a worker thread (it
may wait for another process). Closing the file releases the ``flock``, and so does the
process's death: a killed worker never leaves a tenant locked. The lock files live outside the
tenants' directories because deleting a tenant removes its directory while holding the lock.

On PostgreSQL the ``flock`` gives way to ``PgTenantLock``: a session advisory lock on an
asyncio connection of its own (waiting for a job on another node holds no worker thread),
which nodes on other machines (other data dirs) see too. A node that dies drops its
connection, and PostgreSQL the lock with it. Its key is not the repository's
(``pgconn.lock_key`` under another class): a job holding it opens repository transactions that
take the repository's own lock.

Each held (or awaited) ``PgTenantLock`` is one PostgreSQL connection, so a process bounds how
many it holds at once (``provider_lock_connections``, a ``slots`` semaphore shared by its
locks): jobs past the bound wait on the event loop, holding neither a connection nor a worker
thread, instead of opening connections until PostgreSQL refuses them (``max_connections``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from pathlib import Path
from types import TracebackType

import anyio
import psycopg

from homeport.store.pgconn import fault, lock_key

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


JOB_CLASS = 0x48504A42  # "HPJB": pg_advisory_lock's first key for tenant jobs


LOCK_APPLICATION = "homeport-tenant-lock"
"""The ``application_name`` of the lock connections (``pg_stat_activity`` shows them)."""


class PgTenantLock:
    """A tenant's job lock shared by every node on one PostgreSQL (see the module's doc).
    ``slots``, shared by a process's locks, bounds the connections they hold at once."""

    def __init__(self, url: str, tenant: str, slots: asyncio.Semaphore | None = None) -> None:
        self.url = url
        self.key = lock_key(tenant)
        self.slots = slots
        self._local = asyncio.Lock()
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None

    async def _take(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        """A connection holding the lock. Waiting for it is an await, not a worker thread: a
        node whose tenants' jobs wait for jobs on other nodes still has its threads for
        everything else (site reads ask PostgreSQL in a thread)."""
        try:
            conn = await psycopg.AsyncConnection.connect(
                self.url, autocommit=True, connect_timeout=5, application_name=LOCK_APPLICATION
            )
        except psycopg.Error as exc:
            raise fault(exc) from exc
        try:
            await conn.execute("SELECT pg_advisory_lock(%s, %s)", (JOB_CLASS, self.key))
        except BaseException as exc:  # cancelled too: psycopg cancels the wait; closing ends it
            await _close(conn)
            if isinstance(exc, psycopg.Error):
                raise fault(exc) from exc
            raise
        return conn

    async def __aenter__(self) -> None:
        await self._local.acquire()  # this process's jobs of the tenant queue first, freely
        try:
            if self.slots is not None:
                await self.slots.acquire()
        except BaseException:
            self._local.release()
            raise
        try:
            self._conn = await self._take()
        except BaseException:
            self._release()
            raise

    def _release(self) -> None:
        if self.slots is not None:
            self.slots.release()
        self._local.release()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        try:
            if conn is not None:  # the session ends: PostgreSQL drops its advisory locks
                await _close(conn)
        finally:
            self._release()


async def _close(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
    """Close even inside a cancelled scope (anyio cancels every await there): a connection
    left open would keep the tenant locked."""
    # a broken connection's close may fail: the server has ended the session already
    with anyio.CancelScope(shield=True), contextlib.suppress(psycopg.Error):
        await conn.close()


def tenant_lock(
    data_dir: Path, database: str, tenant: str, slots: asyncio.Semaphore | None = None
) -> TenantLock | PgTenantLock:
    """The lock for ``tenant``'s jobs: across nodes on PostgreSQL (at most ``slots`` held by
    this process at once), across this machine's processes otherwise."""
    if database:
        return PgTenantLock(database, tenant, slots)
    return TenantLock.of(data_dir, tenant)
