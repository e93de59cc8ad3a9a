"""Kinto's ``default_bucket`` plugin: ``/buckets/default`` is the caller's personal bucket.

kinto.js syncs into the bucket ``default`` unless told otherwise, so a real client needs it.
"""

from __future__ import annotations

import re

import httpx

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TASKS = "/buckets/default/collections/tasks/records"


def _bucket_of(client: httpx.Client) -> str:
    return str(client.get("/").json()["user"]["bucket"])


def test_root_advertises_the_default_bucket(alice: httpx.Client, anon: httpx.Client) -> None:
    root = alice.get("/").json()
    assert UUID.match(root["user"]["bucket"])
    assert root["capabilities"]["default_bucket"] == {
        "description": "The default bucket is an alias for a personal bucket where "
        "collections are created implicitly.",
        "url": "https://kinto.readthedocs.io/en/latest/api/1.x/buckets.html"
        "#personal-bucket-default",
    }
    assert "user" not in anon.get("/").json()


def test_each_user_has_a_personal_bucket_and_it_stays_the_same(
    alice: httpx.Client, bob: httpx.Client
) -> None:
    mine = _bucket_of(alice)
    assert mine == _bucket_of(alice)
    assert mine != _bucket_of(bob)


def test_first_use_creates_the_bucket_and_the_collection(alice: httpx.Client) -> None:
    bucket = _bucket_of(alice)
    assert alice.get("/buckets").json()["data"] == []
    r = alice.get(TASKS)
    assert r.status_code == 200
    assert r.json() == {"data": []}
    assert [b["id"] for b in alice.get("/buckets").json()["data"]] == [bucket]
    got = alice.get("/buckets/default").json()
    assert got["data"]["id"] == bucket
    assert got["permissions"] == {"write": ["account:alice"]}
    collection = alice.get(f"/buckets/{bucket}/collections/tasks").json()
    assert collection["permissions"] == {"write": ["account:alice"]}


def test_records_in_the_default_bucket(alice: httpx.Client) -> None:
    bucket = _bucket_of(alice)
    r = alice.put(TASKS + "/r1", json={"data": {"title": "milk"}})
    assert r.status_code == 201, r.text
    assert r.json()["permissions"] == {"write": ["account:alice"]}
    listed = alice.get(f"/buckets/{bucket}/collections/tasks/records").json()["data"]
    assert [x["title"] for x in listed] == ["milk"]
    assert alice.get(TASKS + "/r1").json()["data"]["title"] == "milk"
    assert alice.get(TASKS + "/nope").status_code == 404


def test_default_bucket_is_private(alice: httpx.Client, bob: httpx.Client, anon) -> None:
    alice.put(TASKS + "/r1", json={"data": {"title": "milk"}})
    assert bob.get(f"/buckets/{_bucket_of(alice)}").status_code == 403
    assert bob.get(TASKS).json() == {"data": []}  # bob's own, empty
    r = anon.get("/buckets/default")
    assert r.status_code == 401
    assert r.json()["errno"] == 104


def test_put_of_the_default_bucket_and_of_a_collection(alice: httpx.Client) -> None:
    bucket = _bucket_of(alice)
    r = alice.put("/buckets/default", json={"data": {"id": "default", "title": "Mine"}})
    assert r.status_code == 201
    assert r.json()["data"]["id"] == bucket
    r = alice.put("/buckets/default/collections/notes", json={"data": {"x": 1}})
    assert r.status_code == 201
    data = r.json()["data"]
    assert data == {"x": 1, "id": "notes", "last_modified": data["last_modified"]}


def test_invalid_collection_id_and_unknown_paths(alice: httpx.Client) -> None:
    r = alice.get("/buckets/default/collections/b.d/records")
    assert r.status_code == 400
    assert r.json()["message"] == "path: Invalid collection id"
    assert alice.get("/buckets/default/foo").status_code == 404


def test_default_bucket_in_a_batch(alice: httpx.Client) -> None:
    r = alice.post(
        "/batch",
        json={
            "requests": [
                {"path": "/buckets/default/collections/t2/records"},
                {"method": "PUT", "path": "/buckets/default/collections/t2/records/x",
                 "body": {"data": {"k": 1}}},
            ]
        },
    )
    first, second = r.json()["responses"]
    assert (first["status"], second["status"]) == (200, 201)
    assert first["path"] == "/v1/buckets/default/collections/t2/records"
    assert second["body"]["data"]["k"] == 1
    assert alice.get("/buckets/default/collections/t2/records/x").status_code == 200


def test_default_bucket_is_made_whoever_may_create_buckets(server, alice: httpx.Client) -> None:
    """Implicit creation needs no ``bucket:create``: alice may not create ``other`` but gets
    her personal bucket. (Needs a home where accounts may not create buckets: Homeport only.)"""
    if server.is_kinto:
        return
    server.restart_home({"bucket_create_principals": "account:admin"})
    try:
        alice = server.client("alice")  # the restart closed the old clients
        assert alice.put("/buckets/other").status_code == 403
        assert alice.get(TASKS).status_code == 200
    finally:
        server.restart_home({"bucket_create_principals": "system.Authenticated"})


def test_attachment_in_the_default_bucket(server, alice: httpx.Client) -> None:
    path = "/buckets/default/collections/files/records/r1"
    r = alice.post(path + "/attachment", files={"attachment": ("a.txt", b"hello", "text/plain")})
    assert r.status_code == 201, r.text
    record = alice.get(path).json()["data"]
    assert record["attachment"]["size"] == 5
    assert httpx.get(server.absolute(record["attachment"]["location"])).content == b"hello"
    bucket = _bucket_of(alice)
    assert alice.get(f"/buckets/{bucket}/collections/files/records/r1").status_code == 200
    assert alice.delete(path + "/attachment").status_code == 204
    assert alice.get(path).json()["data"]["attachment"] is None
