"""Sending mail from a provider through the operator's SMTP server (setting ``smtp_url``):
members' sign-in links, and anything else a protocol mails. Blocking (``smtplib``): call it in
a worker thread. Refuses header injection: every header value is one line."""

from __future__ import annotations

import email.policy
import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

TIMEOUT = 20.0
POLICY = email.policy.SMTP.clone(max_line_length=998)
"""Headers as they are, up to RFC 5322's limit: folded at 78, a long URL (``List-Unsubscribe``)
was rewritten as encoded words that no mail client reads as a URL."""


class MailError(Exception):
    """The mail could not be handed to the SMTP server (the message says why)."""


@dataclass(frozen=True)
class Smtp:
    scheme: str
    host: str
    port: int
    user: str
    password: str
    sender: str

    @classmethod
    def parse(cls, url: str) -> Smtp:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("smtp", "smtps", "smtp+plain") or not parts.hostname:
            raise MailError("smtp_url is smtp://, smtps:// or smtp+plain://host[:port]")
        default = 465 if parts.scheme == "smtps" else 25
        try:
            port = parts.port or default
        except ValueError:
            raise MailError("smtp_url has a port that is not one") from None
        sender = (parse_qs(parts.query).get("from") or [""])[0]
        return cls(parts.scheme, parts.hostname, port, unquote(parts.username or ""),
                   unquote(parts.password or ""), sender)


def _message(origin: str, subject: str, text: str, html: str) -> EmailMessage:
    """The headers every recipient shares, and the body: plain text or (with ``html``)
    multipart/alternative of both."""
    message = EmailMessage(policy=POLICY)
    message["From"] = origin
    message["Subject"] = subject
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    return message


def _line(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise MailError("a mail header may not span lines")
    return value


class Session:
    """One connection to ``smtp_url`` for many mails (a round of the newsletter), opened at
    the first mail and again after the server dropped it. Use it as a context manager."""

    def __init__(self, url: str) -> None:
        self.smtp = Smtp.parse(url)
        self._client: smtplib.SMTP | None = None
        self._made: tuple[tuple[str, str, str, str], bytes] | None = None

    def _open(self) -> smtplib.SMTP:
        smtp = self.smtp
        if smtp.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=TIMEOUT,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=TIMEOUT)
        try:
            if smtp.scheme == "smtp":
                client.ehlo()
                if client.has_extn("starttls"):
                    client.starttls(context=ssl.create_default_context())
                    client.ehlo()
            if smtp.user:
                client.login(smtp.user, smtp.password)
        except BaseException:
            client.close()
            raise
        return client

    def send(self, *, sender: str, to: str, subject: str, text: str,
             headers: Mapping[str, str] | None = None, html: str = "", message_id: str = "",
             envelope_from: str = "") -> str:
        """Send one mail, plain text or (with ``html``) multipart/alternative of both; its
        Message-ID. ``sender`` is used when ``smtp_url`` names none; ``envelope_from`` is the
        SMTP MAIL FROM where bounces go (default: the From address). Raises MailError on any
        failure."""
        smtp = self.smtp
        origin = _line(smtp.sender or sender)
        mid = _line(message_id) if message_id else make_msgid(
            domain=origin.rpartition("@")[2] or None)
        own = {"To": _line(to), "Date": formatdate(usegmt=True), "Message-ID": mid,
               **{_line(k): _line(v) for k, v in (headers or {}).items()}}
        mail_from = _line(envelope_from) or origin
        if all(k.isascii() and v.isascii() and len(k) + len(v) < 996 for k, v in own.items()):
            # the body and the headers every recipient shares are made once per mail text;
            # each recipient's own headers, plain ASCII on one line, are put in front
            raw = "".join(f"{k}: {v}\r\n" for k, v in own.items()).encode() + self._shared(
                origin, _line(subject), text, html)
            self._deliver(lambda client: client.sendmail(mail_from, [own["To"]], raw))
            return mid
        message = _message(origin, _line(subject), text, html)
        for name, value in own.items():
            message[name] = value
        self._deliver(lambda client: client.send_message(message, mail_from, [own["To"]]))
        return mid

    def _shared(self, origin: str, subject: str, text: str, html: str) -> bytes:
        key = (origin, subject, text, html)
        if self._made is None or self._made[0] != key:
            self._made = (key, _message(origin, subject, text, html).as_bytes())
        return self._made[1]

    def _deliver(self, hand: Callable[[smtplib.SMTP], object]) -> None:
        smtp = self.smtp
        try:
            if self._client is None:
                self._client = self._open()
            hand(self._client)
        except (OSError, smtplib.SMTPException) as exc:
            # the server answered (a refused address, a full mailbox): the connection goes on;
            # anything else (it hung up, a timeout) and the next mail opens a new one
            if not isinstance(exc, smtplib.SMTPRecipientsRefused | smtplib.SMTPResponseException):
                self.close()
            raise MailError(f"the SMTP server at {smtp.host}:{smtp.port} refused the mail: "
                            f"{exc}") from None

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def send(url: str, *, sender: str, to: str, subject: str, text: str,
         headers: Mapping[str, str] | None = None, html: str = "", message_id: str = "",
         envelope_from: str = "") -> str:
    """Send one mail on a connection of its own (``Session.send``)."""
    with Session(url) as session:
        return session.send(sender=sender, to=to, subject=subject, text=text, headers=headers,
                            html=html, message_id=message_id, envelope_from=envelope_from)
