"""Repository objects: what a snapshot is made of, and how each is named.

An object is a type, an ordered list of links (the ids of the objects it refers to) and a body.
Its id is a hash of ``type | link count | links | body``: plain SHA-256 for public objects, so
anyone can check them, and HMAC-SHA256 under the object-id key for private ones, so equal private
contents still share one id for their owner while nobody else can confirm a guess.

The stored form adds a header and, for private objects, encryption (done by ``repo.codec``)::

    u8 format (1) | u8 type | u8 flags | u8 0 | u32 link count | links (32 bytes each) | payload

The links stay readable even in private objects: a provider can walk, copy and diff a repository
it cannot read, and learns only sizes, counts and shape.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass
from enum import IntEnum

FORMAT = 1
ID_SIZE = 32
HEADER = struct.Struct(">BBBBI")


class ObjectType(IntEnum):
    CHUNK = 1
    """A piece of a file, cut by content-defined chunking; body = the bytes."""
    FILE = 2
    """A file: links = its chunks in order; body = canonical JSON ``{"size": n}``."""
    ENTRY = 3
    """A store object (bucket, collection, group, record, account): canonical JSON of
    ``{"data": …, "permissions": …}``; links = the attachment's file, if any."""
    NODE = 4
    """A node of the tree that maps keys to entries (see ``core.tree``)."""
    COMMIT = 5
    """A signed commit (see ``core.commits``); links = root, then the previous commit."""


class Flags:
    SEALED = 1
    COMPRESSED = 2


class ObjectFormatError(ValueError):
    """Stored bytes that are not a well-formed object; the message says what is wrong."""


@dataclass(frozen=True)
class Header:
    type: ObjectType
    flags: int
    links: tuple[bytes, ...]
    payload_offset: int

    @property
    def sealed(self) -> bool:
        return bool(self.flags & Flags.SEALED)

    @property
    def compressed(self) -> bool:
        return bool(self.flags & Flags.COMPRESSED)


def hash_input(kind: ObjectType, links: tuple[bytes, ...], body: bytes) -> list[bytes]:
    """The byte strings an id hashes, in order (kept as parts so large bodies are not copied)."""
    return [struct.pack(">BI", kind, len(links)), *links, body]


def public_id(kind: ObjectType, links: tuple[bytes, ...], body: bytes) -> bytes:
    digest = hashlib.sha256()
    for part in hash_input(kind, links, body):
        digest.update(part)
    return digest.digest()


def private_id(key: bytes, kind: ObjectType, links: tuple[bytes, ...], body: bytes) -> bytes:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for part in hash_input(kind, links, body):
        mac.update(part)
    return mac.digest()


def pack_header(kind: ObjectType, flags: int, links: tuple[bytes, ...]) -> bytes:
    return HEADER.pack(FORMAT, kind, flags, 0, len(links)) + b"".join(links)


def read_header(data: bytes | memoryview) -> Header:
    if len(data) < HEADER.size:
        raise ObjectFormatError(f"object is {len(data)} bytes, shorter than its header")
    fmt, kind, flags, zero, count = HEADER.unpack_from(data, 0)
    if fmt != FORMAT:
        raise ObjectFormatError(f"object format {fmt} is not supported (this reader: {FORMAT})")
    if kind not in ObjectType._value2member_map_ or zero != 0 or flags > 3:
        raise ObjectFormatError(f"object header is damaged (type {kind}, flags {flags})")
    end = HEADER.size + count * ID_SIZE
    if len(data) < end:
        raise ObjectFormatError(f"object declares {count} links but is only {len(data)} bytes")
    view = memoryview(data)
    links = tuple(bytes(view[i : i + ID_SIZE]) for i in range(HEADER.size, end, ID_SIZE))
    return Header(ObjectType(kind), flags, links, end)
