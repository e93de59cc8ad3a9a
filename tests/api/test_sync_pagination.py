"""A paginated ``_since`` pull never misses a write made while the client pages.

Kinto's JavaScript clients (kinto-http.js, kinto.js) follow ``Next-Page`` and keep the ETag of
the *last* page as their next ``_since``; kinto-http (Python) keeps the first page's. On Kinto, a
write landing between two pages gets a timestamp below the last page's ETag and is never fetched.
Homeport bounds a listing by the collection timestamp at its first page (the token carries the
bound, every page's ETag is it), so either choice of ETag is safe. Kinto loses writes here, so
these tests run against Homeport only (``bench/missed_writes.py`` measures both).
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from kinto_http import Client

from .conftest import RECORDS, Server

PAGE = 7
INITIAL = 60
SYNCS = 6
MAX_WRITES = 400
WRITER_SECONDS = 30.0
WAIT_SECONDS = 2.0


@pytest.fixture(autouse=True)
def _homeport_only(server: Server) -> None:
    if server.is_kinto:
        pytest.skip("Kinto misses writes made between pages (what this file proves we do not)")


@dataclass
class Writer:
    """Creates, retitles and deletes records on its own thread until told to stop (bounded)."""

    server: Server
    stop: threading.Event = field(default_factory=threading.Event)
    count: int = 0
    errors: list[str] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def run(self) -> None:
        rng = random.Random(7)
        alive = [f"r{i:03d}" for i in range(INITIAL)]
        with httpx.Client(base_url=self.server.url, auth=self.server.admin, timeout=10) as c:
            deadline = time.monotonic() + WRITER_SECONDS
            while not self.stop.is_set() and self.count < MAX_WRITES:
                if time.monotonic() > deadline:
                    break
                roll = rng.random()
                if roll < 0.4 or len(alive) < 10:
                    rid = f"n{self.count:04d}"
                    r = c.put(f"{RECORDS}/{rid}", json={"data": {"title": rng.random()}})
                    alive.append(rid)
                elif roll < 0.8:
                    rid = rng.choice(alive)
                    r = c.patch(f"{RECORDS}/{rid}", json={"data": {"title": rng.random()}})
                else:
                    rid = alive.pop(rng.randrange(len(alive)))
                    r = c.delete(f"{RECORDS}/{rid}")
                if r.status_code not in (200, 201):
                    self.errors.append(f"{r.status_code} {r.text}")
                with self.changed:
                    self.count += 1
                    self.changed.notify_all()

    def wait_for_more(self, seen: int) -> None:
        """Let at least one more write land (bounded), so pages really interleave with writes."""
        with self.changed:
            self.changed.wait_for(
                lambda: self.count > seen or self.stop.is_set() or self.count >= MAX_WRITES,
                timeout=WAIT_SECONDS,
            )


def pull(
    http: httpx.Client, local: dict[str, Any], since: str | None, sort: str, writer: Writer | None
) -> str:
    """One pull the way kinto.js does it: every page, tombstones applied, last page's ETag kept."""
    params: dict[str, Any] = {"_sort": sort, "_limit": PAGE}
    if since is not None:
        params["_since"] = since
    url: str | None = RECORDS
    etag = ""
    for _ in range(1000):
        if url is None:
            break
        r = http.get(url, params=params if url == RECORDS else None)
        assert r.status_code == 200, r.text
        for record in r.json()["data"]:
            if record.get("deleted"):
                local.pop(record["id"], None)
            else:
                local[record["id"]] = record
        etag = r.headers["ETag"].strip('"')
        url = r.headers.get("Next-Page")
        if writer is not None and url is not None:
            writer.wait_for_more(writer.count)
    return etag


def server_state(http: httpx.Client) -> dict[str, Any]:
    r = http.get(RECORDS, params={"_limit": 10000})
    assert "Next-Page" not in r.headers
    return {record["id"]: record for record in r.json()["data"]}


def seed(admin: httpx.Client) -> None:
    requests = [
        {"method": "PUT", "path": f"{RECORDS}/r{i:03d}", "body": {"data": {"title": i / INITIAL}}}
        for i in range(INITIAL)
    ]
    for start in range(0, INITIAL, 20):
        r = admin.post("/batch", json={"requests": requests[start : start + 20]})
        assert r.status_code == 200
        assert {s["status"] for s in r.json()["responses"]} == {201}


@pytest.mark.parametrize("sort", ["-last_modified", "last_modified", "title", "-id"])
def test_kinto_js_style_pulls_miss_nothing_while_a_writer_runs(
    server: Server, admin: httpx.Client, collection: str, sort: str
) -> None:
    seed(admin)
    writer = Writer(server)
    thread = threading.Thread(target=writer.run, daemon=True)
    local: dict[str, Any] = {}
    with httpx.Client(base_url=server.url, auth=server.admin, timeout=10) as http:
        thread.start()
        try:
            since = None
            for _ in range(SYNCS):
                since = pull(http, local, since, sort, writer)
        finally:
            writer.stop.set()
            thread.join(timeout=WRITER_SECONDS + 10)
        assert not thread.is_alive()
        assert writer.errors == []
        assert writer.count >= SYNCS  # the writes really interleaved with the pages
        since = pull(http, local, since, sort, None)
        assert local == server_state(http)


def test_kinto_http_python_misses_nothing_while_a_writer_runs(
    server: Server, admin: httpx.Client, collection: str
) -> None:
    seed(admin)
    writer = Writer(server)
    thread = threading.Thread(target=writer.run, daemon=True)
    local: dict[str, Any] = {}

    def sync(since: str | None) -> str:
        client = Client(server_url=server.url, auth=server.admin, bucket="b", collection="c")
        kwargs: dict[str, Any] = {"_limit": PAGE, "pages": float("inf")}
        if since is not None:
            kwargs["_since"] = since
        for record in client.get_records(**kwargs):
            if record.get("deleted"):
                local.pop(record["id"], None)
            else:
                local[record["id"]] = record
        return client.get_records_timestamp()

    thread.start()
    try:
        since = None
        for _ in range(SYNCS):
            since = sync(since)
    finally:
        writer.stop.set()
        thread.join(timeout=WRITER_SECONDS + 10)
    assert not thread.is_alive()
    assert writer.errors == []
    sync(since)
    with httpx.Client(base_url=server.url, auth=server.admin, timeout=10) as http:
        assert local == server_state(http)


def _token(next_page: str) -> dict[str, Any]:
    raw = httpx.URL(next_page).params["_token"]
    return json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))


def test_every_page_carries_the_first_pages_timestamp(admin: httpx.Client, collection: str) -> None:
    seed(admin)
    first = admin.get(RECORDS, params={"_limit": 10})
    bound = first.headers["ETag"]
    assert _token(first.headers["Next-Page"])["bound"] == int(bound.strip('"'))
    late = admin.put(f"{RECORDS}/late", json={"data": {"title": 2}}).json()["data"]
    admin.patch(f"{RECORDS}/r000", json={"data": {"title": -1}})  # not yet returned: moves on
    ids: list[str] = [r["id"] for r in first.json()["data"]]
    url: str | None = first.headers["Next-Page"]
    for _ in range(20):
        if url is None:
            break
        page = admin.get(url)
        assert page.headers["ETag"] == bound
        ids += [r["id"] for r in page.json()["data"]]
        url = page.headers.get("Next-Page")
    assert "late" not in ids and "r000" not in ids
    assert len(ids) == len(set(ids)) == INITIAL - 1
    since = admin.get(RECORDS, params={"_since": bound.strip('"')}).json()["data"]
    assert {r["id"] for r in since} == {"late", "r000"}
    assert max(r["last_modified"] for r in since) >= late["last_modified"]


def test_a_token_without_a_bound_still_pages(admin: httpx.Client, collection: str) -> None:
    """Kinto's tokens (and Homeport's before the bound) have no ``bound``: still accepted."""
    seed(admin)
    first = admin.get(RECORDS, params={"_limit": 10, "_sort": "id"})
    token = _token(first.headers["Next-Page"])
    del token["bound"]
    token["nonce"] = "pagination-token-from-kinto"
    raw = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
    r = admin.get(RECORDS, params={"_limit": 10, "_sort": "id", "_token": raw})
    assert r.status_code == 200
    assert [x["id"] for x in r.json()["data"]] == [f"r{i:03d}" for i in range(10, 20)]


@pytest.mark.parametrize(
    "token",
    [
        {"last_object": {}, "offset": 0, "bound": "soon"},
        {"last_object": {}, "offset": 0, "bound": -1},
        {"last_object": {}, "offset": 0, "bound": True},
        {"last_object": {}, "offset": "ten"},
    ],
)
def test_a_token_with_a_bad_bound_or_offset_is_a_400(
    admin: httpx.Client, collection: str, token: dict[str, Any]
) -> None:
    raw = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
    r = admin.get(RECORDS, params={"_token": raw})
    assert r.status_code == 400
    assert r.json()["errno"] == 107
