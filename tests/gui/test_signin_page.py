"""The Sign-in page (in-process home): the scopes a provider's sign-ins may grant, and a passkey
made at the provider and brought back (ticket → back → confirm → add) into the ``passkey``
delegation; bad or replayed returns change nothing."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from homeport.crypto.delegations import INDIEAUTH_TOKENS
from homeport.interop.indieauth import passkeys as pk
from homeport.services import grants
from homeport.testing.authenticator import SoftAuthenticator
from homeport.testing.live import free_port

SITE = "https://alice.prov.test/"


@pytest.fixture
def home(client: Any, gui: Any, settings: Any) -> Any:
    """A home with one provider (not listening: pushes fail and are said on the page)."""
    gui.wizard(client)
    url = f"http://127.0.0.1:{free_port()}"
    entry = {"url": url, "tenant": "alice", "site": SITE, "enrolled": 1}
    (settings.data_dir / "providers.json").write_text(json.dumps({"providers": [entry]}))
    client.provider_url = url
    return client


def records(client: Any, power: str) -> list[dict[str, Any]]:
    found = asyncio.run(grants.list_grants(client.app.state.ctx))
    return [r for r in found if r["power"] == power]


def test_allow_scopes_replaces_the_delegation(home: Any, gui: Any) -> None:
    page = home.get("/admin/signin")
    assert page.status_code == 200 and SITE in page.text
    assert "No passkey yet" in page.text
    for scopes in (["create", "media"], ["create"]):
        done = home.post("/admin/signin/allow", data={
            "csrf": gui.csrf_of(page.text), "provider": home.provider_url, "scope": scopes})
        assert done.status_code == 200, done.text
        page = done
    made = records(home, INDIEAUTH_TOKENS)
    active = [r for r in made if r["revoked"] is None]
    assert len(made) == 2 and len(active) == 1
    assert active[0]["params"] == {"scopes": ["create"]}
    assert active[0]["audience"] == home.provider_url
    assert 'value="create" checked' in page.text and 'value="media" checked' not in page.text


def test_a_passkey_made_at_the_provider_comes_home(home: Any, gui: Any) -> None:
    page = home.get("/admin/signin")
    going = home.post("/admin/signin/passkey", data={
        "csrf": gui.csrf_of(page.text), "provider": home.provider_url})
    assert going.status_code == 200
    link = re.search(r'id="go-register" href="([^"]+)"', going.text)
    assert link is not None
    target = link.group(1).replace("&amp;", "&")
    assert target.startswith(SITE + "_homeport/indieauth/passkey?ticket=")
    nonce = parse_qs(urlsplit(target).query)["ticket"][0]
    (ticket,) = records(home, pk.REGISTER_POWER)
    assert ticket["params"] == {
        "nonce": nonce, "return_url": "http://127.0.0.1/admin/signin/passkey/back"}
    assert ticket["expires"] - ticket["issued"] <= 10 * 60_000

    # what the provider's page sends back (the registration itself is tested at the provider)
    key = SoftAuthenticator("https://alice.prov.test")
    query = {"ticket": nonce, **key.params()}
    landing = home.get("/admin/signin/passkey/back", params=query, cookies={})
    assert landing.status_code == 200 and "set-cookie" not in landing.headers
    forward = re.search(r"url=([^']+)'", landing.text)
    assert forward is not None
    confirm = home.get(forward.group(1).replace("&amp;", "&"))
    assert confirm.status_code == 200 and "alice.prov.test" in confirm.text
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', confirm.text))
    added = home.post("/admin/signin/passkey/add", data=fields)
    assert added.status_code == 200 and "Passkey added" in added.text, added.text[-3000:]
    (delegation,) = [r for r in records(home, pk.POWER) if r["revoked"] is None]
    assert delegation["params"] == {"credentials": [key.params()]}
    assert records(home, pk.REGISTER_POWER)[0]["revoked"] is not None
    # the same return again: the ticket is spent
    again = home.post("/admin/signin/passkey/add", data=fields)
    assert again.status_code == 400

    # a second passkey joins the first; removing one keeps the other
    page = home.get("/admin/signin")
    home.post("/admin/signin/passkey", data={
        "csrf": gui.csrf_of(page.text), "provider": home.provider_url})
    nonce2 = next(r for r in records(home, pk.REGISTER_POWER) if r["revoked"] is None)
    other = SoftAuthenticator("https://alice.prov.test")
    confirm = home.get("/admin/signin/passkey/confirm",
                       params={"ticket": nonce2["params"]["nonce"], **other.params()})
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', confirm.text))
    assert home.post("/admin/signin/passkey/add", data=fields).status_code == 200
    (delegation,) = [r for r in records(home, pk.POWER) if r["revoked"] is None]
    assert delegation["params"]["credentials"] == [key.params(), other.params()]
    page = home.get("/admin/signin")
    removed = home.post("/admin/signin/passkey/remove", data={
        "csrf": gui.csrf_of(page.text), "provider": home.provider_url,
        "credential_id": key.params()["credential_id"]})
    assert removed.status_code == 200
    (delegation,) = [r for r in records(home, pk.POWER) if r["revoked"] is None]
    assert delegation["params"]["credentials"] == [other.params()]


def test_bad_returns_change_nothing(home: Any, gui: Any) -> None:
    page = home.get("/admin/signin")
    home.post("/admin/signin/passkey", data={
        "csrf": gui.csrf_of(page.text), "provider": home.provider_url})
    (ticket,) = records(home, pk.REGISTER_POWER)
    key = SoftAuthenticator("https://alice.prov.test").params()
    nonce = ticket["params"]["nonce"]
    for query in (
        {"ticket": "guessed", **key},
        {"ticket": nonce, **key, "rp_id": "evil.example"},
        {"ticket": nonce, **key, "public_key": "not base64!"},
        {"ticket": nonce, **key, "credential_id": ""},
    ):
        answer = home.get("/admin/signin/passkey/confirm", params=query)
        assert answer.status_code == 400, query
    fields = {"ticket": nonce, **key}
    assert home.post("/admin/signin/passkey/add", data=fields).status_code == 403  # no CSRF
    assert home.post("/admin/signin/allow", data={
        "csrf": gui.csrf_of(page.text), "provider": "https://stranger.example",
        "scope": "create"}).status_code == 400
    assert home.post("/admin/signin/allow", data={
        "csrf": gui.csrf_of(page.text), "provider": home.provider_url,
        "scope": "root"}).status_code == 400
    assert records(home, pk.POWER) == [] and records(home, INDIEAUTH_TOKENS) == []


def _ask(client: Any, nonce: str) -> None:
    from homeport.interop.indieauth import SIGNIN_KIND, home_handlers
    from homeport.interop.ports import InboxItem

    ctx = client.app.state.ctx
    meta = {"nonce": nonce, "client_id": "https://app.example/",
            "redirect_uri": "https://app.example/cb", "scope": ["create", "media"],
            "expires": ctx.clock() + 600_000}
    home_handlers()[SIGNIN_KIND](ctx, InboxItem(f"indieauth-{nonce}", SIGNIN_KIND, meta, b"", 0))


def test_a_sign_in_waiting_is_answered_here(home: Any, gui: Any) -> None:
    _ask(home, "n-approve")
    _ask(home, "n-decline")
    page = home.get("/admin/signin")
    assert page.text.count('class="signin-request"') == 2
    assert "https://app.example/" in page.text and "Sign-in</a>" in page.text
    done = home.post("/admin/signin/answer", data={
        "csrf": gui.csrf_of(page.text), "nonce": "n-approve", "decision": "approve",
        "scope": ["media", "delete"]})
    assert done.status_code == 200 and "approved (media)" in done.text
    done = home.post("/admin/signin/answer", data={
        "csrf": gui.csrf_of(done.text), "nonce": "n-decline", "decision": "decline"})
    assert "declined" in done.text
    answers = {r["params"]["nonce"]: r for r in records(home, "indieauth-approval")}
    assert answers["n-approve"]["params"] == {"nonce": "n-approve", "scopes": ["media"]}
    assert answers["n-decline"]["params"] == {"nonce": "n-decline", "declined": True}
    assert answers["n-approve"]["audience"] == grants.EVERY_PROVIDER
    assert answers["n-approve"]["expires"] - answers["n-approve"]["issued"] <= 10 * 60_000
    again = home.post("/admin/signin/answer", data={
        "csrf": gui.csrf_of(done.text), "nonce": "n-approve", "decision": "approve"})
    assert again.status_code == 400
    assert 'class="signin-request"' not in home.get("/admin/signin").text
