"""The Context every use case receives: store, blobs, settings, clock and change feed."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from homeport.core.permissions import AUTHENTICATED, EVERYONE
from homeport.settings import Settings
from homeport.store.protocols import BlobStore, RecordStore

T = TypeVar("T")


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class User:
    """Who is asking: the prefixed user id (``account:alice``) and every principal they hold."""

    user_id: str | None
    principals: frozenset[str]

    @property
    def authenticated(self) -> bool:
        return self.user_id is not None


OWNER = User("account:admin", frozenset({"account:admin", AUTHENTICATED, EVERYONE}))
"""The home's owner (the ``admin`` account): the author of the CLI's and the system's writes."""


class ChangeFeed:
    """Wakes listeners of a ``(resource, parent)`` pair after a change there is committed.

    A change may be committed in a worker thread (the relay runs inbox handlers there): each
    listener is then woken through its own event loop, never by setting its event from the
    thread (which would leave the loop asleep until something else woke it)."""

    def __init__(self) -> None:
        self._waiters: dict[tuple[str, str], set[asyncio.Event]] = {}
        self._everything: set[asyncio.Event] = set()
        self._loops: dict[asyncio.Event, asyncio.AbstractEventLoop] = {}

    def _new(self) -> asyncio.Event:
        event = asyncio.Event()
        self._loops[event] = asyncio.get_running_loop()
        return event

    def subscribe_all(self) -> asyncio.Event:
        """An event set after any change at all (the auto-publisher's wake-up)."""
        event = self._new()
        self._everything.add(event)
        return event

    def unsubscribe_all(self, event: asyncio.Event) -> None:
        self._everything.discard(event)
        self._loops.pop(event, None)

    def subscribe(self, key: tuple[str, str]) -> asyncio.Event:
        event = self._new()
        self._waiters.setdefault(key, set()).add(event)
        return event

    def unsubscribe(self, key: tuple[str, str], event: asyncio.Event) -> None:
        waiters = self._waiters.get(key)
        self._loops.pop(event, None)
        if waiters is not None:
            waiters.discard(event)
            if not waiters:
                del self._waiters[key]

    def notify(self, key: tuple[str, str]) -> None:
        try:
            here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        for event in (*self._waiters.get(key, ()), *self._everything):
            loop = self._loops.get(event)
            if loop is None or loop is here:
                event.set()
            else:
                with contextlib.suppress(RuntimeError):  # that loop has closed
                    loop.call_soon_threadsafe(event.set)


@dataclass
class Context:
    settings: Settings
    store: RecordStore
    blobs: BlobStore
    clock: Callable[[], int] = wall_clock_ms
    changes: ChangeFeed = field(default_factory=ChangeFeed)
    caches: dict[str, Any] = field(default_factory=dict)


def run_blocking(settings: Settings, work: Callable[[Context], Awaitable[T]]) -> T | None:
    """``work(ctx)`` on the home's store from code that has none at hand (a publish, in any
    thread, event loop or not): the store is opened in a thread of its own and closed after.
    None for a memory store, which another process's copy cannot see."""
    if settings.record_store_url.startswith("memory://"):
        return None
    result: list[T] = []
    failure: list[BaseException] = []

    async def run() -> None:
        from homeport.store.blobs_fs import FsBlobStore
        from homeport.store.open import open_record_store

        store = open_record_store(settings.record_store_url)
        await store.initialize()
        try:
            ctx = Context(settings=settings, store=store, blobs=FsBlobStore(settings.blobs_dir))
            result.append(await work(ctx))
        finally:
            await store.close()

    def thread() -> None:
        try:
            asyncio.run(run())
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=thread, name="homeport-store", daemon=True)
    worker.start()
    worker.join()
    if failure:
        raise failure[0]
    return result[0]
