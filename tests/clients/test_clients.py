"""kinto.js and kinto-http (npm) against the server: sync, conflicts, permissions, paging."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from homeport.testing.targets import Server, ensure_account, start_target

from .conftest import RECORDS, SETTINGS, run_scenario, server_records, without_status


def _synced(local: dict[str, dict[str, Any]]) -> None:
    pending = {k: r["_status"] for k, r in local.items() if r["_status"] != "synced"}
    assert pending == {}


def test_two_devices_sync(node: str, collection: Server) -> None:
    out = run_scenario(node, collection, "twoDevices")
    log = out["log"]
    server = server_records(collection)

    # 2,000 created on a, pulled by b across pages; 20 deleted, one created on b.
    assert log["a_push"]["published"] == 2000
    assert log["b_pull"]["created"] == 2000
    assert len(server) == 2000 - 20 - 1 + 1
    assert server[log["b_created_id"]]["title"] == "made on b"
    assert all(f"r{i:04d}" not in server for i in range(20, 40))
    assert server["r0005"]["title"] == "a edited 5"
    assert server["r0015"]["title"] == "b edited 15"

    # MANUAL: one conflict, resolved by b, pushed on the next sync.
    assert log["manual_b"]["conflicts"] == 1 and not log["manual_b"]["ok"]
    assert log["manual_b_resolved"] == 1
    assert log["manual_b2"]["ok"]
    assert server["r0041"]["title"] == "merged"
    assert server["r0041"]["from_a"] is True and server["r0041"]["from_b"] is True
    # SERVER_WINS keeps a's version, CLIENT_WINS puts b's on the server.
    assert log["server_wins_b"]["ok"]
    assert server["r0042"]["title"] == "server version"
    assert log["client_wins_b"]["ok"]
    assert server["r0043"]["title"] == "client version"
    # a's deletion wins over b's edit (SERVER_WINS on b).
    assert "r0044" not in server

    # Both devices hold exactly the server's records. kinto.js keeps the tombstone it took as the
    # SERVER_WINS resolution of r0044 as a local record (so does it against Kinto): such local
    # tombstones must be the server's own.
    everything = server_records(collection, tombstones=True)
    for device in ("a", "b"):
        _synced(out[device])
        local = without_status(out[device])
        tombstones = {k: r for k, r in local.items() if r.get("deleted")}
        assert {k: everything[k] for k in tombstones} == tombstones, device
        live = {k: r for k, r in local.items() if not r.get("deleted")}
        assert live == server, device


def test_permissions_only_writes_keep_data(node: str, collection: Server) -> None:
    admin = collection.client("admin")
    assert admin.patch("/buckets/b", json={"data": {"title": "the bucket"}}).status_code == 200
    coll = "/buckets/b/collections/c"
    assert admin.patch(coll, json={"data": {"title": "the collection"}}).status_code == 200
    r = admin.put(f"{coll}/records/r1", json={"data": {"title": "one", "n": 1}})
    assert r.status_code == 201

    out = run_scenario(node, collection, "permissionsOnly")

    # What each client got back, and what the server now holds: the data is unchanged.
    assert out["bucket"]["title"] == "the bucket"
    assert out["collection"]["title"] == "the collection"
    assert out["record"]["title"] == "one" and out["record"]["n"] == 1
    assert out["collection2"]["title"] == "the collection"
    bucket = admin.get("/buckets/b").json()
    assert bucket["data"]["title"] == "the bucket"
    assert bucket["permissions"]["read"] == ["account:alice"]
    # (the writer is always kept among the writers; the order of principals is not meaningful)
    collection_now = admin.get(coll).json()
    assert collection_now["data"]["title"] == "the collection"
    assert sorted(collection_now["permissions"]["write"]) == ["account:admin", "account:alice"]
    record = admin.get(f"{coll}/records/r1").json()
    assert (record["data"]["title"], record["data"]["n"]) == ("one", 1)
    assert record["permissions"]["read"] == ["account:alice"]


def _missed(local: dict[str, dict[str, Any]], server: dict[str, dict[str, Any]]) -> list[str]:
    """Ids whose local copy is not the server's: absent, stale, or deleted on the server."""
    live = {k: r for k, r in without_status(local).items() if not r.get("deleted")}
    return sorted(k for k in live.keys() | server.keys() if live.get(k) != server.get(k))


def test_paged_pull_with_concurrent_writers(
    node: str,
    collection: Server,
    record_property: pytest.RecordProperty,
) -> None:
    out = run_scenario(node, collection, "pagedPull", env={"SEED_RECORDS": "1000"})
    log = out["log"]
    server = server_records(collection)
    # The reader's first two syncs span pages (1,000 records then 250 edits, 100 a page) and
    # each interruption wrote 3 changes; the third sync ran with no writer.
    assert log["pages_interrupted"] >= 9 + 2
    assert log["writes"] == 3 * log["pages_interrupted"]
    assert log["quiet"]["ok"]
    _synced(out["local"])
    missed = _missed(out["local"], server)
    record_property("missed", len(missed))
    print(f"{collection.backend}: {len(missed)} changes missed: {missed[:10]}")
    if collection.is_kinto:
        # Kinto 26.5 ends a paged listing with the ETag of its last page, past the changes that
        # were written between pages: a client following its pages never sees them.
        assert missed, "the scenario no longer exposes Kinto's paging race"
    else:
        assert missed == []


@pytest.fixture
def own_home(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Iterator[Server]:
    """A Homeport of this test's own (it is restarted), with bucket b and collection c."""
    if backend == "kinto":
        pytest.skip("Kinto never compacts its tombstones")
    pg = request.getfixturevalue("fresh_postgres_url") if backend == "postgresql" else None
    home = start_target(tmp_path, backend, pg, SETTINGS)
    try:
        ensure_account(home, "admin")
        admin = home.client("admin")
        assert admin.put("/buckets/b").status_code == 201
        assert admin.put("/buckets/b/collections/c").status_code == 201
        yield home
    finally:
        home.stop()


def test_offline_across_tombstone_compaction(node: str, own_home: Server) -> None:
    compacted: list[tuple[int, int, int]] = []  # (tombstones before, status after, errno)

    def compact(_: str) -> None:
        # Compaction runs at start-up: restart with a retention of 0 s. Before, the 10 deletions
        # made while the device was away are tombstones; after, a full _since history is gone.
        everything = server_records(own_home, tombstones=True).values()
        deleted = [r["last_modified"] for r in everything if r.get("deleted")]
        own_home.restart_home({"tombstone_retention_seconds": "0"})
        # A _since from before those deletions now asks for a history the home no longer has.
        r = own_home.client("admin").get(f"{RECORDS}?_since={min(deleted) - 1}")
        compacted.append((len(deleted), r.status_code, r.json().get("errno", 0)))

    out = run_scenario(node, own_home, "offlineAcrossCompaction", on_pause=compact)
    assert compacted == [(10, 410, 107)]
    server = server_records(own_home)
    assert len(server) == 50 - 10 + 1
    # The first sync back is refused (410 Gone: the history since the device's last sync is
    # incomplete), never answered with a partial one; the device starts over and ends right.
    assert out["log"].get("after_error_status") == 410, out["log"]
    _synced(out["local"])
    assert _missed(out["local"], server) == []
    assert without_status(out["local"]) == server
