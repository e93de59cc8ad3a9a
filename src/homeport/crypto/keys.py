"""From a 24-word recovery phrase to the keys of a home.

The phrase is BIP39 (256 bits of entropy, English words, checksum). Its BIP39 seed goes through
HKDF-SHA256 with one label per key, so each key is independent of the others and the same phrase
always gives the same keys:

| label | key |
| --- | --- |
| ``homeport/v1/root-key`` | Ed25519 root key: the identity; signs identity operations only |
| ``homeport/v1/data-key`` | symmetric key that encrypts private objects |
| ``homeport/v1/object-id-key`` | key of the keyed hashes that name private objects |
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

WORDS = 24
SALT = b"homeport"
ROOT_LABEL = b"homeport/v1/root-key"
DATA_LABEL = b"homeport/v1/data-key"
OBJECT_ID_LABEL = b"homeport/v1/object-id-key"
ED25519_MULTICODEC = b"\xed\x01"
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


@functools.cache
def _mnemonic() -> Any:
    """BIP39's English word list, read at the first phrase: most commands (a publish) only sign
    with keys already derived, and reading it cost every start-up a few milliseconds."""
    from mnemonic import Mnemonic

    return Mnemonic("english")


class PhraseError(ValueError):
    """A recovery phrase that is not 24 valid BIP39 words with a correct checksum. ``kind`` says
    which ("count", "word", "checksum") and ``position`` (1-based) which word, so a screen can
    say it in its own words."""

    def __init__(self, message: str, kind: str = "", position: int = 0, count: int = 0) -> None:
        super().__init__(message)
        self.kind = kind
        self.position = position
        self.count = count


def new_phrase() -> str:
    return str(_mnemonic().generate(strength=256))


def normalise_phrase(phrase: str) -> str:
    words = phrase.strip().lower().split()
    if len(words) != WORDS:
        raise PhraseError(
            f"a recovery phrase has {WORDS} words; this one has {len(words)}",
            "count",
            count=len(words),
        )
    known = set(_mnemonic().wordlist)
    unknown = [(n, w) for n, w in enumerate(words, 1) if w not in known]
    if unknown:
        position, word = unknown[0]
        raise PhraseError(f"not a recovery-phrase word: {word!r}", "word", position)
    normal = " ".join(words)
    if not _mnemonic().check(normal):
        raise PhraseError(
            "the words are valid but the phrase's checksum is not: a word is wrong", "checksum"
        )
    return normal


def _derive(seed: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=SALT, info=label).derive(seed)


@dataclass(frozen=True)
class PhraseKeys:
    root_seed: bytes
    data_key: bytes
    object_id_key: bytes

    @property
    def root(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.root_seed)


def keys_from_phrase(phrase: str) -> PhraseKeys:
    seed = _mnemonic().to_seed(normalise_phrase(phrase))
    return PhraseKeys(
        root_seed=_derive(seed, ROOT_LABEL),
        data_key=_derive(seed, DATA_LABEL),
        object_id_key=_derive(seed, OBJECT_ID_LABEL),
    )


def private_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes_raw()  # not through ``serialization`` (PEM, SSH…: 10 ms to import)


def public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes_raw()


def _b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, rest = divmod(number, 58)
        out = _B58[rest] + out
    pad = len(data) - len(data.lstrip(b"\0"))
    return "1" * pad + out


def _b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        index = _B58.find(char)
        if index < 0:
            raise ValueError(f"not base58: {char!r}")
        number = number * 58 + index
    pad = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * pad + body


def did_key(key: Ed25519PublicKey) -> str:
    """``did:key:z…``: multibase base58btc of the Ed25519 multicodec prefix + the public key."""
    return "did:key:z" + _b58encode(ED25519_MULTICODEC + public_bytes(key))


def public_key_from_did(did: str) -> Ed25519PublicKey:
    if not did.startswith("did:key:z"):
        raise ValueError(f"not an Ed25519 did:key: {did!r}")
    raw = _b58decode(did[len("did:key:z") :])
    if not raw.startswith(ED25519_MULTICODEC) or len(raw) != 34:
        raise ValueError(f"not an Ed25519 did:key: {did!r}")
    return Ed25519PublicKey.from_public_bytes(raw[2:])
