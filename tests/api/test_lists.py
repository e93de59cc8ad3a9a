"""List endpoints: paging, counting, sorting, filtering, field selection."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

RECORDS = [
    {"id": "r1", "n": 1, "s": "apple", "tags": ["a", "b"], "sub": {"k": 1}, "f": True},
    {"id": "r2", "n": 2, "s": "banana", "tags": ["b"], "sub": {"k": 2}},
    {"id": "r3", "n": 3, "s": "cherry", "tags": [], "sub": {"k": 3}, "f": False},
    {"id": "r4", "n": 2, "s": "Apricot", "tags": ["c", "a"], "sub": {"k": 4}, "f": None},
]


@pytest.fixture
def filled(admin: httpx.Client, collection: str) -> str:
    """Records r1..r4 created in that order (so default order is r4, r3, r2, r1)."""
    for rec in RECORDS:
        assert admin.put(f"{collection}/{rec['id']}", json={"data": rec}).status_code == 201
    return collection


def ids(client: httpx.Client, url: str, **params: str) -> list[str]:
    r = client.get(url, params=params)
    assert r.status_code == 200, r.text
    return [obj["id"] for obj in r.json()["data"]]


def test_default_order_is_newest_first(admin: httpx.Client, filled: str) -> None:
    assert ids(admin, filled) == ["r4", "r3", "r2", "r1"]


def test_limit(admin: httpx.Client, filled: str) -> None:
    r = admin.get(filled, params={"_limit": "2"})
    assert r.status_code == 200
    assert [o["id"] for o in r.json()["data"]] == ["r4", "r3"]
    assert "Next-Page" in r.headers


def test_no_next_page_when_everything_fits(admin: httpx.Client, filled: str) -> None:
    r = admin.get(filled, params={"_limit": "10"})
    assert "Next-Page" not in r.headers
    r = admin.get(filled)
    assert "Next-Page" not in r.headers


def test_next_page_is_absolute_url_with_original_params_and_token(
    admin: httpx.Client, filled: str, server
) -> None:
    r = admin.get(filled, params={"_limit": "2", "_sort": "n"})
    nxt = r.headers["Next-Page"]
    parts = urlsplit(nxt)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == server.url + filled
    qs = parse_qs(parts.query)
    assert qs["_limit"] == ["2"]
    assert qs["_sort"] == ["n"]
    assert len(qs["_token"]) == 1
    # Kinto's token is base64(JSON) with last_object/offset/nonce; clients treat it as opaque.
    if server.is_kinto:
        token = json.loads(base64.urlsafe_b64decode(qs["_token"][0]))
        assert set(token) == {"last_object", "offset", "nonce"}


def test_paging_with_next_page_until_exhausted(admin: httpx.Client, filled: str) -> None:
    url: str | None = filled + "?_limit=1&_sort=n,id"
    seen: list[str] = []
    for _ in range(10):  # bounded
        if url is None:
            break
        r = admin.get(url)
        assert r.status_code == 200
        seen += [o["id"] for o in r.json()["data"]]
        url = r.headers.get("Next-Page")
    assert url is None
    assert seen == ["r1", "r2", "r4", "r3"]


def test_paging_keeps_filters(admin: httpx.Client, filled: str) -> None:
    url: str | None = filled + "?_limit=1&in_id=r1,r2,r3"
    seen: list[str] = []
    for _ in range(10):
        if url is None:
            break
        r = admin.get(url)
        seen += [o["id"] for o in r.json()["data"]]
        url = r.headers.get("Next-Page")
    assert seen == ["r3", "r2", "r1"]


def test_last_page_has_no_next_page_when_count_is_a_multiple_of_limit(
    admin: httpx.Client, filled: str
) -> None:
    r = admin.get(filled, params={"_limit": "2"})
    r = admin.get(r.headers["Next-Page"])
    assert [o["id"] for o in r.json()["data"]] == ["r2", "r1"]
    assert "Next-Page" not in r.headers


def test_invalid_token_is_400(admin: httpx.Client, filled: str) -> None:
    r = admin.get(filled, params={"_token": "garbage"})
    assert r.status_code == 400
    assert r.json() == {
        "code": 400,
        "errno": 107,
        "error": "Invalid parameters",
        "message": "querystring: _token has invalid content",
        "details": [
            {"location": "querystring", "name": None, "description": "_token has invalid content"}
        ],
    }


def test_invalid_limit_is_400(admin: httpx.Client, filled: str) -> None:
    r = admin.get(filled, params={"_limit": "abc"})
    assert r.status_code == 400
    assert r.json() == {
        "code": 400,
        "errno": 107,
        "error": "Invalid parameters",
        "message": '_limit in querystring: "abc" is not a number',
        "details": [
            {"location": "querystring", "name": "_limit", "description": '"abc" is not a number'}
        ],
    }


def test_limit_zero_means_no_limit(admin: httpx.Client, filled: str) -> None:
    assert ids(admin, filled, _limit="0") == ["r4", "r3", "r2", "r1"]


def test_total_records_only_on_head(admin: httpx.Client, filled: str) -> None:
    r = admin.get(filled)
    assert "Total-Records" not in r.headers
    r = admin.head(filled)
    assert r.status_code == 200
    assert r.headers["Total-Records"] == "4"
    assert r.headers["Total-Objects"] == "4"
    assert r.content == b""


def test_total_records_ignores_limit_and_applies_filters(admin: httpx.Client, filled: str) -> None:
    assert admin.head(filled, params={"_limit": "1"}).headers["Total-Records"] == "4"
    assert admin.head(filled, params={"n": "2"}).headers["Total-Records"] == "2"


def test_total_records_on_buckets(admin: httpx.Client) -> None:
    admin.put("/buckets/b1")
    admin.put("/buckets/b2")
    r = admin.head("/buckets")
    assert r.headers["Total-Records"] == "2"


def test_sort_ascending(admin: httpx.Client, filled: str) -> None:
    # r4 ("Apricot") is left out: case ordering depends on the storage collation.
    assert ids(admin, filled, _sort="s", in_id="r1,r2,r3") == ["r1", "r2", "r3"]
    assert ids(admin, filled, _sort="n", in_id="r1,r2,r3") == ["r1", "r2", "r3"]


def test_sort_descending(admin: httpx.Client, filled: str) -> None:
    assert ids(admin, filled, _sort="-s", in_id="r1,r2,r3") == ["r3", "r2", "r1"]


def test_sort_multi_field(admin: httpx.Client, filled: str) -> None:
    assert ids(admin, filled, _sort="-n,id") == ["r3", "r2", "r4", "r1"]
    assert ids(admin, filled, _sort="n,-id") == ["r1", "r4", "r2", "r3"]


def test_sort_on_subfield(admin: httpx.Client, filled: str) -> None:
    assert ids(admin, filled, _sort="-sub.k") == ["r4", "r3", "r2", "r1"]


def test_sort_by_last_modified(admin: httpx.Client, filled: str) -> None:
    assert ids(admin, filled, _sort="last_modified") == ["r1", "r2", "r3", "r4"]


def test_sort_on_unknown_field_is_accepted(admin: httpx.Client, filled: str) -> None:
    # Unknown sort fields on records are not an error; order falls back to insertion.
    r = admin.get(filled, params={"_sort": "unknown"})
    assert r.status_code == 200
    assert sorted(o["id"] for o in r.json()["data"]) == ["r1", "r2", "r3", "r4"]


def test_filter_equal(admin: httpx.Client, filled: str) -> None:
    assert ids(admin, filled, n="2") == ["r4", "r2"]
    assert ids(admin, filled, s="apple") == ["r1"]


def test_filter_eq_prefix(admin: httpx.Client, filled: str) -> None:
    assert ids(admin, filled, eq_n="2") == ["r4", "r2"]


def test_filter_values_are_json_decoded(admin: httpx.Client, filled: str) -> None:
    assert ids(admin, filled, f="true") == ["r1"]
    assert ids(admin, filled, f="false") == ["r3"]
    assert ids(admin, filled, f="null") == ["r4"]
    # A quoted number is a string, which no record has.
    assert ids(admin, filled, n='"2"') == []


def test_filter_in(admin: httpx.Client, filled: str) -> None:
    assert ids(admin, filled, in_n="1,3") == ["r3", "r1"]
    assert ids(admin, filled, in_id="r1,r2") == ["r2", "r1"]


def test_filter_not(admin: httpx.Client, filled: str) -> None:
    assert ids(admin, filled, not_n="2") == ["r3", "r1"]


def test_filter_exclude(admin: httpx.Client, filled: str) -> None:
    assert ids(admin, filled, exclude_n="1,2") == ["r3"]


def test_filter_gt_lt_min_max(admin: httpx.Client, filled: str) -> None:
    assert ids(admin, filled, gt_n="2") == ["r3"]
    assert ids(admin, filled, lt_n="2") == ["r1"]
    assert ids(admin, filled, min_n="2") == ["r4", "r3", "r2"]
    assert ids(admin, filled, max_n="2") == ["r4", "r2", "r1"]


def test_filter_combined_is_and(admin: httpx.Client, filled: str) -> None:
    assert ids(admin, filled, min_n="2", lt_n="3") == ["r4", "r2"]


def test_filter_like_is_case_insensitive_substring(admin: httpx.Client, filled: str) -> None:
    assert ids(admin, filled, like_s="ap") == ["r4", "r1"]
    assert ids(admin, filled, like_s="AP") == ["r4", "r1"]
    assert ids(admin, filled, like_s="an") == ["r2"]


def test_filter_like_with_wildcards_is_anchored(admin: httpx.Client, filled: str) -> None:
    assert ids(admin, filled, like_s="a*") == ["r4", "r1"]
    assert ids(admin, filled, like_s="*y") == ["r3"]
    assert ids(admin, filled, like_s="a*e") == ["r1"]


def test_filter_has(admin: httpx.Client, filled: str) -> None:
    # A field set to null still "has" the field.
    assert ids(admin, filled, has_f="true") == ["r4", "r3", "r1"]
    assert ids(admin, filled, has_f="false") == ["r2"]


def test_filter_contains(admin: httpx.Client, filled: str) -> None:
    assert ids(admin, filled, contains_tags="a") == ["r4", "r1"]
    assert ids(admin, filled, contains_tags='["a","b"]') == ["r1"]
    # Not a JSON list: "a,b" is one string value.
    assert ids(admin, filled, contains_tags="a,b") == []


def test_filter_contains_any(admin: httpx.Client, filled: str) -> None:
    assert ids(admin, filled, contains_any_tags='["b","c"]') == ["r4", "r2", "r1"]
    assert ids(admin, filled, contains_any_tags="a,c") == []


def test_filter_on_dotted_subfield(admin: httpx.Client, filled: str) -> None:
    assert ids(admin, filled, **{"sub.k": "2"}) == ["r2"]
    assert ids(admin, filled, **{"gt_sub.k": "2"}) == ["r4", "r3"]


def test_filter_unknown_field_on_records_matches_nothing(admin: httpx.Client, filled: str) -> None:
    r = admin.get(filled, params={"unknown": "1"})
    assert r.status_code == 200
    assert r.json() == {"data": []}


def test_filter_non_numeric_value_on_numeric_field(admin: httpx.Client, filled: str) -> None:
    assert ids(admin, filled, n="abc") == []


def test_filter_on_last_modified(admin: httpx.Client, filled: str) -> None:
    r2 = admin.get(filled + "/r2").json()["data"]
    assert ids(admin, filled, last_modified=str(r2["last_modified"])) == ["r2"]
    assert ids(admin, filled, gt_last_modified=str(r2["last_modified"])) == ["r4", "r3"]


def test_fields_selects_fields_and_keeps_id_and_last_modified(
    admin: httpx.Client, filled: str
) -> None:
    r = admin.get(filled, params={"_fields": "n,sub.k", "_sort": "id"})
    assert r.status_code == 200
    data = r.json()["data"]
    assert [set(o) for o in data] == [{"id", "last_modified", "n", "sub"}] * 4
    assert data[0]["sub"] == {"k": 1}
    assert data[0]["n"] == 1


def test_fields_unknown_field_leaves_id_and_last_modified(admin: httpx.Client, filled: str) -> None:
    r = admin.get(filled, params={"_fields": "nope"})
    assert [set(o) for o in r.json()["data"]] == [{"id", "last_modified"}] * 4


def test_fields_on_single_record(admin: httpx.Client, filled: str) -> None:
    r = admin.get(filled + "/r1", params={"_fields": "s"})
    assert r.status_code == 200
    data = r.json()["data"]
    assert data == {"id": "r1", "s": "apple", "last_modified": data["last_modified"]}


def test_unknown_filter_on_buckets_matches_nothing(admin: httpx.Client) -> None:
    admin.put("/buckets/b")
    r = admin.get("/buckets", params={"unknown": "1"})
    assert r.status_code == 200
    assert r.json() == {"data": []}


def test_unknown_sort_on_buckets_is_accepted(admin: httpx.Client) -> None:
    admin.put("/buckets/b")
    r = admin.get("/buckets", params={"_sort": "unknown"})
    assert r.status_code == 200
    assert [b["id"] for b in r.json()["data"]] == ["b"]


def test_filters_on_collections_list(admin: httpx.Client) -> None:
    admin.put("/buckets/b")
    admin.put("/buckets/b/collections/c1", json={"data": {"kind": "x"}})
    admin.put("/buckets/b/collections/c2", json={"data": {"kind": "y"}})
    assert ids(admin, "/buckets/b/collections", kind="x") == ["c1"]
    assert ids(admin, "/buckets/b/collections", _sort="id") == ["c1", "c2"]
