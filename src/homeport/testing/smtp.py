"""A mail sink on loopback for tests: a real SMTP server (aiosmtpd, a test dependency) that
keeps every message it is sent, so a test reads the link a provider mailed. Start it with
``with SmtpSink() as sink:`` and point ``smtp_url`` at ``sink.url``."""

from __future__ import annotations

import email
import email.policy
import threading
import time
from email.message import EmailMessage
from typing import Any

from homeport.testing.live import free_port


class SmtpSink:
    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()
        self._controller: Any = None

    @property
    def url(self) -> str:
        """``smtp+plain``: the sink offers no TLS, and the provider must not ask for it."""
        return f"smtp+plain://127.0.0.1:{self.port}"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)
        return "250 OK"

    def __enter__(self) -> SmtpSink:
        from aiosmtpd.controller import Controller

        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._controller is not None:
            self._controller.stop()

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if address in str(m.get("To", ""))]

    def wait_for(self, address: str, count: int = 1, timeout: float = 10.0) -> EmailMessage:
        """The ``count``-th message to ``address``, waiting at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.to(address)
            if len(found) >= count:
                return found[count - 1]
            if time.monotonic() > deadline:
                raise AssertionError(f"no mail number {count} to {address} in {timeout} s")
            time.sleep(0.02)
