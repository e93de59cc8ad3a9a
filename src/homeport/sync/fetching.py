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
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, BinaryIO

from homeport.core.commits import Commit, CommitError, parse
from homeport.core.objects import ObjectFormatError, ObjectType, read_header
from homeport.repo.bundle import TRAILER, BundleError, frame, header_bytes, read_frames
from homeport.repo.codec import ObjectError, RepoKeys, decode
from homeport.sync.client import ProviderClient, ProviderError

PARALLEL = 4
BATCH = 128
"""Ids per fetch: a chunk is at most a few MiB, so an answer stays far under ``MAX_ANSWER``."""


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
    """The bundle being written: frames in arrival order, the digest its trailer carries, and
    the links still to fetch."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.digest = hashlib.sha256()
        self.done = Fetched()
        self.seen: set[bytes] = set()
        self.frontier: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.digest.update(data)
        self.out.write(data)

    def keep(self, oid: bytes, stored: bytes) -> None:
        self.write(frame(oid, stored))
        self.done.objects += 1
        self.done.bytes += len(stored)
        try:
            links = read_header(stored).links
        except ObjectFormatError:
            links = ()  # the import names it
        for link in links:
            if link not in self.seen:
                self.seen.add(link)
                self.frontier.append(link)

    def finish(self) -> Fetched:
        self.out.write(b"E" + TRAILER.pack(self.done.objects, self.digest.digest()))
        return self.done


def _getter(provider: ProviderClient, done: Fetched) -> Callable[[list[bytes]], dict[bytes, bytes]]:
    def get(ids: list[bytes]) -> dict[bytes, bytes]:
        data = provider.fetch(ids)
        done.requests += 1
        try:
            return dict(read_frames(data))
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
    get = _getter(provider, bundle.done)
    first = tenant.get("first")
    first = first if isinstance(first, int) else 1  # (a provider that does not say)
    chain = _chain(get, bytes.fromhex(head_hex), first, keys, provider.url)
    head, first = chain[0][0], chain[-1][0]
    operations = list(tenant.get("operations") or [])
    bundle.write(header_bytes(head.identity, operations, head, first.seq - 1, first.prev))
    bundle.seen.update(c.id for c, _ in chain)
    if first.prev is not None:
        bundle.seen.add(first.prev)  # the base: the provider no longer keeps it
    for commit, stored in reversed(chain):
        bundle.keep(commit.id, stored)
    window = 2 * max(1, parallel)  # batches held at once: fetched ahead, written in order
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        while bundle.frontier:
            level, bundle.frontier = bundle.frontier, []
            parts = deque(level[i : i + BATCH] for i in range(0, len(level), BATCH))
            running: deque[tuple[list[bytes], Future[dict[bytes, bytes]]]] = deque()
            while parts or running:
                while parts and len(running) < window:
                    ids = parts.popleft()
                    running.append((ids, pool.submit(get, ids)))
                ids, future = running.popleft()
                got = future.result()
                for oid in ids:  # what the provider lacks, the import names as missing
                    if oid in got:
                        bundle.keep(oid, got[oid])
    return bundle.finish()
