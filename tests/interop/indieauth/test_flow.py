"""The whole IndieAuth flow with authlib's OAuth 2 client (PKCE S256) against the provider's
endpoints on loopback, and what each endpoint refuses."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from authlib.integrations.requests_client import OAuthError as AuthlibError

from homeport.interop.indieauth import TOKENS_POWER
from homeport.interop.indieauth import passkeys as pk
from homeport.testing.authenticator import SoftAuthenticator
from homeport.testing.fake_ports import FakeProvider
from homeport.testing.indieauth_client import (
    CLIENT_ID,
    REDIRECT_URI,
    approve,
    code_of,
    consent_page,
    start,
)


@pytest.fixture(autouse=True)
def _plain_http(monkeypatch: pytest.MonkeyPatch) -> None:
    """authlib refuses http:// endpoints unless told; loopback tests have no TLS."""
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


def signed_in(site: str, owner: SoftAuthenticator, scope: str = "create media") -> dict[str, Any]:
    flow = start(site, scope)
    answer = approve(consent_page(flow.url), owner)
    assert answer.status_code == 200, answer.text
    location = answer.json()["location"]
    token: dict[str, Any] = flow.client.fetch_token(
        flow.metadata["token_endpoint"],
        authorization_response=location,
        code_verifier=flow.verifier,
    )
    token["_metadata"] = flow.metadata
    return token


def introspect(metadata: dict[str, Any], token: str, caller: str) -> httpx.Response:
    return httpx.post(
        metadata["introspection_endpoint"],
        data={"token": token},
        headers={"Authorization": f"Bearer {caller}"},
        timeout=10,
    )


def test_discovery_metadata_authorize_token_introspect_revoke(
    provider: FakeProvider, site: str, owner: SoftAuthenticator
) -> None:
    flow = start(site, "create media")
    meta = flow.metadata
    assert meta["issuer"] == site
    assert meta["authorization_endpoint"].startswith(site.rstrip("/") + "/_homeport/indieauth/")
    assert meta["code_challenge_methods_supported"] == ["S256"]

    consent = consent_page(flow.url)
    assert CLIENT_ID in consent.page and REDIRECT_URI in consent.page
    answer = approve(consent, owner)
    assert answer.status_code == 200, answer.text
    location = answer.json()["location"]
    back = parse_qs(urlsplit(location).query)
    assert location.startswith(REDIRECT_URI + "?")
    assert back["state"] == [flow.state]
    assert back["iss"] == [site]

    token = flow.client.fetch_token(
        meta["token_endpoint"], authorization_response=location, code_verifier=flow.verifier
    )
    assert token["token_type"].lower() == "bearer"
    assert token["me"] == site
    assert set(token["scope"].split()) == {"create", "media"}
    assert 0 < token["expires_in"] <= 30 * 24 * 3600

    # what Micropub checks: the grant behind the token
    grant = provider.grants.token("alice", token["access_token"])
    assert grant is not None and grant.scope == {"create", "media"}
    assert grant.client_id == CLIENT_ID and grant.me == site
    assert provider.grants.token("bob", token["access_token"]) is None

    seen = introspect(meta, token["access_token"], token["access_token"])
    assert seen.status_code == 200
    assert seen.json()["active"] is True
    assert seen.json()["me"] == site
    assert seen.json()["client_id"] == CLIENT_ID
    assert set(seen.json()["scope"].split()) == {"create", "media"}
    assert seen.json()["exp"] * 1000 == grant.expires // 1000 * 1000

    revoked = flow.client.revoke_token(
        meta["revocation_endpoint"], token=token["access_token"], token_type_hint="access_token"
    )
    assert revoked.status_code == 200
    assert provider.grants.token("alice", token["access_token"]) is None
    # a revoked token no longer authorises anything: 401 with a Bearer challenge
    refused = introspect(meta, token["access_token"], token["access_token"])
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_token"
    assert "Bearer" in refused.headers["www-authenticate"]


def test_introspection_of_a_revoked_or_expired_token_is_inactive(
    provider: FakeProvider, site: str, owner: SoftAuthenticator
) -> None:
    caller = provider.grants.add_token("alice", frozenset({"read"}), None)
    first = signed_in(site, owner)
    second = signed_in(site, owner)
    meta = first["_metadata"]
    provider.grants.revoke_token("alice", first["access_token"])
    provider.grants.expire("alice", second["access_token"])
    for gone in (first, second):
        seen = introspect(meta, gone["access_token"], caller)
        assert seen.status_code == 200
        assert seen.json() == {"active": False}
        assert introspect(meta, caller, gone["access_token"]).status_code == 401
    # another site's token does not authorise introspection here
    other = provider.grants.add_token("bob", frozenset({"read"}), None)
    assert introspect(meta, caller, other).status_code == 401


def test_token_expires_with_time(
    provider: FakeProvider, site: str, owner: SoftAuthenticator
) -> None:
    token = signed_in(site, owner)
    meta = token["_metadata"]
    provider.skew = (token["expires_in"] + 1) * 1000
    assert provider.grants.token("alice", token["access_token"]) is None
    assert introspect(meta, token["access_token"], token["access_token"]).status_code == 401


def test_wrong_code_verifier_is_refused(site: str, owner: SoftAuthenticator) -> None:
    flow = start(site)
    location = approve(consent_page(flow.url), owner).json()["location"]
    with pytest.raises(AuthlibError) as raised:
        flow.client.fetch_token(
            flow.metadata["token_endpoint"],
            authorization_response=location,
            code_verifier="x" * 64,
        )
    assert raised.value.error == "invalid_grant"
    # the right verifier still works afterwards: a wrong guess does not spend the code
    token = flow.client.fetch_token(
        flow.metadata["token_endpoint"],
        authorization_response=location,
        code_verifier=flow.verifier,
    )
    assert token["access_token"]


def _redeem(flow: Any, location: str, **changes: str) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code_of(location),
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": flow.verifier,
        **changes,
    }
    return httpx.post(flow.metadata["token_endpoint"], data=form, timeout=10)


def test_a_code_works_once(site: str, owner: SoftAuthenticator) -> None:
    flow = start(site)
    location = approve(consent_page(flow.url), owner).json()["location"]
    assert _redeem(flow, location).status_code == 200
    again = _redeem(flow, location)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    assert "already used" in again.json()["error_description"]


@pytest.mark.parametrize(
    "changes",
    [
        {"redirect_uri": "http://app.localhost:9/elsewhere"},
        {"client_id": "http://other.localhost:9/"},
        {"code": "forged.code"},
        {"grant_type": "password"},
        {"code_verifier": ""},
    ],
    ids=["redirect_uri", "client_id", "forged-code", "grant-type", "no-verifier"],
)
def test_token_request_that_does_not_match_the_code(
    site: str, owner: SoftAuthenticator, changes: dict[str, str]
) -> None:
    flow = start(site)
    location = approve(consent_page(flow.url), owner).json()["location"]
    refused = _redeem(flow, location, **changes)
    assert refused.status_code == 400
    assert refused.json()["error"] in ("invalid_grant", "invalid_request", "unsupported_grant_type")
    assert refused.headers["cache-control"] == "no-store"
    assert _redeem(flow, location).status_code == 200  # the code itself was not spent


def test_a_tampered_code_is_refused(site: str, owner: SoftAuthenticator) -> None:
    flow = start(site, "create")
    location = approve(consent_page(flow.url), owner).json()["location"]
    code = code_of(location)
    body, mac = code.split(".")
    import base64
    import json

    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["sc"] = ["create", "delete", "update"]
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    refused = _redeem(flow, location, code=f"{forged}.{mac}")
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_an_expired_code_is_refused(
    provider: FakeProvider, site: str, owner: SoftAuthenticator
) -> None:
    flow = start(site)
    location = approve(consent_page(flow.url), owner).json()["location"]
    provider.skew = 11 * 60 * 1000
    refused = _redeem(flow, location)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_the_owner_chooses_fewer_scopes_and_never_more(
    provider: FakeProvider, site: str, owner: SoftAuthenticator
) -> None:
    flow = start(site, "create update media")
    answer = approve(consent_page(flow.url), owner, scope=["create", "delete", "media"])
    location = answer.json()["location"]
    token = flow.client.fetch_token(
        flow.metadata["token_endpoint"],
        authorization_response=location,
        code_verifier=flow.verifier,
    )
    assert set(token["scope"].split()) == {"create", "media"}


def test_scope_not_delegated_is_refused_at_the_token_endpoint(
    provider: FakeProvider, site: str, owner: SoftAuthenticator
) -> None:
    flow = start(site, "create delete")
    consent = consent_page(flow.url)
    assert 'value="delete" checked' in consent.page
    location = approve(consent, owner).json()["location"]
    # the owner narrows the provider's power between approval and redemption
    provider.grants.delegate("alice", TOKENS_POWER, {"scopes": ["create"]})
    refused = _redeem(flow, location)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_scope"
    assert "delete" in refused.json()["error_description"]


def test_a_scope_never_delegated_is_shown_disabled(
    provider: FakeProvider, site: str, owner: SoftAuthenticator
) -> None:
    provider.grants.delegate("alice", TOKENS_POWER, {"scopes": ["create"]})
    flow = start(site, "create delete")
    page = consent_page(flow.url).page
    assert 'value="create" checked' in page
    assert 'value="delete" disabled' in page


def test_revoked_or_expired_token_delegation_stops_issuing(
    provider: FakeProvider, site: str, owner: SoftAuthenticator
) -> None:
    flow = start(site)
    location = approve(consent_page(flow.url), owner).json()["location"]
    provider.grants.revoke_delegation("alice", TOKENS_POWER)
    refused = _redeem(flow, location)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"

    provider.grants.delegate(
        "alice", TOKENS_POWER, {"scopes": ["create", "media"]}, expires=provider.now() + 60_000
    )
    flow = start(site)
    location = approve(consent_page(flow.url), owner).json()["location"]
    provider.skew = 2 * 60_000  # the delegation expired; the code (10 min) has not
    refused = _redeem(flow, location)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_tokens_do_not_outlive_the_delegation(
    provider: FakeProvider, site: str, owner: SoftAuthenticator
) -> None:
    provider.grants.delegate(
        "alice", TOKENS_POWER, {"scopes": ["create"]}, expires=provider.now() + 3_600_000
    )
    token = signed_in(site, owner, "create")
    assert token["expires_in"] <= 3600


def test_revoked_passkey_delegation_cannot_approve(
    provider: FakeProvider, site: str, owner: SoftAuthenticator
) -> None:
    flow = start(site)
    consent = consent_page(flow.url)
    provider.grants.revoke_delegation("alice", pk.POWER)
    refused = approve(consent, owner)
    assert refused.status_code == 403
    assert refused.json()["error"] == "access_denied"
    page = httpx.get(flow.url, timeout=10)
    assert page.status_code == 200 and "No passkey is delegated" in page.text
    assert 'id="approve"' not in page.text and 'id="ask-home"' in page.text


def test_expired_passkey_delegation_cannot_approve(
    provider: FakeProvider, site: str, owner: SoftAuthenticator
) -> None:
    provider.grants.delegate("alice", pk.POWER, owner.params(), expires=provider.now() + 1000)
    flow = start(site)
    consent = consent_page(flow.url)
    provider.skew = 2000
    assert approve(consent, owner).status_code == 403


def test_another_passkey_cannot_approve(
    provider: FakeProvider, site: str, owner: SoftAuthenticator
) -> None:
    stranger = SoftAuthenticator(owner.origin)
    flow = start(site)
    refused = approve(consent_page(flow.url), stranger)
    assert refused.status_code == 403


def test_an_assertion_made_for_another_origin_is_refused(
    provider: FakeProvider, site: str, owner: SoftAuthenticator
) -> None:
    flow = start(site)
    consent = consent_page(flow.url)
    credential = owner.assert_(consent.challenge, origin="http://evil.localhost:9")
    refused = httpx.post(
        consent.approve, json={"pending": consent.pending, "credential": credential}, timeout=10
    )
    assert refused.status_code == 403


def test_an_assertion_for_one_sign_in_cannot_approve_another(
    site: str, owner: SoftAuthenticator
) -> None:
    first = consent_page(start(site).url)
    second = consent_page(start(site).url)
    credential = owner.assert_(first.challenge)
    refused = httpx.post(
        second.approve, json={"pending": second.pending, "credential": credential}, timeout=10
    )
    assert refused.status_code == 403
    ok = httpx.post(
        first.approve, json={"pending": first.pending, "credential": credential}, timeout=10
    )
    assert ok.status_code == 200
    replay = httpx.post(
        first.approve,
        json={"pending": first.pending, "credential": owner.assert_(first.challenge)},
        timeout=10,
    )
    assert replay.status_code == 409


def test_a_pending_request_of_another_site_is_refused(
    provider: FakeProvider, site: str, owner: SoftAuthenticator
) -> None:
    consent = consent_page(start(site).url)
    bobs = consent.approve.replace("alice.localhost", "bob.localhost")
    refused = httpx.post(
        bobs,
        json={"pending": consent.pending, "credential": owner.assert_(consent.challenge)},
        timeout=10,
    )
    assert refused.status_code == 400


def _auth_url(site: str, **params: str) -> str:
    base = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "state": "s1",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
        "scope": "create",
    }
    base.update(params)
    return f"{site}_homeport/indieauth/auth?{urlencode({k: v for k, v in base.items() if v})}"


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"code_challenge": ""}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "create\\x"}, "invalid_scope"),
    ],
    ids=["no-pkce", "plain-pkce", "response-type", "bad-scope"],
)
def test_bad_authorization_requests_go_back_with_an_error(
    site: str, owner: SoftAuthenticator, params: dict[str, str], error: str
) -> None:
    answer = httpx.get(_auth_url(site, **params), timeout=10)
    assert answer.status_code == 302
    back = parse_qs(urlsplit(answer.headers["location"]).query)
    assert answer.headers["location"].startswith(REDIRECT_URI)
    assert back["error"] == [error] and back["state"] == ["s1"] and back["iss"] == [site]


@pytest.mark.parametrize(
    "params",
    [
        {"client_id": "ftp://app.localhost/"},
        {"client_id": "http://app.localhost:9/../x"},
        {"client_id": "http://10.0.0.1/"},
        {"client_id": "http://user:pw@app.localhost/"},
        {"redirect_uri": ""},
        {"redirect_uri": "javascript:alert(1)"},
        {"redirect_uri": "http://evil.localhost:9/steal"},
    ],
    ids=["scheme", "dots", "ip", "userinfo", "no-redirect", "js-redirect", "foreign-redirect"],
)
def test_bad_client_or_redirect_is_never_followed(
    site: str, owner: SoftAuthenticator, params: dict[str, str]
) -> None:
    answer = httpx.get(_auth_url(site, **params), timeout=10)
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert "cannot go on" in answer.text


def test_a_redirect_on_another_host_needs_the_client_to_publish_it(
    provider: FakeProvider, site: str, owner: SoftAuthenticator
) -> None:
    """A native app's custom scheme is followed when its client_id document lists it, and
    refused when it does not (spec: redirect URL verification)."""
    client = f"http://127.0.0.1:{provider.port}/client.json"
    listed = _auth_url(site, client_id=client, redirect_uri="com.example.app://callback")
    answer = httpx.get(listed, timeout=10)
    assert answer.status_code == 200, answer.text
    assert "Test App" in answer.text
    unlisted = _auth_url(site, client_id=client, redirect_uri="com.evil.app://callback")
    assert httpx.get(unlisted, timeout=10).status_code == 400


def test_the_sign_in_page_cannot_be_framed(site: str, owner: SoftAuthenticator) -> None:
    page = httpx.get(start(site).url, timeout=10)
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"


def test_profile_only_sign_in(site: str, owner: SoftAuthenticator) -> None:
    """No scope: the code is redeemed at the authorization endpoint for ``me`` alone, and the
    token endpoint issues no access token for it."""
    flow = start(site, "")
    location = approve(consent_page(flow.url), owner).json()["location"]
    form = {
        "grant_type": "authorization_code",
        "code": code_of(location),
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": flow.verifier,
    }
    answer = httpx.post(flow.metadata["authorization_endpoint"], data=form, timeout=10)
    assert answer.status_code == 200
    assert answer.json() == {"me": site}
    flow = start(site, "")
    location = approve(consent_page(flow.url), owner).json()["location"]
    form["code"], form["code_verifier"] = code_of(location), flow.verifier
    answer = httpx.post(flow.metadata["token_endpoint"], data=form, timeout=10)
    assert answer.json() == {"me": site}


def test_unknown_host_is_404(provider: FakeProvider) -> None:
    answer = httpx.get(
        f"http://nobody.localhost:{provider.port}/_homeport/indieauth/metadata", timeout=10
    )
    assert answer.status_code == 404


def test_legacy_revocation_and_verification(site: str, owner: SoftAuthenticator) -> None:
    token = signed_in(site, owner)
    meta = token["_metadata"]
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    seen = httpx.get(meta["token_endpoint"], headers=headers, timeout=10)
    assert seen.status_code == 200 and seen.json()["me"] == site
    gone = httpx.post(
        meta["token_endpoint"],
        data={"action": "revoke", "token": token["access_token"]},
        timeout=10,
    )
    assert gone.status_code == 200
    assert httpx.get(meta["token_endpoint"], headers=headers, timeout=10).status_code == 401


def test_bad_bodies_answer_4xx(site: str, owner: SoftAuthenticator) -> None:
    meta = start(site).metadata
    for url in (meta["token_endpoint"], meta["revocation_endpoint"]):
        for body, kind in (
            (b"{", "application/json"),
            (b"[]", "application/json"),
            (b"x" * 20000, "application/x-www-form-urlencoded"),
        ):
            answer = httpx.post(url, content=body, headers={"content-type": kind}, timeout=10)
            assert 400 <= answer.status_code < 500, (url, body[:10], answer.text)
    approve_url = site + "_homeport/indieauth/auth/approve"
    for body in (b"{", b"[]", b'{"pending": 1}', b'{"pending": "a.b"}'):
        answer = httpx.post(approve_url, content=body, timeout=10)
        assert answer.status_code == 400, answer.text


def _home(consent: Any, what: str) -> httpx.Response:
    url = consent.approve.replace("/auth/approve", f"/auth/{what}")
    return httpx.post(url, json={"pending": consent.pending}, timeout=10)


def test_approval_on_the_home_while_it_is_online(
    provider: FakeProvider, site: str, owner: SoftAuthenticator
) -> None:
    """The request goes to the home's inbox; the owner's answer comes back as an
    ``indieauth-approval`` delegation naming it; the owner may grant fewer scopes."""
    flow = start(site, "create media")
    consent = consent_page(flow.url)
    assert _home(consent, "ask").json() == {"asked": True}
    assert _home(consent, "ask").status_code == 200  # asking twice queues it once
    ((tenant, _item_id), (kind, meta, body)) = next(iter(provider.inbox.items.items()))
    assert tenant == "alice" and kind == "indieauth.signin" and body == b""
    assert meta["client_id"] == CLIENT_ID and meta["redirect_uri"] == REDIRECT_URI
    assert sorted(meta["scope"]) == ["create", "media"]
    assert len(provider.inbox.items) == 1
    assert _home(consent, "wait").json() == {"waiting": True}
    provider.grants.delegate(
        "alice",
        "indieauth-approval",
        {"nonce": "someone-else", "scopes": ["create"]},
        expires=provider.now() + 600_000,
    )
    assert _home(consent, "wait").json() == {"waiting": True}
    provider.grants.delegate(
        "alice",
        "indieauth-approval",
        {"nonce": meta["nonce"], "scopes": ["create", "delete"]},
        expires=provider.now() + 600_000,
    )
    location = _home(consent, "wait").json()["location"]
    token = flow.client.fetch_token(
        flow.metadata["token_endpoint"],
        authorization_response=location,
        code_verifier=flow.verifier,
    )
    assert token["scope"] == "create"
    # answered once: neither the home's answer nor a passkey approves it again
    assert _home(consent, "wait").status_code == 409
    assert approve(consent, owner).status_code == 409


def test_declined_on_the_home(provider: FakeProvider, site: str, owner: SoftAuthenticator) -> None:
    flow = start(site)
    consent = consent_page(flow.url)
    _home(consent, "ask")
    ((_, _), (_, meta, _)) = next(iter(provider.inbox.items.items()))
    provider.grants.delegate(
        "alice",
        "indieauth-approval",
        {"nonce": meta["nonce"], "declined": True},
        expires=provider.now() + 600_000,
    )
    location = _home(consent, "wait").json()["location"]
    back = parse_qs(urlsplit(location).query)
    assert back["error"] == ["access_denied"] and back["state"] == [flow.state]


def test_asking_the_home_needs_a_live_request(site: str, owner: SoftAuthenticator) -> None:
    consent = consent_page(start(site).url)
    url = consent.approve.replace("/auth/approve", "/auth/ask")
    for body in ({"pending": "forged.value"}, {}, []):
        assert httpx.post(url, json=body, timeout=10).status_code == 400
