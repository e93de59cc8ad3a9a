"""The ``github`` preset against a local GitHub-compatible server (``homeport.testing.
github_server``, written from GitHub's documented OAuth and REST endpoints): the owner logs in
to the GUI through GitHub's authorize page, someone else is refused, a denied or replayed
sign-in logs nobody in; on ``/v1`` a token GitHub issued to this home's app reads what is
shared with ``github:<id>``, while another app's token or a made-up one is a 401."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx
import pytest

from homeport.testing import github_server
from homeport.testing.live import LiveHome, free_port, start_home

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
MAX_HOPS = 8


@dataclass
class Rig:
    home: LiveHome
    github: github_server.FakeGitHub
    app: github_server.App


def _wizard(client: httpx.Client) -> None:
    page = client.get("/admin/setup")
    found = CSRF.search(page.text)
    assert found, page.text[:500]
    shown = client.post("/admin/setup", data={
        "csrf": found.group(1), "name": "Ada", "title": "Ada's", "theme": "journal",
        "password": PASSWORD, "password2": PASSWORD})
    words = re.findall(r"<li>([a-z]+)</li>", shown.text)
    confirm = client.get("/admin/setup/confirm")
    answers = {f"word{n}": words[int(n) - 1]
               for n in re.findall(r'name="word(\d+)"', confirm.text)}
    token = CSRF.search(confirm.text)
    assert token
    assert client.post("/admin/setup/confirm",
                       data={"csrf": token.group(1), **answers}).status_code == 200


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    base = tmp_path_factory.mktemp("github")
    with github_server.running() as github:
        port = free_port()
        app = github.app(f"http://127.0.0.1:{port}/admin/login/github/callback")
        ada = github.user("ada", "Ada Lovelace")
        env = {**os.environ, "HOMEPORT_ARGON2_MEMORY_KIB": "1024",
               "HOMEPORT_ARGON2_TIME_COST": "1", "HOMEPORT_LOG_LEVEL": "warning",
               "HOMEPORT_NO_BROWSER": "1", "HOMEPORT_AUTO_PUBLISH": "false",
               "HOMEPORT_OIDC_PRESET": "github", "HOMEPORT_OIDC_CLIENT_ID": app.client_id,
               "HOMEPORT_OIDC_CLIENT_SECRET": app.client_secret,
               "HOMEPORT_GITHUB_URL": github.base, "HOMEPORT_GITHUB_API_URL": github.base,
               "HOMEPORT_SIGNIN_OWNERS": f"github:{ada['id']}"}
        env.pop("HOMEPORT_DATA", None)
        home = start_home(base / "data", env, port=port)
        try:
            with httpx.Client(base_url=home.root, timeout=60, follow_redirects=True) as c:
                _wizard(c)
            yield Rig(home, github, app)
        finally:
            home.stop()


def _at_github(client: httpx.Client, start: str, login: str, button: str = "authorize"
               ) -> str:
    """From the home's sign-in link through GitHub's authorize page (as ``login``) to the
    callback URL GitHub sends the browser to (not requested)."""
    url = start
    for _ in range(MAX_HOPS):
        answer = client.get(url, follow_redirects=False)
        if answer.is_redirect:
            url = urljoin(str(answer.url), answer.headers["location"])
            continue
        assert answer.status_code == 200 and "Authorize application" in answer.text, \
            answer.text[:500]
        action = re.search(r"action='([^']+)'", answer.text)
        assert action
        sent = client.post(urljoin(str(answer.url), action.group(1).replace("&amp;", "&")),
                           data={"login": login, button: "1"}, follow_redirects=False)
        assert sent.status_code == 302, sent.text
        return str(sent.headers["location"])
    raise AssertionError("GitHub's authorize page never came")


def test_the_owner_logs_in_through_github_and_others_are_refused(rig: Rig) -> None:
    root = rig.home.root
    with httpx.Client(base_url=root, timeout=30) as browser:
        assert "Sign in with GitHub" in browser.get("/admin/login").text
        back = _at_github(browser, f"{root}/admin/login/github?next=/admin/", "ada")
        assert back.startswith(f"{root}/admin/login/github/callback?code=")
        signed = browser.get(back)
        ada = rig.github.users["ada"]["id"]
        assert signed.status_code == 200 and f"github:{ada}" in signed.text
        assert browser.get("/admin/", follow_redirects=False).status_code == 200
        # the same code again (a replay) does not hold: GitHub spends codes once
        assert browser.get(back).status_code in (400, 401)

    with httpx.Client(base_url=root, timeout=30) as browser:
        refused = browser.get(_at_github(browser, f"{root}/admin/login/github", "mallory"))
        mallory = rig.github.users["mallory"]["id"]
        assert refused.status_code == 403 and f"github:{mallory}" in refused.text
        assert browser.get("/admin/", follow_redirects=False).status_code == 303

    with httpx.Client(base_url=root, timeout=30) as browser:
        denied = browser.get(_at_github(browser, f"{root}/admin/login/github", "ada",
                                        button="cancel"))
        assert denied.status_code == 401 and "denied your application" in denied.text
        assert browser.get("/admin/", follow_redirects=False).status_code == 303


def test_a_github_token_of_this_app_reads_what_is_shared_with_its_person(rig: Rig) -> None:
    api = rig.home.url
    owner = ("admin", PASSWORD)
    bea = rig.github.user("bea")
    with httpx.Client(timeout=30) as http:
        for path in ("/buckets/gh", "/buckets/gh/collections/notes"):
            made = http.put(api + path, json={"data": {}}, auth=owner)
            assert made.status_code in (200, 201), made.text
        shared = http.patch(api + "/buckets/gh/collections/notes", auth=owner,
                            json={"permissions": {"read": [f"github:{bea['id']}"]}})
        assert shared.status_code == 200, shared.text
        token = rig.github.issue(rig.app.client_id, "bea")
        bearer = {"Authorization": f"Bearer {token}"}
        assert http.get(api + "/", headers=bearer).json()["user"]["id"] == f"github:{bea['id']}"
        listed = http.get(api + "/buckets/gh/collections/notes/records", headers=bearer)
        assert listed.status_code == 200, listed.text

        def refused(token: str, why: str) -> None:
            answer = http.get(api + "/buckets/gh/collections/notes/records",
                              headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 401, answer.text
            assert answer.json()["errno"] == 104 and why in answer.json()["message"]

        other_app = rig.github.app("http://127.0.0.1:1/elsewhere")
        refused(rig.github.issue(other_app.client_id, "bea"), "not know this token")
        refused("ghp_" + "x" * 36, "not know this token")
        refused("not-githubs", "No sign-in connector")
