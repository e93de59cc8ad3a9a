"""Pushing the home's head to a provider: find what it lacks by walking only the subtrees that
differ from what it has live, upload that in packs (several at once, retried with backoff), then
publish the commit. A cut or a crash costs nothing on the next try: the provider keeps what
arrived, and ``missing`` no longer lists it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from homeport.repo import walk
from homeport.repo.bundle import frame
from homeport.repo.repository import Repository, RepositoryError
from homeport.sync.client import ProviderClient, ProviderError, batches
from homeport.sync.segments import SEGMENT_BYTES

MAX_IDS = 10_000
PACK_BYTES = 8 * 1024 * 1024
PARALLEL = 4
RETRIES = (0.2, 0.5, 1.0, 2.0)

Progress = Callable[[int, int], None]
"""``progress(sent_bytes, total_bytes)``, called as packs arrive."""


@dataclass
class PushResult:
    url: str
    seq: int
    head: str
    up_to_date: bool = False
    objects: int = 0
    bytes: int = 0
    seconds: float = 0.0
    site: str | None = None


def retrying(action: Callable[[], Any]) -> Any:
    """Run ``action``, retrying transport failures and 5xx answers with backoff; a 4xx answer
    is the provider's considered refusal and is not retried."""
    for delay in (*RETRIES, None):
        try:
            return action()
        except ProviderError as exc:
            if delay is None or (exc.status and exc.status < 500):
                raise
            time.sleep(delay)
    raise AssertionError("unreachable")


def packs(
    repo: Repository, ids: list[bytes], limit: int = PACK_BYTES, segment: int = SEGMENT_BYTES
) -> Iterator[list[bytes]]:
    """The objects as packs of about ``limit`` bytes, each a list of segments of whole frames
    of about ``segment`` bytes."""
    pack: list[bytes] = []
    parts: list[bytes] = []
    part = size = 0
    for oid in ids:
        one = frame(oid, repo.raw(oid))
        if parts and size + len(one) > limit:
            pack.append(b"".join(parts))
            yield pack
            pack, parts, part, size = [], [], 0, 0
        elif parts and part + len(one) > segment:
            pack.append(b"".join(parts))
            parts, part = [], 0
        parts.append(one)
        part += len(one)
        size += len(one)
    if parts:
        pack.append(b"".join(parts))
        yield pack


def lacking(
    repo: Repository, client: ProviderClient, theirs: bytes | None, head: bytes
) -> list[bytes]:
    """What the provider lacks of ``head``: the objects that differ from its live commit, less
    the ones it already holds (pending from a cut push, or shared with older commits)."""
    base = theirs if theirs is not None and repo.has(theirs) else None
    candidates = list(walk.changed(repo, base, head))
    result: list[bytes] = []
    for batch in batches(candidates, MAX_IDS):
        gone = retrying(partial(client.missing, batch))
        result.extend(oid for oid in batch if oid in gone)
    return result


def megabytes(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def check_room(client: ProviderClient, state: dict[str, Any], need: int) -> None:
    """Refuse before sending anything when the tenant's quota cannot take ``need`` more bytes
    (the provider would refuse the packs one by one; this says it once, up front)."""
    usage, quota = state.get("usage"), state.get("quota")
    if not isinstance(usage, int) or not isinstance(quota, int) or usage + need <= quota:
        return
    raise ProviderError(
        client.url,
        507,
        "quota-exceeded",
        f"this publish needs {megabytes(need)} more and the quota there leaves "
        f"{megabytes(max(quota - usage, 0))} (of {megabytes(quota)}): ask its operator for more "
        "room, or leave entries out there with 'homeport providers rules'; nothing was sent",
    )


def upload(
    repo: Repository,
    client: ProviderClient,
    ids: list[bytes],
    parallel: int = PARALLEL,
    progress: Progress | None = None,
    replace: bool = False,
    total: int | None = None,
) -> int:
    """Send the objects in packs, ``parallel`` at a time, holding at most ``parallel`` packs in
    memory (packs are read from the repository here, in this thread); the bytes sent."""
    if total is None:
        total = sum(repo.stored_size(oid) for oid in ids)
    sent = 0
    in_flight: deque[tuple[Future[Any], int]] = deque()
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:

        def settle() -> None:
            nonlocal sent
            future, size = in_flight.popleft()
            future.result()
            sent += size
            if progress is not None:
                progress(sent, total)

        for pack in packs(repo, ids):
            if len(in_flight) >= max(1, parallel):
                settle()
            in_flight.append(
                (
                    pool.submit(retrying, partial(client.upload, pack, replace)),
                    sum(len(s) for s in pack),
                )
            )
        while in_flight:
            settle()
    return sent


def site_files(repo: Repository, site: str | None) -> dict[str, str]:
    """The published site's files, ``path → file id``: the provider cannot read the (sealed)
    tree to find them, so the home names them, and the provider checks each is in the tree."""
    if site is None:
        return {}
    prefix = f"site/{site}"
    files = {}
    for key in repo.entries_under(prefix):
        entry = repo.entry(key)
        if entry is not None:
            files[key.removeprefix(prefix + "/")] = entry[0].hex()
    return files


def push(
    repo: Repository,
    client: ProviderClient,
    operations: list[dict[str, Any]],
    site: str | None,
    parallel: int = PARALLEL,
    progress: Progress | None = None,
    repair: list[bytes] | None = None,
) -> PushResult:
    """Make ``head`` live at the provider; ``repair`` names objects an audit found damaged
    there, sent again to replace them."""
    started = time.perf_counter()
    head = repo.head()
    if head is None:
        raise RepositoryError("nothing to publish: no snapshot yet (run 'homeport snapshot')")
    try:
        state = retrying(client.tenant)
    except ProviderError as exc:
        if exc.status != 401:
            raise
        retrying(partial(client.update_identity, operations))  # our key is newer than its log
        state = retrying(client.tenant)
    theirs = bytes.fromhex(state["head"]) if state.get("head") else None
    result = PushResult(client.url, head.seq, head.id.hex())
    if repair:
        result.objects += len(repair)
        result.bytes += upload(repo, client, repair, parallel, progress, replace=True)
    if theirs == head.id and not repair:
        result.up_to_date = True
        result.seconds = time.perf_counter() - started
        return result
    files = site_files(repo, site)
    # after a repair the head is published again, so the provider rewrites the site from the
    # mended objects
    ids = [] if theirs == head.id else lacking(repo, client, theirs, head.id)
    need = sum(repo.stored_size(oid) for oid in ids)
    check_room(client, state, need)
    result.objects += len(ids)
    result.bytes += upload(repo, client, ids, parallel, progress, total=need)
    try:
        answer = retrying(partial(client.publish, head.id, operations, site, files))
    except ProviderError as exc:
        if exc.code != "missing-objects" or not exc.missing:
            raise
        again = [bytes.fromhex(m) for m in exc.missing]  # e.g. the provider lost some
        result.objects += len(again)
        result.bytes += upload(repo, client, again, parallel, progress)
        answer = retrying(partial(client.publish, head.id, operations, site, files))
    result.site = answer.get("site") if isinstance(answer, dict) else None
    result.seconds = time.perf_counter() - started
    return result
