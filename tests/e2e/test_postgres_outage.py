"""PostgreSQL going away under a running home: clean 503s, never a 500 or a hang."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from homeport.services import accounts
from homeport.store.open import open_record_store
from homeport.testing.postgres import PostgresError, TempPostgres, find_pg_bin

from .conftest import ADMIN, Home, HomeFactory, assert_kinto_error

pytestmark = pytest.mark.postgres

# The pool waits up to 10 s for a connection; allow a little more before calling it a hang.
OUTAGE_TIMEOUT = 15.0
RECORDS = "/buckets/b/collections/c/records"


@pytest.fixture
def outage_home(home: HomeFactory, own_postgres: TempPostgres) -> Home:
    h = home({"HOMEPORT_ADMIN_PASSWORD": ADMIN[1], "HOMEPORT_STORAGE_URL": own_postgres.url})
    with h.client() as c:
        assert c.put("/buckets/b").status_code == 201
        assert c.put("/buckets/b/collections/c").status_code == 201
        assert c.put(f"{RECORDS}/r1", json={"data": {"n": 1}}).status_code == 201
    return h


async def migrate(url: str) -> None:
    store = open_record_store(url)
    await store.initialize()
    await store.close()


def timed(client: httpx.Client, method: str, path: str, **kw: object) -> httpx.Response:
    started = time.monotonic()
    r = client.request(method, path, **kw)  # type: ignore[arg-type]
    assert time.monotonic() - started < OUTAGE_TIMEOUT
    return r


OUTAGE_REQUESTS = [
    ("GET", f"{RECORDS}/r1", None),
    ("GET", RECORDS, None),
    ("PUT", f"{RECORDS}/r2", {"data": {"n": 2}}),
    ("DELETE", f"{RECORDS}/r1", None),
    ("POST", "/batch", {"requests": [{"method": "PUT", "path": f"{RECORDS}/r3"}]}),
]


def test_reads_writes_and_batches_get_503_when_the_database_is_gone(
    outage_home: Home, own_postgres: TempPostgres
) -> None:
    own_postgres.stop()
    # Sent side by side: while the database is down each may wait out the pool's 10 s timeout.
    with (
        outage_home.client(timeout=OUTAGE_TIMEOUT) as c,
        ThreadPoolExecutor(len(OUTAGE_REQUESTS)) as pool,
    ):
        responses = list(
            pool.map(lambda req: timed(c, req[0], req[1], json=req[2]), OUTAGE_REQUESTS)
        )
    for (method, path, _), r in zip(OUTAGE_REQUESTS, responses, strict=True):
        error = assert_kinto_error(r, 503)
        assert error["errno"] == 201, (method, path, error)
        assert "message" in error
    assert "Traceback" not in outage_home.output()


def test_heartbeat_is_503_when_the_database_is_gone(
    outage_home: Home, own_postgres: TempPostgres
) -> None:
    with outage_home.client(auth=None, timeout=OUTAGE_TIMEOUT) as c:
        assert c.get("/__heartbeat__").status_code == 200
        own_postgres.stop()
        # Past the principals cache: an anonymous caller's groups would now come from the
        # store, which the heartbeat must not need (on a slow machine this made it a plain 503).
        time.sleep(accounts.PRINCIPALS_TTL_SECONDS + 0.5)
        r = timed(c, "GET", "/__heartbeat__")
    assert r.status_code == 503
    assert r.json()["storage"] is False


def test_server_answers_again_when_postgres_is_back_on_the_same_port(
    home: HomeFactory, tmp_path: Path
) -> None:
    """TempPostgres deletes its cluster on stop, so the same data cannot come back: a new,
    empty cluster on the same port stands in, and the home must notice it (heartbeat 200)."""
    if find_pg_bin() is None:
        pytest.skip("PostgreSQL binaries not installed")
    first = TempPostgres()
    first.start()
    try:
        port = first.port
        h = home({"HOMEPORT_ADMIN_PASSWORD": ADMIN[1], "HOMEPORT_STORAGE_URL": first.url})
    finally:
        first.stop()
    with h.client(auth=None, timeout=OUTAGE_TIMEOUT) as c:
        assert timed(c, "GET", "/__heartbeat__").status_code == 503
        try:
            second = TempPostgres(port=port)
            second.start()
        except PostgresError as exc:
            pytest.skip(f"port {port} could not be reused: {exc}")
        try:
            asyncio.run(migrate(second.url))  # as the old cluster's data would have
            deadline = time.monotonic() + OUTAGE_TIMEOUT
            status = 0
            while time.monotonic() < deadline and status != 200:  # bounded: the pool reconnects
                status = timed(c, "GET", "/__heartbeat__").status_code
            assert status == 200
        finally:
            second.stop()
