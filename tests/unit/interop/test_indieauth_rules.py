"""IndieAuth's URL, scope and PKCE rules, case by case from the spec's examples."""

from __future__ import annotations

import pytest

from homeport.interop.indieauth import rules
from homeport.interop.indieauth.rules import OAuthError


@pytest.mark.parametrize(
    "url",
    [
        "https://app.example.com/",
        "https://app.example.com/username",
        "https://app.example.com/?id=100",
        "https://app.example.com:8443/",
        "http://127.0.0.1/app",
        "http://[::1]:8080/",
        "http://localhost:3000/",
    ],
)
def test_valid_client_ids(url: str) -> None:
    assert rules.client_id(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "app.example.com",
        "mailto:app@example.com",
        "https://app.example.com",
        "https://app.example.com/foo/../bar",
        "https://app.example.com/./bar",
        "https://app.example.com/#me",
        "https://user:pass@app.example.com/",
        "https://172.28.92.51/",
        "https://[2001:db8::1]/",
        "https://app.example.com:99999/",
        "",
        "https://app.example.com/ space",
    ],
)
def test_invalid_client_ids(url: str) -> None:
    with pytest.raises(OAuthError) as raised:
        rules.client_id(url)
    assert raised.value.code == "invalid_request"


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("example.com", "https://example.com/"),
        ("https://Example.COM", "https://example.com/"),
        ("https://example.com/username", "https://example.com/username"),
        ("http://example.com/?q=1", "http://example.com/?q=1"),
        ("http://alice.localhost:8000", "http://alice.localhost:8000/"),
    ],
)
def test_me_is_canonicalised(given: str, canonical: str) -> None:
    assert rules.canonical_me(given) == canonical


@pytest.mark.parametrize(
    "given",
    [
        "mailto:me@example.com",
        "https://example.com/#me",
        "https://u@example.com/",
        "https://example.com:8443/",
        "https://example.com/a/../b",
    ],
)
def test_bad_me(given: str) -> None:
    with pytest.raises(OAuthError):
        rules.canonical_me(given)


def test_pkce_s256_matches_rfc7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert rules.s256(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    rules.pkce_verify(verifier, rules.s256(verifier))
    with pytest.raises(OAuthError) as raised:
        rules.pkce_verify("A" * 43, rules.s256(verifier))
    assert raised.value.code == "invalid_grant"
    for bad in ("", "short", "x" * 129, "é" * 50):
        with pytest.raises(OAuthError) as raised:
            rules.pkce_verify(bad, rules.s256(verifier))
        assert raised.value.code == "invalid_request"


def test_only_s256_challenges() -> None:
    good = rules.s256("a" * 43)
    assert rules.pkce_challenge(good, "S256") == good
    for challenge, method in ((good, "plain"), (good, None), ("", "S256"), ("x" * 10, "S256")):
        with pytest.raises(OAuthError):
            rules.pkce_challenge(challenge, method)


def test_scopes() -> None:
    assert rules.scope("create  update\tmedia") == {"create", "update", "media"}
    assert rules.scope("") == frozenset() and rules.scope(None) == frozenset()
    with pytest.raises(OAuthError) as raised:
        rules.scope('create "quoted"')
    assert raised.value.code == "invalid_scope"


def test_redirect_uri() -> None:
    assert rules.redirect_uri("com.example.app://cb") == "com.example.app://cb"
    for bad in ("javascript:alert(1)", "/relative", "https://a.example/#frag", "data:text/html,x"):
        with pytest.raises(OAuthError):
            rules.redirect_uri(bad)
    assert rules.same_origin("https://a.example/x", "https://a.example:443/y") is False
    assert rules.same_origin("https://a.example/x", "https://a.example/y?z")
