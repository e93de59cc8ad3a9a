"""The "Responses" page in process: received webmentions listed pending first, approved (then
public and on the entry's preview page), rejected, and a domain blocked; every action needs
the CSRF token."""

from __future__ import annotations

import re
from typing import Any

from homeport import jsonio
from homeport.content import mentions
from homeport.interop.ports import InboxItem
from homeport.interop.webmention.home import apply

Client = Any


SITE = "my-corner"  # the wizard's site, named after its title


def receive(client: Client, slug: str, source: str, kind: str = "reply") -> str:
    """A verified webmention for the note ``slug``, applied as the relay does."""
    payload = {"action": "upsert", "source": source, "target": f"https://x.example/notes/{slug}/",
               "type": kind, "url": source,
               "author": {"name": "Bob <b>", "url": "https://bob.example/", "photo": ""},
               "name": "", "content": {"html": "Hi <script>x()</script>", "text": "Hi there"},
               "published": "2026-02-03T04:05:06Z", "verified": "2026-02-03T05:00:00Z"}
    item = InboxItem(f"webmention-{source}", "webmention.received", {}, jsonio.dumps(payload), 0)
    result = client.portal.call(apply, client.app.state.ctx, item)
    return str(result["id"])


def statuses(client: Client) -> dict[str, str]:
    found = client.portal.call(mentions.list_mentions, client.app.state.ctx)
    return {str(m["id"]): str(m["status"]) for m in found}


def post_note(client: Client, token: str, text: str) -> str:
    answer = client.post("/admin/notes", data={"csrf": token, "text": text})
    assert answer.status_code == 200, answer.text
    found = re.search(r"/notes/([a-z0-9-]+)/", client.get(f"/preview/{SITE}/").text)
    assert found, "the note is not on the preview"
    return found.group(1)


def test_responses_are_moderated_from_the_page(gui: Any, client: Client) -> None:
    gui.wizard(client)
    token = gui.csrf_of(client.get("/admin/").text)
    slug = post_note(client, token, "Hello world")
    note = f"/preview/{SITE}/notes/{slug}/"
    assert "No responses yet" in client.get("/admin/responses").text

    first = receive(client, slug, "https://bob.example/r/1")
    second = receive(client, slug, "https://spam.example/r/2", "like")
    page = client.get("/admin/responses").text
    assert "2 pending" in page
    assert "Bob &lt;b&gt;" in page and "<script>x()" not in page
    assert f"/admin/responses/{first}/approve" in page

    refused = client.post(f"/admin/responses/{first}/approve", data={"csrf": "wrong"})
    assert refused.status_code == 403
    assert statuses(client) == {first: "pending", second: "pending"}

    done = client.post(f"/admin/responses/{first}/approve", data={"csrf": token})
    assert done.status_code == 200 and "Approved" in done.text
    preview = client.get(note).text
    assert "u-comment h-cite" in preview and "Hi" in preview and "<script>x" not in preview

    blocked = client.post("/admin/responses/block", data={"csrf": token,
                                                          "domain": "spam.example"})
    assert "Blocked spam.example: 1 response rejected" in blocked.text
    assert statuses(client) == {first: "approved", second: "rejected"}
    assert "spam.example" in client.get("/admin/responses").text.split("Blocked domains")[1]

    client.post(f"/admin/responses/{first}/reject", data={"csrf": token})
    assert "u-comment" not in client.get(note).text
    missing = client.post("/admin/responses/wm-none/approve", data={"csrf": token})
    assert "there is no mention" in missing.text
    bad = client.post("/admin/responses/block", data={"csrf": token, "domain": "a b/"})
    assert "is not a domain name" in bad.text
