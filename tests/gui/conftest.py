"""GUI fixtures: an in-process home with a hand-driven clock (fast checks of sessions, CSRF and
the wizard) and, for the browser tests, a live ``homeport serve`` and headless Chromium."""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():  # Starlette 1.x warns that it prefers httpx2; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from homeport.home import create_home_app
from homeport.services.context import Context
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.memory import MemoryRecordStore
from homeport.testing.live import LiveHome, start_home

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Clock:
    """Milliseconds that move only when a test says so."""

    def __init__(self, start: int = 1_700_000_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "home",
        storage_url="memory://",
        argon2_memory_kib=64,
        argon2_time_cost=1,
        admin_password="first-run-password",
    )


@pytest.fixture
def make_client(settings: Settings, clock: Clock) -> Iterator[Any]:
    """``make_client(address)``: an in-process client seen as coming from ``address``."""
    settings.data_dir.mkdir(parents=True)
    ctx = Context(
        settings=settings,
        store=MemoryRecordStore(),
        blobs=FsBlobStore(settings.blobs_dir),
        clock=clock,
    )
    app = create_home_app(settings, ctx)
    opened: list[TestClient] = []

    def make(address: str = "127.0.0.1") -> TestClient:
        found = TestClient(app, base_url="http://127.0.0.1", client=(address, 50000))
        opened.append(found.__enter__())
        return found

    try:
        yield make
    finally:
        for found in opened:
            found.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Any) -> TestClient:
    return make_client()


class Gui:
    """Helpers for in-process GUI tests (a fixture, since test modules are not importable)."""

    password = PASSWORD

    @staticmethod
    def csrf_of(html: str) -> str:
        return csrf_of(html)

    @staticmethod
    def wizard(client: TestClient, title: str = "My corner") -> list[str]:
        return run_wizard(client, title)

    @staticmethod
    def login(client: TestClient, password: str) -> Any:
        page = client.get("/admin/login")
        return client.post("/admin/login", data={"csrf": csrf_of(page.text), "password": password})


@pytest.fixture
def gui() -> type[Gui]:
    return Gui


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "page has no CSRF field"
    return found.group(1)


def run_wizard(client: TestClient, title: str = "My corner") -> list[str]:
    """Complete the first-run wizard; the phrase's words."""
    page = client.get("/admin/setup")
    form = {
        "csrf": csrf_of(page.text),
        "name": "Ada",
        "title": title,
        "theme": "journal",
        "password": PASSWORD,
        "password2": PASSWORD,
    }
    shown = client.post("/admin/setup", data=form)
    assert shown.status_code == 200, shown.text
    words = re.findall(r"<li>([a-z]+)</li>", shown.text)
    assert len(words) == 24
    confirm = client.get("/admin/setup/confirm")
    positions = [int(n) for n in re.findall(r'name="word(\d+)"', confirm.text)]
    answers = {f"word{n}": words[n - 1] for n in positions}
    done = client.post("/admin/setup/confirm", data={"csrf": csrf_of(confirm.text), **answers})
    assert done.status_code == 200 and "Dashboard" in done.text
    return words


# --- the browser tests (the ``browser`` fixture is the root conftest's) ---------------------
@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: ``HOMEPORT_SCREENSHOTS`` (e.g. docs/screenshots), else a temp dir."""
    chosen = os.environ.get("HOMEPORT_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def live_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHome]:
    """A real ``homeport serve`` on a free loopback port, stopped after the module."""
    base = tmp_path_factory.mktemp("live")
    env = {
        **os.environ,
        "HOMEPORT_ARGON2_MEMORY_KIB": "1024",
        "HOMEPORT_ARGON2_TIME_COST": "1",
        "HOMEPORT_LOG_LEVEL": "warning",
    }
    env.pop("HOMEPORT_DATA", None)
    home = start_home(base / "data", env)
    try:
        yield home
    finally:
        home.stop()
