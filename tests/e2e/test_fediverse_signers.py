"""Which provider signs for the site (``interop/activitypub/homekey.py``), between real
processes: for each address the site is served at, the first provider of the home's list
serving it holds the ``activitypub-sign`` delegation and no other does; leaving that provider
moves the delegation to the next one on the same address with the next publish."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from homeport.interop.activitypub.delivery import SIGN_POWER
from homeport.services import grants as records
from homeport.services.context import Context, run_blocking
from homeport.settings import load_settings

from .provider_support import Provider
from .repo_support import cli_env, init, ok


@pytest.fixture
def providers(tmp_path: Path) -> Iterator[list[Provider]]:
    started: list[Provider] = []
    try:
        for n, base in enumerate(("example.test", "other.test", "example.test")):
            started.append(Provider(tmp_path / f"p{n}", tmp_path / f"p{n}.log",
                                    args=("--workers", "1", "--base-domain", base)).start())
        yield started
    finally:
        for provider in started:
            provider.stop()


def signers(home: Path) -> dict[str, str]:
    """provider URL → the key id of its active signing delegation."""

    async def read(ctx: Context) -> dict[str, str]:
        now = ctx.clock()
        return {str(g["audience"]): str(g["params"]["key_id"])
                for g in await records.list_grants(ctx)
                if g.get("power") == SIGN_POWER and records.state(g, now) == "active"}

    found: dict[str, Any] = run_blocking(load_settings(home), read) or {}
    return found


@pytest.mark.timeout(420)
def test_one_signer_per_address(tmp_path: Path, providers: list[Provider]) -> None:
    first, other, same = providers
    home = tmp_path / "home"
    env = cli_env()
    init(home, env)
    ok("add", "note", "Hello", data=home, env=env)
    for provider in providers:
        ok("providers", "add", provider.url, provider.invite(), "--name", "name",
           data=home, env=env)
    ok("publish", data=home, env=env)
    assert signers(home) == {
        first.url: "https://name.example.test/activitypub/actor#main-key",
        other.url: "https://name.other.test/activitypub/actor#main-key",
    }

    ok("providers", "remove", first.url, data=home, env=env)
    ok("add", "note", "Moved", "--private", data=home, env=env)
    ok("publish", data=home, env=env)
    assert signers(home) == {
        other.url: "https://name.other.test/activitypub/actor#main-key",
        same.url: "https://name.example.test/activitypub/actor#main-key",
    }
