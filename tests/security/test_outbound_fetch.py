"""A provider fetches a custom domain's token file at an address the tenant chose: that fetch
must never reach loopback or private addresses (blind SSRF), directly or through a redirect.

Listeners on 127.0.0.1 and 127.0.0.2 count every connection; the ones that must not be
reached must count zero."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import anyio
import pytest

from homeport.provider import domains
from homeport.web import outbound
from tests.security.listener import Listener


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener("127.0.0.1")
    yield server
    server.close()


def _fetch(url: str, permitted: outbound.Permitted = outbound.public_only) -> outbound.Fetched:
    return anyio.run(lambda: outbound.fetch(url, permitted=permitted, timeout=3.0))


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "2130706433", "0x7f.0.0.1"],
)
def test_loopback_by_any_spelling_is_refused_without_a_connection(
    listener: Listener, host: str
) -> None:
    with pytest.raises(outbound.FetchRefused):
        _fetch(f"http://{host}:{listener.port}/.well-known/homeport")
    assert listener.hits == []


@pytest.mark.parametrize(
    "address", ["10.1.2.3", "192.168.0.1", "169.254.169.254", "::1", "fc00::1"]
)
def test_private_and_link_local_addresses_are_not_public(address: str) -> None:
    assert not outbound.public_only(ipaddress.ip_address(address))
    assert outbound.public_only(ipaddress.ip_address("93.184.216.34"))


def test_a_redirect_to_a_refused_address_is_not_followed(listener: Listener) -> None:
    allowed = ipaddress.ip_address("127.0.0.2")
    front = Listener("127.0.0.2", redirect=f"http://127.0.0.1:{listener.port}/secret")
    try:
        with pytest.raises(outbound.FetchRefused, match="not a public address"):
            _fetch(f"http://127.0.0.2:{front.port}/.well-known/homeport", lambda a: a == allowed)
        assert len(front.hits) == 1
        assert listener.hits == []
    finally:
        front.close()


def test_other_schemes_are_refused() -> None:
    for url in ("file:///etc/passwd", "gopher://127.0.0.1:70/", "ftp://example.org/"):
        with pytest.raises(outbound.FetchRefused, match="not an http"):
            _fetch(url, outbound.anywhere)


def test_fetch_allow_private_reaches_the_listener_with_the_name_as_host(listener: Listener) -> None:
    fetched = _fetch(f"http://localhost:{listener.port}/.well-known/homeport", outbound.anywhere)
    assert (fetched.status, fetched.body) == (200, b"token")
    assert listener.hits == [f"localhost:{listener.port}"]


def test_a_body_over_the_limit_is_refused() -> None:
    big = Listener("127.0.0.1", body=b"x" * 5000)
    try:
        with pytest.raises(outbound.FetchRefused, match="larger than"):
            anyio.run(
                lambda: outbound.fetch(
                    f"http://127.0.0.1:{big.port}/", permitted=outbound.anywhere, limit=1024
                )
            )
    finally:
        big.close()


def test_the_domain_check_goes_through_the_rule() -> None:
    """``127.0.0.1`` is a valid domain to ``normalise``; the real verifier must still refuse it."""
    assert domains.normalise("127.0.0.1", "example.net") == "127.0.0.1"
    assert anyio.run(domains.DEFAULT.fetch, "127.0.0.1") is None
    assert anyio.run(domains.DEFAULT.fetch, "localhost") is None
