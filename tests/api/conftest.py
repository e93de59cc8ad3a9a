"""HTTP-level fixtures for the Kinto-compatibility suite.

The suite pins down what a real Kinto 26 server answers on ``/v1/``.  It runs against
Homeport on the ``sqlite`` and ``postgresql`` backends, or with ``HOMEPORT_API_TARGET=kinto``
against a real Kinto 26.5; how each is started is in :mod:`homeport.testing.targets`.

Each test starts from an empty server (``POST /v1/__flush__``) with an
``admin`` account.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from homeport.testing.targets import (
    ADMIN,
    IS_KINTO,
    Server,
    ensure_account,
    flush,
    start_target,
)

_BACKENDS = (
    ["kinto"] if IS_KINTO else ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)


@pytest.fixture(scope="session", params=_BACKENDS)
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    backend: str = request.param
    with tempfile.TemporaryDirectory(prefix=f"homeport-api-{backend}-") as tmpdir:
        pg = request.getfixturevalue("postgres_url") if backend == "postgresql" else None
        srv = start_target(Path(tmpdir), backend, pg)
        try:
            yield srv
        finally:
            srv.stop()


@pytest.fixture(autouse=True)
def _clean_server(request: pytest.FixtureRequest) -> None:
    """Flush the server before each test that uses it, and re-create ``admin``."""
    if "server" not in request.fixturenames:
        return
    flush(request.getfixturevalue("server"))


@pytest.fixture
def anon(server: Server) -> httpx.Client:
    return server.client()


@pytest.fixture
def admin(server: Server) -> httpx.Client:
    return server.client(ADMIN)


@pytest.fixture
def alice(server: Server) -> httpx.Client:
    ensure_account(server, "alice")
    return server.client("alice")


@pytest.fixture
def bob(server: Server) -> httpx.Client:
    ensure_account(server, "bob")
    return server.client("bob")


# Paths of the objects most tests work in.
BUCKET = "/buckets/b"
COLLECTION = "/buckets/b/collections/c"
RECORDS = "/buckets/b/collections/c/records"


@pytest.fixture
def collection(admin: httpx.Client) -> str:
    """Bucket ``b`` and collection ``c`` owned by admin; returns the records list path."""
    assert admin.put(BUCKET).status_code == 201
    assert admin.put(COLLECTION).status_code == 201
    return RECORDS
