"""The handoff record's rules (``core/handoff.py``): shape, root signature, epochs."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from homeport.core.handoff import HandoffError, follows, is_primary, parse
from homeport.core.identity import signing_bytes
from homeport.crypto.keys import did_key
from homeport.crypto.signing import sign, verify
from homeport.services.handoff import signed

ROOT = Ed25519PrivateKey.generate()
DID = did_key(ROOT.public_key())
DEVICE = did_key(Ed25519PrivateKey.generate().public_key())


def test_a_signed_record_parses_and_later_epochs_follow() -> None:
    first = parse(signed(ROOT, 1, DEVICE, "a laptop"), DID, verify)
    second = parse(signed(ROOT, 2, DID, "home"), DID, verify)
    assert (first.epoch, first.primary, first.where) == (1, DEVICE, "a laptop")
    assert follows(None, first) and follows(first, second)
    assert not follows(second, first) and not follows(first, first)
    assert is_primary(None, DEVICE) and is_primary(first, DEVICE)
    assert not is_primary(second, DEVICE)
    assert first.digest != second.digest


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"epoch": 0}, "epoch"),
        ({"epoch": True}, "epoch"),
        ({"epoch": 2**53}, "epoch"),
        ({"primary": "someone"}, "did:key"),
        ({"where": "x" * 301}, "where"),
        ({"type": "homeport-delegation"}, "not a homeport-handoff"),
        ({"more": 1}, "unknown field"),
        ({"did": DEVICE}, "another identity"),
    ],
)
def test_bad_records_say_why(change: dict[str, object], why: str) -> None:
    doc = {**signed(ROOT, 3, DEVICE, "a laptop"), **change}
    doc["sig"] = sign(ROOT, signing_bytes(doc))  # signed as changed: the shape is refused
    with pytest.raises(HandoffError, match=why):
        parse(doc, DID, verify)


def test_only_the_root_signs() -> None:
    device = Ed25519PrivateKey.generate()
    doc = signed(ROOT, 1, DEVICE, "")
    with pytest.raises(HandoffError, match="not signed"):
        parse({**doc, "sig": sign(device, signing_bytes(doc))}, DID, verify)
    with pytest.raises(HandoffError, match="not signed"):
        parse({**doc, "epoch": 2}, DID, verify)
    with pytest.raises(HandoffError):
        parse("not a record", DID, verify)
