"""Versioned migrations: both dialects step through the same versions, recorded once."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import psycopg
import pytest

from homeport.store.migrations import migrations
from homeport.store.postgres import PostgresRecordStore
from homeport.store.sqlite import SQLiteRecordStore


def test_dialects_share_version_numbers_and_names() -> None:
    sqlite, postgres = migrations("sqlite"), migrations("postgresql")
    assert [m.name for m in sqlite] == [m.name for m in postgres]
    assert [m.version for m in sqlite] == list(range(1, len(sqlite) + 1))


def test_sqlite_records_each_version_once(tmp_path: Path) -> None:
    async def main() -> None:
        for _ in range(2):
            store = SQLiteRecordStore(tmp_path / "h.db")
            await store.initialize()
            await store.initialize()
            await store.close()

    asyncio.run(main())
    with sqlite3.connect(tmp_path / "h.db") as conn:
        rows = conn.execute("SELECT version, name FROM schema_version ORDER BY version").fetchall()
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert rows == [(m.version, m.name) for m in migrations("sqlite")]
    assert mode == "wal"


@pytest.mark.postgres
def test_postgres_records_each_version_once_under_concurrent_starts(
    fresh_postgres_url: str,
) -> None:
    async def main() -> None:
        stores = [PostgresRecordStore(fresh_postgres_url) for _ in range(4)]
        await asyncio.gather(*(s.initialize() for s in stores))
        await asyncio.gather(*(s.close() for s in stores))

    asyncio.run(main())
    with psycopg.connect(fresh_postgres_url) as conn:
        rows = conn.execute("SELECT version, name FROM schema_version ORDER BY version").fetchall()
    assert rows == [(m.version, m.name) for m in migrations("postgresql")]
