"""A home under ``homeport serve`` with one real provider on loopback, for the auto-publish
tests and benchmark: the CLI on the same data and store, writes through ``/v1``, the GUI and
other processes, and waiting until a text is live at the provider."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from homeport.testing.live import log_tail

from .conftest import ADMIN, Home
from .provider_support import Provider
from .repo_support import cli_env

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
LIVE_WITHIN = 10.0
"""The promise: a change is live at every provider within this many seconds."""


@dataclass
class Rig:
    provider: Provider
    data: Path
    env: dict[str, str]
    """The home's environment (its store), for ``serve`` and the CLI alike."""
    home: Home | None = None

    def cli(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "homeport", *args, "--data", str(self.data)],
            capture_output=True,
            timeout=120,
            env={**cli_env(), **self.env},
            check=False,
        )
        if check:
            assert done.returncode == 0, f"homeport {' '.join(args)}:\n{done.stderr.decode()}"
        return done.stdout.decode()

    def api(self) -> httpx.Client:
        assert self.home is not None
        return self.home.client()

    def post_note_by_api(self, text: str, slug: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        note = {"text": text, "visibility": "public", "draft": False, "published": stamp,
                "slug": slug}
        with self.api() as client:
            r = client.post(
                "/buckets/site/collections/notes/records",
                json={"data": note, "permissions": {"read": ["system.Everyone"]}},
            )
        assert r.status_code == 201, r.text

    def commits(self) -> int:
        return len(json.loads(self.cli("log", "--json")))

    def live(self, text: str) -> bool:
        page = self.provider.page("alice")
        return page.status_code == 200 and text in page.text

    def wait_live(
        self, text: str, timeout: float = LIVE_WITHIN, since: float | None = None
    ) -> float:
        """Seconds from ``since`` (default: now) until ``text`` is on the site's home page at
        the provider; fails after ``timeout``."""
        start = time.monotonic() if since is None else since
        while time.monotonic() - start < timeout:
            if self.live(text):
                return time.monotonic() - start
            time.sleep(0.05)
        home_log = log_tail(self.home.log) if self.home else ""
        raise AssertionError(f"{text!r} not live within {timeout} s\n{home_log}")


class GuiSession:
    """A logged-in GUI session over httpx, as a browser's forms would post."""

    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=10, follow_redirects=True)
        page = self.client.get("/admin/login")
        r = self.client.post(
            "/admin/login", data={"csrf": self.csrf(page.text), "password": ADMIN[1]}
        )
        assert r.status_code == 200 and "Dashboard" in r.text, r.text

    @staticmethod
    def csrf(html: str) -> str:
        found = CSRF.search(html)
        assert found, html
        return found.group(1)

    def post_note(self, text: str) -> None:
        page = self.client.get("/admin/notes")
        r = self.client.post("/admin/notes", data={"csrf": self.csrf(page.text), "text": text})
        assert r.status_code == 200, r.text

    def status(self) -> dict[str, Any]:
        r = self.client.get("/admin/autopublish")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def wait_status(
        self, ok: Callable[[dict[str, Any]], bool], timeout: float = 30
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            state = self.status()
            if ok(state) or time.monotonic() > deadline:
                return state
            time.sleep(0.1)

    def close(self) -> None:
        self.client.close()
