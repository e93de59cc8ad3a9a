"""GUI fixtures: an in-process home with a hand-driven clock (fast checks of sessions, CSRF and
the wizard) and, for the browser tests, a live ``homeport serve`` and headless Chromium."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

with warnings.catch_warnings():  # Starlette 1.x warns that it prefers httpx2; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from homeport.home import create_home_app
from homeport.services.context import Context
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.memory import MemoryRecordStore
from homeport.testing.browser import recovery_words, type_words
from homeport.testing.live import LiveHome, free_port, start_home, stop_process

PASSWORD = "correct horse battery"
PROVIDER_BASE = "example.test"
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
        auto_publish=False,  # the Publish button's own tests; auto-publish has tests/e2e's
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


def _live_env() -> dict[str, str]:
    env = {
        **os.environ,
        "HOMEPORT_ARGON2_MEMORY_KIB": "1024",
        "HOMEPORT_ARGON2_TIME_COST": "1",
        "HOMEPORT_LOG_LEVEL": "warning",
        "HOMEPORT_NO_BROWSER": "1",
    }
    env.pop("HOMEPORT_DATA", None)
    return env


@pytest.fixture(scope="module")
def live_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHome]:
    """A real ``homeport serve`` on a free loopback port, stopped after the module."""
    base = tmp_path_factory.mktemp("live")
    home = start_home(base / "data", _live_env())
    try:
        yield home
    finally:
        home.stop()


TITLE = "Ada's corner"


class Shots:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(self, page: Any, name: str, full: bool = True) -> None:
        page.screenshot(path=str(self.folder / f"{name}.png"), full_page=full)


@pytest.fixture(scope="module")
def shots(screenshots: Path) -> Shots:
    return Shots(screenshots)


@pytest.fixture(scope="module")
def owner(browser: Any, live_home: LiveHome, shots: Shots) -> dict[str, Any]:
    """Run the first-run wizard once; the logged-in browser state."""
    context = browser.new_context(base_url=live_home.root, viewport={"width": 1200, "height": 800})
    page = context.new_page()
    page.goto("/admin/")
    assert page.url.endswith("/admin/setup")
    page.get_by_label("Your name").fill("Ada Lovelace")
    page.get_by_label("Site title").fill(TITLE)
    page.get_by_label("Choose a password").fill(PASSWORD)
    page.get_by_label("The same password again").fill(PASSWORD)
    shots(page, "01-wizard")
    page.get_by_role("button", name="Create my site").click()
    words = recovery_words(page)
    assert len(words) == 24
    shots(page, "02-recovery-phrase")
    page.get_by_role("link", name="I have written them down").click()
    type_words(page, words)
    shots(page, "03-confirm-phrase")
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/admin/")
    assert "recovery phrase is confirmed" in page.content()
    state = context.storage_state()
    context.close()
    return state


@pytest.fixture
def page(browser: Any, live_home: LiveHome, owner: dict[str, Any]) -> Iterator[Any]:
    context = browser.new_context(
        base_url=live_home.root, storage_state=owner, viewport={"width": 1200, "height": 800}
    )
    found = context.new_page()
    errors: list[str] = []
    found.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield found
    finally:
        context.close()
    assert errors == [], f"JavaScript errors: {errors}"


@pytest.fixture
def fresh_home(tmp_path: Path) -> Iterator[LiveHome]:
    """A second live home whose first-run wizard nobody has run yet."""
    home = start_home(tmp_path / "fresh", _live_env())
    try:
        yield home
    finally:
        home.stop()


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real ``homeport provider serve`` on loopback: its address and its data directory."""
    data = tmp_path / "provider"
    port = free_port()
    log = tmp_path / "provider.log"
    env = {**os.environ, "HOMEPORT_OPERATOR_PASSWORD": "operator-pw"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "homeport", "provider", "serve", "--data", str(data),
             "--port", str(port), "--base-domain", PROVIDER_BASE],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        # two worker processes import the whole provider: on a loaded 2-CPU machine that took
        # 22-28 s (measured), past the 20 s this waited before
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url + "/", timeout=2)
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(log.read_text()) from None
                time.sleep(0.05)
        yield url, data
    finally:
        stop_process(proc)


def invite(data: Path, quota: str = "5GB") -> str:
    """An enrollment code from the provider whose data directory is ``data``."""
    done = subprocess.run(
        [sys.executable, "-m", "homeport", "provider", "invite", "--json", "--quota", quota,
         "--data", str(data)],
        capture_output=True, timeout=60, check=True,
        env={**os.environ, "HOMEPORT_OPERATOR_PASSWORD": "operator-pw"},
    )
    return str(json.loads(done.stdout)["code"])


@pytest.fixture
def gui_invite() -> Any:
    """``gui_invite(data, quota="5GB")``: a code from a provider (test modules cannot import)."""
    return invite
