"""The real kinto-http client library against the server under test."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest
from kinto_http import Client, KintoException


@pytest.fixture
def client(server, admin: httpx.Client) -> Client:
    return Client(server_url=server.url, auth=server.admin, bucket="b", collection="c")


@pytest.fixture
def ready(client: Client) -> Client:
    client.create_bucket(id="b")
    client.create_collection(id="c")
    return client


def test_server_info(client: Client) -> None:
    info = client.server_info()
    assert info["user"]["id"] == "account:admin"
    assert "attachments" in info["capabilities"]


def test_buckets(client: Client) -> None:
    created = client.create_bucket(id="b", data={"title": "B"})
    assert created["data"]["id"] == "b"
    assert created["permissions"] == {"write": ["account:admin"]}
    assert [b["id"] for b in client.get_buckets()] == ["b"]
    assert client.get_bucket(id="b")["data"]["title"] == "B"
    client.patch_bucket(id="b", data={"extra": 1})
    assert client.get_bucket(id="b")["data"]["extra"] == 1
    # if_not_exists returns the existing bucket instead of failing.
    assert client.create_bucket(id="b", if_not_exists=True)["data"]["id"] == "b"
    with pytest.raises(KintoException) as exc:
        client.create_bucket(id="b")  # safe by default: If-None-Match: *
    assert exc.value.response.status_code == 412
    deleted = client.delete_bucket(id="b")
    assert deleted["deleted"] is True
    assert client.get_buckets() == []


def test_collections(ready: Client) -> None:
    ready.create_collection(id="c2", data={"title": "two"})
    assert sorted(c["id"] for c in ready.get_collections()) == ["c", "c2"]
    assert ready.get_collection(id="c2")["data"]["title"] == "two"
    ready.update_collection(id="c2", data={"title": "deux"})
    assert ready.get_collection(id="c2")["data"]["title"] == "deux"
    ready.delete_collection(id="c2")
    assert [c["id"] for c in ready.get_collections()] == ["c"]


def test_groups(ready: Client) -> None:
    ready.create_group(id="g", data={"members": ["account:alice"]})
    group = ready.get_group(id="g")
    assert group["data"]["members"] == ["account:alice"]
    ready.patch_group(id="g", data={"members": ["account:alice", "account:bob"]})
    assert ready.get_group(id="g")["data"]["members"] == ["account:alice", "account:bob"]
    assert [g["id"] for g in ready.get_groups()] == ["g"]
    ready.delete_group(id="g")
    assert ready.get_groups() == []


def test_records_crud(ready: Client) -> None:
    rec = ready.create_record(id="r1", data={"title": "a"})
    assert rec["data"]["title"] == "a"
    auto = ready.create_record(data={"title": "auto"})
    assert auto["data"]["id"]
    ready.update_record(id="r1", data={"title": "b"})
    assert ready.get_record(id="r1")["data"]["title"] == "b"
    ready.patch_record(id="r1", data={"extra": True})
    assert ready.get_record(id="r1")["data"] == {
        "id": "r1",
        "title": "b",
        "extra": True,
        "last_modified": ready.get_record(id="r1")["data"]["last_modified"],
    }
    assert sorted(r["id"] for r in ready.get_records()) == sorted(["r1", auto["data"]["id"]])
    assert ready.delete_record(id="r1")["deleted"] is True
    with pytest.raises(KintoException) as exc:
        ready.get_record(id="r1")
    assert exc.value.response.status_code == 404


def test_get_records_follows_pagination(ready: Client) -> None:
    for i in range(7):
        ready.create_record(id=f"r{i}", data={"i": i})
    records = ready.get_records(_limit=2, _sort="i", pages=float("inf"))
    assert [r["i"] for r in records] == list(range(7))


def test_safe_update_with_if_match(ready: Client) -> None:
    rec = ready.create_record(id="r1", data={"v": 1})["data"]
    ready.update_record(id="r1", data={"v": 2}, if_match=rec["last_modified"])
    with pytest.raises(KintoException) as exc:
        ready.update_record(id="r1", data={"v": 3}, if_match=rec["last_modified"])
    assert exc.value.response.status_code == 412
    assert ready.get_record(id="r1")["data"]["v"] == 2


def test_batch(ready: Client) -> None:
    with ready.batch() as batch:
        for i in range(3):
            batch.create_record(id=f"r{i}", data={"i": i})
        batch.create_collection(id="c2")
    results = batch.results()
    assert len(results) == 4
    assert [r["data"]["id"] for r in results] == ["r0", "r1", "r2", "c2"]
    assert sorted(r["id"] for r in ready.get_records()) == ["r0", "r1", "r2"]


def test_batch_splits_above_batch_max_requests(ready: Client) -> None:
    with ready.batch() as batch:
        for i in range(30):  # > batch_max_requests (25)
            batch.create_record(id=f"r{i}", data={"i": i})
    assert len(batch.results()) == 30
    assert len(ready.get_records()) == 30


def test_permissions(ready: Client, server, alice: httpx.Client) -> None:
    ready.create_record(id="r1", data={}, permissions={"read": ["account:alice"]})
    perms = ready.get_record(id="r1")["permissions"]
    assert perms == {"read": ["account:alice"], "write": ["account:admin"]}
    as_alice = Client(server_url=server.url, auth=server.credentials("alice"))
    assert as_alice.get_record(id="r1", bucket="b", collection="c")["data"]["id"] == "r1"
    with pytest.raises(KintoException) as exc:
        as_alice.update_record(id="r1", bucket="b", collection="c", data={})
    assert exc.value.response.status_code == 403
    uris = {p["uri"] for p in ready.get_permissions()}
    assert {"/buckets/b", "/buckets/b/collections/c", "/buckets/b/collections/c/records/r1"} <= uris


def test_since_polling(ready: Client) -> None:
    ready.create_record(id="r1", data={"v": 1})
    ready.create_record(id="r2", data={"v": 1})
    since = ready.get_records_timestamp()
    ready.patch_record(id="r1", data={"v": 2})
    ready.delete_record(id="r2")
    changes = ready.get_records(_since=since)
    assert sorted((r["id"], r.get("deleted", False)) for r in changes) == [
        ("r1", False),
        ("r2", True),
    ]
    last = max(r["last_modified"] for r in changes)
    assert ready.get_records(_since=str(last)) == []


def test_attachments(ready: Client, tmp_path: Path, server) -> None:
    src = tmp_path / "note.txt"
    src.write_bytes(b"attached by kinto-http\n")
    ready.create_record(id="r1", data={"title": "t"})
    att = ready.add_attachment(id="r1", filepath=str(src), mimetype="text/plain")
    assert att["filename"] == "note.txt"
    assert att["hash"] == hashlib.sha256(src.read_bytes()).hexdigest()
    record = ready.get_record(id="r1")["data"]
    assert record["attachment"] == att
    assert record["title"] == "t"
    out = ready.download_attachment(record, filepath=str(tmp_path / "out.txt"))
    assert Path(out).read_bytes() == src.read_bytes()
    ready.remove_attachment(id="r1")
    assert ready.get_record(id="r1")["data"]["attachment"] is None
