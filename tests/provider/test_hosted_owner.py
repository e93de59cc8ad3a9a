"""One owner per hosted home across ``provider serve --workers N``'s processes
(``provider/hosted.py``): two ``HostedHomes`` on one data dir stand for two workers (``flock``
locks conflict between open files, in one process as in two). The first to start owns the home
and runs it at once with its auto-publisher and relay; the other runs it without them when asked;
when the owner stops, the other takes the home over and starts it again as its owner, and serves
on."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from homeport.provider import hosted as hosted_module
from homeport.provider.hosted import HostedHomes
from homeport.settings import Settings

pytestmark = pytest.mark.anyio


class Homes:
    """A home factory that remembers what it made and which are running."""

    def __init__(self) -> None:
        self.made: list[Settings] = []
        self.live = 0

    def __call__(self, settings: Settings) -> Starlette:
        self.made.append(settings)
        owner = settings.auto_publish and settings.inbox_relay

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            self.live += 1
            try:
                yield
            finally:
                self.live -= 1

        async def who(request: Request) -> PlainTextResponse:
            return PlainTextResponse("owner" if owner else "helper")

        return Starlette(routes=[Route("/v1/who", who)], lifespan=lifespan)


def _home(root: Path, name: str) -> None:
    folder = root / "hosted" / name
    folder.mkdir(parents=True)
    (folder / "identity.json").write_text("{}")


async def _ask(homes: HostedHomes, name: str) -> str:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/v1/who", "raw_path": b"/v1/who",
             "query_string": b"", "headers": [], "scheme": "http", "server": ("127.0.0.1", 80),
             "client": ("127.0.0.1", 1), "root_path": "", "http_version": "1.1"}
    await homes.serve(name, scope, receive, send)  # type: ignore[arg-type]
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body").decode()


async def _until(check: Callable[[], bool], seconds: float = 30.0) -> None:
    """Poll ``check`` (bounded: a loaded machine may take a while to run the tasks)."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within the bound"
        await asyncio.sleep(0.01)


async def test_one_worker_owns_a_hosted_home_and_another_takes_over_when_it_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hosted_module, "CLAIM_EVERY_S", 0.05)
    _home(tmp_path, "ada")
    settings = Settings(data_dir=tmp_path, base_domain="example.test", hosted_homes=True)
    first_made, second_made = Homes(), Homes()
    first, second = HostedHomes(settings, first_made), HostedHomes(settings, second_made)
    first.start_all()  # started with the provider: the owner starts the home unasked
    await _until(lambda: first_made.live == 1)
    second.start_all()
    try:
        assert first.owns("ada") and not second.owns("ada")
        assert await _ask(first, "ada") == "owner"
        assert await _ask(second, "ada") == "helper"  # the other starts it when asked
        assert [s.auto_publish and s.inbox_relay for s in first_made.made] == [True]
        assert [s.auto_publish or s.inbox_relay for s in second_made.made] == [False]

        await first.close()  # the owning worker is gone
        deadline = time.monotonic() + 30.0  # the owner's copy is made, then requests go to it
        while await _ask(second, "ada") != "owner":
            assert time.monotonic() < deadline, "not taken over within the bound"
            await asyncio.sleep(0.01)
        assert second.owns("ada") and len(second_made.made) == 2
        assert second_made.made[-1].auto_publish and second_made.made[-1].inbox_relay
        await _until(lambda: second_made.live == 1)  # the copy without the owner's tasks stops
    finally:
        await first.close()
        await second.close()
