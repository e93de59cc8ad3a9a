"""Timestamps, ETags, conditional requests, _since/_before and tombstones."""

from __future__ import annotations

import email.utils

import httpx


def etag_ts(response: httpx.Response) -> int:
    """The timestamp inside an ``ETag: "<ts>"`` header."""
    etag = response.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"'), etag
    return int(etag[1:-1])


PRECONDITION_FAILED = {
    "code": 412,
    "errno": 114,
    "error": "Precondition Failed",
    "message": "Resource was modified meanwhile",
}


def test_last_modified_strictly_increases_within_a_collection(
    admin: httpx.Client, collection: str
) -> None:
    stamps = []
    for i in range(10):
        r = admin.put(f"{collection}/r{i}", json={"data": {"i": i}})
        stamps.append(r.json()["data"]["last_modified"])
    for i in range(3):
        r = admin.patch(f"{collection}/r{i}", json={"data": {"i": -i}})
        stamps.append(r.json()["data"]["last_modified"])
    r = admin.delete(f"{collection}/r9")
    stamps.append(r.json()["data"]["last_modified"])
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps)


def test_last_modified_is_epoch_milliseconds(admin: httpx.Client, collection: str) -> None:
    ts = admin.put(collection + "/r1", json={"data": {}}).json()["data"]["last_modified"]
    assert 1_500_000_000_000 < ts < 4_000_000_000_000


def test_client_supplied_past_last_modified(
    server, admin: httpx.Client, collection: str
) -> None:
    # Kinto's memory backend stores a past last_modified given in the body as-is, without
    # moving the collection timestamp. Homeport follows Kinto's PostgreSQL backend instead:
    # a value not after the collection timestamp is replaced, so timestamps stay strictly
    # increasing and `_since` never misses a change (docs/compatibility.md).
    current = admin.put(collection + "/r0", json={"data": {}}).json()["data"]["last_modified"]
    r = admin.put(collection + "/r1", json={"data": {"last_modified": 1234}})
    assert r.status_code == 201
    if server.is_kinto:
        assert r.json()["data"]["last_modified"] == 1234
        assert etag_ts(r) == 1234
        assert etag_ts(admin.get(collection)) == current
    else:
        assert r.json()["data"]["last_modified"] > current
        assert etag_ts(admin.get(collection)) == r.json()["data"]["last_modified"]


def test_client_supplied_future_last_modified_is_kept(admin: httpx.Client, collection: str) -> None:
    current = admin.put(collection + "/r0", json={"data": {}}).json()["data"]["last_modified"]
    later = current + 10_000
    r = admin.put(collection + "/r1", json={"data": {"last_modified": later}})
    assert r.json()["data"]["last_modified"] == later
    assert etag_ts(admin.get(collection)) == later


def test_client_supplied_future_last_modified_becomes_collection_timestamp(
    admin: httpx.Client, collection: str
) -> None:
    future = (
        admin.put(collection + "/r0", json={"data": {}}).json()["data"]["last_modified"] + 10**6
    )
    r = admin.put(collection + "/r1", json={"data": {"last_modified": future}})
    assert r.json()["data"]["last_modified"] == future
    assert etag_ts(admin.get(collection)) == future
    # The next write without a timestamp lands after it.
    nxt = admin.put(collection + "/r2", json={"data": {}}).json()["data"]["last_modified"]
    assert nxt == future + 1


def test_object_etag_is_quoted_last_modified(admin: httpx.Client, collection: str) -> None:
    r = admin.put(collection + "/r1", json={"data": {}})
    assert etag_ts(r) == r.json()["data"]["last_modified"]
    r = admin.get(collection + "/r1")
    assert etag_ts(r) == r.json()["data"]["last_modified"]


def test_list_etag_is_latest_record_timestamp(admin: httpx.Client, collection: str) -> None:
    admin.put(collection + "/r1", json={"data": {}})
    last = admin.put(collection + "/r2", json={"data": {}}).json()["data"]["last_modified"]
    r = admin.get(collection)
    assert etag_ts(r) == last


def test_list_etag_moves_on_delete(admin: httpx.Client, collection: str) -> None:
    admin.put(collection + "/r1", json={"data": {}})
    tomb = admin.delete(collection + "/r1").json()["data"]["last_modified"]
    assert etag_ts(admin.get(collection)) == tomb


def test_empty_collection_list_has_an_etag(admin: httpx.Client, collection: str) -> None:
    r = admin.get(collection)
    assert r.status_code == 200
    assert etag_ts(r) > 0


def test_if_match_mismatch_is_412_with_existing(admin: httpx.Client, collection: str) -> None:
    created = admin.put(collection + "/r1", json={"data": {"x": 1}}).json()["data"]
    r = admin.put(collection + "/r1", json={"data": {"x": 2}}, headers={"If-Match": '"123"'})
    assert r.status_code == 412
    assert r.json() == {**PRECONDITION_FAILED, "details": {"existing": created}}
    assert etag_ts(r) == created["last_modified"]
    assert admin.get(collection + "/r1").json()["data"]["x"] == 1


def test_if_match_current_succeeds(admin: httpx.Client, collection: str) -> None:
    created = admin.put(collection + "/r1", json={"data": {"x": 1}})
    r = admin.patch(
        collection + "/r1",
        json={"data": {"x": 2}},
        headers={"If-Match": created.headers["ETag"]},
    )
    assert r.status_code == 200
    assert r.json()["data"]["x"] == 2


def test_if_match_on_missing_record_is_412_without_details(
    admin: httpx.Client, collection: str
) -> None:
    r = admin.put(collection + "/r1", json={"data": {}}, headers={"If-Match": '"123"'})
    assert r.status_code == 412
    assert r.json() == PRECONDITION_FAILED


def test_if_match_on_delete(admin: httpx.Client, collection: str) -> None:
    created = admin.put(collection + "/r1", json={"data": {}}).json()["data"]
    r = admin.delete(collection + "/r1", headers={"If-Match": '"1"'})
    assert r.status_code == 412
    assert r.json() == {**PRECONDITION_FAILED, "details": {"existing": created}}
    r = admin.delete(collection + "/r1", headers={"If-Match": f'"{created["last_modified"]}"'})
    assert r.status_code == 200


def test_if_match_must_be_quoted_integer(admin: httpx.Client, collection: str) -> None:
    admin.put(collection + "/r1", json={"data": {}})
    r = admin.put(collection + "/r1", json={"data": {}}, headers={"If-Match": "abc"})
    assert r.status_code == 400
    desc = "The value should be integer between double quotes."
    assert r.json() == {
        "code": 400,
        "errno": 107,
        "error": "Invalid parameters",
        "message": "If-Match in header: " + desc,
        "details": [{"location": "header", "name": "If-Match", "description": desc}],
    }


def test_if_none_match_star_on_existing_is_412(admin: httpx.Client, collection: str) -> None:
    created = admin.put(collection + "/r1", json={"data": {"x": 1}}).json()["data"]
    r = admin.put(collection + "/r1", json={"data": {"x": 2}}, headers={"If-None-Match": "*"})
    assert r.status_code == 412
    assert r.json() == {**PRECONDITION_FAILED, "details": {"existing": created}}


def test_if_none_match_star_creates_when_missing(admin: httpx.Client, collection: str) -> None:
    r = admin.put(collection + "/r1", json={"data": {}}, headers={"If-None-Match": "*"})
    assert r.status_code == 201


def test_if_none_match_current_etag_on_get_is_304(admin: httpx.Client, collection: str) -> None:
    created = admin.put(collection + "/r1", json={"data": {}})
    r = admin.get(collection + "/r1", headers={"If-None-Match": created.headers["ETag"]})
    assert r.status_code == 304
    assert r.content == b""
    assert r.headers["ETag"] == created.headers["ETag"]


def test_if_none_match_old_etag_on_get_is_200(admin: httpx.Client, collection: str) -> None:
    admin.put(collection + "/r1", json={"data": {}})
    r = admin.get(collection + "/r1", headers={"If-None-Match": '"1"'})
    assert r.status_code == 200


def test_if_none_match_on_list_is_304_until_a_change(admin: httpx.Client, collection: str) -> None:
    admin.put(collection + "/r1", json={"data": {}})
    etag = admin.get(collection).headers["ETag"]
    assert admin.get(collection, headers={"If-None-Match": etag}).status_code == 304
    admin.put(collection + "/r2", json={"data": {}})
    r = admin.get(collection, headers={"If-None-Match": etag})
    assert r.status_code == 200
    assert len(r.json()["data"]) == 2


def test_if_match_mismatch_on_list_get_is_412(admin: httpx.Client, collection: str) -> None:
    admin.put(collection + "/r1", json={"data": {}})
    r = admin.get(collection, headers={"If-Match": '"1"'})
    assert r.status_code == 412
    assert r.json() == PRECONDITION_FAILED


def _stamped(r: httpx.Response, timestamp: int) -> None:
    """A 412 carries the ETag and the Last-Modified of what it compared against."""
    assert r.status_code == 412, r.text
    assert etag_ts(r) == timestamp
    assert r.headers["Last-Modified"] == email.utils.formatdate(timestamp / 1000, usegmt=True)


def test_412_on_an_object_carries_its_etag_and_last_modified(
    admin: httpx.Client, collection: str
) -> None:
    created = admin.put(collection + "/r1", json={"data": {"x": 1}}).json()["data"]
    admin.put(collection + "/r2", json={"data": {}})  # the collection moves on, not r1
    stale = {"If-Match": '"1"'}
    path = collection + "/r1"
    for r in (
        admin.get(path, headers=stale),
        admin.put(path, json={"data": {}}, headers=stale),
        admin.patch(path, json={"data": {}}, headers=stale),
        admin.delete(path, headers=stale),
        admin.put(path, json={"data": {}}, headers={"If-None-Match": "*"}),
        admin.post(collection, json={"data": {"id": "r1"}}, headers=stale),
    ):
        _stamped(r, created["last_modified"])


def test_412_on_a_missing_object_or_a_list_carries_the_list_timestamp(
    admin: httpx.Client, collection: str
) -> None:
    admin.put(collection + "/r1", json={"data": {}})
    admin.put(collection + "/dead", json={"data": {}})
    admin.delete(collection + "/dead")
    current = etag_ts(admin.get(collection))
    stale = {"If-Match": '"1"'}
    for r in (
        admin.put(collection + "/dead", json={"data": {}}, headers=stale),  # a tombstone
        admin.put(collection + "/never", json={"data": {}}, headers=stale),
        admin.post(collection, json={"data": {}}, headers=stale),
        admin.get(collection, headers=stale),
        admin.delete(collection, headers=stale),
    ):
        _stamped(r, current)
        assert "details" not in r.json()
    assert admin.put("/buckets/nope", headers=stale).headers["ETag"] == (
        admin.get("/buckets").headers["ETag"]
    )


def test_since_returns_changes_and_tombstones(admin: httpx.Client, collection: str) -> None:
    for i in range(4):
        admin.put(f"{collection}/r{i}", json={"data": {"n": i}})
    since = etag_ts(admin.get(collection))
    tomb = admin.delete(collection + "/r1").json()["data"]
    changed = admin.patch(collection + "/r2", json={"data": {"x": 1}}).json()["data"]
    r = admin.get(collection, params={"_since": str(since)})
    assert r.status_code == 200
    assert r.json() == {
        "data": [
            changed,
            {"id": "r1", "last_modified": tomb["last_modified"], "deleted": True},
        ]
    }
    assert etag_ts(r) == changed["last_modified"]


def test_since_accepts_quoted_value(admin: httpx.Client, collection: str) -> None:
    since = admin.put(collection + "/r1", json={"data": {}}).json()["data"]["last_modified"]
    admin.put(collection + "/r2", json={"data": {}})
    r = admin.get(collection, params={"_since": f'"{since}"'})
    assert [o["id"] for o in r.json()["data"]] == ["r2"]


def test_since_is_exclusive(admin: httpx.Client, collection: str) -> None:
    since = admin.put(collection + "/r1", json={"data": {}}).json()["data"]["last_modified"]
    r = admin.get(collection, params={"_since": str(since)})
    assert r.json() == {"data": []}


def test_since_zero_with_sort_includes_tombstones(admin: httpx.Client, collection: str) -> None:
    admin.put(collection + "/r1", json={"data": {}})
    admin.put(collection + "/r2", json={"data": {}})
    admin.delete(collection + "/r1")
    r = admin.get(collection, params={"_since": "0", "_sort": "last_modified"})
    data = r.json()["data"]
    assert [(o["id"], o.get("deleted", False)) for o in data] == [("r2", False), ("r1", True)]


def test_plain_list_excludes_tombstones(admin: httpx.Client, collection: str) -> None:
    admin.put(collection + "/r1", json={"data": {}})
    admin.put(collection + "/r2", json={"data": {}})
    admin.delete(collection + "/r1")
    assert [o["id"] for o in admin.get(collection).json()["data"]] == ["r2"]


def test_gt_last_modified_also_includes_tombstones(admin: httpx.Client, collection: str) -> None:
    since = admin.put(collection + "/r1", json={"data": {}}).json()["data"]["last_modified"]
    admin.delete(collection + "/r1")
    r = admin.get(collection, params={"gt_last_modified": str(since)})
    assert [(o["id"], o.get("deleted")) for o in r.json()["data"]] == [("r1", True)]


def test_since_with_deleted_filter_returns_only_tombstones(
    admin: httpx.Client, collection: str
) -> None:
    since = admin.put(collection + "/r1", json={"data": {}}).json()["data"]["last_modified"]
    admin.put(collection + "/r2", json={"data": {}})
    admin.delete(collection + "/r1")
    r = admin.get(collection, params={"_since": str(since), "deleted": "true"})
    assert [(o["id"], o["deleted"]) for o in r.json()["data"]] == [("r1", True)]


def test_before_excludes_tombstones(admin: httpx.Client, collection: str) -> None:
    admin.put(collection + "/r1", json={"data": {}})
    admin.put(collection + "/r2", json={"data": {}})
    before = admin.put(collection + "/r3", json={"data": {}}).json()["data"]["last_modified"]
    admin.put(collection + "/r4", json={"data": {}})
    admin.delete(collection + "/r1")
    r = admin.get(collection, params={"_before": str(before)})
    assert r.status_code == 200
    assert [o["id"] for o in r.json()["data"]] == ["r2"]


def test_head_with_since_counts_live_records_only(admin: httpx.Client, collection: str) -> None:
    since = admin.put(collection + "/r1", json={"data": {}}).json()["data"]["last_modified"]
    admin.put(collection + "/r2", json={"data": {}})
    admin.put(collection + "/r3", json={"data": {}})
    admin.delete(collection + "/r3")
    r = admin.head(collection, params={"_since": str(since)})
    assert r.headers["Total-Records"] == "1"


def test_since_must_be_a_number(admin: httpx.Client, collection: str) -> None:
    r = admin.get(collection, params={"_since": "abc"})
    assert r.status_code == 400
    assert r.json() == {
        "code": 400,
        "errno": 107,
        "error": "Invalid parameters",
        "message": '_since in querystring: "abc" is not a number',
        "details": [
            {"location": "querystring", "name": "_since", "description": '"abc" is not a number'}
        ],
    }


def test_tombstone_is_replaced_by_recreation(admin: httpx.Client, collection: str) -> None:
    since = admin.put(collection + "/r1", json={"data": {"v": 1}}).json()["data"]["last_modified"]
    admin.delete(collection + "/r1")
    r = admin.put(collection + "/r1", json={"data": {"v": 2}})
    assert r.status_code == 201
    data = admin.get(collection, params={"_since": str(since)}).json()["data"]
    assert [(o["id"], o.get("v"), o.get("deleted")) for o in data] == [("r1", 2, None)]


def test_two_writers_with_if_match_loser_gets_412(
    admin: httpx.Client, collection: str, server
) -> None:
    created = admin.put(collection + "/r1", json={"data": {"v": 0}})
    etag = created.headers["ETag"]
    # Both writers read the same version, then write with If-Match on it.
    with httpx.Client(base_url=server.url, auth=server.admin, timeout=10.0) as other:
        first = admin.patch(collection + "/r1", json={"data": {"v": 1}}, headers={"If-Match": etag})
        second = other.patch(
            collection + "/r1", json={"data": {"v": 2}}, headers={"If-Match": etag}
        )
    assert first.status_code == 200
    assert second.status_code == 412
    assert second.json() == {**PRECONDITION_FAILED, "details": {"existing": first.json()["data"]}}
    assert admin.get(collection + "/r1").json()["data"]["v"] == 1


def test_collection_timestamp_is_not_bumped_by_records(
    admin: httpx.Client, collection: str
) -> None:
    before = admin.get("/buckets/b/collections/c").json()["data"]["last_modified"]
    admin.put(collection + "/r1", json={"data": {}})
    after = admin.get("/buckets/b/collections/c").json()["data"]["last_modified"]
    assert after == before


def test_head_on_object_has_etag_and_no_body(admin: httpx.Client, collection: str) -> None:
    created = admin.put(collection + "/r1", json={"data": {}})
    r = admin.head(collection + "/r1")
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["ETag"] == created.headers["ETag"]


def test_if_none_match_star_on_get_of_existing_is_412(admin: httpx.Client, collection: str) -> None:
    created = admin.put(collection + "/r1", json={"data": {}}).json()["data"]
    r = admin.get(collection + "/r1", headers={"If-None-Match": "*"})
    assert r.status_code == 412
    assert r.json() == {**PRECONDITION_FAILED, "details": {"existing": created}}


def test_if_none_match_timestamp_is_ignored_on_writes(admin: httpx.Client, collection: str) -> None:
    # Quirk: only "*" is a precondition for writes; a quoted timestamp is not checked.
    created = admin.put(collection + "/r1", json={"data": {}})
    r = admin.put(
        collection + "/r1",
        json={"data": {"v": 1}},
        headers={"If-None-Match": created.headers["ETag"]},
    )
    assert r.status_code == 200


def test_if_none_match_must_be_quoted_integer(admin: httpx.Client, collection: str) -> None:
    r = admin.get(collection, headers={"If-None-Match": '"abc"'})
    assert r.status_code == 400
    desc = "The value should be integer between double quotes."
    assert r.json() == {
        "code": 400,
        "errno": 107,
        "error": "Invalid parameters",
        "message": "If-None-Match in header: " + desc,
        "details": [{"location": "header", "name": "If-None-Match", "description": desc}],
    }


def test_since_with_paging_includes_tombstones_on_every_page(
    admin: httpx.Client, collection: str
) -> None:
    since = admin.put(collection + "/r0", json={"data": {}}).json()["data"]["last_modified"]
    for i in range(1, 5):
        admin.put(f"{collection}/r{i}", json={"data": {"i": i}})
    admin.delete(collection + "/r1")
    admin.delete(collection + "/r3")
    url: str | None = f"{collection}?_since={since}&_limit=2&_sort=last_modified"
    seen: list[tuple[str, bool]] = []
    for _ in range(10):  # bounded
        if url is None:
            break
        r = admin.get(url)
        assert r.status_code == 200
        seen += [(o["id"], o.get("deleted", False)) for o in r.json()["data"]]
        url = r.headers.get("Next-Page")
        if url is not None:
            assert f"_since={since}" in url
    assert url is None
    assert seen == [("r2", False), ("r4", False), ("r1", True), ("r3", True)]
