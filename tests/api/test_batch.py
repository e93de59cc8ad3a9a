"""POST /v1/batch."""

from __future__ import annotations

import httpx

RECORDS = "/buckets/b/collections/c/records"


def invalid(message: str, name: str | None, description: str) -> dict:
    return {
        "code": 400,
        "errno": 107,
        "error": "Invalid parameters",
        "message": message,
        "details": [{"location": "body", "name": name, "description": description}],
    }


def test_batch_runs_requests_in_order_with_defaults(admin: httpx.Client) -> None:
    r = admin.post(
        "/batch",
        json={
            "defaults": {"method": "PUT"},
            "requests": [
                {"path": "/buckets/b"},
                {"path": "/buckets/b/collections/c"},
                {"path": RECORDS + "/r1", "body": {"data": {"a": 1}}},
                {"method": "POST", "path": RECORDS, "body": {"data": {"id": "r2", "a": 2}}},
            ],
        },
    )
    assert r.status_code == 200
    responses = r.json()["responses"]
    assert [x["status"] for x in responses] == [201, 201, 201, 201]
    assert [x["path"] for x in responses] == [
        "/v1/buckets/b",
        "/v1/buckets/b/collections/c",
        "/v1" + RECORDS + "/r1",
        "/v1" + RECORDS,
    ]
    assert set(r.json()) == {"responses"}
    rec = responses[2]["body"]
    assert rec == {
        "permissions": {"write": ["account:admin"]},
        "data": {"id": "r1", "a": 1, "last_modified": rec["data"]["last_modified"]},
    }
    assert admin.get(RECORDS + "/r2").json()["data"]["a"] == 2


def test_batch_response_headers(admin: httpx.Client) -> None:
    r = admin.post("/batch", json={"requests": [{"method": "PUT", "path": "/buckets/b"}]})
    resp = r.json()["responses"][0]
    headers = resp["headers"]
    assert headers["ETag"] == '"{}"'.format(resp["body"]["data"]["last_modified"])
    assert headers["Content-Type"] == "application/json"
    assert "Last-Modified" in headers


def test_batch_default_method_is_get(admin: httpx.Client) -> None:
    admin.put("/buckets/b")
    r = admin.post("/batch", json={"requests": [{"path": "/buckets/b"}]})
    resp = r.json()["responses"][0]
    assert resp["status"] == 200
    assert resp["body"]["data"]["id"] == "b"


def test_batch_defaults_body_is_deep_merged(admin: httpx.Client, collection: str) -> None:
    r = admin.post(
        "/batch",
        json={
            "defaults": {"method": "PUT", "body": {"data": {"x": 1}}},
            "requests": [
                {"path": RECORDS + "/d1"},
                {"path": RECORDS + "/d2", "body": {"data": {"y": 2}}},
                {"path": RECORDS + "/d3", "body": {"permissions": {"read": ["system.Everyone"]}}},
            ],
        },
    )
    bodies = [x["body"] for x in r.json()["responses"]]
    assert {k: v for k, v in bodies[0]["data"].items() if k != "last_modified"} == {
        "id": "d1",
        "x": 1,
    }
    assert {k: v for k, v in bodies[1]["data"].items() if k != "last_modified"} == {
        "id": "d2",
        "x": 1,
        "y": 2,
    }
    assert bodies[2]["data"]["x"] == 1
    assert bodies[2]["permissions"] == {"read": ["system.Everyone"], "write": ["account:admin"]}


def test_batch_path_may_include_version_prefix(admin: httpx.Client) -> None:
    r = admin.post("/batch", json={"requests": [{"method": "PUT", "path": "/v1/buckets/b"}]})
    resp = r.json()["responses"][0]
    assert resp["status"] == 201
    assert resp["path"] == "/v1/buckets/b"


def test_batch_response_path_drops_query_string(admin: httpx.Client, collection: str) -> None:
    admin.put(RECORDS + "/r1", json={"data": {}})
    admin.put(RECORDS + "/r2", json={"data": {}})
    r = admin.post("/batch", json={"requests": [{"path": RECORDS + "?_limit=1"}]})
    resp = r.json()["responses"][0]
    assert resp["path"] == "/v1" + RECORDS
    assert [o["id"] for o in resp["body"]["data"]] == ["r2"]
    assert "_token=" in resp["headers"]["Next-Page"]


def test_batch_head_has_empty_body_and_total_records(admin: httpx.Client, collection: str) -> None:
    admin.put(RECORDS + "/r1", json={"data": {}})
    r = admin.post("/batch", json={"requests": [{"method": "HEAD", "path": RECORDS}]})
    resp = r.json()["responses"][0]
    assert resp["status"] == 200
    assert resp["body"] == ""
    assert resp["headers"]["Total-Records"] == "1"


def test_batch_errors_are_reported_per_request(admin: httpx.Client, collection: str) -> None:
    created = admin.put(RECORDS + "/r1", json={"data": {"a": 1}}).json()["data"]
    r = admin.post(
        "/batch",
        json={
            "requests": [
                {"path": RECORDS + "/nope"},
                {"path": "/nope/x"},
                {"method": "PUT", "path": RECORDS + "/r1", "headers": {"If-None-Match": "*"}},
                {"method": "PUT", "path": RECORDS + "/bad.id", "body": {"data": {}}},
                {"method": "PUT", "path": RECORDS + "/r2", "body": {"data": {}}},
            ]
        },
    )
    assert r.status_code == 200
    responses = r.json()["responses"]
    assert [x["status"] for x in responses] == [404, 404, 412, 400, 201]
    assert responses[0]["body"] == {
        "code": 404,
        "errno": 110,
        "error": "Not Found",
        "details": {"id": "nope", "resource_name": "record"},
    }
    assert responses[1]["body"] == {
        "code": 404,
        "errno": 111,
        "error": "Not Found",
        "message": "The resource you are looking for could not be found.",
    }
    assert responses[2]["body"] == {
        "code": 412,
        "errno": 114,
        "error": "Precondition Failed",
        "message": "Resource was modified meanwhile",
        "details": {"existing": created},
    }
    assert responses[3]["body"] == {
        "code": 400,
        "errno": 107,
        "error": "Invalid parameters",
        "message": "path: Invalid object id",
        "details": [{"location": "path", "name": None, "description": "Invalid object id"}],
    }
    # Requests are independent: later ones still run after failures.
    assert admin.get(RECORDS + "/r2").status_code == 200


def test_batch_subrequests_use_the_batch_credentials(server, anon: httpx.Client) -> None:
    r = anon.post("/batch", json={"requests": [{"path": "/buckets/b"}, {"path": "/"}]})
    assert r.status_code == 200
    first, second = r.json()["responses"]
    assert first["status"] == 401
    assert first["body"] == {
        "code": 401,
        "errno": 104,
        "error": "Unauthorized",
        "message": "Please authenticate yourself to use this endpoint.",
    }
    assert second["status"] == 200
    assert "user" not in second["body"]


def test_batch_exceeding_max_requests_is_400(admin: httpx.Client) -> None:
    r = admin.post("/batch", json={"requests": [{"path": "/buckets/b"}] * 26})
    assert r.status_code == 400
    assert r.json() == invalid(
        "Number of requests is limited to 25",
        "requests",
        "Number of requests is limited to 25",
    )


def test_batch_at_max_requests_is_ok(admin: httpx.Client) -> None:
    r = admin.post("/batch", json={"requests": [{"path": "/"}] * 25})
    assert r.status_code == 200
    assert len(r.json()["responses"]) == 25


def test_batch_empty_requests(admin: httpx.Client) -> None:
    r = admin.post("/batch", json={"requests": []})
    assert r.status_code == 200
    assert r.json() == {"responses": []}


def test_batch_requires_requests(admin: httpx.Client) -> None:
    r = admin.post("/batch", json={})
    assert r.status_code == 400
    assert r.json() == invalid("requests in body: Required", "requests", "Required")


def test_batch_rejects_unknown_method(admin: httpx.Client) -> None:
    r = admin.post("/batch", json={"requests": [{"path": "/buckets/b", "method": "FOO"}]})
    assert r.status_code == 400
    desc = '"FOO" is not one of GET, HEAD, DELETE, TRACE, POST, PUT, PATCH'
    assert r.json() == invalid("requests.0.method in body: " + desc, "requests.0.method", desc)


def test_batch_rejects_recursive_batch(admin: httpx.Client) -> None:
    r = admin.post("/batch", json={"requests": [{"path": "/batch", "method": "POST"}]})
    assert r.status_code == 400
    desc = "Recursive call on /batch endpoint is forbidden."
    assert r.json() == invalid("requests in body: " + desc, "requests", desc)


def test_batch_rejects_path_without_leading_slash(admin: httpx.Client) -> None:
    r = admin.post("/batch", json={"requests": [{"path": "buckets/b"}]})
    assert r.status_code == 400
    desc = "String does not match expected pattern"
    assert r.json() == invalid("requests.0.path in body: " + desc, "requests.0.path", desc)


def test_batch_rejects_unknown_request_keys(admin: httpx.Client) -> None:
    r = admin.post("/batch", json={"requests": [{"path": "/buckets/b", "foo": 1}]})
    assert r.status_code == 400
    desc = "Unrecognized keys in mapping: \"{'foo': 1}\""
    assert r.json() == invalid("requests.0 in body: " + desc, "requests.0", desc)


def test_batch_rejects_non_object_body(admin: httpx.Client) -> None:
    r = admin.post(
        "/batch", json={"requests": [{"path": "/buckets/b", "method": "PUT", "body": "oops"}]}
    )
    assert r.status_code == 400
    desc = '"oops" is not a mapping type: Does not implement dict-like functionality.'
    assert r.json() == invalid("requests.0.body in body: " + desc, "requests.0.body", desc)


def test_batch_with_an_invalid_request_runs_nothing(admin: httpx.Client) -> None:
    # A schema error anywhere rejects the whole batch before anything runs.
    r = admin.post(
        "/batch",
        json={
            "requests": [
                {"method": "PUT", "path": "/buckets/b"},
                {"method": "FOO", "path": "/buckets/b2"},
            ]
        },
    )
    assert r.status_code == 400
    assert admin.get("/buckets").json() == {"data": []}


def test_batch_412_on_a_tombstone_carries_etag_and_last_modified(
    admin: httpx.Client, collection: str
) -> None:
    """kinto.js retries on a 412 with the server's timestamp: a sub-response must carry it."""
    admin.put(RECORDS + "/r1", json={"data": {}})
    admin.delete(RECORDS + "/r1")
    listed = admin.get(RECORDS)
    r = admin.post(
        "/batch",
        json={
            "requests": [
                {"method": "PUT", "path": RECORDS + "/r1", "headers": {"If-Match": '"1"'}},
            ]
        },
    )
    [response] = r.json()["responses"]
    assert response["status"] == 412
    assert response["headers"]["ETag"] == listed.headers["ETag"]
    assert response["headers"]["Last-Modified"] == listed.headers["Last-Modified"]
