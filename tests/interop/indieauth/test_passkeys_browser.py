"""Passkeys in a real browser: Chromium's virtual authenticator (CDP ``WebAuthn``) makes a
passkey on the provider's registration page for the site's host, and approves a sign-in that
authlib started and finishes with PKCE."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from homeport.interop.indieauth import passkeys as pk
from homeport.testing.fake_ports import FakeProvider
from homeport.testing.indieauth_client import start

TIMEOUT_MS = 15_000


@pytest.fixture(autouse=True)
def _plain_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page with a virtual platform authenticator that says yes (user present, verified)."""
    context = browser.new_context()
    found = context.new_page()
    cdp = context.new_cdp_session(found)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    found.set_default_timeout(TIMEOUT_MS)
    try:
        yield found
    finally:
        context.close()


def register(page: Any, provider: FakeProvider, site: str) -> dict[str, str]:
    """The home's part, played by the test: a ``passkey-register`` ticket, the owner sent to
    the provider's page, the public key read off the way back, signed into ``passkey``."""
    back = f"http://127.0.0.1:{provider.port}/home/return"
    provider.grants.delegate(
        "alice",
        pk.REGISTER_POWER,
        {"nonce": "ticket-1", "return_url": back},
        expires=provider.now() + 600_000,
    )
    page.goto(f"{site}_homeport/indieauth/passkey?ticket=ticket-1")
    page.click("#register")
    page.wait_for_url(f"{back}?**")
    made = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
    assert made["ticket"] == "ticket-1"
    assert made["rp_id"] == "alice.localhost"
    provider.grants.delegate(
        "alice",
        pk.POWER,
        {k: made[k] for k in ("credential_id", "public_key", "rp_id")},
    )
    return made


def test_register_a_passkey_then_sign_in_with_it(
    page: Any, provider: FakeProvider, site: str
) -> None:
    provider.grants.delegate("alice", "indieauth-tokens", {"scopes": ["create", "media"]})
    register(page, provider, site)
    app = f"http://app.localhost:{provider.port}"
    flow = start(site, "create media", client_id=app + "/", redirect_uri=app + "/callback")
    page.goto(flow.url)
    page.click("#approve")
    page.wait_for_url(f"{app}/callback?**")
    token = flow.client.fetch_token(
        flow.metadata["token_endpoint"],
        authorization_response=page.url,
        code_verifier=flow.verifier,
    )
    assert token["me"] == site
    grant = provider.grants.token("alice", token["access_token"])
    assert grant is not None and grant.scope == {"create", "media"}

    # the ticket was for one registration only (last: a new passkey for the same user would
    # replace the first in the authenticator)
    page.goto(f"{site}_homeport/indieauth/passkey?ticket=ticket-1")
    page.click("#register")
    expect(page.locator("#status")).to_contain_text("already used")


def test_declining_goes_back_with_access_denied(
    page: Any, provider: FakeProvider, site: str
) -> None:
    register(page, provider, site)
    app = f"http://app.localhost:{provider.port}"
    flow = start(site, "create", client_id=app + "/", redirect_uri=app + "/callback")
    page.goto(flow.url)
    page.click("#deny")
    page.wait_for_url(f"{app}/callback?**")
    back = parse_qs(urlsplit(page.url).query)
    assert back["error"] == ["access_denied"] and back["state"] == [flow.state]


def test_a_passkey_is_bound_to_its_host(page: Any, provider: FakeProvider, site: str) -> None:
    """Alice's passkey, even if a home named it for Bob's site, does not sign in there: the
    browser has no credential for bob.localhost, and the provider checks the RP ID too."""
    made = register(page, provider, site)
    provider.grants.delegate(
        "bob", pk.POWER, {k: made[k] for k in ("credential_id", "public_key", "rp_id")}
    )
    bob = f"http://bob.localhost:{provider.port}/"
    flow = start(bob, "")
    page.goto(flow.url)
    page.click("#approve")
    expect(page.locator("#status")).to_contain_text("Not done")
    assert "bob.localhost" in page.url


def test_registration_without_a_ticket_is_refused(provider: FakeProvider, site: str) -> None:
    answer = httpx.get(f"{site}_homeport/indieauth/passkey?ticket=guess", timeout=10)
    assert answer.status_code == 403
    forged = httpx.post(
        f"{site}_homeport/indieauth/passkey",
        json={"ticket": "guess", "credential": {"id": "x"}},
        timeout=10,
    )
    assert forged.status_code == 403


def test_approved_on_the_home_the_browser_goes_on(
    page: Any, provider: FakeProvider, site: str
) -> None:
    """No passkey: the page asks the home and waits; the home's answer sends it on."""
    provider.grants.delegate("alice", "indieauth-tokens", {"scopes": ["create"]})
    app = f"http://app.localhost:{provider.port}"
    flow = start(site, "create", client_id=app + "/", redirect_uri=app + "/callback")
    page.goto(flow.url)
    page.click("#ask-home")
    expect(page.locator("#status")).to_contain_text("Waiting for your approval")
    ((_, _), (_, meta, _)) = next(iter(provider.inbox.items.items()))
    provider.grants.delegate(
        "alice",
        "indieauth-approval",
        {"nonce": meta["nonce"], "scopes": ["create"]},
        expires=provider.now() + 600_000,
    )
    page.wait_for_url(f"{app}/callback?**")
    token = flow.client.fetch_token(
        flow.metadata["token_endpoint"],
        authorization_response=page.url,
        code_verifier=flow.verifier,
    )
    assert token["scope"] == "create"
