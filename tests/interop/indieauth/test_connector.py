"""The IndieAuth sign-in connector (``signin_indieauth``): the owner signs in to a home's GUI
with their website, whose IndieAuth server is the provider's (E's endpoints on loopback,
approved with a passkey); another site's owner is refused, a replayed answer logs nobody in, a
site without IndieAuth is a clear 400, and without ``fetch_allow_private`` a loopback site is
never fetched (the address is typed by someone not signed in yet)."""

from __future__ import annotations

import asyncio
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from homeport.home import create_home_app
from homeport.interop.indieauth import passkeys as pk
from homeport.plugins.connectors.indieauth import IndieAuth
from homeport.plugins.kinds import SignInFailed
from homeport.settings import Settings
from homeport.testing.authenticator import SoftAuthenticator
from homeport.testing.fake_ports import FakeProvider
from homeport.testing.indieauth_client import approve, consent_page

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _csrf(text: str) -> str:
    found = CSRF.search(text)
    assert found, text[:400]
    return found.group(1)


@pytest.fixture
def home(tmp_path: Path, site: str) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "home", storage_url="memory://",
                        argon2_memory_kib=64, argon2_time_cost=1, auto_publish=False,
                        fetch_allow_private=True,
                        plugins={"signin_indieauth": "true",
                                 "signin_owners": f"indieauth:{site}"})
    settings.data_dir.mkdir(parents=True)
    with TestClient(create_home_app(settings), base_url="http://127.0.0.1",
                    client=("127.0.0.1", 50000)) as client:
        page = client.get("/admin/setup")
        shown = client.post("/admin/setup", data={
            "csrf": _csrf(page.text), "name": "Ada", "title": "Ada's", "theme": "journal",
            "password": PASSWORD, "password2": PASSWORD})
        words = re.findall(r"<li>([a-z]+)</li>", shown.text)
        confirm = client.get("/admin/setup/confirm")
        answers = {f"word{n}": words[int(n) - 1]
                   for n in re.findall(r'name="word(\d+)"', confirm.text)}
        client.post("/admin/setup/confirm", data={"csrf": _csrf(confirm.text), **answers})
        client.post("/admin/logout", data={"csrf": _csrf(client.get("/admin/").text)})
        assert client.get("/admin/", follow_redirects=False).status_code == 303
        yield client


def _sign_in(client: TestClient, site: str, key: SoftAuthenticator) -> tuple[Any, str]:
    """Through the home's login form to the site's server, approve with the passkey, and
    back: the callback's answer and the path it was at."""
    sent = client.get("/admin/login/indieauth", params={"url": site, "next": "/admin/"},
                      follow_redirects=False)
    assert sent.status_code == 303, re.findall(r"role=\"alert\"[^>]*>([^<]*)", sent.text)
    at_server = sent.headers["location"]
    assert at_server.startswith(site.rstrip("/") + "/_homeport/")
    approved = approve(consent_page(at_server), key)
    assert approved.status_code == 200, approved.text
    back = urlsplit(approved.json()["location"])
    path = f"{back.path}?{back.query}"
    return client.get(path), path


def test_the_owner_signs_in_with_their_website(
        home: TestClient, provider: FakeProvider, site: str, owner: SoftAuthenticator) -> None:
    login = home.get("/admin/login")
    assert "Sign in with your website" in login.text and 'name="url"' in login.text

    signed, callback = _sign_in(home, site, owner)
    assert signed.status_code == 200 and f"indieauth:{site}" in signed.text
    assert home.get("/admin/", follow_redirects=False).status_code == 200
    replayed = home.get(callback)  # the same answer again: spent
    assert replayed.status_code == 400
    home.post("/admin/logout", data={"csrf": _csrf(home.get("/admin/").text)})

    # the owner of another site the same server knows is told who they are and refused
    bob_site = f"http://bob.localhost:{provider.port}/"
    bob = SoftAuthenticator(bob_site.rstrip("/"))
    provider.grants.delegate("bob", pk.POWER, bob.params())
    refused, _ = _sign_in(home, bob_site, bob)
    assert refused.status_code == 403 and f"indieauth:{bob_site}" in refused.text
    assert home.get("/admin/", follow_redirects=False).status_code == 303

    # a site that names no IndieAuth server, and a typo: a clear 400, nothing started
    nothing = home.get("/admin/login/indieauth",
                       params={"url": f"http://127.0.0.1:{provider.port}/home/return"})
    assert nothing.status_code == 400 and "names no IndieAuth server" in nothing.text
    typo = home.get("/admin/login/indieauth", params={"url": "https://exa mple.org/"})
    assert typo.status_code == 400 and "Give your website" in typo.text


def test_a_loopback_site_is_not_fetched_without_fetch_allow_private(site: str) -> None:
    with pytest.raises(SignInFailed, match="not a public address"):
        asyncio.run(IndieAuth().discover(site))
