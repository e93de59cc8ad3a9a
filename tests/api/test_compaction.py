"""A ``_since`` older than the compacted tombstones is refused (410), never answered partially.

After compaction a ``_since`` listing would lack the forgotten deletions: a client that also
gets other changes keeps the deleted records for good, and kinto.js, when deletions were the
only changes, sees an empty page with a newer ETag and raises ``ServerWasFlushedError`` (whose
documented remedy republishes the deleted records). Homeport answers 410 instead, so the
client's copy is never silently wrong and a fresh full pull gives exactly the server's state
(docs/compatibility.md, "Tombstone compaction"). Kinto never compacts, so Homeport only.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kinto_http import Client, KintoException

from homeport.testing.targets import ADMIN, IS_KINTO, Server, ensure_account, start_homeport

from .conftest import COLLECTION, RECORDS

pytestmark = pytest.mark.skipif(IS_KINTO, reason="Kinto never compacts tombstones")

RETENTION_S = 1
WAIT_S = 15.0


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def compacting(request: pytest.FixtureRequest) -> Iterator[Server]:
    """A Homeport of its own that forgets tombstones after one second (at each start-up)."""
    backend: str = request.param
    with tempfile.TemporaryDirectory(prefix=f"homeport-compaction-{backend}-") as tmpdir:
        pg = request.getfixturevalue("fresh_postgres_url") if backend == "postgresql" else None
        srv = start_homeport(
            Path(tmpdir), backend, pg, {"tombstone_retention_seconds": str(RETENTION_S)}
        )
        try:
            ensure_account(srv, ADMIN)
            yield srv
        finally:
            srv.stop()


def pull(http: httpx.Client, path: str, since: str | None) -> tuple[int, list[Any], str]:
    r = http.get(path, params={"_since": since} if since else {})
    return r.status_code, r.json().get("data", []), r.headers.get("ETag", "").strip('"')


def compact(server: Server, path: str, since: str) -> httpx.Response:
    """Restart (compaction runs at start-up, in the background) and wait until it has run."""
    time.sleep(RETENTION_S + 0.2)
    server.restart_home()
    deadline = time.monotonic() + WAIT_S
    while True:
        r = server.client(ADMIN).get(path, params={"_since": since})
        if r.status_code != 200 or time.monotonic() > deadline:
            return r
        time.sleep(0.1)


def test_a_since_older_than_compaction_is_410_and_a_full_pull_recovers(
    compacting: Server,
) -> None:
    admin = compacting.client(ADMIN)
    assert admin.put("/buckets/b").status_code in (200, 201)
    assert admin.put(COLLECTION).status_code == 201
    for i in range(6):
        assert admin.put(f"{RECORDS}/r{i}", json={"data": {"n": i}}).status_code == 201
    status, local_list, etag = pull(admin, RECORDS, None)
    assert status == 200 and len(local_list) == 6
    local = {r["id"]: r for r in local_list}
    admin.delete(f"{RECORDS}/r1")
    admin.delete(f"{RECORDS}/r2")
    admin.patch(f"{RECORDS}/r3", json={"data": {"n": 33}})
    status, changes, _ = pull(admin, RECORDS, etag)
    assert status == 200 and len(changes) == 3  # before compaction: the whole history

    r = compact(compacting, RECORDS, etag)
    assert r.status_code == 410, r.text
    admin = compacting.client(ADMIN)  # the restart closed the old client
    body = r.json()
    assert body["code"] == 410 and body["errno"] == 107 and body["error"] == "Gone"
    assert "_since" in body["message"]
    assert body["details"][0]["location"] == "querystring"

    # kinto-http (Python) surfaces it as an error, not as a partial answer.
    client = Client(server_url=compacting.url, auth=compacting.admin, bucket="b", collection="c")
    with pytest.raises(KintoException) as caught:
        client.get_records(_since=etag)
    assert caught.value.response is not None and caught.value.response.status_code == 410

    # The horizon is persisted: still refused after another restart.
    compacting.restart_home()
    admin = compacting.client(ADMIN)
    assert admin.get(RECORDS, params={"_since": etag}).status_code == 410

    # The remedy: drop the local copy, pull without _since, then sync from the new ETag.
    status, fresh, new_etag = pull(admin, RECORDS, None)
    assert status == 200
    local = {r["id"]: r for r in fresh}
    assert sorted(local) == ["r0", "r3", "r4", "r5"] and local["r3"]["n"] == 33
    admin.delete(f"{RECORDS}/r4")
    status, changes, _ = pull(admin, RECORDS, new_etag)
    assert status == 200 and [c["id"] for c in changes] == ["r4"] and changes[0]["deleted"]


def test_deletions_only_are_410_too_not_an_empty_page(compacting: Server) -> None:
    """kinto.js reads an empty page with a newer ETag as "server flushed"; 410 is unambiguous."""
    admin = compacting.client(ADMIN)
    path = "/buckets/b/collections/only-deletes/records"
    assert admin.put("/buckets/b").status_code in (200, 201)
    assert admin.put("/buckets/b/collections/only-deletes").status_code == 201
    for i in range(3):
        admin.put(f"{path}/x{i}", json={"data": {}})
    _, _, etag = pull(admin, path, None)
    admin.delete(f"{path}/x0")
    r = compact(compacting, path, etag)
    assert r.status_code == 410, r.text
    admin = compacting.client(ADMIN)  # the restart closed the old client
    # _since=0 holds nothing a forgotten deletion could concern: served, with what is left.
    r = admin.get(path, params={"_since": "0"})
    assert r.status_code == 200 and sorted(x["id"] for x in r.json()["data"]) == ["x1", "x2"]
    # The change stream resuming from before the horizon is refused the same way.
    r = admin.get("/buckets/b/collections/only-deletes/changes", headers={"Last-Event-ID": etag})
    assert r.status_code == 410, r.text
    # A client already past the horizon is served as usual.
    status, data, current = pull(admin, path, None)
    assert status == 200 and sorted(x["id"] for x in data) == ["x1", "x2"]
    assert pull(admin, path, current)[:2] == (200, [])


def test_a_since_from_before_a_collection_was_deleted_is_410(
    server: Server, admin: httpx.Client, collection: str
) -> None:
    """Deleting a collection drops its records without tombstones (as Kinto does): a client
    that synced the old collection would keep them if the recreated one answered its _since."""
    for i in range(3):
        admin.put(f"{RECORDS}/old{i}", json={"data": {}})
    _, _, etag = pull(admin, RECORDS, None)
    assert admin.delete(COLLECTION).status_code == 200
    assert admin.put(COLLECTION).status_code == 201
    admin.put(f"{RECORDS}/new", json={"data": {}})
    r = admin.get(RECORDS, params={"_since": etag})
    assert r.status_code == 410, r.text
    status, data, _ = pull(admin, RECORDS, None)
    assert status == 200 and [x["id"] for x in data] == ["new"]
