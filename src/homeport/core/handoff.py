"""The handoff record: which copy of a home is its primary (the one that writes).

A home may exist in several places at once (a hosted copy at a provider, a device, a lost
laptop). Exactly one writes; the others are standbys. The root key (the recovery phrase) says
which by signing a handoff naming the primary's device key, with an epoch that only grows:
providers keep the highest epoch they have seen and refuse writes signed by any other key, and
a handoff whose epoch is not above the one they hold, so of two devices racing to become
primary with the same epoch, exactly one wins at a provider. Pure rules; the signature check
is passed in (``core.identity.Verify``). The format is in ``docs/format.md``.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from homeport.core.canonical import canonical
from homeport.core.identity import Verify, signing_bytes

TYPE = "homeport-handoff"
VERSION = 1
FIELDS = frozenset({"type", "v", "did", "epoch", "primary", "where", "issued", "sig"})
MAX_WHERE = 300
MAX_EPOCH = 2**53 - 1


class HandoffError(ValueError):
    """A handoff that does not verify, or that may not replace the one held; says why."""


@dataclass(frozen=True)
class Handoff:
    did: str
    epoch: int
    primary: str
    where: str
    issued: int
    doc: dict[str, Any]

    @property
    def digest(self) -> str:
        """The SHA-256 of the signed record, to tell two records of one epoch apart."""
        return hashlib.sha256(canonical(self.doc)).hexdigest()


def unsigned(did: str, epoch: int, primary: str, where: str, now_ms: int) -> dict[str, Any]:
    """The record to sign: ``primary`` (a device key's did) writes from ``epoch`` on."""
    return {
        "type": TYPE,
        "v": VERSION,
        "did": did,
        "epoch": epoch,
        "primary": primary,
        "where": where[:MAX_WHERE],
        "issued": now_ms,
    }


def parse(doc: Any, did: str, verify: Verify) -> Handoff:
    """Check a record's shape and its root signature for identity ``did``."""
    if not isinstance(doc, dict):
        raise HandoffError("a handoff is a JSON object")
    extra = set(doc) - FIELDS
    if extra:
        raise HandoffError(f"unknown field {sorted(extra)[0]!r}")
    if doc.get("type") != TYPE or doc.get("v") != VERSION:
        raise HandoffError(f"not a {TYPE} record of version {VERSION}")
    epoch, issued = doc.get("epoch"), doc.get("issued")
    for name, value in (("epoch", epoch), ("issued", issued)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_EPOCH:
            raise HandoffError(f"{name} must be a positive whole number")
    primary, where = doc.get("primary"), doc.get("where")
    if not isinstance(primary, str) or not primary.startswith("did:key:"):
        raise HandoffError("primary must be a did:key")
    if not isinstance(where, str) or len(where) > MAX_WHERE:
        raise HandoffError(f"where must be text of at most {MAX_WHERE} characters")
    if doc.get("did") != did:
        raise HandoffError("the handoff is for another identity")
    sig = doc.get("sig")
    if not isinstance(sig, str) or not verify(did, signing_bytes(doc), _unb64(sig)):
        raise HandoffError(f"the handoff is not signed by the root key of {did}")
    assert isinstance(epoch, int) and isinstance(issued, int)
    return Handoff(did, epoch, primary, where, issued, dict(doc))


def follows(held: Handoff | None, new: Handoff) -> bool:
    """Whether ``new`` may replace ``held``: a higher epoch. The same record again is not a
    change (the caller answers it as done); another record of the same epoch lost the race."""
    return held is None or new.epoch > held.epoch


def is_primary(held: Handoff | None, key: str) -> bool:
    """Whether ``key`` may write: it is the primary named, or no handoff was ever made (a home
    that never moved: its key in force writes, as before handoffs existed)."""
    return held is None or held.primary == key


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        return b""
