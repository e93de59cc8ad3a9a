"""The newsletter at the provider the home chose, through a local SMTP sink (aiosmtpd): a batch
is queued (202) and sent by the provider's sender after the request, as multipart/alternative
(plain text and the theme's HTML) with RFC 8058 one-click unsubscribe headers; a POST to that
link suppresses the address and tells the home, a GET only asks; suppressed and bounced (5xx)
addresses get nothing more; a batch handed twice is sent once; a mail a dead process was
handing over is never sent again; delayed bounces (RFC 3464) and complaint reports (RFC 5965)
sent to the bounce address suppress the address they name and nothing else; a mail server
that cannot be reached is tried again, then given up after 48 hours; a provider
without the delegation, or a forged token, sends or suppresses nothing. Both engines."""

from __future__ import annotations

import dataclasses
import email
import smtplib
import time
from collections.abc import Iterator
from email.message import Message
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from homeport.crypto.delegations import sign_delegation
from homeport.interop.newsletter import SEND_POWER, UNSUBSCRIBE_KIND, email_hash
from homeport.provider import newsletter
from homeport.sync.auth import origin
from homeport.testing.live import free_port
from tests.provider.conftest import BASE, SITE_V1, Home, World

HOST = f"alice.{BASE}"
DAY = 86_400_000
BOUNCES = "bounces@bounce.test"
HTML = "<!doctype html><p>Hello <em>all</em></p>"


class Sink:
    """Keeps every mail; refuses ``gone@…`` for good at RCPT TO, as a server does for an
    address that does not exist."""

    def __init__(self) -> None:
        self.mails: list[Message] = []
        self.envelopes: dict[str, str] = {}
        """``To`` → the envelope sender (MAIL FROM) its mail came with."""
        self.connections = 0

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        self.connections += 1  # smtplib greets once a connection
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: Any) -> str:
        if address.startswith("gone@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = email.message_from_bytes(envelope.content)
        self.envelopes[str(mail["To"])] = envelope.mail_from
        self.mails.append(mail)
        return "250 OK"

    def wait(self, count: int, timeout: float = 15.0) -> list[Message]:
        """The mails once there are ``count`` (the sender works after the request)."""
        deadline = time.monotonic() + timeout
        while len(self.mails) < count:
            assert time.monotonic() < deadline, f"{len(self.mails)} mails, not {count}"
            time.sleep(0.02)
        return self.mails


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
    sink[0].connections = 0
    monkeypatch.setenv("HOMEPORT_SMTP_URL", f"smtp+plain://127.0.0.1:{sink[1]}")
    monkeypatch.setenv("HOMEPORT_BOUNCE_ADDRESS", BOUNCES)
    monkeypatch.setenv("HOMEPORT_BOUNCE_LISTEN", f"127.0.0.1:{free_port()}")
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


def send(world: World, home: Home, *to: str, entry: str = "e1") -> httpx.Response:
    batch = {"entry": entry, "subject": "A new essay", "text": "Hello\n\nOn the site: /x/",
             "html": HTML, "to": list(to), "site": f"https://{HOST}"}
    answer: httpx.Response = home.request(world.client, "POST", "/newsletter", batch)
    return answer


def told_home(world: World) -> dict[str, str]:
    """What the provider told the home: address hash → reason."""
    inbox = world.app.server.config.app.state.ports.inbox
    return {i.meta["email_hash"]: i.meta["reason"]
            for i in inbox.waiting("alice", 100, 10**7) if i.kind == UNSUBSCRIBE_KIND}


def parts(mail: Message) -> dict[str, str]:
    return {p.get_content_type(): p.get_payload(decode=True).decode().replace("\r\n", "\n")
            for p in mail.walk() if not p.is_multipart()}


def test_send_unsubscribe_and_suppress(letter: dict[str, Any]) -> None:
    world, home, sink = letter["world"], letter["home"], letter["sink"]
    assert send(world, home, "ann@example.com").status_code == 403  # not chosen yet
    assert sink.mails == []
    delegate(world, home)
    answer = send(world, home, "ann@example.com", "bob@example.com", "gone@example.com")
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"queued": 3, "suppressed": []}
    sink.wait(2)
    gone = email_hash("gone@example.com")
    deadline = time.monotonic() + 10
    while told_home(world) != {gone: "bounced"}:  # refused at RCPT: a bounce, the home told
        assert time.monotonic() < deadline, told_home(world)
        time.sleep(0.02)
    assert sink.connections == 1  # the round went over one connection, the refusal too
    assert sorted(m["To"] for m in sink.mails) == ["ann@example.com", "bob@example.com"]
    mail = next(m for m in sink.mails if m["To"] == "ann@example.com")
    assert mail.get_content_type() == "multipart/alternative"
    assert parts(mail) == {"text/plain": "Hello\n\nOn the site: /x/\n", "text/html": HTML + "\n"}
    # the envelope sender and the Message-ID name this one mail, for the reports
    ref = mail["Message-ID"].strip("<>").split("@")[0]
    assert sink.envelopes["ann@example.com"] == f"bounces+{ref}@bounce.test"
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
    assert told_home(world)[email_hash("ann@example.com")] == "unsubscribed"
    # a token made for another address, or forged, does nothing
    forged = path.replace("t=" + email_hash("ann@example.com"), "t=" + email_hash("x@y.z"))
    assert world.client.post(forged, headers={"Host": HOST}).status_code == 400
    # the same batch handed again (a home that crashed before noting it) queues nothing
    again = send(world, home, "ann@example.com", "bob@example.com", "gone@example.com")
    assert again.json()["queued"] == 0
    sink.mails.clear()
    later = send(world, home, "ann@example.com", "bob@example.com", "gone@example.com",
                 entry="e2").json()
    assert later == {"queued": 1, "suppressed": sorted([email_hash("ann@example.com"), gone])}
    assert [m["To"] for m in sink.wait(1)] == ["bob@example.com"]


def test_bad_requests_send_nothing(letter: dict[str, Any]) -> None:
    world, home, sink = letter["world"], letter["home"], letter["sink"]
    delegate(world, home)
    good = {"entry": "e1", "subject": "s", "text": "t", "to": ["a@b.c"]}
    for body in ({**good, "to": []}, {**good, "to": "a@b.c"}, {"to": ["a@b.c"]},
                 {**good, "to": ["a@b.c\r\nBcc: all@x"]}, {**good, "subject": "s\r\nBcc: x"},
                 {**good, "html": 3}, {**good, "to": ["x@y.z"] * 501}, []):
        answer = home.request(world.client, "POST", "/newsletter", body)
        assert answer.status_code == 400, body
    unsigned = world.client.post("/_homeport/v1/newsletter", json=good)
    assert unsigned.status_code == 401
    assert newsletter.NewsletterQueue(world.db).states("alice") == {}
    assert sink.mails == []


def dsn(to: str, ref: str, action: str, status: str) -> bytes:
    """A delivery status notification as a receiving MTA writes it (RFC 3464 §5)."""
    return (
        "From: MAILER-DAEMON@mx.example.com\r\nTo: " + to + "\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n"
        "--b1\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.com\r\nArrival-Date: Fri, 4 Dec 2026 10:00:00 +0000"
        "\r\n\r\nFinal-Recipient: rfc822; ann@example.com\r\nAction: " + action + "\r\n"
        "Status: " + status + "\r\nDiagnostic-Code: smtp; 550 5.1.1 mailbox gone\r\n\r\n"
        "--b1\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        "Message-ID: <" + ref + "@" + HOST + ">\r\nSubject: A new essay\r\n"
        "--b1--\r\n").encode()


def arf(message_id: str, feedback: str = "abuse") -> bytes:
    """A complaint report as a mailbox provider's feedback loop sends it (RFC 5965 §3)."""
    return (
        "From: fbl@isp.example\r\nTo: " + BOUNCES + "\r\nSubject: FW: A new essay\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report;"
        " boundary=\"part\"\r\n\r\n--part\r\nContent-Type: text/plain\r\n\r\n"
        "This is an email abuse report.\r\n--part\r\n"
        "Content-Type: message/feedback-report\r\n\r\nFeedback-Type: " + feedback + "\r\n"
        "User-Agent: SomeGenerator/1.0\r\nVersion: 1\r\n\r\n--part\r\n"
        "Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n"
        "From: newsletter@" + HOST + "\r\nTo: [redacted]\r\nSubject: A new essay\r\n"
        "Message-ID: " + message_id + "\r\n\r\nHello\r\n--part--\r\n").encode()


def report(world: World, to: str, raw: bytes) -> None:
    port = int(world.settings.bounce_listen.rsplit(":", 1)[1])
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.sendmail("MAILER-DAEMON@mx.example.com", [to], raw)


def test_late_bounces_and_complaints_suppress(letter: dict[str, Any]) -> None:
    world, home, sink = letter["world"], letter["home"], letter["sink"]
    delegate(world, home)
    assert send(world, home, "ann@example.com", "bob@example.com").status_code == 202
    mails = {m["To"]: m for m in sink.wait(2)}
    ann_ref = mails["ann@example.com"]["Message-ID"].strip("<>").split("@")[0]
    ann, bob = email_hash("ann@example.com"), email_hash("bob@example.com")
    reader = world.app.server.config.app.state.newsletter_bounces
    # a delay, a forged reference, a report of nothing: nothing suppressed
    report(world, f"bounces+{ann_ref}@bounce.test", dsn(BOUNCES, ann_ref, "delayed", "4.4.1"))
    forged = ann_ref[:-10] + "0" * 10
    report(world, f"bounces+{forged}@bounce.test", dsn(BOUNCES, forged, "failed", "5.1.1"))
    report(world, BOUNCES, arf(mails["bob@example.com"]["Message-ID"], "not-spam"))
    report(world, BOUNCES, b"Subject: out of office\r\n\r\nback Monday\r\n")
    with pytest.raises(smtplib.SMTPRecipientsRefused):  # nothing else is taken here
        report(world, "postmaster@bounce.test", dsn(BOUNCES, ann_ref, "failed", "5.1.1"))
    assert reader.read == 4 and told_home(world) == {}
    # the bounce that came hours later, to the envelope sender of ann's mail
    report(world, f"bounces+{ann_ref}@bounce.test", dsn(BOUNCES, ann_ref, "failed", "5.1.1"))
    # bob's mailbox provider reports his complaint, quoting the mail
    report(world, BOUNCES, arf(mails["bob@example.com"]["Message-ID"]))
    assert told_home(world) == {ann: "bounced", bob: "complained"}
    suppressed = world.app.server.config.app.state.ports.suppressions
    assert suppressed.suppressed("alice", [ann, bob]) == {ann, bob}
    sink.mails.clear()
    assert send(world, home, "ann@example.com", "bob@example.com", entry="e2").json() == {
        "queued": 0, "suppressed": sorted([ann, bob])}


def test_a_mail_in_flight_at_a_crash_is_not_sent_again(letter: dict[str, Any]) -> None:
    """A process died with a round claimed and one mail of it half handed over: when the lease
    runs out the next sender marks that one ``unknown`` and sends the rest of the round, each
    once."""
    world, home, sink = letter["world"], letter["home"], letter["sink"]
    delegate(world, home)
    app_state = world.app.server.config.app.state
    queue = newsletter.NewsletterQueue(world.db)
    mail = {"site": f"https://{HOST}", "subject": "s", "text": "t", "html": ""}
    start = int(time.time() * 1000) + 10 * DAY  # due later than the live sender looks
    to = [(f"m{n}@example.com", email_hash(f"m{n}@example.com")) for n in range(4)]
    assert queue.add("alice", "e9", mail, to, start) == 4
    taken = queue.claim(start, 3)  # the round of the process that dies
    assert len(taken) == 3 and queue.start(taken[0].id)  # … handing this one over
    clock = [start + newsletter.LEASE - 1]
    sender = newsletter.Sender(world.settings, world.db, app_state.ports, lambda: clock[0])
    assert sender.run_once() == 1  # the lease still runs: only the unclaimed one goes
    clock[0] = start + newsletter.LEASE + 1
    assert sender.run_once() == 2  # the lease ran out: the round's other two go
    assert sender.run_once() == 0
    assert queue.add("alice", "e9", mail, to, clock[0]) == 0  # handed again: nothing
    assert sender.run_once() == 0
    assert queue.states("alice") == {"sent": 3, "unknown": 1}
    assert sorted(m["To"] for m in sink.wait(3)) == sorted(
        a for a, _ in to if a != taken[0].address)


def test_a_server_that_cannot_take_mail_is_tried_again_then_given_up(
        letter: dict[str, Any]) -> None:
    """No SMTP server listening: the mail goes back to the queue with a growing delay, nothing
    is suppressed, and after 48 hours it is given up."""
    world, home = letter["world"], letter["home"]
    delegate(world, home)
    app_state = world.app.server.config.app.state
    queue = newsletter.NewsletterQueue(world.db)
    mail = {"site": f"https://{HOST}", "subject": "s", "text": "t", "html": ""}
    start = int(time.time() * 1000) + 10 * DAY  # due later than the live sender looks
    assert queue.add("alice", "e8", mail, [("ann@example.com", email_hash("ann@example.com"))],
                     start) == 1
    nobody = dataclasses.replace(world.settings,
                                 smtp_url=f"smtp+plain://127.0.0.1:{free_port()}")
    clock = [start]
    sender = newsletter.Sender(nobody, world.db, app_state.ports, lambda: clock[0])
    assert sender.run_once() == 1 and sender.run_once() == 0  # not due again yet
    assert queue.states("alice") == {"queued": 1}
    clock[0] += newsletter.backoff(0)
    assert sender.run_once() == 1  # tried again after the first delay
    clock[0] += newsletter.GIVE_UP
    assert sender.run_once() == 1
    assert queue.states("alice") == {"failed": 1} and sender.sent == 0
    assert told_home(world) == {}


def test_mails_queued_before_the_newsletter_is_stopped_do_not_go(
        letter: dict[str, Any]) -> None:
    """The home chose another sender, or turned the newsletter off (the delegation revoked):
    what this provider still had queued is withdrawn, not sent."""
    world, home, sink = letter["world"], letter["home"], letter["sink"]
    delegate(world, home)
    queue = newsletter.NewsletterQueue(world.db)
    mail = {"site": f"https://{HOST}", "subject": "s", "text": "t", "html": ""}
    start = int(time.time() * 1000) + 10 * DAY  # due later than the live sender looks
    to = [(f"w{n}@example.com", email_hash(f"w{n}@example.com")) for n in range(2)]
    assert queue.add("alice", "e7", mail, to, start) == 2
    body = {"issued": now() + 1, "delegations": [], "revoked": []}  # the home's whole list
    assert home.request(world.client, "POST", "/delegations", body).status_code == 200
    sender = newsletter.Sender(world.settings, world.db, world.app.server.config.app.state.ports,
                               lambda: start)
    assert sender.run_once() == 2
    assert queue.states("alice") == {"withdrawn": 2} and sink.mails == []
