"""A reply from another (loopback) site, end to end between real processes: a home publishes a
note to a ``homeport provider serve``; a page on a source site replies to it and sends a
webmention to the provider, on the tenant's host; the provider verifies it and queues it in the
tenant's inbox; the running ``homeport serve`` takes it over its relay (pending); the owner
approves it with ``homeport mentions approve`` beside the running home; after a publish the
note's page at the provider shows it as a reply (read with mf2py). The source then answers 410:
the reply is removed everywhere."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import mf2py
import pytest

from homeport.interop import discovery
from homeport.testing.live import LiveHome, start_home
from homeport.testing.webmention import SourceServer

from .provider_support import BASE, Provider
from .repo_support import cli_env
from .test_providers import homeport

HOST = f"alice.{BASE}"
NOTE = f"http://{HOST}/notes/hello-world/"


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[Provider]:
    started = Provider(
        tmp_path / "provider",
        tmp_path / "provider.log",
        env={"HOMEPORT_FETCH_ALLOW_PRIVATE": "true"},
    ).start()
    try:
        yield started
    finally:
        started.stop()


def comments(provider: Provider) -> list[dict[str, Any]]:
    page = provider.page("alice", "/notes/hello-world/")
    assert page.status_code == 200
    doc = mf2py.parse(doc=page.text, url=NOTE)
    entry = next(i for i in doc["items"] if "h-entry" in i["type"])
    return list(entry["properties"].get("comment", []))


def settle(client: httpx.Client, status_url: str, seconds: float = 60) -> dict[str, Any]:
    """The webmention's status once verified and applied by the home (bounded wait)."""
    deadline = time.monotonic() + seconds
    while True:
        status: dict[str, Any] = client.get(urlsplit(status_url).path).json()
        if status["status"] == "rejected" or status.get("home") is not None:
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.1)


def send(client: httpx.Client, source: str, target: str = NOTE) -> dict[str, Any]:
    sent = client.post("/_homeport/webmention", data={"source": source, "target": target})
    assert sent.status_code == 202, sent.text
    status_url = str(sent.json()["status_url"])
    assert status_url.startswith(f"http://{HOST}/_homeport/webmention/status/")
    return settle(client, status_url)


def publish(home: Path) -> None:
    assert all(row["ok"] for row in json.loads(homeport("publish", "--json", data=home)))


@pytest.mark.timeout(300)
def test_a_reply_from_another_site_shows_on_the_entry_once_approved(
    tmp_path: Path, provider: Provider
) -> None:
    home = tmp_path / "home"
    homeport("init", "--json", data=home)
    homeport("add", "note", "Hello world", data=home)
    homeport("providers", "add", provider.url, provider.invite(), "--name", "alice", data=home)
    publish(home)
    assert comments(provider) == []

    # what a sender does first: discover the endpoint from the entry's page (spec, 3.1.2)
    # the Link header and the <link> resolve to the same endpoint, on the address the page
    # was reached at (here plain HTTP, the Host header naming no port)
    page = provider.page("alice", "/notes/hello-world/")
    reached = f"http://{HOST}/notes/hello-world/"
    advertised = [
        urljoin(reached, found)
        for found in (
            discovery.from_headers(page.headers.get_list("link"), "webmention"),
            discovery.from_html(page.text, "webmention"),
        )
        if found is not None
    ]
    assert advertised == [f"http://{HOST}/_homeport/webmention"] * 2

    env = {**cli_env(), "HOMEPORT_ADMIN_PASSWORD": "webmention-e2e"}
    running: LiveHome = start_home(home, env)
    client = httpx.Client(base_url=provider.url, headers={"Host": HOST}, timeout=10)
    try:
        with SourceServer() as source:
            reply = source.page(
                "/replies/1",
                (
                    '<article class="h-entry"><span class="p-author h-card">'
                    '<a class="u-url p-name" href="/">Bob Bobson</a></span>'
                    f'<p>In reply to <a class="u-in-reply-to" href="{NOTE}">Alice</a></p>'
                    '<div class="e-content">Welcome to the <em>IndieWeb</em>!</div></article>'
                ),
            )
            missing = client.post(
                "/_homeport/webmention", data={"source": reply, "target": f"http://{HOST}/notes/x/"}
            )
            assert missing.status_code == 400 and "not a page" in missing.json()["message"]

            status = send(client, reply)
            assert status["status"] == "accepted", status
            applied = status["home"]
            assert applied["status"] == "pending"

            [listed] = json.loads(homeport("mentions", "list", "--json", data=home))
            assert {k: listed[k] for k in ("id", "source", "target", "type", "status")} == {
                "id": applied["id"],
                "source": reply,
                "target": NOTE,
                "type": "reply",
                "status": "pending",
            }
            publish(home)
            assert comments(provider) == []  # pending: not published

            assert "Approved" in homeport("mentions", "approve", applied["id"], data=home)
            publish(home)
            [comment] = comments(provider)
            assert comment["type"] == ["h-cite"]
            author = comment["properties"]["author"][0]["properties"]
            assert author["name"] == ["Bob Bobson"]
            assert author["url"] == [source.url("/")]
            assert "<em>IndieWeb</em>" in comment["properties"]["content"][0]["html"]

            source.page("/replies/1", "deleted", status=410)
            gone = send(client, reply)
            assert gone["status"] == "removed" and gone["home"]["status"] == "removed"
            publish(home)
            assert comments(provider) == []
            assert json.loads(homeport("mentions", "list", "--json", data=home)) == []
    finally:
        client.close()
        running.stop()
    error = homeport("mentions", "approve", "wm-nope", data=home, check=False)
    assert "there is no mention 'wm-nope'" in error
    assert homeport("mentions", "list", data=home).strip() == "No mentions."
    error = homeport("mentions", "list", "--status", "bogus", data=home, check=False)
    assert "pending, approved, rejected" in error
