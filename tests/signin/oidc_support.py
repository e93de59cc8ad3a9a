"""A real OpenID Connect provider for the sign-in tests: ``tests/clients/oidc_provider.mjs``
(npm ``oidc-provider``, pinned in ``tests/clients/package-lock.json``) under node on a free
loopback port, and the authorization-code flow driven over HTTP with its login form."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import pytest

from homeport import jsonio
from homeport.testing.live import free_port, log_tail, stop_process

SCRIPT = Path(__file__).resolve().parents[1] / "clients" / "oidc_provider.mjs"
STARTUP_TIMEOUT = 30.0
MAX_HOPS = 12
FORM = re.compile(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', re.S)
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def node_or_skip() -> str:
    binary = shutil.which("node")
    if binary and (SCRIPT.parent / "node_modules" / "oidc-provider").is_dir():
        return binary
    message = "the OpenID tests need node and tests/clients/node_modules (scripts/install)"
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@dataclass
class Issuer:
    """One ``oidc-provider`` at ``http://127.0.0.1:<port>``."""

    log: Path
    jwks: dict[str, Any]
    clients: list[dict[str, Any]]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Issuer:
        env = {**os.environ, "OIDC_PORT": str(self.port),
               "OIDC_JWKS": jsonio.dumps_text(self.jwks),
               "OIDC_CLIENTS": jsonio.dumps_text(self.clients)}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [node_or_skip(), str(SCRIPT)], stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, cwd=SCRIPT.parent, env=env, start_new_session=True,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"oidc-provider exited early:\n{log_tail(self.log)}")
            try:
                httpx.get(self.url + "/.well-known/openid-configuration",
                          timeout=2).raise_for_status()
                return self
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"oidc-provider not up:\n{log_tail(self.log)}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


def walk_to(client: httpx.Client, start: str, login: str, until: str) -> str:
    """Follow redirects from ``start``, signing in at the issuer's development login form as
    ``login`` and consenting, until the issuer sends the browser to a URL starting with
    ``until``: that URL, not requested."""
    url, method, data = start, "GET", None
    for _ in range(MAX_HOPS):
        answer = client.request(method, url, data=data, follow_redirects=False)
        if answer.is_redirect:
            url, method, data = urljoin(str(answer.url), answer.headers["location"]), "GET", None
            if url.startswith(until):
                return url
            continue
        form = FORM.search(answer.text)
        assert answer.status_code == 200 and form, (
            f"{answer.url}: {answer.status_code}\n{answer.text[:800]}"
        )
        data = dict(HIDDEN.findall(form.group(2)))
        if data.get("prompt") == "login":
            data |= {"login": login, "password": "any"}
        url, method = urljoin(str(answer.url), form.group(1)), "POST"
    raise AssertionError(f"not sent to {until} within {MAX_HOPS} hops")


def tokens(issuer: Issuer, client_id: str, secret: str, redirect_uri: str,
           login: str) -> dict[str, Any]:
    """The token endpoint's answer for ``login`` after the whole code flow (ID token and
    access token), as an API client gets it."""
    with httpx.Client(timeout=15) as client:
        query = urlencode({"response_type": "code", "client_id": client_id, "scope": "openid",
                           "redirect_uri": redirect_uri, "state": "s", "nonce": "n"})
        location = walk_to(client, f"{issuer.url}/auth?{query}", login, redirect_uri)
        code = parse_qs(urlsplit(location).query)["code"][0]
        answer = client.post(f"{issuer.url}/token", auth=(client_id, secret), data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri})
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found


def id_token(issuer: Issuer, client_id: str, secret: str, redirect_uri: str,
             login: str) -> str:
    """An ID token for ``login`` through the whole code flow, as an API client gets one."""
    return str(tokens(issuer, client_id, secret, redirect_uri, login)["id_token"])
