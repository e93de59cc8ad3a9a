"""The newsletter at the provider the home chose, through a local SMTP sink (aiosmtpd): mails
carry RFC 8058 one-click unsubscribe headers; a POST to that link suppresses the address and
tells the home, a GET only asks; suppressed and bounced (5xx) addresses get nothing more; a
provider without the delegation, or a forged token, sends or suppresses nothing. Both engines."""

from __future__ import annotations

import email
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from homeport.crypto.delegations import sign_delegation
from homeport.interop.newsletter import SEND_POWER, UNSUBSCRIBE_KIND, email_hash
from homeport.sync.auth import origin
from homeport.testing.live import free_port
from tests.provider.conftest import BASE, SITE_V1, Home, World

HOST = f"alice.{BASE}"
DAY = 86_400_000


class Sink:
    """Keeps every mail; refuses ``gone@…`` for good at RCPT TO, as a server does for an
    address that does not exist."""

    def __init__(self) -> None:
        self.mails: list[email.message.Message] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: Any) -> str:
        if address.startswith("gone@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture(scope="module")
def sink() -> Iterator[tuple[Sink, int]]:
    handler, port = Sink(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def now() -> int:
    return int(time.time() * 1000)


@pytest.fixture
def letter(sink: tuple[Sink, int], monkeypatch: pytest.MonkeyPatch, engine: str,
           request: pytest.FixtureRequest) -> dict[str, Any]:
    monkeypatch.setenv("HOMEPORT_SMTP_URL", f"smtp+plain://127.0.0.1:{sink[1]}")
    world: World = request.getfixturevalue("world")
    home = world.enrolled("alice")
    home.write_site(SITE_V1)
    assert home.publish(world.client, home.snapshot()).status_code == 200
    sink[0].mails.clear()
    return {"world": world, "home": home, "sink": sink[0]}


def delegate(world: World, home: Home) -> None:
    aud = origin(str(world.client.base_url))
    doc = sign_delegation(home.key, home.did, aud, SEND_POWER, {}, issued=now(),
                          expires=now() + DAY)
    body = {"issued": now(), "delegations": [doc], "revoked": []}
    assert home.request(world.client, "POST", "/delegations", body).status_code == 200


def send(world: World, home: Home, *to: str) -> httpx.Response:
    messages = [{"to": t, "subject": "A new essay", "text": "Hello\n\nOn the site: /x/"}
                for t in to]
    answer: httpx.Response = home.request(world.client, "POST", "/newsletter",
                                          {"messages": messages, "site": f"https://{HOST}"})
    return answer


def test_send_unsubscribe_and_suppress(letter: dict[str, Any]) -> None:
    world, home, sink = letter["world"], letter["home"], letter["sink"]
    assert send(world, home, "ann@example.com").status_code == 403  # not chosen yet
    assert sink.mails == []
    delegate(world, home)
    answer = send(world, home, "ann@example.com", "bob@example.com", "gone@example.com")
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["sent"] == 2 and result["bounced"] == [email_hash("gone@example.com")]
    assert sorted(m["To"] for m in sink.mails) == ["ann@example.com", "bob@example.com"]
    mail = next(m for m in sink.mails if m["To"] == "ann@example.com")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = mail["List-Unsubscribe"].strip("<>")
    assert link.startswith(f"https://{HOST}/_homeport/newsletter/unsubscribe?t=")
    path = link.split(HOST, 1)[1]
    # a GET (a mail scanner following the link) only asks
    asked = world.get(HOST, path)
    assert asked.status_code == 200 and "<button" in asked.text
    # the one-click POST a mail client sends
    done = world.client.post(path, content=b"List-Unsubscribe=One-Click", headers={
        "Host": HOST, "Content-Type": "application/x-www-form-urlencoded"})
    assert done.status_code == 200
    inbox = world.app.server.config.app.state.ports.inbox
    items = [w for w in inbox.waiting("alice", 100, 10**7) if w.kind == UNSUBSCRIBE_KIND]
    assert [i.meta["email_hash"] for i in items] == [email_hash("ann@example.com")]
    # a token made for another address, or forged, does nothing
    forged = path.replace("t=" + email_hash("ann@example.com"), "t=" + email_hash("x@y.z"))
    assert world.client.post(forged, headers={"Host": HOST}).status_code == 400
    sink.mails.clear()
    again = send(world, home, "ann@example.com", "bob@example.com", "gone@example.com").json()
    assert again["sent"] == 1 and [m["To"] for m in sink.mails] == ["bob@example.com"]
    assert set(again["suppressed"]) == {email_hash("ann@example.com"),
                                        email_hash("gone@example.com")}


def test_bad_requests_send_nothing(letter: dict[str, Any]) -> None:
    world, home, sink = letter["world"], letter["home"], letter["sink"]
    delegate(world, home)
    for body in ({"messages": []}, {"messages": "x"}, {"messages": [{"to": "a@b.c"}]},
                 {"messages": [{"to": "a@b.c\r\nBcc: all@x", "subject": "s", "text": "t"}]},
                 {"messages": [{"to": "x@y.z", "subject": "s", "text": "t"}] * 501}):
        answer = home.request(world.client, "POST", "/newsletter", body)
        assert answer.status_code == 400, body
    unsigned = world.client.post("/_homeport/v1/newsletter", json={"messages": []})
    assert unsigned.status_code == 401
    assert sink.mails == []
