"""The Tokens page (in-process home): create a token and see its secret once, list it, revoke
it; list and revoke a delegation; refuse bad input and a missing CSRF token."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from homeport.services import grants

TOKEN = re.compile(r'id="new-token" readonly value="(hpt_[A-Za-z0-9_-]+)"')


def test_create_see_once_and_revoke(client: Any, gui: Any) -> None:
    gui.wizard(client)
    page = client.get("/admin/tokens")
    assert page.status_code == 200 and "No token yet" in page.text
    made = client.post("/admin/tokens/create", data={
        "csrf": gui.csrf_of(page.text), "scope": ["create", "media"], "more_scopes": "profile",
        "client_id": "https://app.example/", "expires": "30d"})
    assert made.status_code == 200, made.text
    secret = TOKEN.search(made.text)
    assert secret, made.text
    assert "create media profile" in made.text
    listed = client.get("/admin/tokens")
    assert secret.group(1) not in listed.text  # shown once
    ctx = client.app.state.ctx
    (record,) = asyncio.run(grants.list_grants(ctx))
    assert record["params"]["hash"] != secret.group(1)
    assert f'data-id="{record["id"]}"' in listed.text and "active" in listed.text

    revoked = client.post("/admin/tokens/revoke", data={
        "csrf": gui.csrf_of(listed.text), "id": record["id"]})
    assert revoked.status_code == 200 and "revoked" in revoked.text
    (record,) = asyncio.run(grants.list_grants(ctx))
    assert record["revoked"] is not None


def test_delegations_are_listed_and_revocable(client: Any, gui: Any) -> None:
    gui.wizard(client)
    ctx = client.app.state.ctx
    made = asyncio.run(grants.create_delegation(
        ctx, "https://prov.example", "indieauth-tokens", {"scopes": ["create"]},
        expires_in=86_400_000))
    page = client.get("/admin/tokens")
    assert "indieauth-tokens" in page.text and "https://prov.example" in page.text
    done = client.post("/admin/tokens/revoke", data={
        "csrf": gui.csrf_of(page.text), "id": made["id"]})
    assert done.status_code == 200 and "Delegation" in done.text
    assert asyncio.run(grants.get_grant(ctx, made["id"]))["revoked"] is not None


def test_bad_input_writes_nothing(client: Any, gui: Any) -> None:
    gui.wizard(client)
    page = client.get("/admin/tokens")
    csrf = gui.csrf_of(page.text)
    for data in (
        {"csrf": csrf},  # no scope
        {"csrf": csrf, "scope": "create", "expires": "forever"},
        {"csrf": csrf, "scope": "create", "client_id": "javascript:alert(1)"},
        {"csrf": csrf, "more_scopes": 'bad"scope'},
    ):
        answer = client.post("/admin/tokens/create", data=data)
        assert answer.status_code == 400 and 'role="alert"' in answer.text, data
    unknown = client.post("/admin/tokens/revoke", data={"csrf": csrf, "id": "nope-nope-nope"})
    assert unknown.status_code == 400
    assert client.post("/admin/tokens/create", data={"scope": "create"}).status_code == 403
    assert asyncio.run(grants.list_grants(client.app.state.ctx)) == []
