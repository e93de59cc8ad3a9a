"""``web/outbound.Session``, the lean HTTP/1.1 client ActivityPub delivery sends with: what it
writes (one request line, ``Host`` the name, the body with its length), the answers it reads
(a length, chunks, a body ended by the connection, one over the limit), keep-alive and an idle
connection the other end closed, and what it refuses (a private address, a target that could
end the request line, a garbled answer, a server that does not answer in time). The other end
is a scripted asyncio server on loopback that counts its connections."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from collections.abc import Awaitable, Callable
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from homeport.web import outbound

Reply = bytes | None
"""What the server writes for one request; None: it hangs up without answering."""


class Scripted:
    """Answers the n-th request with ``replies[n]``; ``close_after`` closes the connection
    after that answer."""

    def __init__(self, replies: list[Reply], close_after: frozenset[int] = frozenset()) -> None:
        self.replies = replies
        self.close_after = close_after
        self.requests: list[tuple[bytes, bytes]] = []
        self.connections = 0
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                n = len(self.requests)
                self.requests.append((head, body))
                reply = self.replies[n] if n < len(self.replies) else None
                if reply is None:
                    await asyncio.sleep(5)  # never answers (the client's timeout is shorter)
                    return
                writer.write(reply)
                await writer.drain()
                if n in self.close_after:
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client went, or the test ended
        finally:
            writer.close()


def run(script: Scripted, go: Callable[[outbound.Session, str], Awaitable[object]],
        tls: tuple[ssl.SSLContext, ssl.SSLContext] | None = None) -> object:
    """``go`` with a session to ``script`` (over TLS: the server's and the client's context)."""
    async def main() -> object:
        server = await asyncio.start_server(script.handle, "127.0.0.1", 0,
                                            ssl=tls[0] if tls else None)
        scheme = "https" if tls else "http"
        script.url = f"{scheme}://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        session = outbound.Session(outbound.anywhere, timeout=1.0,
                                   tls=tls[1] if tls else None)
        try:
            return await go(session, script.url)
        finally:
            await session.aclose()
            server.close()

    return asyncio.run(main())


OK = b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok"


def test_requests_share_a_kept_alive_connection_and_answers_are_read_whole() -> None:
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain;"
               b" charset=utf-8\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\n")
    script = Scripted([OK, b"HTTP/1.1 100 Continue\r\n\r\n" + OK, chunked, OK])

    async def go(session: outbound.Session, url: str) -> object:
        return [await session.send("POST", f"{url}/users/u{n}/inbox?x=1",
                                   {"Digest": "SHA-256=abc", "Host": "ignored"}, b"{}%d" % n)
                for n in range(4)]

    answers = run(script, go)
    assert isinstance(answers, list)
    assert [(a.status, a.body) for a in answers] == [
        (202, b"ok"), (202, b"ok"), (200, b"hello world"), (202, b"ok")]
    assert answers[2].content_type == "text/plain"
    assert script.connections == 1  # one connection carried all four
    head, body = script.requests[0]
    port = script.url.rsplit(":", 1)[1]
    assert head.split(b"\r\n")[:2] == [b"POST /users/u0/inbox?x=1 HTTP/1.1",
                                       b"Host: 127.0.0.1:" + port.encode()]
    assert b"Digest: SHA-256=abc\r\n" in head and b"ignored" not in head
    assert body == b"{}0" and b"Content-Length: 3\r\n" in head


def test_answers_that_end_the_connection_and_one_over_the_limit() -> None:
    ended = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it"
    big = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100_000
    script = Scripted([ended, big, OK, OK], close_after=frozenset({0, 2}))

    async def go(session: outbound.Session, url: str) -> object:
        return [await session.send("POST", f"{url}/inbox", {}, b"{}", limit=1000)
                for _ in range(4)]

    answers = run(script, go)
    assert isinstance(answers, list)
    assert answers[0].body == b"all of it"
    assert answers[1].status == 200 and answers[1].body == b"x" * 1000  # cut at the limit
    # the first ended its connection, the second was left unread: both were put aside; the
    # third's connection was closed by the server while idle: the fourth went on a new one
    assert [a.status for a in answers[2:]] == [202, 202]
    assert script.connections == 4


def test_what_it_refuses() -> None:
    script = Scripted([b"SMTP ready\r\n\r\n", None])

    async def go(session: outbound.Session, url: str) -> object:
        with pytest.raises(OSError):  # a delivery retries later
            await session.send("POST", f"{url}/inbox", {}, b"{}")
        with pytest.raises(TimeoutError):
            await session.send("POST", f"{url}/inbox", {}, b"{}")
        for bad in (f"{url}/in box", f"{url}/inbox\r\nX: y", "ftp://example.net/inbox"):
            with pytest.raises(outbound.FetchRefused):
                await session.send("POST", bad, {}, b"{}")
        with pytest.raises(outbound.FetchRefused):
            await session.send("POST", f"{url}/inbox", {"X-Evil": "a\r\nB: c"}, b"{}")
        guarded = outbound.Session(outbound.public_only)
        with pytest.raises(outbound.FetchRefused, match="not a public address"):
            await guarded.send("POST", f"{url}/inbox", {}, b"{}")
        await guarded.aclose()
        return None

    run(script, go)
    assert len(script.requests) == 2  # the refused ones never reached it


def test_a_host_that_hangs_holds_each_request_up_for_the_timeout_at_most() -> None:
    """Requests waiting for one of the host's connections count that wait in their timeout:
    a delivery round with many requests to a dead host ends after one timeout, not one per
    request in turn."""
    script = Scripted([None] * 6)

    async def go(session: outbound.Session, url: str) -> object:
        session.per_host = 1
        started = asyncio.get_running_loop().time()
        found = await asyncio.gather(*(session.send("POST", f"{url}/inbox", {}, b"{}")
                                       for _ in range(4)), return_exceptions=True)
        return found, asyncio.get_running_loop().time() - started

    found, took = run(script, go)  # type: ignore[misc]
    assert all(isinstance(exc, TimeoutError) for exc in found)
    assert took < 2.5  # the timeout is 1 s: not 4 s in turn
    assert len(script.requests) <= 2  # one connection at a time: the others never got one


def certificate(tmp: Path) -> tuple[ssl.SSLContext, str]:
    """A server context with a self-signed certificate for 127.0.0.1, and its PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    (tmp / "cert.pem").write_text(pem)
    (tmp / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    return server, pem


def test_https_checks_the_certificate_and_keeps_the_connection(tmp_path: Path) -> None:
    server, pem = certificate(tmp_path)
    script = Scripted([OK, OK])

    async def go(session: outbound.Session, url: str) -> object:
        return [(await session.send("POST", f"{url}/inbox", {}, b"{}")).status
                for _ in range(2)]

    assert run(script, go, (server, ssl.create_default_context(cadata=pem))) == [202, 202]
    assert script.connections == 1
    untrusted = Scripted([OK])

    async def refused(session: outbound.Session, url: str) -> object:
        with pytest.raises(ssl.SSLError):  # an OSError: a delivery retries later
            await session.send("POST", f"{url}/inbox", {}, b"{}")
        return None

    run(untrusted, refused, (server, ssl.create_default_context()))
    assert untrusted.requests == []
