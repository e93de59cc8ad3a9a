"""Webmention endpoint discovery and sending, the sender's side of the specification, with the
23 discovery cases of webmention.rocks rebuilt as pages of a loopback site: each case's right
endpoint must receive the webmention (source and target form-encoded), its decoys nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest

from homeport.interop import discovery
from homeport.interop.sending import FAILED, NO_ENDPOINT, QUEUED, SENT, send_one
from homeport.testing.webhost import Answer, WebHost
from homeport.web import outbound

SOURCE = "https://alice.example.net/notes/hello/"
ANYWHERE = outbound.policy(True)

Case = Callable[[WebHost, str], str]
"""Sets a case up at ``/test/N`` on the host; gives the path its right endpoint is at."""


def case_1(h: WebHost, t: str) -> str:  # Link header, unquoted rel, relative URL
    h.page(t, "<p>one</p>", headers=[("Link", f"<{t}/webmention>; rel=webmention")])
    return f"{t}/webmention"


def case_2(h: WebHost, t: str) -> str:  # Link header, unquoted rel, absolute URL
    h.page(t, "<p>two</p>", headers=[("Link", f"<{h.url}{t}/webmention>; rel=webmention")])
    return f"{t}/webmention"


def case_3(h: WebHost, t: str) -> str:  # <link>, relative URL
    h.page(t, f'<html><head><link rel="webmention" href="{t}/webmention"></head></html>')
    return f"{t}/webmention"


def case_4(h: WebHost, t: str) -> str:  # <link>, absolute URL
    h.page(t, f'<head><link rel="webmention" href="{h.url}{t}/webmention"></head>')
    return f"{t}/webmention"


def case_5(h: WebHost, t: str) -> str:  # <a>, relative URL
    h.page(t, f'<body><a rel="webmention" href="{t}/webmention">endpoint</a></body>')
    return f"{t}/webmention"


def case_6(h: WebHost, t: str) -> str:  # <a>, absolute URL
    h.page(t, f'<body><a rel="webmention" href="{h.url}{t}/webmention">endpoint</a></body>')
    return f"{t}/webmention"


def case_7(h: WebHost, t: str) -> str:  # strange casing of the header's name
    h.page(t, "<p>7</p>", headers=[("LinK", f'<{h.url}{t}/webmention>; rel="webmention"')])
    return f"{t}/webmention"


def case_8(h: WebHost, t: str) -> str:  # quoted rel
    h.page(t, "<p>8</p>", headers=[("Link", f'<{h.url}{t}/webmention>; rel="webmention"')])
    return f"{t}/webmention"


def case_9(h: WebHost, t: str) -> str:  # several rel values on a <link>
    h.page(t, f'<head><link rel="webmention somethingelse" href="{t}/webmention"></head>')
    return f"{t}/webmention"


def case_10(h: WebHost, t: str) -> str:  # several rel values in a Link header
    h.page(t, "<p>10</p>",
           headers=[("Link", f'<{h.url}{t}/webmention>; rel="webmention somethingelse"')])
    return f"{t}/webmention"


def case_11(h: WebHost, t: str) -> str:  # header, <link> and <a>: the header wins
    h.page(t, f'<head><link rel="webmention" href="{t}/webmention/error"></head>'
              f'<body><a rel="webmention" href="{t}/webmention/error">x</a></body>',
           headers=[("Link", f'<{h.url}{t}/webmention>; rel="webmention"')])
    return f"{t}/webmention"


def case_12(h: WebHost, t: str) -> str:  # rel="not-webmention" is not webmention
    h.page(t, f'<head><link rel="not-webmention" href="{t}/webmention/error">'
              f'<link rel="webmention" href="{t}/webmention"></head>')
    return f"{t}/webmention"


def case_13(h: WebHost, t: str) -> str:  # a false endpoint in an HTML comment
    h.page(t, f'<head><!-- <link rel="webmention" href="{t}/webmention/error"> --></head>'
              f'<body><a rel="webmention" href="{t}/webmention">x</a></body>')
    return f"{t}/webmention"


def case_14(h: WebHost, t: str) -> str:  # a false endpoint in escaped HTML
    h.page(t, f'<body><code>&lt;a href="{t}/webmention/error" rel="webmention"&gt;&lt;/a&gt;'
              f'</code><a rel="webmention" href="{t}/webmention">x</a></body>')
    return f"{t}/webmention"


def case_15(h: WebHost, t: str) -> str:  # an empty href: the page is its own endpoint
    h.page(t, '<head><link rel="webmention" href=""></head>')
    return t


def case_16(h: WebHost, t: str) -> str:  # <a> before <link>: document order
    h.page(t, f'<body><a rel="webmention" href="{t}/webmention">x</a>'
              f'<link rel="webmention" href="{t}/webmention/error"></body>')
    return f"{t}/webmention"


def case_17(h: WebHost, t: str) -> str:  # <link> before <a>: document order
    h.page(t, f'<head><link rel="webmention" href="{t}/webmention"></head>'
              f'<body><a rel="webmention" href="{t}/webmention/error">x</a></body>')
    return f"{t}/webmention"


def case_18(h: WebHost, t: str) -> str:  # several Link header lines
    h.page(t, "<p>18</p>", headers=[
        ("Link", f'<{h.url}{t}/webmention/error>; rel="other"'),
        ("Link", f'<{h.url}{t}/webmention>; rel="webmention"'),
    ])
    return f"{t}/webmention"


def case_19(h: WebHost, t: str) -> str:  # one Link header with several links
    h.page(t, "<p>19</p>", headers=[(
        "Link", f'<{h.url}{t}/webmention/error>; rel="other", <{h.url}{t}/webmention>;'
                ' rel="webmention"')])
    return f"{t}/webmention"


def case_20(h: WebHost, t: str) -> str:  # a <link> without href is skipped
    h.page(t, f'<head><link rel="webmention"></head>'
              f'<body><a rel="webmention" href="{t}/webmention">x</a></body>')
    return f"{t}/webmention"


def case_21(h: WebHost, t: str) -> str:  # the endpoint's query string is kept
    h.page(t, f'<head><link rel="webmention" href="{t}/webmention?query=yes"></head>')
    return f"{t}/webmention?query=yes"


def case_22(h: WebHost, t: str) -> str:  # relative to the page's path, not the root
    h.page(t, '<head><link rel="webmention" href="22/webmention"></head>')
    return t.rsplit("/", 1)[0] + "/22/webmention"


def case_23(h: WebHost, t: str) -> str:  # a redirect, then a relative endpoint: final URL
    h.redirect(t, f"{t}/page/xyz")
    link = ("Link", '<webmention-endpoint/abc>; rel="webmention"')
    h.page(f"{t}/page/xyz", "<p>23</p>", headers=[link])
    return f"{t}/page/webmention-endpoint/abc"


CASES = [globals()[f"case_{n}"] for n in range(1, 24)]


@pytest.fixture
def host() -> Iterator[WebHost]:
    with WebHost() as found:
        yield found


@pytest.mark.parametrize("case", CASES, ids=[f"test-{n}" for n in range(1, 24)])
def test_the_webmention_rocks_discovery_cases(host: WebHost, case: Case) -> None:
    number = case.__name__.split("_")[1]
    page = f"/test/{number}"
    right = case(host, page)
    decoy = f"{page}/webmention/error"
    bare = right.partition("?")[0]
    own = host.routes.get(bare)  # case 15: the page is also the endpoint
    host.routes[bare] = lambda hit: Answer(202, b"") if hit.method == "POST" else (
        own(hit) if own else Answer(405))
    host.routes[decoy] = lambda hit: Answer(400, b"wrong endpoint")
    target = host.url + page

    outcome = asyncio.run(send_one(SOURCE, target, ANYWHERE))

    assert outcome.state == SENT, outcome
    assert outcome.endpoint == host.url + right
    posted = host.received(bare)
    assert len(posted) == 1
    assert posted[0].form == {"source": SOURCE, "target": target}
    assert posted[0].headers["Content-Type"] == "application/x-www-form-urlencoded"
    if "?" in right:
        assert posted[0].query == {"query": "yes"}
    assert host.received(decoy) == []


@pytest.mark.parametrize("status", [200, 201, 202])
def test_any_2xx_is_success(host: WebHost, status: int) -> None:
    case_3(host, "/t")
    host.routes["/t/webmention"] = lambda hit: Answer(status, b"", [("Location", "/s/1")])
    outcome = asyncio.run(send_one(SOURCE, host.url + "/t", ANYWHERE))
    assert (outcome.state, outcome.status) == (SENT, status)


def test_outcomes_other_than_success(host: WebHost) -> None:
    host.page("/none", "<p>no endpoint here</p>")
    case_3(host, "/bad")
    host.routes["/bad/webmention"] = lambda hit: Answer(400, b"target not supported")
    case_3(host, "/down")
    host.routes["/down/webmention"] = lambda hit: Answer(503, b"later")
    case_3(host, "/busy")
    host.routes["/busy/webmention"] = lambda hit: Answer(429, b"slow down")

    def run(path: str) -> tuple[str, int | None]:
        outcome = asyncio.run(send_one(SOURCE, host.url + path, ANYWHERE))
        return outcome.state, outcome.status

    assert run("/none") == (NO_ENDPOINT, None)
    assert run("/bad") == (FAILED, 400)
    assert run("/down") == (QUEUED, 503)
    assert run("/busy") == (QUEUED, 429)
    assert run("/missing") == (NO_ENDPOINT, None)  # a 404 page names nothing
    host.page("/flaky", "<p>later</p>", status=502)
    assert run("/flaky") == (QUEUED, 502)  # the target page is down: try again


def test_private_addresses_are_refused_without_the_setting(host: WebHost) -> None:
    case_3(host, "/t")
    host.routes["/t/webmention"] = lambda hit: Answer(202)
    outcome = asyncio.run(send_one(SOURCE, host.url + "/t", outbound.policy(False)))
    assert outcome.state == FAILED and "not a public address" in outcome.detail
    assert host.hits == []


def test_an_endpoint_on_a_private_address_is_refused(host: WebHost) -> None:
    """A page cannot aim the sender at a private network: the endpoint it names is checked
    like the page (here loopback is allowed, for the page, and nothing else)."""

    def loopback_only(address: outbound.IPAddress) -> bool:
        return address.is_loopback

    host.page("/t", '<link rel="webmention" href="http://10.0.0.1/wm">')
    outcome = asyncio.run(send_one(SOURCE, host.url + "/t", loopback_only))
    assert outcome.state == FAILED
    assert outcome.endpoint == "http://10.0.0.1/wm"
    assert "not a public address" in outcome.detail


def test_link_header_parsing_edge_cases() -> None:
    values = ['<https://a.example/x,y>; rel="other webmention"; title="a, b"',
              "<https://b.example/>; REL=webmention"]
    assert discovery.from_headers(values, "webmention") == "https://a.example/x,y"
    assert discovery.from_headers(["<https://b.example/>; rel=webmention2"], "webmention") is None
    assert discovery.from_headers(["garbage", "<>"], "webmention") is None
