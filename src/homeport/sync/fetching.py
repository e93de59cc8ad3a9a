"""A provider's copy of a home, downloaded in parallel for a restore.

``GET /bundle`` is one stream that the provider first exports whole to a temporary file; this
walks the provider's commits instead (a handful: it keeps ``keep_commits``) and then their
trees level by level, fetching each level's objects in batches, several at once
(``POST /objects/fetch``). Links are read from the objects' clear headers, so nothing is
opened here. ``ProviderCopy`` hands the objects to the import as they arrive (a ``bundle.Feed``:
no bundle file in between; the import checks every hash and signature exactly as it checks a
bundle); ``fetch_bundle`` writes them as a bundle instead.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, BinaryIO

from homeport.core.commits import Commit, CommitError, parse
from homeport.core.objects import ObjectFormatError, ObjectType, read_header
from homeport.repo.bundle import (
    TRAILER,
    BundleError,
    BundleHeader,
    frame,
    header_bytes,
)
from homeport.repo.codec import ObjectError, RepoKeys, decode
from homeport.sync.client import ProviderClient, ProviderError

PARALLEL = 4
BATCH = 64
"""Ids per fetch; the answer is read as it streams in, a frame at a time."""
QUEUED = 256
"""Objects fetched and not yet taken by the import (the download waits beyond it)."""
WAIT = 0.5
"""How often a fetch waiting on a full queue looks whether the import gave up."""


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


class _Stopped(Exception):
    """The import gave up: the download stops too."""


class ProviderCopy:
    """The provider's copy of the home as a ``bundle.Feed``: its commits are fetched at once
    (they make the header), the objects they reach while ``objects`` is read, ``parallel``
    batches at a time, handed over in arrival order through a bounded queue."""

    def __init__(
        self,
        provider: ProviderClient,
        tenant: dict[str, Any],
        keys: RepoKeys,
        parallel: int = PARALLEL,
    ) -> None:
        head_hex = tenant.get("head")
        if not isinstance(head_hex, str) or not head_hex:
            raise ProviderError(provider.url, 404, "empty", "nothing published there yet")
        self.provider = provider
        self.parallel = max(1, parallel)
        first = tenant.get("first")
        first = first if isinstance(first, int) else 1  # (a provider that does not say)
        self.chain = _chain(provider.fetch, bytes.fromhex(head_hex), first, keys, provider.url)
        head, oldest = self.chain[0][0], self.chain[-1][0]
        operations = list(tenant.get("operations") or [])
        self.header = BundleHeader(
            head.identity, operations, head.id, head.seq, oldest.seq - 1, oldest.prev
        )
        self.done = Fetched()

    def objects(self) -> Iterator[tuple[bytes, bytes]]:
        """Every object, each once: the commits, then their trees a level at a time. Each
        call downloads anew."""
        walk = _Walk(self.provider)
        self.done = walk.done
        walk.done.requests = len(self.chain)
        walk.seen.update(c.id for c, _ in self.chain)
        if self.header.base is not None:
            walk.seen.add(self.header.base)  # the base: the provider no longer keeps it
        for commit, stored in reversed(self.chain):
            walk.found(commit.id, stored)
            yield commit.id, stored
        walk.frontier.extend(walk.pending)
        walk.pending.clear()
        yield from walk.run(self.parallel)


class _Walk:
    """One download: the levels fetched by a pool, the objects queued for the reader."""

    def __init__(self, provider: ProviderClient) -> None:
        self.provider = provider
        self.done = Fetched()
        self.seen: set[bytes] = set()
        self.frontier: list[bytes] = []
        self.pending: list[bytes] = []
        self.lock = threading.Lock()
        self.queue: queue.Queue[tuple[bytes, bytes] | BaseException | None] = queue.Queue(QUEUED)
        self.stop = threading.Event()

    def found(self, oid: bytes, stored: bytes) -> None:
        """Count an object and remember the links it names that are not fetched yet."""
        try:
            links = read_header(stored).links
        except ObjectFormatError:
            links = ()  # the import names it
        with self.lock:
            self.done.objects += 1
            self.done.bytes += len(stored)
            for link in links:
                if link not in self.seen:
                    self.seen.add(link)
                    self.pending.append(link)

    def _hand(self, item: tuple[bytes, bytes] | BaseException | None) -> None:
        while True:
            if self.stop.is_set():
                raise _Stopped
            try:
                self.queue.put(item, timeout=WAIT)
                return
            except queue.Full:
                continue

    def _fetch(self, ids: list[bytes]) -> None:
        for oid, stored in self.provider.fetched(ids):
            self.found(oid, stored)
            self._hand((oid, stored))
        with self.lock:
            self.done.requests += 1

    def _levels(self, parallel: int) -> None:
        try:
            with ThreadPoolExecutor(max_workers=parallel) as pool:
                while self.frontier:  # a level at a time: its objects' links are the next
                    level = self.frontier
                    parts = [level[i : i + BATCH] for i in range(0, len(level), BATCH)]
                    for _ in pool.map(self._fetch, parts):
                        pass
                    with self.lock:
                        self.frontier, self.pending = self.pending, []
            self._hand(None)
        except _Stopped:
            return
        except BaseException as exc:  # handed to the reader, which raises it
            try:
                self._hand(exc)
            except _Stopped:
                return

    def run(self, parallel: int) -> Iterator[tuple[bytes, bytes]]:
        walker = threading.Thread(target=self._levels, args=(parallel,), daemon=True)
        walker.start()
        try:
            while True:
                item = self.queue.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.stop.set()
            walker.join(timeout=60)


def fetch_bundle(
    provider: ProviderClient,
    tenant: dict[str, Any],
    keys: RepoKeys,
    out: BinaryIO,
    parallel: int = PARALLEL,
) -> Fetched:
    """Write the provider's copy (its commits and every object they reach) to ``out`` as a
    bundle, fetching ``parallel`` batches at a time."""
    copy = ProviderCopy(provider, tenant, keys, parallel)
    head = copy.chain[0][0]
    digest = hashlib.sha256()

    def write(data: bytes) -> None:
        digest.update(data)
        out.write(data)

    write(
        header_bytes(
            head.identity, copy.header.operations, head, copy.header.since, copy.header.base
        )
    )
    count = 0
    for oid, stored in copy.objects():
        write(frame(oid, stored))
        count += 1
    out.write(b"E" + TRAILER.pack(count, digest.digest()))
    return copy.done
