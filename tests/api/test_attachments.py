"""kinto-attachment API: POST/DELETE …/records/<id>/attachment."""

from __future__ import annotations

import hashlib

import httpx
import pytest

RECORDS = "/buckets/b/collections/c/records"
CONTENT = b"hello attachment\n"


def upload(
    client: httpx.Client,
    rid: str,
    content: bytes = CONTENT,
    name: str = "hello.txt",
    mimetype: str = "text/plain",
    **kwargs,
) -> httpx.Response:
    return client.post(
        f"{RECORDS}/{rid}/attachment",
        files={"attachment": (name, content, mimetype)},
        **kwargs,
    )


def fetch(server, location: str) -> httpx.Response:
    return httpx.get(server.absolute(location))


def test_upload_creates_record_with_attachment(
    server, admin: httpx.Client, collection: str
) -> None:
    r = upload(admin, "r1")
    assert r.status_code == 201
    att = r.json()
    assert set(att) == {"filename", "location", "hash", "mimetype", "size"}
    assert att["filename"] == "hello.txt"
    assert att["hash"] == hashlib.sha256(CONTENT).hexdigest()
    assert att["size"] == len(CONTENT)
    assert att["mimetype"] == "text/plain"
    assert r.headers["Location"] == server.url + RECORDS + "/r1"
    rec = admin.get(RECORDS + "/r1")
    assert rec.status_code == 200
    assert rec.json()["data"]["attachment"] == att
    assert r.headers["ETag"] == '"{}"'.format(rec.json()["data"]["last_modified"])


def test_attachment_file_is_served_at_location(
    server, admin: httpx.Client, collection: str
) -> None:
    att = upload(admin, "r1").json()
    r = fetch(server, att["location"])
    assert r.status_code == 200
    assert r.content == CONTENT


def test_location_keeps_the_file_extension(admin: httpx.Client, collection: str) -> None:
    att = upload(admin, "r1", content=b"\x89PNG", name="a.png", mimetype="image/png").json()
    assert att["location"].endswith(".png")
    assert att["mimetype"] == "image/png"
    assert att["filename"] == "a.png"


def test_upload_on_existing_record_keeps_fields_and_returns_200(
    admin: httpx.Client, collection: str
) -> None:
    admin.put(RECORDS + "/r1", json={"data": {"title": "t"}})
    r = upload(admin, "r1")
    assert r.status_code == 200
    data = admin.get(RECORDS + "/r1").json()["data"]
    assert data["title"] == "t"
    assert data["attachment"]["size"] == len(CONTENT)


def test_upload_with_data_form_field(admin: httpx.Client, collection: str) -> None:
    r = upload(admin, "r1", data={"data": '{"title": "with data"}'})
    assert r.status_code == 201
    data = admin.get(RECORDS + "/r1").json()["data"]
    assert data["title"] == "with data"
    assert data["attachment"]["filename"] == "hello.txt"


def test_reupload_replaces_file(server, admin: httpx.Client, collection: str) -> None:
    first = upload(admin, "r1").json()
    second = upload(admin, "r1", content=b"second\n").json()
    assert second["location"] != first["location"]
    assert fetch(server, second["location"]).content == b"second\n"
    assert fetch(server, first["location"]).status_code == 404
    assert admin.get(RECORDS + "/r1").json()["data"]["attachment"] == second


def test_delete_attachment(server, admin: httpx.Client, collection: str) -> None:
    att = upload(admin, "r1").json()
    r = admin.delete(RECORDS + "/r1/attachment")
    assert r.status_code == 204
    assert r.content == b""
    data = admin.get(RECORDS + "/r1").json()["data"]
    # The record stays, with "attachment": null.
    assert data["attachment"] is None
    assert fetch(server, att["location"]).status_code == 404


def test_delete_attachment_twice_is_204(admin: httpx.Client, collection: str) -> None:
    upload(admin, "r1")
    assert admin.delete(RECORDS + "/r1/attachment").status_code == 204
    assert admin.delete(RECORDS + "/r1/attachment").status_code == 204


def test_upload_requires_multipart(admin: httpx.Client, collection: str) -> None:
    r = admin.post(RECORDS + "/r1/attachment", json={"x": 1})
    assert r.status_code == 400
    # Note: "Bad Request" (not "Invalid parameters") and no details.
    assert r.json() == {
        "code": 400,
        "errno": 107,
        "error": "Bad Request",
        "message": "Content-Type should be multipart/form-data",
    }


def test_upload_requires_attachment_field(admin: httpx.Client, collection: str) -> None:
    r = admin.post(RECORDS + "/r1/attachment", files={"file": ("a.txt", b"x", "text/plain")})
    assert r.status_code == 400
    assert r.json() == {
        "code": 400,
        "errno": 109,
        "error": "Bad Request",
        "message": "Attachment missing.",
    }


def test_upload_rejects_disallowed_extension(admin: httpx.Client, collection: str) -> None:
    r = upload(admin, "r1", content=b"MZ", name="a.exe", mimetype="application/octet-stream")
    assert r.status_code == 400
    assert r.json() == {
        "code": 400,
        "errno": 107,
        "error": "Invalid parameters",
        "message": "body: File extension is not allowed.",
        "details": [
            {"location": "body", "name": None, "description": "File extension is not allowed."}
        ],
    }


def test_anonymous_upload_is_401(anon: httpx.Client, collection: str) -> None:
    r = upload(anon, "r1")
    assert r.status_code == 401
    assert r.json()["errno"] == 104


def test_upload_to_missing_collection_is_404(admin: httpx.Client) -> None:
    admin.put("/buckets/b")
    r = admin.post(
        "/buckets/b/collections/nope/records/r1/attachment",
        files={"attachment": ("a.txt", b"x", "text/plain")},
    )
    assert r.status_code == 404
    assert r.json() == {
        "code": 404,
        "errno": 111,
        "error": "Not Found",
        "details": {"id": "nope", "resource_name": "collection"},
    }


def test_attachment_capability_base_url(server, anon: httpx.Client, admin, collection) -> None:
    # kinto-http downloads from urljoin(capabilities.attachments.base_url, location).
    base_url = anon.get("/").json()["capabilities"]["attachments"]["base_url"]
    assert base_url.endswith("/")
    att = upload(admin, "r1").json()
    if att["location"].startswith(("http://", "https://")):
        assert att["location"].startswith(base_url)


@pytest.mark.parametrize(
    ("field", "raw"),
    [("data", '{"a": NaN}'), ("data", '{"a": -Infinity}'), ("permissions", '{"read": NaN}')],
)
def test_form_fields_are_strict_json(
    server, admin: httpx.Client, collection: str, field: str, raw: str
) -> None:
    """The form's JSON goes through the same parser as a JSON body: NaN is not JSON (a body
    with it is refused), so it is refused here too, not stored as null."""
    r = admin.post(
        f"{collection}/r1/attachment",
        files={"attachment": ("a.txt", b"x", "text/plain")},
        data={field: raw},
    )
    if server.is_kinto:
        # kinto-attachment reads the field with json.loads (which takes NaN) and then fails:
        # a 500 (with `permissions`, after writing the record). Homeport refuses it before
        # writing anything, with the 400 kinto-attachment gives to bad JSON.
        assert r.status_code == 500
        return
    assert admin.get(f"{collection}/r1").status_code == 404  # nothing written
    constant = raw.split(": ")[1].rstrip("}")
    assert r.status_code == 400
    assert r.json() == {
        "code": 400,
        "errno": 109,
        "error": "Bad Request",
        "message": f"body: {field} is not valid JSON ({constant} is not valid JSON)",
    }


def test_attachment_metadata_cannot_be_modified(
    server, admin: httpx.Client, collection: str
) -> None:
    """kinto-attachment refuses a write that changes a record's attachment (a client with a
    stale copy would point the record back at a file a re-upload replaced); dropping the
    field is allowed."""
    attachment = upload(admin, "r1").json()
    path = f"{RECORDS}/r1"
    unchanged = admin.patch(path, json={"data": {"attachment": attachment, "x": 1}})
    assert unchanged.status_code == 200
    for method, body in (
        ("PUT", {"data": {"attachment": {**attachment, "hash": "0" * 64}}}),
        ("PATCH", {"data": {"attachment": {**attachment, "size": 99}}}),
    ):
        r = admin.request(method, path, json=body)
        assert r.status_code == 400
        assert r.json() == {
            "code": 400,
            "errno": 999,
            "error": "Bad Request",
            "message": "Attachment metadata cannot be modified.",
        }
        if not server.is_kinto:  # Kinto writes the change before refusing it
            assert admin.get(path).json()["data"]["attachment"] == attachment
    r = admin.put(path, json={"data": {"x": 2}})
    assert r.status_code == 200
    assert "attachment" not in r.json()["data"]
