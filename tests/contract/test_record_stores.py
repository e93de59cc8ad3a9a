"""Every RecordStore backend against the shipped conformance suite."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from homeport.core.errors import BackendUnavailable, InvalidPostedData
from homeport.store.memory import MemoryRecordStore
from homeport.store.postgres import PostgresRecordStore
from homeport.store.protocols import RecordStore
from homeport.store.sqlite import SQLiteRecordStore
from homeport.testing.conformance import RecordStoreConformance, serve_store


class TestMemoryRecordStore(RecordStoreConformance):
    @pytest.fixture
    def store(self, conformance_loop: asyncio.AbstractEventLoop) -> Iterator[RecordStore]:
        yield from serve_store(conformance_loop, MemoryRecordStore)


class TestSQLiteRecordStore(RecordStoreConformance):
    @pytest.fixture
    def store(
        self, conformance_loop: asyncio.AbstractEventLoop, tmp_path: Path
    ) -> Iterator[RecordStore]:
        yield from serve_store(conformance_loop, lambda: SQLiteRecordStore(tmp_path / "h.db"))


@pytest.mark.postgres
class TestPostgresRecordStore(RecordStoreConformance):
    @pytest.fixture
    def store(
        self, conformance_loop: asyncio.AbstractEventLoop, fresh_postgres_url: str
    ) -> Iterator[RecordStore]:
        yield from serve_store(conformance_loop, lambda: PostgresRecordStore(fresh_postgres_url))


def test_unreachable_postgres_is_backend_unavailable() -> None:
    """A server that is down answers 503 with a message naming it, not a driver exception."""

    async def main() -> None:
        store = PostgresRecordStore("postgresql://nobody:secret@127.0.0.1:9/x", timeout=0.5)
        try:
            with pytest.raises(BackendUnavailable, match=r"127\.0\.0\.1:9/x") as info:
                await store.initialize()
            assert "secret" not in str(info.value)
            with pytest.raises(BackendUnavailable):
                await store.get("record", "/p", "r1")
        finally:
            await store.close()

    asyncio.run(main())


@pytest.mark.postgres
def test_postgres_rejects_nul_characters_cleanly(fresh_postgres_url: str) -> None:
    """jsonb cannot hold U+0000 (memory and SQLite can): a 400, not a driver exception."""

    async def main() -> None:
        store = PostgresRecordStore(fresh_postgres_url)
        await store.initialize()
        try:
            with pytest.raises(InvalidPostedData):
                await store.create("record", "/p", {"id": "r1", "title": "a\u0000b"})
            assert await store.list_all("record", "/p") == []
        finally:
            await store.close()

    asyncio.run(main())
