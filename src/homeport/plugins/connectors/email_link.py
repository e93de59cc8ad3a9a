"""Sign-in by a link mailed to the person (``smtp_url``): principal ``email:<address>``.

The link carries the address, an expiry and a hash of the sign-in's state, HMAC-signed with a
key kept in the data dir; it works only in the browser that asked for it (the state is in that
browser's sign-in cookie) and only until it expires. Nothing is stored per sign-in. It gives
no bearer tokens, so ``/v1`` never takes one from it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import html
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from homeport import jsonio
from homeport.interop.mail import MailError, send
from homeport.plugins.kinds import Identity, SignInFailed

LINK_SECONDS = 900
KEY_FILE = "signin-email.key"
ADDRESS = re.compile(r"^[^@\s<>\"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")


def key_of(data_dir: Path) -> bytes:
    """The links' HMAC key, made on first use and readable by the owner only."""
    path = data_dir / KEY_FILE
    try:
        return path.read_bytes()
    except FileNotFoundError:
        key = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(key)
        return key


def _state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()[:32]


@dataclass
class EmailLink:
    smtp_url: str
    key: bytes
    sender: str = "homeport@localhost"
    name: str = "email"
    title: str = "Email me a sign-in link"
    asks: str = "email"
    """The login page asks for this (a field of that name) before ``begin``."""

    def _sign(self, payload: bytes) -> str:
        return base64.urlsafe_b64encode(hmac.digest(self.key, payload, "sha256")).decode()

    def link_token(self, address: str, state: str, now: float) -> str:
        body = jsonio.dumps({"e": address, "s": _state_hash(state),
                             "x": int(now) + LINK_SECONDS})
        encoded = base64.urlsafe_b64encode(body).decode()
        return f"{encoded}.{self._sign(body)}"

    async def begin(self, request: Request, callback_url: str, state: str) -> Response:
        address = request.query_params.get("email", "").strip().lower()
        if not ADDRESS.match(address):
            raise SignInFailed("Give an email address like name@example.org", code=400)
        token = self.link_token(address, state, time.time())
        link = f"{callback_url}?{urlencode({'token': token})}"
        text = (f"Someone (we hope you) asked to sign in to {request.url.netloc} with this "
                f"address. Open this link in the same browser within "
                f"{LINK_SECONDS // 60} minutes:\n\n{link}\n\nIf it was not you, ignore this mail.")
        try:
            await asyncio.to_thread(send, self.smtp_url, sender=self.sender, to=address,
                                    subject="Your sign-in link", text=text)
        except MailError as exc:
            raise SignInFailed(f"The mail could not be sent: {exc}") from None
        shown = html.escape(address)
        return HTMLResponse(
            "<!doctype html><title>Check your mail</title><main><h1>Check your mail</h1>"
            f"<p>We sent a sign-in link to <strong>{shown}</strong>. Open it in this browser "
            f"within {LINK_SECONDS // 60} minutes.</p></main>"
        )

    async def complete(self, request: Request, callback_url: str, state: str) -> Identity:
        token = request.query_params.get("token", "")
        encoded, _, signature = token.partition(".")
        try:
            body = base64.urlsafe_b64decode(encoded)
        except (binascii.Error, ValueError):
            raise SignInFailed("This sign-in link is damaged") from None
        if not hmac.compare_digest(self._sign(body), signature):
            raise SignInFailed("This sign-in link is not one this home sent")
        claims = jsonio.loads(body)
        if claims.get("s") != _state_hash(state):
            raise SignInFailed("Open the link in the browser that asked for it")
        if int(claims.get("x", 0)) < time.time():
            raise SignInFailed("This sign-in link has expired; ask for a new one")
        return Identity(self.name, str(claims["e"]), email=str(claims["e"]))

    async def authenticate(self, token: str) -> Identity | None:
        return None
