"""Applying a snapshot to the store: restore into an empty home, or move a home forward from one
commit to a later one. Only keys whose entries differ between the two trees are touched.

Objects keep their ``last_modified``: they are written parents first and, within a collection,
oldest first, so the store's rule (a client timestamp is kept when it is newer than the
collection's) leaves each one as it was. Attachments are re-assembled from their chunks and
checked against the hash their record names before the records are written.

An import calls ``restore_files`` before it commits: it puts the new attachments into the blob
store while opening their chunks, which checks them, so each private chunk is opened once in a
restore and the checkout finds the attachments there.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homeport.core import tree
from homeport.core.commits import Commit
from homeport.core.errors import ObjectNotFound
from homeport.core.mediarefs import file_digests
from homeport.core.objects import ObjectType
from homeport.repo.repository import Repository, RepositoryError
from homeport.repo.snapshot import ORDER, split_key
from homeport.store.protocols import BlobStore, RecordStore

READ_BATCH = 500
"""The checkout asks the store for this many objects' current state at once."""


@dataclass
class CheckoutResult:
    written: int
    deleted: int
    files: int


async def _chunks(repo: Repository, file_id: bytes) -> AsyncIterator[bytes]:
    kind, links, _ = repo.read(file_id)
    if kind is not ObjectType.FILE:
        raise RepositoryError(f"object {file_id.hex()[:16]} should be a file")
    for chunk_id in links:
        kind, _, data = repo.read(chunk_id)
        if kind is not ObjectType.CHUNK:
            raise RepositoryError(f"object {chunk_id.hex()[:16]} should be a chunk")
        yield data


class _FileReader(io.RawIOBase):
    """A file object's bytes as a file to read, chunk by chunk (each opened, so checked, by
    ``repo.read``); the chunks' ids are added to ``opened``."""

    def __init__(self, repo: Repository, file_id: bytes, opened: set[bytes]) -> None:
        kind, links, _ = repo.read(file_id)
        if kind is not ObjectType.FILE:
            raise RepositoryError(f"object {file_id.hex()[:16]} should be a file")
        self.repo, self.opened = repo, opened
        self.chunks = iter(links)
        self.buffer = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self.buffer:
            chunk_id = next(self.chunks, None)
            if chunk_id is None:
                return 0
            kind, _, data = self.repo.read(chunk_id)
            if kind is not ObjectType.CHUNK:
                raise RepositoryError(f"object {chunk_id.hex()[:16]} should be a chunk")
            self.opened.add(chunk_id)
            self.buffer = memoryview(data)
        n = min(len(target), len(self.buffer))
        target[:n] = self.buffer[:n]
        self.buffer = self.buffer[n:]
        return n


def linked_files(data: dict[str, Any], links: tuple[bytes, ...]) -> list[tuple[bytes, str | None]]:
    """``(file id, digest)`` of the files an entry links, in ``core.mediarefs`` order. When the
    snapshot found some file missing, the links are fewer than the digests and cannot be paired
    by position: the digest is then None, and the file is learnt by writing it."""
    digests = file_digests(data)
    if len(links) == len(digests):
        return list(zip(links, digests, strict=True))
    return [(file_id, None) for file_id in links]


def _put_linked(
    blobs: BlobStore, file_id: bytes, digest: str | None, named: list[str], read: Any
) -> bool:
    """Write one linked file unless its digest is there; whether it wrote. A file that comes
    out as no digest its record names is removed and refused."""
    if digest is not None and blobs.exists(digest):
        return False
    got = blobs.put_file(io.BufferedReader(read()))
    if got != digest and (digest is not None or got not in named):
        blobs.delete(got)
        wanted = digest or "a file its record names"
        raise RepositoryError(f"file {file_id.hex()[:16]} does not re-assemble to {wanted}")
    return True


def restore_files(
    repo: Repository, old: Commit | None, new: Commit, blobs: BlobStore, opened: set[bytes]
) -> int:
    """Put the files ``new``'s entries link and ``old``'s lack into the blob store; how many
    were written. The chunks read are named in ``opened``."""
    written = 0
    for key, _, value in tree.diff(repo.root(old), repo.root(new), repo.node):
        if not key.startswith("/") or value is None:
            continue
        kind, links, body = repo.read(value[0])
        if kind is not ObjectType.ENTRY or not links:
            continue
        data = json.loads(body)["data"]
        named = file_digests(data)
        for file_id, digest in linked_files(data, links):
            written += _put_linked(
                blobs, file_id, digest, named, lambda f=file_id: _FileReader(repo, f, opened)
            )
    return written


async def restore_file(repo: Repository, blobs: BlobStore, file_id: bytes, digest: str) -> bool:
    """Put a file object's bytes into the blob store unless it is there; whether it wrote."""
    if blobs.exists(digest):
        return False
    got = await blobs.put_stream(_chunks(repo, file_id))
    if got != digest:
        blobs.delete(got)
        raise RepositoryError(f"file {file_id.hex()[:16]} does not re-assemble to {digest}")
    return True


def restore_site_file(repo: Repository, site_root: Path, key: str, file_id: bytes | None) -> None:
    """Write (or remove) one rendered site file, through a temporary file and a rename."""
    rel = Path(key.removeprefix("site/"))
    if rel.is_absolute() or ".." in rel.parts:
        raise RepositoryError(f"{key}: not a path inside the site folder")
    target = site_root / rel
    if file_id is None:
        target.unlink(missing_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    kind, links, _ = repo.read(file_id)
    if kind is not ObjectType.FILE:
        raise RepositoryError(f"{key}: object {file_id.hex()[:16]} is not a file")
    with open(partial, "wb") as out:
        for chunk_id in links:
            out.write(repo.read(chunk_id)[2])
    os.replace(partial, target)


async def checkout(
    repo: Repository,
    old: Commit | None,
    new: Commit,
    store: RecordStore,
    blobs: BlobStore,
    site_root: Path | None = None,
) -> CheckoutResult:
    """Make the store (and the rendered sites under ``site_root``) hold ``new``'s state, given
    that they hold ``old``'s."""
    upserts: list[tuple[str, dict[str, Any], tuple[bytes, ...]]] = []
    deletes: list[str] = []
    for key, _, value in tree.diff(repo.root(old), repo.root(new), repo.node):
        if key.startswith("site/"):
            if site_root is not None:
                restore_site_file(repo, site_root, key, value[0] if value else None)
            continue
        if not key.startswith("/"):
            continue
        if value is None:
            deletes.append(key)
            continue
        kind, links, body = repo.read(value[0])
        if kind is not ObjectType.ENTRY:
            raise RepositoryError(f"{key}: object {value[0].hex()[:16]} is not an entry")
        upserts.append((key, json.loads(body), links))
    files = 0
    for _key, doc, links in upserts:
        for file_id, digest in linked_files(doc["data"], links):
            if digest is None:
                named = file_digests(doc["data"])
                files += _put_linked(
                    blobs, file_id, None, named, lambda f=file_id: _FileReader(repo, f, set())
                )
            else:
                files += await restore_file(repo, blobs, file_id, digest)

    def order(item: tuple[str, dict[str, Any], tuple[bytes, ...]]) -> tuple[int, str, int]:
        name, parent, _ = split_key(item[0])
        return ORDER[name], parent, int(item[1]["data"].get("last_modified", 0))

    upserts.sort(key=order)
    await _write(store, upserts, deletes)
    return CheckoutResult(len(upserts), len(deletes), files)


async def _write(
    store: RecordStore,
    upserts: list[tuple[str, dict[str, Any], tuple[bytes, ...]]],
    deletes: list[str],
) -> None:
    """Parents are written before children, then children are deleted before parents.
    Writing first matters: a deletion stamps its tombstone with the current time, which would
    make the store refuse (and replace) the older ``last_modified`` of every object written
    after it in the same collection."""
    async with store.transaction():
        for start in range(0, len(upserts), READ_BATCH):
            part = upserts[start : start + READ_BATCH]
            keys = [split_key(key) for key, _, _ in part]
            found = await store.get_many(keys)
            for (key, doc, _), (name, parent, object_id), current in zip(
                part, keys, found, strict=True
            ):
                await _upsert(store, key, doc, name, parent, object_id, current)
        for key in sorted(deletes, key=lambda k: -k.count("/")):
            name, parent, object_id = split_key(key)
            with contextlib.suppress(ObjectNotFound):
                await store.delete(name, parent, object_id)
            await store.delete_permissions(key)
            if name == "group":
                await store.remove_principal(key)


async def _upsert(
    store: RecordStore,
    key: str,
    doc: dict[str, Any],
    name: str,
    parent: str,
    object_id: str,
    current: Any,
) -> None:
    """One object as ``doc`` says, given what the store holds (``current``, None: nothing)."""
    before = set(current.get("members", [])) if name == "group" and current else set()
    if current is None or dict(current) != doc["data"]:
        # (an object already as it should be is left alone: updating it again would give it a
        # new last_modified, e.g. when a killed import's checkout is re-run)
        await store.update(name, parent, object_id, doc["data"])
    await store.set_permissions(
        key, {perm: set(who) for perm, who in doc.get("permissions", {}).items()}
    )
    if name == "group":
        after = set(doc["data"].get("members", []))
        for member in before - after:
            await store.remove_user_principal(member, key)
        for member in after - before:
            await store.add_user_principal(member, key)
