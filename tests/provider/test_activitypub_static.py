"""A site's ActivityPub documents, rendered by the home into the snapshot, answered by the
provider: WebFinger (its own address and a verified custom domain), the actor, NodeInfo, and
each entry's AS2 object at the entry's own URL by content negotiation (both engines)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from homeport.content import sites
from homeport.render.build import build_site
from homeport.services.context import Context
from homeport.settings import Settings
from tests.provider.conftest import BASE, Home, World

HOST = f"alice.{BASE}"
ORIGIN = f"http://{HOST}"
AS2 = "application/activity+json"
MASTODON_ACCEPT = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def _publish_site(world: World, home: Home) -> dict[str, sites.Entry]:
    ctx = Context(Settings(data_dir=home.data), home.store, home.blobs)

    async def go() -> dict[str, sites.Entry]:
        await sites.create_site(ctx, home.site, "Alice's notes", "journal", settings={
            "author": "Alice", "description": "Tea & <code>.",
            "fediverse": {"fields": [{"name": "Site", "value": "https://alice.example/"}]}})
        note = await sites.add_entry(ctx, home.site, "note", {
            "text": "First toot, with *emphasis*.", "tags": ["tea time"],
            "content_warning": "hot drinks", "published": "2026-01-02T10:00:00Z"})
        article = await sites.add_entry(ctx, home.site, "article", {
            "title": "On kettles", "body": "Long [read](/notes/).", "summary": "Kettles.",
            "published": "2026-01-03T10:00:00Z"})
        await sites.add_entry(ctx, home.site, "page", {"title": "About", "body": "Me."})
        await build_site(ctx, home.site, home.sites_root / home.site, ORIGIN + "/", live=True)
        return {"note": note, "article": article}

    entries = asyncio.run(go())
    assert home.publish(world.client, home.snapshot()).status_code == 200
    return entries


@pytest.fixture
def published(world: World) -> tuple[Home, dict[str, sites.Entry]]:
    home = world.enrolled("alice")
    return home, _publish_site(world, home)


def _json(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def test_webfinger_finds_the_actor_and_nothing_else(
    world: World, published: tuple[Home, dict[str, sites.Entry]]
) -> None:
    found = world.get(HOST, f"/.well-known/webfinger?resource=acct:alice@{HOST}")
    assert found.headers["content-type"] == "application/jrd+json"
    assert found.headers["access-control-allow-origin"] == "*"
    jrd = _json(found)
    assert jrd["subject"] == f"acct:alice@{HOST}"
    assert {"rel": "self", "type": AS2, "href": f"{ORIGIN}/activitypub/actor"} in jrd["links"]
    by_url = world.get(HOST, f"/.well-known/webfinger?resource={ORIGIN}/activitypub/actor")
    assert _json(by_url)["subject"] == f"acct:alice@{HOST}"
    for resource, status in ((f"acct:bob@{HOST}", 404), ("acct:alice@elsewhere.test", 404),
                             ("", 400), ("acct:%ff%fe@x", 404), ("x" * 5000, 400)):
        answer = world.get(HOST, f"/.well-known/webfinger?resource={resource}")
        assert answer.status_code == status, resource
    assert world.get(HOST, "/.well-known/webfinger").status_code == 400


def test_webfinger_answers_on_a_verified_custom_domain(
    world: World, published: tuple[Home, dict[str, sites.Entry]]
) -> None:
    home, _ = published
    claim = home.request(world.client, "POST", "/domains", {"domain": "alice.example"})
    world.verifiers.txt["_homeport.alice.example"] = [f"homeport={claim.json()['token']}"]
    assert home.request(world.client, "POST", "/domains/verify",
                        {"domain": "alice.example"}).status_code == 200
    jrd = _json(world.get("alice.example",
                          "/.well-known/webfinger?resource=acct:alice@alice.example"))
    assert jrd["subject"] == "acct:alice@alice.example"
    assert jrd["links"][0]["href"] == f"{ORIGIN}/activitypub/actor"
    unverified = world.get("bob.example", "/.well-known/webfinger?resource=acct:alice@bob.example")
    assert unverified.status_code == 404


def test_the_actor_has_every_field_and_an_rsa_2048_key(
    world: World, published: tuple[Home, dict[str, sites.Entry]]
) -> None:
    answer = world.get(HOST, "/activitypub/actor", Accept=MASTODON_ACCEPT)
    assert answer.headers["content-type"] == AS2
    actor = _json(answer)
    assert actor["id"] == f"{ORIGIN}/activitypub/actor" and actor["type"] == "Person"
    assert actor["preferredUsername"] == "alice" and actor["name"] == "Alice"
    assert actor["summary"] == "<p>Tea &amp; &lt;code&gt;.</p>"
    assert actor["url"] == f"{ORIGIN}/"
    for name, path in (("inbox", "/_homeport/activitypub/inbox"),
                       ("outbox", "/activitypub/outbox"),
                       ("followers", "/activitypub/followers"),
                       ("following", "/activitypub/following"),
                       ("featured", "/activitypub/featured")):
        assert actor[name] == ORIGIN + path
    assert actor["endpoints"] == {"sharedInbox": f"{ORIGIN}/_homeport/activitypub/shared-inbox"}
    assert actor["manuallyApprovesFollowers"] is False and actor["discoverable"] is True
    assert actor["attachment"][0]["type"] == "PropertyValue"
    assert 'rel="me' in actor["attachment"][0]["value"]
    key = actor["publicKey"]
    assert key["id"] == actor["id"] + "#main-key" and key["owner"] == actor["id"]
    public = serialization.load_pem_public_key(key["publicKeyPem"].encode())
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 2048
    for path in ("/activitypub/outbox", "/activitypub/followers", "/activitypub/following",
                 "/activitypub/featured"):
        assert _json(world.get(HOST, path))["type"] == "OrderedCollection", path


def test_an_entry_url_is_its_page_or_its_object_by_accept(
    world: World, published: tuple[Home, dict[str, sites.Entry]]
) -> None:
    _, entries = published
    note_path = f"/notes/{entries['note'].data['slug']}/"
    page = world.get(HOST, note_path, Accept=BROWSER_ACCEPT)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Accept" in page.headers.get_list("vary")
    for accept in (MASTODON_ACCEPT, "application/ld+json",
                   "application/activity+json;q=0.9, text/html;q=0.5"):
        answer = world.get(HOST, note_path, Accept=accept)
        assert answer.headers["content-type"] == AS2, accept
        note = _json(answer)
        assert note["id"] == ORIGIN + note_path and note["type"] == "Note"
    assert note["summary"] == "hot drinks" and note["sensitive"] is True
    assert note["tag"][0] == {"type": "Hashtag", "name": "#teatime",
                              "href": f"{ORIGIN}/tags/tea-time/"}
    assert "<em>emphasis</em>" in note["content"]
    article_path = f"/articles/{entries['article'].data['slug']}/"
    article = _json(world.get(HOST, article_path, Accept=AS2))
    assert article["type"] == "Article" and article["name"] == "On kettles"
    assert f'href="{ORIGIN}/notes/"' in article["content"]  # root-relative links made absolute
    about = world.get(HOST, "/about/", Accept=AS2)
    assert about.headers["content-type"].startswith("text/html")  # pages are not federated
    outbox = _json(world.get(HOST, "/activitypub/outbox"))
    assert outbox["totalItems"] == 2
    first = _json(world.get(HOST, outbox["first"].removeprefix(ORIGIN)))
    creates = first["orderedItems"]
    assert [c["type"] for c in creates] == ["Create", "Create"]
    assert creates[0]["object"]["id"] == ORIGIN + article_path


def test_nodeinfo_names_the_software_and_the_posts(
    world: World, published: tuple[Home, dict[str, sites.Entry]]
) -> None:
    index = _json(world.get(HOST, "/.well-known/nodeinfo"))
    link = index["links"][0]
    assert link["rel"] == "http://nodeinfo.diaspora.software/ns/schema/2.1"
    info = _json(world.get(HOST, link["href"].removeprefix(ORIGIN)))
    assert info["version"] == "2.1" and info["software"]["name"] == "homeport"
    assert info["protocols"] == ["activitypub"] and info["usage"]["localPosts"] == 2


def test_a_site_without_a_provider_build_is_not_on_the_fediverse(
    world: World, alice: Home
) -> None:
    assert world.get(HOST, f"/.well-known/webfinger?resource=acct:alice@{HOST}"
                     ).status_code == 404
    assert world.get(HOST, "/activitypub/actor").status_code == 404
    assert _json(world.get(HOST, "/nodeinfo/2.1"))["usage"]["localPosts"] == 0


def test_the_provider_own_name_answers_nodeinfo_for_all_its_sites(
    world: World, published: tuple[Home, dict[str, sites.Entry]]
) -> None:
    world.enrolled("bob")
    index = _json(world.get(BASE, "/.well-known/nodeinfo"))
    assert index["links"][0]["href"] == f"http://{BASE}/nodeinfo/2.1"
    info = _json(world.get(BASE, "/nodeinfo/2.1"))
    assert info["usage"]["users"]["total"] == 2 and info["openRegistrations"] is False
    assert world.get(BASE, "/anything").status_code == 404
    assert world.get("stranger.test", "/nodeinfo/2.1").status_code == 404
