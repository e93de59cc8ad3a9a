"""Bearer tokens and delegations through the real CLI against real providers on loopback (each
``homeport provider serve`` a process of its own, on SQLite or PostgreSQL): a token works at
every provider within 10 s of ``tokens create`` and is refused everywhere within 10 s of
``tokens revoke``; a provider that was down gets the list with the next publish; delegations
are listed and revoked with ``homeport providers delegations``.

Whether a provider honours a token is asked over HTTP of its Micropub endpoint (``q=config``,
answered at the provider for a valid token, 401 otherwise) and of its ``Grants`` port over its
own database, the check every endpoint makes on each request."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from homeport.crypto.delegations import INDIEAUTH_TOKENS
from homeport.interop.ports import Delegation, TokenGrant
from homeport.provider.db import ProviderDB
from homeport.provider.grants import ProviderGrants
from homeport.provider.inbox import ProviderInbox
from homeport.settings import load_settings
from homeport.testing.live import free_port, stop_process, wait_ready

from .provider_support import BASE, Provider, provider_env
from .repo_support import cli, cli_env, init, ok

WITHIN = 10.0


def invite(provider: Provider) -> str:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "homeport",
            "provider",
            "invite",
            "--json",
            "--data",
            str(provider.data),
        ],
        capture_output=True,
        timeout=60,
        env={**provider_env(), **provider.env},
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    return str(json.loads(done.stdout)["code"])


class Seen:
    """One provider's Grants port over its own database (what its endpoints ask)."""

    def __init__(self, provider: Provider) -> None:
        database = provider.env.get("HOMEPORT_PROVIDER_DATABASE", "")
        self.settings = load_settings(provider.data, base_domain=BASE, provider_database=database)
        self.db = ProviderDB(provider.data, database)
        self.grants = ProviderGrants(self.db, self.settings, lambda: int(time.time() * 1000))

    def token(self, secret: str) -> TokenGrant | None:
        return self.grants.token("alice", secret)

    def delegation(self, power: str) -> Delegation | None:
        return self.grants.delegation("alice", power)


def micropub(provider: Provider, token: str) -> int:
    """The status of ``GET /_homeport/micropub?q=config`` on alice's site with this token."""
    return httpx.get(
        f"{provider.url}/_homeport/micropub?q=config",
        headers={"Host": f"alice.{BASE}", "Authorization": f"Bearer {token}"},
        timeout=10,
    ).status_code


def until(check: object, timeout: float = WITHIN) -> float:
    """Seconds until ``check()`` is true; fails after ``timeout``."""
    start = time.monotonic()
    while True:
        if check():  # type: ignore[operator]
            return time.monotonic() - start
        assert time.monotonic() - start < timeout, "not within 10 s"
        time.sleep(0.1)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def providers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[Provider]]:
    started: list[Provider] = []
    try:
        for n in (1, 2):
            env = {}
            if request.param == "postgresql":
                env["HOMEPORT_PROVIDER_DATABASE"] = (
                    request.getfixturevalue("fresh_postgres_url")
                    if n == 1
                    else _second_database(request)
                )
            started.append(
                Provider(tmp_path / f"provider{n}", tmp_path / f"provider{n}.log", env=env)
            )
            started[-1].start()
        yield started
    finally:
        for provider in started:
            provider.stop()


def _second_database(request: pytest.FixtureRequest) -> str:
    server = request.getfixturevalue("_postgres_server")
    import secrets

    url: str = server.create_database(f"grants_{secrets.token_hex(4)}")
    return url


@pytest.fixture
def home(tmp_path: Path, providers: list[Provider]) -> Path:
    data = tmp_path / "home"
    init(data)
    for provider in providers:
        ok("providers", "add", provider.url, invite(provider), "--name", "alice", data=data)
    return data


def test_tokens_create_list_revoke_at_every_provider(home: Path, providers: list[Provider]) -> None:
    seen = [Seen(p) for p in providers]
    try:
        made = json.loads(
            ok(
                "tokens",
                "create",
                "--scope",
                "create update delete media",
                "--client-id",
                "https://app.example/",
                "--expires",
                "30d",
                "--json",
                data=home,
            )
        )
        assert set(made) >= {"id", "token", "scope", "expires"}
        assert made["scope"] == "create delete media update"
        assert made["expires"] > time.time() * 1000 + 29 * 86_400_000
        assert all(row["ok"] for row in made["providers"])
        for provider in providers:
            took = until(lambda p=provider: micropub(p, made["token"]) == 200)
            assert took < WITHIN
            assert micropub(provider, made["token"][:-1] + "A") == 401
        for at in seen:
            until(lambda at=at: at.token(made["token"]) is not None)
            grant = at.token(made["token"])
            assert grant is not None and grant.id == made["id"]
            assert grant.scope == {"create", "update", "delete", "media"}
            assert grant.client_id == "https://app.example/"
            assert at.token(made["token"][:-1] + "A") is None

        listed = json.loads(ok("tokens", "list", "--json", data=home))
        assert [(r["id"], r["state"], r["scope"]) for r in listed] == [
            (made["id"], "active", "create delete media update")
        ]
        assert made["token"] not in json.dumps(listed)  # the secret is shown once, never again
        assert "hash" not in json.dumps(listed)

        ok("tokens", "revoke", made["id"], data=home)
        for provider in providers:
            until(lambda p=provider: micropub(p, made["token"]) == 401)
        for at in seen:
            until(lambda at=at: at.token(made["token"]) is None)
        listed = json.loads(ok("tokens", "list", "--json", data=home))
        assert listed[0]["state"] == "revoked"
        assert "revoked" in ok("tokens", "list", data=home)
    finally:
        for at in seen:
            at.db.close()


def test_a_provider_that_was_down_gets_tokens_with_the_next_publish(
    home: Path, providers: list[Provider]
) -> None:
    providers[1].stop()
    made = cli("tokens", "create", "--scope", "create", "--json", data=home)
    assert made.code == 0, made.err
    assert providers[1].url in made.err and "next publish" in made.err
    secret = json.loads(made.out)["token"]
    providers[1].start()
    up, down = Seen(providers[0]), Seen(providers[1])
    try:
        assert up.token(secret) is not None
        assert down.token(secret) is None
        ok("publish", "--json", data=home)
        assert down.token(secret) is not None
    finally:
        up.db.close()
        down.db.close()


def test_bad_token_commands_say_what_is_wrong(home: Path) -> None:
    for args, words in [
        (["tokens", "create", "--scope", ""], "at least one scope"),
        (["tokens", "create", "--scope", "create", "--expires", "soon"], "not a duration"),
        (["tokens", "create", "--scope", "create", "--client-id", "javascript:x"], "URL"),
        (["tokens", "revoke", "nope-nope-nope"], "no token"),
    ]:
        run = cli(*args, data=home)
        assert run.code == 1, (args, run.out)
        assert words in run.err and "Traceback" not in run.err, run.err
    assert json.loads(ok("tokens", "list", "--json", data=home)) == []


def _delegate(home: Path, provider_url: str) -> str:
    """A delegation as the IndieAuth setup makes it (``services.grants``), on the home's store."""
    script = (
        "import asyncio, sys\n"
        "from homeport.cli.build import _with_context\n"
        "from homeport.services import grants\n"
        "from homeport.settings import load_settings\n"
        "async def work(ctx):\n"
        f"    r = await grants.create_delegation(ctx, {provider_url!r}, {INDIEAUTH_TOKENS!r},\n"
        "        {'scopes': ['create']}, expires_in=86_400_000)\n"
        "    print(r['id'])\n"
        f"asyncio.run(_with_context(load_settings(__import__('pathlib').Path({str(home)!r})),"
        " work))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, timeout=60, env=cli_env(), check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode().strip()


def test_delegations_listed_and_revoked(home: Path, providers: list[Provider]) -> None:
    grant_id = _delegate(home, providers[0].url)
    ok("publish", "--json", data=home)  # a publish hands the providers the list
    first, second = Seen(providers[0]), Seen(providers[1])
    try:
        found = first.delegation(INDIEAUTH_TOKENS)
        assert found is not None and found.id == grant_id
        assert found.params == {"scopes": ["create"]}
        assert second.delegation(INDIEAUTH_TOKENS) is None  # granted to one provider only
        # a token the provider issues under it is reported to the home and revocable there
        secret, issued = first.grants.issue_token("alice", ["create"])
        assert first.token(secret) is not None
        ok("publish", "--json", data=home)
        tokens = json.loads(ok("tokens", "list", "--json", data=home))
        assert [(t["id"], t["source"]) for t in tokens] == [(issued.id, providers[0].url)]
        ok("tokens", "revoke", issued.id, data=home)
        assert first.token(secret) is None

        rows = json.loads(ok("providers", "delegations", "list", "--json", data=home))
        assert [(r["id"], r["power"], r["state"]) for r in rows] == [
            (grant_id, INDIEAUTH_TOKENS, "active")
        ]
        assert cli("tokens", "revoke", grant_id, data=home).code == 1  # not a token
        ok("providers", "delegations", "revoke", grant_id, data=home)
        until(lambda: first.delegation(INDIEAUTH_TOKENS) is None)
        rows = json.loads(ok("providers", "delegations", "list", "--json", data=home))
        assert rows[0]["state"] == "revoked"
    finally:
        first.db.close()
        second.db.close()


def start_home(data: Path, log: Path) -> subprocess.Popen[bytes]:
    """``homeport serve`` with its relays to the providers (on by default)."""
    port = free_port()
    env = {**cli_env(), "HOMEPORT_ADMIN_PASSWORD": "grants-test-pw"}
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "homeport", "serve", "--data", str(data), "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    try:
        wait_ready(f"http://127.0.0.1:{port}/v1/__heartbeat__", [proc], log)
    except BaseException:
        stop_process(proc)
        raise
    return proc


def test_beside_homeport_serve(home: Path, providers: list[Provider], tmp_path: Path) -> None:
    """A provider that missed a token gets it when the home's relay connects; the CLI works
    beside the running home; a token a provider issues reaches the home's list by the relay."""
    providers[1].stop()
    made = json.loads(ok("tokens", "create", "--scope", "create", "--json", data=home))
    providers[1].start()
    assert micropub(providers[1], made["token"]) == 401
    served = start_home(home, tmp_path / "home.log")
    try:
        until(lambda: micropub(providers[1], made["token"]) == 200)  # handed on connecting

        beside = json.loads(ok("tokens", "create", "--scope", "media", "--json", data=home))
        for provider in providers:
            until(lambda p=provider: micropub(p, beside["token"]) == 200)
        ok("tokens", "revoke", beside["id"], data=home)
        for provider in providers:
            until(lambda p=provider: micropub(p, beside["token"]) == 401)

        grant_id = _delegate(home, providers[0].url)
        ok("publish", "--json", data=home)
        at = Seen(providers[0])
        try:
            inbox = ProviderInbox(at.db, 1000, 10**8, at.grants.clock)
            issuing = ProviderGrants(at.db, at.settings, at.grants.clock, inbox=inbox)
            assert issuing.delegation("alice", INDIEAUTH_TOKENS) is not None
            _, issued = issuing.issue_token("alice", ["create"], client_id="https://app.example/")
        finally:
            at.db.close()

        def listed() -> bool:
            rows = json.loads(ok("tokens", "list", "--json", data=home))
            return issued.id in {r["id"] for r in rows}

        until(listed)  # by the inbox item, with no publish in between
        assert grant_id
    finally:
        stop_process(served)
