"""A collection's JSON schema is data from whoever may write the collection; it must not make the
home fetch URLs (request forgery, an 11 s stall of every request), read local files (and echo
them in error messages) or spend seconds backtracking on a regex while every request waits.
A real ``homeport serve`` on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from homeport.testing.live import LiveHome, start_home

ADMIN = ("admin", "admin-s3cret-pw")
SECRET = "TOPSECRET-7f3a9c"
HEARTBEAT_BOUND = 0.5


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def home(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveHome]:
    env = {
        "HOMEPORT_ADMIN_PASSWORD": ADMIN[1],
        "HOMEPORT_ARGON2_TIME_COST": "1",
        "HOMEPORT_ARGON2_MEMORY_KIB": "1024",
    }
    if request.param == "postgresql":
        env["HOMEPORT_STORAGE_URL"] = request.getfixturevalue("fresh_postgres_url")
    started = start_home(tmp_path / "data", env, log=tmp_path / "server.log", timeout=20)
    try:
        yield started
    finally:
        started.stop()
    assert "Traceback" not in (tmp_path / "server.log").read_text(errors="replace")


@pytest.fixture
def client(home: LiveHome) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=home.url, auth=ADMIN, timeout=30) as c:
        assert c.put("/buckets/b").status_code in (200, 201)
        yield c


class Listener:
    """A TCP listener on loopback that counts who connects (it must stay at zero)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            conn.sendall(b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"enum": [1]}')
            conn.close()

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(5)
        self.sock.close()


def schema_with(ref: str) -> dict[str, object]:
    return {"type": "object", "properties": {"x": {"$ref": ref}}}


def test_a_remote_ref_is_refused_and_never_fetched(client: httpx.Client) -> None:
    listener = Listener()
    try:
        ref = f"http://127.0.0.1:{listener.port}/schema.json"
        answer = client.put("/buckets/b/collections/c", json={"data": {"schema": schema_with(ref)}})
        assert answer.status_code == 400, answer.text
        body = answer.json()
        assert body["errno"] == 107 and body["details"][0]["name"] == "data.schema"
        assert "$ref" in body["message"] and "inside this schema" in body["message"]
        client.put("/buckets/b/collections/c")  # no schema: the write below must not fetch
        assert client.post("/buckets/b/collections/c/records", json={"data": {"x": 2}}).is_success
        assert client.get("/buckets/b/collections/c").json()["data"].get("schema") is None
        time.sleep(0.3)
        assert listener.connections == 0
    finally:
        listener.close()


def test_a_file_ref_is_refused_and_its_content_never_echoed(
    client: httpx.Client, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"enum": [SECRET]}))
    for ref in (secret.as_uri(), f"{secret.as_uri()}#/enum", "file:///etc/passwd"):
        answer = client.put("/buckets/b/collections/c", json={"data": {"schema": schema_with(ref)}})
        assert answer.status_code == 400, answer.text
        assert SECRET not in answer.text
        record = client.post("/buckets/b/collections/c/records", json={"data": {"x": "nope"}})
        assert SECRET not in record.text


def test_refs_inside_the_schema_still_work(client: httpx.Client) -> None:
    schema = {
        "$defs": {"small": {"type": "integer", "maximum": 3}},
        "type": "object",
        "properties": {"x": {"$ref": "#/$defs/small"}},
    }
    answer = client.put("/buckets/b/collections/c", json={"data": {"schema": schema}})
    assert answer.status_code in (200, 201), answer.text
    records = "/buckets/b/collections/c/records"
    assert client.post(records, json={"data": {"x": 2}}).status_code == 201
    refused = client.post(records, json={"data": {"x": 9}})
    assert refused.status_code == 400 and refused.json()["details"][0]["name"] == "x"


def test_a_redos_pattern_does_not_stall_the_home(client: httpx.Client, home: LiveHome) -> None:
    schema = {"type": "object", "properties": {"x": {"type": "string", "pattern": "^(a+)+$"}}}
    answer = client.put("/buckets/b/collections/c", json={"data": {"schema": schema}})
    assert answer.status_code in (200, 201), answer.text
    answers: list[httpx.Response] = []
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with httpx.Client(base_url=home.url, auth=ADMIN, timeout=60) as c:
                doc = {"data": {"x": "a" * 32 + "!"}}
                answers.append(c.post("/buckets/b/collections/c/records", json=doc))
        except BaseException as exc:  # reported below
            errors.append(exc)

    writers = [threading.Thread(target=write) for _ in range(3)]
    for t in writers:
        t.start()
    slowest = 0.0
    with httpx.Client(base_url=home.url, timeout=HEARTBEAT_BOUND * 4) as beat:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            started = time.monotonic()
            assert beat.get("/__heartbeat__").status_code == 200
            slowest = max(slowest, time.monotonic() - started)
            time.sleep(0.05)
    for t in writers:
        t.join(30)
    assert not errors, errors
    assert slowest < HEARTBEAT_BOUND, f"the heartbeat took {slowest:.2f} s"
    assert [a.status_code for a in answers] == [400, 400, 400]
    assert answers[0].json()["details"][0]["name"] == "x"
    ok = client.post("/buckets/b/collections/c/records", json={"data": {"x": "aaa"}})
    assert ok.status_code == 201


@pytest.mark.parametrize("pattern", ["(a)\\1", "(?=a)b", "(?<!x)y"])
def test_a_pattern_that_cannot_run_in_linear_time_is_refused(
    client: httpx.Client, pattern: str
) -> None:
    for schema in (
        {"type": "object", "properties": {"x": {"type": "string", "pattern": pattern}}},
        {"type": "object", "patternProperties": {pattern: {"type": "string"}}},
    ):
        answer = client.put("/buckets/b/collections/c", json={"data": {"schema": schema}})
        assert answer.status_code == 400, answer.text
        assert "linear time" in answer.json()["message"]
