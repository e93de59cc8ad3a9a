"""Root endpoint, heartbeat, OpenAPI, and the unprefixed-path redirect."""

from __future__ import annotations

import httpx


def test_root_lists_project_fields(anon: httpx.Client, server) -> None:
    r = anon.get("/")
    assert r.status_code == 200
    body = r.json()
    assert isinstance(body["project_name"], str) and body["project_name"]
    assert isinstance(body["project_version"], str) and body["project_version"]
    assert body["http_api_version"] == "1.23"
    assert body["url"] == server.url + "/"
    assert isinstance(body["project_docs"], str)
    if server.is_kinto:
        assert body["project_name"] == "kinto"
        assert body["project_version"] == "26.5.0"


def test_root_settings(anon: httpx.Client) -> None:
    settings = anon.get("/").json()["settings"]
    # Exactly Kinto's public settings (paginate_by is not among them).
    assert settings == {"batch_max_requests": 25, "readonly": False, "explicit_permissions": True}


def test_root_capabilities(anon: httpx.Client) -> None:
    caps = anon.get("/").json()["capabilities"]
    for name in ("accounts", "attachments", "flush_endpoint", "permissions_endpoint"):
        assert name in caps, name
        assert isinstance(caps[name]["description"], str)
        assert isinstance(caps[name]["url"], str)
    assert caps["accounts"]["validation_enabled"] is False
    assert "base_url" in caps["attachments"]
    assert isinstance(caps["attachments"]["version"], str)
    # Collection JSON-schema validation is advertised when enabled.
    assert caps["schema"] == {
        "description": "Validates collection records with JSON schemas.",
        "url": "https://kinto.readthedocs.io/en/latest/api/1.x/collections.html"
        "#collection-json-schema",
    }


def test_root_has_no_user_when_anonymous(anon: httpx.Client) -> None:
    assert "user" not in anon.get("/").json()


def test_root_user_when_authenticated(admin: httpx.Client) -> None:
    r = admin.get("/")
    assert r.status_code == 200
    user = r.json()["user"]
    assert user["id"] == "account:admin"
    assert sorted(user["principals"]) == [
        "account:admin",
        "system.Authenticated",
        "system.Everyone",
    ]


def test_root_with_wrong_password_is_anonymous(server) -> None:
    r = httpx.get(server.url + "/", auth=("admin", "not-the-password"))
    assert r.status_code == 200
    assert "user" not in r.json()


def test_v1_without_slash_redirects_to_v1_slash(server) -> None:
    r = httpx.get(server.root + "/v1", follow_redirects=False)
    assert r.status_code == 307
    assert r.headers["Location"] == server.url + "/"


def test_trailing_slash_redirects_to_path_without_it(server) -> None:
    r = httpx.get(server.url + "/buckets/?_limit=2", follow_redirects=False)
    assert r.status_code == 307
    assert r.headers["Location"] == server.url + "/buckets?_limit=2"
    r = httpx.put(server.url + "/buckets/x/", follow_redirects=False)
    assert r.status_code == 307
    assert r.headers["Location"] == server.url + "/buckets/x"


def test_heartbeat(anon: httpx.Client) -> None:
    r = anon.get("/__heartbeat__")
    assert r.status_code == 200
    body = r.json()
    assert body  # one boolean per backend
    assert all(v is True for v in body.values())


def test_lbheartbeat(anon: httpx.Client) -> None:
    r = anon.get("/__lbheartbeat__")
    assert r.status_code == 200
    assert r.json() == {}


def test_api_returns_openapi_document(anon: httpx.Client) -> None:
    r = anon.get("/__api__")
    assert r.status_code == 200
    doc = r.json()
    # Kinto 26 serves Swagger 2.0 (OpenAPI v2) with basePath /v1; an OpenAPI 3 document
    # whose paths are relative to /v1 is accepted from a reimplementation.
    if "openapi" in doc:
        assert doc["openapi"].startswith("3.")
    else:
        assert doc["swagger"] == "2.0"
        assert doc["basePath"] == "/v1"
    assert "/buckets" in doc["paths"]
    assert "/buckets/{bucket_id}/collections/{collection_id}/records" in doc["paths"]
    assert doc["info"]["version"] == "1.23"
    assert "/batch" in doc["paths"]
    assert (
        "/buckets/{bucket_id}/collections/{collection_id}/records/{id}/attachment" in doc["paths"]
    )


def test_unprefixed_path_redirects_to_v1(server) -> None:
    r = httpx.get(server.root + "/buckets", follow_redirects=False)
    assert r.status_code == 307
    assert r.headers["Location"] == server.url + "/buckets"


def test_unprefixed_root_redirects_to_v1(server) -> None:
    r = httpx.get(server.root + "/", follow_redirects=False)
    assert r.status_code == 307
    assert r.headers["Location"] == server.url + "/"


def test_redirect_keeps_query_string(server) -> None:
    r = httpx.get(server.root + "/buckets/b/collections?_limit=1", follow_redirects=False)
    assert r.status_code == 307
    assert r.headers["Location"] == server.url + "/buckets/b/collections?_limit=1"


def test_unknown_api_version_is_404_errno_116(server) -> None:
    r = httpx.get(server.root + "/v2/buckets")
    assert r.status_code == 404
    assert r.json() == {
        "code": 404,
        "errno": 116,
        "error": "Not Found",
        "message": "The requested API version is not available on this server.",
    }


def test_flush_answers_202_with_empty_object_and_empties_everything(
    server, admin: httpx.Client, anon: httpx.Client
) -> None:
    admin.put("/buckets/b")
    r = anon.post("/__flush__")
    assert r.status_code == 202
    assert r.json() == {}
    if server.is_kinto:  # Kinto also forgets accounts; Homeport keeps its admin.
        assert "user" not in admin.get("/").json()
        anon.put("/accounts/admin", json={"data": {"password": server.admin[1]}})
    assert admin.get("/buckets").json() == {"data": []}


def test_a_bearer_token_without_sign_in_connectors_is_anonymous(anon: httpx.Client) -> None:
    """As Kinto with only Basic auth: a scheme nobody handles makes an anonymous caller (the
    home answers 401 for bearer tokens only when a sign-in connector is configured)."""
    r = anon.get("/", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 200, r.text
    assert "user" not in r.json()
