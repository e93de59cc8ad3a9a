"""Live ``homeport serve`` processes for the end-to-end suite.

Each test starts the servers it needs (``home`` factory) on a free loopback port with its own
data directory, on SQLite or PostgreSQL (``backend``), and every one is stopped when the test
ends, even when it fails. Output (stdout and stderr) goes to a log file in the data directory's
parent, so tests can read what the server printed and check it never printed a traceback.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from homeport.testing.live import STARTUP_TIMEOUT, LiveHome, free_port, start_home

REQUEST_TIMEOUT = 10.0
ADMIN = ("admin", "admin-s3cret-pw")
# Cheap argon2 (the hashing itself is unchanged) so starts and sign-ups stay fast.
FAST_ENV = {"HOMEPORT_ARGON2_TIME_COST": "1", "HOMEPORT_ARGON2_MEMORY_KIB": "1024"}


@dataclass
class Home(LiveHome):
    """One running ``homeport serve``."""

    def client(
        self, auth: tuple[str, str] | None = ADMIN, timeout: float = REQUEST_TIMEOUT
    ) -> httpx.Client:
        return httpx.Client(base_url=self.url, auth=auth, timeout=timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def spawn(data: Path, env: dict[str, str], port: int | None = None) -> Home:
    """Start ``python -m homeport serve`` on ``data`` and wait until it answers."""
    port = port or free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HOMEPORT_")}
    full_env.update(FAST_ENV)
    full_env.update(env)
    log = data.parent / f"{data.name}-serve-{port}-{time.monotonic_ns()}.log"
    live = start_home(
        data, full_env, port, log, ready_path="/v1/__lbheartbeat__", timeout=STARTUP_TIMEOUT
    )
    return Home(proc=live.proc, port=live.port, data=live.data, log=live.log)


HomeFactory = Callable[..., Home]


@pytest.fixture
def home(tmp_path: Path) -> Iterator[HomeFactory]:
    """``home(env=..., data=..., port=...)`` starts a server; all are stopped after the test."""
    started: list[Home] = []

    def start(
        env: dict[str, str] | None = None, data: Path | None = None, port: int | None = None
    ) -> Home:
        h = spawn(data or tmp_path / "data", dict(env or {}), port)
        started.append(h)
        return h

    try:
        yield start
    finally:
        for h in started:
            h.stop()


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def backend_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """Environment selecting the backend: SQLite in the data dir, or a fresh PostgreSQL db."""
    env = {"HOMEPORT_ADMIN_PASSWORD": ADMIN[1]}
    if request.param == "postgresql":
        env["HOMEPORT_STORAGE_URL"] = request.getfixturevalue("fresh_postgres_url")
    return env


def backend_home(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]
) -> Home:
    """A server on ``request.param``'s backend (an own database on the session's PostgreSQL)."""
    env = {"HOMEPORT_ADMIN_PASSWORD": ADMIN[1], **env}
    if request.param == "postgresql":
        server = request.getfixturevalue("_postgres_server")
        env["HOMEPORT_STORAGE_URL"] = server.create_database(f"e2e_{uuid.uuid4().hex[:12]}")
    return spawn(tmp_path_factory.mktemp(f"home-{request.param}") / "data", env)


def assert_kinto_error(response: httpx.Response, status: int | None = None) -> dict[str, object]:
    """A 4xx (or the given status) in Kinto's error shape; returns the body."""
    if status is not None:
        assert response.status_code == status, response.text
    else:
        assert 400 <= response.status_code < 500, (response.status_code, response.text)
    body = response.json()
    assert {"code", "errno", "error"} <= set(body), body
    assert body["code"] == response.status_code
    return dict(body)
