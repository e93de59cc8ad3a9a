"""Commits: parsing, the chain rules and signatures against the identity log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from homeport.core import commits
from homeport.core.commits import Commit, CommitError
from homeport.core.objects import ObjectType, public_id
from homeport.crypto.signing import sign, verify
from homeport.services import identity as ids

ROOT = bytes(range(32))


@pytest.fixture
def home(tmp_path: Path) -> tuple[ids.Identity, Ed25519PrivateKey, Path]:
    identity, _ = ids.create(tmp_path, keep_root_key=True)
    key = Ed25519PrivateKey.from_private_bytes(ids.secret(tmp_path, "signing.key"))
    return identity, key, tmp_path


def make(
    who: ids.Identity,
    key: Ed25519PrivateKey,
    previous: Commit | None,
    *,
    root: bytes = ROOT,
    identity_seq: int = 1,
    key_did: str | None = None,
    **overrides: Any,
) -> Commit:
    doc = commits.unsigned_body(
        seq=previous.seq + 1 if previous else 1,
        prev=previous.id if previous else None,
        root=root,
        created=1_795_400_000_000,
        identity=who.did,
        key=key_did or who.operations[identity_seq - 1]["key"],
        identity_seq=identity_seq,
        objects=3,
        size=100,
    )
    doc.update(overrides)
    doc["sig"] = sign(key, commits.signing_bytes(doc))
    body = commits.body(doc)
    links = (root,) if doc["prev"] is None else (root, bytes.fromhex(doc["prev"]))
    oid = public_id(ObjectType.COMMIT, links, body)
    return commits.parse(oid, body, links)


def test_a_chain_of_signed_commits_verifies(
    home: tuple[ids.Identity, Ed25519PrivateKey, Path],
) -> None:
    identity, key, _ = home
    first = make(identity, key, None)
    second = make(identity, key, first)
    commits.check_link(None, first, identity.did)
    commits.check_link(first, second, identity.did)
    for c in (first, second):
        commits.check_signature(c, identity.operations, verify)
    assert second.links == (ROOT, first.id)
    assert first.links == (ROOT,)
    assert first.doc["version"] == 1 and first.objects == 3 and first.size == 100


def test_the_body_is_canonical_json_and_the_signature_covers_everything_but_sig(
    home: tuple[ids.Identity, Ed25519PrivateKey, Path],
) -> None:
    identity, key, _ = home
    c = make(identity, key, None)
    raw = commits.body(c.doc)
    assert raw.startswith(b'{"created":') and b" " not in raw
    tampered = dict(c.doc, created=c.created + 1)
    forged = commits.parse(c.id, commits.body(tampered), c.links)
    with pytest.raises(CommitError, match="bad signature"):
        commits.check_signature(forged, identity.operations, verify)


@pytest.mark.parametrize(
    "case, message",
    [
        ("first-with-seq-2", "first commit must have seq 1"),
        ("gap", "does not follow commit 1"),
        ("wrong-prev", "does not follow commit 1"),
        ("other-identity", "made by"),
    ],
)
def test_broken_links_are_named(
    home: tuple[ids.Identity, Ed25519PrivateKey, Path], case: str, message: str
) -> None:
    identity, key, _ = home
    first = make(identity, key, None)
    if case == "first-with-seq-2":
        bad = make(identity, key, None, seq=2)
        with pytest.raises(CommitError, match=message):
            commits.check_link(None, bad, identity.did)
        return
    if case == "gap":
        bad = make(identity, key, first, seq=3)
    elif case == "wrong-prev":
        other = make(identity, key, None, root=bytes(32))
        bad = make(identity, key, other)
    else:
        bad = make(identity, key, first, identity="did:key:z6MkOther")
    with pytest.raises(CommitError, match=message) as err:
        commits.check_link(first, bad, identity.did)
    assert f"commit {bad.seq} ({bad.id.hex()[:12]})" in str(err.value)


def test_a_rotated_out_key_cannot_sign_after_its_successor(
    home: tuple[ids.Identity, Ed25519PrivateKey, Path],
) -> None:
    _identity, old_key, data = home
    rotated = ids.rotate(data)
    new_key = Ed25519PrivateKey.from_private_bytes(ids.secret(data, "signing.key"))
    assert len(rotated.operations) == 2
    first = make(rotated, old_key, None, identity_seq=1)
    second = make(rotated, new_key, first, identity_seq=2)
    commits.check_link(first, second, rotated.did)
    commits.check_signature(first, rotated.operations, verify)
    commits.check_signature(second, rotated.operations, verify)
    late = make(rotated, old_key, second, identity_seq=1)
    with pytest.raises(CommitError, match="rotated-out key"):
        commits.check_link(second, late, rotated.did)
    # claiming the new operation while signing with the old key fails the signature
    liar = make(rotated, old_key, second, identity_seq=2)
    with pytest.raises(CommitError, match="bad signature"):
        commits.check_signature(liar, rotated.operations, verify)


def test_a_key_the_operation_did_not_authorise_is_refused(
    home: tuple[ids.Identity, Ed25519PrivateKey, Path],
) -> None:
    identity, key, _ = home
    stranger = Ed25519PrivateKey.generate()
    from homeport.crypto.keys import did_key

    c = make(identity, stranger, None, key_did=did_key(stranger.public_key()))
    with pytest.raises(CommitError, match="authorised"):
        commits.check_signature(c, identity.operations, verify)
    c = make(identity, key, None, identity_seq=5, key_did=identity.signing_key)
    with pytest.raises(CommitError, match="operation 5, unknown"):
        commits.check_signature(c, identity.operations, verify)


def test_parse_refuses_bad_bodies_and_mismatched_links(
    home: tuple[ids.Identity, Ed25519PrivateKey, Path],
) -> None:
    identity, key, _ = home
    c = make(identity, key, None)
    with pytest.raises(CommitError, match="links do not match"):
        commits.parse(c.id, commits.body(c.doc), (bytes(32),))
    with pytest.raises(CommitError, match="unknown version 2"):
        commits.parse(c.id, commits.body(dict(c.doc, version=2)), c.links)
    with pytest.raises(CommitError, match="not a commit body"):
        commits.parse(c.id, b"[1, 2]", c.links)
    with pytest.raises(CommitError, match=c.id.hex()[:12]):
        commits.parse(c.id, b'{"version": 1}', c.links)
