"""Mail through ``interop/mail.py`` to a real SMTP server on loopback (aiosmtpd): a session
sends many mails over one connection, each with its own headers in front of the body and
shared headers made once; a non-ASCII subject is encoded, a non-ASCII header of a recipient's
takes the general path; header injection is refused before anything is sent."""

from __future__ import annotations

from typing import Any

import pytest

from homeport.interop import mail
from homeport.testing.smtp import SmtpSink


class Counting(SmtpSink):
    def __init__(self) -> None:
        super().__init__()
        self.greetings = 0

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        self.greetings += 1
        session.host_name = hostname
        return responses


def test_a_session_sends_each_mail_whole_over_one_connection() -> None:
    with Counting() as sink, mail.Session(sink.url) as session:
        ids = [session.send(sender="news@site.example", to=f"m{n}@example.org",
                            subject="Café au lait", text=f"Hello\n.\nline {n}\n",
                            html="<p>Hello <em>you</em></p>", message_id=f"<ref{n}@site>",
                            headers={"List-Unsubscribe": f"<https://site.example/u?t={n}>"})
               for n in range(3)]
        odd = session.send(sender="news@site.example", to="m9@example.org", subject="s",
                           text="plain", headers={"X-Note": "déjà vu"})
        with pytest.raises(mail.MailError):
            session.send(sender="news@site.example", to="x@example.org\r\nBcc: all@x",
                         subject="s", text="t")
        found = [sink.wait_for(f"m{n}@example.org") for n in (0, 1, 2, 9)]
    assert ids == ["<ref0@site>", "<ref1@site>", "<ref2@site>"] and odd.startswith("<")
    assert sink.greetings == 1 and len(sink.messages) == 4
    for n, message in enumerate(found[:3]):
        assert message["Subject"] == "Café au lait" and message["Message-ID"] == f"<ref{n}@site>"
        assert message["List-Unsubscribe"] == f"<https://site.example/u?t={n}>"
        assert message["From"] == "news@site.example" and message["Date"]
        assert message.get_content_type() == "multipart/alternative"
        assert text(message, "plain") == f"Hello\n.\nline {n}\n"  # the lone dot kept
        assert text(message, "html") == "<p>Hello <em>you</em></p>\n"
    assert found[3]["X-Note"] == "déjà vu" and text(found[3], "plain") == "plain\n"


def text(message: Any, kind: str) -> str:
    """A part's text as written (the wire's CRLF read back as newlines)."""
    return str(message.get_body((kind,)).get_content()).replace("\r\n", "\n")
