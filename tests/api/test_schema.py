"""JSON-schema validation of records when the collection defines a ``schema``."""

from __future__ import annotations

import httpx
import pytest

SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "n": {"type": "integer", "minimum": 0},
        "sub": {"type": "object", "properties": {"k": {"type": "integer"}}},
    },
    "required": ["title"],
    "additionalProperties": False,
}
RECORDS = "/buckets/b/collections/s/records"


@pytest.fixture
def schema_collection(admin: httpx.Client) -> str:
    admin.put("/buckets/b")
    r = admin.put("/buckets/b/collections/s", json={"data": {"schema": SCHEMA}})
    assert r.status_code == 201
    return RECORDS


def invalid(message: str, name: str | None, description: str) -> dict:
    return {
        "code": 400,
        "errno": 107,
        "error": "Invalid parameters",
        "message": message,
        "details": [{"location": "body", "name": name, "description": description}],
    }


def test_collection_stores_its_schema(admin: httpx.Client, schema_collection: str) -> None:
    data = admin.get("/buckets/b/collections/s").json()["data"]
    assert data["schema"] == SCHEMA


def test_valid_record_is_accepted_and_stamped_with_schema_version(
    admin: httpx.Client, schema_collection: str
) -> None:
    coll_ts = admin.get("/buckets/b/collections/s").json()["data"]["last_modified"]
    r = admin.put(RECORDS + "/r1", json={"data": {"title": "ok", "n": 1}})
    assert r.status_code == 201
    data = r.json()["data"]
    # Kinto adds "schema": <collection timestamp> to validated records.
    assert data == {
        "id": "r1",
        "title": "ok",
        "n": 1,
        "schema": coll_ts,
        "last_modified": data["last_modified"],
    }


def test_missing_required_field(admin: httpx.Client, schema_collection: str) -> None:
    r = admin.post(RECORDS, json={"data": {"n": 1}})
    assert r.status_code == 400
    # The field name occurs in the description, so message == description.
    assert r.json() == invalid(
        "'title' is a required property", "title", "'title' is a required property"
    )


def test_wrong_type(admin: httpx.Client, schema_collection: str) -> None:
    r = admin.post(RECORDS, json={"data": {"title": 5}})
    assert r.status_code == 400
    assert r.json() == invalid(
        "title in body: 5 is not of type 'string'", "title", "5 is not of type 'string'"
    )


def test_minimum_violation(admin: httpx.Client, schema_collection: str) -> None:
    r = admin.post(RECORDS, json={"data": {"title": "x", "n": -1}})
    assert r.status_code == 400
    # "n" occurs in "minimum", so the message is the bare description.
    assert r.json() == invalid(
        "-1 is less than the minimum of 0", "n", "-1 is less than the minimum of 0"
    )


def test_additional_property(admin: httpx.Client, schema_collection: str) -> None:
    r = admin.post(RECORDS, json={"data": {"title": "x", "extra": 1}})
    assert r.status_code == 400
    desc = "Additional properties are not allowed ('extra' was unexpected)"
    assert r.json() == invalid(
        "additionalProperties in body: " + desc, "additionalProperties", desc
    )


def test_nested_field_error_names_the_leaf(admin: httpx.Client, schema_collection: str) -> None:
    r = admin.post(RECORDS, json={"data": {"title": "x", "sub": {"k": "x"}}})
    assert r.status_code == 400
    assert r.json() == invalid(
        "k in body: 'x' is not of type 'integer'", "k", "'x' is not of type 'integer'"
    )


def test_patch_is_validated_on_the_result(admin: httpx.Client, schema_collection: str) -> None:
    admin.put(RECORDS + "/r1", json={"data": {"title": "x"}})
    r = admin.patch(RECORDS + "/r1", json={"data": {"title": 1}})
    assert r.status_code == 400
    assert r.json() == invalid(
        "title in body: 1 is not of type 'string'", "title", "1 is not of type 'string'"
    )
    assert admin.get(RECORDS + "/r1").json()["data"]["title"] == "x"


def test_id_and_last_modified_are_not_validated(
    admin: httpx.Client, schema_collection: str
) -> None:
    # additionalProperties is false, yet id/last_modified/schema pass.
    r = admin.put(RECORDS + "/r1", json={"data": {"title": "x"}})
    assert r.status_code == 201
    r = admin.put(RECORDS + "/r1", json={"data": r.json()["data"]})
    assert r.status_code == 200


def test_invalid_schema_is_rejected(admin: httpx.Client) -> None:
    admin.put("/buckets/b")
    r = admin.put("/buckets/b/collections/bad", json={"data": {"schema": {"type": "foo"}}})
    assert r.status_code == 400
    desc = "type'foo' is not valid under any of the given schemas"
    assert r.json() == invalid("data.schema in body: " + desc, "data.schema", desc)


def test_non_object_schema_is_rejected(admin: httpx.Client) -> None:
    admin.put("/buckets/b")
    r = admin.put("/buckets/b/collections/bad", json={"data": {"schema": "x"}})
    assert r.status_code == 400
    desc = '"x" is not a mapping type: Does not implement dict-like functionality.'
    assert r.json() == invalid("data.schema in body: " + desc, "data.schema", desc)


def test_collection_without_schema_accepts_anything(admin: httpx.Client, collection: str) -> None:
    r = admin.post(collection, json={"data": {"title": 5, "whatever": [1, {"a": None}]}})
    assert r.status_code == 201
    assert "schema" not in r.json()["data"]
