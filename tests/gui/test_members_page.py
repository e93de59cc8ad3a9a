"""The Members page (in-process home): add tiers and members (comped), search, remove, export in
Ghost's columns, sign-ups and revenue per month, which provider serves members' content; bad
input refused with the reason and nothing written; the editor's visibility picker saves an
article for a tier and refuses a tier that does not exist."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from homeport.content import sites
from homeport.members import store


def test_members_page(client: Any, gui: Any) -> None:
    gui.wizard(client)
    page = client.get("/admin/members")
    assert page.status_code == 200 and "No tier yet" in page.text and "No member yet" in page.text
    csrf = gui.csrf_of(page.text)
    added = client.post("/admin/members/tiers", data={
        "csrf": csrf, "name": "Gold", "price": "6", "currency": "EUR", "interval": "month",
        "benefits": "Every essay\nA call a year"})
    assert added.status_code == 200 and "Tier gold added" in added.text
    assert 'data-id="gold"' in added.text and "6.00 EUR / month" in added.text
    refused = client.post("/admin/members/tiers", data={"csrf": csrf, "name": "Gold"})
    assert refused.status_code == 400 and "already a tier" in refused.text

    for data in ({"email": "ann@example.org", "tier": "gold", "comp": "on", "name": "Ann"},
                 {"email": "bo@example.org"}):
        done = client.post("/admin/members/add", data={"csrf": csrf, **data})
        assert done.status_code == 200 and "added" in done.text, done.text
    for bad, words in (({"email": "nope"}, "not an email"),
                       ({"email": "cy@example.org", "comp": "on"}, "tier to give"),
                       ({"email": "cy@example.org", "tier": "silver"}, "no tier"),
                       ({"email": "ann@example.org"}, "already a member")):
        answer = client.post("/admin/members/add", data={"csrf": csrf, **bad})
        assert answer.status_code == 400 and words in answer.text, (bad, answer.text)
    assert client.post("/admin/members/add", data={"email": "dee@example.org"}
                       ).status_code in (400, 403)  # no CSRF token
    ctx = client.app.state.ctx
    assert [m["email"] for m in asyncio.run(store.list_members(ctx))] == [
        "ann@example.org", "bo@example.org"]
    asyncio.run(store.update_member(ctx, "bo@example.org", {
        "tier": "gold", "status": "paid", "paid_until": ctx.clock() + 30 * 86_400_000}))

    listing = client.get("/admin/members")
    assert "(2)" in listing.text and "comped" in listing.text
    assert "Monthly revenue of the payments in force: 6.00 EUR" in listing.text
    assert 'id="signups-table"' in listing.text and "<td>2</td>" in listing.text
    found = client.get("/admin/members?q=ann")
    assert 'data-email="ann@example.org"' in found.text
    assert 'data-email="bo@example.org"' not in found.text

    exported = client.get("/admin/members/export")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert exported.text.startswith("id,email,name,note,subscribed_to_emails,complimentary_plan,")
    assert "ann@example.org,Ann,,true,true" in exported.text

    removed = client.post("/admin/members/remove", data={"csrf": csrf,
                                                         "email": "ann@example.org"})
    assert removed.status_code == 200 and "removed" in removed.text
    assert 'data-email="ann@example.org"' not in removed.text
    assert client.post("/admin/members/remove", data={
        "csrf": csrf, "email": "ann@example.org"}).status_code == 400

    # The editor offers the tiers; an article saved for one is for its members.
    editor = client.get("/admin/write/new")
    assert '<option value="gold">Members of Gold</option>' in editor.text
    token = gui.csrf_of(editor.text)
    headers = {"X-CSRF-Token": token, "Content-Type": "application/json"}
    saved = client.post("/admin/api/articles", headers=headers, content=json.dumps(
        {"title": "For gold", "body": "Hello", "visibility": "gold"}))
    assert saved.status_code == 200, saved.text
    site = asyncio.run(sites.list_sites(ctx))[0]
    entry = asyncio.run(sites.get_entry(ctx, site, "article", saved.json()["id"]))
    assert entry.data["visibility"] == "gold"
    assert 'value="gold" selected' in client.get(f"/admin/write/{entry.id}").text
    wrong = client.post("/admin/api/articles", headers=headers, content=json.dumps(
        {"title": "For silver", "body": "Hello", "visibility": "silver"}))
    assert wrong.status_code == 400


def test_which_provider_serves_members(client: Any, gui: Any) -> None:
    gui.wizard(client)
    ctx = client.app.state.ctx
    url = "http://127.0.0.1:9"  # nothing listens: the page says it was not told yet
    (ctx.settings.data_dir / "providers.json").write_text(
        json.dumps({"providers": [{"url": url, "tenant": "alice"}]}))
    page = client.get("/admin/members")
    assert "serves members-only entries to members" in page.text
    csrf = gui.csrf_of(page.text)
    off = client.post("/admin/members/serving", data={"csrf": csrf, "url": url, "content": "off"})
    assert off.status_code == 200 and "teasers only" in off.text and "not told yet" in off.text
    rules = json.loads((ctx.settings.data_dir / "providers.json").read_text())
    assert rules["providers"][0]["rules"]["members_content"] is False
    back = client.post("/admin/members/serving", data={"csrf": csrf, "url": url, "content": "on"})
    assert back.status_code == 200 and "serves members-only entries to members" in back.text
    bad = client.post("/admin/members/serving", data={
        "csrf": csrf, "url": "http://nowhere.example", "content": "off"})
    assert bad.status_code == 400 and "is not one of this home" in bad.text
