"""A field left out of a write means "unchanged", never "empty".

kinto-http's ``setPermissions()`` and kinto.js's ``updateRecord({id}, {permissions})`` send a PUT
with ``permissions`` and no ``data``; Kinto keeps the object's data. Losing it silently would
drop a bucket's title, a collection's schema, a record's fields or a group's members (and with
them everyone's access). The same holds for PATCH, batch ``defaults``, accounts (a password
left out is kept, never re-hashed) and the attachment form's ``data``/``permissions`` fields.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

EVERYONE_READS = {"permissions": {"read": ["system.Everyone"]}}
SCHEMA = {"type": "object", "properties": {"title": {"type": "string"}}}
MERGE = {"Content-Type": "application/merge-patch+json"}
JSON_PATCH = {"Content-Type": "application/json-patch+json"}

# path → data it is created with (the bucket and the collection exist before each case)
OBJECTS = {
    "bucket": ("/buckets/b", {"title": "Bucket"}),
    "collection": ("/buckets/b/collections/c", {"schema": SCHEMA, "title": "Coll"}),
    "group": ("/buckets/b/groups/g", {"members": ["account:alice"], "title": "G"}),
    "record": ("/buckets/b/collections/c/records/r", {"title": "Rec", "n": 1}),
}


def _setup(admin: httpx.Client) -> None:
    assert admin.put("/buckets/b", json={"data": OBJECTS["bucket"][1]}).status_code == 201
    r = admin.put("/buckets/b/collections/c", json={"data": OBJECTS["collection"][1]})
    assert r.status_code == 201


def _create(admin: httpx.Client, kind: str) -> dict:
    _setup(admin)
    path, data = OBJECTS[kind]
    if kind in ("group", "record"):
        assert admin.put(path, json={"data": data}).status_code == 201
    return admin.get(path).json()


def _user_data(data: dict, kind: str) -> dict:
    """The fields a client wrote (a record's ``schema`` is the server's stamp)."""
    meta = ("last_modified", "schema") if kind == "record" else ("last_modified",)
    return {k: v for k, v in data.items() if k not in meta}


@pytest.mark.parametrize("kind", list(OBJECTS))
def test_put_with_only_permissions_keeps_data(admin: httpx.Client, kind: str) -> None:
    path, created_with = OBJECTS[kind]
    before = _create(admin, kind)
    r = admin.put(path, json=EVERYONE_READS)
    assert r.status_code == 200, r.text
    body = r.json()
    assert _user_data(body["data"], kind) == {**created_with, "id": path.rsplit("/", 1)[1]}
    assert body["data"]["last_modified"] > before["data"]["last_modified"]
    assert body["permissions"] == {"read": ["system.Everyone"], "write": ["account:admin"]}
    assert admin.get(path).json() == body


@pytest.mark.parametrize("kind", list(OBJECTS))
@pytest.mark.parametrize("body", [{}, None], ids=["empty-object", "no-body"])
def test_put_with_neither_keeps_data_and_permissions(
    admin: httpx.Client, kind: str, body: dict | None
) -> None:
    path, created_with = OBJECTS[kind]
    _create(admin, kind)
    admin.patch(path, json=EVERYONE_READS)
    r = admin.put(path, json=body) if body is not None else admin.put(path)
    assert r.status_code == 200, r.text
    assert _user_data(r.json()["data"], kind) == {**created_with, "id": path.rsplit("/", 1)[1]}
    assert r.json()["permissions"] == {"read": ["system.Everyone"], "write": ["account:admin"]}


def test_put_with_only_permissions_on_a_group_keeps_its_members_access(
    admin: httpx.Client, alice: httpx.Client
) -> None:
    """The issue's reproduction: members lost means everyone's access silently revoked."""
    _setup(admin)
    admin.put("/buckets/b/groups/g", json={"data": {"members": ["account:alice"]}})
    admin.patch("/buckets/b", json={"permissions": {"read": ["/buckets/b/groups/g"]}})
    assert alice.get("/buckets/b/collections/c").status_code == 200
    r = admin.put("/buckets/b/groups/g", json=EVERYONE_READS)
    assert r.status_code == 200
    assert admin.get("/buckets/b/groups/g").json()["data"]["members"] == ["account:alice"]
    assert alice.get("/buckets/b/collections/c").status_code == 200


def test_put_with_only_permissions_on_a_collection_keeps_its_schema(admin: httpx.Client) -> None:
    _setup(admin)
    admin.put("/buckets/b/collections/c", json=EVERYONE_READS)
    r = admin.post("/buckets/b/collections/c/records", json={"data": {"title": 5}})
    assert r.status_code == 400
    assert r.json()["message"] == "title in body: 5 is not of type 'string'"


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("bucket", "/buckets/new"),
        ("group", "/buckets/b/groups/new"),
        ("record", "/buckets/b/collections/c/records/new"),
    ],
)
def test_put_with_only_permissions_creates_an_empty_object(
    admin: httpx.Client, kind: str, path: str
) -> None:
    _setup(admin)
    r = admin.put(path, json=EVERYONE_READS)
    assert r.status_code == 201, r.text
    data = r.json()["data"]
    # no `members` on a group created without data; the record is stamped with the schema
    assert set(data) == {"id", "last_modified"} | ({"schema"} if kind == "record" else set())
    assert r.json()["permissions"] == {"read": ["system.Everyone"], "write": ["account:admin"]}


def test_put_with_empty_permissions_keeps_permissions(admin: httpx.Client) -> None:
    _setup(admin)
    admin.patch("/buckets/b", json=EVERYONE_READS)
    r = admin.put("/buckets/b", json={"data": {"title": "New"}, "permissions": {}})
    assert r.status_code == 200
    assert r.json()["permissions"] == {"read": ["system.Everyone"], "write": ["account:admin"]}
    assert r.json()["data"]["title"] == "New"


def test_put_ignores_null_permission_values(admin: httpx.Client) -> None:
    _setup(admin)
    admin.patch("/buckets/b", json=EVERYONE_READS)
    r = admin.put("/buckets/b", json={"permissions": {"read": None}})
    assert r.status_code == 200
    assert r.json()["permissions"] == {"read": ["system.Everyone"], "write": ["account:admin"]}
    # with another permission given, the PUT replaces them all (read is gone)
    r = admin.put("/buckets/b", json={"permissions": {"read": None, "group:create": ["x:y"]}})
    assert r.json()["permissions"] == {"group:create": ["x:y"], "write": ["account:admin"]}


@pytest.mark.parametrize("method", ["put", "patch"])
@pytest.mark.parametrize("field", ["data", "permissions"])
def test_null_data_or_permissions_is_refused(
    admin: httpx.Client, method: str, field: str
) -> None:
    _setup(admin)
    r = admin.request(method.upper(), "/buckets/b", json={field: None})
    assert r.status_code == 400
    description = '"None" is not a mapping type: Does not implement dict-like functionality.'
    assert r.json()["message"] == f"{field} in body: {description}"
    assert r.json()["details"] == [{"location": "body", "name": field, "description": description}]
    assert admin.get("/buckets/b").json()["data"]["title"] == "Bucket"


# --- PATCH ---------------------------------------------------------------------------------
@pytest.mark.parametrize("headers", [{}, MERGE], ids=["json", "merge-patch"])
@pytest.mark.parametrize("body", [{}, None], ids=["empty-object", "no-body"])
def test_patch_without_data_or_permissions_is_refused(
    admin: httpx.Client, headers: dict, body: dict | None
) -> None:
    before = _create(admin, "record")
    path = OBJECTS["record"][0]
    content = b"" if body is None else json.dumps(body).encode()
    r = admin.patch(path, content=content, headers={"Content-Type": "application/json", **headers})
    assert r.status_code == 400
    message = "Provide at least one of data or permissions"
    assert r.json() == {
        "code": 400,
        "errno": 107,
        "error": "Invalid parameters",
        "message": message,
        "details": [{"location": "body", "name": "data", "description": message}],
    }
    assert admin.get(path).json() == before


def test_patch_of_a_group_without_members_keeps_them(
    admin: httpx.Client, alice: httpx.Client
) -> None:
    _create(admin, "group")
    admin.patch("/buckets/b", json={"permissions": {"read": ["/buckets/b/groups/g"]}})
    for headers in ({}, MERGE):
        r = admin.patch("/buckets/b/groups/g", json={"data": {"title": "H"}}, headers=headers)
        assert r.status_code == 200
        assert r.json()["data"]["members"] == ["account:alice"]
    assert alice.get("/buckets/b").status_code == 200


def test_patch_gives_a_group_without_members_an_empty_list(admin: httpx.Client) -> None:
    _setup(admin)
    admin.put("/buckets/b/groups/g", json=EVERYONE_READS)
    r = admin.patch("/buckets/b/groups/g", json={"data": {"title": "H"}})
    assert r.json()["data"]["members"] == []


def test_patch_null_permission_is_ignored_but_merge_patch_null_removes(
    admin: httpx.Client,
) -> None:
    _create(admin, "record")
    path = OBJECTS["record"][0]
    admin.patch(path, json={"permissions": {"read": ["account:bob"]}})
    r = admin.patch(path, json={"permissions": {"read": None}})
    assert r.status_code == 200
    assert r.json()["permissions"] == {"read": ["account:bob"], "write": ["account:admin"]}
    r = admin.patch(path, json={"permissions": {"read": None}}, headers=MERGE)
    assert r.status_code == 200
    assert r.json()["permissions"] == {"write": ["account:admin"]}
    assert r.json()["data"]["title"] == "Rec"


# --- accounts ------------------------------------------------------------------------------
@pytest.mark.parametrize("body", [EVERYONE_READS, {}], ids=["only-permissions", "empty"])
def test_account_put_without_data_is_refused(alice: httpx.Client, body: dict) -> None:
    before = alice.get("/accounts/alice").json()
    r = alice.put("/accounts/alice", json=body)
    assert r.status_code == 400
    assert r.json()["message"] == "data in body: Required"
    assert r.json()["details"] == [{"location": "body", "name": "data", "description": "Required"}]
    assert alice.get("/accounts/alice").json() == before


@pytest.mark.parametrize("body", [EVERYONE_READS, {}], ids=["only-permissions", "empty"])
def test_new_account_put_without_data_is_refused(anon: httpx.Client, body: dict) -> None:
    r = anon.put("/accounts/zed", json=body)
    assert r.status_code == 400
    assert r.json()["message"] == "data in body: Required"
    assert anon.put("/accounts/zed", json={"data": {"password": "zed-pw-123"}}).status_code == 201


def test_account_put_without_password_is_refused(alice: httpx.Client) -> None:
    r = alice.put("/accounts/alice", json={"data": {"name": "Alice"}})
    assert r.status_code == 400
    assert r.json()["message"] == "data.password in body: Required"
    assert alice.get("/accounts/alice").status_code == 200


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        ({"data": {"name": "Alice"}}, {}),
        ({"permissions": {"read": ["account:bob"]}}, {}),
        ({"data": {"name": "Alice"}}, MERGE),
        ([{"op": "add", "path": "/permissions/read/account:bob"}], JSON_PATCH),
        ([{"op": "add", "path": "/data/name", "value": "Alice"}], JSON_PATCH),
    ],
    ids=["data", "permissions", "merge-patch", "json-patch-permissions", "json-patch-data"],
)
def test_account_patch_without_password_keeps_the_password(
    server: Any, alice: httpx.Client, body: object, headers: dict
) -> None:
    """A PATCH that does not carry a password must not re-hash the stored hash (lock-out)."""
    before = alice.get("/accounts/alice").json()["data"]["password"]
    r = alice.patch("/accounts/alice", content=json.dumps(body).encode(),
                    headers={"Content-Type": "application/json", **headers})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["password"] == before
    again = httpx.get(f"{server.url}/accounts/alice", auth=server.credentials("alice"))
    assert again.status_code == 200
    assert again.json()["data"]["password"] == before


def test_account_patch_with_a_password_changes_it(server: Any, alice: httpx.Client) -> None:
    r = alice.patch("/accounts/alice", json={"data": {"password": "patched-pw"}})
    assert r.status_code == 200
    assert r.json()["data"]["password"] != "patched-pw"
    url = f"{server.url}/accounts/alice"
    assert httpx.get(url, auth=("alice", "patched-pw")).status_code == 200
    assert httpx.get(url, auth=server.credentials("alice")).status_code == 401


# --- batch ---------------------------------------------------------------------------------
def test_batch_permissions_only_put_keeps_data(admin: httpx.Client) -> None:
    _create(admin, "record")
    r = admin.post(
        "/batch",
        json={
            "defaults": {"method": "PUT", "body": EVERYONE_READS},
            "requests": [{"path": "/buckets/b/collections/c/records/r"}, {"path": "/buckets/b"}],
        },
    )
    assert r.status_code == 200
    record, bucket = (x["body"] for x in r.json()["responses"])
    assert record["data"]["title"] == "Rec"
    assert bucket["data"]["title"] == "Bucket"
    assert bucket["permissions"] == {"read": ["system.Everyone"], "write": ["account:admin"]}


def test_batch_request_null_is_not_replaced_by_the_default(admin: httpx.Client) -> None:
    """A null given in a request is the request's value, not a hole for the default."""
    _create(admin, "record")
    r = admin.post(
        "/batch",
        json={
            "defaults": {"method": "PATCH", "body": {"data": {"n": 2, "k": 3}}},
            "requests": [
                {"path": "/buckets/b/collections/c/records/r", "body": {"data": {"n": None}}}
            ],
        },
    )
    assert r.status_code == 200
    [response] = r.json()["responses"]
    assert response["status"] == 200, response
    data = response["body"]["data"]
    assert (data["n"], data["k"], data["title"]) == (None, 3, "Rec")


def test_batch_bodies_are_plain_json(admin: httpx.Client) -> None:
    """Kinto sends every batch body as application/json: a merge-patch Content-Type given in
    the sub-request does not make a null remove the field."""
    _create(admin, "record")
    r = admin.post(
        "/batch",
        json={
            "requests": [
                {
                    "method": "PATCH",
                    "path": "/buckets/b/collections/c/records/r",
                    "headers": MERGE,
                    "body": {"data": {"n": None}},
                }
            ],
        },
    )
    [response] = r.json()["responses"]
    assert response["status"] == 200, response
    assert response["body"]["data"]["n"] is None


# --- attachments ---------------------------------------------------------------------------
def test_attachment_with_only_permissions_keeps_record_data(admin: httpx.Client) -> None:
    _create(admin, "record")
    path = OBJECTS["record"][0]
    admin.patch(path, json={"permissions": {"read": ["account:bob"]}})
    r = admin.post(
        path + "/attachment",
        files={"attachment": ("a.txt", b"hello", "text/plain")},
        data={"permissions": json.dumps({"write": ["account:alice"]})},
    )
    assert r.status_code == 200, r.text
    got = admin.get(path).json()
    assert got["data"]["title"] == "Rec" and got["data"]["n"] == 1
    assert got["data"]["attachment"]["size"] == 5
    # the form's permissions are patched in: read is kept, write replaced (the author kept)
    permissions = {k: sorted(v) for k, v in got["permissions"].items()}
    assert permissions == {"read": ["account:bob"], "write": ["account:admin", "account:alice"]}
