"""Objects to stored bytes and back: hashing, zstd where it pays, sealing of private objects.

``encode`` names an object and gives its stored form; ``decode`` checks a stored form against
its id (and, for a private object, opens it) before handing the body back, so nothing unverified
leaves this module. Without the keys (a provider, ``verify`` of a foreign bundle) private objects
can only be checked for shape; ``check`` says how far it got.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

import zstandard

from homeport.core.canonical import canonical
from homeport.core.objects import (
    Flags,
    Header,
    ObjectFormatError,
    ObjectType,
    pack_header,
    private_id,
    public_id,
    read_header,
)
from homeport.crypto.seal import SealError, open_sealed, seal

COMPRESS_MIN = 128
"""Bodies smaller than this are stored as they are: zstd's frame would eat the gain."""
COMPRESS_RATIO = 0.9
"""Keep the compressed form only if it saves at least a tenth (photos and video do not)."""
MAX_BODY = 64 * 1024 * 1024
"""Refuse to inflate anything larger: no object this repository writes comes near it."""
READ_STEP = 256 * 1024
"""Inflating a frame that does not declare its size goes this many bytes at a time."""


@dataclass(frozen=True)
class RepoKeys:
    """The symmetric keys of a home (from its phrase): sealing and naming private objects."""

    data_key: bytes
    object_id_key: bytes


class ObjectError(ValueError):
    """A stored object that does not match its id, does not open, or is malformed."""


_local = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    c: zstandard.ZstdCompressor | None = getattr(_local, "c", None)
    if c is None:
        c = _local.c = zstandard.ZstdCompressor(level=3, write_content_size=True)
    return c


def _decompressor() -> zstandard.ZstdDecompressor:
    d: zstandard.ZstdDecompressor | None = getattr(_local, "d", None)
    if d is None:
        d = _local.d = zstandard.ZstdDecompressor()
    return d


def inflate(payload: bytes | memoryview, limit: int = MAX_BODY) -> bytes:
    """A zstd payload decompressed, never past ``limit`` bytes. The size a frame declares is
    the sender's claim: a 49 KB frame declaring 1.5 GiB made ``decompress`` allocate and fill
    all of it whatever ``max_output_size`` said. So a declared size over the limit is refused
    unread, and the frame is streamed, stopping at ``limit + 1`` bytes whatever it declares."""
    try:
        declared = zstandard.frame_content_size(payload)
    except zstandard.ZstdError as exc:
        raise ObjectError(f"compressed body is damaged ({exc})") from None
    if declared > limit:
        raise ObjectError(f"compressed body declares {declared} bytes, over the limit of {limit}")
    step = declared + 1 if declared >= 0 else READ_STEP
    reader = _decompressor().stream_reader(payload, read_across_frames=False)
    parts: list[bytes] = []
    total = 0
    try:
        while piece := reader.read(min(step, limit + 1 - total)):
            total += len(piece)
            if total > limit:
                raise ObjectError(f"compressed body inflates past the limit of {limit} bytes")
            parts.append(piece)
    except zstandard.ZstdError as exc:
        raise ObjectError(f"compressed body is damaged ({exc})") from None
    if declared >= 0 and total != declared:
        raise ObjectError(f"compressed body is {total} bytes, its frame declares {declared}")
    return parts[0] if len(parts) == 1 else b"".join(parts)


def inflated_size(payload: bytes | memoryview) -> int:
    """The size a checked compressed payload inflates to, from its frame header (the encoder
    always writes it, and ``inflate`` checked it), without inflating; -1 when it is unknown."""
    try:
        return int(zstandard.frame_content_size(payload))
    except zstandard.ZstdError:
        return -1


SAMPLE = 4096


def _worth_trying(body: bytes) -> bool:
    """A large body whose first 4 KiB do not compress (photos, video, archives) is not tried
    as a whole: that attempt cost about 6 % of a first snapshot of such files."""
    if len(body) < 4 * SAMPLE:
        return True
    return len(_compressor().compress(body[:SAMPLE])) < SAMPLE * COMPRESS_RATIO


def hashed_body(kind: ObjectType, body: bytes) -> bytes:
    """What an id hashes of a body: an entry's canonical JSON (so equal data gives equal ids
    whatever the key order), every other body as it is. An entry's body keeps the key order the
    store holds, so a restored home answers its API byte for byte as the lost one did."""
    if kind is not ObjectType.ENTRY:
        return body
    try:
        return canonical(json.loads(body))
    except ValueError as exc:
        raise ObjectError(f"an entry body that is not JSON ({exc})") from None


def object_id(
    kind: ObjectType, links: tuple[bytes, ...], body: bytes, private: bool, keys: RepoKeys | None
) -> bytes:
    body = hashed_body(kind, body)
    if not private:
        return public_id(kind, links, body)
    if keys is None:
        raise ObjectError("a private object needs the home's keys")
    return private_id(keys.object_id_key, kind, links, body)


def encode(
    kind: ObjectType,
    links: tuple[bytes, ...],
    body: bytes,
    private: bool,
    keys: RepoKeys | None,
    oid: bytes | None = None,
) -> tuple[bytes, bytes]:
    """``(id, stored bytes)``; pass ``oid`` when the id is already known."""
    oid = oid or object_id(kind, links, body, private, keys)
    flags = 0
    payload = body
    if len(body) >= COMPRESS_MIN and _worth_trying(body):
        packed = _compressor().compress(body)
        if len(packed) < len(body) * COMPRESS_RATIO:
            payload = packed
            flags |= Flags.COMPRESSED
    if private:
        assert keys is not None
        flags |= Flags.SEALED
        header = pack_header(kind, flags, links)
        return oid, header + seal(keys.data_key, payload, oid + header)
    return oid, pack_header(kind, flags, links) + payload


def decode(oid: bytes, stored: bytes, keys: RepoKeys | None) -> tuple[Header, bytes]:
    """The verified header and body. Raises ObjectError naming what is wrong."""
    name = oid.hex()[:16]
    try:
        header = read_header(stored)
    except ObjectFormatError as exc:
        raise ObjectError(f"object {name}: {exc}") from None
    payload: bytes | memoryview = memoryview(stored)[header.payload_offset :]
    if header.sealed:
        if keys is None:
            raise ObjectError(f"object {name}: private, and this check has no keys")
        try:
            payload = open_sealed(
                keys.data_key, payload, oid + bytes(memoryview(stored)[: header.payload_offset])
            )
        except SealError as exc:
            raise ObjectError(f"object {name}: {exc}") from None
    if header.compressed:
        try:
            body = inflate(payload)
        except ObjectError as exc:
            raise ObjectError(f"object {name}: {exc}") from None
    else:
        body = bytes(payload)
    try:
        computed = object_id(header.type, header.links, body, header.sealed, keys)
    except ObjectError as exc:
        raise ObjectError(f"object {name}: {exc}") from None
    if computed != oid:
        raise ObjectError(f"object {name}: content does not match its id")
    return header, body


def check(oid: bytes, stored: bytes, keys: RepoKeys | None) -> Header:
    """Verify what can be verified: everything with keys, the shape of sealed objects without."""
    return verify(oid, stored, keys)[0]


def verify(oid: bytes, stored: bytes, keys: RepoKeys | None) -> tuple[Header, bytes | None]:
    """``check``, with the body it opened: None when only the shape could be checked."""
    try:
        header = read_header(stored)
    except ObjectFormatError as exc:
        raise ObjectError(f"object {oid.hex()[:16]}: {exc}") from None
    if header.sealed and keys is None:
        if len(stored) - header.payload_offset < 28:
            raise ObjectError(f"object {oid.hex()[:16]}: sealed payload is too short")
        return header, None
    return decode(oid, stored, keys)
