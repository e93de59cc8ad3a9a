"""An independent ActivityPub server for the fediverse tests: ``tests/clients/fedify_peer.mjs``
(Fedify, from the npm registry, pinned in ``tests/clients/package-lock.json``) started under
node on a free loopback port and driven through its control API.

Everything it receives has passed Fedify's own checks (HTTP Signatures, Digest, the signer
owning the actor), so "the peer received X" means an independent implementation accepted X.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from homeport.testing.live import free_port, log_tail, stop_process

SCRIPT = Path(__file__).resolve().parents[1] / "clients" / "fedify_peer.mjs"
STARTUP_TIMEOUT = 30.0
CONTROL_TIMEOUT = 30.0


def node_or_skip() -> str:
    """The node binary with Fedify installed next to the script; skip (fail on CI) without."""
    binary = shutil.which("node")
    if binary and (SCRIPT.parent / "node_modules" / "@fedify" / "fedify").is_dir():
        return binary
    message = "the fediverse tests need node and tests/clients/node_modules (scripts/install)"
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@dataclass
class FedifyPeer:
    """One Fedify actor, ``http://127.0.0.1:<port>/users/<name>``."""

    log: Path
    name: str = "bob"
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def actor(self) -> str:
        return f"{self.url}/users/{self.name}"

    def start(self) -> FedifyPeer:
        node = node_or_skip()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [node, str(SCRIPT), str(self.port), self.name],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=SCRIPT.parent,
                start_new_session=True,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"fedify peer exited early:\n{log_tail(self.log)}")
            try:
                httpx.get(self.url + "/_control/state", timeout=2).raise_for_status()
                return self
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"fedify peer not up:\n{log_tail(self.log)}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    def call(self, what: str, **body: Any) -> dict[str, Any]:
        answer = httpx.post(f"{self.url}/_control/{what}", json=body, timeout=CONTROL_TIMEOUT)
        assert answer.status_code == 200, f"peer {what}: {answer.text}\n{log_tail(self.log)}"
        result: dict[str, Any] = answer.json()
        return result

    def route(self, host: str, to: str | None) -> None:
        """Send this peer's requests for ``https://<host>/…`` to ``to`` (``127.0.0.1:port``),
        Host kept and ``X-Forwarded-Proto: https``, as a TLS proxy would; None: no route."""
        self.call("route", host=host, to=to)

    def follow(self, account: str) -> dict[str, Any]:
        """WebFinger ``account`` (``name@host``) and send it a Follow."""
        return self.call("follow", account=account)

    def unfollow(self, actor: str) -> bool:
        return bool(self.call("unfollow", actor=actor)["undone"])

    def reply(self, in_reply_to: str, content: str) -> dict[str, Any]:
        return self.call("reply", inReplyTo=in_reply_to, content=content)

    def like(self, url: str) -> dict[str, Any]:
        return self.call("like", object=url)

    def state(self) -> dict[str, Any]:
        answer = httpx.get(f"{self.url}/_control/state", timeout=CONTROL_TIMEOUT)
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

    def received(self, kind: str | None = None) -> list[dict[str, Any]]:
        """What Fedify accepted in its inboxes, in order (``kind``: that type only)."""
        return [a for a in self.state()["received"] if kind is None or a["type"] == kind]

    def wait_for(
        self,
        what: str,
        check: Callable[[list[dict[str, Any]]], Any],
        seconds: float,
        step: float = 0.1,
    ) -> Any:
        """``check(received)``'s first truthy answer within ``seconds``."""
        deadline = time.monotonic() + seconds
        while True:
            found = check(self.received())
            if found:
                return found
            assert time.monotonic() < deadline, (
                f"peer {self.name}: {what} not within {seconds} s\n{log_tail(self.log)}"
            )
            time.sleep(step)
