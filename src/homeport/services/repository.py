"""Use cases of the signed repository: snapshot, log, export, import, verify. They tie a data
dir's identity, keys, store and blobs to ``homeport.repo``.

Import into a new home asks for the phrase (the bundle's private objects and the right to sign
need it) and checks it against the bundle's identity before writing anything. After an import the
store is brought to the new head (a checkout); the repository remembers a checkout in progress,
so a killed import is finished by the next import or snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from homeport.core import tree
from homeport.core.commits import Commit
from homeport.crypto.keys import PhraseKeys, did_key
from homeport.repo import bundle, gc
from homeport.repo.bundle import BundleError, BundleHeader, ExportResult, Feed, ImportResult
from homeport.repo.checkout import CheckoutResult, checkout, restore_files
from homeport.repo.codec import ObjectError, RepoKeys
from homeport.repo.repository import PACKS_DIR, REPO_FILE, Repository, RepositoryError
from homeport.repo.snapshot import SITE_SIGNATURE, Signer, SnapshotResult, take_snapshot
from homeport.repo.verify import VerifyReport, verify_repository
from homeport.services import identity as ids
from homeport.services.identity import repo_keys
from homeport.settings import SITES_DIR, Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.open import open_record_store
from homeport.store.protocols import BlobStore, RecordStore

CHECKOUT_FROM = "checkout_from"
SET_ASIDE_DIR = "set-aside"
"""Where a move back keeps the commits of this copy that the provider's history lacks."""


class RepoStateError(Exception):
    """The home is not in a state where this command can run; the message says what to do."""


def signer(data_dir: Path) -> Signer:
    identity = ids.load(data_dir)
    key = Ed25519PrivateKey.from_private_bytes(ids.secret(data_dir, "signing.key"))
    key_did = did_key(key.public_key())
    if key_did != identity.signing_key:
        raise RepoStateError(
            "this device's signing key is no longer the one in force (rotated on another "
            "device?): run 'homeport identity rotate' with the phrase"
        )
    return Signer(identity.did, key, key_did, len(identity.operations))


@contextlib.contextmanager
def open_repo(settings: Settings, keys: RepoKeys | None = None) -> Iterator[Repository]:
    repo = Repository.open(settings.data_dir, keys or repo_keys(settings.data_dir))
    try:
        yield repo
    finally:
        repo.close()


@contextlib.asynccontextmanager
async def _open_store(settings: Settings) -> AsyncIterator[RecordStore]:
    store = open_record_store(settings.record_store_url)
    await store.initialize()
    try:
        yield store
    finally:
        await store.close()


async def snapshot(
    settings: Settings, store: RecordStore | None = None, blobs: BlobStore | None = None
) -> SnapshotResult:
    """Snapshot the home; a running server passes the store and blobs it has open."""
    sign_with = signer(settings.data_dir)
    blobs = blobs or FsBlobStore(settings.blobs_dir)
    if store is None:
        async with _open_store(settings) as opened:
            return await _snapshot(settings, opened, blobs, sign_with)
    return await _snapshot(settings, store, blobs, sign_with)


async def _snapshot(
    settings: Settings, store: RecordStore, blobs: BlobStore, sign_with: Signer
) -> SnapshotResult:
    async with gc.writers(settings.data_dir):
        with open_repo(settings) as repo:
            await _finish_checkout(repo, store, blobs, settings.data_dir / SITES_DIR)
            return await take_snapshot(
                store, blobs, repo, sign_with, site_root=settings.data_dir / SITES_DIR
            )


def log(settings: Settings) -> list[Commit]:
    ids.load(settings.data_dir)
    with open_repo(settings) as repo:
        return list(repo.commits())


def export(settings: Settings, target: Path, since: int = 0) -> ExportResult:
    """Write a bundle to ``target`` through a temporary file: a killed export leaves no
    half-written bundle under the final name."""
    identity = ids.load(settings.data_dir)
    with open_repo(settings) as repo:
        partial = target.with_name(f".{target.name}.part")
        try:
            with open(partial, "wb") as out:
                result = bundle.export_bundle(repo, ids.document(identity), out, since)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    return result


@dataclass
class ImportOutcome:
    result: ImportResult
    checkout: CheckoutResult | None
    did: str
    new_home: bool
    set_aside: SetAside | None = None


@dataclass(frozen=True)
class SetAside:
    """Commits of this copy that a move back took out of its history, kept in ``path`` (a
    full bundle of the history as it was: ``homeport import`` reads it into an empty home)."""

    path: Path
    first: int
    last: int


async def import_bundle(
    settings: Settings,
    source: Path | Feed,
    phrase: str | None,
    store: RecordStore | None = None,
    blobs: BlobStore | None = None,
    set_aside: bool = False,
) -> ImportOutcome:
    """Import a bundle (see the module's docstring). A running home passes the store and blobs
    it has open; its first-run restore may then hold the owner's account, but no bucket.
    ``set_aside`` (a move back from a provider): when this home made commits the bundle's
    history lacks, keep them in a file (``_set_aside``) and go back to the last commit the
    two share before importing, instead of refusing. No garbage collection runs meanwhile.
    ``source``: a bundle file, or a ``Feed`` of objects (a restore's download, read once more
    if the history has to be set aside first). A feed is read in a worker thread: a hosted
    home restoring from the provider process it runs in keeps its event loop free to answer."""
    async with gc.writers(settings.data_dir):
        return await _import_bundle(settings, source, phrase, store, blobs, set_aside)


async def _import_bundle(
    settings: Settings,
    source: Path | Feed,
    phrase: str | None,
    store: RecordStore | None,
    blobs: BlobStore | None,
    set_aside: bool,
) -> ImportOutcome:
    data_dir = settings.data_dir
    if isinstance(source, Path):
        with open(source, "rb") as f:
            header = bundle.read_header(f, _NullDigest())
    else:
        header = source.header
    new_home = not ids.exists(data_dir)
    keys, phrase_keys = await _import_keys(settings, header, phrase, store)
    created = not (data_dir / REPO_FILE).exists()
    existed = data_dir.exists()
    blobs_made = blobs is None and not settings.blobs_dir.exists()
    try:
        repo = Repository.open(data_dir, keys)
        try:
            result, kept = await _import_into(
                settings, repo, source, keys, header, store, blobs, new_home, set_aside
            )
        except BaseException:
            repo.close()
            raise
    except BaseException:
        if created:
            _remove_repo(data_dir)
        if blobs_made:  # attachments put there before a later check failed
            shutil.rmtree(settings.blobs_dir, ignore_errors=True)
        if not existed:  # opening the repository made the directory: nothing may be left
            with contextlib.suppress(OSError):
                data_dir.rmdir()
        raise
    try:
        if new_home:
            assert phrase_keys is not None
            ids.adopt(data_dir, phrase_keys, header.did, header.operations)
        elif len(header.operations) > len(ids.load(data_dir).operations):
            ids.extend_log(data_dir, header.operations)  # another device rotated keys meanwhile
        blobs = blobs or FsBlobStore(settings.blobs_dir)
        # the same repository: its checkout reads what the import just checked (``remember``)
        if store is None:
            async with _open_store(settings) as opened:
                done = await _finish_checkout(repo, opened, blobs, data_dir / SITES_DIR)
        else:
            done = await _finish_checkout(repo, store, blobs, data_dir / SITES_DIR)
    finally:
        repo.close()
    return ImportOutcome(result, done, header.did, new_home, kept)


async def _import_into(
    settings: Settings,
    repo: Repository,
    source: Path | Feed,
    keys: RepoKeys,
    header: BundleHeader,
    store: RecordStore | None,
    blobs: BlobStore | None,
    new_home: bool,
    set_aside: bool,
) -> tuple[ImportResult, SetAside | None]:
    local_head = repo.head()
    if not new_home and local_head is not None:
        await _refuse_unsaved_changes(settings, repo, store)
    hook = _BeforeCommit(settings, repo, blobs, local_head)

    def run(head: Commit | None) -> ImportResult:
        with _opened(source) as f:
            return bundle.import_bundle(repo, f, keys, head, header.did, hook, hook.chunks)

    async def running(head: Commit | None) -> ImportResult:
        if isinstance(source, Path):
            return run(head)
        return await asyncio.to_thread(run, head)

    try:
        return await running(local_head), None
    except bundle.Diverged as exc:
        if not set_aside or not exc.shared:
            raise
        kept = await _set_aside(settings, repo, exc.shared, store, blobs)
        local_head = hook.local_head = repo.head()
        hook.chunks.clear()
        return await running(local_head), kept


@contextlib.contextmanager
def _opened(source: Path | Feed) -> Iterator[BinaryIO | Feed]:
    if isinstance(source, Path):
        with open(source, "rb") as f:
            yield f
    else:
        yield source


@dataclass
class _BeforeCommit:
    """What an import does once its bundle has verified, before it commits: remember where the
    checkout starts, and put the new attachments into the blob store, opening each sealed chunk
    once (which checks it; ``chunks`` names them, so the import does not open them again)."""

    settings: Settings
    repo: Repository
    blobs: BlobStore | None
    local_head: Commit | None
    chunks: set[bytes] = field(default_factory=set)

    def __call__(self, result: ImportResult) -> None:
        if not result.new_commits:
            return
        if self.repo.meta(CHECKOUT_FROM) is None:
            head = self.local_head
            self.repo.set_meta(CHECKOUT_FROM, head.id.hex() if head else "")
        files = self.blobs or FsBlobStore(self.settings.blobs_dir)
        try:
            restore_files(self.repo, self.local_head, result.new_commits[-1], files, self.chunks)
        except ObjectError as exc:
            raise BundleError(str(exc)) from None


async def _set_aside(
    settings: Settings,
    repo: Repository,
    shared: int,
    store: RecordStore | None,
    blobs: BlobStore | None,
) -> SetAside:
    """Take this home's commits after ``shared`` out of its history, losing nothing: first the
    whole history as it is goes to a bundle under ``set-aside/`` (fsynced), then the store is
    checked out back to commit ``shared``, then the repository forgets the later commits and
    the objects only they brought. A kill between the steps leaves the file, and a home that
    either still has its commits or says it has unsaved changes (the next restore redoes it)."""
    head = repo.head()
    base = repo.commit_at(shared)
    assert head is not None and base is not None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = (
        settings.data_dir / SET_ASIDE_DIR / f"{stamp}-commits-{shared + 1}-to-{head.seq}.bundle"
    )
    target.parent.mkdir(exist_ok=True)
    export(settings, target)
    blobs = blobs or FsBlobStore(settings.blobs_dir)
    if store is None:
        async with _open_store(settings) as opened:
            await _rewind(settings, repo, head, base, opened, blobs)
    else:
        await _rewind(settings, repo, head, base, store, blobs)
    return SetAside(target, shared + 1, head.seq)


async def _rewind(
    settings: Settings,
    repo: Repository,
    head: Commit,
    base: Commit,
    store: RecordStore,
    blobs: BlobStore,
) -> None:
    await checkout(repo, head, base, store, blobs, settings.data_dir / SITES_DIR)
    now = await store.timestamps()
    with repo.transaction():
        repo.rewind(base.seq)
        repo.replace_entries(tree.entries(repo.root(base), repo.node))
        repo.set_cursor(now)
        repo.set_meta(SITE_SIGNATURE, None)
        repo.set_meta(CHECKOUT_FROM, None)


async def _import_keys(
    settings: Settings, header: BundleHeader, phrase: str | None, store: RecordStore | None
) -> tuple[RepoKeys, PhraseKeys | None]:
    """The keys to import with: the phrase's, checked against the bundle, for a new home (which
    must hold nothing yet); this home's own, if it is the bundle's identity."""
    data_dir = settings.data_dir
    phrase_keys = None
    new_home = not ids.exists(data_dir)
    if new_home:
        if phrase is None:
            raise RepoStateError("a new home needs the recovery phrase on stdin to import")
        phrase_keys = ids.keys_match(phrase, header.did)
        keys = RepoKeys(phrase_keys.data_key, phrase_keys.object_id_key)
        sqlite_files = (f"{REPO_FILE}{suffix}" for suffix in ("", "-wal", "-shm", "-journal"))
        # what an import killed before the identity was written leaves (its packs included,
        # and the attachments it put into the blob store before its commit, ``_BeforeCommit``:
        # content-addressed, so whatever is there is right)
        leftovers = {*sqlite_files, PACKS_DIR, "homeport.toml", gc.GC_LOCK_FILE}
        if settings.blobs_dir.parent == data_dir:
            leftovers.add(settings.blobs_dir.name)
        ids.clear_unfinished(data_dir)  # an earlier import killed while writing the identity
        if store is not None:
            if await store.count_all("bucket", ""):
                raise RepoStateError("this home already holds data: restore into a new one")
        elif data_dir.exists() and any(p.name not in leftovers for p in data_dir.iterdir()):
            raise RepoStateError(
                f"{data_dir} is not empty and has no identity: import into an empty directory"
            )
    else:
        identity = ids.load(data_dir)
        if identity.did != header.did:
            raise RepoStateError(f"the bundle belongs to {header.did}, this home is {identity.did}")
        shared = min(len(identity.operations), len(header.operations))
        if identity.operations[:shared] != header.operations[:shared]:
            raise RepoStateError(
                "this home's identity log and the bundle's have diverged (was this home made "
                "with 'init --restore'?): import the bundle into an empty directory instead, "
                "giving the phrase"
            )
        keys = repo_keys(data_dir)
    return keys, phrase_keys


class _NullDigest:
    def update(self, data: bytes) -> None:
        pass


def _remove_repo(data_dir: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        (data_dir / f"{REPO_FILE}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(data_dir / PACKS_DIR, ignore_errors=True)  # the packs of a new repository


async def _refuse_unsaved_changes(
    settings: Settings, repo: Repository, store: RecordStore | None = None
) -> None:
    """``store``: the running home's own (a standby moving the home back from its GUI)."""
    if store is None:
        async with _open_store(settings) as opened:
            await _refuse_unsaved_changes(settings, repo, opened)
        return
    # an import killed after its checkout wrote the store but before the index moved:
    # finish it first, or its own writes would look like unsaved changes
    blobs = FsBlobStore(settings.blobs_dir)
    await _finish_checkout(repo, store, blobs, settings.data_dir / SITES_DIR)
    if repo.cursor() != await store.timestamps():
        raise RepoStateError(
            "this home has changes that are in no snapshot; run 'homeport snapshot' first "
            "(if the bundle also changed since, the two have diverged)"
        )


async def _finish_checkout(
    repo: Repository, store: RecordStore, blobs: BlobStore, site_root: Path
) -> CheckoutResult | None:
    """Bring the store to the head if an import left that undone; then index the head."""
    pending = repo.meta(CHECKOUT_FROM)
    head = repo.head()
    if pending is None or head is None:
        return None
    old = repo.commit(bytes.fromhex(pending)) if pending else None
    result = await checkout(repo, old, head, store, blobs, site_root)
    now = await store.timestamps()
    with repo.transaction():
        repo.replace_entries(tree.entries(repo.root(head), repo.node))
        repo.set_cursor(now)
        repo.set_meta(CHECKOUT_FROM, None)
    return result


def verify_home(settings: Settings) -> VerifyReport:
    identity = ids.load(settings.data_dir)
    if not (settings.data_dir / REPO_FILE).exists():
        raise RepoStateError("this home has no repository yet: run 'homeport snapshot' first")
    with open_repo(settings) as repo:
        return verify_repository(repo, identity.did, identity.operations)


def verify_file(settings: Settings | None, source: Path, scratch: Path) -> ImportResult:
    """Verify a bundle; with a home's settings whose identity matches, private objects too."""
    keys = None
    if settings is not None and ids.exists(settings.data_dir):
        with open(source, "rb") as f:
            header = bundle.read_header(f, _NullDigest())
        if ids.load(settings.data_dir).did == header.did:
            keys = repo_keys(settings.data_dir)
    with open(source, "rb") as f:
        return bundle.verify_bundle(f, keys, scratch)


__all__ = [
    "BundleError",
    "ImportOutcome",
    "RepoStateError",
    "RepositoryError",
    "SetAside",
    "export",
    "import_bundle",
    "log",
    "snapshot",
    "verify_file",
    "verify_home",
]
