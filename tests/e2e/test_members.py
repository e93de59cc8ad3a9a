"""Members at a real provider (``homeport provider serve``, SQLite and PostgreSQL) with a real
home through the CLI and a loopback SMTP sink: a members-only entry is a teaser to the public;
a member asks for a link, gets it by mail, signs in and reads the whole entry; links are single
use and bound to their host, sessions to theirs; asking is rate-limited and does not tell who
is a member; a provider told ``--members-content off`` serves teasers only; a member removed
at home is refused after the next publish."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
import httpx
import pytest
from typer.testing import CliRunner

from homeport import jsonio
from homeport.cli.build import _with_context
from homeport.cli.main import app
from homeport.interop.members import home_handlers
from homeport.interop.ports import InboxItem
from homeport.settings import load_settings
from homeport.testing.authenticator import SoftAuthenticator, unb64
from homeport.testing.smtp import SmtpSink

from .provider_support import BASE, Provider
from .repo_support import init

SECRET = "Xylophone-members-only-sentence"
HOST = f"alice.{BASE}"


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as running:
        yield running


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def provider(request: pytest.FixtureRequest, tmp_path: Path, sink: SmtpSink
             ) -> Iterator[Provider]:
    env = {"HOMEPORT_SMTP_URL": sink.url}
    if request.param == "postgresql":
        env["HOMEPORT_PROVIDER_DATABASE"] = request.getfixturevalue("fresh_postgres_url")
    running = Provider(tmp_path / "provider", tmp_path / "provider.log", env=env,
                       args=("--workers", "1"))
    running.start()
    try:
        yield running
    finally:
        running.stop()


def ok(*args: str, data: Path) -> str:
    """A home command, in this process (a process each costs seconds on a loaded machine)."""
    result = CliRunner().invoke(app, [*args, "--data", str(data)])
    assert result.exit_code == 0, result.output
    return result.stdout


def get(provider: Provider, path: str, session: str = "", host: str = HOST) -> httpx.Response:
    headers = {"Host": host}
    if session:
        headers["Cookie"] = f"hp_member={session}"
    return httpx.get(provider.url + path, headers=headers, timeout=10)


def ask(provider: Provider, email: str, host: str = HOST) -> httpx.Response:
    return httpx.post(provider.url + "/_homeport/members/signin",
                      data={"email": email, "next": "/articles/gold-essay/"},
                      headers={"Host": host}, timeout=10)


def mailed_link(sink: SmtpSink, email: str, count: int) -> str:
    body = sink.wait_for(email, count).get_content()
    found = re.search(r"http://\S+/_homeport/members/link\?token=\S+", body)
    assert found, body
    parts = urlsplit(found.group(0))
    assert parts.netloc.startswith(HOST)
    return f"{parts.path}?{parts.query}"


def sign_in(provider: Provider, sink: SmtpSink, email: str, count: int) -> str:
    assert ask(provider, email).status_code == 200
    link = mailed_link(sink, email, count)
    answer = get(provider, link)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/articles/gold-essay/"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Domain" not in cookie
    assert get(provider, link).status_code == 400  # a link works once
    return cookie.split(";", 1)[0].split("=", 1)[1]


@pytest.mark.timeout(300)
@pytest.mark.usefixtures("no_homeport_env")
def test_members_sign_in_and_read(tmp_path: Path, provider: Provider, sink: SmtpSink) -> None:
    home = tmp_path / "home"
    init(home)
    ok("tiers", "add", "Gold", "--price", "5", "--currency", "EUR", data=home)
    ok("members", "add", "ann@example.org", "--tier", "gold", "--comp", data=home)
    ok("members", "add", "bo@example.org", data=home)  # a member, not of gold
    essay = tmp_path / "essay.md"
    essay.write_text(f"---\ntitle: Gold essay\n---\nThe opening line.\n\n{SECRET}\n")
    ok("add", "article", str(essay), "--visibility", "gold", data=home)
    ok("providers", "add", provider.url, provider.invite(), "--name", "alice", data=home)
    ok("publish", data=home)

    teaser = get(provider, "/articles/gold-essay/")
    assert teaser.status_code == 200 and "The opening line." in teaser.text
    assert SECRET not in teaser.text and 'action="/_homeport/members/signin"' in teaser.text
    for public in ("/", "/feed.atom", "/feed.json", "/sitemap.xml",
                   "/_homeport/members/pages/articles/gold-essay/index.html",
                   "/_homeport/members/entitlements.json"):
        assert SECRET not in get(provider, public).text, public

    session = sign_in(provider, sink, "ann@example.org", 1)
    whole = get(provider, "/articles/gold-essay/", session)
    assert SECRET in whole.text
    bar = re.search(r"<body[^>]*><div class=members-bar[^>]*>(.*?)</div>", whole.text)
    assert bar, whole.text[:500]  # who is signed in, and sign-out, first thing on the page
    assert "Signed in as <strong>ann@example.org</strong>" in bar.group(1)
    assert "action=/_homeport/members/signout" in bar.group(1)
    out = httpx.post(provider.url + "/_homeport/members/signout",
                     headers={"Host": HOST, "Cookie": f"hp_member={session}"}, timeout=10)
    assert out.status_code == 303 and 'hp_member=""' in out.headers["set-cookie"]
    assert whole.headers["cache-control"] == "private, no-store"
    assert SECRET not in get(provider, "/articles/gold-essay/", session[:-2] + "AA").text
    other = f"bob.{BASE}"  # the session is this host's only
    assert SECRET not in get(provider, "/articles/gold-essay/", session, host=other).text

    # A member of no tier signs in but reads the teaser; a stranger is answered alike.
    bo = sign_in(provider, sink, "bo@example.org", 1)
    assert SECRET not in get(provider, "/articles/gold-essay/", bo).text
    stranger = ask(provider, "eve@example.org")
    assert stranger.status_code == 200 and "eve@example.org" in stranger.text
    link = mailed_link(sink, "eve@example.org", 1)
    assert get(provider, link).status_code == 403  # not confirmed at home yet
    assert ask(provider, "not an address").status_code == 400
    assert httpx.post(provider.url + "/_homeport/members/signin", content=b"x" * 10_000,
                      headers={"Host": HOST}, timeout=10).status_code == 413
    # At most five links an hour for one address.
    codes = [ask(provider, "ann@example.org").status_code for _ in range(5)]
    assert codes == [200] * 4 + [429]

    # A provider told to serve teasers only loses the tier keys at once.
    ok("providers", "rules", provider.url, "--members-content", "off", data=home)
    assert SECRET not in get(provider, "/articles/gold-essay/", session).text
    ok("providers", "rules", provider.url, "--members-content", "on", data=home)
    assert SECRET in get(provider, "/articles/gold-essay/", session).text

    keyed, key = passkey_walk(provider, home, session)
    newsletter_walk(provider, sink, home, tmp_path)

    # Removed at home: refused at the provider after the next publish.
    ok("members", "remove", "ann@example.org", data=home)
    ok("publish", data=home)
    assert SECRET not in get(provider, "/articles/gold-essay/", session).text
    assert SECRET not in get(provider, "/articles/gold-essay/", keyed).text
    assert passkey_sign_in(provider, key).status_code == 403
    assert passkey_sign_in(provider, SoftAuthenticator(ORIGIN)).status_code == 403


ORIGIN = f"https://{HOST}"


def newsletter_walk(provider: Provider, sink: SmtpSink, home: Path, tmp: Path) -> None:
    """This provider sends the newsletter: a new gold entry, published, reaches the gold member
    (not the member of no tier) from the provider's queue, as text and the theme's HTML, with
    one-click unsubscribe; what was published before is not sent."""
    ok("newsletter", "from", provider.url, data=home)
    letter = tmp / "letter.md"
    letter.write_text("---\ntitle: Gold letter\n---\nDear members, *the* Mailed-gold-sentence.\n")
    ok("add", "article", str(letter), "--visibility", "gold", data=home)
    ok("publish", data=home)

    def mailed(address: str) -> list[Any]:
        return [m for m in sink.to(address) if "sign-in link" not in str(m["Subject"])]

    deadline = time.monotonic() + 30
    while not mailed("ann@example.org"):
        assert time.monotonic() < deadline, "the newsletter did not reach ann"
        time.sleep(0.05)
    [mail] = mailed("ann@example.org")
    assert mail["Subject"] == "Gold letter"
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(("plain",)).get_content()
    page = mail.get_body(("html",)).get_content()
    assert "Mailed-gold-sentence" in text and "<em>the</em> Mailed-gold-sentence" in page
    assert "Gold essay" not in str(mail["Subject"])  # published before: not sent
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail["List-Unsubscribe"].startswith(f"<https://{HOST}/_homeport/newsletter/")
    assert mailed("bo@example.org") == []


def post_json(provider: Provider, path: str, body: object = None, session: str = "",
              host: str = HOST) -> httpx.Response:
    headers = {"Host": host, "X-Forwarded-Proto": "https"}
    if session:
        headers["Cookie"] = f"hp_member={session}"
    return httpx.post(provider.url + "/_homeport/members/passkey/" + path, json=body or {},
                      headers=headers, timeout=10)


def passkey_sign_in(provider: Provider, key: SoftAuthenticator) -> httpx.Response:
    started = post_json(provider, "options")
    assert started.status_code == 200, started.text
    challenge = unb64(started.json()["options"]["challenge"])
    return post_json(provider, "signin", {"state": started.json()["state"], "next": "/x",
                                          "credential": key.assert_(challenge)})


def passkey_walk(provider: Provider, home: Path, session: str) -> tuple[str, SoftAuthenticator]:
    """Ann, signed in by link, registers a passkey; it signs her in at once where she made it;
    it reaches home (the handler the relay calls, given the item's body the provider queued)
    and is published with the entitlements."""
    assert "Sign in with a passkey" in get(provider, "/articles/gold-essay/").text
    assert get(provider, "/_homeport/members/passkey.js").status_code == 200
    mine = get(provider, "/_homeport/members/account", session)
    assert "Signed in as <strong>ann@example.org</strong>" in mine.text
    assert "Add a passkey for" in mine.text and "/_homeport/members/signout" in mine.text
    assert get(provider, "/_homeport/members/account").status_code == 403
    assert post_json(provider, "register-options").status_code == 403  # not signed in
    started = post_json(provider, "register-options", session=session)
    assert started.status_code == 200, started.text
    options = started.json()["options"]
    assert options["rp"]["id"] == HOST
    assert options["authenticatorSelection"]["residentKey"] == "required"
    key = SoftAuthenticator(ORIGIN)
    state = started.json()["state"]
    challenge = unb64(options["challenge"])
    wrong = SoftAuthenticator(f"https://bob.{BASE}").register(challenge)
    assert post_json(provider, "register", {"state": state, "credential": wrong}
                     ).status_code == 400  # made for another host: and the state is spent
    started = post_json(provider, "register-options", session=session)
    state, challenge = started.json()["state"], unb64(started.json()["options"]["challenge"])
    made = post_json(provider, "register", {"state": state, "credential": key.register(challenge)})
    assert made.status_code == 200, made.text
    assert post_json(provider, "register", {"state": state, "credential": key.register(
        challenge)}).status_code == 400  # a state answers once
    assert post_json(provider, "register", {"state": 1}).status_code == 400
    # Not published yet: it signs her in here, where she made it, at once.
    early = passkey_sign_in(provider, key)
    assert early.status_code == 200, early.text
    first = early.headers["set-cookie"].split(";", 1)[0].split("=", 1)[1]
    assert SECRET in get(provider, "/articles/gold-essay/", first).text

    body = jsonio.dumps({"email": "ann@example.org", **key.params()})
    handler = home_handlers()["members.passkey"]

    async def apply(context: object) -> object:
        return await anyio.to_thread.run_sync(
            handler, context, InboxItem("passkey-1", "members.passkey", {}, body, 1))

    assert asyncio.run(_with_context(load_settings(home), apply)) == {"added": True}
    assert asyncio.run(_with_context(load_settings(home), apply)) == {"added": False}
    ok("publish", data=home)
    assert b"ann@example.org" not in get(provider, "/").content

    signed = passkey_sign_in(provider, key)
    assert signed.status_code == 200, signed.text
    assert signed.json() == {"location": "/x"}
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "Domain" not in cookie
    keyed = cookie.split(";", 1)[0].split("=", 1)[1]
    assert SECRET in get(provider, "/articles/gold-essay/", keyed).text
    assert "a member, with a passkey" in get(provider, "/_homeport/members/account", keyed).text
    assert "Signed in as <strong>a member, with a passkey</strong>" in get(
        provider, "/articles/gold-essay/", keyed).text
    # A forged signature, an unknown passkey, a state used twice: refused, no session.
    started = post_json(provider, "options")
    forged = key.assert_(unb64(started.json()["options"]["challenge"]))
    forged["response"]["signature"] = forged["response"]["signature"][:-4] + "AAAA"
    refused = post_json(provider, "signin", {"state": started.json()["state"],
                                             "credential": forged})
    assert refused.status_code == 403 and "set-cookie" not in refused.headers
    assert passkey_sign_in(provider, SoftAuthenticator(ORIGIN)).status_code == 403
    return keyed, key
