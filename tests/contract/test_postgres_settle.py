"""PostgreSQL assigns a transaction's record timestamps at commit (`homeport.store.sql.settle`).

An open transaction that wrote records must not hold up other writers of the collection, and
Kinto's rules still hold: timestamps strictly increase per collection in commit order (so a
``_since`` poll never misses a change) and what a transaction answered with is what was stored.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import psycopg
import pytest

from homeport.core.errors import UnicityError
from homeport.core.query import Filter, Op
from homeport.store.postgres import PostgresRecordStore
from homeport.store.sql.settle import PROVISIONAL_FLOOR, collecting

pytestmark = pytest.mark.postgres

R, P = "record", "/buckets/b/collections/c"
BOUND = 10.0  # seconds: every wait in these tests is bounded


def run(url: str, main: Callable[[PostgresRecordStore], Awaitable[None]]) -> None:
    async def go() -> None:
        store = PostgresRecordStore(url)
        try:
            await store.initialize()
            await asyncio.wait_for(main(store), BOUND)
        finally:
            await store.close()

    asyncio.run(go())


@asynccontextmanager
async def deferring(store: PostgresRecordStore) -> AsyncIterator[dict[int, int]]:
    with collecting() as settled:
        async with store.transaction():
            yield settled


async def since(store: PostgresRecordStore, after: int) -> dict[str, int]:
    newer = [Filter("last_modified", Op.GT, after)]
    found = await store.list_all(R, P, newer, include_deleted=True)
    return {o["id"]: o["last_modified"] for o in found}


def test_an_open_batch_does_not_hold_up_other_writers(fresh_postgres_url: str) -> None:
    async def main(store: PostgresRecordStore) -> None:
        before = await store.create(R, P, {"id": "old"})
        wrote, finish = asyncio.Event(), asyncio.Event()
        answered: list[dict] = []
        mappings: list[dict[int, int]] = []

        async def batch() -> None:
            async with deferring(store) as settled:
                for i in range(3):
                    answered.append(await store.create(R, P, {"id": f"a{i}"}))
                assert all(o["last_modified"] > PROVISIONAL_FLOOR for o in answered)
                # inside the transaction, its own writes are the newest of the collection
                assert await store.resource_timestamp(R, P) == answered[-1]["last_modified"]
                wrote.set()
                await finish.wait()
            mappings.append(settled)

        task = asyncio.create_task(batch())
        await wrote.wait()
        # Another writer of the collection goes through while the batch is still open (before,
        # the batch held the collection's timestamp row until it committed: this waited).
        other = await asyncio.wait_for(store.create(R, P, {"id": "other"}), 3)
        assert other["last_modified"] > before["last_modified"]
        seen = await store.resource_timestamp(R, P)
        assert seen == other["last_modified"]
        assert await since(store, before["last_modified"]) == {"other": seen}  # batch unseen

        finish.set()
        await task
        stamps = [o["last_modified"] for o in answered]
        assert stamps == sorted(stamps) and len(set(stamps)) == 3
        assert stamps[0] > seen  # committed after `other`: later, so `_since=seen` finds them
        assert await since(store, seen) == {f"a{i}": stamps[i] for i in range(3)}
        assert await store.resource_timestamp(R, P) == stamps[-1]
        assert sorted(mappings[0].values()) == stamps
        for i in range(3):
            assert (await store.get(R, P, f"a{i}"))["last_modified"] == stamps[i]

    run(fresh_postgres_url, main)


def test_concurrent_batches_get_distinct_increasing_timestamps(fresh_postgres_url: str) -> None:
    async def main(store: PostgresRecordStore) -> None:
        polled: dict[str, int] = {}
        cursor = 0
        stop = asyncio.Event()

        async def batch(n: int) -> list[dict]:
            out = []
            async with deferring(store):
                for i in range(10):
                    out.append(await store.create(R, P, {"id": f"b{n}-{i}"}))
                    await asyncio.sleep(0)
            return out

        async def poll() -> None:
            nonlocal cursor
            for _ in range(10_000):
                found = await since(store, cursor)
                polled.update(found)
                cursor = max([cursor, *found.values()])
                if stop.is_set() and not found:
                    return
                await asyncio.sleep(0)

        poller = asyncio.create_task(poll())
        batches = await asyncio.gather(*(batch(n) for n in range(6)))
        stop.set()
        await poller
        stamps = [o["last_modified"] for b in batches for o in b]
        assert len(set(stamps)) == 60
        for b in batches:
            mine = [o["last_modified"] for o in b]
            assert mine == sorted(mine)
        stored = await since(store, 0)
        assert stored == {o["id"]: o["last_modified"] for b in batches for o in b}
        assert polled == stored  # the poller with `_since` missed nothing
        assert await store.resource_timestamp(R, P) == max(stamps)

    run(fresh_postgres_url, main)


def test_updates_deletes_and_mixed_writes_settle(fresh_postgres_url: str) -> None:
    async def main(store: PostgresRecordStore) -> None:
        await store.create(R, P, {"id": "x", "v": 0})
        start = await store.resource_timestamp(R, P)
        future = int(time.time() * 1000) + 86_400_000  # a day ahead: later than any
        async with deferring(store) as settled:
            created = await store.create(R, P, {"id": "y"})
            updated = await store.update(R, P, "x", {"v": 1})
            gone = await store.delete(R, P, "y")  # its own create, deleted in the same batch
            with pytest.raises(UnicityError) as info:
                await store.create(R, P, {"id": "x"})
            existing = info.value.details["existing"]
            assert existing["last_modified"] == updated["last_modified"] > PROVISIONAL_FLOOR
            bucket = await store.create("collection", "/buckets/b", {"id": "c2"})
            # a client's timestamp: the writes before it are settled first, then it is kept
            chosen = await store.create(R, P, {"id": "z", "last_modified": future})
        assert chosen["last_modified"] == future
        assert bucket["last_modified"] < PROVISIONAL_FLOOR
        order = [created, updated, gone]
        stamps = [o["last_modified"] for o in order]
        assert start < stamps[0] and stamps == sorted(stamps) and stamps[-1] < future
        assert len(settled) == 3 and sorted(settled.values()) == stamps
        assert await since(store, start) == {
            "x": updated["last_modified"],
            "y": gone["last_modified"],
            "z": future,
        }
        assert gone["deleted"] is True
        assert (await store.get(R, P, "x"))["v"] == 1

    run(fresh_postgres_url, main)


def test_a_rolled_back_batch_leaves_nothing(fresh_postgres_url: str) -> None:
    async def main(store: PostgresRecordStore) -> None:
        await store.create(R, P, {"id": "kept"})
        start = await store.resource_timestamp(R, P)
        with pytest.raises(RuntimeError):
            async with deferring(store) as settled:
                await store.create(R, P, {"id": "lost"})
                raise RuntimeError("the batch fails")
        assert settled == {}
        assert await store.resource_timestamp(R, P) == start
        assert await since(store, 0) == {"kept": start}

    run(fresh_postgres_url, main)


async def waiting_on_a_lock(url: str) -> None:
    """Return once a session of the database waits on a lock (polled, bounded)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for _ in range(200):
            cur = await conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            row = await cur.fetchone()
            if row and row[0]:
                return
            await asyncio.sleep(0.02)
    raise AssertionError("no session waited on a lock")


def test_racing_creates_of_one_id_one_wins(fresh_postgres_url: str) -> None:
    url = fresh_postgres_url

    async def main(store: PostgresRecordStore) -> None:
        wrote, finish = asyncio.Event(), asyncio.Event()

        async def first() -> dict:
            async with deferring(store):
                made = await store.create(R, P, {"id": "same", "who": 1})
                wrote.set()
                await finish.wait()
            return made

        task = asyncio.create_task(first())
        await wrote.wait()

        async def second() -> None:
            async with deferring(store):
                await store.create(R, P, {"id": "same", "who": 2})

        racing = asyncio.create_task(second())
        await waiting_on_a_lock(url)  # the second waits for the first's row to commit
        assert not racing.done()
        finish.set()
        made = await task
        with pytest.raises(UnicityError) as info:
            await racing
        assert info.value.details["existing"]["last_modified"] == made["last_modified"]
        assert (await store.get(R, P, "same"))["who"] == 1

    run(fresh_postgres_url, main)


def test_an_immediate_write_after_deferred_ones_comes_after_them(fresh_postgres_url: str) -> None:
    """A batch that creates records, then deletes the collection's records (or writes one with
    a client-supplied timestamp), takes those timestamps in that order: the deferred writes are
    settled first, so no tombstone is older than the create it follows."""

    async def main(store: PostgresRecordStore) -> None:
        async with deferring(store) as settled:
            made = [await store.create(R, P, {"id": f"m{i}"}) for i in range(2)]
            gone = await store.delete_all(R, P)
            again = await store.create(R, P, {"id": "m9"})
            future = int(time.time() * 1000) + 86_400_000  # a day ahead: later than any
            chosen = await store.create(R, P, {"id": "c", "last_modified": future})
            last = await store.create(R, P, {"id": "z"})
        stamps = [o["last_modified"] for o in made]
        dead = [o["last_modified"] for o in gone]
        assert max(stamps) < min(dead)
        assert max(dead) < again["last_modified"] < last["last_modified"]
        assert again["last_modified"] < chosen["last_modified"] == future  # kept: it is later
        assert last["last_modified"] > future
        assert len(set(settled)) == len(settled) == 4  # one provisional value per write
        assert sorted(settled.values()) == [*stamps, again["last_modified"], last["last_modified"]]
        assert await since(store, 0) == {
            **{f"m{i}": dead[i] for i in range(2)},
            "m9": again["last_modified"],
            "c": future,
            "z": last["last_modified"],
        }
        assert await store.resource_timestamp(R, P) == last["last_modified"]

    run(fresh_postgres_url, main)
