"""Fixtures shared by every suite: a real, throwaway PostgreSQL.

* ``postgres_url`` (session): the URL of a fresh database on a cluster started once per session
  (per xdist worker) with :class:`homeport.testing.postgres.TempPostgres`. If
  ``HOMEPORT_TEST_POSTGRES_URL`` is set, that URL is used as is and no cluster is started.
* ``fresh_postgres_url`` (function): the URL of a new, empty, uniquely named database on the same
  server, for tests that need isolation (cheap: one ``CREATE DATABASE``).
* ``postgres_bin`` (session): the directory holding the PostgreSQL server binaries.

PostgreSQL is a required, real backend. When its binaries are missing, the tests that need it fail
under CI (``CI`` set) and are skipped elsewhere, with instructions to install it.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn, Protocol
from urllib.parse import urlsplit, urlunsplit

import pytest

from homeport.testing.browser import chromium
from homeport.testing.postgres import INSTALL_HINT, TempPostgres, find_pg_bin

POSTGRES_URL_ENV = "HOMEPORT_TEST_POSTGRES_URL"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _postgres_missing() -> NoReturn:
    if _in_ci():
        pytest.fail(
            f"PostgreSQL is a required backend and CI must test it: {INSTALL_HINT} "
            f"(scripts/install does this when run as root), or set {POSTGRES_URL_ENV}.",
            pytrace=False,
        )
    pytest.skip(
        f"{INSTALL_HINT}; or run scripts/install as root; or set {POSTGRES_URL_ENV}=postgresql://…"
    )


class _Server(Protocol):
    def create_database(self, name: str) -> str: ...


class _ExternalServer:
    """A server named by ``HOMEPORT_TEST_POSTGRES_URL`` (its role needs CREATEDB)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _execute(self, statement: str, name: str) -> None:
        import psycopg
        from psycopg import sql

        query = sql.SQL(statement).format(sql.Identifier(name))
        with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(query)

    def create_database(self, name: str) -> str:
        self._execute("CREATE DATABASE {}", name)
        return urlunsplit(urlsplit(self.url)._replace(path=f"/{name}"))

    def drop_database(self, name: str) -> None:
        # Best effort: a leftover test database on someone else's server is not worth an error.
        with contextlib.suppress(Exception):
            self._execute("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)


def _unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def pytest_report_header(config: pytest.Config) -> str:
    if os.environ.get(POSTGRES_URL_ENV):
        return f"postgresql: {POSTGRES_URL_ENV} is set"
    bin_dir = find_pg_bin()
    return f"postgresql: {bin_dir if bin_dir else 'NOT FOUND (postgres tests will skip/fail)'}"


@pytest.fixture(scope="session")
def postgres_bin() -> Path:
    """The directory holding initdb/pg_ctl; skips (fails under CI) when PostgreSQL is missing."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        _postgres_missing()
    return bin_dir


@pytest.fixture
def no_homeport_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come only from what a test gives, never from the caller's ``HOMEPORT_*``."""
    for key in list(os.environ):
        if key.startswith("HOMEPORT_"):
            monkeypatch.delenv(key)


@pytest.fixture
def own_postgres(postgres_bin: Path) -> Iterator[TempPostgres]:
    """A PostgreSQL cluster of the test's own, for tests that stop it (an outage)."""
    with TempPostgres() as pg:
        yield pg


@pytest.fixture(scope="session")
def _postgres_server() -> Iterator[_Server]:
    external = os.environ.get(POSTGRES_URL_ENV)
    if external:
        yield _ExternalServer(external)
        return
    if find_pg_bin() is None:
        _postgres_missing()
    with TempPostgres() as pg:
        yield pg


@pytest.fixture(scope="session")
def postgres_url(_postgres_server: _Server) -> str:
    """A database for the whole session (``HOMEPORT_TEST_POSTGRES_URL`` itself when set)."""
    if isinstance(_postgres_server, _ExternalServer):
        return _postgres_server.url
    return _postgres_server.create_database(_unique_name("session"))


@pytest.fixture
def fresh_postgres_url(_postgres_server: _Server) -> Iterator[str]:
    """A new, empty, uniquely named database on the session's server."""
    name = _unique_name("test")
    url = _postgres_server.create_database(name)
    yield url
    if isinstance(_postgres_server, _ExternalServer):
        _postgres_server.drop_database(name)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium for the browser tests. Module-scoped on purpose: while Playwright's sync
    API is open, the main thread has a running event loop, and later tests that call
    ``asyncio.run`` would fail."""
    with chromium() as found:
        yield found
