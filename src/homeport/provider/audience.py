"""Which audiences this provider answers to: the origins a home may have signed for.

A signature names the provider it is meant for (``sync.auth``), so it is compared with what the
provider knows itself as, never with the request's ``Host`` header, which whoever replays a
request writes. Configured public addresses (``provider_public_url``) are the whole list when
given. Without them the provider answers as ``https://<base_domain>`` and, for a request that
reached its socket directly, as that socket's own address (what a home on the same network or
machine dials); a request that came through a front proxy (it carries ``Forwarded`` or
``X-Forwarded-*``) does not get the socket's address, since the home dialled the proxy's
public one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeport.settings import Settings, SettingsError
from homeport.sync.auth import origin

FORWARDING_HEADERS = (b"forwarded", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host")
LOOPBACK = ("127.0.0.1", "::1")


def configured(settings: Settings) -> tuple[str, ...]:
    """The configured public addresses as origins; SettingsError for one that is not."""
    found = []
    for url in settings.provider_public_url:
        try:
            found.append(origin(url))
        except ValueError as exc:
            raise SettingsError(f"setting 'provider_public_url': {exc}") from None
    return tuple(found)


def accepted(settings: Settings, public: tuple[str, ...], scope: Mapping[str, Any]) -> set[str]:
    """The audiences a request arriving with ``scope`` may name."""
    if public:
        return set(public)
    found = set()
    if settings.base_domain:
        found.add(origin(f"https://{settings.base_domain.strip('.')}"))
    headers = {name.lower() for name, _ in scope.get("headers", [])}
    server = scope.get("server")
    if server and not headers.intersection(FORWARDING_HEADERS):
        host, port = str(server[0]), server[1]
        scheme = str(scope.get("scheme") or "http")
        names = [host, "localhost"] if host in LOOPBACK else [host]
        for name in names:
            shown = f"[{name}]" if ":" in name else name
            try:  # no port: the scheme's own; a unix socket's path is no address to sign for
                found.add(origin(f"{scheme}://{shown}" + ("" if port is None else f":{port}")))
            except ValueError:
                continue
    return found
