"""What a batch answers is what it stored, timestamps included, also when they are assigned at
commit (PostgreSQL: `homeport.store.sql.settle`), and batches racing on one collection never hide
a write from a ``_since`` poll."""

from __future__ import annotations

import threading
from email.utils import formatdate
from typing import Any

import httpx

from homeport.testing.targets import Server

WRITERS, BATCHES, SIZE = 4, 3, 10


def etag(ts: int) -> str:
    return f'"{ts}"'


def test_a_batch_answers_with_the_timestamps_it_stored(
    admin: httpx.Client, collection: str
) -> None:
    r = admin.post(
        "/batch",
        json={
            "requests": [
                {"method": "POST", "path": collection, "body": {"data": {"id": "a"}}},
                {"method": "POST", "path": collection, "body": {"data": {"id": "b"}}},
                {"method": "PATCH", "path": f"{collection}/a", "body": {"data": {"v": 1}}},
                {"method": "GET", "path": f"{collection}/a"},
                {"method": "GET", "path": collection},
                {"method": "DELETE", "path": f"{collection}/b"},
                {"method": "POST", "path": collection, "body": {"data": {"id": "a"}}},
            ]
        },
    )
    assert r.status_code == 200
    made_a, made_b, patched, got, listed, deleted, again = r.json()["responses"]
    assert [x["status"] for x in (made_a, made_b, patched, got, listed, deleted, again)] == [
        201, 201, 200, 200, 200, 200, 200
    ]  # fmt: skip
    writes = [x["body"]["data"]["last_modified"] for x in (made_a, made_b, patched, deleted)]
    assert writes == sorted(writes) and len(set(writes)) == 4
    for answer in (made_a, made_b, patched, deleted):
        ts = answer["body"]["data"]["last_modified"]
        assert answer["headers"]["ETag"] == etag(ts)
        assert answer["headers"]["Last-Modified"] == formatdate(ts / 1000, usegmt=True)
    assert got["body"]["data"] == patched["body"]["data"]
    assert got["headers"]["ETag"] == etag(writes[2])
    assert listed["headers"]["ETag"] == etag(writes[2])  # the list's timestamp: its newest write
    assert {o["id"]: o["last_modified"] for o in listed["body"]["data"]} == {
        "a": writes[2],
        "b": writes[1],
    }
    assert again["body"]["data"] == patched["body"]["data"]  # the existing record, as stored

    stored = admin.get(f"{collection}/a")
    assert stored.json()["data"] == patched["body"]["data"]
    assert stored.headers["ETag"] == etag(writes[2])
    since = admin.get(collection, params={"_since": writes[0]})
    assert {o["id"]: o["last_modified"] for o in since.json()["data"]} == {
        "a": writes[2],
        "b": writes[3],
    }
    assert since.headers["ETag"] == etag(writes[3])


def test_racing_batches_answer_what_they_stored_and_polls_miss_nothing(
    server: Server, admin: httpx.Client, collection: str
) -> None:
    answered: dict[str, int] = {}
    polled: dict[str, int] = {}
    errors: list[str] = []
    done = threading.Event()
    lock = threading.Lock()

    def write(n: int) -> None:
        with httpx.Client(base_url=server.url, auth=server.admin, timeout=30) as http:
            for b in range(BATCHES):
                ids = [f"w{n}-{b}-{i}" for i in range(SIZE)]
                body = {"data": {"n": n}}
                requests = [
                    {"method": "PUT", "path": f"{collection}/{i}", "body": body} for i in ids
                ]
                r = http.post("/batch", json={"requests": requests})
                if r.status_code != 200:
                    errors.append(f"{r.status_code} {r.text[:200]}")
                    continue
                mine = [x["body"]["data"]["last_modified"] for x in r.json()["responses"]]
                if mine != sorted(mine) or len(set(mine)) != SIZE:
                    errors.append(f"batch {n}-{b} answered {mine}")
                with lock:
                    answered.update(zip(ids, mine, strict=True))

    def poll() -> None:
        cursor: Any = None
        with httpx.Client(base_url=server.url, auth=server.admin, timeout=30) as http:
            for _ in range(10_000):
                finished = done.is_set()
                params = {"_limit": 10_000} if cursor is None else {"_since": cursor}
                r = http.get(collection, params=params)
                polled.update({o["id"]: o["last_modified"] for o in r.json()["data"]})
                cursor = r.headers["ETag"].strip('"')
                if finished:
                    return

    writers = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    poller = threading.Thread(target=poll)
    poller.start()
    for t in writers:
        t.start()
    for t in writers:
        t.join(timeout=120)
    done.set()
    poller.join(timeout=60)
    assert not poller.is_alive() and not any(t.is_alive() for t in writers)
    assert errors == []
    assert len(answered) == WRITERS * BATCHES * SIZE
    assert len(set(answered.values())) == len(answered)  # one timestamp per write
    stored = admin.get(collection, params={"_limit": 10_000})
    assert {o["id"]: o["last_modified"] for o in stored.json()["data"]} == answered
    assert stored.headers["ETag"] == etag(max(answered.values()))
    assert polled == answered  # every write reached the `_since` poller, as stored
