"""The members' sign-in link and session cookie: sealed, bound to their host, expiring; a link
is spent once; a forged, truncated or foreign token is nothing; ``next`` never leaves the
site; the site server reads its cookie out of any Cookie header."""

from __future__ import annotations

import pytest

from homeport.interop.members import tokens
from homeport.interop.members.signin import safe_next
from homeport.provider.serve import _cookie
from homeport.testing.fake_ports import FakeOnce

HOST = "alice.example.test"
NOW = 1_800_000_000_000


def test_links_and_sessions() -> None:
    once, other = FakeOnce(), FakeOnce()
    link = tokens.make_link(once, HOST, "ann@example.org", "/articles/x/", NOW)
    assert "ann" not in link
    claim = tokens.read_link(once, link, HOST, NOW + 1000)
    assert claim is not None and claim.email == "ann@example.org" and claim.next == "/articles/x/"
    assert tokens.read_link(once, link, "bob.example.test", NOW) is None  # another site
    assert tokens.read_link(once, link, HOST, NOW + tokens.LINK_MS) is None  # expired
    assert tokens.read_link(other, link, HOST, NOW) is None  # another provider's keys
    assert tokens.read_link(once, link[:-4], HOST, NOW) is None
    assert tokens.read_link(once, "A" * 5000, HOST, NOW) is None
    assert tokens.read_link(once, "!!not base64!!", HOST, NOW) is None
    assert tokens.spend(once, claim) and not tokens.spend(once, claim)  # once only

    session = tokens.make_session(once, HOST, "ann@example.org", NOW)
    assert tokens.open_session(once, session, HOST, NOW + 1) is not None
    assert tokens.open_session(once, session, "bob.example.test", NOW) is None
    assert tokens.open_session(once, session, HOST, NOW + tokens.SESSION_MS) is None
    assert tokens.open_session(once, link, HOST, NOW) is None  # a link is not a session


@pytest.mark.parametrize(("given", "kept"), [
    ("/articles/x/", "/articles/x/"), ("//evil.example/", "/"), ("https://evil.example/", "/"),
    ("/\\evil.example", "/"), ("", "/"), ("/a\nb", "/"), ("javascript:alert(1)", "/"),
])
def test_next_stays_on_the_site(given: str, kept: str) -> None:
    assert safe_next(given) == kept


def test_cookie_header() -> None:
    assert _cookie(b"a=1; hp_member=tok; b=2", b"hp_member") == "tok"
    assert _cookie(b"hp_memberx=1; xhp_member=2", b"hp_member") == ""
    assert _cookie(b"", b"hp_member") == ""
