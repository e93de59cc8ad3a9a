"""The editor says where an entry is live, per provider, or why not: first with no provider
("only previewed", and the next step), then against a real provider on loopback, whose live
link is fetched to prove it answers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx

from homeport.jsonio import dumps

BASE = "example.test"


def _save(client: Any, csrf: str, **fields: Any) -> dict[str, Any]:
    answer = client.post("/admin/api/articles", content=dumps(fields),
                         headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _publish(client: Any, gui: Any, entry_id: str) -> None:
    page = client.get(f"/admin/write/{entry_id}")
    done = client.post(f"/admin/entries/article/{entry_id}/publish",
                       data={"csrf": gui.csrf_of(page.text), "next": f"/admin/write/{entry_id}"})
    assert done.status_code == 200, done.text


def _section(html: str) -> str:
    found = re.search(r'<section class="card live-where".*?</section>', html, re.S)
    assert found, html
    return found.group(0)


def test_the_editor_says_where_an_entry_is_live(
    client: Any, gui: Any, gui_invite: Any, provider: tuple[str, Path]
) -> None:
    url, data = provider
    gui.wizard(client, "Ada's corner")
    csrf = gui.csrf_of(client.get("/admin/write/new").text)
    first = _save(client, csrf, title="On tides", body="The sea comes and goes.")
    _publish(client, gui, first["id"])

    # no provider yet: only previewed here, with the entry's preview and the next step
    alone = _section(client.get(f"/admin/write/{first['id']}").text)
    assert "only previewed on this computer" in alone
    assert re.search(rf'href="/preview/[a-z0-9-]+/articles/{first["slug"]}/"', alone), alone
    assert 'href="/admin/providers">add a provider' in alone

    page = client.get("/admin/providers")
    added = client.post("/admin/providers/add", data={
        "csrf": gui.csrf_of(page.text), "url": url, "code": gui_invite(data), "name": "ada"})
    assert added.status_code == 200, added.text
    before = _section(client.get(f"/admin/write/{first['id']}").text)
    assert 'data-state="pending"' in before and "not published there yet" in before
    assert "publish it now" in before  # auto-publish is off in these tests: the next step

    started = client.post("/admin/providers/publish", data={"csrf": gui.csrf_of(added.text)})
    assert started.status_code == 200
    with client.stream("GET", "/admin/providers/events") as stream:
        assert any('"done"' in line for line in stream.iter_lines())

    link = f"https://ada.{BASE}/articles/{first['slug']}/"
    live = _section(client.get(f"/admin/write/{first['id']}").text)
    assert 'data-state="live"' in live and f'Live at <a href="{link}">' in live
    served = httpx.get(f"{url}/articles/{first['slug']}/", headers={"Host": f"ada.{BASE}"},
                       timeout=10)
    assert served.status_code == 200 and "On tides" in served.text

    # a draft is nowhere, and says why
    draft = _save(client, csrf, title="Half a thought", body="Not yet.")
    held = _section(client.get(f"/admin/write/{draft['id']}").text)
    assert 'data-state="not-here"' in held and "it is a draft" in held and "Live at" not in held

    # a change after the publish is on its way until the next one; the fragment says the same
    _save(client, csrf, id=first["id"], title="On tides", body="The sea comes and goes twice.")
    waiting = client.get(f"/admin/live/article/{first['id']}")
    assert waiting.status_code == 200
    assert "data-pending" in waiting.text and "this version is not there yet" in waiting.text
    assert client.get(f"/admin/live/nothing/{first['id']}").status_code == 404
