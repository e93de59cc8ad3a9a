"""For the content and render tests: a Context on the in-memory store with a real blob folder,
and one site to write into."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from homeport.content import sites
from homeport.services.context import Context
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.memory import MemoryRecordStore


class FixedClock:
    """Time stands still unless a test moves it: no test depends on the wall clock."""

    def __init__(self, now: int = 1_700_000_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        self.now += 1  # the store's timestamps must still increase
        return self.now


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    clock = FixedClock()
    context = Context(Settings(data_dir=tmp_path), MemoryRecordStore(clock=clock),
                      FsBlobStore(tmp_path / "blobs"), clock=clock)
    asyncio.run(sites.create_site(context, "blog", "My blog"))
    return context
