"""The inbox relay between real processes: a ``provider serve`` and a ``homeport serve`` (with the
test kind ``test.note``, ``homeport.testing.inbox``) killed with SIGKILL while applying, then
started again: every item applied, none twice, all acknowledged."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from homeport.provider.db import ProviderDB
from homeport.provider.inbox import ProviderInbox
from homeport.store.open import open_record_store
from homeport.testing import inbox as test_inbox
from homeport.testing.live import free_port, stop_process, wait_ready

from .provider_support import Provider
from .repo_support import cli_env, init, ok

ITEMS = 30


def start_home(data: Path, log: Path, port: int) -> subprocess.Popen[bytes]:
    """``homeport serve`` knowing ``test.note``; its inbox relay on, as by default."""
    env = {**cli_env(), "HOMEPORT_ADMIN_PASSWORD": "relay-test-pw"}
    command = [sys.executable, "-m", "homeport.testing.inbox", "serve", "--data", str(data)]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*command, "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    try:
        wait_ready(f"http://127.0.0.1:{port}/v1/__heartbeat__", [proc], log)
    except BaseException:
        stop_process(proc)
        raise
    return proc


def calls(home: Path) -> list[str]:
    path = home / test_inbox.CALLS
    return path.read_text().split() if path.exists() else []


def applied_here(home: Path, item_id: str) -> bool:
    with sqlite3.connect(home / "inbox.sqlite") as db:
        return db.execute("SELECT 1 FROM applied WHERE id = ?", (item_id,)).fetchone() is not None


def records(home: Path) -> list[dict[str, object]]:
    async def read() -> list[dict[str, object]]:
        store = open_record_store(f"sqlite:///{home / 'homeport.sqlite'}")
        await store.initialize()
        try:
            return list(await store.list_all("record", test_inbox.PARENT, limit=10_000))
        finally:
            await store.close()

    return asyncio.run(read())


def wait_for(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.mark.timeout(240)
def test_kill_9_while_applying_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    provider = Provider(tmp_path / "provider", tmp_path / "provider.log").start()
    home = tmp_path / "home"
    init(home)
    ok("providers", "add", provider.url, provider.invite(), "--name", "alice", data=home)
    db = ProviderDB(provider.data)
    box = ProviderInbox(db, 1000, 1 << 24, clock=lambda: int(time.time() * 1000))
    try:
        ids = [f"note-{n:03}" for n in range(ITEMS)]
        for n, item_id in enumerate(ids):  # queued while the home is off
            body = json.dumps({"title": f"Note {n}"}).encode()
            box.put("alice", test_inbox.KIND, {"sleep_ms": 150}, body, item_id=item_id)

        port = free_port()
        log = tmp_path / "home.log"
        proc = start_home(home, log, port)
        try:
            wait_for(lambda: len(calls(home)) >= ITEMS // 3, 60, "the home applied nothing")
            proc.send_signal(signal.SIGKILL)  # mid-apply: each item sleeps after its write
            proc.wait(10)
        finally:
            stop_process(proc)
        before = calls(home)
        last = before[-1]
        assert box.usage("alice")[0] > 0, "everything was applied before the kill"
        interrupted = not applied_here(home, last)

        proc = start_home(home, log, port)
        try:
            wait_for(lambda: box.usage("alice")[0] == 0, 90, "the inbox was not drained")
        finally:
            stop_process(proc)
        results = {item_id: box.result("alice", item_id) for item_id in ids}
    finally:
        db.close()
        provider.stop()

    made = records(home)
    by_item = Counter(str(r["item"]) for r in made)
    assert sorted(by_item) == ids  # nothing lost
    assert set(by_item.values()) == {1}  # nothing twice
    after = calls(home)[len(before) :]
    if interrupted:  # killed between its write and the relay's log: applied again, harmlessly
        assert last in after
    else:  # killed after it was logged: acknowledged with its logged result, not re-applied
        assert last not in after
    assert Counter(before + after)[ids[0]] == 1  # what was acknowledged never came back
    for item_id, result in results.items():
        assert result is not None and result["record"] == test_inbox.record_id(item_id)


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    "engine", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_a_connected_home_gets_new_items_from_any_worker_within_a_second(
    tmp_path: Path, engine: str, request: pytest.FixtureRequest
) -> None:
    """``provider serve --workers 2``: the home's long poll is held by one worker; items put by
    the other processes (here the test's own, through the same database) reach it at once."""
    database = request.getfixturevalue("fresh_postgres_url") if engine == "postgresql" else ""
    args = ("--workers", "2", *(("--database", database) if database else ()))
    provider = Provider(tmp_path / "provider", tmp_path / "provider.log", args=args)
    provider.start()
    home = tmp_path / "home"
    init(home)
    code = provider.invite(*(("--database", database) if database else ()))
    ok("providers", "add", provider.url, code, "--name", "alice", data=home)
    db = ProviderDB(provider.data, database)
    box = ProviderInbox(db, 1000, 1 << 24, clock=lambda: int(time.time() * 1000))
    delays: list[float] = []
    try:
        proc = start_home(home, tmp_path / "home.log", free_port())
        try:
            # the first poll names the home's box key: from then on bodies are sealed
            box.put("alice", test_inbox.KIND, {}, b'{"title": "first"}', item_id="first")
            wait_for(lambda: box.result("alice", "first") is not None, 30, "no relay")
            for n in range(6):
                time.sleep(0.4)
                put = time.monotonic()
                body = json.dumps({"title": f"Secret {n}"}).encode()
                box.put("alice", test_inbox.KIND, {}, body, item_id=f"live-{n}")
                item = f"live-{n}"
                wait_for(lambda i=item: box.result("alice", i) is not None, 10, "too slow")
                delays.append(time.monotonic() - put)
            with db.transaction() as conn:
                stored = conn.execute(
                    "SELECT body, sealed FROM inbox WHERE tenant = 'alice' AND id = 'live-0'"
                ).fetchone()
            # a poll waiting at the provider does not hold up its stop (uvicorn's graceful
            # timeout is 5 s; the poll would wait 25)
            stopping = time.monotonic()
            provider.stop()
            stop_seconds = time.monotonic() - stopping
        finally:
            stop_process(proc)
    finally:
        db.close()
        provider.stop()
    assert max(delays) < 1.0, delays
    assert stop_seconds < 4.0, stop_seconds
    assert stored[1] == 1  # sealed when stored (the body itself is dropped once acknowledged)
    titles = sorted(str(r["title"]) for r in records(home))
    assert titles == sorted(["first", *(f"Secret {n}" for n in range(6))])
