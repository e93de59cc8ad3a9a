"""The push engine's asyncio driver against the provider's app in-process (``httpx``'s ASGI
transport, no socket): the real endpoints, signatures and checks, on both engines; a provider
that answers 503 to some packs is retried and ends with the whole site live, never half."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from homeport.sync.client import Credentials, ProviderClient
from homeport.sync.drivers import in_process, run_asyncio
from homeport.sync.engine import Push, PushResult

from .conftest import BASE, SITE_V1, World

URL = "http://127.0.0.1:9"  # never dialled: the requests go to the app in-process
ASGI = Callable[[Any, Any, Any], Awaitable[None]]


def flaky(app: ASGI, failures: int) -> tuple[ASGI, list[str]]:
    """``app``, but the first ``failures`` pack uploads are answered 503 unread."""
    seen: list[str] = []

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].endswith("/objects") and failures > len(
            [s for s in seen if s == "503"]
        ):
            seen.append("503")
            await send({"type": "http.response.start", "status": 503,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body",
                        "body": b'{"error": "unavailable", "message": "busy"}'})
            return
        if scope["type"] == "http":
            seen.append(scope["path"].rsplit("/", 1)[-1])
        await app(scope, receive, send)

    return wrapped, seen


def push_in_process(world: World, home: Any, app: ASGI) -> PushResult:
    async def go() -> PushResult:
        async with in_process(app, URL) as http:
            client = ProviderClient(URL, Credentials(home.did, home.key), world.client)
            machine = Push(home.repo, home.operations, home.site, client.url,
                           pack_bytes=4_000, retries=(0.0, 0.0, 0.0, 0.0))
            return await run_asyncio(machine, client, http)

    return asyncio.run(go())


def test_a_push_in_process_through_a_provider_that_fails_some_packs(world: World) -> None:
    home = world.enrolled("alice")
    home.write_site(SITE_V1)
    commit = home.snapshot()
    app, seen = flaky(world.app.server.config.app, failures=2)

    result = push_in_process(world, home, app)

    assert seen.count("503") == 2 and seen[-1] == "publish"
    assert result.head == commit.id.hex() and result.objects > 0
    state = home.request(world.client, "GET", "/tenant").json()
    assert state["head"] == commit.id.hex()
    for path, body in SITE_V1.items():
        page = world.get(f"alice.{BASE}", f"/{path}")
        assert page.status_code == 200, path
        assert page.content == (body.encode() if isinstance(body, str) else body)

    again = push_in_process(world, home, world.app.server.config.app)

    assert again.up_to_date and again.objects == 0
