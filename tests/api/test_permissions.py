"""Permissions: ownership, inheritance, principals, groups, 401 vs 403 vs 404."""

from __future__ import annotations

import httpx
import pytest

FORBIDDEN = {
    "code": 403,
    "errno": 121,
    "error": "Forbidden",
    "message": "This user cannot access this resource.",
}
UNAUTHORIZED = {
    "code": 401,
    "errno": 104,
    "error": "Unauthorized",
    "message": "Please authenticate yourself to use this endpoint.",
}
RECORDS = "/buckets/b/collections/c/records"


@pytest.fixture
def private(admin: httpx.Client, collection: str) -> str:
    """Admin's bucket b / collection c with record r1, no extra permissions."""
    assert admin.put(RECORDS + "/r1", json={"data": {"x": 1}}).status_code == 201
    return RECORDS


def test_creator_gets_write(alice: httpx.Client) -> None:
    r = alice.put("/buckets/ab")
    assert r.status_code == 201
    assert r.json()["permissions"] == {"write": ["account:alice"]}


def test_anonymous_cannot_create_bucket(anon: httpx.Client) -> None:
    r = anon.put("/buckets/x")
    assert r.status_code == 401
    assert r.json() == UNAUTHORIZED
    assert r.headers["WWW-Authenticate"] == 'Basic realm="Realm"'


def test_anonymous_read_of_private_record_is_401(anon: httpx.Client, private: str) -> None:
    r = anon.get(private + "/r1")
    assert r.status_code == 401
    assert r.json() == UNAUTHORIZED


def test_anonymous_list_buckets_is_401_when_nothing_is_readable(anon: httpx.Client) -> None:
    r = anon.get("/buckets")
    assert r.status_code == 401
    assert r.json() == UNAUTHORIZED


def test_authenticated_without_permission_is_403(bob: httpx.Client, private: str) -> None:
    r = bob.get(private + "/r1")
    assert r.status_code == 403
    assert r.json() == FORBIDDEN
    assert bob.get(private).status_code == 403
    assert bob.put(private + "/r1", json={"data": {}}).status_code == 403
    assert bob.delete(private + "/r1").status_code == 403


def test_missing_record_without_permission_is_403_not_404(bob: httpx.Client, private: str) -> None:
    # Existence is not leaked: unreadable and missing look the same.
    r = bob.get(private + "/does-not-exist")
    assert r.status_code == 403
    assert r.json() == FORBIDDEN


def test_missing_record_for_anonymous_is_401(anon: httpx.Client, private: str) -> None:
    assert anon.get(private + "/does-not-exist").status_code == 401


def test_missing_bucket_is_403_even_for_authenticated(bob: httpx.Client) -> None:
    r = bob.get("/buckets/nope")
    assert r.status_code == 403
    assert r.json() == FORBIDDEN


def test_missing_record_with_read_permission_is_404(anon: httpx.Client, admin, private) -> None:
    admin.patch("/buckets/b", json={"permissions": {"read": ["system.Everyone"]}})
    r = anon.get(private + "/nope")
    assert r.status_code == 404
    assert r.json()["errno"] == 110


def test_everyone_read_on_bucket_is_inherited(
    anon: httpx.Client, admin: httpx.Client, private: str
) -> None:
    admin.patch("/buckets/b", json={"permissions": {"read": ["system.Everyone"]}})
    r = anon.get(private + "/r1")
    assert r.status_code == 200
    # Readers who cannot write see no permissions.
    assert r.json() == {
        "permissions": {},
        "data": {"id": "r1", "x": 1, "last_modified": r.json()["data"]["last_modified"]},
    }
    assert [c["id"] for c in anon.get("/buckets/b/collections").json()["data"]] == ["c"]
    assert [b["id"] for b in anon.get("/buckets").json()["data"]] == ["b"]
    # Read does not grant write.
    r = anon.put(private + "/r1", json={"data": {}})
    assert r.status_code == 401


def test_authenticated_read_on_collection(
    bob: httpx.Client, admin: httpx.Client, anon: httpx.Client, private: str
) -> None:
    admin.patch(
        "/buckets/b/collections/c", json={"permissions": {"read": ["system.Authenticated"]}}
    )
    assert bob.get(private + "/r1").status_code == 200
    assert [o["id"] for o in bob.get(private).json()["data"]] == ["r1"]
    assert anon.get(private + "/r1").status_code == 401
    # Collection read does not grant bucket read.
    assert bob.get("/buckets/b").status_code == 403


def test_write_on_bucket_is_inherited(bob: httpx.Client, admin: httpx.Client, private) -> None:
    admin.patch("/buckets/b", json={"permissions": {"write": ["account:bob"]}})
    r = bob.put(private + "/r1", json={"data": {"bob": 1}})
    assert r.status_code == 200
    # The writer is added to the object's write principals, next to the existing ones.
    assert sorted(r.json()["permissions"]["write"]) == ["account:admin", "account:bob"]
    assert bob.put("/buckets/b/collections/c2").status_code == 201
    assert bob.get("/buckets/b").status_code == 200


def test_record_level_read(bob: httpx.Client, admin: httpx.Client, private: str) -> None:
    admin.put(private + "/r2", json={"data": {}, "permissions": {"read": ["account:bob"]}})
    assert bob.get(private + "/r2").status_code == 200
    assert bob.get(private + "/r1").status_code == 403


def test_list_shows_only_readable_records(bob: httpx.Client, admin: httpx.Client, private) -> None:
    admin.patch(
        "/buckets/b/collections/c", json={"permissions": {"record:create": ["account:bob"]}}
    )
    bob.put(private + "/bobs", json={"data": {}})
    admin.put(private + "/shared", json={"data": {}, "permissions": {"read": ["account:bob"]}})
    r = bob.get(private)
    assert r.status_code == 200
    assert sorted(o["id"] for o in r.json()["data"]) == ["bobs", "shared"]


def test_record_create_permission(bob: httpx.Client, admin: httpx.Client, private: str) -> None:
    admin.patch(
        "/buckets/b/collections/c", json={"permissions": {"record:create": ["account:bob"]}}
    )
    r = bob.post(private, json={"data": {"by": "bob"}})
    assert r.status_code == 201
    assert r.json()["permissions"] == {"write": ["account:bob"]}
    # ... but no access to others' records.
    assert bob.get(private + "/r1").status_code == 403
    assert bob.patch(private + "/r1", json={"data": {}}).status_code == 403
    # Creating grants read:attributes on the collection: it is visible without permissions.
    r = bob.get("/buckets/b/collections/c")
    assert r.status_code == 200
    assert r.json()["permissions"] == {}


def test_collection_create_permission(bob: httpx.Client, admin: httpx.Client) -> None:
    admin.put("/buckets/b", json={"permissions": {"collection:create": ["account:bob"]}})
    assert bob.put("/buckets/b/collections/bc").status_code == 201
    assert bob.put("/buckets/b/groups/bg", json={"data": {}}).status_code == 403
    r = bob.get("/buckets/b/collections")
    assert r.status_code == 200
    assert [c["id"] for c in r.json()["data"]] == ["bc"]
    r = bob.get("/buckets/b")
    assert r.status_code == 200
    assert r.json()["permissions"] == {}


def test_group_create_permission(alice: httpx.Client, admin: httpx.Client) -> None:
    admin.put("/buckets/b", json={"permissions": {"group:create": ["account:alice"]}})
    r = alice.put("/buckets/b/groups/ag", json={"data": {"members": []}})
    assert r.status_code == 201
    assert r.json()["permissions"] == {"write": ["account:alice"]}
    assert alice.put("/buckets/b/collections/ac").status_code == 403
    # group:create alone does not allow listing collections.
    assert alice.get("/buckets/b/collections").status_code == 403


def test_everyone_write_lets_anonymous_create(anon: httpx.Client, admin: httpx.Client) -> None:
    admin.put("/buckets/open", json={"permissions": {"write": ["system.Everyone"]}})
    r = anon.put("/buckets/open/collections/x")
    assert r.status_code == 201
    # An anonymous creator is recorded as system.Everyone.
    assert r.json()["permissions"] == {"write": ["system.Everyone"]}


def test_authenticated_user_can_create_bucket(bob: httpx.Client) -> None:
    # bucket_create_principals = system.Authenticated
    assert bob.put("/buckets/bobs").status_code == 201


def test_group_membership_grants_access(
    alice: httpx.Client, bob: httpx.Client, admin: httpx.Client, private: str
) -> None:
    admin.put("/buckets/b/groups/readers", json={"data": {"members": ["account:alice"]}})
    admin.patch(
        "/buckets/b/collections/c", json={"permissions": {"read": ["/buckets/b/groups/readers"]}}
    )
    assert alice.get(private + "/r1").status_code == 200
    assert [o["id"] for o in alice.get(private).json()["data"]] == ["r1"]
    assert bob.get(private + "/r1").status_code == 403


@pytest.mark.parametrize("member", ["system.Everyone", "/buckets/b/groups/readers"])
def test_group_members_are_users_not_everyone_nor_groups(
    anon: httpx.Client, admin: httpx.Client, private: str, member: str
) -> None:
    """Kinto refuses ``system.Everyone`` and groups as members: a group is a list of users."""
    admin.put("/buckets/b/groups/readers", json={"data": {"members": ["account:bob"]}})
    admin.patch(
        "/buckets/b/collections/c", json={"permissions": {"read": ["/buckets/b/groups/readers"]}}
    )
    # Kinto names the field as it was checked: in the PUT body, or on the patched group
    for method, name in (("PUT", "data.members.1"), ("PATCH", "members.1")):
        r = admin.request(
            method, "/buckets/b/groups/readers", json={"data": {"members": ["account:x", member]}}
        )
        assert r.status_code == 400
        description = f"'{member}' is not a valid user ID."
        assert r.json()["message"] == f"{name} in body: {description}"
        assert r.json()["details"] == [
            {"location": "body", "name": name, "description": description}
        ]
    assert admin.get("/buckets/b/groups/readers").json()["data"]["members"] == ["account:bob"]
    assert anon.get(private + "/r1").status_code == 401


def test_group_members_every_bad_one_is_named(admin: httpx.Client) -> None:
    """Kinto names every refused member in ``details`` (found by the differential test)."""
    admin.put("/buckets/b")
    members = ["account:alice", "system.Everyone", "/buckets/b/groups/g", "system.Authenticated"]
    r = admin.put("/buckets/b/groups/g", json={"data": {"members": members}})
    assert r.status_code == 400
    message = "data.members.1 in body: 'system.Everyone' is not a valid user ID."
    assert r.json()["message"] == message
    assert r.json()["details"] == [
        {
            "location": "body",
            "name": "data.members.1",
            "description": "'system.Everyone' is not a valid user ID.",
        },
        {
            "location": "body",
            "name": "data.members.2",
            "description": "'/buckets/b/groups/g' is not a valid user ID.",
        },
    ]
    patched = admin.patch("/buckets/b/groups/g", json={"data": {"members": ["system.Everyone"]}})
    assert patched.status_code == 404  # the refused PUT wrote nothing
    assert admin.get("/buckets/b/groups").json()["data"] == []


def test_group_principal_appears_in_user_principals(
    alice: httpx.Client, admin: httpx.Client
) -> None:
    admin.put("/buckets/b")
    admin.put("/buckets/b/groups/g", json={"data": {"members": ["account:alice"]}})
    user = alice.get("/").json()["user"]
    assert user["id"] == "account:alice"
    assert sorted(user["principals"]) == [
        "/buckets/b/groups/g",
        "account:alice",
        "system.Authenticated",
        "system.Everyone",
    ]


def test_removing_member_revokes_access(
    alice: httpx.Client, admin: httpx.Client, private: str
) -> None:
    admin.put("/buckets/b/groups/readers", json={"data": {"members": ["account:alice"]}})
    admin.patch(
        "/buckets/b/collections/c", json={"permissions": {"read": ["/buckets/b/groups/readers"]}}
    )
    assert alice.get(private + "/r1").status_code == 200
    admin.patch("/buckets/b/groups/readers", json={"data": {"members": []}})
    assert alice.get(private + "/r1").status_code == 403


def test_permissions_endpoint_lists_own_objects(admin: httpx.Client, private: str) -> None:
    r = admin.get("/permissions")
    assert r.status_code == 200
    entries = {e["uri"]: e for e in r.json()["data"]}
    assert set(entries) == {
        "/",
        "/accounts/admin",
        "/buckets/b",
        "/buckets/b/collections/c",
        "/buckets/b/collections/c/records/r1",
    }
    bucket = entries["/buckets/b"]
    assert {k: v for k, v in bucket.items() if k != "permissions"} == {
        "uri": "/buckets/b",
        "resource_name": "bucket",
        "id": "b",
        "bucket_id": "b",
    }
    assert sorted(bucket["permissions"]) == [
        "collection:create",
        "group:create",
        "read",
        "read:attributes",
        "write",
    ]
    coll = entries["/buckets/b/collections/c"]
    assert {k: v for k, v in coll.items() if k != "permissions"} == {
        "uri": "/buckets/b/collections/c",
        "resource_name": "collection",
        "id": "c",
        "bucket_id": "b",
        "collection_id": "c",
    }
    assert sorted(coll["permissions"]) == ["read", "read:attributes", "record:create", "write"]
    rec = entries["/buckets/b/collections/c/records/r1"]
    assert {k: v for k, v in rec.items() if k != "permissions"} == {
        "uri": "/buckets/b/collections/c/records/r1",
        "resource_name": "record",
        "id": "r1",
        "bucket_id": "b",
        "collection_id": "c",
        "record_id": "r1",
    }
    assert sorted(rec["permissions"]) == ["read", "write"]
    assert entries["/accounts/admin"] == {
        "uri": "/accounts/admin",
        "resource_name": "account",
        "permissions": entries["/accounts/admin"]["permissions"],
        "id": "admin",
        "account_id": "admin",
    }
    assert sorted(entries["/accounts/admin"]["permissions"]) == ["read", "write"]
    assert entries["/"]["resource_name"] == "root"
    assert sorted(entries["/"]["permissions"]) == ["account:create", "bucket:create"]


def test_permissions_endpoint_for_anonymous(anon: httpx.Client) -> None:
    r = anon.get("/permissions")
    assert r.status_code == 200
    assert r.json() == {
        "data": [{"uri": "/", "resource_name": "root", "permissions": ["account:create"]}]
    }


def test_permissions_endpoint_filters(admin: httpx.Client, private: str) -> None:
    r = admin.get("/permissions", params={"resource_name": "bucket"})
    assert [e["uri"] for e in r.json()["data"]] == ["/buckets/b"]


def test_permissions_endpoint_shows_granted_objects(
    bob: httpx.Client, admin: httpx.Client, private: str
) -> None:
    admin.patch(
        "/buckets/b/collections/c", json={"permissions": {"record:create": ["account:bob"]}}
    )
    entries = {e["uri"]: e for e in bob.get("/permissions").json()["data"]}
    assert sorted(entries["/buckets/b/collections/c"]["permissions"]) == [
        "read:attributes",
        "record:create",
    ]
    assert "/buckets/b" not in entries
    assert "/buckets/b/collections/c/records/r1" not in entries


@pytest.mark.parametrize(
    "header", [{"If-Match": '"1"'}, {"If-None-Match": "*"}], ids=["if-match", "if-none-match"]
)
@pytest.mark.parametrize("who", ["anon", "bob"])
def test_a_failed_precondition_does_not_show_a_record_to_who_cannot_write(
    request: pytest.FixtureRequest,
    admin: httpx.Client,
    private: str,
    header: dict[str, str],
    who: str,
) -> None:
    """A 412 carries the current object in ``details.existing``: answering the precondition
    before the permission let anyone read any record with one PUT."""
    record = private + "/r2"
    assert admin.put(record, json={"data": {"secret": "s3cret"}}).status_code == 201
    client: httpx.Client = request.getfixturevalue(who)
    for method in ("PUT", "PATCH", "DELETE"):
        r = client.request(method, record, json={"data": {"x": 1}}, headers=header)
        assert r.status_code == (401 if who == "anon" else 403), (method, r.text)
        assert "secret" not in r.text


def test_a_failed_precondition_on_a_new_id_needs_create_permission(
    anon: httpx.Client, private: str
) -> None:
    records = private
    r = anon.put(records + "/new", json={"data": {}}, headers={"If-Match": '"1"'})
    assert r.status_code == 401, r.text
    r = anon.post(records, json={"data": {"id": "new2"}}, headers={"If-Match": '"1"'})
    assert r.status_code == 401, r.text
