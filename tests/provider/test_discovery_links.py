"""The provider answers every HTML page of a site with ``Link`` headers naming the live web's
endpoints, and every feed with its WebSub hub and its own address (``self``), on the origin the
reader used."""

from __future__ import annotations

import httpx

from tests.provider.conftest import BASE, SITE_V1, Home, World

HOST = f"alice.{BASE}"
FEED = '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title></feed>'


def _site(world: World, alice: Home) -> None:
    alice.write_site({**SITE_V1, "feed.atom": FEED, "tags/x/feed.json": "{}"})
    assert alice.publish(world.client, alice.snapshot()).status_code == 200


def _links(response: httpx.Response) -> dict[str, str]:
    return {link["rel"]: link["url"] for link in response.links.values()}


def test_pages_carry_the_endpoints_in_link_headers(world: World, alice: Home) -> None:
    origin = f"http://{HOST}"
    expected = {
        "webmention": f"{origin}/_homeport/webmention",
        "micropub": f"{origin}/_homeport/micropub",
        "indieauth-metadata": f"{origin}/_homeport/indieauth/metadata",
    }
    for path in ("/", "/posts/hello/", "/nowhere"):
        page = world.get(HOST, path)
        assert page.status_code in (200, 404)
        assert _links(page) == expected, path
    head = world.client.head("/", headers={"Host": HOST})
    assert _links(head) == expected


def test_the_origin_is_the_one_the_reader_used(world: World, alice: Home) -> None:
    behind_tls = world.get(f"{HOST}:8443", "/", **{"X-Forwarded-Proto": "https"})
    assert _links(behind_tls)["webmention"] == f"https://{HOST}:8443/_homeport/webmention"
    odd = world.get(f"{HOST}:x>; rel=evil", "/", **{"X-Forwarded-Proto": "javascript"})
    assert odd.status_code == 200
    assert _links(odd)["webmention"] == f"http://{HOST}/_homeport/webmention"
    assert "evil" not in odd.headers["link"]


def test_other_files_carry_no_link_header(world: World, alice: Home) -> None:
    for path in ("/photo.jpg", "/style.0123abcd.css"):
        assert "link" not in world.get(HOST, path).headers, path


def test_feeds_name_their_hub_and_themselves(world: World, alice: Home) -> None:
    _site(world, alice)
    for path in ("/feed.atom", "/tags/x/feed.json"):
        feed = world.get(HOST, path)
        assert feed.status_code == 200
        assert _links(feed) == {
            "hub": f"http://{HOST}/_homeport/websub",
            "self": f"http://{HOST}{path}",
        }
