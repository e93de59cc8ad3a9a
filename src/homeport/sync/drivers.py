"""Drivers of the sans-I/O push (``engine.Push``): each performs the calls it asks for and hands
back the answers. ``run`` makes them one at a time through a function (a scripted provider in
tests, nothing slept unless asked); ``run_threads`` sends them over a ``ProviderClient``'s
``httpx.Client``, several at once on worker threads (what ``homeport publish`` uses);
``run_asyncio`` over an ``httpx.AsyncClient``, as tasks, which with ``in_process`` reaches a
provider's ASGI app in the same process, without a socket.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import httpx

from homeport.repo.repository import Repository
from homeport.sync.client import ProviderClient, ProviderError
from homeport.sync.engine import PARALLEL, Call, Progress, Push, PushResult, Send


def run(
    push: Push, perform: Callable[[Call], Any], sleep: Callable[[float], None] = time.sleep
) -> PushResult:
    """Make each call in turn with ``perform`` (which gives the JSON answer or raises
    ``ProviderError``), waiting each retry's delay with ``sleep``."""
    queue = list(push.start())
    while queue:
        send = queue.pop(0)
        if send.delay:
            sleep(send.delay)
        try:
            doc = perform(send.call)
        except ProviderError as exc:
            queue.extend(push.fail(send.ticket, exc))
        else:
            queue.extend(push.answer(send.ticket, doc))
    return _finished(push)


def run_threads(push: Push, client: ProviderClient, parallel: int = PARALLEL) -> PushResult:
    """Make the calls over ``client``, up to ``parallel`` at once on worker threads; the push
    itself (and so the repository) stays on this thread."""
    started = time.perf_counter()

    def perform(send: Send) -> Any:
        if send.delay:
            time.sleep(send.delay)
        return client.call(send.call.spec())

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        running: dict[Future[Any], Send] = {}

        def submit(sends: list[Send]) -> None:
            for send in sends:
                running[pool.submit(perform, send)] = send

        submit(push.start())
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                send = running.pop(future)
                try:
                    doc = future.result()
                except ProviderError as exc:
                    submit(push.fail(send.ticket, exc))
                else:
                    submit(push.answer(send.ticket, doc))
    return _finished(push, started)


async def run_asyncio(
    push: Push, client: ProviderClient, http: httpx.AsyncClient
) -> PushResult:
    """Make the calls over ``http`` as asyncio tasks (``client`` signs them)."""
    started = time.perf_counter()

    async def perform(send: Send) -> Any:
        if send.delay:
            await asyncio.sleep(send.delay)
        return await client.call_async(http, send.call.spec())

    running: dict[asyncio.Task[Any], Send] = {}

    def submit(sends: list[Send]) -> None:
        for send in sends:
            running[asyncio.ensure_future(perform(send))] = send

    try:
        submit(push.start())
        while running:
            finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in finished:
                send = running.pop(task)
                try:
                    doc = task.result()
                except ProviderError as exc:
                    submit(push.fail(send.ticket, exc))
                else:
                    submit(push.answer(send.ticket, doc))
    finally:
        for task in running:  # a push that gave up waits for nothing
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
    return _finished(push, started)


def in_process(app: Callable[..., Awaitable[None]], url: str) -> httpx.AsyncClient:
    """An asyncio client whose requests go straight to ``app`` (a provider's ASGI app) as if
    it were at ``url``: the push in-process, over the real endpoints, without a socket."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=url)


def _finished(push: Push, started: float | None = None) -> PushResult:
    if push.result is None:
        raise AssertionError("the push stopped before it finished")  # a driver's bug
    if started is not None:
        push.result.seconds = time.perf_counter() - started
    return push.result


def push(
    repo: Repository,
    client: ProviderClient,
    operations: list[dict[str, Any]],
    site: str | None,
    parallel: int = PARALLEL,
    progress: Progress | None = None,
    repair: list[bytes] | None = None,
) -> PushResult:
    """Make ``repo``'s head live at the provider over threads; ``repair`` names objects an
    audit found damaged there, sent again to replace them."""
    machine = Push(repo, operations, site, client.url, parallel, progress, repair)
    return run_threads(machine, client, parallel)
