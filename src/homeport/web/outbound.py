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


class Session:
    """Many requests to many hosts within the rule, each host on a small pool of connections
    of its own: each host is resolved and checked once per ``ttl`` seconds and the connection
    goes to that checked address (ActivityPub delivery: thousands of POSTs in a burst, where a
    client per request would cost a connection and a TLS handshake each, and one pool for all
    hosts spends its time looking for a free connection among all of them). No redirects
    are followed."""

    def __init__(self, permitted: Permitted = public_only, timeout: float = 10.0,
                 per_host: int = 4, hosts: int = 256, ttl: float = 60.0) -> None:
        self.permitted = permitted
        self.timeout = timeout
        self.per_host = per_host
        self.hosts = hosts
        self.ttl = ttl
        self._clients: OrderedDict[tuple[str, str, int], tuple[httpx.AsyncClient, str, float]]
        self._clients = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()

    async def _client(self, url: str) -> tuple[httpx.AsyncClient, str, str, str]:
        """The host's client, the URL with the checked address in place of the name, the
        ``Host`` and the name for TLS."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchRefused(f"{url!r} is not an http(s) address")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise FetchRefused(f"{url!r} has no valid port") from None
        key = (parts.scheme, parts.hostname, port)
        now = anyio.current_time()
        found = self._clients.get(key)
        if found is None or found[2] < now:
            address = await _address(parts.hostname, port, self.permitted)
            client = found[0] if found is not None and found[1] == address else None
            if client is None:
                if found is not None:
                    self._close(found[0])
                client = httpx.AsyncClient(
                    timeout=self.timeout, follow_redirects=False, verify=_tls(),
                    limits=httpx.Limits(max_connections=self.per_host,
                                        max_keepalive_connections=self.per_host),
                )
            found = (client, address, now + self.ttl)
            self._clients[key] = found
            while len(self._clients) > self.hosts:
                self._close(self._clients.popitem(last=False)[1][0])
        self._clients.move_to_end(key)
        pinned = parts._replace(netloc=f"{found[1]}:{port}").geturl()
        return found[0], pinned, parts.netloc.rsplit("@", 1)[-1], parts.hostname

    def _close(self, client: httpx.AsyncClient) -> None:
        task = asyncio.get_running_loop().create_task(client.aclose())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def send(self, method: str, url: str, headers: dict[str, str],
                   content: bytes | None = None, limit: int = 16 * 1024) -> Fetched:
        client, pinned, host, name = await self._client(url)
        request = client.build_request(
            method, pinned, headers={"Host": host, **headers}, content=content,
            extensions={"sni_hostname": name},
        )
        with anyio.fail_after(self.timeout):
            response = await client.send(request, stream=True)
            try:
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > limit:
                        break
                kind = response.headers.get("content-type", "").split(";")[0]
                return Fetched(response.status_code, body[:limit], url, kind.strip().lower(),
                               response.headers)
            finally:
                await response.aclose()

    async def aclose(self) -> None:
        for client, _, _ in self._clients.values():
            await client.aclose()
        self._clients.clear()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
