"""Login, sessions, CSRF and the wizard, in process with a hand-driven clock."""

from __future__ import annotations

from typing import Any

from homeport.gui.sessions import COOKIE, IDLE_MS
from homeport.services.logins import CLIENT_LIMITS

LOGIN_MAX_FAILURES = CLIENT_LIMITS[0].failures

Client = Any
Clock = Any


def test_first_visit_goes_to_the_wizard(gui: Any, client: Client) -> None:
    response = client.get("/admin/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/setup"


def test_wizard_sets_password_and_shows_the_phrase_once(gui: Any, client: Client) -> None:
    gui.wizard(client)
    assert client.get("/admin/setup/phrase", follow_redirects=False).status_code == 303
    client.cookies.clear()
    assert gui.login(client, "first-run-password").status_code == 401
    assert gui.login(client, gui.password).status_code == 200


def test_wizard_refuses_mismatched_passwords_and_saves_nothing(gui: Any, client: Client) -> None:
    page = client.get("/admin/setup")
    form = {"csrf": gui.csrf_of(page.text), "name": "Ada", "title": "T", "theme": "journal",
            "password": gui.password, "password2": gui.password + "x"}
    response = client.post("/admin/setup", data=form)
    assert response.status_code == 400
    assert "The two passwords differ" in response.text
    assert client.get("/admin/", follow_redirects=False).headers["location"] == "/admin/setup"


def test_session_cookie_is_http_only_and_strict(gui: Any, client: Client) -> None:
    gui.wizard(client)
    client.cookies.clear()
    response = gui.login(client, gui.password)
    cookie = response.history[0].headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie


def test_wrong_password_is_refused_with_a_message(gui: Any, client: Client) -> None:
    gui.wizard(client)
    client.cookies.clear()
    response = gui.login(client, "nope")
    assert response.status_code == 401
    assert "That password is not right" in response.text


def test_login_is_rate_limited_then_allowed_again(gui: Any, client: Client, clock: Clock) -> None:
    gui.wizard(client)
    client.cookies.clear()
    for _ in range(LOGIN_MAX_FAILURES):
        gui.login(client, "nope")
    blocked = gui.login(client, gui.password)
    assert blocked.status_code == 429
    assert "Too many wrong passwords" in blocked.text
    clock.advance(61)
    assert gui.login(client, gui.password).status_code == 200


def test_post_without_csrf_token_is_forbidden(gui: Any, client: Client) -> None:
    gui.wizard(client)
    response = client.post("/admin/logout", data={})
    assert response.status_code == 403
    assert "security token" in response.text
    assert client.get("/admin/", follow_redirects=False).status_code == 200


def test_expired_session_asks_to_log_in_again(gui: Any, client: Client, clock: Clock) -> None:
    gui.wizard(client)
    clock.advance(IDLE_MS / 1000 + 1)
    response = client.get("/admin/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/admin/login?next=")
    page = client.get(response.headers["location"])
    assert "Your session has expired" in page.text
    api = client.post("/admin/logout", headers={"Accept": "application/json"})
    assert api.status_code == 401 and api.json()["error"] == "login"


def test_logout_ends_the_session(gui: Any, client: Client) -> None:
    gui.wizard(client)
    old = client.cookies[COOKIE]
    page = client.get("/admin/")
    client.post("/admin/logout", data={"csrf": gui.csrf_of(page.text)})
    client.cookies.set(COOKIE, old)
    assert client.get("/admin/", follow_redirects=False).status_code == 303


def test_wizard_cannot_run_again_once_done(gui: Any, client: Client) -> None:
    gui.wizard(client)
    client.cookies.clear()
    assert client.get("/admin/setup", follow_redirects=False).headers["location"] == "/admin/"
    page = client.get("/admin/login")
    form = {"csrf": gui.csrf_of(page.text), "name": "Eve", "title": "Mine now",
            "theme": "journal", "password": "taken over", "password2": "taken over"}
    response = client.post("/admin/setup", data=form, follow_redirects=False)
    assert response.headers["location"] == "/admin/"
    assert gui.login(client, "taken over").status_code == 401


def test_home_made_with_init_still_gets_a_site_and_no_new_phrase(
    gui: Any, client: Client, settings: Any
) -> None:
    from homeport.services import identity

    identity.create(settings.data_dir)
    page = client.get("/admin/", follow_redirects=True)
    assert "Welcome to your home" in page.text
    form = {"csrf": gui.csrf_of(page.text), "name": "Ada", "title": "From init",
            "theme": "portfolio", "password": gui.password, "password2": gui.password}
    done = client.post("/admin/setup", data=form)
    assert "already had an identity" in done.text and "From init" in done.text


def _restarted(settings: Any, clock: Any) -> Any:
    """A second home process over the same data dir (the store is the first one's)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from homeport.home import create_home_app
    from homeport.services.context import Context
    from homeport.store.blobs_fs import FsBlobStore

    def start(store: Any) -> Any:
        ctx = Context(settings=settings, store=store, blobs=FsBlobStore(settings.blobs_dir),
                      clock=clock)
        return TestClient(create_home_app(settings, ctx), base_url="http://127.0.0.1",
                          client=("127.0.0.1", 50000))

    return start


def test_a_login_survives_a_restart_and_a_logout_too(
    gui: Any, settings: Any, clock: Clock
) -> None:
    from homeport.store.memory import MemoryRecordStore

    settings.data_dir.mkdir(parents=True)
    store = MemoryRecordStore()
    start = _restarted(settings, clock)
    with start(store) as first:
        words = gui.wizard(first)
        kept = first.cookies[COOKIE]
        first.cookies.clear()
        gui.login(first, gui.password)
        logged_out = first.cookies[COOKIE]
        page = first.get("/admin/")
        first.post("/admin/logout", data={"csrf": gui.csrf_of(page.text)})
    saved = (settings.data_dir / "gui-sessions.json").read_text()
    assert kept.split(".")[0] not in saved and words[0] not in saved  # no id, no phrase
    assert oct((settings.data_dir / "gui-sessions.json").stat().st_mode & 0o777) == "0o600"
    clock.advance(60)
    with start(store) as second:
        second.cookies.set(COOKIE, kept)
        assert second.get("/admin/", follow_redirects=False).status_code == 200
        second.cookies.set(COOKIE, logged_out)
        assert second.get("/admin/", follow_redirects=False).status_code == 303
        session_id, _, sig = kept.partition(".")
        second.cookies.set(COOKIE, f"{session_id}.{'0' * len(sig)}")  # forged signature
        assert second.get("/admin/", follow_redirects=False).status_code == 303
    clock.advance(IDLE_MS / 1000 + 1)
    with start(store) as third:
        third.cookies.set(COOKIE, kept)
        assert third.get("/admin/", follow_redirects=False).status_code == 303  # idle too long
