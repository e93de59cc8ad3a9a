"""A provider's copy of a home, downloaded in parallel for a restore.

``GET /bundle`` is one stream that the provider first exports whole to a temporary file; this
walks the provider's commits instead (a handful: it keeps ``keep_commits``) and then their
trees level by level, fetching each level's objects in batches, several at once
(``POST /objects/fetch``). Links are read from the objects' clear headers, so nothing is
opened here: the import that follows checks every hash and signature, exactly as it checks a
bundle, because what is written here is a bundle (``bundle.py``'s format, header from the
commits fetched).
"""

from __future__ import annotations

import hashlib
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, BinaryIO

from homeport.core.commits import Commit, CommitError, parse
from homeport.core.objects import ObjectFormatError, ObjectType, read_header
from homeport.repo.bundle import (
    FRAME,
    MAX_OBJECT,
    TRAILER,
    BundleError,
    frame,
    header_bytes,
    read_frames,
)
from homeport.repo.codec import ObjectError, RepoKeys, decode
from homeport.sync.client import ProviderClient, ProviderError, fetch_spec

PARALLEL = 4
BATCH = 64
"""Ids per fetch; the answer is read as it streams in, a frame at a time."""


@dataclass
class Fetched:
    objects: int = 0
    bytes: int = 0
    requests: int = 0


def _commit(oid: bytes, stored: bytes, keys: RepoKeys) -> Commit:
    try:
        header, body = decode(oid, stored, keys)
        if header.type is not ObjectType.COMMIT:
            raise CommitError(f"object {oid.hex()[:16]} is not a commit")
        return parse(oid, body, header.links)
    except (ObjectError, CommitError) as exc:
        raise BundleError(
            f"the provider's commit {oid.hex()[:16]} does not check out: {exc}"
        ) from None


class _Writer:
    """The bundle being written: frames as they arrive (from several threads: ``keep`` holds
    the lock), the digest its trailer carries, and the links still to fetch."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.digest = hashlib.sha256()
        self.done = Fetched()
        self.seen: set[bytes] = set()
        self.frontier: list[bytes] = []
        self.lock = threading.Lock()

    def write(self, data: bytes) -> None:
        self.digest.update(data)
        self.out.write(data)

    def keep(self, oid: bytes, stored: bytes, raw: bytes | None = None) -> None:
        try:
            links = read_header(stored).links
        except ObjectFormatError:
            links = ()  # the import names it
        with self.lock:
            self.write(raw if raw is not None else frame(oid, stored))
            self.done.objects += 1
            self.done.bytes += len(stored)
            for link in links:
                if link not in self.seen:
                    self.seen.add(link)
                    self.frontier.append(link)

    def finish(self) -> Fetched:
        self.out.write(b"E" + TRAILER.pack(self.done.objects, self.digest.digest()))
        return self.done


FRAME_HEAD = 1 + FRAME.size


def frames(pieces: Iterable[bytes], url: str) -> Iterator[tuple[bytes, bytes, bytes]]:
    """``(id, stored, the frame's bytes)`` of a pack as its pieces arrive: an answer is never
    held whole. A damaged or cut frame is the provider's bad answer."""
    buffer = bytearray()
    for piece in pieces:
        buffer += piece
        pos = 0
        while len(buffer) - pos >= FRAME_HEAD:
            if buffer[pos] != ord("O"):
                raise ProviderError(url, 200, "bad-answer", "fetched objects: not a frame")
            oid, length = FRAME.unpack_from(buffer, pos + 1)
            if length > MAX_OBJECT:
                raise ProviderError(url, 200, "bad-answer", f"object {oid.hex()[:16]}: too large")
            end = pos + FRAME_HEAD + length + 4
            if len(buffer) < end:
                break
            raw = bytes(buffer[pos:end])
            stored = raw[FRAME_HEAD:-4]
            if zlib.crc32(stored, zlib.crc32(oid)).to_bytes(4, "big") != raw[-4:]:
                raise ProviderError(url, 200, "bad-answer", f"object {oid.hex()[:16]}: damaged")
            yield oid, stored, raw
            pos = end
        del buffer[:pos]
    if buffer:
        raise ProviderError(url, 200, "bad-answer", "fetched objects: the answer was cut")


def _fetcher(provider: ProviderClient, bundle: _Writer) -> Callable[[list[bytes]], None]:
    """Fetch a batch and keep each object as it arrives."""

    def fetch(ids: list[bytes]) -> None:
        asked = set(ids)
        response = provider.send(fetch_spec(ids), stream=True)
        try:
            for oid, stored, raw in frames(response.iter_raw(1 << 20), provider.url):
                if oid not in asked:
                    raise ProviderError(provider.url, 200, "bad-answer", "an object not asked for")
                bundle.keep(oid, stored, raw)
        finally:
            response.close()
        with bundle.lock:
            bundle.done.requests += 1

    return fetch


def _get_one(provider: ProviderClient) -> Callable[[list[bytes]], dict[bytes, bytes]]:
    def get(ids: list[bytes]) -> dict[bytes, bytes]:
        try:
            return dict(read_frames(provider.fetch(ids)))
        except BundleError as exc:
            raise ProviderError(provider.url, 200, "bad-answer", f"fetched: {exc}") from None

    return get


def _chain(
    get: Callable[[list[bytes]], dict[bytes, bytes]],
    head: bytes,
    first: int,
    keys: RepoKeys,
    url: str,
) -> list[tuple[Commit, bytes]]:
    """The provider's commits, newest first, down to ``first``, the oldest it keeps (an older
    one it holds came with a push it did not adopt, maybe in part)."""
    chain: list[tuple[Commit, bytes]] = []
    oid: bytes | None = head
    while oid is not None and (not chain or chain[-1][0].seq > first):
        stored = get([oid]).get(oid)
        if stored is None:
            if not chain:
                raise ProviderError(url, 200, "bad-answer", "its head commit is missing")
            break
        chain.append((_commit(oid, stored, keys), stored))
        oid = chain[-1][0].prev
    return chain


def fetch_bundle(
    provider: ProviderClient,
    tenant: dict[str, Any],
    keys: RepoKeys,
    out: BinaryIO,
    parallel: int = PARALLEL,
) -> Fetched:
    """Write the provider's copy (its commits and every object they reach) to ``out`` as a
    bundle, fetching ``parallel`` batches at a time."""
    head_hex = tenant.get("head")
    if not isinstance(head_hex, str) or not head_hex:
        raise ProviderError(provider.url, 404, "empty", "nothing published there yet")
    bundle = _Writer(out)
    first = tenant.get("first")
    first = first if isinstance(first, int) else 1  # (a provider that does not say)
    chain = _chain(_get_one(provider), bytes.fromhex(head_hex), first, keys, provider.url)
    bundle.done.requests = len(chain)
    head, first = chain[0][0], chain[-1][0]
    operations = list(tenant.get("operations") or [])
    bundle.write(header_bytes(head.identity, operations, head, first.seq - 1, first.prev))
    bundle.seen.update(c.id for c, _ in chain)
    if first.prev is not None:
        bundle.seen.add(first.prev)  # the base: the provider no longer keeps it
    for commit, stored in reversed(chain):
        bundle.keep(commit.id, stored)
    fetch = _fetcher(provider, bundle)
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        while bundle.frontier:  # a level at a time: its objects' links are the next level
            level, bundle.frontier = bundle.frontier, []
            parts = [level[i : i + BATCH] for i in range(0, len(level), BATCH)]
            for _ in pool.map(fetch, parts):
                pass
    return bundle.finish()
