"""The links the home writes (redirects, ``Next-Page``, attachment locations) name the host the
client used, and only ever one the home answers to: a foreign ``Host`` is refused (421) before
any link is written, so a request cannot make the home point clients elsewhere."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import httpx
import pytest

from homeport.testing.live import LiveHome, start_home

PASSWORD = "admin-s3cret-pw"
EVIL = "evil.example"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHome]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMEPORT_")}
    env.update(
        HOMEPORT_ADMIN_PASSWORD=PASSWORD,
        HOMEPORT_ARGON2_MEMORY_KIB="1024",
        HOMEPORT_ARGON2_TIME_COST="1",
        HOMEPORT_LOG_LEVEL="warning",
    )
    with start_home(tmp_path_factory.mktemp("links") / "data", env) as live:
        with httpx.Client(base_url=live.url, auth=("admin", PASSWORD), timeout=10) as api:
            assert api.put("/buckets/b").status_code == 201
            assert api.put("/buckets/b/collections/c").status_code == 201
            for n in range(3):
                assert api.put(f"/buckets/b/collections/c/records/r{n}", json={}).status_code == 201
        yield live


def links(home: LiveHome, host: str) -> list[str]:
    """Every link the home writes for a client that sends ``host``: refused ones give none."""
    found: list[str] = []
    headers = {"Host": host}
    with httpx.Client(
        base_url=home.root, headers=headers, auth=("admin", PASSWORD), timeout=10
    ) as client:
        for path in (
            "/",
            "/buckets",
            "/v1/buckets/",
            "/v1/buckets/b/collections/c/records?_limit=1",
        ):
            response = client.get(path)
            found += [
                response.headers[h] for h in ("location", "next-page") if h in response.headers
            ]
        upload = client.post(
            "/v1/buckets/b/collections/c/records/r0/attachment",
            files={"attachment": ("a.txt", b"hello", "text/plain")},
        )
        if upload.status_code in (200, 201):
            found += [upload.json()["location"], upload.headers["location"]]
    return found


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}"])
def test_links_name_the_host_the_client_used(home: LiveHome, host: str) -> None:
    host = host.format(port=home.port)
    found = links(home, host)
    assert len(found) == 6, found
    assert all(link.startswith(f"http://{host}/") for link in found), found


@pytest.mark.parametrize("host", [EVIL, f"{EVIL}:{80}", f"127.0.0.1@{EVIL}", f"{EVIL}/x"])
def test_a_foreign_host_gets_no_link_at_all(home: LiveHome, host: str) -> None:
    assert links(home, host) == []


def test_without_a_host_links_name_the_address_the_connection_reached(home: LiveHome) -> None:
    with socket.create_connection(("127.0.0.1", home.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        answer = b""
        for _ in range(100):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head = answer.split(b"\r\n\r\n")[0].decode("latin-1").lower()
    assert head.startswith("http/1.1 307"), head
    assert f"location: http://127.0.0.1:{home.port}/v1/" in head, head
