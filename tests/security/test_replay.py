"""A signed request replayed somewhere it was not meant for.

Two real providers on loopback and a home driven through the CLI. The second provider is
hostile: it keeps every request the home sends it (here, a recording front proxy that the
provider is configured to be reached through, as behind a reverse proxy). When the home leaves
it, it replays the home's signed ``DELETE /tenant`` at the first provider: the first provider
must refuse it (the signature names its audience) and keep serving the site. Replayed at the
hostile provider itself after the home enrolled there again, the nonce refuses it.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from homeport.crypto.signing import sign
from homeport.provider.app import create_provider_app
from homeport.provider.db import ProviderDB
from homeport.settings import load_settings
from homeport.sync.auth import authorization, message
from homeport.testing.live import free_port
from tests.e2e.provider_support import Provider
from tests.e2e.repo_support import ok
from tests.provider.conftest import (
    API,
    BASE,
    SITE_V1,
    Home,
    LiveApp,
    World,
)

HOP_HEADERS = {"host", "content-length", "connection", "transfer-encoding", "accept-encoding"}


@dataclass
class Captured:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Recorder:
    """An HTTP front proxy on loopback that forwards to ``upstream`` and keeps every request."""

    upstream: str
    port: int = field(default_factory=free_port)
    seen: list[Captured] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve(self) -> http.server.ThreadingHTTPServer:
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def relay(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                recorder.seen.append(Captured(self.command, self.path, headers, body))
                answer = httpx.request(
                    self.command,
                    recorder.upstream + self.path,
                    content=body,
                    headers={**headers, "X-Forwarded-For": "127.0.0.1"},
                    timeout=60,
                )
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in HOP_HEADERS | {"content-encoding"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_DELETE = relay

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


@pytest.fixture
def two(tmp_path: Path) -> Iterator[tuple[Provider, Provider, Recorder]]:
    honest = Provider(tmp_path / "honest", tmp_path / "honest.log")
    hostile = Provider(tmp_path / "hostile", tmp_path / "hostile.log")
    recorder = Recorder(hostile.url)
    hostile.env["HOMEPORT_PROVIDER_PUBLIC_URL"] = recorder.url
    server = recorder.serve()
    try:
        honest.start()
        hostile.start()
        yield honest, hostile, recorder
    finally:
        server.shutdown()
        server.server_close()
        honest.stop()
        hostile.stop()


def replay(request: Captured, url: str) -> httpx.Response:
    return httpx.request(
        request.method, url + request.path, content=request.body, headers=request.headers
    )


@pytest.mark.timeout(300)  # two providers and eight CLI runs: 120 s at load 8 with setup
def test_a_delete_replayed_at_another_provider_is_refused(
    tmp_path: Path, two: tuple[Provider, Provider, Recorder]
) -> None:
    honest, hostile, recorder = two
    home = tmp_path / "home"
    ok("init", "--json", data=home)
    article = tmp_path / "hello.md"
    article.write_text("---\ntitle: Hello from home\n---\n\nFirst post.\n")
    ok("add", "article", str(article), data=home)
    ok("providers", "add", honest.url, honest.invite(), "--name", "alice", data=home)
    ok("providers", "add", recorder.url, hostile.invite(), "--name", "alice", data=home)
    ok("publish", data=home)
    assert honest.page("alice").status_code == 200
    assert hostile.page("alice").status_code == 200

    ok("providers", "remove", recorder.url, data=home)  # leave the hostile provider
    assert hostile.page("alice").status_code == 410
    (delete,) = [r for r in recorder.seen if r.method == "DELETE"]

    answer = replay(delete, honest.url)

    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "wrong-audience"
    assert recorder.url.removeprefix("http://") in answer.json()["message"]
    assert honest.url.removeprefix("http://") in answer.json()["message"]  # what it expected
    assert honest.page("alice").status_code == 200
    # the Host header names the hostile provider: it is not what the audience is checked against
    spoofed = {**delete.headers, "Host": recorder.url.removeprefix("http://")}
    again = httpx.request(delete.method, honest.url + delete.path, headers=spoofed)
    assert again.status_code == 401, again.text
    assert honest.page("alice").status_code == 200

    # the same request at the provider it was meant for, after the home came back: a replay
    ok("providers", "add", recorder.url, hostile.invite(), "--name", "alice", data=home)
    ok("publish", data=home)
    assert hostile.page("alice").status_code == 200
    answer = replay(delete, hostile.url)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] in ("replayed", "wrong-audience")
    answer = replay(delete, recorder.url)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "replayed"
    assert hostile.page("alice").status_code == 200


# --- the same checks in-process, on both of the provider's engines -------------------------
ELSEWHERE = "https://other-provider.example"


def served(world: World) -> int:
    return int(world.get(f"alice.{BASE}", "/").status_code)


def test_a_request_signed_for_another_provider_is_refused(world: World, alice: Home) -> None:
    for method, path in [("DELETE", "/tenant"), ("GET", "/tenant"), ("GET", "/bundle")]:
        headers = alice.sign(method, API + path, audience=ELSEWHERE)
        answer = world.client.request(method, API + path, headers=headers)
        assert answer.status_code == 401, answer.text
        doc = answer.json()
        assert doc["error"] == "wrong-audience"
        assert "https://other-provider.example:443" in doc["message"]
        assert doc["expected"] == sorted(doc["expected"]) and doc["expected"]
        assert origin_of(world) in doc["expected"]
    assert served(world) == 200


def origin_of(world: World) -> str:
    return f"http://127.0.0.1:{world.client.base_url.port}"


def test_a_protocol_1_signature_is_refused_everywhere(world: World, alice: Home) -> None:
    """The old header (no audience), correctly signed the old way: refused, reads included."""
    for method, path in [("DELETE", "/tenant"), ("GET", "/tenant"), ("POST", "/objects/missing")]:
        body = b'{"ids": []}' if method == "POST" else b""
        ts, nonce = int(time.time() * 1000), "n" + str(time.monotonic_ns())
        digest = hashlib.sha256(body).hexdigest()
        old = "\n".join(["homeport/v1", method, API + path, str(ts), nonce, digest]).encode()
        header = (
            f'Homeport did="{alice.did}", key="{alice.signer.key_did}", ts="{ts}", '
            f'nonce="{nonce}", sig="{sign(alice.key, old)}"'
        )
        answer = world.client.request(
            method, API + path, content=body, headers={"Authorization": header}
        )
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"] == "wrong-audience"
        assert "protocol 1" in answer.json()["message"]
    assert served(world) == 200


def test_the_host_header_does_not_choose_the_audience(world: World, alice: Home) -> None:
    headers = {**alice.sign("DELETE", API + "/tenant", audience=ELSEWHERE)}
    headers["Host"] = "other-provider.example"
    answer = world.client.request("DELETE", API + "/tenant", headers=headers)
    assert answer.status_code == 401 and answer.json()["error"] == "wrong-audience"
    assert served(world) == 200


def test_behind_a_proxy_the_socket_address_is_not_an_audience(world: World, alice: Home) -> None:
    """A request that came through a front proxy was dialled at the proxy's address: one signed
    for the provider's own loopback socket (another machine's loopback provider) is refused."""
    headers = alice.sign("DELETE", API + "/tenant", audience=origin_of(world))
    headers["X-Forwarded-For"] = "203.0.113.9"
    answer = world.client.request("DELETE", API + "/tenant", headers=headers)
    assert answer.status_code == 401 and answer.json()["error"] == "wrong-audience"
    headers = alice.sign("GET", API + "/tenant", audience=f"https://{BASE}")
    headers["X-Forwarded-For"] = "203.0.113.9"
    assert world.client.get(API + "/tenant", headers=headers).status_code == 200
    assert served(world) == 200


def test_the_configured_public_addresses_are_the_only_audiences(tmp_path: Path) -> None:
    public = "https://provider.example"
    settings = load_settings(
        tmp_path / "provider", base_domain=BASE, provider_public_url=[public, "http://[::1]:99"]
    )
    db = ProviderDB(settings.data_dir, settings.provider_database)
    try:
        with (
            LiveApp(create_provider_app(settings, db=db)) as live,
            httpx.Client(base_url=live.url, timeout=30) as client,
        ):
            world = World(settings, db, client, None, [], tmp_path, live)  # type: ignore[arg-type]
            home = world.home()
            home.audience = public  # as the home knows the provider: through its proxy
            assert world.enroll(home, "alice").status_code == 201
            for aud in (live.url, f"https://{BASE}"):
                headers = home.sign("GET", API + "/tenant", audience=aud)
                answer = client.get(API + "/tenant", headers=headers)
                assert answer.status_code == 401, answer.text
                assert answer.json()["expected"] == ["http://[::1]:99", f"{public}:443"]
            headers = home.sign("GET", API + "/tenant", audience=public + ":443/ignored")
            assert client.get(API + "/tenant", headers=headers).status_code == 200
            home.repo.close()
    finally:
        db.close()


def test_an_enrollment_signed_for_another_provider_is_refused(world: World) -> None:
    home = world.home()
    code = world.invite()
    home.audience = ELSEWHERE
    doc = world.enroll_doc(home, code, "alice")
    answer = world.client.post(f"{API}/enroll", json=doc)
    assert answer.status_code == 401 and answer.json()["error"] == "wrong-audience"
    # the audience is signed: naming this provider in the body alone does not help
    doc = {**world.enroll_doc(home, code, "alice"), "audience": origin_of(world)}
    answer = world.client.post(f"{API}/enroll", json=doc)
    assert answer.status_code == 401 and answer.json()["error"] == "bad-signature"
    home.audience = str(world.client.base_url)  # the code was not spent by the refusals
    assert world.enroll(home, "alice", code=code).status_code == 201


def test_a_request_replayed_at_the_same_provider_is_refused(world: World, alice: Home) -> None:
    headers = alice.sign("DELETE", API + "/tenant", audience=f"https://{BASE}")
    headers["X-Forwarded-For"] = "203.0.113.9"  # as through the operator's proxy
    first = world.client.request("DELETE", API + "/tenant", headers=headers)
    assert first.status_code == 200
    # the operator lets the same identity enroll again; the captured DELETE comes back
    again = world.enroll(alice, "alice")
    assert again.status_code == 201, again.text
    assert alice.publish(world.client, alice.repo.head()).status_code == 200
    replayed = world.client.request("DELETE", API + "/tenant", headers=headers)
    assert replayed.status_code == 401 and replayed.json()["error"] == "replayed"
    assert served(world) == 200


def test_a_stale_publish_cannot_roll_the_site_back(world: World, alice: Home) -> None:
    """Even freshly signed (no replay needed), an older commit is not a fast-forward."""
    old = alice.repo.head()
    alice.write_site({**SITE_V1, "index.html": "<!doctype html><title>v2</title>"})
    assert alice.publish(world.client, alice.snapshot()).status_code == 200
    answer = alice.request(world.client, "POST", "/publish", alice.publish_doc(old))
    assert answer.status_code == 409 and answer.json()["error"] == "not-fast-forward"
    assert "v2" in world.get(f"alice.{BASE}", "/").text


def test_signatures_name_their_audience_as_an_origin() -> None:
    key = Ed25519PrivateKey.generate()
    header = authorization(key, "did:key:z", "GET", "/x", audience="HTTPS://Example.NET/path")
    assert 'aud="https://example.net:443"' in header
    assert message("a", "get", "/x", 1, "n", b"").startswith(b"homeport/v2\na\nGET\n")
