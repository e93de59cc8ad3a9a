"""Buckets, collections, groups and records: create, read, update, delete."""

from __future__ import annotations

import json
import re

import httpx

ADMIN_WRITE = {"write": ["account:admin"]}
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


# --- buckets ---------------------------------------------------------------


def test_put_bucket_creates_with_201(admin: httpx.Client) -> None:
    r = admin.put("/buckets/b")
    assert r.status_code == 201
    body = r.json()
    assert body["permissions"] == ADMIN_WRITE
    assert body["data"] == {"id": "b", "last_modified": body["data"]["last_modified"]}
    assert isinstance(body["data"]["last_modified"], int)
    assert r.headers["ETag"] == '"{}"'.format(body["data"]["last_modified"])
    assert r.headers["Content-Type"] == "application/json"


def test_put_existing_bucket_replaces_with_200(admin: httpx.Client) -> None:
    admin.put("/buckets/b", json={"data": {"a": 1}})
    r = admin.put("/buckets/b", json={"data": {"x": 1}})
    assert r.status_code == 200
    data = r.json()["data"]
    assert data == {"id": "b", "x": 1, "last_modified": data["last_modified"]}


def test_post_buckets_creates_with_201(admin: httpx.Client) -> None:
    r = admin.post("/buckets", json={"data": {"id": "b2", "title": "t"}})
    assert r.status_code == 201
    assert r.json()["data"]["title"] == "t"
    assert r.json()["permissions"] == ADMIN_WRITE


def test_post_existing_bucket_returns_existing_with_200(admin: httpx.Client) -> None:
    first = admin.post("/buckets", json={"data": {"id": "b2"}}).json()
    r = admin.post("/buckets", json={"data": {"id": "b2", "other": 2}})
    assert r.status_code == 200
    # The existing object is returned unchanged; the posted data is ignored.
    assert r.json() == first


def test_post_bucket_without_id_generates_one(admin: httpx.Client) -> None:
    r = admin.post("/buckets", json={})
    assert r.status_code == 201
    # Buckets (and collections, groups) get 8 random chars of Kinto's id alphabet.
    assert re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_-]{7}", r.json()["data"]["id"])


def test_get_bucket(admin: httpx.Client) -> None:
    created = admin.put("/buckets/b", json={"data": {"k": "v"}}).json()
    r = admin.get("/buckets/b")
    assert r.status_code == 200
    assert r.json() == created
    assert r.headers["ETag"] == '"{}"'.format(created["data"]["last_modified"])


def test_list_buckets(admin: httpx.Client) -> None:
    admin.put("/buckets/b1")
    admin.put("/buckets/b2", json={"data": {"x": 1}})
    r = admin.get("/buckets")
    assert r.status_code == 200
    data = r.json()["data"]
    assert [b["id"] for b in data] == ["b2", "b1"]  # newest first
    assert data[0] == {"id": "b2", "x": 1, "last_modified": data[0]["last_modified"]}
    assert set(r.json()) == {"data"}  # no permissions in list responses


def test_delete_bucket_returns_tombstone(admin: httpx.Client) -> None:
    admin.put("/buckets/b")
    r = admin.delete("/buckets/b")
    assert r.status_code == 200
    data = r.json()["data"]
    assert r.json() == {
        "data": {"id": "b", "last_modified": data["last_modified"], "deleted": True}
    }


def test_deleted_bucket_is_forbidden_not_404_for_its_former_owner(admin: httpx.Client) -> None:
    # Nobody has read permission on a bucket that does not exist: Kinto answers 403.
    admin.put("/buckets/b")
    admin.delete("/buckets/b")
    r = admin.get("/buckets/b")
    assert r.status_code == 403
    assert r.json() == {
        "code": 403,
        "errno": 121,
        "error": "Forbidden",
        "message": "This user cannot access this resource.",
    }


def test_delete_bucket_cascades_to_collections_and_records(
    admin: httpx.Client, collection: str
) -> None:
    admin.put(collection + "/r1", json={"data": {}})
    admin.put("/buckets/b/groups/g", json={"data": {"members": []}})
    assert admin.delete("/buckets/b").status_code == 200
    # Re-create the bucket: its former children are gone.
    assert admin.put("/buckets/b").status_code == 201
    assert admin.get("/buckets/b/collections").json() == {"data": []}
    assert admin.get("/buckets/b/groups").json() == {"data": []}
    r = admin.get(collection)
    assert r.status_code == 404
    assert r.json() == {
        "code": 404,
        "errno": 111,
        "error": "Not Found",
        "details": {"id": "c", "resource_name": "collection"},
    }


def test_delete_all_buckets(admin: httpx.Client) -> None:
    admin.put("/buckets/b1")
    admin.put("/buckets/b2")
    r = admin.delete("/buckets")
    assert r.status_code == 200
    data = r.json()["data"]
    assert sorted(d["id"] for d in data) == ["b1", "b2"]
    assert all(d["deleted"] is True and set(d) == {"id", "last_modified", "deleted"} for d in data)
    assert admin.get("/buckets").json() == {"data": []}


# --- collections -----------------------------------------------------------


def test_put_collection_creates_with_201(admin: httpx.Client) -> None:
    admin.put("/buckets/b")
    r = admin.put("/buckets/b/collections/c", json={"data": {"title": "C"}})
    assert r.status_code == 201
    body = r.json()
    assert body == {
        "permissions": ADMIN_WRITE,
        "data": {"id": "c", "title": "C", "last_modified": body["data"]["last_modified"]},
    }


def test_put_collection_in_missing_bucket_is_403(admin: httpx.Client) -> None:
    r = admin.put("/buckets/nope/collections/c")
    assert r.status_code == 403
    assert r.json()["errno"] == 121


def test_post_collection_then_same_id_is_200(admin: httpx.Client) -> None:
    admin.put("/buckets/b")
    assert admin.post("/buckets/b/collections", json={"data": {"id": "c"}}).status_code == 201
    assert admin.post("/buckets/b/collections", json={"data": {"id": "c"}}).status_code == 200


def test_list_collections(admin: httpx.Client) -> None:
    admin.put("/buckets/b")
    admin.put("/buckets/b/collections/c1")
    admin.put("/buckets/b/collections/c2")
    r = admin.get("/buckets/b/collections")
    assert r.status_code == 200
    assert [c["id"] for c in r.json()["data"]] == ["c2", "c1"]


def test_delete_collection_cascades_to_records(admin: httpx.Client, collection: str) -> None:
    admin.put(collection + "/r1", json={"data": {}})
    r = admin.delete("/buckets/b/collections/c")
    assert r.status_code == 200
    assert r.json()["data"]["deleted"] is True
    admin.put("/buckets/b/collections/c")
    assert admin.get(collection).json() == {"data": []}


def test_get_missing_collection_in_own_bucket_is_404_errno_110(admin: httpx.Client) -> None:
    admin.put("/buckets/b")
    r = admin.get("/buckets/b/collections/nope")
    assert r.status_code == 404
    # Note: no "message" key in this 404 body; errno 110 when the object itself is
    # missing (111 when a parent is missing, see test_records_of_missing_collection...).
    assert r.json() == {
        "code": 404,
        "errno": 110,
        "error": "Not Found",
        "details": {"id": "nope", "resource_name": "collection"},
    }


# --- groups ----------------------------------------------------------------


def test_put_group_creates_with_members(admin: httpx.Client) -> None:
    admin.put("/buckets/b")
    r = admin.put("/buckets/b/groups/g", json={"data": {"members": ["account:alice"]}})
    assert r.status_code == 201
    body = r.json()
    assert body == {
        "permissions": ADMIN_WRITE,
        "data": {
            "id": "g",
            "members": ["account:alice"],
            "last_modified": body["data"]["last_modified"],
        },
    }


def test_group_members_default_to_empty_list(admin: httpx.Client) -> None:
    admin.put("/buckets/b")
    r = admin.put("/buckets/b/groups/g", json={"data": {}})
    assert r.status_code == 201
    assert r.json()["data"]["members"] == []


def test_group_created_without_data_has_no_members_field(admin: httpx.Client) -> None:
    admin.put("/buckets/b")
    r = admin.put("/buckets/b/groups/g", json={"permissions": {"read": ["system.Authenticated"]}})
    assert r.status_code == 201
    data = r.json()["data"]
    assert data == {"id": "g", "last_modified": data["last_modified"]}
    assert r.json()["permissions"] == {"read": ["system.Authenticated"], "write": ["account:admin"]}


def test_group_members_must_be_a_list(admin: httpx.Client) -> None:
    admin.put("/buckets/b")
    r = admin.put("/buckets/b/groups/g", json={"data": {"members": "x"}})
    assert r.status_code == 400
    assert r.json() == {
        "code": 400,
        "errno": 107,
        "error": "Invalid parameters",
        "message": 'data.members in body: "x" is not iterable',
        "details": [
            {"location": "body", "name": "data.members", "description": '"x" is not iterable'}
        ],
    }


def test_list_patch_and_delete_groups(admin: httpx.Client) -> None:
    admin.put("/buckets/b")
    admin.put("/buckets/b/groups/g1", json={"data": {"members": []}})
    admin.put("/buckets/b/groups/g2", json={"data": {"members": []}})
    assert [g["id"] for g in admin.get("/buckets/b/groups").json()["data"]] == ["g2", "g1"]
    r = admin.patch("/buckets/b/groups/g1", json={"data": {"members": ["account:bob"]}})
    assert r.status_code == 200
    assert r.json()["data"]["members"] == ["account:bob"]
    r = admin.delete("/buckets/b/groups/g1")
    assert r.status_code == 200
    assert r.json()["data"]["deleted"] is True
    assert [g["id"] for g in admin.get("/buckets/b/groups").json()["data"]] == ["g2"]


# --- records ---------------------------------------------------------------


def test_put_record_creates_with_201(admin: httpx.Client, collection: str) -> None:
    r = admin.put(collection + "/r1", json={"data": {"title": "a", "n": {"a": 1, "b": [1, 2]}}})
    assert r.status_code == 201
    body = r.json()
    assert body == {
        "permissions": ADMIN_WRITE,
        "data": {
            "id": "r1",
            "title": "a",
            "n": {"a": 1, "b": [1, 2]},
            "last_modified": body["data"]["last_modified"],
        },
    }


def test_put_record_replaces_with_200(admin: httpx.Client, collection: str) -> None:
    admin.put(collection + "/r1", json={"data": {"title": "a", "other": 1}})
    r = admin.put(collection + "/r1", json={"data": {"title": "b"}})
    assert r.status_code == 200
    data = r.json()["data"]
    assert data == {"id": "r1", "title": "b", "last_modified": data["last_modified"]}


def test_put_record_without_body_creates_empty_record(admin: httpx.Client, collection: str) -> None:
    r = admin.put(collection + "/r1")
    assert r.status_code == 201
    assert set(r.json()["data"]) == {"id", "last_modified"}


def test_post_record_generates_uuid4(admin: httpx.Client, collection: str) -> None:
    r = admin.post(collection, json={"data": {"title": "a"}})
    assert r.status_code == 201
    assert UUID4.match(r.json()["data"]["id"])
    assert r.json()["data"]["title"] == "a"


def test_post_record_with_existing_id_returns_existing_200(
    admin: httpx.Client, collection: str
) -> None:
    first = admin.post(collection, json={"data": {"id": "r1", "v": 1}}).json()
    r = admin.post(collection, json={"data": {"id": "r1", "v": 2}})
    assert r.status_code == 200
    assert r.json() == first


def test_get_record(admin: httpx.Client, collection: str) -> None:
    created = admin.put(collection + "/r1", json={"data": {"x": 1}}).json()
    r = admin.get(collection + "/r1")
    assert r.status_code == 200
    assert r.json() == created


def test_get_missing_record_is_404_errno_110(admin: httpx.Client, collection: str) -> None:
    r = admin.get(collection + "/nope")
    assert r.status_code == 404
    assert r.json() == {
        "code": 404,
        "errno": 110,
        "error": "Not Found",
        "details": {"id": "nope", "resource_name": "record"},
    }


def test_records_of_missing_collection_is_404_errno_111(admin: httpx.Client) -> None:
    admin.put("/buckets/b")
    r = admin.get("/buckets/b/collections/nope/records")
    assert r.status_code == 404
    assert r.json() == {
        "code": 404,
        "errno": 111,
        "error": "Not Found",
        "details": {"id": "nope", "resource_name": "collection"},
    }


def test_patch_plain_json_merges_top_level_and_keeps_nulls(
    admin: httpx.Client, collection: str
) -> None:
    admin.put(collection + "/r1", json={"data": {"title": "a", "n": {"a": 1, "b": [1, 2]}}})
    r = admin.patch(collection + "/r1", json={"data": {"title": "b", "n": {"a": None, "c": 3}}})
    assert r.status_code == 200
    data = r.json()["data"]
    # application/json PATCH: top-level keys replaced, nested objects replaced wholesale,
    # null values stored as null.
    assert data == {
        "id": "r1",
        "title": "b",
        "n": {"a": None, "c": 3},
        "last_modified": data["last_modified"],
    }


def test_patch_merge_patch_removes_null_fields_recursively(
    admin: httpx.Client, collection: str
) -> None:
    admin.put(collection + "/r1", json={"data": {"title": "a", "gone": 1, "n": {"a": 1, "b": 2}}})
    r = admin.patch(
        collection + "/r1",
        content=json.dumps({"data": {"gone": None, "n": {"a": None, "c": 3}}}),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 200
    data = r.json()["data"]
    assert data == {
        "id": "r1",
        "title": "a",
        "n": {"b": 2, "c": 3},
        "last_modified": data["last_modified"],
    }


def test_patch_json_patch_on_data_and_permissions(admin: httpx.Client, collection: str) -> None:
    admin.put(collection + "/r1", json={"data": {"title": "a", "tags": ["x"]}})
    ops = [
        {"op": "add", "path": "/data/z", "value": 5},
        {"op": "replace", "path": "/data/title", "value": "b"},
        {"op": "add", "path": "/data/tags/-", "value": "y"},
        {"op": "add", "path": "/permissions/read/system.Everyone", "value": "system.Everyone"},
    ]
    r = admin.patch(
        collection + "/r1",
        content=json.dumps(ops),
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert r.status_code == 200
    body = r.json()
    assert body["data"] == {
        "id": "r1",
        "title": "b",
        "tags": ["x", "y"],
        "z": 5,
        "last_modified": body["data"]["last_modified"],
    }
    # Adding "/permissions/<perm>/<principal>" grants <principal>.
    assert body["permissions"] == {"read": ["system.Everyone"], "write": ["account:admin"]}


def test_patch_json_patch_remove_permission(admin: httpx.Client, collection: str) -> None:
    admin.put(
        collection + "/r1",
        json={"data": {}, "permissions": {"read": ["system.Everyone", "account:bob"]}},
    )
    r = admin.patch(
        collection + "/r1",
        content=json.dumps([{"op": "remove", "path": "/permissions/read/account:bob"}]),
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert r.status_code == 200
    assert r.json()["permissions"] == {"read": ["system.Everyone"], "write": ["account:admin"]}


def test_patch_json_patch_removing_the_last_principal_drops_the_permission(
    admin: httpx.Client, alice: httpx.Client, collection: str
) -> None:
    """Kinto omits a permission left with no principal; ``"read": []`` is not an answer."""
    admin.put(collection + "/r1", json={"data": {}, "permissions": {"read": ["account:alice"]}})
    r = admin.patch(
        collection + "/r1",
        content=json.dumps([{"op": "remove", "path": "/permissions/read/account:alice"}]),
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert r.status_code == 200
    assert r.json()["permissions"] == {"write": ["account:admin"]}
    assert admin.get(collection + "/r1").json()["permissions"] == {"write": ["account:admin"]}
    assert alice.get(collection + "/r1").status_code == 403


def test_patch_json_patch_failing_op_is_400(admin: httpx.Client, collection: str) -> None:
    admin.put(collection + "/r1", json={"data": {"z": 5}})
    r = admin.patch(
        collection + "/r1",
        content=json.dumps([{"op": "remove", "path": "/data/nonexist"}]),
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert r.status_code == 400
    msg = "JSON Patch operation failed: can't remove a non-existent object 'nonexist'"
    assert r.json() == {
        "code": 400,
        "errno": 107,
        "error": "Invalid parameters",
        "message": "body: " + msg,
        "details": [{"location": "body", "name": None, "description": msg}],
    }


def test_patch_json_patch_replacing_a_missing_field_is_400(
    admin: httpx.Client, collection: str
) -> None:
    """Worded as Kinto's jsonpatch words it (found by tests/diff); nothing is written."""
    before = admin.put(collection + "/r1", json={"data": {"z": 5}}).json()
    r = admin.patch(
        collection + "/r1",
        content=json.dumps([{"op": "replace", "path": "/data/n", "value": 1}]),
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert r.status_code == 400
    assert r.json()["message"] == (
        "body: JSON Patch operation failed: can't replace a non-existent object 'n'"
    )
    assert admin.get(collection + "/r1").json() == before


def test_patch_json_patch_test_op_failure_is_400(admin: httpx.Client, collection: str) -> None:
    admin.put(collection + "/r1", json={"data": {"z": 5}})
    r = admin.patch(
        collection + "/r1",
        content=json.dumps([{"op": "test", "path": "/data/z", "value": 6}]),
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert r.status_code == 400
    assert r.json()["errno"] == 107
    assert r.json()["message"].startswith("body: JSON Patch operation failed: ")


def test_patch_with_no_change_still_bumps_timestamp(admin: httpx.Client, collection: str) -> None:
    first = admin.put(collection + "/r1", json={"data": {"x": 1}}).json()["data"]
    r = admin.patch(collection + "/r1", json={"data": {"x": 1}})
    assert r.status_code == 200
    assert r.json()["data"]["last_modified"] > first["last_modified"]


def test_patch_missing_record_is_404(admin: httpx.Client, collection: str) -> None:
    r = admin.patch(collection + "/nope", json={"data": {"x": 1}})
    assert r.status_code == 404
    assert r.json() == {
        "code": 404,
        "errno": 110,
        "error": "Not Found",
        "details": {"id": "nope", "resource_name": "record"},
    }


def test_patch_cannot_change_id(admin: httpx.Client, collection: str) -> None:
    admin.put(collection + "/r1", json={"data": {}})
    r = admin.patch(collection + "/r1", json={"data": {"id": "r2"}})
    assert r.status_code == 400
    assert r.json() == {
        "code": 400,
        "errno": 107,
        "error": "Invalid parameters",
        "message": "Object id does not match existing object",
        "details": [
            {
                "location": "body",
                "name": "id",
                "description": "Object id does not match existing object",
            }
        ],
    }


def test_delete_record_returns_tombstone(admin: httpx.Client, collection: str) -> None:
    created = admin.put(collection + "/r1", json={"data": {"x": 1}}).json()["data"]
    r = admin.delete(collection + "/r1")
    assert r.status_code == 200
    data = r.json()["data"]
    assert r.json() == {
        "data": {"id": "r1", "last_modified": data["last_modified"], "deleted": True}
    }
    assert data["last_modified"] > created["last_modified"]
    assert r.headers["ETag"] == '"{}"'.format(data["last_modified"])
    assert admin.get(collection + "/r1").status_code == 404


def test_delete_missing_record_is_404(admin: httpx.Client, collection: str) -> None:
    admin.put(collection + "/r1", json={"data": {}})
    admin.delete(collection + "/r1")
    r = admin.delete(collection + "/r1")
    assert r.status_code == 404
    assert r.json()["errno"] == 110


def test_delete_record_list(admin: httpx.Client, collection: str) -> None:
    admin.put(collection + "/r1", json={"data": {"n": 1}})
    admin.put(collection + "/r2", json={"data": {"n": 2}})
    r = admin.delete(collection)
    assert r.status_code == 200
    data = r.json()["data"]
    assert sorted(d["id"] for d in data) == ["r1", "r2"]
    for d in data:
        assert d == {"id": d["id"], "last_modified": d["last_modified"], "deleted": True}
    assert admin.get(collection).json() == {"data": []}


def test_delete_record_list_with_filter(admin: httpx.Client, collection: str) -> None:
    admin.put(collection + "/r1", json={"data": {"n": 1}})
    admin.put(collection + "/r2", json={"data": {"n": 2}})
    r = admin.delete(collection + "?n=1")
    assert r.status_code == 200
    assert [d["id"] for d in r.json()["data"]] == ["r1"]
    assert [d["id"] for d in admin.get(collection).json()["data"]] == ["r2"]


def test_permissions_in_body_are_stored_with_creator_write(
    admin: httpx.Client, collection: str
) -> None:
    r = admin.put(
        collection + "/r1",
        json={"data": {}, "permissions": {"read": ["system.Everyone"], "write": ["account:bob"]}},
    )
    assert r.status_code == 201
    perms = r.json()["permissions"]
    assert sorted(perms["write"]) == ["account:admin", "account:bob"]
    assert perms["read"] == ["system.Everyone"]


def test_put_replaces_permissions_but_keeps_writer(admin: httpx.Client, collection: str) -> None:
    admin.put(
        collection + "/r1",
        json={"data": {}, "permissions": {"read": ["system.Everyone"]}},
    )
    r = admin.put(collection + "/r1", json={"data": {}, "permissions": {"read": ["account:bob"]}})
    assert r.status_code == 200
    assert r.json()["permissions"] == {"read": ["account:bob"], "write": ["account:admin"]}


def test_put_without_permissions_keeps_existing_permissions(
    admin: httpx.Client, collection: str
) -> None:
    admin.put(collection + "/r1", json={"data": {}, "permissions": {"read": ["system.Everyone"]}})
    r = admin.put(collection + "/r1", json={"data": {"x": 1}})
    assert r.status_code == 200
    assert r.json()["permissions"] == {"read": ["system.Everyone"], "write": ["account:admin"]}


def test_patch_permissions_only(admin: httpx.Client, collection: str) -> None:
    admin.put(collection + "/r1", json={"data": {"x": 1}})
    r = admin.patch(collection + "/r1", json={"permissions": {"read": ["account:bob"]}})
    assert r.status_code == 200
    assert r.json()["data"]["x"] == 1
    assert r.json()["permissions"] == {"read": ["account:bob"], "write": ["account:admin"]}


def test_unknown_permission_name_on_bucket_is_400(admin: httpx.Client) -> None:
    r = admin.put("/buckets/b", json={"permissions": {"foo": ["x"]}})
    assert r.status_code == 400
    desc = '"foo" is not one of read, write, collection:create, group:create'
    assert r.json() == {
        "code": 400,
        "errno": 107,
        "error": "Invalid parameters",
        "message": "permissions in body: " + desc,
        "details": [{"location": "body", "name": "permissions", "description": desc}],
    }


def test_record_permission_names_are_read_and_write_only(
    admin: httpx.Client, collection: str
) -> None:
    r = admin.put(collection + "/r1", json={"permissions": {"record:create": ["x"]}})
    assert r.status_code == 400
    assert r.json()["message"] == ('permissions in body: "record:create" is not one of read, write')


def test_read_responses_are_not_cacheable(admin: httpx.Client, collection: str) -> None:
    admin.put(collection + "/r1", json={"data": {}})
    for path in (collection, collection + "/r1", "/buckets"):
        r = admin.get(path)
        assert r.headers["Cache-Control"] == "no-cache, no-store"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert "Last-Modified" in r.headers
