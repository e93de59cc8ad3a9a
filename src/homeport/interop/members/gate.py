"""What the site server calls for a page that has a sealed members' version: the whole page
for a signed-in member whose tier allows it, opened with the key the home delegated to this
provider (power ``members-content``); None for anyone else, who gets the public teaser."""

from __future__ import annotations

import html
import re

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
PASSKEY_MEMBER = "a member, with a passkey"
"""How pages name a member signed in by passkey."""


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
        whole = open_page(bytes.fromhex(key), rel, sealed)
    except ValueError:
        return None
    return None if whole is None else with_bar(whole, claim.email)


def with_bar(page: bytes, who: str) -> bytes:
    """The page with a bar after its ``<body>`` tag saying who is signed in, with *Sign out*
    (``POST /_homeport/members/signout``) and a link to the member's page."""
    name = PASSKEY_MEMBER if who.startswith(HASHED) else who
    bar = ("<div class=members-bar role=region aria-label=Membership>Signed in as <strong>"
           f"{html.escape(name)}</strong> · <a href=/_homeport/members/account>Your "
           "membership</a> <form method=post action=/_homeport/members/signout "
           "style='display:inline'><button>Sign out</button></form></div>").encode()
    found = re.search(rb"<body[^>]*>", page, re.IGNORECASE)
    at = found.end() if found else 0
    return page[:at] + bar + page[at:]
