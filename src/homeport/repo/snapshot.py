"""Taking a snapshot: what changed in the store since the last one becomes new objects, a new
tree root and a signed commit.

Cost follows change. The store's timestamps (one read) are compared with the cursor saved at the
last snapshot; only pairs whose timestamp moved are listed, and only their objects newer than the
cursor. Attachments are found through the local file index (path, size, mtime, inode), so an
unchanged file is never read again, and a changed one is cut into chunks of which only the new
ones are stored. The tree is updated along the changed keys' paths only.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from homeport.core import commits, tree
from homeport.core.canonical import canonical
from homeport.core.commits import Commit
from homeport.core.mediarefs import MAX_FILES, file_digests
from homeport.core.objects import ObjectType
from homeport.core.query import Filter, Op
from homeport.crypto.signing import sign
from homeport.repo.chunking import chunk_stream
from homeport.repo.codec import encode, object_id
from homeport.repo.repository import Repository
from homeport.store.protocols import BlobStore, JSONObject, Permissions, RecordStore

EVERYONE = "system.Everyone"
BATCH_BYTES = 32 * 1024 * 1024
"""Objects are committed to the repository in batches of about this size, so a first snapshot
of a large library never holds one huge transaction (objects are harmless until named)."""

PLURAL = {
    "bucket": "buckets",
    "collection": "collections",
    "group": "groups",
    "record": "records",
    "account": "accounts",
}
SINGULAR = {v: k for k, v in PLURAL.items()}
ORDER = {"bucket": 0, "account": 0, "collection": 1, "group": 1, "record": 2}


def key_of(resource_name: str, parent_id: str, object_id: str) -> str | None:
    """The snapshot key of a store object: its Kinto URI."""
    plural = PLURAL.get(resource_name)
    return None if plural is None else f"{parent_id}/{plural}/{object_id}"


def split_key(key: str) -> tuple[str, str, str]:
    """``(resource_name, parent_id, id)`` of a store key."""
    parent, plural, object_id = key.rsplit("/", 2)
    return SINGULAR[plural], parent, object_id


def ancestors(uri: str) -> list[str]:
    """The URI itself and its parents: record → collection → bucket."""
    parts = uri.split("/")
    return ["/".join(parts[:n]) for n in range(len(parts), 2, -2)]


def is_public(uri: str, permissions: dict[str, Permissions]) -> bool:
    """Whether ``system.Everyone`` may read the object (directly or through a parent)."""
    if uri.startswith("/accounts/"):
        return False
    for level in ancestors(uri):
        granted = permissions.get(level, {})
        if EVERYONE in granted.get("read", ()) or EVERYONE in granted.get("write", ()):
            return True
    return False


def _is_container(key: str) -> bool:
    """A bucket or a collection: what records inherit their readers from."""
    parts = key.split("/")
    return parts[1] == "buckets" and (
        len(parts) == 3 or (len(parts) == 5 and parts[3] == "collections")
    )


@dataclass(frozen=True)
class Signer:
    """Who signs commits: the home's identity and the device key in force."""

    identity: str
    key: Ed25519PrivateKey
    key_did: str
    identity_seq: int


@dataclass
class SnapshotResult:
    commit: Commit | None
    """The new commit; None when nothing changed since the head."""
    changed_keys: int = 0
    new_objects: int = 0
    new_bytes: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)


class ObjectWriter:
    """Puts objects into the repository in batched transactions, counting what was new."""

    def __init__(self, repo: Repository, seq: int) -> None:
        self.repo = repo
        self.seq = seq
        self.objects = 0
        self.bytes = 0
        self._pending = 0
        self._open = False

    def put(self, oid: bytes, kind: ObjectType, links: tuple[bytes, ...], stored: bytes) -> None:
        self._begin()
        if self.repo.put(oid, kind, links, stored, self.seq):
            self.objects += 1
            self.bytes += len(stored)
            self._pending += len(stored)
            if self._pending >= BATCH_BYTES:
                self.flush()

    def store(
        self, kind: ObjectType, links: tuple[bytes, ...], body: bytes, private: bool
    ) -> bytes:
        """Name an object, and store it unless the repository has it."""
        oid = object_id(kind, links, body, private, self.repo.keys)
        if not self.repo.has(oid):
            _, stored = encode(kind, links, body, private, self.repo.keys, oid)
            self.put(oid, kind, links, stored)
        return oid

    def _begin(self) -> None:
        if not self._open:
            self.repo.db.begin()
            self._open = True

    def flush(self) -> None:
        if self._open:
            self.repo.db.commit()  # writes the batch's pack, then its rows
            self._open = False
            self._pending = 0

    def abort(self) -> None:
        if self._open:
            self.repo.db.rollback()
            self._open = False


class Snapshotter:
    def __init__(self, store: RecordStore, blobs: BlobStore, repo: Repository) -> None:
        self.store = store
        self.blobs = blobs
        self.repo = repo
        self.warnings: list[str] = []

    async def changes(
        self,
    ) -> tuple[dict[str, JSONObject | None], dict[str, Permissions], dict[tuple[str, str], int]]:
        """Changed keys (None: gone), the permissions they need, and the store's timestamps,
        read in one store transaction so they are one consistent cut."""
        cursor = self.repo.cursor() if self.repo.meta(ENTRY_LINKS) == LINKS_MEDIA else {}
        async with self.store.transaction():
            now = await self.store.timestamps()
            found: dict[str, JSONObject | None] = {}
            moved = [p for p, ts in now.items() if cursor.get(p) != ts and p[0] in PLURAL]
            for name, parent in sorted(moved, key=lambda p: (ORDER[p[0]], p[1])):
                since = cursor.get((name, parent))
                filters = [] if since is None else [Filter("last_modified", Op.GT, since)]
                rows = await self.store.list_all(
                    name, parent, filters=filters, include_deleted=since is not None
                )
                for row in rows:
                    key = key_of(name, parent, str(row["id"]))
                    if key is not None:
                        found[key] = None if row.get("deleted") else row
            for name, parent in set(cursor) - set(now):
                plural = PLURAL.get(name)
                for key in self.repo.entries_under(parent):
                    if key.rsplit("/", 2)[1] == plural:
                        found.setdefault(key, None)
            uris = {level for key in found for level in ancestors(key)}
            permissions = await self.store.get_permissions_many(uris)
            for key, obj in list(found.items()):
                if not _is_container(key):
                    continue
                if obj is None:  # a bucket or collection went: so did everything below it
                    for below in self.repo.entries_under(key):
                        found.setdefault(below, None)
                    continue
                old = self.repo.entry(key)
                if old is not None and old[1] == is_public(key, permissions):
                    await self._rescan(key, found)  # its privacy flipped: so did its children
            extra = {level for key in found for level in ancestors(key)} - set(permissions)
            if extra:
                permissions.update(await self.store.get_permissions_many(extra))
        return found, permissions, now

    async def _rescan(self, prefix: str, found: dict[str, JSONObject | None]) -> None:
        pairs = (
            [("record", prefix)]
            if "/collections/" in prefix
            else [("collection", prefix), ("group", prefix)]
        )
        if "/collections/" not in prefix:
            for collection in await self.store.list_all("collection", prefix):
                pairs.append(("record", f"{prefix}/collections/{collection['id']}"))
        for below in self.repo.entries_under(prefix):
            found.setdefault(below, None)
        for name, parent in pairs:
            for row in await self.store.list_all(name, parent):
                key = key_of(name, parent, str(row["id"]))
                if key is not None:
                    found[key] = row

    def entry_object(
        self,
        writer: ObjectWriter,
        key: str,
        obj: JSONObject,
        permissions: Permissions,
        private: bool,
    ) -> bytes:
        links: list[bytes] = []
        if key.count("/") == 6:  # a record: its attachment and media references
            digests = file_digests(obj)
            if len(digests) > MAX_FILES:
                self.warnings.append(f"{key}: names {len(digests)} files; {MAX_FILES} are kept")
            for digest in digests[:MAX_FILES]:
                file_id = self.file_object(writer, digest, private)
                if file_id is None:
                    self.warnings.append(f"{key}: file {digest} is missing from the blob store")
                else:
                    links.append(file_id)
        doc = {
            "data": obj,
            "permissions": {perm: sorted(who) for perm, who in sorted(permissions.items())},
        }  # keys in the store's order; the id hashes the canonical form (codec.hashed_body)
        body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        return writer.store(ObjectType.ENTRY, tuple(links), body, private)

    def file_object(self, writer: ObjectWriter, digest: str, private: bool) -> bytes | None:
        path = self.blobs.path(digest) if self.blobs.exists(digest) else None
        if path is None:
            return None
        return store_file(writer, Path(path), private)


def store_file(writer: ObjectWriter, path: Path, private: bool) -> bytes:
    """A file as chunks and a file object; an unchanged file (size, mtime, inode) is not read."""
    repo = writer.repo
    info = os.stat(path)
    known = repo.indexed_file(str(path), private, info.st_size, info.st_mtime_ns, info.st_ino)
    if known is not None:
        return known
    chunk_ids: list[bytes] = []
    size = 0
    with open(path, "rb") as source:
        for _, data in chunk_stream(source):
            chunk_ids.append(writer.store(ObjectType.CHUNK, (), data, private))
            size += len(data)
    oid = writer.store(ObjectType.FILE, tuple(chunk_ids), canonical({"size": size}), private)
    writer._begin()
    repo.index_file(str(path), private, info.st_size, info.st_mtime_ns, info.st_ino, oid)
    return oid


async def take_snapshot(
    store: RecordStore,
    blobs: BlobStore,
    repo: Repository,
    signer: Signer,
    now_ms: int | None = None,
    site_root: Path | None = None,
) -> SnapshotResult:
    """Record what changed since the head as a new signed commit (nothing, if nothing did).
    Files under ``site_root`` (the rendered sites) are included as public ``site/…`` keys."""
    started = time.perf_counter()
    head = repo.head()
    snap = Snapshotter(store, blobs, repo)
    site = site_files(site_root)
    signature = _signature(site)
    if (
        head is not None
        and repo.cursor() == await store.timestamps()
        and repo.meta(SITE_SIGNATURE) == signature
        and repo.meta(ENTRY_LINKS) == LINKS_MEDIA
    ):
        return SnapshotResult(None, seconds=time.perf_counter() - started)
    found, permissions, now = await snap.changes()
    writer = ObjectWriter(repo, (head.seq if head else 0) + 1)
    try:
        changes: dict[str, tree.Value | None] = {}
        if repo.meta(SITE_SIGNATURE) != signature:
            for key in repo.entries_under("site"):
                if key not in site:
                    changes[key] = None
            for key, (path, _) in site.items():
                changes[key] = (store_file(writer, path, False), False)
        for key, obj in found.items():
            if obj is None:
                changes[key] = None
                continue
            private = not is_public(key, permissions)
            oid = snap.entry_object(writer, key, obj, permissions.get(key, {}), private)
            changes[key] = (oid, private)
        changes = {k: v for k, v in changes.items() if repo.entry(k) != v}
        old_root = repo.root(head)
        new_root = tree.update(old_root, changes, repo.node) if changes else old_root
        writer._begin()
        root_id = tree.save_all(
            new_root,
            lambda node: writer.store(ObjectType.NODE, _ids(node.links), node.body(), node.sealed),
        )
        commit = None
        if head is None or root_id != head.root:
            commit = _commit(writer, head, root_id, signer, now_ms)
        _drop_orphans(writer, head, commit)
        repo.set_entries(changes.items())
        repo.set_cursor(now)
        repo.set_meta(SITE_SIGNATURE, signature)
        repo.set_meta(ENTRY_LINKS, LINKS_MEDIA)
        writer.flush()
    except BaseException:
        writer.abort()
        raise
    return SnapshotResult(
        commit,
        len(changes),
        writer.objects,
        writer.bytes,
        time.perf_counter() - started,
        snap.warnings,
    )


SITE_SIGNATURE = "site_signature"
ENTRY_LINKS = "entry_links"
LINKS_MEDIA = "media"
"""Entries link every file their record names (``core.mediarefs``), not only the attachment.
A repository whose snapshots predate that re-reads every record once, so the entries of
photos and images made before get their links (and their files reach the providers)."""


def site_files(root: Path | None) -> dict[str, tuple[Path, os.stat_result]]:
    """``site/<relative path>`` → (file, stat) for every file under ``root``."""
    found: dict[str, tuple[Path, os.stat_result]] = {}
    if root is None or not root.is_dir():
        return found
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            found[f"site/{rel}"] = (path, path.stat())
    return found


def _signature(files: dict[str, tuple[Path, os.stat_result]]) -> str:
    """Changes when a site file is added, removed or rewritten (size, mtime, inode)."""
    digest = hashlib.sha256()
    for key in sorted(files):
        info = files[key][1]
        digest.update(f"{key}\0{info.st_size}\0{info.st_mtime_ns}\0{info.st_ino}\n".encode())
    return digest.hexdigest()


def _drop_orphans(writer: ObjectWriter, head: Commit | None, commit: Commit | None) -> None:
    """Remove objects written for this commit that it does not reach (left by a killed
    snapshot whose data changed before the re-run), so every stored object is reachable."""
    from homeport.repo.walk import changed

    repo = writer.repo
    writer._begin()
    if commit is None:
        repo.db.execute("DELETE FROM objects WHERE seq = ?", (writer.seq,))
        return
    repo.db.execute("CREATE TEMP TABLE IF NOT EXISTS reached (id BLOB PRIMARY KEY)")
    repo.db.execute("DELETE FROM reached")
    ids = changed(repo, head.id if head else None, commit.id)
    repo.db.executemany("INSERT OR IGNORE INTO reached VALUES (?)", ((i,) for i in ids))
    gone = repo.db.execute(
        "DELETE FROM objects WHERE seq = ? AND id NOT IN (SELECT id FROM reached)", (writer.seq,)
    ).rowcount
    repo.db.execute("DELETE FROM reached")
    if gone:
        repo.db.execute("DELETE FROM files WHERE id NOT IN (SELECT id FROM objects)")


def _ids(links: Iterable[bytes | tree.Node]) -> tuple[bytes, ...]:
    out = []
    for link in links:
        assert isinstance(link, bytes)
        out.append(link)
    return tuple(out)


def _commit(
    writer: ObjectWriter,
    head: Commit | None,
    root_id: bytes,
    signer: Signer,
    now_ms: int | None,
) -> Commit:
    doc: dict[str, Any] = commits.unsigned_body(
        seq=writer.seq,
        prev=head.id if head else None,
        root=root_id,
        created=now_ms if now_ms is not None else int(time.time() * 1000),
        identity=signer.identity,
        key=signer.key_did,
        identity_seq=signer.identity_seq,
        objects=writer.objects,
        size=writer.bytes,
    )
    doc["sig"] = sign(signer.key, commits.signing_bytes(doc))
    body = commits.body(doc)
    links = (root_id,) if head is None else (root_id, head.id)
    oid = writer.store(ObjectType.COMMIT, links, body, False)
    writer.repo.db.execute("INSERT INTO commits VALUES (?, ?)", (writer.seq, oid))
    return commits.parse(oid, body, links)
