"""Receiving a home's snapshot: packs of objects kept as pending, then a publish that verifies
the commit chain with the bundle importer, adopts what it reaches and switches the live site.

Everything here is synchronous and runs in a worker thread with the tenant's lock held; each call
opens its own repository connection. A failed publish rolls back only its own transaction: the
pending objects stay, so the home resumes by asking what is missing.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from homeport.core import tree
from homeport.core.commits import Commit, CommitError
from homeport.core.identity import IdentityError, current_key
from homeport.core.mediarefs import MAX_FILES
from homeport.core.objects import Header, ObjectFormatError, ObjectType, read_header
from homeport.crypto.signing import verify as verify_signature
from homeport.provider import sites
from homeport.provider.db import Tenant
from homeport.provider.errors import ProviderError
from homeport.provider.sites import Manifest, SiteError
from homeport.provider.sitestore import SiteStore
from homeport.repo.bundle import (
    BundleError,
    BundleHeader,
    Importer,
    ImportResult,
    fetch_end,
    frame,
    read_frames,
)
from homeport.repo.codec import MAX_BODY, ObjectError, check, inflated_size
from homeport.repo.repository import Repository, RepositoryError, WrittenPack

MAX_IDS = 10_000
MAX_PACK = 16 * 1024 * 1024
MAX_CHAIN = 100_000
"""Commits one publish verifies (each is read, and its signature checked, in memory): what a
publish may cost is bounded by this, not by what the tenant's quota lets it upload."""
PENDING_MS = 24 * 3600 * 1000
"""How long an upload no publish adopts is kept: a cut push resumed within a day re-sends
nothing; after that it is dropped by the next publish and stops counting against the quota."""


def parse_ids(raw: Any) -> list[bytes]:
    """A JSON list of hex ids, at most ``MAX_IDS``; 400 otherwise."""
    if not isinstance(raw, list) or len(raw) > MAX_IDS:
        raise ProviderError(400, "bad-request", f"'ids' must be a list of at most {MAX_IDS} ids")
    try:
        ids = [bytes.fromhex(i) for i in raw]
    except (TypeError, ValueError):
        raise ProviderError(400, "bad-request", "'ids' must hold hex object ids") from None
    if any(len(i) != 32 for i in ids):
        raise ProviderError(400, "bad-request", "an object id is 32 bytes (64 hex digits)")
    return ids


def present(repo: Repository, ids: list[bytes]) -> set[bytes]:
    return {row[0] for row in repo.index_rows(ids)}


def missing(repo: Repository, ids: list[bytes]) -> list[str]:
    """The ids the provider does not hold (pending uploads count as held: resuming)."""
    held = present(repo, ids)
    return [i.hex() for i in ids if i not in held]


FETCH_PIECE = 1024 * 1024


def fetch(repo: Repository, ids: list[bytes], end: bool = False) -> Iterator[bytes]:
    """Frames of the objects asked for that are here, as stored (sealed ones stay sealed),
    about a MiB at a time: each piece the response sends is a hop from its thread to the event
    loop, and a frame a piece made a restore's download slower than one ``GET /bundle``.
    ``end``: the answer closes with ``fetch_end``, so a client can tell it whole from cut."""
    piece: list[bytes] = []
    size = count = 0
    for oid, stored in repo.raw_many(ids):
        one = frame(oid, stored)
        piece.append(one)
        size += len(one)
        count += 1
        if size >= FETCH_PIECE:
            yield b"".join(piece)
            piece, size = [], 0
    if end:
        piece.append(fetch_end(count))
    if piece:
        yield b"".join(piece)


@dataclass
class CheckedPack:
    """A pack's frames checked by hash, before the tenant's lock is taken: hashing is the
    costly part and needs no lock, so several packs of one tenant are checked at once."""

    good: list[tuple[bytes, ObjectType, tuple[bytes, ...], bytes]] = field(default_factory=list)
    error: ProviderError | None = None


@dataclass
class PackResult:
    objects: int = 0
    stored: int = 0
    new_bytes: int = 0
    error: ProviderError | None = None
    adopted: bool = False
    """Whether the pack ``write_ahead`` wrote was indexed (else the caller discards it)."""


INFLATE_FIXED = 64 * 1024 * 1024
INFLATE_RATIO = 32
"""A pack may inflate to at most ``INFLATE_FIXED`` plus ``INFLATE_RATIO`` times its size: checking a
public object costs a zstd pass and a SHA-256 over its body, and a 300 KB pack of one 2 KB bomb
(64 MiB of zeros) sent 146 times cost 13.5 s of CPU. Text compresses 3 to 10 times."""
MAX_LINKS = {
    ObjectType.CHUNK: 0,
    ObjectType.ENTRY: MAX_FILES,
    ObjectType.NODE: tree.LEAF_MAX,
    ObjectType.COMMIT: 2,
}
"""What each kind of object may link (``format.md``); a file's chunks are bounded by the pack."""


@dataclass
class Budget:
    """How many bytes the objects of one request may still inflate to."""

    left: int

    @classmethod
    def for_pack(cls, size: int) -> Budget:
        return cls(INFLATE_FIXED + INFLATE_RATIO * size)


def _cost(header: Header, stored: bytes) -> int:
    """What checking an object inflates: its body's size, declared by its frame (``inflate``
    holds it to that); a frame that does not say is charged the most it may inflate to."""
    if not header.compressed or header.sealed:
        return 0
    size = inflated_size(memoryview(stored)[header.payload_offset :])
    if size > MAX_BODY:
        return 0  # refused unread by the check: a bad object, not a costly one
    return MAX_BODY if size < 0 else size


def check_pack(data: bytes, budget: Budget | None = None) -> CheckedPack:
    """Every frame up to the first bad one, checked; the bad one is named in ``error``. Stops
    with 413 once the objects would inflate past ``budget`` (the pack's own by default)."""
    budget = budget or Budget.for_pack(len(data))
    checked = CheckedPack()
    position = 0
    try:
        for oid, stored in read_frames(data):
            header = read_header(stored)
            if len(header.links) > MAX_LINKS.get(header.type, len(header.links)):
                raise ObjectError(
                    f"object {oid.hex()[:16]}: a {header.type.name.lower()} links at most "
                    f"{MAX_LINKS[header.type]} objects, this one {len(header.links)}"
                )
            cost = _cost(header, stored)
            if cost > budget.left:
                checked.error = ProviderError(
                    413,
                    "too-large",
                    f"object {oid.hex()[:16]}: the objects of this request inflate to more than "
                    f"{INFLATE_FIXED} bytes + {INFLATE_RATIO} times the pack's size; the objects "
                    "before it were kept: send the rest in another pack",
                    object=oid.hex(),
                )
                return checked
            budget.left -= cost
            header = check(oid, stored, None)
            checked.good.append((oid, header.type, header.links, stored))
            position += 1 + 36 + len(stored) + 4
    except (BundleError, ObjectError, ObjectFormatError) as exc:
        named = data[position + 1 : position + 33]
        oid_hex = named.hex() if len(named) == 32 else None
        checked.error = ProviderError(
            400, "bad-object", f"{exc}; the objects before it were kept", object=oid_hex
        )
    return checked


def check_segments(
    pieces: list[tuple[bytes, bytes]], first: int, budget: Budget | None = None
) -> CheckedPack:
    """Segments of a pack (bytes, declared SHA-256), numbered from ``first``: each checked
    against its hash, then the frames of those that match, up to the first bad one. ``budget``
    is the whole request's (every segment draws on it)."""
    good = 0
    for piece, declared in pieces:
        if hashlib.sha256(piece).digest() != declared:
            break
        good += 1
    checked = check_pack(b"".join(piece for piece, _ in pieces[:good]), budget)
    if good < len(pieces) and checked.error is None:
        checked.error = ProviderError(
            400,
            "bad-object",
            f"segment {first + good + 1} of the pack does not match its declared hash; "
            "the segments before it were kept",
        )
    return checked


def write_ahead(repo: Repository, checked: CheckedPack) -> WrittenPack | None:
    """The bytes of a checked pack's objects the repository lacks, written as a pack of their
    own before the tenant's lock is taken (``receive_pack`` indexes them under it): the lock
    is then held for the index rows alone, not for a write to the object store (a PUT each,
    on S3, which kept a tenant's parallel uploads waiting in turn). None when all are held."""
    held = present(repo, [g[0] for g in checked.good])
    new = [g for g in checked.good if g[0] not in held]
    if not new:
        return None
    checked.good = new + [g for g in checked.good if g[0] in held]
    return repo.write_pack([g[3] for g in new])


def receive_pack(
    repo: Repository,
    checked: CheckedPack,
    room: int,
    now: int,
    replace: bool = False,
    written: WrittenPack | None = None,
) -> PackResult:
    """Keep a checked pack's objects as pending (received at ``now``). ``room`` is what the
    quota still allows: if the new objects do not fit, nothing is stored (507). With
    ``replace``, copies already held are overwritten by the ones sent: the repair of a copy an
    audit, a spot check or the census found damaged; they keep their place in the history.
    ``written``: the first objects of ``checked.good``, already in a pack (``write_ahead``)
    that is adopted, not rewritten."""
    good = checked.good
    result = PackResult(objects=len(good), error=checked.error)
    held = present(repo, [g[0] for g in good])
    new = [g for g in good if g[0] not in held]
    new_bytes = sum(len(g[3]) for g in new)
    repairs: list[tuple[bytes, bytes, int]] = []
    if replace:
        for oid, _, _, stored in good:
            if oid in held:  # written anew even when the old copy reads back the same: a
                # process may still hold a removed pack open and read it, while the census
                # (which lists the store) names it gone until the row points elsewhere
                repairs.append((oid, stored, len(stored) - repo.stored_size(oid)))
        new_bytes += sum(r[2] for r in repairs)
    if new_bytes > room:
        raise ProviderError(
            507,
            "quota-exceeded",
            f"this pack needs {new_bytes} bytes and the quota leaves {max(room, 0)}: free "
            "space or ask the provider's operator for a larger quota; nothing was stored",
        )
    with repo.transaction():
        adopted = written if written is not None and repo.adopt_pack(written) else None
        place = {good[i][0]: i for i in range(len(adopted.sizes))} if adopted else {}
        for oid, kind, links, stored in new:
            i = place.get(oid)
            if adopted is not None and i is not None:
                kept = repo.put_written(adopted, i, oid, kind, links, 0, received=now)
            else:
                kept = repo.put(oid, kind, links, stored, 0, received=now)
            if kept:
                result.stored += 1
                result.new_bytes += len(stored)
        for oid, stored, delta in repairs:
            repo.replace(oid, stored)
            result.stored += 1
            result.new_bytes += delta
    result.adopted = adopted is not None
    if result.error is not None:
        result.error.extra["stored"] = result.stored
    return result


@dataclass
class Publish:
    commit: bytes
    operations: list[dict[str, Any]]
    site: str
    """"" when the home publishes no site (a backup only): nothing is served."""
    files: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def parse(cls, doc: Any) -> Publish:
        try:
            commit = bytes.fromhex(doc["commit"])
            operations = list(doc["operations"])
            site = "" if doc["site"] is None else str(doc["site"])
            files = {str(p): bytes.fromhex(i) for p, i in dict(doc["files"]).items()}
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ProviderError(
                400,
                "bad-request",
                "publish needs 'commit', 'operations', 'site' and 'files' (path → file id)",
            ) from None
        if len(commit) != 32 or (site and (not sites.safe_path(site) or "/" in site)):
            raise ProviderError(400, "bad-request", "'commit' or 'site' is malformed")
        if len(files) > sites.MAX_FILES:
            raise ProviderError(
                413,
                "too-large",
                f"a site has at most {sites.MAX_FILES} files; this one lists {len(files)}",
            )
        return cls(commit, operations, site, files)


@dataclass
class Published:
    commit: Commit
    manifest: Manifest
    usage: int
    """What the tenant's objects and sites take now, counted afresh (stale uploads
    dropped)."""


def _missing_objects(found: list[bytes]) -> ProviderError:
    return ProviderError(
        409,
        "missing-objects",
        f"{len(found)} object(s) the commit reaches are not here: upload them and publish again",
        missing=[oid.hex() for oid in found],
    )


def _commit(repo: Repository, oid: bytes) -> Commit:
    if not repo.has(oid):
        raise _missing_objects([oid])
    try:
        return repo.commit(oid)
    except (CommitError, ObjectError, RepositoryError) as exc:
        raise ProviderError(400, "bad-commit", str(exc)) from None


def _chain_start(repo: Repository, new: Commit, head: Commit | None) -> tuple[int, bytes | None]:
    """``(since, base)`` for the importer: after the head; for a first publish, before the
    oldest commit of the chain that was sent (earlier history is not required)."""
    if head is not None:
        if new.seq - head.seq > MAX_CHAIN:
            raise _long_chain(new.seq - head.seq)
        walk = new
        steps = 0
        while walk.seq > head.seq + 1 and walk.prev is not None:
            steps += 1
            if steps > MAX_CHAIN:
                raise _long_chain(steps)
            walk = _commit(repo, walk.prev)
        if walk.seq != head.seq + 1 or walk.prev != head.id:
            raise ProviderError(
                409,
                "not-fast-forward",
                f"commit {new.seq} does not descend from commit {head.seq} published here "
                "(a fork or a rollback): publish a commit that follows it",
            )
        return head.seq, head.id
    oldest = new
    steps = 0
    while oldest.prev is not None and repo.has(oldest.prev):
        steps += 1
        if steps >= MAX_CHAIN:
            raise _long_chain(steps + 1)
        oldest = _commit(repo, oldest.prev)
    return oldest.seq - 1, oldest.prev


def _long_chain(count: int) -> ProviderError:
    return ProviderError(
        413,
        "too-large",
        f"this publish brings {count} or more commits; one publish verifies at most {MAX_CHAIN} "
        "(publish an earlier commit first)",
    )


def _absent(repo: Repository, start: bytes, base: bytes | None) -> list[bytes]:
    """Objects ``start`` reaches that are not here; adopted objects are complete below."""
    out: list[bytes] = []
    seen: set[bytes] = set()
    stack = [start]
    while stack and len(out) < MAX_IDS:
        oid = stack.pop()
        if oid in seen:
            continue
        seen.add(oid)
        row = next(repo.index_rows([oid]), None)
        if row is None:
            if oid != base:
                out.append(oid)
            continue
        _, seq, _, links = row
        if seq == 0:
            stack.extend(links)
    return out


def _tree_values(repo: Repository, root: bytes) -> set[bytes]:
    """Every id a leaf of the tree under ``root`` links to, read from links alone (sealed nodes
    cannot be opened here, but their links are in the clear)."""
    values: set[bytes] = set()
    seen = {root}
    frontier = [root]
    while frontier:
        nxt: list[bytes] = []
        for oid, _, kind, links in repo.index_rows(frontier):
            if kind != ObjectType.NODE:
                values.add(oid)
                continue
            for link in links:
                if link not in seen:  # nodes linking one node many times: visit it once
                    seen.add(link)
                    nxt.append(link)
        frontier = nxt
    return values


Files = dict[str, tuple[bytes, int]]
"""A site's paths → (file id, checked size)."""


def _site_files(repo: Repository, new: Commit, files: dict[str, bytes]) -> Files:
    if not files:
        return {}  # a backup only: no need to read the tree
    for path in files:
        if not sites.safe_path(path):
            raise ProviderError(400, "bad-site", f"{path[:300]!r}: not a path inside the site")
    try:
        sites.check_layout(files)
    except SiteError as exc:
        raise ProviderError(400, "bad-site", str(exc)) from None
    values = _tree_values(repo, new.root)
    checked: dict[str, tuple[bytes, int]] = {}
    sizes: dict[bytes, tuple[bytes, int]] = {}
    chunks: dict[bytes, int] = {}
    for path, file_id in files.items():
        if file_id not in values:
            raise ProviderError(
                400, "bad-site", f"{path}: file {file_id.hex()[:16]} is not in commit {new.seq}"
            )
        found = sizes.get(file_id)
        if found is None:
            try:
                found = sizes[file_id] = (file_id, sites.file_size(repo, file_id, path, chunks))
            except SiteError as exc:
                raise ProviderError(400, "bad-site", str(exc)) from None
        checked[path] = found
    return checked


def _check_room(repo: Repository, store: SiteStore, tenant: Tenant, files: Files) -> None:
    """The quota counts what is stored: objects, and the sites materialised from them. A new
    tree that would pass it is refused before anything is written."""
    held = repo.stored_bytes() + store.usage(tenant.name)
    needed = store.new_bytes(tenant.name, files) if files else 0
    if held + needed > tenant.quota:
        raise ProviderError(
            507,
            "quota-exceeded",
            f"this site takes {needed} more bytes on disk; the tenant holds {held} of its "
            f"{tenant.quota}: free space or ask the provider's operator for a larger quota; "
            "nothing was published",
        )


def publish(
    repo: Repository, store: SiteStore, tenant: Tenant, req: Publish, keep: int, now: int
) -> Published:
    """Verify, adopt, materialise, switch. Raises ProviderError; the live site is untouched
    unless everything succeeded."""
    ops = req.operations
    check_continues(tenant, ops)
    if tenant.usage > tenant.quota:
        raise ProviderError(507, "quota-exceeded", "the tenant is over its quota")
    head = repo.head()
    new = _commit(repo, req.commit)
    if new.identity != tenant.did:
        raise ProviderError(400, "bad-commit", f"commit {new.seq} was made by another identity")
    importer = Importer(repo, None, adopt_unreached=False)
    if head is None or new.id != head.id:
        since, base = _chain_start(repo, new, head)
        absent = _absent(repo, new.id, base)
        if absent:
            raise _missing_objects(absent)
        header = BundleHeader(tenant.did, ops, new.id, new.seq, since, base)
        try:
            importer.verify_chain(ImportResult(header), local_head=head)
        except BundleError as exc:
            importer.abort()
            raise ProviderError(400, "bad-commit", str(exc)) from None
    try:
        if importer.problems:
            raise ProviderError(409, "missing-objects", "\n".join(importer.problems))
        files = _site_files(repo, new, req.files)
        _check_room(repo, store, tenant, files)
        try:
            manifest = store.materialise(
                repo,
                tenant.name,
                seq=new.seq,
                commit=new.id.hex(),
                created=new.created,
                site=req.site,
                files=files,
            )
        except SiteError as exc:
            raise ProviderError(400, "bad-site", str(exc)) from None
    except BaseException:
        importer.abort()
        raise
    try:
        importer.finish()
    except BaseException:
        importer.abort()
        store.remove(tenant.name, manifest.name)
        raise
    store.switch(tenant.name, manifest.name)
    store.prune(tenant.name, keep)
    repo.drop_pending(now - PENDING_MS)
    return Published(new, manifest, repo.stored_bytes() + store.usage(tenant.name))


def check_continues(tenant: Tenant, ops: list[Any]) -> None:
    """``ops`` is this tenant's identity log, possibly longer, and verifies."""
    if ops[: len(tenant.operations)] != tenant.operations:
        raise ProviderError(
            400, "bad-identity", "the identity log does not continue the one this provider holds"
        )
    try:
        current_key(tenant.did, ops, verify_signature)
    except IdentityError as exc:
        raise ProviderError(
            400, "bad-identity", f"the identity log does not verify: {exc}"
        ) from None


def now_ms() -> int:
    return int(time.time() * 1000)
