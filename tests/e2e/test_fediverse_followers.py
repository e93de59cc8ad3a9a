"""Followers move with the site, the home's part (``publish/fedfollowers.py``), between real
processes: the home's follower records (``content/followers.py``) reach every provider it
publishes to, so a provider the site's address moves to already holds them; an unchanged list
is not sent again; a provider's answer counts what it holds. On SQLite and PostgreSQL (the home's
store and both providers' databases)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from homeport.content import followers as records
from homeport.services.context import Context, run_blocking
from homeport.settings import load_settings
from homeport.sync.client import ProviderClient
from homeport.sync.providers import credentials

from .provider_support import Provider
from .repo_support import cli_env, init, ok


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def databases(request: pytest.FixtureRequest) -> list[str]:
    if request.param == "sqlite":
        return []
    server = request.getfixturevalue("_postgres_server")
    tag = uuid.uuid4().hex[:10]
    return [server.create_database(f"fedf_{who}_{tag}") for who in ("p1", "p2", "home")]


@pytest.fixture
def providers(tmp_path: Path, databases: list[str]) -> Iterator[list[Provider]]:
    started: list[Provider] = []
    try:
        for n in (1, 2):
            database = ("--database", databases[n - 1]) if databases else ()
            started.append(Provider(tmp_path / f"p{n}", tmp_path / f"p{n}.log",
                                    args=("--workers", "1", *database)).start())
        yield started
    finally:
        for provider in started:
            provider.stop()


def actor(n: int) -> str:
    return f"https://social{n % 2}.example/users/u{n}"


def details(n: int) -> dict[str, Any]:
    return {"inbox": actor(n) + "/inbox", "shared_inbox": f"https://social{n % 2}.example/inbox",
            "follow_id": actor(n) + "#f"}


def test_every_provider_gets_the_homes_followers(
    tmp_path: Path, providers: list[Provider], databases: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = tmp_path / "home"
    env = cli_env()
    if databases:
        env["HOMEPORT_STORAGE_URL"] = databases[2]
        monkeypatch.setenv("HOMEPORT_STORAGE_URL", databases[2])
    init(home, env)
    ok("add", "note", "Hello", data=home, env=env)
    first, second = providers
    ok("providers", "add", first.url, first.invite(*(("--database", databases[0])
                                                       if databases else ())),
       "--name", "alice", data=home, env=env)
    settings = load_settings(home)

    def add(*numbers: int) -> None:
        async def write(ctx: Context) -> None:
            (site,) = await records.sites(ctx)
            for n in numbers:
                await records.save_follower(ctx, site, actor(n),
                                            records.PENDING if n == 0 else records.ACCEPTED,
                                            details(n), item=f"item-{n}")
        run_blocking(settings, write)

    def held(provider: Provider) -> dict[str, Any]:
        with httpx.Client(timeout=30) as http:
            return ProviderClient(provider.url, credentials(home), http).followers()

    add(0, 1, 2, 3)
    assert json.loads(ok("publish", "--json", data=home, env=env))[0]["ok"]
    assert held(first) == {"followers": 3, "pending": 1}
    handed = json.loads((home / "activitypub-handed.json").read_bytes())
    assert set(handed) == {first.url}

    # a second provider: its first publish brings it the list; the first is not sent it again
    # (the same record saved again, as an inbox item applied twice, changes nothing)
    add(3)
    ok("providers", "add", second.url, second.invite(*(("--database", databases[1])
                                                        if databases else ())),
       "--name", "alice", data=home, env=env)
    ok("publish", data=home, env=env)
    assert held(second) == {"followers": 3, "pending": 1}
    again = json.loads((home / "activitypub-handed.json").read_bytes())
    assert again == {first.url: handed[first.url], second.url: handed[first.url]}

    # a new follower reaches both with the next publish
    add(4)
    ok("publish", data=home, env=env)
    assert held(first) == held(second) == {"followers": 4, "pending": 1}

    async def listed(ctx: Context) -> list[str]:
        (site,) = await records.sites(ctx)
        return [r["actor"] for r in await records.list_followers(ctx, site)]
    assert sorted(run_blocking(settings, listed) or []) == sorted(actor(n) for n in range(5))
