"""Creating, restoring and rotating a home's identity, and keeping its keys in the data dir.

Everything secret is written 0600 through a temporary file, fsync and rename, so a crash leaves
either the old file or the new one. ``identity.json`` is written last: until it exists the home
has no identity, and whatever key files a killed ``init``, restore or import left are only the
start of an unfinished write, which the next attempt clears (``clear_unfinished``) and redoes
from the phrase. The recovery phrase is never written; the root key only when the person asks
for it (``keep_root_key``), otherwise identity operations ask for the phrase.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from homeport.core.identity import VERSION, current_key, next_operation, signing_bytes
from homeport.crypto.keys import (
    PhraseKeys,
    did_key,
    keys_from_phrase,
    new_phrase,
    private_bytes,
)
from homeport.crypto.signing import sign, verify
from homeport.repo.codec import RepoKeys

IDENTITY_FILE = "identity.json"
KEYS_DIR = "keys"
KEY_FILES = ("data.key", "object-id.key", "root.key", "signing.key")
CRASH_AT = "HOMEPORT_TEST_CRASH_AT"
"""Tests only: ``write:<file name>`` kills the process (SIGKILL) just before that file's rename,
its temporary file written: the moment a crash leaves the most behind."""


class IdentityStateError(Exception):
    """The data dir is not in the state the command needs; the message says what to do."""


@dataclass(frozen=True)
class Identity:
    did: str
    signing_key: str
    operations: list[dict[str, Any]]


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    if os.environ.get(CRASH_AT) == f"write:{path.name}":
        os.kill(os.getpid(), signal.SIGKILL)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _keys(data_dir: Path) -> Path:
    return data_dir / KEYS_DIR


def exists(data_dir: Path) -> bool:
    return (data_dir / IDENTITY_FILE).exists()


def clear_unfinished(data_dir: Path) -> None:
    """Remove what an identity write killed before ``identity.json`` left (key files, their
    temporary files, an empty ``keys/``), so the write can start over; nothing when the home has
    an identity, and never a file this module does not write."""
    if exists(data_dir):
        return
    keys = _keys(data_dir)
    names = [*KEY_FILES, *(f".{name}.tmp" for name in KEY_FILES)]
    for name in names:
        (keys / name).unlink(missing_ok=True)
    (data_dir / f".{IDENTITY_FILE}.tmp").unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # left when it holds anything else
        keys.rmdir()


def load(data_dir: Path) -> Identity:
    path = data_dir / IDENTITY_FILE
    if not path.exists():
        raise IdentityStateError(f"{data_dir} has no identity yet; run 'homeport init' first")
    try:
        doc = json.loads(path.read_text("utf-8"))
        operations = list(doc["operations"])
        did = str(doc["did"])
    except (ValueError, KeyError, TypeError):
        raise IdentityStateError(f"{path} is damaged: not an identity document") from None
    return Identity(did, current_key(did, operations, verify), operations)


def _save(data_dir: Path, did: str, operations: list[dict[str, Any]]) -> None:
    doc = {"version": VERSION, "did": did, "operations": operations}
    _write_private(data_dir / IDENTITY_FILE, json.dumps(doc, indent=2).encode() + b"\n")


def _authorise(
    data_dir: Path, root: Ed25519PrivateKey, did: str, operations: list[dict[str, Any]]
) -> Identity:
    """Make a new device signing key, have the root key authorise it, and store both."""
    device = Ed25519PrivateKey.generate()
    op = next_operation(operations, did_key(device.public_key()), int(time.time() * 1000))
    op["sig"] = sign(root, signing_bytes(op))
    operations = [*operations, op]
    _write_private(_keys(data_dir) / "signing.key", private_bytes(device).hex().encode())
    _save(data_dir, did, operations)
    return Identity(did, op["key"], operations)


def _store_phrase_keys(data_dir: Path, keys: PhraseKeys, keep_root_key: bool) -> None:
    _write_private(_keys(data_dir) / "data.key", keys.data_key.hex().encode())
    _write_private(_keys(data_dir) / "object-id.key", keys.object_id_key.hex().encode())
    root_file = _keys(data_dir) / "root.key"
    if keep_root_key:
        _write_private(root_file, keys.root_seed.hex().encode())
    elif root_file.exists():
        root_file.unlink()


def create(data_dir: Path, *, keep_root_key: bool = False) -> tuple[Identity, str]:
    """A new identity and its phrase (which the caller must show once and forget)."""
    if exists(data_dir):
        raise IdentityStateError(f"{data_dir} already has an identity; nothing was changed")
    phrase = new_phrase()
    return _from_phrase(data_dir, phrase, keep_root_key), phrase


def restore(data_dir: Path, phrase: str, *, keep_root_key: bool = False) -> Identity:
    """The identity of ``phrase`` on this device (same phrase, same identity)."""
    keys = keys_from_phrase(phrase)  # PhraseError before anything is written
    if exists(data_dir):
        current = load(data_dir)
        if current.did != did_key(keys.root.public_key()):
            raise IdentityStateError(
                f"{data_dir} holds another identity ({current.did}); nothing was changed"
            )
        raise IdentityStateError(f"{data_dir} already has this identity; nothing was changed")
    return _from_phrase(data_dir, phrase, keep_root_key)


def _from_phrase(data_dir: Path, phrase: str, keep_root_key: bool) -> Identity:
    keys = keys_from_phrase(phrase)
    did = did_key(keys.root.public_key())
    clear_unfinished(data_dir)
    _store_phrase_keys(data_dir, keys, keep_root_key)
    return _authorise(data_dir, keys.root, did, [])


def root_key(data_dir: Path, phrase: str | None) -> Ed25519PrivateKey:
    """The root key: from the phrase when given (checked against the identity), else the kept
    one; without either, a clear error asking for the phrase."""
    identity = load(data_dir)
    if phrase is not None:
        root = keys_from_phrase(phrase).root
        if did_key(root.public_key()) != identity.did:
            raise IdentityStateError("that phrase belongs to another identity; nothing was changed")
        return root
    kept = _keys(data_dir) / "root.key"
    if not kept.exists():
        raise IdentityStateError(
            "the root key is not kept on this device: give the phrase on stdin"
        )
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(kept.read_text().strip()))


def rotate(data_dir: Path, phrase: str | None = None) -> Identity:
    """Replace the device signing key; the identity (did) stays the same."""
    identity = load(data_dir)
    return _authorise(data_dir, root_key(data_dir, phrase), identity.did, identity.operations)


def keys_match(phrase: str, did: str) -> PhraseKeys:
    """The phrase's keys, if the phrase is ``did``'s; a clear error (nothing written) if not."""
    keys = keys_from_phrase(phrase)
    if did_key(keys.root.public_key()) != did:
        raise IdentityStateError(
            f"that phrase belongs to {did_key(keys.root.public_key())}, not to {did}; "
            "nothing was changed"
        )
    return keys


def adopt(data_dir: Path, keys: PhraseKeys, did: str, operations: list[dict[str, Any]]) -> Identity:
    """Continue an existing identity log (from a bundle) on this device: keep its operations and
    authorise a new signing key for this device after them."""
    if exists(data_dir):
        raise IdentityStateError(f"{data_dir} already has an identity; nothing was changed")
    current_key(did, operations, verify)
    clear_unfinished(data_dir)
    _store_phrase_keys(data_dir, keys, keep_root_key=False)
    return _authorise(data_dir, keys.root, did, list(operations))


def extend_log(data_dir: Path, operations: list[dict[str, Any]]) -> Identity:
    """Adopt a longer log of the same identity (which must continue this one)."""
    identity = load(data_dir)
    if operations[: len(identity.operations)] != identity.operations:
        raise IdentityStateError("the identity logs have diverged; nothing was changed")
    current_key(identity.did, operations, verify)
    _save(data_dir, identity.did, list(operations))
    return load(data_dir)


def authorise_after(
    data_dir: Path, root: Ed25519PrivateKey, operations: list[dict[str, Any]]
) -> Identity:
    """Authorise a new key for this device after ``operations``, the log a provider holds
    (which must verify against this identity), replacing this copy's own log: what a move
    does, since another copy may have authorised keys this one never saw."""
    identity = load(data_dir)
    current_key(identity.did, operations, verify)
    return _authorise(data_dir, root, identity.did, list(operations))


def document(identity: Identity) -> dict[str, Any]:
    return {"version": VERSION, "did": identity.did, "operations": identity.operations}


def repo_keys(data_dir: Path) -> RepoKeys:
    """The keys that seal private objects and name every object (``docs/format.md``)."""
    return RepoKeys(secret(data_dir, "data.key"), secret(data_dir, "object-id.key"))


def secret(data_dir: Path, name: str) -> bytes:
    """A key file from ``keys/`` (hex), with a clear error when it is missing or damaged."""
    path = _keys(data_dir) / name
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        raise IdentityStateError(f"{path} is missing; restore the keys with the phrase") from None
    except ValueError:
        raise IdentityStateError(f"{path} is damaged") from None
