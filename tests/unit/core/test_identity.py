"""The identity log: the root key authorises signing keys in a hash-linked chain."""

import copy

import pytest

from homeport.core.identity import IdentityError, current_key, next_operation, signing_bytes
from homeport.crypto.keys import did_key, keys_from_phrase
from homeport.crypto.signing import sign, verify

ROOT = keys_from_phrase(" ".join(["abandon"] * 23 + ["art"])).root
ROOT_DID = did_key(ROOT.public_key())


def log_of(*keys: str) -> list[dict]:
    log: list[dict] = []
    for i, key in enumerate(keys):
        op = next_operation(log, key, 1_700_000_000_000 + i)
        op["sig"] = sign(ROOT, signing_bytes(op))
        log.append(op)
    return log


def test_the_last_authorised_key_is_current() -> None:
    assert current_key(ROOT_DID, log_of("did:key:a", "did:key:b"), verify) == "did:key:b"


def test_a_forged_signature_is_named() -> None:
    log = log_of("did:key:a", "did:key:b")
    log[1]["key"] = "did:key:evil"
    with pytest.raises(IdentityError, match="operation 2: not signed by"):
        current_key(ROOT_DID, log, verify)


def test_a_dropped_operation_breaks_the_chain() -> None:
    log = log_of("did:key:a", "did:key:b", "did:key:c")
    with pytest.raises(IdentityError, match="operation 3: expected sequence number 2"):
        current_key(ROOT_DID, [log[0], log[2]], verify)


def test_an_operation_from_another_chain_does_not_follow() -> None:
    log = log_of("did:key:a", "did:key:b")
    other = log_of("did:key:x", "did:key:y")
    spliced = [log[0], copy.deepcopy(other[1])]
    with pytest.raises(IdentityError, match="operation 2: does not follow operation 1"):
        current_key(ROOT_DID, spliced, verify)


def test_an_empty_log_has_no_key() -> None:
    with pytest.raises(IdentityError):
        current_key(ROOT_DID, [], verify)
