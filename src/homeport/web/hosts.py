"""Which ``Host`` names the home answers to: the defence against DNS rebinding.

A page on ``evil.example`` can re-point its own name at 127.0.0.1; the browser then sends the
home requests that carry ``Host: evil.example`` and treats the answers as same-origin to the
attacker's page. The name in ``Host`` is the one thing such a request cannot fake, so the home
answers only to names that cannot be rebound: ``localhost`` (browsers resolve it and its
subdomains to loopback themselves), IP address literals (no DNS is involved, so the page's
origin *is* that address), ``homeport.local`` while ``lan_access`` is on, and the names the
owner lists in ``allowed_hosts``.
"""

from __future__ import annotations

import ipaddress

from starlette.requests import Request

from homeport.settings import Settings

LAN_NAME = "homeport.local"


def host_name(header: str) -> str | None:
    """The lower-case name or address in a ``Host`` value without its port; None when the value
    is not of the form ``name[:port]`` or ``[v6]:port``."""
    value = header.strip().lower()
    if value.startswith("["):
        address, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        return address
    name, colon, port = value.rpartition(":")
    if not colon:
        name = value
    elif not port.isdigit():
        return None
    name = name.removesuffix(".")
    return name or None


def is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostRules:
    """The names one home answers to, built once from its settings."""

    def __init__(self, settings: Settings) -> None:
        names = {"localhost"}
        if settings.lan_access:
            names.add(LAN_NAME)
        suffixes = [".localhost"]
        for entry in settings.allowed_hosts:
            entry = entry.strip().lower().removesuffix(".")
            if entry.startswith("."):
                suffixes.append(entry)
                names.add(entry[1:])
            elif entry:
                names.add(entry)
        self.names = frozenset(names)
        self.suffixes = tuple(suffixes)

    def allows(self, header: str | None) -> bool:
        """True for an allowed ``Host`` value; a request without one (HTTP/1.0, not a browser)
        is let through, since rebinding always comes from a browser, which always sends it."""
        if header is None:
            return True
        name = host_name(header)
        if name is None:
            return False
        return name in self.names or name.endswith(self.suffixes) or is_ip_literal(name)


def origin_of(request: Request) -> str:
    """The origin for the links the home writes (redirects, ``Next-Page``, attachment
    locations, the preview's base URL): the name the client used, which ``AllowedHosts`` has
    already checked, so a link leads back the way the client came (``localhost``, a LAN
    address, ``homeport.local``) and never to a name the home does not answer to. Without a
    ``Host`` (HTTP/1.0), the address the connection reached."""
    host = request.headers.get("host")
    if not host:
        server = request.scope.get("server") or ("127.0.0.1", 80)
        address = f"[{server[0]}]" if ":" in str(server[0]) else str(server[0])
        host = f"{address}:{server[1]}"
    return f"{request.url.scheme}://{host}"
