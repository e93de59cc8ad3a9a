"""Every RecordStore backend against the shipped conformance suite."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from homeport.store.memory import MemoryRecordStore
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
