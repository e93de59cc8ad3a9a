"""OpenID Connect sign-in against a real ``oidc-provider`` (npm) on loopback: the owner logs
in to the GUI through it, and a person who signed in there reads, over ``/v1`` with the ID
token as bearer, a collection shared with ``oidc:<subject>``; tokens with a wrong audience,
issuer, signature or an expired one are answered 401 in Kinto's error shape. The same home
also offers sign-in by a mailed link (through a local SMTP server, aiosmtpd)."""

from __future__ import annotations

import base64
import email
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from joserfc.jwk import RSAKey

from homeport import jsonio
from homeport.testing.live import LiveHome, free_port, start_home
from tests.signin.oidc_support import Issuer, id_token, tokens, walk_to

PASSWORD = "correct horse battery"
SECRET = "a-client-secret-long-enough-for-hs256-0123456789"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Sink:
    def __init__(self) -> None:
        self.mails: list[email.message.Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@dataclass
class Rig:
    home: LiveHome
    issuer: Issuer
    impostor: Issuer
    callback: str
    sink: Sink


def _wizard(client: httpx.Client) -> None:
    page = client.get("/admin/setup")
    csrf = CSRF.search(page.text)
    assert csrf, page.text[:500]
    form = {"csrf": csrf.group(1), "name": "Ada", "title": "Ada's", "theme": "journal",
            "password": PASSWORD, "password2": PASSWORD}
    shown = client.post("/admin/setup", data=form)
    assert shown.status_code == 200, shown.text[:500]
    words = re.findall(r"<li>([a-z]+)</li>", shown.text)
    confirm = client.get("/admin/setup/confirm")
    positions = [int(n) for n in re.findall(r'name="word(\d+)"', confirm.text)]
    answers = {f"word{n}": words[n - 1] for n in positions}
    done = client.post("/admin/setup/confirm",
                       data={"csrf": CSRF.search(confirm.text).group(1), **answers})  # type: ignore[union-attr]
    assert done.status_code == 200 and "Dashboard" in done.text


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    base = tmp_path_factory.mktemp("oidc")
    key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"},
                              private=True)
    jwks = {"keys": [key.as_dict(private=True)]}
    port = free_port()
    callback = f"http://127.0.0.1:{port}/admin/login/oidc/callback"
    clients = [
        {"client_id": "homeport", "client_secret": SECRET, "redirect_uris": [callback]},
        {"client_id": "other-app", "client_secret": SECRET, "redirect_uris": [callback]},
        {"client_id": "short-app", "client_secret": SECRET, "redirect_uris": [callback],
         "id_token_ttl": 1},
    ]
    issuer = Issuer(base / "issuer.log", jwks, clients).start()
    # The same keys at another address: its tokens are signed right but by another issuer.
    impostor = Issuer(base / "impostor.log", jwks, clients[:1])
    sink, smtp_port = Sink(), free_port()
    smtp = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    try:
        impostor.start()
        env = {
            **os.environ,
            "HOMEPORT_ARGON2_MEMORY_KIB": "1024", "HOMEPORT_ARGON2_TIME_COST": "1",
            "HOMEPORT_LOG_LEVEL": "warning", "HOMEPORT_NO_BROWSER": "1",
            "HOMEPORT_AUTO_PUBLISH": "false",
            "HOMEPORT_OIDC_ISSUER": issuer.url, "HOMEPORT_OIDC_CLIENT_ID": "homeport",
            "HOMEPORT_OIDC_CLIENT_SECRET": SECRET, "HOMEPORT_OIDC_AUDIENCES": "short-app",
            "HOMEPORT_OIDC_OPAQUE_TOKENS": "true",
            "HOMEPORT_SIGNIN_OWNERS": "oidc:ada,email:ada@example.org",
            "HOMEPORT_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}?from=home@example.org",
            "HOMEPORT_SIGNIN_EMAIL": "true",
        }
        env.pop("HOMEPORT_DATA", None)
        home = start_home(base / "data", env, port=port)
        try:
            with httpx.Client(base_url=home.root, timeout=60, follow_redirects=True) as client:
                _wizard(client)
            yield Rig(home, issuer, impostor, callback, sink)
        finally:
            home.stop()
    finally:
        smtp.stop()
        impostor.stop()
        issuer.stop()


def test_the_owner_logs_in_to_the_gui_through_the_issuer(rig: Rig) -> None:
    with httpx.Client(base_url=rig.home.root, timeout=30) as browser:
        login = browser.get("/admin/login")
        assert "Sign in with OpenID Connect" in login.text
        assert browser.get("/admin/", follow_redirects=False).status_code == 303
        back = walk_to(browser, f"{rig.home.root}/admin/login/oidc?next=/admin/", "ada",
                       rig.callback)
        signed = browser.get(back)
        assert signed.status_code == 200, signed.text[:800]
        assert "oidc:ada" in signed.text
        assert browser.get("/admin/", follow_redirects=False).status_code == 200

    # Someone else the issuer knows is not the owner.
    with httpx.Client(base_url=rig.home.root, timeout=30) as browser:
        back = walk_to(browser, f"{rig.home.root}/admin/login/oidc", "mallory", rig.callback)
        refused = browser.get(back)
        assert refused.status_code == 403 and "oidc:mallory" in refused.text
        assert browser.get("/admin/", follow_redirects=False).status_code == 303

    # A callback this browser did not start (a code pushed at it) logs nobody in.
    with httpx.Client(base_url=rig.home.root, timeout=30) as browser:
        with httpx.Client(timeout=30) as attacker:
            pushed = walk_to(attacker, f"{rig.home.root}/admin/login/oidc", "ada",
                             rig.callback)
        assert browser.get(pushed).status_code == 400
        assert browser.get("/admin/", follow_redirects=False).status_code == 303


def _forge(token: str, **changes: str) -> str:
    """``token`` with claims changed and its signature kept (so no longer matching)."""
    head, body, signature = token.split(".")
    claims = jsonio.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims.update(changes)
    body = base64.urlsafe_b64encode(jsonio.dumps(claims)).rstrip(b"=").decode()
    return f"{head}.{body}.{signature}"


def test_a_person_signed_in_at_the_issuer_reads_what_is_shared_with_them(rig: Rig) -> None:
    api = rig.home.url
    owner = ("admin", PASSWORD)
    with httpx.Client(timeout=30) as http:
        for path, body in (("/buckets/shared", {}), ("/buckets/shared/collections/notes", {}),
                           ("/buckets/shared/collections/private", {})):
            made = http.put(api + path, json={"data": body}, auth=owner)
            assert made.status_code in (200, 201), made.text
        shared = http.patch(api + "/buckets/shared/collections/notes", auth=owner,
                            json={"permissions": {"read": ["oidc:bea"]}})
        assert shared.status_code == 200, shared.text
        added = http.post(api + "/buckets/shared/collections/notes/records", auth=owner,
                          json={"data": {"text": "for Bea"}})
        assert added.status_code == 201, added.text

        token = id_token(rig.issuer, "homeport", SECRET, rig.callback, "bea")
        bearer = {"Authorization": f"Bearer {token}"}
        hello = http.get(api + "/", headers=bearer)
        assert hello.json()["user"]["id"] == "oidc:bea"
        records = http.get(api + "/buckets/shared/collections/notes/records", headers=bearer)
        assert records.status_code == 200, records.text
        assert [r["text"] for r in records.json()["data"]] == ["for Bea"]
        other = http.get(api + "/buckets/shared/collections/private/records", headers=bearer)
        assert other.status_code in (401, 403)
        # Another person of the same issuer gets nothing of Bea's.
        carl = id_token(rig.issuer, "homeport", SECRET, rig.callback, "carl")
        denied = http.get(api + "/buckets/shared/collections/notes/records",
                          headers={"Authorization": f"Bearer {carl}"})
        assert denied.status_code in (401, 403)

        def refused(bad: str, why: str) -> None:
            answer = http.get(api + "/buckets/shared/collections/notes/records",
                              headers={"Authorization": f"Bearer {bad}"})
            assert answer.status_code == 401, answer.text
            error = answer.json()
            assert error["code"] == 401 and error["errno"] == 104, error
            assert why in error["message"], error

        refused(id_token(rig.issuer, "other-app", SECRET, rig.callback, "bea"), "aud")
        refused(id_token(rig.impostor, "homeport", SECRET, rig.callback, "bea"),
                "No sign-in connector")
        refused(_forge(token, sub="ada"), "signature")
        refused(_forge(token, iss=rig.impostor.url), "No sign-in connector")
        refused("not-a-token", "No sign-in connector")
        other_key = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
        from joserfc import jwt
        forged = jwt.encode({"alg": "RS256", "kid": "k1"},
                            {"iss": rig.issuer.url, "aud": "homeport", "sub": "bea",
                             "exp": int(time.time()) + 600}, other_key)
        refused(forged, "signature")
        short = id_token(rig.issuer, "short-app", SECRET, rig.callback, "bea")
        fresh = http.get(api + "/buckets/shared/collections/notes/records",
                         headers={"Authorization": f"Bearer {short}"})
        assert fresh.status_code == 200, fresh.text  # its audience is accepted…
        deadline = time.monotonic() + 10
        while True:  # …until it expires (1 s, plus the 2 s leeway)
            answer = http.get(api + "/", headers={"Authorization": f"Bearer {short}"})
            if answer.status_code == 401:
                assert "expired" in answer.json()["message"]
                break
            assert time.monotonic() < deadline, "the short token never expired"
            time.sleep(0.25)


def test_an_opaque_access_token_is_vouched_for_by_the_userinfo_endpoint(rig: Rig) -> None:
    api = rig.home.url
    owner = ("admin", PASSWORD)
    with httpx.Client(timeout=30) as http:
        for path in ("/buckets/opaque", "/buckets/opaque/collections/notes"):
            made = http.put(api + path, json={"data": {}}, auth=owner)
            assert made.status_code in (200, 201), made.text
        shared = http.patch(api + "/buckets/opaque/collections/notes", auth=owner,
                            json={"permissions": {"read": ["oidc:dora"]}})
        assert shared.status_code == 200, shared.text
        access = tokens(rig.issuer, "homeport", SECRET, rig.callback, "dora")["access_token"]
        assert access.count(".") != 2  # oidc-provider's access tokens are opaque, not JWTs
        bearer = {"Authorization": f"Bearer {access}"}
        assert http.get(api + "/", headers=bearer).json()["user"]["id"] == "oidc:dora"
        listed = http.get(api + "/buckets/opaque/collections/notes/records", headers=bearer)
        assert listed.status_code == 200, listed.text
        # a made-up opaque token: the issuer does not know it, so no connector takes it
        made_up = http.get(api + "/buckets/opaque/collections/notes/records",
                           headers={"Authorization": "Bearer " + "x" * len(access)})
        assert made_up.status_code == 401
        assert "No sign-in connector" in made_up.json()["message"]


def _mailed_link(sink: Sink, to: str) -> str:
    deadline = time.monotonic() + 15
    while True:
        for mail in sink.mails:
            if mail["To"] == to:
                sink.mails.remove(mail)
                text = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
                found = re.search(r"http://\S+", text)
                assert found, text
                return found.group(0)
        assert time.monotonic() < deadline, f"no mail to {to}"
        time.sleep(0.05)


def test_the_owner_signs_in_with_a_mailed_link(rig: Rig) -> None:
    with httpx.Client(base_url=rig.home.root, timeout=30) as browser:
        assert "Email me a sign-in link" in browser.get("/admin/login").text
        bad = browser.get("/admin/login/email", params={"email": "not an address"})
        assert bad.status_code == 400 and "email address" in bad.text
        asked = browser.get("/admin/login/email",
                            params={"email": "Ada@example.org", "next": "/admin/"})
        assert asked.status_code == 200 and "Check your mail" in asked.text
        link = _mailed_link(rig.sink, "ada@example.org")
        with httpx.Client(timeout=30) as elsewhere:  # another browser: not its sign-in
            assert elsewhere.get(link).status_code == 400
        forged = link[:-6] + ("AAAAAA" if not link.endswith("AAAAAA") else "BBBBBB")
        assert browser.get(forged).status_code == 401
        # (the failed try ended that sign-in: ask again)
        browser.get("/admin/login/email", params={"email": "ada@example.org"})
        link = _mailed_link(rig.sink, "ada@example.org")
        signed = browser.get(link)
        assert signed.status_code == 200 and "email:ada@example.org" in signed.text
        assert browser.get("/admin/", follow_redirects=False).status_code == 200

    with httpx.Client(base_url=rig.home.root, timeout=30) as browser:
        browser.get("/admin/login/email", params={"email": "bob@example.org"})
        refused = browser.get(_mailed_link(rig.sink, "bob@example.org"))
        assert refused.status_code == 403
        assert browser.get("/admin/", follow_redirects=False).status_code == 303
