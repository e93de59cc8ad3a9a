"""Serving by Host header: headers, conditional requests, ranges, gzip, redirects, errors."""

from __future__ import annotations

import gzip

import brotli
import pytest

from homeport.provider import serve
from homeport.provider.serve import negotiate
from tests.provider.conftest import BASE, SITE_V1, Home, World

HOST = f"alice.{BASE}"


def test_etag_is_the_file_id_and_last_modified_the_commit_time(world: World, alice: Home) -> None:
    page = world.get(HOST, "/photo.jpg")

    assert page.headers["etag"] == f'"{alice.files()["photo.jpg"]}"'
    assert page.headers["last-modified"].endswith("GMT")
    assert page.headers["content-length"] == str(len(SITE_V1["photo.jpg"]))
    assert page.headers["x-content-type-options"] == "nosniff"


def test_conditional_get_answers_304(world: World, alice: Home) -> None:
    first = world.get(HOST, "/photo.jpg")

    by_tag = world.get(HOST, "/photo.jpg", **{"If-None-Match": first.headers["etag"]})
    by_date = world.get(HOST, "/photo.jpg", **{"If-Modified-Since": first.headers["last-modified"]})
    other = world.get(HOST, "/photo.jpg", **{"If-None-Match": '"something-else"'})

    assert by_tag.status_code == 304 and by_tag.content == b""
    assert by_date.status_code == 304
    assert other.status_code == 200


def test_head_has_the_headers_and_no_body(world: World, alice: Home) -> None:
    answer = world.client.head("/photo.jpg", headers={"Host": HOST})

    assert answer.status_code == 200
    assert answer.content == b""
    assert answer.headers["content-length"] == str(len(SITE_V1["photo.jpg"]))


def test_range_requests_get_partial_content(world: World, alice: Home) -> None:
    answer = world.get(HOST, "/photo.jpg", Range="bytes=10-19")

    assert answer.status_code == 206
    assert answer.content == SITE_V1["photo.jpg"][10:20]
    assert answer.headers["content-range"] == f"bytes 10-19/{len(SITE_V1['photo.jpg'])}"


def test_text_is_gzipped_when_asked_and_images_are_not(world: World, alice: Home) -> None:
    css = world.client.get("/style.0123abcd.css", headers={"Host": HOST, "Accept-Encoding": "gzip"})
    raw = world.client.build_request(
        "GET", "/photo.jpg", headers={"Host": HOST, "Accept-Encoding": "gzip"}
    )
    photo = world.client.send(raw)

    assert css.headers["content-encoding"] == "gzip"
    assert css.text == SITE_V1["style.0123abcd.css"]  # httpx decompressed it
    assert int(css.headers["content-length"]) < len(SITE_V1["style.0123abcd.css"])
    assert "content-encoding" not in photo.headers
    assert gzip.compress(b"x")  # the module is what httpx undoes


def test_hashed_assets_are_cached_for_ever_pages_are_revalidated(world: World, alice: Home) -> None:
    css = world.get(HOST, "/style.0123abcd.css")
    page = world.get(HOST, "/")

    assert "immutable" in css.headers["cache-control"]
    assert "immutable" not in page.headers["cache-control"]
    assert css.headers["content-type"].startswith("text/css")


def test_a_folder_without_its_slash_is_redirected(world: World, alice: Home) -> None:
    answer = world.get(HOST, "/posts/hello?x=1")

    assert answer.status_code == 301
    assert answer.headers["location"] == "/posts/hello/?x=1"


def test_missing_pages_get_the_sites_404_page(world: World, alice: Home) -> None:
    answer = world.get(HOST, "/no/such/page")

    assert answer.status_code == 404
    assert "v1 missing" in answer.text


@pytest.mark.parametrize(
    "path",
    [
        "/../../provider.sqlite",
        "/%2e%2e/%2e%2e/provider.sqlite",
        "/posts/..%2f..%2f..%2fprovider.sqlite",
        "/index.html%00.jpg",
        "/../repo.sqlite",
    ],
)
def test_paths_never_leave_the_site(world: World, alice: Home, path: str) -> None:
    answer = world.get(HOST, path)

    assert answer.status_code in (400, 404)
    assert b"SQLite" not in answer.content


def test_an_unknown_host_is_404(world: World, alice: Home) -> None:
    assert world.get(f"bob.{BASE}", "/").status_code == 404
    assert world.get("example.org", "/").status_code == 404
    assert world.get(f"x.alice.{BASE}", "/").status_code == 404


def test_a_suspended_tenant_is_503_and_resumes(world: World, alice: Home) -> None:
    world.db.set_state("alice", "suspended")
    assert world.get(HOST, "/").status_code == 503
    assert alice.request(world.client, "GET", "/tenant").status_code == 403
    world.db.set_state("alice", "active")
    assert world.get(HOST, "/").status_code == 200


def test_a_deleted_tenant_is_410_everywhere(world: World, alice: Home) -> None:
    answer = alice.request(world.client, "DELETE", "/tenant")

    assert answer.status_code == 200 and answer.json() == {"deleted": "alice"}
    assert world.get(HOST, "/").status_code == 410
    assert alice.request(world.client, "GET", "/tenant").status_code == 410
    assert not (world.settings.data_dir / "tenants" / "alice").exists()


def test_a_tenant_with_nothing_published_is_404(world: World) -> None:
    world.enrolled("bob")
    assert world.get(f"bob.{BASE}", "/").status_code == 404


def test_other_methods_are_not_allowed_on_sites(world: World, alice: Home) -> None:
    answer = world.client.post("/", headers={"Host": HOST})
    assert answer.status_code == 405


@pytest.mark.parametrize(
    ("accept", "coding"),
    [
        ("gzip, deflate, br", "br"),
        ("br;q=0.5, gzip", "gzip"),
        ("gzip;q=0.8, br;q=0.8", "br"),
        ("br;q=0, gzip;q=0.1", "gzip"),
        ("*", "br"),
        ("*;q=0.5, br;q=0", "gzip"),
        ("gzip;q=0.5, identity", ""),
        ("br;q=0, gzip;q=0", ""),
        ("deflate", ""),
        ("GZIP;Q=0.9", "gzip"),
        ("br;q=oops, gzip", "gzip"),
    ],
)
def test_the_coding_is_chosen_by_q_value_br_winning_ties(accept: str, coding: str) -> None:
    assert negotiate(accept.encode()) == coding


def test_text_is_brotli_when_preferred_and_decodes_to_the_file(world: World, alice: Home) -> None:
    css = SITE_V1["style.0123abcd.css"]
    answer = world.client.send(
        world.client.build_request(
            "GET", "/style.0123abcd.css", headers={"Host": HOST, "Accept-Encoding": "gzip, br"}
        ),
        stream=True,
    )
    raw = b"".join(answer.iter_raw())

    assert answer.headers["content-encoding"] == "br"
    assert answer.headers["vary"] == "Accept-Encoding"
    assert answer.headers["etag"] == f'"{alice.files()["style.0123abcd.css"]}-br"'
    assert brotli.decompress(raw).decode() == css
    assert int(answer.headers["content-length"]) == len(raw) < len(css)


def test_only_compressible_answers_vary_by_encoding(world: World, alice: Home) -> None:
    photo = world.get(HOST, "/photo.jpg", **{"Accept-Encoding": "br"})
    page = world.get(HOST, "/", **{"Accept-Encoding": "identity"})

    assert "content-encoding" not in photo.headers and "vary" not in photo.headers
    assert "content-encoding" not in page.headers and page.headers["vary"] == "Accept-Encoding"
    assert page.text == SITE_V1["index.html"]


def test_head_and_conditional_get_follow_the_coding(world: World, alice: Home) -> None:
    br = {"Host": HOST, "Accept-Encoding": "br"}
    full = world.client.get("/", headers=br)
    head = world.client.head("/", headers=br)
    again = world.client.get("/", headers={**br, "If-None-Match": full.headers["etag"]})
    plain = {"Host": HOST, "Accept-Encoding": "identity", "If-None-Match": full.headers["etag"]}
    other = world.client.get("/", headers=plain)

    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == full.headers["content-length"]
    assert head.headers["etag"] == full.headers["etag"]
    assert again.status_code == 304 and again.headers["etag"] == full.headers["etag"]
    assert other.status_code == 200 and other.text == SITE_V1["index.html"]


def test_range_requests_are_never_compressed(world: World, alice: Home) -> None:
    answer = world.get(
        HOST, "/style.0123abcd.css", Range="bytes=0-9", **{"Accept-Encoding": "br, gzip"}
    )

    assert answer.status_code == 206
    assert "content-encoding" not in answer.headers
    assert answer.content == SITE_V1["style.0123abcd.css"].encode()[:10]


def test_the_sites_404_page_is_compressed_with_its_status(world: World, alice: Home) -> None:
    answer = world.get(HOST, "/nowhere", **{"Accept-Encoding": "br"})

    assert answer.status_code == 404 and answer.headers["content-encoding"] == "br"
    assert answer.text == SITE_V1["404.html"]


def test_a_www_host_of_a_verified_domain_is_redirected(world: World, alice: Home) -> None:
    assert alice.request(world.client, "POST", "/domains", {"domain": "alice.example"}).is_success
    token = world.db.domain("alice.example")
    assert token is not None
    world.db.verify_domain("alice.example")

    answer = world.get("www.alice.example", "/posts/?page=2")
    direct = world.get("alice.example", "/")

    assert answer.status_code == 301
    assert answer.headers["location"] == "http://alice.example/posts/?page=2"
    assert direct.status_code == 200 and direct.text == SITE_V1["index.html"]


def test_files_too_large_to_keep_in_memory_are_streamed_whole(
    world: World, alice: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serve, "MEMORY_MAX", 1000)
    monkeypatch.setattr(serve, "FILE_CHUNK", 30_000)
    photo = world.get(HOST, "/photo.jpg")
    head = world.client.head("/photo.jpg", headers={"Host": HOST})

    assert photo.content == SITE_V1["photo.jpg"]
    assert photo.headers["content-length"] == str(len(SITE_V1["photo.jpg"]))
    assert head.content == b"" and head.headers["content-length"] == photo.headers["content-length"]
