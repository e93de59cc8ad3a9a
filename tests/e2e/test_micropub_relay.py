"""Micropub between real processes: ``provider serve`` takes posts while the home is off
(202 with the URL each will have), ``homeport serve`` starts later, its relay drains the inbox
in order and the posts are entries at the promised URLs, photos and updates included."""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from homeport.content import sites
from homeport.provider.db import ProviderDB
from homeport.provider.inbox import ProviderInbox
from homeport.services.context import Context
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.open import open_record_store
from homeport.testing.live import start_home

from .provider_support import BASE, Provider
from .repo_support import cli_env, init, ok

HOST = f"alice.{BASE}"


def entries(home: Path) -> list[sites.Entry]:
    async def read() -> list[sites.Entry]:
        store = open_record_store(f"sqlite:///{home / 'homeport.sqlite'}")
        await store.initialize()
        try:
            ctx = Context(Settings(data_dir=home), store, FsBlobStore(home / "blobs"))
            return await sites.list_entries(ctx, "site")
        finally:
            await store.close()

    return asyncio.run(read())


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (900, 600), "purple").save(buffer, "JPEG")
    return buffer.getvalue()


def token_for(home: Path, scope: str) -> str:
    """A token from ``homeport tokens create``, pushed to the providers by the command."""
    doc = json.loads(ok("tokens", "create", "--scope", scope, "--json", data=home))
    assert not [p for p in doc["providers"] if p.get("error")], doc
    return str(doc["token"])


def post(client: httpx.Client, token: str, **kw: Any) -> httpx.Response:
    return client.post("/_homeport/micropub", headers={"Authorization": f"Bearer {token}"}, **kw)


@pytest.mark.timeout(240)
def test_posts_sent_while_the_home_is_off_are_applied_when_it_starts(tmp_path: Path) -> None:
    provider = Provider(tmp_path / "provider", tmp_path / "provider.log").start()
    home = tmp_path / "home"
    init(home)
    ok("add", "note", "Before Micropub", data=home)
    ok("providers", "add", provider.url, provider.invite(), "--name", "alice", data=home)
    db = ProviderDB(provider.data)
    box = ProviderInbox(db, 1000, 1 << 26, clock=lambda: int(time.time() * 1000))
    try:
        token = token_for(home, "create update media")
        with httpx.Client(base_url=provider.url, headers={"Host": HOST}, timeout=30) as client:
            upload = client.post(
                "/_homeport/media",
                files={"file": ("p.jpg", jpeg())},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert upload.status_code == 201, upload.text
            note = post(
                client,
                token,
                data={
                    "h": "entry",
                    "content": "Sent while asleep",
                    "category": ["relay", "micropub"],
                },
            )
            photo = post(
                client,
                token,
                json={
                    "type": ["h-entry"],
                    "properties": {
                        "content": ["A purple photo"],
                        "photo": [upload.headers["location"]],
                    },
                },
            )
            article = post(
                client,
                token,
                json={
                    "type": ["h-entry"],
                    "properties": {
                        "name": ["An article"],
                        "content": ["Body"],
                        "mp-slug": ["an-article"],
                    },
                },
            )
            update = post(
                client,
                token,
                json={
                    "action": "update",
                    "url": note.headers["location"],
                    "replace": {"content": ["Edited while asleep"]},
                },
            )
        assert [r.status_code for r in (note, photo, article, update)] == [202, 202, 202, 202]
        assert article.headers["location"] == f"https://{HOST}/articles/an-article/"
        assert box.usage("alice")[0] == 5  # the upload and four requests wait

        env = {**cli_env(), "HOMEPORT_ADMIN_PASSWORD": "micropub-e2e"}
        live = start_home(home, env, log=tmp_path / "home.log")
        try:
            deadline = time.monotonic() + 60
            while box.usage("alice")[0] > 0:
                assert time.monotonic() < deadline, "the home did not drain its inbox"
                time.sleep(0.1)
        finally:
            live.stop()
    finally:
        db.close()
        provider.stop()

    by_path = {e.path: e for e in entries(home)}
    promised = [
        r.headers["location"].removeprefix(f"https://{HOST}") for r in (note, photo, article)
    ]
    assert set(promised) <= set(by_path)
    first = by_path[promised[0]]
    assert first.data["text"] == "Edited while asleep"
    assert first.data["tags"] == ["relay", "micropub"]
    assert by_path[promised[1]].type == "photo"
    assert by_path[promised[1]].data["image"]["width"] == 900
    assert by_path[promised[2]].data["title"] == "An article"
    assert len(by_path) == 4  # the note made before, and nothing twice


@pytest.mark.timeout(300)
def test_kill_9_while_draining_posts_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    """40 posts queued while the home is off; the home is killed with SIGKILL as soon as it has
    applied some, then started again: every post is an entry once, at the URL promised."""
    import signal

    provider = Provider(tmp_path / "provider", tmp_path / "provider.log").start()
    home = tmp_path / "home"
    init(home)
    ok("add", "note", "Before Micropub", data=home)
    ok("providers", "add", provider.url, provider.invite(), "--name", "alice", data=home)
    db = ProviderDB(provider.data)
    box = ProviderInbox(db, 1000, 1 << 26, clock=lambda: int(time.time() * 1000))
    env = {**cli_env(), "HOMEPORT_ADMIN_PASSWORD": "micropub-e2e"}
    try:
        token = token_for(home, "create")
        from concurrent.futures import ThreadPoolExecutor

        def one(n: int) -> str:  # no home connected: each is answered 202 at once
            with httpx.Client(base_url=provider.url, headers={"Host": HOST}, timeout=30) as client:
                answer = post(client, token, data={"h": "entry", "content": f"Post {n}"})
            assert answer.status_code == 202, answer.text
            return answer.headers["location"].removeprefix(f"https://{HOST}")

        with ThreadPoolExecutor(20) as pool:
            promised = list(pool.map(one, range(40)))
        live = start_home(home, env, log=tmp_path / "home.log")
        try:
            deadline = time.monotonic() + 60
            while box.usage("alice")[0] >= 40:
                assert time.monotonic() < deadline, "the home applied nothing"
                time.sleep(0.01)
            live.proc.send_signal(signal.SIGKILL)
            live.proc.wait(10)
        finally:
            live.stop()
        live = start_home(home, env, log=tmp_path / "home.log")
        try:
            deadline = time.monotonic() + 60
            while box.usage("alice")[0] > 0:
                assert time.monotonic() < deadline, "the inbox was not drained"
                time.sleep(0.1)
        finally:
            live.stop()
    finally:
        db.close()
        provider.stop()
    made = [e for e in entries(home) if e.data["text"].startswith("Post ")]
    assert sorted(e.path for e in made) == sorted(promised)
    assert sorted(e.data["text"] for e in made) == sorted(f"Post {n}" for n in range(40))


@pytest.mark.timeout(240)
def test_with_the_home_online_a_post_is_live_when_201_comes(tmp_path: Path) -> None:
    """The whole path: Micropub at the provider → inbox → the home's relay → the entry →
    auto-publish → live at the provider, answered 201 with the page's URL within 10 s."""
    provider = Provider(tmp_path / "provider", tmp_path / "provider.log").start()
    home = tmp_path / "home"
    init(home)
    ok("add", "note", "Before Micropub", data=home)
    ok("providers", "add", provider.url, provider.invite(), "--name", "alice", data=home)
    ok("publish", data=home)
    token = token_for(home, "create")
    env = {**cli_env(), "HOMEPORT_ADMIN_PASSWORD": "micropub-e2e"}
    live = start_home(home, env, log=tmp_path / "home.log")
    db = ProviderDB(provider.data)
    try:
        # the provider waits for the home only once its relay polls (else 202 at once)
        box = ProviderInbox(db, 1, 1, clock=lambda: int(time.time() * 1000))
        deadline = time.monotonic() + 30
        while not box.connected("alice"):
            assert time.monotonic() < deadline, "the home's relay never polled"
            time.sleep(0.05)
        with httpx.Client(base_url=provider.url, headers={"Host": HOST}, timeout=30) as client:
            started = time.monotonic()
            answer = post(client, token, data={"h": "entry", "content": "Live from a phone"})
            took = time.monotonic() - started
            assert answer.status_code == 201, answer.text
            assert took < 10
            page = client.get(answer.headers["location"].removeprefix(f"https://{HOST}"))
            assert page.status_code == 200 and "Live from a phone" in page.text
    finally:
        db.close()
        live.stop()
        provider.stop()


@pytest.mark.timeout(180)
def test_a_full_inbox_answers_507_for_that_tenant_only(tmp_path: Path) -> None:
    """A provider keeping two items per tenant: Alice's home is off and her third post is
    refused with 507 (nothing queued), while Bob's site, on the same provider, still takes
    his."""
    provider = Provider(
        tmp_path / "provider", tmp_path / "provider.log", env={"HOMEPORT_INBOX_MAX_ITEMS": "2"}
    ).start()
    homes = {name: tmp_path / name for name in ("alice", "bob")}
    db = ProviderDB(provider.data)
    box = ProviderInbox(db, 1000, 1 << 26, clock=lambda: int(time.time() * 1000))
    try:
        tokens = {}
        for name, home in homes.items():
            init(home)
            ok("add", "note", f"{name} was here", data=home)
            ok("providers", "add", provider.url, provider.invite(), "--name", name, data=home)
            tokens[name] = token_for(home, "create")

        def send(name: str, text: str) -> httpx.Response:
            with httpx.Client(
                base_url=provider.url, headers={"Host": f"{name}.{BASE}"}, timeout=30
            ) as client:
                return post(client, tokens[name], data={"h": "entry", "content": text})

        assert [send("alice", f"Post {n}").status_code for n in range(2)] == [202, 202]
        full = send("alice", "One too many")
        assert full.status_code == 507, full.text
        assert full.json()["error"] == "insufficient_storage"
        assert "location" not in full.headers
        assert box.usage("alice")[0] == 2  # the refused post queued nothing
        assert send("bob", "Bob still posts").status_code == 202
        assert box.usage("bob")[0] == 1
    finally:
        db.close()
        provider.stop()
