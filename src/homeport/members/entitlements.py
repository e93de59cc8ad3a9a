"""Entitlements: who may read what, in a form a provider can check at sign-in without holding
a readable member list. Pure: the home builds the document, the provider looks one address up.

The document (``_homeport/members/entitlements.json`` in each published site, inside the
signed snapshot, never served: ``/_homeport/`` paths are the provider's endpoints) maps a keyed
hash of each member's address to the tier they may read and until when::

    {"v": 1, "did": "did:key:z6Mk…", "members": {"<hash>": ["gold", 1798000000000], …}}

``hash`` is base64url (no padding) of the first 16 bytes of HMAC-SHA256 keyed with
``homeport-members-v1:`` + the site's ``did``, over the normalised address. A provider learns an
address only when its owner signs in there (it sends them the link); it can test addresses it
already knows, which it could do by asking anyway. The tier ``""`` is a member without a paid
tier in force (what ``members`` entries need); ``until`` is ``null`` or milliseconds, after
which that tier no longer counts (a paid period that ran out while the home was away).

Members' passkeys, when any member has one, are under ``"passkeys"``: the credential id
(base64url) → ``[hash, public_key, rp_id]`` (the member's address hash as above, the COSE public
key in base64url, the host the credential was made for). A provider checks a passkey sign-in
against it and lets the member in as that hash, without learning their address.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any

from homeport.core.canonical import canonical
from homeport.members.model import MemberError, entitled_tier, normal_email

PATH = "_homeport/members/entitlements.json"
"""Where, in a published site, the document is (relative to the site's root)."""
VERSION = 1


def address_hash(did: str, email: str) -> str:
    key = f"homeport-members-v1:{did}".encode()
    digest = hmac.new(key, normal_email(email).encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def document(did: str, members: Iterable[Mapping[str, Any]], now: int) -> dict[str, Any]:
    """The entitlements of every member with an address. A paid member's entry keeps the
    date their period ends, so a provider stops granting the tier then even if the home does
    not publish again."""
    entries: dict[str, list[Any]] = {}
    keys: dict[str, list[str]] = {}
    for member in members:
        email = member.get("email")
        if not isinstance(email, str) or not email:
            continue
        tier = entitled_tier(member, now)
        until = member.get("paid_until") if tier and member.get("status") == "paid" else None
        hashed = address_hash(did, email)
        entries[hashed] = [tier, until]
        for key in member.get("passkeys") or ():
            if isinstance(key, Mapping) and all(
                    isinstance(key.get(f), str) for f in ("credential_id", "public_key", "rp_id")):
                keys[key["credential_id"]] = [hashed, key["public_key"], key["rp_id"]]
    doc: dict[str, Any] = {"v": VERSION, "did": did, "members": dict(sorted(entries.items()))}
    if keys:
        doc["passkeys"] = dict(sorted(keys.items()))
    return doc


def canonical_bytes(doc: Mapping[str, Any]) -> bytes:
    """The document as published: canonical JSON, so equal members give equal bytes."""
    return canonical(doc)


def lookup(doc: Mapping[str, Any], email: str, now: int) -> str | None:
    """The tier the holder of ``email`` may read now (``""``: any member's entries only), or
    None when they are not a member (or the document is not one this code reads)."""
    did = doc.get("did")
    if doc.get("v") != VERSION or not isinstance(did, str):
        return None
    try:
        hashed = address_hash(did, email)
    except MemberError:
        return None
    return lookup_hash(doc, hashed, now)


def lookup_hash(doc: Mapping[str, Any], hashed: str, now: int) -> str | None:
    """``lookup`` for a member known only by their address hash (signed in by passkey)."""
    members = doc.get("members")
    if doc.get("v") != VERSION or not isinstance(members, dict):
        return None
    found = members.get(hashed)
    if not isinstance(found, list) or len(found) != 2 or not isinstance(found[0], str):
        return None
    tier: str = found[0]
    until = found[1]
    if tier and isinstance(until, int) and until <= now:
        return ""
    return tier


def passkey(doc: Mapping[str, Any], credential_id: str) -> tuple[str, str, str] | None:
    """``(address hash, public key, rp_id)`` of a member's passkey, or None."""
    keys = doc.get("passkeys")
    found = keys.get(credential_id) if isinstance(keys, dict) else None
    if (doc.get("v") != VERSION or not isinstance(found, list) or len(found) != 3
            or not all(isinstance(part, str) for part in found)):
        return None
    return found[0], found[1], found[2]
