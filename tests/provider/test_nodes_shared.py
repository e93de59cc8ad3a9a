"""What provider nodes share: a tenant's jobs run one at a time across nodes on one PostgreSQL
(``locks.py``: two nodes on different data dirs exclude each other, a node killed while holding
the lock releases it, other tenants never wait), and one ``provider_secret`` gives every node
the same keys."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import anyio
import psycopg
import pytest

from homeport.provider.locks import LOCK_APPLICATION, tenant_lock

pytestmark = pytest.mark.postgres

WAIT = 20.0


async def _held_elsewhere(lock_a: object, lock_b: object, other: object) -> list[str]:
    events: list[str] = []
    async with lock_a:  # type: ignore[attr-defined]
        waiting = asyncio.ensure_future(_take(lock_b, events, "b"))
        async with other:  # type: ignore[attr-defined]
            events.append("other")  # another tenant is not held up
        for _ in range(20):  # bounded: b must still be waiting while a holds the lock
            await asyncio.sleep(0.02)
            assert not waiting.done()
        events.append("a-done")
    await asyncio.wait_for(waiting, WAIT)
    return events


async def _take(lock: object, events: list[str], name: str) -> None:
    async with lock:  # type: ignore[attr-defined]
        events.append(name)


def test_two_nodes_take_a_tenants_jobs_one_at_a_time(tmp_path: Path, postgres_url: str) -> None:
    a = tenant_lock(tmp_path / "node-a", postgres_url, "ada")
    b = tenant_lock(tmp_path / "node-b", postgres_url, "ada")
    other = tenant_lock(tmp_path / "node-b", postgres_url, "bob")
    assert asyncio.run(_held_elsewhere(a, b, other)) == ["other", "a-done", "b"]


HOLDER = """
import asyncio, sys
from pathlib import Path
from homeport.provider.locks import tenant_lock

async def main():
    async with tenant_lock(Path(sys.argv[1]), sys.argv[2], "ada"):
        print("held", flush=True)
        await asyncio.sleep(600)

asyncio.run(main())
"""


def test_a_node_killed_while_holding_the_lock_releases_it(tmp_path: Path,
                                                          postgres_url: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path / "node-a"), postgres_url],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == b"held"
        mine = tenant_lock(tmp_path / "node-b", postgres_url, "ada")

        async def blocked() -> bool:
            try:
                await asyncio.wait_for(_take(mine, [], "b"), 0.5)
            except TimeoutError:
                return True
            return False

        assert asyncio.run(blocked())
        holder.kill()
        holder.wait(10)
        started = time.monotonic()
        asyncio.run(asyncio.wait_for(_take(tenant_lock(tmp_path / "node-b", postgres_url, "ada"),
                                           [], "b"), WAIT))
        assert time.monotonic() - started < WAIT
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)


def test_nodes_given_one_provider_secret_share_their_keys(tmp_path: Path) -> None:
    """Members' sessions, sign-in codes and the delegation box are sealed with the provider's
    keys: nodes on other data dirs derive the same ones from ``provider_secret``."""
    from homeport.provider.onetime import ProviderOnce

    def once(node: str, secret: str) -> ProviderOnce:
        return ProviderOnce(None, tmp_path / node, lambda: 0, secret)  # type: ignore[arg-type]

    for folder in ("a", "b", "c", "d"):
        (tmp_path / folder).mkdir()
    a, b = once("a", "s3cret-of-the-operator"), once("b", "s3cret-of-the-operator")
    assert a.secret("members") == b.secret("members")
    assert len(a.secret("members")) == 32
    assert a.secret("members") != a.secret("newsletter")
    assert once("c", "another").secret("members") != a.secret("members")
    assert not list((tmp_path / "a").iterdir())  # no key file written
    # without the secret, each data dir has its own key file (one machine's workers share it)
    alone = once("d", "")
    assert alone.secret("members") != a.secret("members")
    assert (tmp_path / "d" / "members.key").exists()


def _lock_connections(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            (LOCK_APPLICATION,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_process_holds_at_most_its_slots_of_lock_connections(
    tmp_path: Path, postgres_url: str
) -> None:
    """50 publishes of 50 tenants on one node used to open 50 connections at once, one per
    lock: past ``provider_lock_connections`` a job now waits without a connection."""

    async def run() -> list[str]:
        slots = asyncio.Semaphore(2)
        locks = [tenant_lock(tmp_path, postgres_url, name, slots) for name in ("a", "b", "c")]
        events: list[str] = []
        async with locks[0], locks[1]:
            third = asyncio.ensure_future(_take(locks[2], events, "c"))
            for _ in range(20):  # bounded: c waits for a slot while a and b hold theirs
                await asyncio.sleep(0.02)
                assert not third.done()
            assert _lock_connections(postgres_url) == 2
            events.append("a-b-done")
        await asyncio.wait_for(third, WAIT)
        assert _lock_connections(postgres_url) == 0
        return events

    assert asyncio.run(run()) == ["a-b-done", "c"]


def test_waiting_for_another_nodes_job_holds_no_worker_thread(
    tmp_path: Path, postgres_url: str
) -> None:
    """A job waiting for its tenant's lock held on another node used to block a worker thread
    for the whole wait: with many tenants' jobs waiting, a node had no thread left for its
    site reads (they ask PostgreSQL in one), which stalled while publishes went on."""

    async def run() -> None:
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = 1  # one thread: a waiter holding it starves everything else
        a = tenant_lock(tmp_path / "node-a", postgres_url, "ada")
        b = tenant_lock(tmp_path / "node-b", postgres_url, "ada")
        async with a:
            waiting = asyncio.ensure_future(_take(b, [], "b"))
            await asyncio.sleep(0.2)  # b is waiting for a's lock now
            assert not waiting.done()
            with anyio.fail_after(WAIT / 4):
                assert await anyio.to_thread.run_sync(lambda: "a read") == "a read"
        await asyncio.wait_for(waiting, WAIT)

    asyncio.run(run())
