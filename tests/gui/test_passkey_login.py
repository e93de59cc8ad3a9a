"""The owner's passkey login (``signin_passkey``) in Chromium with a virtual authenticator
(CDP ``WebAuthn``): logged in with the password, the owner adds a passkey on the Passkeys
page at ``localhost``; logged out, "Sign in with a passkey" lets them in with no password.
Over plain HTTP: an answer not signed by a passkey of this home is a 401, and a home opened at
an IP address says a passkey cannot be added there."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from homeport.testing.live import LiveHome, start_home

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
TIMEOUT_MS = 20_000


def _csrf(text: str) -> str:
    found = CSRF.search(text)
    assert found, text[:400]
    return found.group(1)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHome]:
    base = tmp_path_factory.mktemp("passkey")
    env = {**os.environ, "HOMEPORT_ARGON2_MEMORY_KIB": "1024", "HOMEPORT_ARGON2_TIME_COST": "1",
           "HOMEPORT_LOG_LEVEL": "warning", "HOMEPORT_NO_BROWSER": "1",
           "HOMEPORT_AUTO_PUBLISH": "false", "HOMEPORT_SIGNIN_PASSKEY": "true"}
    env.pop("HOMEPORT_DATA", None)
    live = start_home(base / "data", env)
    try:
        with httpx.Client(base_url=live.root, timeout=60, follow_redirects=True) as client:
            page = client.get("/admin/setup")
            shown = client.post("/admin/setup", data={
                "csrf": _csrf(page.text), "name": "Ada", "title": "Ada's", "theme": "journal",
                "password": PASSWORD, "password2": PASSWORD})
            words = re.findall(r"<li>([a-z]+)</li>", shown.text)
            confirm = client.get("/admin/setup/confirm")
            answers = {f"word{n}": words[int(n) - 1]
                       for n in re.findall(r'name="word(\d+)"', confirm.text)}
            done = client.post("/admin/setup/confirm",
                               data={"csrf": _csrf(confirm.text), **answers})
            assert done.status_code == 200
        yield live
    finally:
        live.stop()


def _local(home: LiveHome) -> str:
    return home.root.replace("127.0.0.1", "localhost")


def test_the_owner_adds_a_passkey_then_logs_in_with_it(browser: Any, home: LiveHome) -> None:
    context = browser.new_context(base_url=_local(home))
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True,
        "automaticPresenceSimulation": True}})
    try:
        page.goto("/admin/login")
        page.get_by_label("Owner password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/admin/")
        page.goto("/admin/passkeys")
        assert "localhost" in page.locator("main").inner_text()
        page.get_by_label("Name it").fill("Test laptop")
        page.get_by_role("button", name="Add a passkey").click()
        page.locator("#passkeys-table").wait_for()
        assert "Test laptop" in page.locator("#passkeys-table").inner_text()
        page.get_by_role("button", name="Log out").click()
        page.wait_for_url("**/admin/login")

        page.get_by_role("link", name="Sign in with a passkey").click()
        page.wait_for_url(f"{_local(home)}/admin/", timeout=TIMEOUT_MS)
        assert page.get_by_role("button", name="Log out").is_visible()
    finally:
        context.close()
    assert errors == [], f"JavaScript errors: {errors}"


def test_an_answer_no_passkey_of_this_home_signed_is_refused(home: LiveHome) -> None:
    with httpx.Client(base_url=_local(home), timeout=30) as client:
        begun = client.get("/admin/login/passkey")
        if begun.status_code == 400:  # run alone: no passkey added yet
            assert "No passkey was added for localhost" in begun.text
            return
        state = re.search(r"data-state='([^']+)'", begun.text)
        assert begun.status_code == 200 and state
        forged = {"id": "bm90LWEta2V5", "rawId": "bm90LWEta2V5", "type": "public-key",
                  "response": {"clientDataJSON": "e30", "authenticatorData": "AA",
                               "signature": "AA"}}
        answer = client.get("/admin/login/passkey/callback",
                            params={"state": state.group(1), "credential": json.dumps(forged)})
        assert answer.status_code == 401 and "passkey does not hold" in answer.text
        assert client.get("/admin/", follow_redirects=False).status_code == 303


def test_a_home_opened_at_an_ip_address_says_where_passkeys_work(home: LiveHome,
                                                                  tmp_path: Path) -> None:
    with httpx.Client(base_url=home.root, timeout=30, follow_redirects=True) as client:
        login = client.get("/admin/login")
        client.post("/admin/login", data={"csrf": _csrf(login.text), "password": PASSWORD})
        shown = client.get("/admin/passkeys")
        assert shown.status_code == 200
        assert "cannot be bound to an address made of numbers" in shown.text
        assert 'id="passkey-add"' not in shown.text
