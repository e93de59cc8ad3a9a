"""The change feed wakes a listener whose loop is asleep when the change is committed in a
worker thread (the relay applies inbox items there): setting an ``asyncio.Event`` from another
thread would leave the loop asleep until something else woke it."""

from __future__ import annotations

import asyncio
import threading
import time

from homeport.services.context import ChangeFeed

KEY = ("record", "/buckets/site/collections/notes")


def test_a_change_in_a_worker_thread_wakes_the_loop_at_once() -> None:
    async def scenario() -> float:
        feed = ChangeFeed()
        one, every = feed.subscribe(KEY), feed.subscribe_all()
        timer = threading.Timer(0.1, feed.notify, args=(KEY,))
        started = time.monotonic()
        timer.start()
        try:
            await asyncio.wait_for(asyncio.gather(one.wait(), every.wait()), 3)
        finally:
            timer.join()
            feed.unsubscribe(KEY, one)
            feed.unsubscribe_all(every)
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 1.0


def test_a_change_on_the_loop_wakes_its_listeners() -> None:
    async def scenario() -> bool:
        feed = ChangeFeed()
        every = feed.subscribe_all()
        feed.notify(KEY)
        return every.is_set()

    assert asyncio.run(scenario())
