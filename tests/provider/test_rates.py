"""The inbox's rate limit is the provider's, not each worker process's: ``ports.Rates`` over the
provider's database (SQLite and PostgreSQL), and ``provider serve --workers 2`` refusing a
tenant's activity at one worker once the other took the tenant's minute."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from homeport.provider.db import ProviderDB
from homeport.provider.rates import ProviderRates
from homeport.settings import load_settings
from homeport.testing.live import free_port
from tests.provider.conftest import BASE, SITE_V1, FakeVerifiers, World
from tests.provider.test_workers import owners, workers_of

MINUTE = 60_000
NOW = 1_800_000_000_000 - 1_800_000_000_000 % MINUTE  # the start of a minute
INBOX = "/_homeport/activitypub/inbox"


def test_two_processes_share_one_count(tmp_path: Path, engine: str) -> None:
    """Two instances over one database stand for two worker processes (each remembers on its
    own which keys it saw full)."""
    first, second = ProviderDB(tmp_path / "p", engine), ProviderDB(tmp_path / "p", engine)
    try:
        a, b = ProviderRates(first), ProviderRates(second)
        assert [a.take("alice", 3, MINUTE, NOW + n) for n in range(2)] == [0, 0]
        assert b.take("alice", 3, MINUTE, NOW + 10) == 0  # the third of the minute
        assert b.take("alice", 3, MINUTE, NOW + 30_000) == 30  # full: 30 s left
        assert a.take("alice", 3, MINUTE, NOW + 59_500) == 1
        assert a.take("bob", 3, MINUTE, NOW + 59_500) == 0  # another key counts on its own
        assert a.take("alice", 0, MINUTE, NOW + 59_600) == 0  # 0: no limit
        # the next minute starts again, in both
        assert a.take("alice", 3, MINUTE, NOW + MINUTE) == 0
        assert b.take("alice", 3, MINUTE, NOW + MINUTE + 1) == 0
        with first.reading() as conn:
            rows = conn.execute("SELECT name, period, taken FROM rate_windows ORDER BY name"
                                ).fetchall()
        assert [tuple(row) for row in rows] == [("alice", NOW + MINUTE, 2), ("bob", NOW, 1)]
    finally:
        first.close()
        second.close()


@pytest.fixture
def two_workers(tmp_path: Path, engine: str) -> Iterator[tuple[World, list[int], int]]:
    """``provider serve --workers 2`` taking 4 activities a minute per site."""
    data, port = tmp_path / "provider", free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMEPORT_")}
    env.update(HOMEPORT_OPERATOR_PASSWORD="operator-password", HOMEPORT_ARGON2_TIME_COST="1",
               HOMEPORT_ARGON2_MEMORY_KIB="1024", HOMEPORT_ACTIVITYPUB_INBOX_RATE="4")
    command = [sys.executable, "-m", "homeport", "provider", "serve", "--data", str(data),
               "--port", str(port), "--base-domain", BASE, "--workers", "2"]
    if engine:
        command += ["--database", engine]
    log_path = tmp_path / "provider.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while len(workers_of(proc.pid)) < 2 or not _answers(url):
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "provider serve --workers 2 did not start"
            time.sleep(0.1)
        db = ProviderDB(data, engine)
        settings = load_settings(data, base_domain=BASE, provider_database=engine)
        with httpx.Client(base_url=url, timeout=30) as client:
            world = World(settings, db, client, FakeVerifiers(), [], tmp_path, None)
            yield world, workers_of(proc.pid), port
        for home in world.homes:
            home.repo.close()
        db.close()
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    output = log_path.read_text(errors="replace")
    assert "Traceback" not in output, output[-3000:]


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/_homeport/v1/").status_code == 200
    except httpx.TransportError:
        return False


def test_the_inbox_limit_holds_across_worker_processes(
    two_workers: tuple[World, list[int], int],
) -> None:
    world, pids, port = two_workers
    home = world.enrolled("alice")
    actor = {"id": f"https://alice.{BASE}/activitypub/actor", "type": "Person",
             "inbox": f"https://alice.{BASE}{INBOX}"}
    home.write_site({**SITE_V1, "activitypub/actor.as2": json.dumps(actor)})
    assert home.publish(world.client, home.snapshot()).status_code == 200
    # one connection held by each worker
    conns: dict[int, http.client.HTTPConnection] = {}
    spare: list[http.client.HTTPConnection] = []
    while set(conns) != set(pids):
        assert len(conns) + len(spare) < 60, f"connections all went to {set(conns)} of {pids}"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.connect()
        local = conn.sock.getsockname()[1]
        deadline = time.monotonic() + 10
        while local not in (held := owners(port, pids)):
            assert time.monotonic() < deadline, "no worker took the connection"
            time.sleep(0.02)
        if held[local] in conns:
            spare.append(conn)
        else:
            conns[held[local]] = conn
    first, second = (conns[pid] for pid in pids)
    # unsigned activities: each counts against the site's minute, then is refused (401)
    headers = {"Host": f"alice.{BASE}", "Content-Type": "application/activity+json"}
    body = json.dumps({"type": "Like", "actor": "https://x.example/u", "object": actor["id"]})

    def post(conn: http.client.HTTPConnection) -> int:
        conn.request("POST", INBOX, body=body, headers=headers)
        answer = conn.getresponse()
        answer.read()
        return answer.status

    try:
        # the five requests below fall in one minute (the window is the clock's minute)
        while time.time() % 60 > 55:
            time.sleep(0.1)
        assert [post(first) for _ in range(4)] == [401] * 4
        assert post(second) == 429  # the other worker took the site's 4 this minute
        assert post(first) == 429
    finally:
        for conn in [*conns.values(), *spare]:
            conn.close()
