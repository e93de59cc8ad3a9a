"""Stored objects: ids, sealing bound to id and header, compression only where it pays."""

from __future__ import annotations

import hashlib
import os
import random
import struct

import pytest

from homeport.core.objects import Flags, ObjectType, pack_header, read_header
from homeport.repo.codec import ObjectError, RepoKeys, check, decode, encode, object_id

KEYS = RepoKeys(data_key=bytes(range(32)), object_id_key=bytes(range(1, 33)))
OTHER = RepoKeys(data_key=bytes(range(2, 34)), object_id_key=bytes(range(3, 35)))
LINK = hashlib.sha256(b"a child").digest()
TEXT = b'{"data":{"id":"r1","title":"' + b"hello world " * 40 + b'"}}'


def test_a_public_id_is_sha256_of_type_links_and_body_and_checks_without_keys() -> None:
    oid, stored = encode(ObjectType.ENTRY, (LINK,), TEXT, False, None)
    expected = hashlib.sha256(struct.pack(">BI", 3, 1) + LINK + TEXT).digest()
    assert oid == expected
    header, body = decode(oid, stored, None)
    assert body == TEXT and header.links == (LINK,) and not header.sealed
    assert check(oid, stored, None).type is ObjectType.ENTRY


def test_a_private_id_is_keyed_differs_from_the_public_one_and_needs_the_key() -> None:
    public = object_id(ObjectType.ENTRY, (LINK,), TEXT, False, None)
    private = object_id(ObjectType.ENTRY, (LINK,), TEXT, True, KEYS)
    assert private != public
    assert private == object_id(ObjectType.ENTRY, (LINK,), TEXT, True, KEYS)  # dedup for owner
    assert private != object_id(ObjectType.ENTRY, (LINK,), TEXT, True, OTHER)
    with pytest.raises(ObjectError, match="needs the home's keys"):
        object_id(ObjectType.ENTRY, (LINK,), TEXT, True, None)
    oid, stored = encode(ObjectType.ENTRY, (LINK,), TEXT, True, KEYS)
    assert oid == private
    assert TEXT not in stored and b"hello world" not in stored
    assert read_header(stored).links == (LINK,)  # links stay readable
    assert decode(oid, stored, KEYS)[1] == TEXT
    with pytest.raises(ObjectError, match="no keys"):
        decode(oid, stored, None)
    with pytest.raises(ObjectError, match=oid.hex()[:16]):
        decode(oid, stored, OTHER)
    # without keys only the shape is checked
    assert check(oid, stored, None).sealed


def test_a_sealed_object_moved_under_another_id_does_not_open() -> None:
    oid, stored = encode(ObjectType.ENTRY, (), TEXT, True, KEYS)
    other, _ = encode(ObjectType.ENTRY, (), b"{\"another\": \"entry\"}", True, KEYS)
    with pytest.raises(ObjectError, match=other.hex()[:16]):
        decode(other, stored, KEYS)
    # nor with other links or another type in its header
    relinked = pack_header(ObjectType.ENTRY, read_header(stored).flags, (LINK,))
    with pytest.raises(ObjectError):
        decode(oid, relinked + stored[len(pack_header(ObjectType.ENTRY, 0, ())) :], KEYS)
    retyped = bytes([stored[0], ObjectType.CHUNK]) + stored[2:]
    with pytest.raises(ObjectError):
        decode(oid, retyped, KEYS)


@pytest.mark.parametrize("private", [False, True])
def test_every_flipped_byte_fails_to_decode(private: bool) -> None:
    oid, stored = encode(ObjectType.ENTRY, (LINK,), TEXT, private, KEYS)
    rng = random.Random(5)
    for pos in range(len(stored)):
        bad = bytearray(stored)
        bad[pos] ^= rng.randrange(1, 256)
        with pytest.raises(ObjectError, match=oid.hex()[:16]):
            decode(oid, bytes(bad), KEYS)


def test_decode_rejects_a_wrong_id() -> None:
    _oid, stored = encode(ObjectType.CHUNK, (), b"some bytes", False, None)
    wrong = hashlib.sha256(b"x").digest()
    with pytest.raises(ObjectError, match=f"{wrong.hex()[:16]}: content does not match its id"):
        decode(wrong, stored, None)
    with pytest.raises(ObjectError, match="does not match"):
        check(wrong, stored, KEYS)


@pytest.mark.parametrize("private", [False, True])
def test_compression_is_used_only_when_it_pays(private: bool) -> None:
    def flags(body: bytes) -> int:
        oid, stored = encode(ObjectType.CHUNK, (), body, private, KEYS)
        assert decode(oid, stored, KEYS)[1] == body
        return read_header(stored).flags

    compressible = b"abc" * 1000
    assert flags(compressible) & Flags.COMPRESSED
    assert len(encode(ObjectType.CHUNK, (), compressible, private, KEYS)[1]) < 200
    assert not flags(os.urandom(4096)) & Flags.COMPRESSED  # photos, video
    assert not flags(b"a" * 127) & Flags.COMPRESSED  # too small to bother
    assert bool(flags(b"a" * 128) & Flags.SEALED) == private


def test_a_sealed_object_too_short_to_hold_a_tag_fails_the_shape_check() -> None:
    oid, stored = encode(ObjectType.ENTRY, (), TEXT, True, KEYS)
    header = read_header(stored)
    with pytest.raises(ObjectError, match="too short"):
        check(oid, stored[: header.payload_offset + 10], None)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda s: s[:5], "shorter than its header"),
        (lambda s: bytes([2]) + s[1:], "format 2 is not supported"),
        (lambda s: s[:3] + bytes([1]) + s[4:], "header is damaged"),
        (lambda s: s[:4] + struct.pack(">I", 9) + s[8:], "declares 9 links"),
    ],
)
def test_malformed_headers_are_named(damage: object, message: str) -> None:
    oid, stored = encode(ObjectType.ENTRY, (LINK,), TEXT, False, None)
    with pytest.raises(ObjectError, match=message):
        decode(oid, damage(stored), None)  # type: ignore[operator]
