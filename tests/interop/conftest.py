"""Fixtures for the live-web protocols' tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from homeport.provider.db import ProviderDB
from homeport.testing.webmention import MemoryInbox, SourceServer
from tests.interop.micropub_harness import Stack, image, stack
from tests.interop.webmention_harness import Receiver, make_receiver

PHOTOS = {"/sunset.jpg": image("JPEG", (1600, 900), "orange"),
          "/city.jpg": image("JPEG", (800, 600), "navy")}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'home.db'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


@pytest.fixture
def mp(tmp_path: Path, store_url: str) -> Iterator[Stack]:
    """A provider and a home online, with a photo server for photos by URL."""
    with stack(tmp_path / "home", store_url, photos=PHOTOS) as running:
        yield running


# --- webmention ----------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def provider_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ProviderDB]:
    """The provider's own database, on both engines."""
    url = request.getfixturevalue("fresh_postgres_url") if request.param == "postgresql" else ""
    db = ProviderDB(tmp_path / "provider", url)
    yield db
    db.close()


@pytest.fixture
def source() -> Iterator[SourceServer]:
    with SourceServer() as server:
        yield server


@pytest.fixture
def receiver(provider_db: ProviderDB) -> Iterator[Receiver]:
    made, live = make_receiver(provider_db, MemoryInbox())
    with live:
        yield made
    made.close()
