"""Packs sent in segments, so that a cut upload keeps what arrived.

A pack (``POST /objects``) is up to 16 MiB of object frames. The request's signature covers its
body, which the provider could only check once the whole body had arrived: a connection cut
half-way lost everything sent. Instead, the home cuts the pack into segments of whole frames and
names them in the ``Homeport-Segments`` header, ``<length>:<sha256 hex>`` for each, comma
separated. The request is signed over that header (its SHA-256 stands for the body's), so the
provider checks the signature before reading the body, then checks each segment as soon as it
has all of it and stores checked segments a few MB at a time, and at once when the connection is
cut. A cut costs at most the segment in flight (128 KiB; a frame larger than that is a segment
of its own).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

HEADER = "Homeport-Segments"
SEGMENT_BYTES = 128 * 1024
MAX_SEGMENTS = 128


@dataclass(frozen=True)
class Segment:
    length: int
    sha256: bytes


def describe(segments: Iterable[bytes]) -> str:
    """The header's value for these segments."""
    return ",".join(f"{len(s)}:{hashlib.sha256(s).hexdigest()}" for s in segments)


def digest(value: str) -> str:
    """What the signature covers in place of the body's hash."""
    return hashlib.sha256(value.encode("ascii")).hexdigest()


def parse(value: str, limit: int) -> list[Segment]:
    """The declared segments; ValueError saying what is wrong (at most ``MAX_SEGMENTS``, none
    empty, ``limit`` bytes in all)."""
    parts = value.split(",")
    if not value or len(parts) > MAX_SEGMENTS:
        raise ValueError(f"{HEADER} must name 1 to {MAX_SEGMENTS} segments")
    found = []
    for part in parts:
        length, _, hexdigest = part.strip().partition(":")
        try:
            segment = Segment(int(length), bytes.fromhex(hexdigest))
        except ValueError:
            raise ValueError(f"{HEADER}: {part.strip()[:80]!r} is not <length>:<sha256>") from None
        if segment.length <= 0 or len(segment.sha256) != 32:
            raise ValueError(f"{HEADER}: {part.strip()[:80]!r} is not <length>:<sha256>")
        found.append(segment)
    if sum(s.length for s in found) > limit:
        raise ValueError(f"the pack is over the limit of {limit} bytes")
    return found
