"""Bundles: a repository (or what it gained since a commit) as one file, streamed both ways.

Layout (``docs/format.md`` has the details)::

    "HOMEPORT BUNDLE\\n" | u32 header length | header (canonical JSON)
    ( "O" | id (32) | u32 length | stored object | u32 CRC-32 of id + object ) …
    "E" | u64 object count | SHA-256 of every byte before the "E"

Objects come in the order they entered the repository, children before parents. The header
carries the identity log up to the last operation a commit in the bundle relies on, so a bundle
verifies on its own. Importing writes objects as unverified (seq 0) and gives them their commit's
seq only once every hash, signature and link has checked out; a failure removes them again.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable

from homeport.core import commits
from homeport.core.canonical import canonical
from homeport.core.commits import Commit, CommitError
from homeport.core.identity import IdentityError, current_key
from homeport.core.objects import Header, ObjectFormatError, ObjectType
from homeport.core.objects import read_header as read_object_header
from homeport.crypto.signing import verify as verify_signature
from homeport.repo.codec import ObjectError, RepoKeys, decode, verify
from homeport.repo.repository import Repository, RepositoryError, split_links

MAGIC = b"HOMEPORT BUNDLE\n"
FORMAT = 1
FRAME = struct.Struct(">32sI")
TRAILER = struct.Struct(">Q32s")
MAX_HEADER = 16 * 1024 * 1024
MAX_OBJECT = 80 * 1024 * 1024
BATCH_BYTES = 32 * 1024 * 1024
MAX_PROBLEMS = 20
MAX_FRESH = 1_000_000


class BundleError(Exception):
    """A bundle that cannot be read or does not verify; the message names each problem."""


class Diverged(BundleError):
    """The bundle is this home's history, but this home made commits the bundle lacks.
    ``shared``: the last commit the two have in common (0 when none)."""

    def __init__(self, message: str, shared: int) -> None:
        super().__init__(message)
        self.shared = shared


@dataclass(frozen=True)
class BundleHeader:
    did: str
    operations: list[dict[str, Any]]
    head: bytes
    head_seq: int
    since: int
    base: bytes | None


@dataclass
class ExportResult:
    objects: int = 0
    bytes: int = 0
    head_seq: int = 0


def export_bundle(
    repo: Repository, identity: dict[str, Any], out: BinaryIO, since: int = 0
) -> ExportResult:
    """Write the commits after ``since`` and the objects they brought, in constant memory."""
    head = repo.head()
    if head is None:
        raise RepositoryError("nothing to export: no snapshot yet (run 'homeport snapshot')")
    if not 0 <= since <= head.seq:
        raise RepositoryError(f"--since {since}: this home's commits go from 1 to {head.seq}")
    base = repo.commit_at(since) if since else None
    base_id = base.id if base else None
    if since and base is None:  # a provider's history may start after commit ``since``
        first = repo.commit_at(since + 1)
        base_id = first.prev if first else None
    header = header_bytes(identity["did"], identity["operations"], head, since, base_id)
    digest = hashlib.sha256()

    def write(data: bytes) -> None:
        digest.update(data)
        out.write(data)

    write(header)
    result = ExportResult(head_seq=head.seq)
    for oid, stored in repo.iter_objects(since):
        write(frame(oid, stored))
        result.objects += 1
        result.bytes += len(stored)
    out.write(b"E" + TRAILER.pack(result.objects, digest.digest()))
    return result


def header_bytes(
    did: str, operations: list[dict[str, Any]], head: Commit, since: int, base: bytes | None
) -> bytes:
    """A bundle's first bytes: the magic and the header of the commits after ``since`` up to
    ``head`` (the identity log cut where ``head`` leaves it)."""
    header = canonical(
        {
            "format": FORMAT,
            "identity": {"did": did, "operations": operations[: head.identity_seq]},
            "head": head.id.hex(),
            "head_seq": head.seq,
            "since": since,
            "base": base.hex() if base else None,
        }
    )
    return MAGIC + struct.pack(">I", len(header)) + header


FETCH_END = struct.Struct(">Q")
FETCH_END_HEADER = "Homeport-Fetch-End"
"""Set on a fetch's answer that ends with ``fetch_end``: a proxy in front of a provider may
end a cut answer as if it were whole (Caddy 2.6 does), and then only the mark tells."""


def fetch_end(count: int) -> bytes:
    """The mark after the last frame of a fetch's answer: ``E`` and how many frames came."""
    return b"E" + FETCH_END.pack(count)


def frame(oid: bytes, stored: bytes) -> bytes:
    """One object as it travels in bundles and packs."""
    crc = struct.pack(">I", zlib.crc32(stored, zlib.crc32(oid)))
    return b"O" + FRAME.pack(oid, len(stored)) + stored + crc


def read_frames(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """The ``(id, stored)`` objects of a pack (frames back to back, no header or trailer);
    raises BundleError naming the first bad frame."""
    view = memoryview(data)
    pos = 0
    while pos < len(view):
        if view[pos] != ord("O") or pos + 1 + FRAME.size > len(view):
            raise BundleError(f"pack damaged at byte {pos}: not an object frame")
        oid, length = FRAME.unpack_from(view, pos + 1)
        start = pos + 1 + FRAME.size
        end = start + length
        if end + 4 > len(view):
            raise BundleError(f"object {oid.hex()[:16]}: the pack ends inside it")
        stored = bytes(view[start:end])
        (crc,) = struct.unpack_from(">I", view, end)
        if crc != zlib.crc32(stored, zlib.crc32(oid)):
            raise BundleError(f"object {oid.hex()[:16]}: damaged (checksum mismatch)")
        yield oid, stored
        pos = end + 4


def _read_exact(source: BinaryIO, size: int, what: str) -> bytes:
    data = source.read(size)
    if len(data) != size:
        raise BundleError(f"the bundle ends early, inside {what} (truncated?)")
    return data


def read_header(source: BinaryIO, digest: Any) -> BundleHeader:
    magic = source.read(len(MAGIC))
    if magic != MAGIC:
        raise BundleError("not a Homeport bundle (its first bytes are not the bundle magic)")
    raw_len = _read_exact(source, 4, "the header")
    (length,) = struct.unpack(">I", raw_len)
    if length > MAX_HEADER:
        raise BundleError(f"bundle header claims {length} bytes: damaged")
    raw = _read_exact(source, length, "the header")
    digest.update(magic + raw_len + raw)
    try:
        doc = json.loads(raw)
    except ValueError:
        raise BundleError("bundle header is damaged: not JSON") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        version = doc.get("format") if isinstance(doc, dict) else None
        raise BundleError(
            f"bundle format {version!r} is not one this Homeport reads (it reads {FORMAT})"
        )
    try:
        base = doc["base"]
        return BundleHeader(
            did=str(doc["identity"]["did"]),
            operations=list(doc["identity"]["operations"]),
            head=bytes.fromhex(doc["head"]),
            head_seq=int(doc["head_seq"]),
            since=int(doc["since"]),
            base=bytes.fromhex(base) if base else None,
        )
    except (KeyError, TypeError, ValueError):
        raise BundleError("bundle header is damaged: a field is missing or malformed") from None


@runtime_checkable
class Feed(Protocol):
    """Objects that come other than as a bundle's bytes (a restore's download): the header
    they would have, then the objects, each once. Called again, ``objects`` starts over."""

    header: BundleHeader

    def objects(self) -> Iterator[tuple[bytes, bytes]]: ...


@dataclass
class ImportResult:
    header: BundleHeader
    new_commits: list[Commit] = field(default_factory=list)
    objects: int = 0
    new_objects: int = 0
    bytes: int = 0
    external_links: int = 0


class Importer:
    """Reads a bundle into a repository as unverified objects, then verifies and adopts them."""

    def __init__(
        self,
        repo: Repository,
        keys: RepoKeys | None,
        allow_external: bool = False,
        adopt_unreached: bool = True,
        defer_chunks: bool = False,
        remember: bool = False,
    ) -> None:
        self.repo = repo
        self.keys = keys
        self.allow_external = allow_external
        self.adopt_unreached = adopt_unreached
        """False for a provider: uploads the commits do not reach stay pending (seq 0)."""
        self.defer_chunks = defer_chunks and keys is not None
        """Sealed chunks are checked for shape on reading and opened later, once
        (``check_deferred``): a checkout that opens them anyway checks them then."""
        self.deferred: set[bytes] = set()
        self.remember = remember
        """Hand what was opened here (all but chunks) to ``repo.remember``: the checkout
        that follows reads it from there instead of opening and hashing it again."""
        self.fresh: dict[bytes, tuple[bytes, ...]] = {}
        """The links of the objects this import put and no commit adopted yet (``_adopt``
        walks them without asking the database)."""
        self.problems: list[str] = []
        self._open = False
        self._pending = 0

    def problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)

    def _begin(self) -> None:
        if not self._open:
            self.repo.db.begin()
            self._open = True

    def _commit(self) -> None:
        self._pending = 0
        if self._open:
            self.repo.db.commit()
            self._open = False

    def discard(self) -> None:
        """Remove whatever this import wrote: the repository is as it was."""
        self._forget()
        if self._open:
            self.repo.db.rollback()
            self._open = False
        self.repo.db.execute("DELETE FROM objects WHERE seq = 0")

    def _forget(self) -> None:
        self.fresh.clear()
        self.repo.forget_remembered()

    def abort(self) -> None:
        """Roll back the open transaction only: objects committed before (a provider's pending
        uploads) stay, so a failed publish can be resumed."""
        self._forget()
        if self._open:
            self.repo.db.rollback()
            self._open = False

    def read(self, source: BinaryIO, header: BundleHeader, digest: Any) -> ImportResult:
        """The objects after the header (whose bytes ``digest`` has already seen)."""
        result = ImportResult(header)
        while True:
            tag = source.read(1)
            if tag == b"E":
                break
            if tag != b"O":
                raise _bad_tag(tag, source, result.objects)
            framing = _read_exact(source, FRAME.size, "an object frame")
            oid, length = FRAME.unpack(framing)
            name = oid.hex()[:16]
            if length > MAX_OBJECT:
                raise BundleError(f"object {name}: frame claims {length} bytes: damaged")
            stored = _read_exact(source, length, f"object {name}")
            crc = _read_exact(source, 4, f"object {name}")
            digest.update(tag + framing + stored + crc)
            result.objects += 1
            result.bytes += length
            if struct.unpack(">I", crc)[0] != zlib.crc32(stored, zlib.crc32(oid)):
                self.problem(f"object {name} (#{result.objects}): damaged (checksum mismatch)")
                continue
            self.take(oid, stored, result)
        trailer = source.read(TRAILER.size)
        if len(trailer) != TRAILER.size:
            raise BundleError("the bundle ends early, inside its trailer (truncated?)")
        count, expected = TRAILER.unpack(trailer)
        more = source.read(1)
        if more and count != result.objects:  # an "O" damaged into "E": name the object
            raise _bad_tag(b"E", io.BytesIO(trailer), result.objects)
        if count != result.objects:
            self.problem(f"the bundle holds {result.objects} objects, its trailer says {count}")
        if expected != digest.digest():
            self.problem("the bundle's overall checksum does not match (bytes changed or lost)")
        if more:
            self.problem("the bundle has bytes after its end")
        self._commit()
        return result

    def read_feed(self, feed: Feed) -> ImportResult:
        """The objects of ``feed`` (their frames' checksums were the feed's to check)."""
        result = ImportResult(feed.header)
        for oid, stored in feed.objects():
            result.objects += 1
            result.bytes += len(stored)
            self.take(oid, stored, result)
        self._commit()
        return result

    def take(self, oid: bytes, stored: bytes, result: ImportResult) -> None:
        """Check one object and put it (unverified, seq 0); a bad one is named in
        ``problems``. The objects are committed a batch at a time (packs written as they fill)."""
        checked = self._check(oid, stored, result.objects)
        if checked is None:
            return
        header, body = checked
        self._begin()
        if self.repo.put(oid, header.type, header.links, stored, 0):
            if len(self.fresh) < MAX_FRESH:  # past it, ``_adopt`` asks the database
                self.fresh[oid] = header.links
            result.new_objects += 1
            self._pending += len(stored)
            if self._pending >= BATCH_BYTES:
                self._commit()
        if self.remember and body is not None and header.type is not ObjectType.CHUNK:
            self.repo.remember(oid, header.type, header.links, body)

    def verify_chain(self, result: ImportResult, local_head: Commit | None) -> None:
        """Identity, signatures, the chain from the bundle's base to its head, and that every
        object the new commits reach is present. Adopts the objects (seq) as it goes."""
        header = result.header
        try:
            current_key(header.did, header.operations, verify_signature)
        except IdentityError as exc:
            raise BundleError(f"the bundle's identity log does not verify: {exc}") from None
        chain = self._load_chain(header)
        if header.since and (not chain or chain[0].seq != header.since + 1):
            raise BundleError(f"the bundle's commits do not start after commit {header.since}")
        if not header.since and chain and chain[0].prev is not None:
            raise BundleError("the bundle's first commit is not the first of its chain")
        previous = self.repo.commit_at(header.since) if header.since else None
        for commit in chain:
            try:
                if previous is None and header.since:  # the base is not here: check what we can
                    if commit.prev != header.base or commit.identity != header.did:
                        raise CommitError(f"commit {commit.seq}: does not follow the bundle's base")
                else:
                    commits.check_link(previous, commit, header.did)
                commits.check_signature(commit, header.operations, verify_signature)
            except CommitError as exc:
                raise BundleError(str(exc)) from None
            previous = commit
        if chain and chain[-1].seq != header.head_seq:
            raise BundleError(
                f"the head is commit {chain[-1].seq}, the header says {header.head_seq}"
            )
        if local_head is not None:
            _check_fast_forward(chain, header, local_head, self.repo)
        self._begin()
        for commit in chain:
            if local_head is not None and commit.seq <= local_head.seq:
                continue
            self._adopt(commit, result)
            self.repo.db.execute(
                "INSERT INTO commits VALUES (?, ?)"
                " ON CONFLICT (seq) DO UPDATE SET id = excluded.id",
                (commit.seq, commit.id),
            )
            result.new_commits.append(commit)
        if chain and self.adopt_unreached:
            self.repo.db.execute("UPDATE objects SET seq = ? WHERE seq = 0", (chain[-1].seq,))

    def _load_chain(self, header: BundleHeader) -> list[Commit]:
        """The bundle's commits, oldest first (from its head back to its base)."""
        chain: list[Commit] = []
        oid: bytes | None = header.head
        while oid is not None and oid != header.base:
            try:
                commit = self.repo.commit(oid)
            except (RepositoryError, ObjectError, CommitError) as exc:
                raise BundleError(f"commit chain broken: {exc}") from None
            chain.append(commit)
            oid = commit.prev
        chain.reverse()
        return chain

    def _adopt(self, commit: Commit, result: ImportResult) -> None:
        """Give the objects ``commit`` reaches and nobody had yet its seq; name missing ones.
        Walked a level at a time: this import's own objects from memory (``fresh``), the
        others' rows asked for a level at once, and the seqs set in one batch."""
        level: list[tuple[bytes, bytes]] = [(commit.id, b"")]
        adopted: set[bytes] = set()
        while level:
            known = self._pending_links([oid for oid, _ in level if oid not in self.fresh])
            following: list[tuple[bytes, bytes]] = []
            for oid, parent in level:
                if oid in adopted:
                    continue
                links = self.fresh.pop(oid, None)
                if links is None:
                    found = known.get(oid)
                    if found is None:
                        self._missing(oid, parent, result)
                        continue
                    if found[0] != 0:
                        continue
                    links = found[1]
                adopted.add(oid)
                following.extend((link, oid) for link in links)
            level = following
        self.repo.db.executemany(
            "UPDATE objects SET seq = ? WHERE id = ?", [(commit.seq, oid) for oid in adopted]
        )

    def _pending_links(self, ids: list[bytes]) -> dict[bytes, tuple[int, tuple[bytes, ...]]]:
        """``id → (seq, links)`` of those of ``ids`` that are here."""
        found: dict[bytes, tuple[int, tuple[bytes, ...]]] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), 500):
            part = unique[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self.repo.db.execute(
                f"SELECT id, seq, links FROM objects WHERE id IN ({marks})", part
            ).fetchall()
            for oid, seq, links in rows:
                found[bytes(oid)] = (int(seq), split_links(bytes(links)))
        return found

    def _missing(self, oid: bytes, parent: bytes, result: ImportResult) -> None:
        if parent and oid == result.header.base:
            return  # the commit before the chain, outside this repository
        if parent and self.allow_external:
            result.external_links += 1
            return
        where = f" (linked from {parent.hex()[:16]})" if parent else ""
        self.problem(f"object {oid.hex()[:16]}{where} is missing")

    def explain(self, error: BundleError) -> BundleError:
        """``error`` after the problems found before it (which name the objects they hit)."""
        text = str(error)
        earlier = [p for p in self.problems if p not in text.splitlines()]
        return BundleError("\n".join([*earlier, text]))

    def _check(self, oid: bytes, stored: bytes, n: int) -> tuple[Header, bytes | None] | None:
        """The object's header and the body opened to check it (a sealed chunk's opening
        deferred, when asked: None, as without keys); None when it is bad."""
        deferred = self.defer_chunks and _sealed_chunk(stored)
        try:
            checked = verify(oid, stored, None if deferred else self.keys)
        except ObjectError as exc:
            self.problem(f"{exc} (#{n})")
            return None
        if deferred:
            self.deferred.add(oid)
        return checked

    def check_deferred(self, opened: set[bytes]) -> None:
        """Open the deferred chunks that were not opened (and so checked) as ``opened``."""
        for oid in sorted(self.deferred - opened):
            try:
                decode(oid, self.repo.raw(oid), self.keys)
            except ObjectError as exc:
                self.problem(str(exc))
        self.deferred.clear()

    def finish(self) -> None:
        if self.deferred:
            self.problem(f"{len(self.deferred)} private chunks were never checked")
        if self.problems:
            raise BundleError("\n".join(self.problems))
        self._commit()


def _sealed_chunk(stored: bytes) -> bool:
    try:
        header = read_object_header(stored)
    except ObjectFormatError:
        return False  # check() names it
    return header.type is ObjectType.CHUNK and header.sealed


def _bad_tag(tag: bytes, source: BinaryIO, count: int) -> BundleError:
    """Where an object frame should start: the end of the file, or a damaged frame tag (the id
    that follows names the object it hit)."""
    if not tag:
        return BundleError(f"the bundle ends early after {count} objects (truncated?)")
    return BundleError(
        f"object {source.read(32).hex()[:16]} (#{count + 1}): damaged "
        "(its frame does not start with 'O')"
    )


def _check_fast_forward(
    chain: list[Commit], header: BundleHeader, local_head: Commit, repo: Repository
) -> None:
    """The bundle continues this home's history: its head is the same commit or follows it."""
    mine = next((c for c in chain if c.seq == local_head.seq), None)
    if (
        local_head.seq > header.head_seq
        or (mine is not None and mine.id != local_head.id)
        or (mine is None and local_head.seq > header.since)
    ):
        raise Diverged(
            f"this home's commit {local_head.seq} is not in the bundle's history: they "
            "have diverged; nothing was imported",
            _last_shared(chain, header, local_head, repo),
        )
    if local_head.seq < header.since:
        raise BundleError(
            f"the bundle holds changes after commit {header.since}, this home only has "
            f"{local_head.seq}: import an earlier bundle first"
        )


def _last_shared(
    chain: list[Commit], header: BundleHeader, local_head: Commit, repo: Repository
) -> int:
    """The last commit both this home and the bundle hold (0: none). Commits link back to
    their parents, so the first one that differs ends what they share."""
    shared = header.since  # import_bundle checked that the bundle's base is this home's
    for commit in chain:
        if commit.seq > local_head.seq:
            break
        mine = repo.commit_at(commit.seq)
        if mine is None or mine.id != commit.id:
            break
        shared = commit.seq
    return shared


def import_bundle(
    repo: Repository,
    source: BinaryIO | Feed,
    keys: RepoKeys | None,
    local_head: Commit | None,
    did: str | None,
    before_commit: Callable[[ImportResult], None] | None = None,
    opened: set[bytes] | None = None,
) -> ImportResult:
    """Verify a bundle completely, then make its commits part of ``repo``; on any problem,
    raise BundleError and leave the repository as it was. With ``opened``, sealed chunks are
    opened once: ``before_commit`` may open them through ``repo.read`` (which checks each) and
    name those in ``opened``; the others are opened after it, all before the commit.
    ``source``: a bundle's bytes, or a ``Feed`` of objects."""
    importer = Importer(repo, keys, defer_chunks=opened is not None, remember=True)
    importer.discard()  # leftovers of an import that was killed
    digest = hashlib.sha256()
    header = source.header if isinstance(source, Feed) else read_header(source, digest)
    if did is not None and header.did != did:
        raise BundleError(f"the bundle belongs to {header.did}, this home is {did}")
    if header.since and local_head is None:
        raise BundleError(
            f"the bundle only holds changes after commit {header.since}; "
            "import a full bundle into a new home"
        )
    if header.since and header.base is not None:
        mine = repo.commit_at(header.since)
        if mine is None or mine.id != header.base:
            raise BundleError(f"the bundle follows a commit {header.since} this home does not have")
    try:
        if isinstance(source, Feed):
            result = importer.read_feed(source)
        else:
            result = importer.read(source, header, digest)
        importer.verify_chain(result, local_head)
        if before_commit is not None and not importer.problems:
            before_commit(result)
        importer.check_deferred(opened or set())
        importer.finish()
    except Diverged:
        importer.discard()
        if importer.problems:  # a damaged bundle is not a history to move to
            raise importer.explain(BundleError("the bundle does not verify")) from None
        raise
    except BundleError as exc:
        importer.discard()
        raise importer.explain(exc) from None
    except BaseException:
        importer.discard()
        raise
    return result


def verify_bundle(source: BinaryIO, keys: RepoKeys | None, scratch: Path) -> ImportResult:
    """Check a bundle on its own, in a scratch repository that is deleted afterwards. Without
    keys, private objects are checked for shape and checksum only."""
    digest = hashlib.sha256()
    header = read_header(source, digest)
    repo = Repository(scratch / "verify.sqlite", keys)
    try:
        importer = Importer(repo, keys, allow_external=header.since > 0)
        try:
            result = importer.read(source, header, digest)
            importer.verify_chain(result, None)
            importer.finish()
        except BundleError as exc:
            raise importer.explain(exc) from None
        return result
    finally:
        repo.close()
