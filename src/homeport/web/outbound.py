"""Fetches of addresses that someone else chose (a tenant's domain, later a webmention source).

Such a fetch must not reach the machine's own services or its private network (SSRF): the
name is resolved once, every address it resolves to must be public, and the connection goes to
that checked address (the name is kept for ``Host`` and TLS), so a name that resolves
differently a moment later cannot slip through. Redirects are followed by hand and each hop is
checked the same way. ``fetch_allow_private`` (off by default) lifts the check, for tests and for
providers on a private network.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import anyio
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Permitted = Callable[[IPAddress], bool]
Sign = Callable[[str, str], dict[str, str]]
"""Headers that sign one request, from its method and URL (ActivityPub's signed GETs)."""


class FetchRefused(ValueError):
    """A URL this fetch will not follow; the message says why."""


def public_only(address: IPAddress) -> bool:
    """Addresses on the public internet: not loopback, private, link-local, reserved…"""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return public_only(address.ipv4_mapped)
    return address.is_global and not address.is_multicast


def anywhere(address: IPAddress) -> bool:
    return True


def policy(allow_private: bool) -> Permitted:
    """The address rule for the ``fetch_allow_private`` setting."""
    return anywhere if allow_private else public_only


@dataclass(frozen=True)
class Fetched:
    status: int
    body: bytes
    url: str
    """The last address asked (after redirects): what relative links in the body resolve against."""
    content_type: str = ""
    """The media type, lower case, without parameters (``text/html``)."""
    headers: httpx.Headers = field(default_factory=httpx.Headers)


async def _address(host: str, port: int, permitted: Permitted) -> str:
    try:
        literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        found = [literal]
    else:
        try:
            infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise FetchRefused(f"{host} does not resolve ({exc})") from None
        found = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not found:
        raise FetchRefused(f"{host} does not resolve")
    refused = [str(a) for a in found if not permitted(a)]
    if refused:
        raise FetchRefused(f"{host} resolves to {refused[0]}, which is not a public address")
    first = found[0]
    return f"[{first}]" if isinstance(first, ipaddress.IPv6Address) else str(first)


async def fetch(
    url: str,
    *,
    permitted: Permitted = public_only,
    limit: int = 64 * 1024,
    timeout: float = 5.0,
    max_redirects: int = 3,
    accept: str | None = None,
    sign: Sign | None = None,
) -> Fetched:
    """GET ``url`` within the rule: at most ``limit`` bytes (more is refused), bounded time.
    ``sign`` adds headers for each hop's URL (a signed GET names its target and host)."""
    headers = {"Accept": accept} if accept else {}
    return await exchange(
        "GET",
        url,
        permitted=permitted,
        limit=limit,
        timeout=timeout,
        max_redirects=max_redirects,
        headers=headers,
        sign=sign,
    )


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context per process: httpx makes a new one for each client by default, which
    loads the CA bundle again (about 0.1 s of CPU): that was most of a webmention's
    verification (bench/interop_webmention.py)."""
    return httpx.create_ssl_context()


async def exchange(
    method: str,
    url: str,
    *,
    permitted: Permitted = public_only,
    limit: int = 64 * 1024,
    timeout: float = 5.0,
    max_redirects: int = 3,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
    sign: Sign | None = None,
) -> Fetched:
    """One request within the rule (``fetch`` is its GET): redirects are followed, each hop
    checked, only for GET and HEAD; other methods get the first answer, whatever it is."""
    follow = max_redirects if method in ("GET", "HEAD") else 0
    with anyio.fail_after(timeout * (follow + 1)):
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False,
                                     verify=_tls()) as client:
            for _ in range(follow + 1):
                parts = urlsplit(url)
                if parts.scheme not in ("http", "https") or not parts.hostname:
                    raise FetchRefused(f"{url!r} is not an http(s) address")
                try:
                    port = parts.port or (443 if parts.scheme == "https" else 80)
                except ValueError:
                    raise FetchRefused(f"{url!r} has no valid port") from None
                address = await _address(parts.hostname, port, permitted)
                pinned = parts._replace(netloc=f"{address}:{port}").geturl()
                request = client.build_request(
                    method,
                    pinned,
                    headers={"Host": parts.netloc.rsplit("@", 1)[-1], **(headers or {}),
                             **(sign(method, url) if sign else {})},
                    content=content,
                    extensions={"sni_hostname": parts.hostname},
                )
                response = await client.send(request, stream=True)
                try:
                    location = response.headers.get("location")
                    if follow and response.is_redirect and location:
                        url = urljoin(url, location)
                        continue
                    body = b""
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > limit:
                            raise FetchRefused(f"{url} is larger than {limit} bytes")
                    kind = response.headers.get("content-type", "").split(";")[0]
                    return Fetched(
                        response.status_code, body, url, kind.strip().lower(), response.headers
                    )
                finally:
                    await response.aclose()
    raise FetchRefused(f"{url} redirects more than {max_redirects} times")


class _Host:
    """One remote host as a ``Session`` knows it: its checked address, its idle connections,
    and a gate that keeps at most ``per_host`` requests to it in flight."""

    def __init__(self, address: str, expires: float, per_host: int) -> None:
        self.address = address
        self.expires = expires
        self.gate = asyncio.Semaphore(per_host)
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.closed = False

    def close(self) -> None:
        self.closed = True
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


class BadAnswer(ConnectionError):
    """The other end's answer is not HTTP/1.1 as this client reads it (or it hung up first)."""


_VISIBLE = frozenset(range(0x21, 0x7F))


def _plain(text: str) -> bytes:
    """A request target or ``Host`` as bytes, refused when it holds anything but visible ASCII
    (no space, no control character: nothing that could end the request line early)."""
    raw = text.encode("ascii", "replace")
    if not raw or not _VISIBLE.issuperset(raw):
        raise FetchRefused(f"{text!r} is not a plain request target")
    return raw


async def _chunked(reader: asyncio.StreamReader, limit: int) -> tuple[bytes, bool]:
    """A chunked body, at most ``limit`` bytes of it, and whether it was read to its end."""
    body = b""
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip() or b"x", 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                pass
            return body, True
        if len(body) + size > limit:
            return body + await reader.readexactly(limit - len(body)), False
        body += await reader.readexactly(size)
        await reader.readexactly(2)


async def _answer(reader: asyncio.StreamReader, limit: int
                  ) -> tuple[int, list[tuple[str, str]], bytes, bool]:
    """Read one response: status, headers, at most ``limit`` bytes of body, and whether the
    connection may carry another request."""
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head[:-4].decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise BadAnswer(f"not an HTTP/1 status line: {lines[0][:80]!r}")
        status = int(code)
        headers = []
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                raise BadAnswer(f"not a header line: {line[:80]!r}")
            headers.append((name.lower(), value.strip()))
        if not 100 <= status < 200:
            break
    fields = dict(headers)
    tokens = {t.strip().lower() for t in fields.get("connection", "").split(",")}
    reusable = "close" not in tokens and (version == "HTTP/1.1" or "keep-alive" in tokens)
    if status in (204, 304):
        return status, headers, b"", reusable
    if "chunked" in fields.get("transfer-encoding", "").lower():
        body, whole = await _chunked(reader, limit)
        return status, headers, body, reusable and whole
    length = fields.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise BadAnswer(f"Content-Length {length[:20]!r}")
        size = int(length)
        body = await reader.readexactly(min(size, limit))
        return status, headers, body, reusable and size <= limit
    body = b""
    while len(body) < limit and (chunk := await reader.read(limit - len(body))):
        body += chunk
    return status, headers, body, False  # the body ends where the connection does


class Session:
    """Many requests to many hosts within the rule (ActivityPub delivery: thousands of POSTs in
    a burst), on a lean HTTP/1.1 client of its own over asyncio streams: each host is resolved
    and checked once per ``ttl`` seconds and connections go to that checked address (the name
    kept for ``Host`` and TLS), at most ``per_host`` at once, kept alive between requests. One
    request is one write of head and body and one read of the answer; httpx's layers cost more
    than the request's RSA signature did (bench/fediverse.py). ``timeout`` bounds a request
    whole: resolving, waiting for a connection to its host, the exchange. No redirects are
    followed; an answer's body is read up to ``limit`` bytes."""

    def __init__(self, permitted: Permitted = public_only, timeout: float = 10.0,
                 per_host: int = 4, hosts: int = 256, ttl: float = 60.0,
                 tls: ssl.SSLContext | None = None) -> None:
        self.permitted = permitted
        self.timeout = timeout
        self.per_host = per_host
        self.hosts = hosts
        self.ttl = ttl
        self.tls = tls
        """The certificates trusted (None: the system's, as httpx has them)."""
        self._hosts: OrderedDict[tuple[str, str, int], _Host] = OrderedDict()

    async def _host(self, scheme: str, name: str, port: int) -> _Host:
        key = (scheme, name, port)
        now = asyncio.get_running_loop().time()
        found = self._hosts.get(key)
        if found is None or found.expires < now:
            address = await _address(name, port, self.permitted)
            if found is not None and found.address == address:
                found.expires = now + self.ttl
            else:
                if found is not None:
                    found.close()
                found = _Host(address, now + self.ttl, self.per_host)
                self._hosts[key] = found
                while len(self._hosts) > self.hosts:
                    self._hosts.popitem(last=False)[1].close()
        self._hosts.move_to_end(key)
        return found

    async def send(self, method: str, url: str, headers: dict[str, str],
                   content: bytes | None = None, limit: int = 16 * 1024) -> Fetched:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchRefused(f"{url!r} is not an http(s) address")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise FetchRefused(f"{url!r} has no valid port") from None
        target = _plain(parts.path or "/") + (b"?" + _plain(parts.query) if parts.query else b"")
        lines = [_plain(method) + b" " + target + b" HTTP/1.1",
                 b"Host: " + _plain(parts.netloc.rsplit("@", 1)[-1])]
        for name, value in headers.items():
            if name.lower() in ("host", "content-length", "transfer-encoding", "connection"):
                continue
            if "\r" in value or "\n" in value or not name.isascii() or ":" in name:
                raise FetchRefused(f"the header {name!r} cannot be sent")
            lines.append(f"{name}: {value}".encode("latin-1"))
        if content is not None:
            lines.append(b"Content-Length: %d" % len(content))
        request = b"\r\n".join(lines) + b"\r\n\r\n" + (content or b"")
        # the time the name takes to resolve and the wait for one of the host's connections
        # count too: a host that hangs holds up its requests for ``timeout`` at most, not one
        # timeout after another
        async with asyncio.timeout(self.timeout):
            host = await self._host(parts.scheme, parts.hostname, port)
            await host.gate.acquire()
            try:
                return await self._exchange(host, parts.scheme, parts.hostname, port, url,
                                            request, limit)
            finally:
                host.gate.release()

    async def _exchange(self, host: _Host, scheme: str, name: str, port: int, url: str,
                        request: bytes, limit: int) -> Fetched:
        for attempt in range(2):
            while host.idle and host.idle[-1][0].at_eof():  # closed at the other end
                host.idle.pop()[1].close()
            reused = bool(host.idle)
            reader, writer = host.idle.pop() if reused else await self._connect(
                host, scheme, name, port)
            keep = False
            try:
                writer.write(request)
                await writer.drain()
                status, found, body, keep = await _answer(reader, limit)
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                if reused and attempt == 0 and not getattr(exc, "partial", b""):
                    continue  # an idle connection the other end had closed: once more
                raise BadAnswer(f"{url}: {exc or type(exc).__name__}") from None
            except (asyncio.LimitOverrunError, ValueError) as exc:
                raise BadAnswer(f"{url}: {exc}") from None
            finally:
                if keep and not host.closed and not reader.at_eof():
                    host.idle.append((reader, writer))
                else:
                    writer.close()
            kind = dict(found).get("content-type", "").split(";")[0]
            return Fetched(status, body, url, kind.strip().lower(), httpx.Headers(found))
        raise BadAnswer(f"{url}: the connection closed twice")  # pragma: no cover

    async def _connect(self, host: _Host, scheme: str, name: str, port: int
                       ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        address = host.address.strip("[]")
        if scheme == "https":
            return await asyncio.open_connection(address, port, ssl=self.tls or _tls(),
                                                 server_hostname=name)
        return await asyncio.open_connection(address, port)

    async def aclose(self) -> None:
        for host in self._hosts.values():
            host.close()
        self._hosts.clear()
