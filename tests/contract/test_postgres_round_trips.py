"""Statements a request sends to PostgreSQL (each one a round trip): the CPU of a request on
PostgreSQL follows them (`bench/records_cpu.py`), so the hot paths' counts are pinned here.

The count is taken in psycopg (every ``AsyncConnection.execute``), against a real database,
through the whole app in process; the answers are checked too, so fewer statements never
means less checked.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from homeport.home import create_home_app
from homeport.settings import Settings

pytestmark = pytest.mark.postgres

BASE = "/v1/buckets/b/collections/c/records"


def test_reads_take_one_round_trip(
    tmp_path: Path, fresh_postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[str] = []
    execute = psycopg.AsyncConnection.execute

    async def counted(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(str(query))
        return await execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.AsyncConnection, "execute", counted)
    settings = Settings(
        data_dir=tmp_path / "home",
        storage_url=fresh_postgres_url,
        argon2_memory_kib=64,
        argon2_time_cost=1,
        admin_password="round-trips-password",
        auto_publish=False,
    )
    settings.data_dir.mkdir(parents=True)
    app = create_home_app(settings)

    async def main() -> dict[str, int]:
        counts: dict[str, int] = {}
        transport = httpx.ASGITransport(app=app)
        auth = ("admin", "round-trips-password")
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", auth=auth) as c,
        ):
            for path in ("/v1/buckets/b", "/v1/buckets/b/collections/c"):
                assert (await c.put(path)).status_code == 201
            made = await c.put(f"{BASE}/r1", json={"data": {"n": 1}})
            assert made.status_code == 201
            etag = made.headers["ETag"]

            async def count(name: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
                await c.request(method, path, **kwargs)  # warm: the auth cache, the pool
                del sent[:]
                response = await c.request(method, path, **kwargs)
                counts[name] = len(sent)
                return response

            got = await count("get", "GET", f"{BASE}/r1")
            assert got.status_code == 200 and got.json()["data"]["n"] == 1
            assert got.json()["permissions"] == {"write": ["account:admin"]}
            not_modified = await count("304", "GET", f"{BASE}/r1", headers={"If-None-Match": etag})
            assert not_modified.status_code == 304
            missing = await count("404", "GET", f"{BASE}/nope")
            assert missing.status_code == 404 and missing.json()["errno"] == 110
            polled = await count("since", "GET", BASE, params={"_since": etag.strip('"')})
            assert polled.status_code == 200 and polled.json() == {"data": []}
            page = await count("list", "GET", BASE, params={"_limit": "100"})
            assert page.status_code == 200 and [r["id"] for r in page.json()["data"]] == ["r1"]
            assert page.headers["ETag"] == etag
            created = await count("create", "POST", BASE, json={"data": {"n": 2}})
            assert created.status_code == 201 and created.json()["data"]["n"] == 2
            creates = [{"method": "POST", "path": BASE[3:], "body": {"data": {}}}] * 5
            batch = await count("batch", "POST", "/v1/batch", json={"requests": creates})
            assert [r["status"] for r in batch.json()["responses"]] == [201] * 5
        return counts

    counts = asyncio.run(main())
    # before: get 3 (permission, object, its permissions), 304 2, _since 3 (permission,
    # ancestors, timestamp), list 4; a create 4 (the object and its ancestors, the permission,
    # the ACL, the object), so a batch of 5 creates 21 with the settling statement; now a
    # create is its reads, then the object with its permissions
    assert counts == {
        "get": 1,
        "304": 1,
        "404": 2,
        "since": 1,
        "list": 2,
        "create": 2,
        "batch": 11,
    }
