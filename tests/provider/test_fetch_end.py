"""A fetch's answer that a provider cuts short (a pack read failing once the answer has begun)
must not read as objects the provider lacks. The provider ends such an answer early, and
Caddy 2.6 (Debian's) ends an answer its upstream broke off as if it were whole, so the answer
carries an end mark, announced in a header, and the home asks again for what did not come.
The CI failure this answers: ``verify --provider`` named two dozen objects "missing" behind
Caddy under load, and a restore through the front found "its head commit is missing"."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from homeport.provider import receive
from homeport.repo.bundle import FETCH_END, FETCH_END_HEADER, read_frames
from homeport.repo.repository import Repository
from homeport.store.protocols import ObjectStoreError
from homeport.sync.auth import origin
from homeport.sync.client import Credentials, ProviderClient, ProviderError, Spec
from homeport.testing.browser import in_ci
from homeport.testing.caddy import Front, caddy_binary

from .conftest import World
from .test_restore_fetch import published


class Counting(ProviderClient):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.fetches = 0

    def send(self, spec: Spec, stream: bool = False) -> httpx.Response:
        self.fetches += spec.path == "/objects/fetch"
        return super().send(spec, stream)


def failing_reads(monkeypatch: pytest.MonkeyPatch, times: int, after: int = 3) -> None:
    """The provider's next ``times`` fetches fail after ``after`` objects, as a pack read from
    S3 fails when its retries are spent; every frame is a piece of its own, so the answer has
    begun when the read fails."""
    monkeypatch.setattr(receive, "FETCH_PIECE", 1)
    raw_many = Repository.raw_many
    left = [times]

    def flaky(self: Repository, ids: list[bytes]) -> Iterator[tuple[bytes, bytes]]:
        failing = left[0] > 0
        left[0] -= 1
        for n, item in enumerate(raw_many(self, ids)):
            if failing and n == after:
                raise ObjectStoreError("S3 GET pack: failed after 4 tries (timed out)", True)
            yield item

    monkeypatch.setattr(Repository, "raw_many", flaky)


def everything(world: World, name: str) -> tuple[Any, list[bytes]]:
    home = published(world, name)
    ids = [row[0] for row in home.repo.db.execute("SELECT id FROM objects").fetchall()]
    return home, [bytes(i) for i in ids]


def client_at(url: str, home: Any, http: httpx.Client) -> Counting:
    return Counting(url, Credentials(home.did, home.key), http)


def test_the_answer_ends_with_a_mark_only_for_a_client_that_asks(world: World) -> None:
    home, ids = everything(world, "erin")
    plain = home.request(world.client, "POST", "/objects/fetch", {"ids": [i.hex() for i in ids]})
    assert plain.status_code == 200 and FETCH_END_HEADER not in plain.headers
    assert {oid for oid, _ in read_frames(plain.content)} == set(ids)  # an older home reads it

    marked = home.request(
        world.client, "POST", "/objects/fetch", {"ids": [i.hex() for i in ids], "end": True}
    )
    assert marked.headers[FETCH_END_HEADER] == "1"
    mark = 1 + FETCH_END.size
    assert marked.content[:-mark] == plain.content
    assert marked.content[-mark:] == b"E" + FETCH_END.pack(len(ids))


def test_a_broken_answer_is_asked_again_for_the_rest(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    home, ids = everything(world, "fred")
    client = client_at(str(world.client.base_url), home, world.client)
    failing_reads(monkeypatch, times=1)

    with caplog.at_level(logging.WARNING, "homeport.provider"):
        got = client.fetch(ids)

    assert set(got) == set(ids) and client.fetches == 2
    assert "fetch for fred ended early: S3 GET pack" in caplog.text


def test_an_answer_broken_every_time_is_an_error_not_missing_objects(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, ids = everything(world, "gina")
    client = client_at(str(world.client.base_url), home, world.client)
    failing_reads(monkeypatch, times=10)

    with pytest.raises(ProviderError, match="cut short") as raised:
        client.fetch(ids)
    assert raised.value.code == "bad-answer" and client.fetches == 3


@pytest.fixture
def front(world: World) -> Iterator[Front]:
    if caddy_binary() is None:
        if in_ci():
            pytest.fail("caddy not installed: run scripts/install", pytrace=False)
        pytest.skip("caddy not installed: run scripts/install")
    port = int(str(world.client.base_url).rsplit(":", 1)[1].rstrip("/"))
    with Front([port]) as proxy:
        yield proxy


def test_an_answer_a_proxy_ended_as_if_whole_is_seen_cut(
    world: World, front: Front, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, ids = everything(world, "hugo")
    with httpx.Client(timeout=30) as http:
        client = client_at(front.url, home, http)
        client.audience = origin(f"https://{world.settings.base_domain}")  # behind a proxy
        failing_reads(monkeypatch, times=1)
        assert set(client.fetch(ids)) == set(ids) and client.fetches == 2

        failing_reads(monkeypatch, times=10)
        client.fetches = 0
        with pytest.raises(ProviderError, match="cut short") as raised:
            client.fetch(ids)
        assert raised.value.code == "bad-answer" and client.fetches == 3
