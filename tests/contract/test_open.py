"""`open_record_store`: the URL picks the backend."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from homeport.store.memory import MemoryRecordStore
from homeport.store.open import open_record_store, sqlite_path
from homeport.store.postgres import PostgresRecordStore
from homeport.store.sqlite import SQLiteRecordStore


def test_memory() -> None:
    assert isinstance(open_record_store("memory://"), MemoryRecordStore)


def test_sqlite_absolute_and_relative(tmp_path: Path) -> None:
    store = open_record_store(f"sqlite:///{tmp_path}/h.db")
    assert isinstance(store, SQLiteRecordStore) and store.path == f"{tmp_path}/h.db"
    assert sqlite_path("sqlite:///data/h.db") == "data/h.db"
    assert sqlite_path("sqlite:///:memory:") == ":memory:"


def test_sqlite_store_is_usable(tmp_path: Path) -> None:
    async def main() -> None:
        store = open_record_store(f"sqlite:///{tmp_path}/sub/h.db", clock=lambda: 1000)
        await store.initialize()
        created = await store.create("bucket", "", {"id": "b"})
        assert created["last_modified"] == 1000
        await store.close()

    asyncio.run(main())


@pytest.mark.parametrize("url", ["postgresql://u@localhost/db", "postgres://localhost:5433/x"])
def test_postgres(url: str) -> None:
    assert isinstance(open_record_store(url), PostgresRecordStore)


@pytest.mark.parametrize("url", ["mysql://x/y", "sqlite:/x.db", "sqlite://", "", "h.db"])
def test_unknown_or_malformed_urls_are_rejected(url: str) -> None:
    with pytest.raises(ValueError, match="URL"):
        open_record_store(url)
