"""Custom domains: a tenant claims one, proves control with a DNS TXT record or a token file,
and only then is it served (and allowed a TLS certificate).

The two checks are functions passed to the app (``Verifiers``), so tests need no DNS and no web.
The default TXT lookup is a small DNS-over-UDP query to the system's resolver (standard library
only); the default token fetch is one plain HTTP GET to public addresses only (``web/outbound.py``).
"""

from __future__ import annotations

import contextlib
import re
import secrets
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx

from homeport.web import outbound

LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
TOKEN_PATH = "/.well-known/homeport"
TXT_PREFIX = "homeport="

TxtLookup = Callable[[str], Awaitable[list[str]]]
TokenFetch = Callable[[str], Awaitable[str | None]]


class DomainError(ValueError):
    """A name that is not a domain this provider can serve; the message says why."""


def normalise(text: str, base_domain: str) -> str:
    """The domain as served (lower case, IDNA), refusing what cannot be a tenant's own."""
    try:
        domain = text.strip().rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise DomainError(f"{text!r} is not a domain name") from None
    labels = domain.split(".")
    if len(domain) > 253 or len(labels) < 2 or not all(LABEL.match(label) for label in labels):
        raise DomainError(f"{text!r} is not a domain name")
    base = base_domain.lower().strip(".")
    if base and (domain == base or domain.endswith("." + base)):
        raise DomainError(f"{domain} lies under this provider's own domain {base}")
    return domain


def new_token() -> str:
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class Verifiers:
    txt: TxtLookup
    fetch: TokenFetch


async def proven(domain: str, token: str, verifiers: Verifiers) -> bool:
    """Whether the TXT record ``_homeport.<domain>`` or the token file shows ``token``."""
    with contextlib.suppress(OSError, ValueError, httpx.HTTPError):
        records = await verifiers.txt(f"_homeport.{domain}")
        if any(r.strip() == TXT_PREFIX + token for r in records):
            return True
    with contextlib.suppress(OSError, ValueError, httpx.HTTPError):
        body = await verifiers.fetch(domain)
        if body is not None and body.strip() == token:
            return True
    return False


async def fetch_token(
    domain: str, permitted: outbound.Permitted = outbound.public_only
) -> str | None:
    """The body of ``http://<domain>/.well-known/homeport`` (first 1 KiB), or None.

    The domain is the tenant's word, so the fetch goes only to public addresses (``outbound``).
    """
    try:
        fetched = await outbound.fetch(
            f"http://{domain}{TOKEN_PATH}", permitted=permitted, limit=1024
        )
    except outbound.FetchRefused:
        return None
    if fetched.status != 200:
        return None
    return fetched.body.decode("utf-8", "replace")


def _nameserver() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/etc/resolv.conf").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                return parts[1]
    return "127.0.0.1"


def _query(name: str) -> bytes:
    ident = secrets.randbelow(65536)
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0) + question + struct.pack(">HH", 16, 1)


def _skip_name(data: bytes, pos: int) -> int:
    while True:
        length = data[pos]
        if length & 0xC0 == 0xC0:
            return pos + 2
        if length == 0:
            return pos + 1
        pos += 1 + length


def _parse_txt(query: bytes, data: bytes) -> list[str]:
    if data[:2] != query[:2]:
        raise ValueError("DNS answer for another query")
    answers = struct.unpack(">H", data[6:8])[0]
    pos = _skip_name(data, 12) + 4
    found: list[str] = []
    for _ in range(answers):
        pos = _skip_name(data, pos)
        kind, _, _, length = struct.unpack(">HHIH", data[pos : pos + 10])
        pos += 10
        if kind == 16:
            rdata, texts, i = data[pos : pos + length], [], 0
            while i < len(rdata):
                texts.append(rdata[i + 1 : i + 1 + rdata[i]].decode("utf-8", "replace"))
                i += 1 + rdata[i]
            found.append("".join(texts))
        pos += length
    return found


def _lookup_txt_blocking(name: str) -> list[str]:
    query = _query(name)
    with socket.socket(
        socket.AF_INET6 if ":" in _nameserver() else socket.AF_INET, socket.SOCK_DGRAM
    ) as sock:
        sock.settimeout(3.0)
        sock.sendto(query, (_nameserver(), 53))
        data, _ = sock.recvfrom(4096)
    return _parse_txt(query, data)


async def lookup_txt(name: str) -> list[str]:
    """TXT records of ``name`` from the system's first nameserver (UDP, 3 s)."""
    return await anyio.to_thread.run_sync(_lookup_txt_blocking, name)


def verifiers_for(allow_private: bool) -> Verifiers:
    """The real checks, fetching private addresses only when ``fetch_allow_private`` says so."""
    permitted = outbound.policy(allow_private)

    async def fetch(domain: str) -> str | None:
        return await fetch_token(domain, permitted)

    return Verifiers(txt=lookup_txt, fetch=fetch)


DEFAULT = verifiers_for(False)
