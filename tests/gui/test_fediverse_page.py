"""The Fediverse page in process: followers the provider relayed (pending first: approve,
decline; accepted: remove, block), each decision written at home and handed to the provider
(a loopback stand-in that records the signed requests), and a like, a boost and a reply by a
post's URL (the post and its author looked up on a loopback server); CSRF on every action."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from homeport import jsonio
from homeport.content import followers, sites
from homeport.crypto import httpsig
from homeport.interop.activitypub import home as fediverse
from homeport.interop.ports import InboxItem
from homeport.services import fediverse as fediverse_keys
from homeport.settings import Settings
from homeport.sync import providers
from homeport.testing.webhost import Answer, Hit, WebHost

SITE = "my-corner"
ADDRESS = "https://my-corner.example.test/"
ACTOR = ADDRESS + "activitypub/actor"
CALLS = "/_homeport/v1/activitypub"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, fetch_allow_private=True)  # the remote server is on loopback


@pytest.fixture
def web() -> Iterator[WebHost]:
    with WebHost() as host:
        host.routes[CALLS] = lambda hit: Answer(200, b'{"ok": true}',
                                                content_type="application/json")
        yield host


def as2(host: WebHost, path: str, doc: dict[str, Any]) -> None:
    host.page(path, jsonio.dumps(doc).decode(), content_type="application/activity+json")


def follow(client: Any, actor: str, state: str) -> None:
    activity = {"id": actor + "#follow", "type": "Follow", "actor": actor, "object": ACTOR}
    item = InboxItem("ap-" + actor, "activitypub.follow", {"actor": actor, "state": state},
                     jsonio.dumps(activity), 0)
    client.portal.call(fediverse.follow, client.app.state.ctx, item)


def calls(web: WebHost) -> list[dict[str, Any]]:
    found = []
    for hit in web.received(CALLS):
        assert hit.headers["Authorization"].startswith("Homeport ")  # signed by the home
        found.append(jsonio.loads(hit.body))
    return found


def test_followers_are_approved_removed_and_blocked(gui: Any, client: Any, web: WebHost) -> None:
    gui.wizard(client)
    providers.save(client.app.state.ctx.settings.data_dir,
                   [{"url": web.url, "tenant": "my-corner", "site": ADDRESS, "enrolled": 0}])
    ann, bob = f"{web.url}/users/ann", f"{web.url}/users/bob"
    follow(client, ann, "pending")
    follow(client, bob, "accepted")
    page = client.get("/admin/fediverse").text
    assert "@my-corner@my-corner.example.test" in page
    assert "@ann@127.0.0.1" in page.split("Waiting for approval")[1].split("Followers (")[0]
    assert "Followers (1)" in page
    token = gui.csrf_of(page)
    ctx = client.app.state.ctx
    rows = client.portal.call(followers.list_followers, ctx, SITE)
    [ann_row] = [r for r in rows if r["actor"] == ann]  # same clock: listed by id, not time

    refused = client.post("/admin/fediverse/approve", data={"csrf": "x", "id": ann_row["id"]})
    assert refused.status_code == 403 and calls(web) == []
    done = client.post("/admin/fediverse/approve", data={"csrf": token, "id": ann_row["id"]})
    assert "Approved @ann@127.0.0.1" in done.text
    assert calls(web) == [{"decide": {"actor": ann, "state": "accepted"}}]
    states = {r["actor"]: r["state"] for r in client.portal.call(
        followers.list_followers, ctx, SITE)}
    assert states == {ann: "accepted", bob: "accepted"}

    client.post("/admin/fediverse/remove", data={"csrf": token, "id": ann_row["id"]})
    assert calls(web)[-1] == {"decide": {"actor": ann, "state": "removed"}}
    blocked = client.post("/admin/fediverse/block", data={"csrf": token, "target": bob})
    assert f"Blocked {bob}" in blocked.text
    assert calls(web)[-2:] == [{"blocks": [bob]}, {"decide": {"actor": bob, "state": "removed"}}]
    assert client.portal.call(followers.list_followers, ctx, SITE) == []
    bad = client.post("/admin/fediverse/block", data={"csrf": token, "target": "not a thing"})
    assert "neither an actor" in bad.text
    missing = client.post("/admin/fediverse/approve", data={"csrf": token, "id": "fnone"})
    assert "no such follower" in missing.text


def test_like_boost_and_reply_by_url(gui: Any, client: Any, web: WebHost) -> None:
    gui.wizard(client)
    providers.save(client.app.state.ctx.settings.data_dir,
                   [{"url": web.url, "tenant": "my-corner", "site": ADDRESS, "enrolled": 0}])
    bob = f"{web.url}/users/bob"
    post = f"{web.url}/users/bob/statuses/9"
    # bob's server answers only fetches signed by the site's actor (authorized fetch)
    signed: list[str] = []

    def authorized(doc: dict[str, Any]) -> Any:
        def answer(hit: Hit) -> Answer:
            if "Signature" not in hit.headers:
                return Answer(401, b'{"error": "Request not signed"}',
                              content_type="application/json")
            key = client.portal.call(fediverse_keys.find_key, client.app.state.ctx, SITE)
            parsed = httpsig.parse(hit.headers.items())
            assert parsed.key_id == ACTOR + "#main-key"
            httpsig.verify(parsed, httpsig.load_public_key(key.public_pem), "GET",
                           web.url + hit.path, hit.headers, b"", time.time())
            signed.append(hit.path)
            return Answer(200, jsonio.dumps(doc), content_type="application/activity+json")
        return answer

    web.routes["/@bob/9"] = authorized({"id": post, "type": "Note", "attributedTo": bob,
                                        "url": f"{web.url}/@bob/9", "content": "<p>Hi</p>"})
    web.routes["/users/bob"] = authorized({"id": bob, "type": "Person", "inbox": bob + "/inbox",
                                           "endpoints": {"sharedInbox": f"{web.url}/inbox"}})
    token = gui.csrf_of(client.get("/admin/fediverse").text)

    liked = client.post("/admin/fediverse/interact", data={
        "csrf": token, "kind": "like", "url": f"{web.url}/@bob/9"})
    assert "Liked" in liked.text
    [sent] = calls(web)
    assert sent["to"] == [bob + "/inbox"]
    assert sent["activity"]["type"] == "Like" and sent["activity"]["object"] == post
    assert sent["activity"]["actor"] == ACTOR
    assert signed == ["/@bob/9", "/users/bob"]
    client.post("/admin/fediverse/interact", data={
        "csrf": token, "kind": "boost", "url": f"{web.url}/@bob/9"})
    assert calls(web)[-1]["activity"]["type"] == "Announce"

    replied = client.post("/admin/fediverse/interact", data={
        "csrf": token, "kind": "reply", "url": f"{web.url}/@bob/9", "text": "Hello *Bob*"})
    assert "Replied to @bob@127.0.0.1" in replied.text
    create = calls(web)[-1]["activity"]
    assert create["type"] == "Create" and create["object"]["inReplyTo"] == post
    assert create["object"]["id"].startswith(ADDRESS + "notes/")
    assert {"type": "Mention", "href": bob, "name": "@bob@127.0.0.1"} in create["object"]["tag"]
    [note] = client.portal.call(sites.list_entries, client.app.state.ctx, SITE, "note")
    assert note.data["reply_to"] == post

    before = len(calls(web))
    for form in ({"kind": "like", "url": "javascript:alert(1)"},
                 {"kind": "like", "url": f"{web.url}/nothing"},
                 {"kind": "reply", "url": f"{web.url}/@bob/9", "text": " "},
                 {"kind": "shout", "url": f"{web.url}/@bob/9"}):
        answer = client.post("/admin/fediverse/interact", data={"csrf": token, **form})
        assert answer.status_code == 200, form
    assert len(calls(web)) == before  # nothing sent for any of them

    web.routes[CALLS] = lambda hit: Answer(503, b'{"error": "down"}',
                                           content_type="application/json")
    down = client.post("/admin/fediverse/interact", data={
        "csrf": token, "kind": "reply", "url": f"{web.url}/@bob/9", "text": "Anyone?"})
    assert "did not take it (your reply is kept as a note of your site)" in down.text


def test_without_a_provider_it_says_so(gui: Any, client: Any, web: WebHost) -> None:
    gui.wizard(client)
    token = gui.csrf_of(client.get("/admin/fediverse").text)
    answer = client.post("/admin/fediverse/interact", data={
        "csrf": token, "kind": "like", "url": f"{web.url}/@bob/9"})
    assert "on no provider yet" in answer.text


