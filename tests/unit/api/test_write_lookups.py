"""A write asks the store whether the caller may write once, not twice: the handler checks it
(before any precondition, so a 412 cannot leak a record) and `writes.save` trusts that check.
On PostgreSQL each lookup is a round trip inside the write's transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

import httpx

from homeport.home import create_home_app
from homeport.services.context import Context
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.memory import MemoryRecordStore

RECORDS = "/v1/buckets/b/collections/c/records"


class CountingStore(MemoryRecordStore):
    lookups = 0

    async def authorized_principals(self, bound: Iterable[tuple[str, str]]) -> set[str]:
        self.lookups += 1
        return await super().authorized_principals(bound)


def test_each_record_write_checks_write_permission_once(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "home",
        storage_url="memory://",
        argon2_memory_kib=64,
        argon2_time_cost=1,
        admin_password="first-run-password",
        auto_publish=False,
    )
    settings.data_dir.mkdir(parents=True)
    store = CountingStore()
    ctx = Context(settings=settings, store=store, blobs=FsBlobStore(settings.blobs_dir))
    app = create_home_app(settings, ctx)
    creates = [{"method": "POST", "path": RECORDS, "body": {"data": {}}} for _ in range(5)]
    writes = [
        ("POST", RECORDS, {"data": {"id": "a"}}, 201, 1),
        ("PUT", f"{RECORDS}/b", {"data": {}}, 201, 1),
        ("PUT", f"{RECORDS}/b", {"data": {"v": 1}}, 200, 1),
        ("PATCH", f"{RECORDS}/b", {"data": {"v": 2}}, 200, 1),
        ("POST", "/v1/batch", {"requests": creates}, 200, 5),
    ]

    async def main() -> list[tuple[int, int]]:
        seen = []
        transport = httpx.ASGITransport(app=app)
        auth = ("admin", "first-run-password")
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", auth=auth) as c,
        ):
            for path in ("/v1/buckets/b", "/v1/buckets/b/collections/c"):
                assert (await c.put(path)).status_code == 201
            for method, path, body, _, _ in writes:
                before = store.lookups
                r = await c.request(method, path, json=body)
                seen.append((r.status_code, store.lookups - before))
        return seen

    assert asyncio.run(main()) == [(status, n) for *_, status, n in writes]
