"""What the site server calls for a page that has a sealed members' version: the whole page
for a signed-in member whose tier allows it, opened with the key the home delegated to this
provider (power ``members-content``); None for anyone else, who gets the public teaser."""

from __future__ import annotations

from homeport.interop.members import tokens
from homeport.interop.ports import ProviderPorts
from homeport.members.model import visible_to
from homeport.members.sealing import PAGES, open_page, tier_of

CONTENT_POWER = "members-content"
"""Delegation power: ``params.keys`` maps a tier id (and ``members``) to its content key,
hex; the provider opens those tiers' pages. Withdrawn by ``providers rules URL
--members-content off``."""


HASHED = "#"
"""A session's ``email`` starting with this is a member signed in by passkey: the rest is their
address hash (``members/entitlements.py``); the provider never learnt the address."""


def member_tier(ports: ProviderPorts, tenant: str, who: str) -> str | None:
    if ports.members is None:
        return None
    if who.startswith(HASHED):
        return ports.members.entitlement_of(tenant, who[len(HASHED):])
    return ports.members.entitlement(tenant, who)


def members_page(ports: ProviderPorts, tenant: str, host: str, rel: str, session: str
                 ) -> bytes | None:
    if ports.once is None or ports.members is None:
        return None
    claim = tokens.open_session(ports.once, session, host, ports.clock())
    if claim is None:
        return None
    tier = member_tier(ports, tenant, claim.email)
    if tier is None:
        return None
    sealed = ports.members.site_file(tenant, PAGES + rel)
    page_tier = tier_of(sealed) if sealed else None
    if sealed is None or page_tier is None or not visible_to(page_tier, tier):
        return None
    found = ports.grants.delegation(tenant, CONTENT_POWER)
    keys = found.params.get("keys") if found is not None else None
    key = keys.get(page_tier) if isinstance(keys, dict) else None
    if not isinstance(key, str):
        return None
    try:
        return open_page(bytes.fromhex(key), rel, sealed)
    except ValueError:
        return None
