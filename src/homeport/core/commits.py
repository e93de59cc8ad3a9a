"""Commits: the signed statement "this root is the whole state of this home, after that commit".

A commit is a public object (type COMMIT) whose links are its root and, after the first, the
previous commit; its body is canonical JSON::

    {"version": 1, "seq": 7, "prev": "<hex id>" | null, "root": "<hex id>",
     "created": <ms>, "identity": "did:key:…root", "key": "did:key:…device",
     "identity_seq": 2, "stats": {"objects": 12, "bytes": 40960}, "sig": "<base64url>"}

``sig`` is the device key's Ed25519 signature over the canonical JSON without ``sig``. The key
must be the one that identity operation ``identity_seq`` authorised, and ``identity_seq`` never
goes down along a chain, so a rotated-out key cannot sign a commit that follows one made after
the rotation. ``stats`` counts the objects this commit added to the repository and their stored
size. The checks here take the signature check as a function: the core does no cryptography.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from homeport.core.canonical import canonical
from homeport.core.identity import Verify

VERSION = 1


class CommitError(ValueError):
    """A commit or chain that does not verify; the message names the commit and the reason."""


@dataclass(frozen=True)
class Commit:
    id: bytes
    seq: int
    prev: bytes | None
    root: bytes
    created: int
    identity: str
    key: str
    identity_seq: int
    objects: int
    size: int
    doc: dict[str, Any]

    @property
    def links(self) -> tuple[bytes, ...]:
        return (self.root,) if self.prev is None else (self.root, self.prev)


def unsigned_body(
    *,
    seq: int,
    prev: bytes | None,
    root: bytes,
    created: int,
    identity: str,
    key: str,
    identity_seq: int,
    objects: int,
    size: int,
) -> dict[str, Any]:
    return {
        "version": VERSION,
        "seq": seq,
        "prev": prev.hex() if prev else None,
        "root": root.hex(),
        "created": created,
        "identity": identity,
        "key": key,
        "identity_seq": identity_seq,
        "stats": {"objects": objects, "bytes": size},
    }


def signing_bytes(doc: dict[str, Any]) -> bytes:
    return canonical({k: v for k, v in doc.items() if k != "sig"})


def body(doc: dict[str, Any]) -> bytes:
    return canonical(doc)


def parse(commit_id: bytes, raw: bytes, links: tuple[bytes, ...]) -> Commit:
    """Read a commit body; structural problems raise CommitError naming the commit."""
    name = commit_id.hex()[:12]
    try:
        doc = json.loads(raw)
        if doc.get("version") != VERSION:
            raise CommitError(f"commit {name}: unknown version {doc.get('version')!r}")
        prev = bytes.fromhex(doc["prev"]) if doc["prev"] is not None else None
        stats = doc["stats"]
        commit = Commit(
            id=commit_id,
            seq=int(doc["seq"]),
            prev=prev,
            root=bytes.fromhex(doc["root"]),
            created=int(doc["created"]),
            identity=str(doc["identity"]),
            key=str(doc["key"]),
            identity_seq=int(doc["identity_seq"]),
            objects=int(stats["objects"]),
            size=int(stats["bytes"]),
            doc=doc,
        )
    except CommitError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError):
        raise CommitError(f"commit {name}: not a commit body") from None
    if commit.links != links:
        raise CommitError(f"commit {name}: its links do not match its root and prev")
    return commit


def check_signature(commit: Commit, operations: Sequence[dict[str, Any]], verify: Verify) -> None:
    """The commit is signed by the key that identity operation ``identity_seq`` authorised.
    ``operations`` must already have been verified against the identity."""
    name = f"commit {commit.seq} ({commit.id.hex()[:12]})"
    if not 1 <= commit.identity_seq <= len(operations):
        raise CommitError(f"{name}: refers to identity operation {commit.identity_seq}, unknown")
    authorised = operations[commit.identity_seq - 1].get("key")
    if commit.key != authorised:
        raise CommitError(
            f"{name}: signed by {commit.key}, but operation {commit.identity_seq} "
            f"authorised {authorised}"
        )
    sig = commit.doc.get("sig")
    if not isinstance(sig, str) or not verify(commit.key, signing_bytes(commit.doc), _unb64(sig)):
        raise CommitError(f"{name}: bad signature")


def check_link(previous: Commit | None, commit: Commit, identity: str) -> None:
    """``commit`` may follow ``previous`` (None: it is the first of the chain)."""
    name = f"commit {commit.seq} ({commit.id.hex()[:12]})"
    if commit.identity != identity:
        raise CommitError(f"{name}: made by {commit.identity}, not {identity}")
    if previous is None:
        if commit.prev is not None or commit.seq != 1:
            raise CommitError(f"{name}: the first commit must have seq 1 and no prev")
        return
    if commit.prev != previous.id or commit.seq != previous.seq + 1:
        raise CommitError(f"{name}: does not follow commit {previous.seq}")
    if commit.identity_seq < previous.identity_seq:
        raise CommitError(
            f"{name}: signed under identity operation {commit.identity_seq}, older than its "
            f"predecessor's {previous.identity_seq} (a rotated-out key)"
        )


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        return b""
