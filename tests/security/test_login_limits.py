"""Password guessing: one limit for every way of logging in (Basic auth on /v1 and in batch,
the GUI's form), per client and per account; 429 in Kinto's shape with ``Retry-After``.

The attack it reproduces: 40 guesses in under a second over one connection with Basic auth,
which went around the GUI's own limit. Different clients are different loopback addresses
(127.0.0.2, 127.0.0.3…), bound with httpx's ``local_address``.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from homeport.services.logins import ACCOUNT_LIMITS, CLIENT_LIMITS
from homeport.testing.live import LiveHome, start_home

PASSWORD = "admin-s3cret-pw"
PER_MINUTE = CLIENT_LIMITS[0].failures
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def home(tmp_path: Path) -> Iterator[LiveHome]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMEPORT_")}
    env.update(
        HOMEPORT_ADMIN_PASSWORD=PASSWORD,
        HOMEPORT_ACCOUNT_CREATE_PRINCIPALS="system.Everyone",
        HOMEPORT_ARGON2_MEMORY_KIB="1024",
        HOMEPORT_ARGON2_TIME_COST="1",
        HOMEPORT_LOG_LEVEL="warning",
    )
    with start_home(tmp_path / "data", env) as live:
        yield live


def client_at(home: LiveHome, address: str = "127.0.0.1", **kw: object) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=home.url, transport=transport, timeout=10, **kw)  # type: ignore[arg-type]


def assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, (response.status_code, response.text[:300])
    body = response.json()
    assert body["code"] == 429 and body["errno"] == 117
    assert body["error"] == "Too Many Requests"
    assert "Too many wrong passwords" in body["message"]
    assert 1 <= int(response.headers["Retry-After"]) <= 3600


def test_basic_auth_guessing_is_stopped_and_the_right_password_too(home: LiveHome) -> None:
    statuses = []
    started = time.monotonic()
    with client_at(home, "127.0.0.2") as attacker:
        for n in range(40):
            statuses.append(attacker.get("/", auth=("admin", f"guess-{n}")).status_code)
        elapsed = time.monotonic() - started
        # Only the first few guesses were even checked; the rest were refused unread.
        assert statuses[:PER_MINUTE] == [200] * PER_MINUTE  # anonymous: Kinto's root answers
        assert set(statuses[PER_MINUTE:]) == {429}
        assert_limited(attacker.get("/", auth=("admin", PASSWORD)))
        assert_limited(attacker.get("/buckets", auth=("admin", PASSWORD)))
    assert elapsed < 30
    # The owner, on another address, is not locked out by someone else's guesses.
    with client_at(home, "127.0.0.1", auth=("admin", PASSWORD)) as owner:
        assert owner.get("/").json()["user"]["id"] == "account:admin"


def test_guesses_in_a_batch_count_and_a_locked_client_cannot_batch(home: LiveHome) -> None:
    with client_at(home, "127.0.0.3") as attacker:
        for n in range(PER_MINUTE):
            r = attacker.post("/batch", json={"requests": [{"path": "/"}]}, auth=("admin", f"g{n}"))
            assert r.status_code == 200
        assert_limited(
            attacker.post("/batch", json={"requests": [{"path": "/"}]}, auth=("admin", PASSWORD))
        )


def run_wizard(home: LiveHome) -> None:
    """The GUI's first-run wizard, so that its login form opens; the password stays PASSWORD."""
    with httpx.Client(base_url=home.root, timeout=30, follow_redirects=True) as owner:
        page = owner.get("/admin/setup")
        token = CSRF.search(page.text)
        assert token, page.text[:200]
        form = {
            "csrf": token.group(1),
            "name": "Ada",
            "title": "Ada",
            "theme": "journal",
            "password": PASSWORD,
            "password2": PASSWORD,
        }
        shown = owner.post("/admin/setup", data=form)
        assert shown.status_code == 200, shown.text[:300]
        words = re.findall(r"<li>([a-z]+)</li>", shown.text)
        confirm = owner.get("/admin/setup/confirm")
        token = CSRF.search(confirm.text)
        assert token
        answers = {
            f"word{n}": words[int(n) - 1] for n in re.findall(r'name="word(\d+)"', confirm.text)
        }
        done = owner.post("/admin/setup/confirm", data={"csrf": token.group(1), **answers})
        assert done.status_code == 200, done.text[:300]


def test_the_gui_form_and_the_api_share_one_limit(home: LiveHome) -> None:
    run_wizard(home)
    with client_at(home, "127.0.0.4") as attacker:
        for n in range(PER_MINUTE - 2):
            assert attacker.get("/", auth=("admin", f"g{n}")).status_code == 200
        for n in range(2):
            form = attacker.get(home.root + "/admin/login")
            token = CSRF.search(form.text)
            assert token, form.text[:200]
            wrong = attacker.post(
                home.root + "/admin/login", data={"csrf": token.group(1), "password": f"x{n}"}
            )
            assert wrong.status_code == 401
        form = attacker.get(home.root + "/admin/login")
        token = CSRF.search(form.text)
        assert token
        right = attacker.post(
            home.root + "/admin/login", data={"csrf": token.group(1), "password": PASSWORD}
        )
        assert right.status_code == 429
        assert "Too many wrong passwords" in right.text
        assert int(right.headers["Retry-After"]) >= 1
        assert attacker.get(home.root + "/admin/", follow_redirects=False).status_code == 303
        assert_limited(attacker.get("/", auth=("admin", PASSWORD)))


def test_only_failures_count(home: LiveHome) -> None:
    with client_at(home, "127.0.0.5") as client:
        for n in range(30):
            name = f"user{n}"
            created = client.put(f"/accounts/{name}", json={"data": {"password": f"pw-{n}-long"}})
            assert created.status_code == 201, created.text
            me = client.get("/", auth=(name, f"pw-{n}-long")).json()["user"]["id"]
            assert me == f"account:{name}"


def test_a_hostile_page_in_the_owners_browser_locks_out_only_itself(home: LiveHome) -> None:
    """Every web page can send Basic-auth guesses to loopback (CORS allows it, as Kinto's
    does); its requests carry its Origin, and only that origin gets locked."""
    with client_at(home, "127.0.0.1", headers={"Origin": "http://evil.example"}) as page:
        for n in range(PER_MINUTE):
            page.get("/", auth=("admin", f"g{n}"))
        assert_limited(page.get("/", auth=("admin", PASSWORD)))
    with client_at(home, "127.0.0.1", auth=("admin", PASSWORD)) as tool:
        assert tool.get("/").json()["user"]["id"] == "account:admin"


def test_guessing_one_account_from_many_clients_locks_that_account(home: LiveHome) -> None:
    (account_limit,) = ACCOUNT_LIMITS
    with client_at(home, "127.0.0.6") as anyone:
        assert (
            anyone.put("/accounts/alice", json={"data": {"password": "alice-pw-1"}}).status_code
            == 201
        )
    clients = account_limit.failures // PER_MINUTE
    for c in range(clients):
        origin = f"http://attacker-{c}.example"
        with client_at(home, "127.0.0.7", headers={"Origin": origin}) as page:
            for n in range(PER_MINUTE):
                assert page.get("/", auth=("admin", f"g{c}-{n}")).status_code == 200
    with client_at(home, "127.0.0.8") as fresh:
        assert_limited(fresh.get("/", auth=("admin", PASSWORD)))
        # Other accounts are not affected.
        assert fresh.get("/", auth=("alice", "alice-pw-1")).json()["user"]["id"] == "account:alice"


def test_a_forwarded_for_header_does_not_make_a_new_client(home: LiveHome) -> None:
    """The home has no proxy in front: X-Forwarded-For is the client's word, not its address
    (uvicorn trusts it from 127.0.0.1 by default)."""
    with client_at(home, "127.0.0.1") as local:
        statuses = [
            local.get(
                "/", auth=("admin", f"g{n}"), headers={"X-Forwarded-For": f"10.0.0.{n}"}
            ).status_code
            for n in range(PER_MINUTE + 3)
        ]
    assert statuses[PER_MINUTE:] == [429] * 3, statuses
