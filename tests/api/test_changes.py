"""Homeport's live change stream: server-sent events carrying what ``_since`` returns.

Kinto has no such endpoint, so these tests run against Homeport only.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import httpx
import pytest


@pytest.fixture(autouse=True)
def _homeport_only(server) -> None:
    if server.is_kinto:
        pytest.skip("Kinto has no change stream")


MAX_LINES = 200


def events(response: httpx.Response, wanted: int) -> Iterator[dict]:
    """Parse SSE ``change`` events until ``wanted`` have arrived (bounded by MAX_LINES)."""
    current: dict[str, str] = {}
    seen = 0
    for count, line in enumerate(response.iter_lines()):
        if count > MAX_LINES:
            return
        if line == "":
            if current.get("event") == "change":
                seen += 1
                yield {"id": current.get("id"), "data": json.loads(current["data"])}
                if seen >= wanted:
                    return
            current = {}
        elif not line.startswith(":") and ":" in line:
            key, _, value = line.partition(":")
            current[key] = value.strip()


def stream(server, path: str, **headers: str):
    return httpx.stream(
        "GET",
        server.url + path,
        auth=server.admin,
        headers=headers,
        timeout=httpx.Timeout(10.0),
    )


def test_stream_replays_since_then_pushes_new_changes(server, admin: httpx.Client, collection):
    first = admin.put(collection + "/r1", json={"data": {"n": 1}}).json()["data"]
    admin.put(collection + "/r2", json={"data": {"n": 2}})
    admin.delete(collection + "/r2")
    changes = collection.rsplit("/records", 1)[0] + "/changes"
    with stream(server, changes + f"?_since={first['last_modified'] - 1}") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        got = events(response, 3)
        replay = [next(got) for _ in range(2)]
        assert [e["data"]["id"] for e in replay] == ["r1", "r2"]
        assert replay[1]["data"]["deleted"] is True
        assert replay[0]["id"] == str(first["last_modified"])
        writer = threading.Thread(
            target=lambda: admin.put(collection + "/r3", json={"data": {"n": 3}})
        )
        writer.start()
        pushed = next(got)
        writer.join(timeout=10)
    assert pushed["data"]["id"] == "r3"
    assert pushed["data"]["n"] == 3


def test_stream_resumes_from_last_event_id(server, admin: httpx.Client, collection):
    ts = [
        admin.put(collection + f"/r{i}", json={"data": {"n": i}}).json()["data"]["last_modified"]
        for i in range(3)
    ]
    changes = collection.rsplit("/records", 1)[0] + "/changes"
    with stream(server, changes, **{"Last-Event-ID": str(ts[0])}) as response:
        got = [e["data"]["id"] for e in events(response, 2)]
    assert got == ["r1", "r2"]


def test_stream_needs_read_permission(server, anon: httpx.Client, collection):
    changes = collection.rsplit("/records", 1)[0] + "/changes"
    response = anon.get(changes)
    assert response.status_code == 401
    assert response.json()["errno"] == 104


def test_stream_of_the_default_bucket(server, admin: httpx.Client):
    """``/buckets/default`` is the personal bucket here too (kinto.js's default bucket)."""
    admin.put("/buckets/default/collections/tasks/records/r1", json={"data": {"n": 1}})
    with stream(server, "/buckets/default/collections/tasks/changes?_since=0") as response:
        assert response.status_code == 200
        got = [e["data"]["id"] for e in events(response, 1)]
    assert got == ["r1"]
