"""Identity operations: the root key authorises which device key signs, in a hash-linked log.

Each operation names the signing key that is current from then on. It is signed by the root key
(derived from the recovery phrase) over its canonical JSON without the ``sig`` field, and links
to the previous operation by the SHA-256 of that one's canonical JSON (``sig`` included), so the
log can be neither reordered nor trimmed in the middle without detection. Verification takes the
signature check as a function: the core does no cryptography.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from homeport.core.canonical import canonical

VERSION = 1
AUTHORIZE = "authorize-signing-key"

Verify = Callable[[str, bytes, bytes], bool]
"""``verify(did, message, signature)``: whether ``did``'s key signed ``message``."""


class IdentityError(ValueError):
    """An identity log that does not verify; the message says which operation and why."""


def unsigned(op: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in op.items() if k != "sig"}


def signing_bytes(op: dict[str, Any]) -> bytes:
    return canonical(unsigned(op))


def op_hash(op: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(op)).hexdigest()


def next_operation(log: Sequence[dict[str, Any]], key_did: str, now_ms: int) -> dict[str, Any]:
    """The unsigned operation that authorises ``key_did`` after ``log``."""
    previous = log[-1] if log else None
    return {
        "type": AUTHORIZE,
        "seq": (previous["seq"] + 1) if previous else 1,
        "prev": op_hash(previous) if previous else None,
        "key": key_did,
        "created": now_ms,
    }


def current_key(root_did: str, log: Sequence[dict[str, Any]], verify: Verify) -> str:
    """Check the whole log against the root identity; return the signing key now in force."""
    if not log:
        raise IdentityError("the identity has no authorised signing key")
    previous: dict[str, Any] | None = None
    for op in log:
        seq = op.get("seq")
        if op.get("type") != AUTHORIZE:
            raise IdentityError(f"operation {seq}: unknown type {op.get('type')!r}")
        expected_seq = previous["seq"] + 1 if previous else 1
        if seq != expected_seq:
            raise IdentityError(f"operation {seq}: expected sequence number {expected_seq}")
        expected_prev = op_hash(previous) if previous else None
        if op.get("prev") != expected_prev:
            raise IdentityError(f"operation {seq}: does not follow operation {expected_seq - 1}")
        sig = op.get("sig")
        if not isinstance(sig, str) or not verify(root_did, signing_bytes(op), _unb64(sig)):
            raise IdentityError(f"operation {seq}: not signed by {root_did}")
        previous = op
    assert previous is not None
    return str(previous["key"])


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        return b""
