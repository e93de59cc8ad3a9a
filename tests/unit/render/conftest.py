"""A Context on the in-memory store with a real blob folder, and one site to write into."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from homeport.content import sites
from homeport.services.context import Context
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.memory import MemoryRecordStore


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    context = Context(Settings(data_dir=tmp_path), MemoryRecordStore(),
                      FsBlobStore(tmp_path / "blobs"))
    asyncio.run(sites.create_site(context, "blog", "My blog"))
    return context
