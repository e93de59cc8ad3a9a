"""Host → tenant: the one rule for which tenant a request's ``Host`` names, shared by the site
server, the live web's ports, Caddy's TLS question and hosted homes.

A tenant is named by ``<name>.<base domain>`` (exactly one label under it) or by a custom domain
it has verified; ``www.<domain>`` is an alias of a verified ``<domain>``, answered with a
redirect, so it gets a certificate too. Whether the tenant may be served (its state) is the
caller's to say: the site server answers a deleted one with 410, the others ignore it.
"""

from __future__ import annotations

from typing import Protocol

from homeport.provider.db import ACTIVE, Domain, Tenant


class Registry(Protocol):
    """What the rule reads: ``TenantStore`` and ``ProviderDB`` both provide it."""

    def tenant(self, name: str) -> Tenant | None: ...
    def domain(self, domain: str) -> Domain | None: ...


def host_of(value: str) -> str:
    """The host a ``Host`` header names, lower-case, without port or trailing dot."""
    host = value.strip().lower()
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return (host.rsplit(":", 1)[0] if ":" in host else host).rstrip(".")


def label_of(host: str, base_domain: str) -> str | None:
    """``name`` when ``host`` is ``name.<base domain>`` with one label; None otherwise."""
    base = base_domain.lower().strip(".")
    if not base or not host.endswith("." + base):
        return None
    name = host[: -len(base) - 1]
    return name if name and "." not in name else None


def tenant_for_host(registry: Registry, base_domain: str, host: str) -> Tenant | None:
    """The tenant ``host`` names (in any state), or None. Below the base domain only a label
    names one, never a custom domain."""
    base = base_domain.lower().strip(".")
    if base and host.endswith("." + base):
        name = label_of(host, base)
        return None if name is None else registry.tenant(name)
    domain = registry.domain(host)
    if domain is None or not domain.verified:
        return None
    return registry.tenant(domain.tenant)


def www_alias(registry: Registry, host: str) -> str | None:
    """The verified custom domain ``host`` (``www.<domain>``) redirects to, or None."""
    if not host.startswith("www."):
        return None
    bare = host[4:]
    return bare if tenant_for_host(registry, "", bare) is not None else None


def serves(registry: Registry, base_domain: str, host: str) -> bool:
    """Whether an active tenant answers at ``host``, directly or through its ``www.`` alias:
    what Caddy's on-demand TLS may get a certificate for."""
    tenant = tenant_for_host(registry, base_domain, host)
    if tenant is None and (bare := www_alias(registry, host)) is not None:
        tenant = tenant_for_host(registry, "", bare)
    return tenant is not None and tenant.state == ACTIVE
