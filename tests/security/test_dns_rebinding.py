"""DNS rebinding: a page the owner visits re-points its own name at 127.0.0.1, and the browser
then talks to the home with ``Host: <the attacker's name>``. The home must refuse every such
request before any handler runs (421 in Kinto's error JSON), and answer its own names.

Each request below is sent by httpx on loopback with the ``Host`` header the rebound browser
would send; that is exactly what reaches the home in the attack.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from homeport.testing.live import LiveHome, start_home

PASSWORD = "correct horse battery"
EVIL = "evil.example"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMEPORT_")}
    env.update(
        HOMEPORT_ARGON2_MEMORY_KIB="1024",
        HOMEPORT_ARGON2_TIME_COST="1",
        HOMEPORT_LOG_LEVEL="warning",
        **extra,
    )
    return env


@pytest.fixture
def fresh_home(tmp_path: Path) -> Iterator[LiveHome]:
    """A home that has never been set up: its first-run wizard is open on loopback."""
    with start_home(tmp_path / "data", _env(HOMEPORT_ADMIN_PASSWORD=PASSWORD)) as home:
        yield home


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHome]:
    """A home with a bucket, a collection and a record in it."""
    data = tmp_path_factory.mktemp("rebinding") / "data"
    with start_home(data, _env(HOMEPORT_ADMIN_PASSWORD=PASSWORD)) as live:
        with httpx.Client(base_url=live.url, auth=("admin", PASSWORD), timeout=10) as api:
            assert api.put("/buckets/b").status_code == 201
            assert api.put("/buckets/b/collections/c").status_code == 201
            assert api.put("/buckets/b/collections/c/records/r", json={}).status_code == 201
        yield live


def _as(host: str, home: LiveHome, **kw: object) -> httpx.Client:
    headers = {"Host": host}
    return httpx.Client(base_url=home.root, headers=headers, timeout=10, **kw)  # type: ignore[arg-type]


def _refused(response: httpx.Response) -> None:
    assert response.status_code == 421, (response.status_code, response.text[:300])
    body = response.json()
    assert body["code"] == 421 and body["errno"] == 107
    assert body["error"] == "Misdirected Request"
    assert body["details"][0]["name"] == "Host"
    assert response.headers["content-type"] == "application/json"


def test_a_rebound_page_cannot_run_the_first_run_wizard(fresh_home: LiveHome) -> None:
    host = f"{EVIL}:{fresh_home.port}"
    with _as(host, fresh_home) as browser:
        form = browser.get("/admin/setup")
        _refused(form)
        assert "csrf" not in form.text
        answer = browser.post(
            "/admin/setup",
            data={
                "name": "x",
                "title": "x",
                "theme": "journal",
                "password": "attacker-pw-1",
                "password2": "attacker-pw-1",
                "csrf": "x",
            },
        )
        _refused(answer)
        _refused(browser.get("/admin/setup/phrase"))
    # The wizard is still there, untouched, for the owner on loopback.
    with httpx.Client(base_url=fresh_home.root, timeout=10) as owner:
        page = owner.get("/admin/setup")
        assert page.status_code == 200 and CSRF.search(page.text)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/",
        "/v1/buckets/b/collections/c/records",
        "/v1/buckets/b/collections/c/changes",
        "/admin/",
        "/admin/login",
        "/preview/",
        "/attachments/b/c/r/x.txt",
        "/",
    ],
)
@pytest.mark.parametrize("host", [EVIL, f"{EVIL}:8750", "127.0.0.1.nip.io", "homeport.local"])
def test_every_path_refuses_a_foreign_host(home: LiveHome, path: str, host: str) -> None:
    with _as(host, home, auth=("admin", PASSWORD)) as browser:
        _refused(browser.get(path))


def test_writes_and_batch_and_preflight_are_refused_too(home: LiveHome) -> None:
    with _as(EVIL, home, auth=("admin", PASSWORD)) as browser:
        _refused(browser.put("/v1/buckets/evil"))
        _refused(
            browser.post(
                "/v1/batch", json={"requests": [{"path": "/buckets/evil2", "method": "PUT"}]}
            )
        )
        _refused(browser.post("/admin/login", data={"password": PASSWORD}))
        _refused(
            browser.options(
                "/v1/buckets",
                headers={"Origin": f"http://{EVIL}", "Access-Control-Request-Method": "GET"},
            )
        )
    with httpx.Client(base_url=home.url, auth=("admin", PASSWORD), timeout=10) as owner:
        assert owner.get("/buckets/evil").status_code in (403, 404)
        assert owner.get("/buckets/evil2").status_code in (403, 404)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.0.0.1:{port}",
        "127.9.8.7:{port}",
        "localhost",
        "LOCALHOST:{port}",
        "[::1]:{port}",
        "[::1]",
        "app.localhost:{port}",
        "192.168.1.20:{port}",
    ],
)
def test_the_homes_own_names_are_answered(home: LiveHome, host: str) -> None:
    with _as(host.format(port=home.port), home, auth=("admin", PASSWORD)) as client:
        response = client.get("/v1/")
        assert response.status_code == 200, response.text
        assert response.json()["user"]["id"] == "account:admin"


@pytest.mark.parametrize("host", ["", "evil.example:port", "[::1", "a b"])
def test_malformed_hosts_are_refused(home: LiveHome, host: str) -> None:
    with _as(host, home) as client:
        _refused(client.get("/v1/"))


def test_allowed_hosts_and_lan_access_add_names(tmp_path: Path) -> None:
    env = _env(
        HOMEPORT_ADMIN_PASSWORD=PASSWORD,
        HOMEPORT_LAN_ACCESS="true",
        HOMEPORT_ALLOWED_HOSTS="home.example.org, .family.example",
    )
    with start_home(tmp_path / "data", env) as home:
        for host in (
            "homeport.local",
            "home.example.org:8443",
            "family.example",
            "ada.family.example",
        ):
            with _as(host, home) as client:
                assert client.get("/v1/").status_code == 200, host
        for host in (EVIL, "example.org", "evilfamily.example", "home.example.org.evil.example"):
            with _as(host, home) as client:
                _refused(client.get("/v1/"))


def test_websockets_are_refused_before_the_app_runs(tmp_path: Path) -> None:
    """The home has no websocket route today; the guard covers them anyway (in process, since
    it is the middleware alone that is under test)."""
    import warnings

    from starlette.websockets import WebSocketDisconnect

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from homeport.settings import Settings
    from homeport.web.middleware import AllowedHosts

    reached: list[str] = []

    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        reached.append(scope["type"])
        await send({"type": "websocket.accept"})  # type: ignore[operator]
        await receive()  # type: ignore[operator]

    guarded = AllowedHosts(app, Settings(data_dir=tmp_path))  # type: ignore[arg-type]
    # Not entered as a context manager: the stand-in app has no lifespan.
    client = TestClient(guarded)
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect("/ws", headers={"host": EVIL}),
    ):
        pass
    assert refused.value.code == 1008
    assert reached == []
    with client.websocket_connect("/ws", headers={"host": "127.0.0.1:8750"}) as socket:
        socket.close()
    assert reached == ["websocket"]
