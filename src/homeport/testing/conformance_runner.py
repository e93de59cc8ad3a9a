"""Running async conformance tests without a pytest plugin.

Each test gets a fresh event loop (the ``conformance_loop`` fixture); the backend fixture opens the
store on that loop and `conformance_test` runs the test coroutine on it. Loop-bound resources such
as connection pools therefore live and die on one loop, and no pytest-asyncio is needed.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from homeport.store.protocols import RecordStore

TEST_TIMEOUT = 60.0


def conformance_test(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Turn ``async def test_x(self, store, ...)`` into a sync test run on ``conformance_loop``."""
    sig = inspect.signature(fn)
    loop_param = inspect.Parameter("conformance_loop", inspect.Parameter.KEYWORD_ONLY)

    @functools.wraps(fn)
    def wrapper(self: Any, **kwargs: Any) -> None:
        loop: asyncio.AbstractEventLoop = kwargs.pop("conformance_loop")
        loop.run_until_complete(asyncio.wait_for(fn(self, **kwargs), TEST_TIMEOUT))

    wrapper.__signature__ = sig.replace(  # type: ignore[attr-defined]
        parameters=[*sig.parameters.values(), loop_param]
    )
    return wrapper


def new_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    try:
        yield loop
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def serve_store(
    loop: asyncio.AbstractEventLoop, factory: Callable[[], RecordStore]
) -> Iterator[RecordStore]:
    """Build (inside the loop), initialize, yield and close a store: the body of a fixture."""

    async def start() -> RecordStore:
        store = factory()
        await store.initialize()
        await store.initialize()  # idempotent
        return store

    store = loop.run_until_complete(start())
    try:
        yield store
    finally:
        loop.run_until_complete(store.close())
