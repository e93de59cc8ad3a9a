"""Servers for the differential test: one Kinto 26.5 and one Homeport per backend.

They are started with :mod:`homeport.testing.targets`, the same way as tests/api starts them,
and kept for the whole session; each example flushes both.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from homeport.testing.targets import Server, start_target


@pytest.fixture(scope="session")
def kinto() -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="homeport-diff-kinto-") as tmpdir:
        srv = start_target(Path(tmpdir), "kinto")
        try:
            yield srv
        finally:
            srv.stop()


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def homeport(request: pytest.FixtureRequest) -> Iterator[Server]:
    backend: str = request.param
    with tempfile.TemporaryDirectory(prefix=f"homeport-diff-{backend}-") as tmpdir:
        pg = None
        if backend == "postgresql":
            # A database of its own: tests/api's server may hold the session one.
            pg_server = request.getfixturevalue("_postgres_server")
            pg = pg_server.create_database(f"diff_{uuid.uuid4().hex[:16]}")
        srv = start_target(Path(tmpdir), backend, pg)
        try:
            yield srv
        finally:
            srv.stop()
