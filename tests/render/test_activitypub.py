"""The AS2 documents a provider's build carries (``render/activitypub.py``): which entries are
federated and how, negotiation, WebFinger's matching, and that an edit re-renders only the
object and the outbox page that show it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from homeport.content import sites
from homeport.render import activitypub as ap
from homeport.render.build import build_site
from homeport.services import fediverse
from homeport.services.context import Context
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.memory import MemoryRecordStore
from tests.render.conftest import Built

BASE = "https://ada.example.org/"


def test_negotiation_picks_the_object_only_for_activitypub_clients() -> None:
    assert ap.wants_activity("application/activity+json")
    assert ap.wants_activity('application/ld+json; profile="https://www.w3.org/ns/activitystreams"')
    assert ap.wants_activity("text/html;q=0.1, application/activity+json")
    for browser in ("text/html,application/xhtml+xml,*/*;q=0.8", "*/*", "",
                    "application/activity+json;q=0, text/html",
                    "application/activity+json;q=0.5, text/html",
                    "application/activity+json;q=oops"):
        assert not ap.wants_activity(browser), browser


def test_webfinger_matches_the_user_at_the_asked_or_built_host() -> None:
    jrd = {"subject": "acct:ada@ada.example.org",
           "aliases": ["https://ada.example.org/activitypub/actor"], "links": []}
    ok = ap.webfinger_answer(jrd, "acct:ada@ada.example.org", "ada.example.org")
    assert ok is not None and ok["subject"] == "acct:ada@ada.example.org"
    other = ap.webfinger_answer(jrd, "acct:ADA@Ada.Dev.", "ada.dev")
    assert other is not None and other["subject"] == "acct:ada@ada.dev"
    assert ap.webfinger_answer(jrd, "https://ada.example.org/activitypub/actor", "x") == jrd
    for resource in ("acct:bob@ada.example.org", "acct:ada@evil.test", "ada", "acct:@",
                     "mailto:ada@ada.example.org"):
        assert ap.webfinger_answer(jrd, resource, "ada.example.org") is None, resource


def test_the_preview_build_has_no_activitypub(built: Built) -> None:
    assert not list(built.out.rglob("*.as2"))
    assert not (built.out / "activitypub").exists()


async def _site(data: Path) -> tuple[Context, Path, list[sites.Entry]]:
    ctx = Context(Settings(data_dir=data), MemoryRecordStore(), FsBlobStore(data / "blobs"))
    await sites.create_site(ctx, "ada", "Ada", "journal",
                            settings={"fediverse": {"username": "countess",
                                                    "manually_approves_followers": True,
                                                    "also_known_as": ["https://old.example/u/a"]}})
    notes = [await sites.add_entry(ctx, "ada", "note", {
        "text": f"Note {i}", "published": f"2026-01-{i + 1:02d}T10:00:00Z"}) for i in range(25)]
    reply = await sites.add_entry(ctx, "ada", "note", {
        "text": "Agreed, @bob!", "reply_to": "https://social.example/@bob/1",
        "mentions": [{"name": "@bob@social.example", "href": "https://social.example/users/bob"}],
        "pinned": True, "published": "2026-02-01T10:00:00Z"})
    out = data / "out"
    await build_site(ctx, "ada", out, BASE, live=True, workers=0)
    return ctx, out, [*notes, reply]


def _doc(out: Path, rel: str) -> dict[str, object]:
    found: dict[str, object] = json.loads((out / rel).read_bytes())
    return found


def test_a_provider_build_writes_the_actor_objects_and_pages(tmp_path: Path) -> None:
    ctx, out, entries = asyncio.run(_site(tmp_path))
    actor = _doc(out, "activitypub/actor.as2")
    assert actor["preferredUsername"] == "countess"
    assert actor["manuallyApprovesFollowers"] is True
    assert actor["alsoKnownAs"] == ["https://old.example/u/a"]
    key = asyncio.run(fediverse.site_key(ctx, "ada"))
    assert actor["publicKey"] == {"id": BASE + "activitypub/actor#main-key",
                                  "owner": BASE + "activitypub/actor",
                                  "publicKeyPem": key.public_pem}
    assert _doc(out, "activitypub/webfinger.json")["subject"] == "acct:countess@ada.example.org"
    outbox = _doc(out, "activitypub/outbox.as2")
    assert outbox["totalItems"] == 26 and outbox["last"] == BASE + "activitypub/outbox/page/2"
    page2 = _doc(out, "activitypub/outbox/page/2.as2")
    assert page2["prev"] == BASE + "activitypub/outbox/page/1" and "next" not in page2
    reply = entries[-1]
    obj = _doc(out, f"notes/{reply.data['slug']}/index.as2")
    assert obj["inReplyTo"] == "https://social.example/@bob/1"
    assert {"type": "Mention", "name": "@bob@social.example",
            "href": "https://social.example/users/bob"} in obj["tag"]  # type: ignore[operator]
    assert "https://social.example/users/bob" in obj["cc"]  # type: ignore[operator]
    featured = _doc(out, "activitypub/featured.as2")
    assert [o["id"] for o in featured["orderedItems"]] == [obj["id"]]  # type: ignore[attr-defined]


def test_an_edit_rewrites_its_object_and_one_outbox_page(tmp_path: Path) -> None:
    async def go() -> list[str]:
        ctx, out, entries = await _site(tmp_path)
        oldest = entries[0]
        await sites.update_entry(ctx, "ada", "note", oldest.id, {"text": "Note zero, edited"})
        result = await build_site(ctx, "ada", out, BASE, live=True, workers=0)
        return result.written

    written = set(asyncio.run(go()))
    assert "activitypub/outbox/page/2.as2" in written
    assert "activitypub/outbox/page/1.as2" not in written
    assert "activitypub/actor.as2" not in written
    assert len([w for w in written if w.endswith("index.as2")]) == 1


def test_the_actor_icon_header_and_follower_count_are_real(tmp_path: Path) -> None:
    from homeport.content import followers
    from homeport.content.media import Upload, store_image
    from tests.render.conftest import jpeg

    async def go() -> tuple[Path, list[str]]:
        ctx, out, _ = await _site(tmp_path)
        avatar = store_image(ctx, Upload("me.jpg", jpeg("red")))
        header = store_image(ctx, Upload("banner.jpg", jpeg("blue")))
        await sites.update_site(ctx, "ada", {"avatar": avatar,
                                             "fediverse": {"header": header}})
        for n, state in enumerate(("accepted", "accepted", "pending")):
            await followers.save_follower(ctx, "ada", f"https://s.example/users/u{n}", state, {})
        result = await build_site(ctx, "ada", out, BASE, live=True, workers=0)
        return out, result.written

    out, written = asyncio.run(go())
    actor = _doc(out, "activitypub/actor.as2")
    for field in ("icon", "image"):
        rel = str(actor[field]["url"]).removeprefix(BASE)  # type: ignore[index]
        assert (out / rel).is_file(), field
    assert _doc(out, "activitypub/followers.as2")["totalItems"] == 2
    assert "activitypub/followers.as2" in written


def test_a_members_only_entry_is_not_federated(tmp_path: Path) -> None:
    async def go() -> tuple[Path, str]:
        ctx, out, _ = await _site(tmp_path)
        gated = await sites.add_entry(ctx, "ada", "note", {"text": "Only for members: sesame",
                                                           "visibility": "members"})
        await build_site(ctx, "ada", out, BASE, live=True, workers=0)
        return out, gated.path

    out, path = asyncio.run(go())
    assert not (out / path.strip("/") / "index.as2").exists()
    for path in out.rglob("*.as2"):
        assert b"sesame" not in path.read_bytes(), path
    assert _doc(out, "activitypub/outbox.as2")["totalItems"] == 26
