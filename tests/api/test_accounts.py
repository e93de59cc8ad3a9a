"""The accounts plugin: /v1/accounts and Basic auth."""

from __future__ import annotations

import httpx

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


def test_create_account_anonymously(anon: httpx.Client) -> None:
    r = anon.put("/accounts/carol", json={"data": {"password": "carol-pw"}})
    assert r.status_code == 201
    body = r.json()
    assert body["permissions"] == {"write": ["account:carol"]}
    data = body["data"]
    assert set(data) == {"id", "password", "last_modified"}
    assert data["id"] == "carol"
    # The password is never echoed in clear; Kinto returns the bcrypt hash.
    assert data["password"] != "carol-pw"
    assert "carol-pw" not in r.text


def test_create_account_with_post(anon: httpx.Client) -> None:
    r = anon.post("/accounts", json={"data": {"id": "carol", "password": "carol-pw"}})
    assert r.status_code == 201
    assert r.json()["data"]["id"] == "carol"
    assert r.json()["permissions"] == {"write": ["account:carol"]}


def test_post_account_requires_id(anon: httpx.Client) -> None:
    r = anon.post("/accounts", json={"data": {"password": "x"}})
    assert r.status_code == 400
    # Quirk: the description repeats the "in body" prefix.
    assert r.json() == {
        "code": 400,
        "errno": 107,
        "error": "Invalid parameters",
        "message": "data.id in body: Required",
        "details": [
            {"location": "body", "name": "data.id", "description": "data.id in body: Required"}
        ],
    }


def test_account_requires_password(anon: httpx.Client) -> None:
    r = anon.put("/accounts/dave", json={"data": {}})
    assert r.status_code == 400
    assert r.json() == {
        "code": 400,
        "errno": 107,
        "error": "Invalid parameters",
        "message": "data.password in body: Required",
        "details": [{"location": "body", "name": "data.password", "description": "Required"}],
    }


def test_basic_auth_works(server, anon: httpx.Client) -> None:
    anon.put("/accounts/carol", json={"data": {"password": "carol-pw"}})
    r = httpx.get(server.url + "/", auth=("carol", "carol-pw"))
    assert r.json()["user"]["id"] == "account:carol"
    r = httpx.put(server.url + "/buckets/cb", auth=("carol", "carol-pw"))
    assert r.status_code == 201
    assert r.json()["permissions"] == {"write": ["account:carol"]}


def test_wrong_password_is_401_on_protected_endpoint(server, alice: httpx.Client) -> None:
    r = httpx.get(server.url + "/accounts/alice", auth=("alice", "wrong"))
    assert r.status_code == 401
    assert r.json() == UNAUTHORIZED
    assert r.headers["WWW-Authenticate"] == 'Basic realm="Realm"'


def test_unknown_user_is_401_on_protected_endpoint(server) -> None:
    r = httpx.get(server.url + "/buckets", auth=("nobody", "x"))
    assert r.status_code == 401
    assert r.json() == UNAUTHORIZED


def test_user_can_read_own_account(alice: httpx.Client) -> None:
    r = alice.get("/accounts/alice")
    assert r.status_code == 200
    assert r.json()["data"]["id"] == "alice"
    assert r.json()["permissions"] == {"write": ["account:alice"]}
    assert r.json()["data"]["password"] != "alice-s3cret-pw"


def test_user_cannot_read_another_account(alice: httpx.Client, bob: httpx.Client) -> None:
    r = alice.get("/accounts/bob")
    assert r.status_code == 403
    assert r.json() == FORBIDDEN


def test_admin_can_read_any_account(admin: httpx.Client, bob: httpx.Client) -> None:
    r = admin.get("/accounts/bob")
    assert r.status_code == 200
    assert r.json()["data"]["id"] == "bob"


def test_account_list_shows_only_own_account(alice: httpx.Client, bob: httpx.Client) -> None:
    r = alice.get("/accounts")
    assert r.status_code == 200
    assert [a["id"] for a in r.json()["data"]] == ["alice"]


def test_account_list_for_admin(admin: httpx.Client, alice, bob) -> None:
    r = admin.get("/accounts")
    assert r.status_code == 200
    # account_write_principals grants write on each account, not on the list.
    assert [a["id"] for a in r.json()["data"]] == ["admin"]


def test_anonymous_account_list_is_401_with_odd_body(anon: httpx.Client) -> None:
    r = anon.get("/accounts")
    assert r.status_code == 401
    assert r.json() == {"code": 401, "errno": 999, "error": "Cannot read accounts."}


def test_change_own_password(server, alice: httpx.Client) -> None:
    r = alice.put("/accounts/alice", json={"data": {"password": "new-pw"}})
    assert r.status_code == 200
    assert httpx.get(server.url + "/", auth=("alice", "new-pw")).json()["user"]["id"] == (
        "account:alice"
    )
    r = httpx.get(server.url + "/accounts/alice", auth=("alice", "alice-s3cret-pw"))
    assert r.status_code == 401


def test_anonymous_cannot_overwrite_existing_account(anon: httpx.Client, alice) -> None:
    r = anon.put("/accounts/alice", json={"data": {"password": "x"}})
    assert r.status_code == 401
    assert r.json() == UNAUTHORIZED


def test_user_cannot_create_account_for_someone_else(alice: httpx.Client) -> None:
    r = alice.put("/accounts/zed", json={"data": {"password": "x"}})
    assert r.status_code == 400
    assert r.json() == {
        "code": 400,
        "errno": 107,
        "error": "Invalid parameters",
        "message": "data.id in body: Username and account ID do not match.",
        "details": [
            {
                "location": "body",
                "name": "data.id",
                "description": "Username and account ID do not match.",
            }
        ],
    }


def test_user_cannot_delete_another_account(alice: httpx.Client, bob: httpx.Client) -> None:
    r = bob.delete("/accounts/alice")
    assert r.status_code == 403
    assert r.json() == FORBIDDEN


def test_admin_can_delete_an_account(server, admin: httpx.Client, bob: httpx.Client) -> None:
    r = admin.delete("/accounts/bob")
    assert r.status_code == 200
    assert r.json()["data"]["deleted"] is True
    assert httpx.get(server.url + "/buckets", auth=("bob", "bob-s3cret-pw")).status_code == 401


def test_password_is_never_returned_in_clear(admin: httpx.Client, alice: httpx.Client) -> None:
    for r in (alice.get("/accounts/alice"), alice.get("/accounts"), admin.get("/accounts/alice")):
        assert r.status_code == 200
        assert "alice-s3cret-pw" not in r.text
