"""Kinto's rule: a write that is refused leaves the object exactly as it was."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from .conftest import BACKENDS, Home, assert_kinto_error, backend_home

COLLECTION = "/buckets/b/collections/c"
RECORD = f"{COLLECTION}/records/r1"
SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string"}},
    "required": ["title"],
}


@pytest.fixture(scope="module", params=BACKENDS)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Home]:
    h = backend_home(request, tmp_path_factory, {})
    try:
        yield h
    finally:
        h.stop()


@pytest.fixture
def admin(live: Home) -> Iterator[httpx.Client]:
    """Record r1 exists in a collection whose schema requires a string title."""
    with live.client() as client:
        client.delete("/buckets/b")
        assert client.put("/buckets/b").status_code == 201
        assert client.put(COLLECTION, json={"data": {"schema": SCHEMA}}).status_code == 201
        assert client.put(RECORD, json={"data": {"title": "original"}}).status_code == 201
        yield client


def test_put_failing_the_schema_leaves_the_record_unchanged(admin: httpx.Client) -> None:
    before = admin.get(RECORD).json()["data"]
    r = admin.put(RECORD, json={"data": {"title": 42}})
    assert_kinto_error(r, 400)
    assert admin.get(RECORD).json()["data"] == before


def test_patch_failing_the_schema_leaves_the_record_unchanged(admin: httpx.Client) -> None:
    before = admin.get(RECORD).json()["data"]
    r = admin.patch(RECORD, json={"data": {"title": None}})
    assert_kinto_error(r, 400)
    assert admin.get(RECORD).json()["data"] == before


def test_put_with_a_failing_if_match_leaves_the_record_unchanged(admin: httpx.Client) -> None:
    before = admin.get(RECORD).json()["data"]
    stale = f'"{before["last_modified"] - 1}"'
    r = admin.put(RECORD, json={"data": {"title": "changed"}}, headers={"If-Match": stale})
    error = assert_kinto_error(r, 412)
    assert error["errno"] == 114
    assert admin.get(RECORD).json()["data"] == before


def test_delete_with_a_failing_if_match_leaves_the_record(admin: httpx.Client) -> None:
    before = admin.get(RECORD).json()["data"]
    r = admin.delete(RECORD, headers={"If-Match": '"1"'})
    assert_kinto_error(r, 412)
    assert admin.get(RECORD).json()["data"] == before


def test_failed_write_does_not_move_the_collection_timestamp(admin: httpx.Client) -> None:
    etag = admin.get(f"{COLLECTION}/records").headers["ETag"]
    assert admin.put(RECORD, json={"data": {"title": 42}}).status_code == 400
    assert admin.put(RECORD, json={"data": {}}, headers={"If-Match": '"1"'}).status_code == 412
    assert admin.get(f"{COLLECTION}/records").headers["ETag"] == etag
