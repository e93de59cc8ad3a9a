"""Where a tenant's things live, and opening its repository.

    <data>/tenants/<name>/repo.sqlite     a keyless repository: the home's objects' index
                                          (PostgreSQL: the schema ``tenant_<name>`` instead)
    <data>/tenants/<name>/packs/          the objects themselves, as stored, in pack files
    <data>/tenants/<name>/sites/<seq>/    the site of a published commit, materialised
    <data>/tenants/<name>/sites/<seq>.json   its manifest (path → file id, size; commit time)
    <data>/tenants/<name>/live            symlink to sites/<seq>: what is served
    <data>/tenants/<name>/files/<id>      each site file's bytes once, by file id; the trees
                                          under sites/ are hard links to these

The provider never holds a home's keys: sealed objects are kept and handed back as they came.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from homeport.repo.repository import PACKS_DIR, Repository
from homeport.store.objects_fs import FsObjectStore
from homeport.store.protocols import ObjectStore

if TYPE_CHECKING:
    from homeport.store.pgconn import PostgresDatabase

TENANTS_DIR = "tenants"
NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
RESERVED = frozenset({"www", "admin", "api", "mail", "_homeport", "homeport", "provider"})


def valid_name(name: str) -> bool:
    """A tenant name is one DNS label (it becomes ``<name>.<base domain>``)."""
    return bool(NAME.match(name)) and name not in RESERVED


def schema_of(name: str) -> str:
    """The PostgreSQL schema of a tenant's repository. A name is a DNS label, which has no
    ``_``, so ``-`` → ``_`` keeps names apart; one too long for an identifier (63 bytes) is
    shortened with a hash of the whole name."""
    schema = "tenant_" + name.replace("-", "_")
    if len(schema) > 63:
        schema = schema[:46] + "_" + hashlib.sha256(name.encode()).hexdigest()[:16]
    return schema


@dataclass(frozen=True)
class TenantDir:
    root: Path
    database: PostgresDatabase | None = field(default=None, compare=False, repr=False)
    """PostgreSQL: where the repository is (``schema_of(name)``); else ``repo.sqlite``."""
    store: ObjectStore | None = field(default=None, compare=False, repr=False)
    """The provider's shared object store (``objects`` setting: S3…); the tenant's packs are
    under ``tenants/<name>/packs/`` in it. None: the ``packs/`` directory here."""

    @classmethod
    def of(
        cls,
        data_dir: Path,
        name: str,
        database: PostgresDatabase | None = None,
        objects: ObjectStore | None = None,
    ) -> TenantDir:
        if not NAME.match(name):
            raise ValueError(f"{name!r} is not a tenant name")
        return cls(data_dir / TENANTS_DIR / name, database, objects)

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def schema(self) -> str:
        return schema_of(self.name)

    @property
    def repo_path(self) -> Path:
        return self.root / "repo.sqlite"

    @property
    def packs(self) -> Path:
        return self.root / PACKS_DIR

    @property
    def sites(self) -> Path:
        return self.root / "sites"

    @property
    def files(self) -> Path:
        return self.root / "files"

    @property
    def live(self) -> Path:
        return self.root / "live"

    @cached_property
    def sites_str(self) -> str:
        """``sites`` as a string, for the serving path (pathlib costs show up there)."""
        return os.path.join(self.root, "sites")

    def open_repo(self) -> Repository:
        """A new connection to the tenant's repository. On PostgreSQL its write transactions
        take the tenant's advisory lock: other processes on the database wait their turn."""
        if self.database is not None:
            return Repository.in_schema(
                self.database, self.schema, None, lock=self.name, objects=self.objects()
            )
        return Repository(self.repo_path, None, objects=self.objects())

    def objects(self) -> ObjectStore:
        """Where the tenant's packs are: its scope of the shared store, else its directory."""
        if self.store is not None:
            return self.store.scoped(f"{TENANTS_DIR}/{self.name}/{PACKS_DIR}")
        return FsObjectStore(self.packs)

    def has_repo(self) -> bool:
        if self.database is not None:
            return self.database.schema_exists(self.schema)
        return self.repo_path.exists()

    def create_repo(self) -> None:
        """Make the repository of a tenant who just enrolled (PostgreSQL: its schema; a
        SQLite file is made when first opened)."""
        self.root.mkdir(parents=True, exist_ok=True)
        if self.database is not None:
            Repository.create_schema(self.database, self.schema)

    @contextmanager
    def opened(self) -> Iterator[Repository]:
        """A connection to the tenant's repository for one request or job, reused (on
        PostgreSQL, the pool's)."""
        if self.database is not None:
            repo = self.open_repo()
            try:
                yield repo
            finally:
                repo.close()
            return
        repo = _POOL.take(self)
        try:
            yield repo
        except BaseException:
            repo.close()
            raise
        _POOL.give(self, repo)

    def remove(self) -> None:
        """The tenant's files, its repository (SQLite file or PostgreSQL schema) and, last,
        its packs in the shared store: if that store fails, only packs are left, which the
        provider's garbage collection sweeps later (``gc.sweep_deleted``)."""
        _POOL.forget(self)
        shutil.rmtree(self.root, ignore_errors=True)
        if self.database is not None:
            self.database.drop_schema(self.schema)
        if self.store is not None:
            packs = self.objects()
            for name, _, _ in list(packs.names()):
                packs.delete(name)


class _RepoPool:
    """Idle tenant repositories kept open between requests. Closing the last connection to a
    SQLite file checkpoints its whole write-ahead log: with a connection per request that was a
    third of a pack upload's time (measured with py-spy). A kept connection is dropped when
    its file was replaced (a tenant deleted by the CLI and enrolled again)."""

    IDLE = 4

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[Path, list[tuple[Repository, int]]] = {}

    def take(self, tdir: TenantDir) -> Repository:
        while True:
            with self._lock:
                free = self._idle.get(tdir.root)
                kept = free.pop() if free else None
            if kept is None:
                return tdir.open_repo()
            repo, inode = kept
            try:
                if os.stat(tdir.repo_path).st_ino == inode:
                    return repo
            except OSError:
                pass
            repo.close()

    def give(self, tdir: TenantDir, repo: Repository) -> None:
        try:
            inode = os.stat(tdir.repo_path).st_ino
        except OSError:
            repo.close()
            return
        if repo.in_transaction:
            repo.close()
            return
        with self._lock:
            free = self._idle.setdefault(tdir.root, [])
            if len(free) < self.IDLE:
                free.append((repo, inode))
                return
        repo.close()

    def forget(self, tdir: TenantDir) -> None:
        with self._lock:
            free = self._idle.pop(tdir.root, [])
        for repo, _ in free:
            repo.close()


_POOL = _RepoPool()


def stored_bytes(repo: Repository) -> int:
    """What the tenant's objects take: the quota's measure."""
    return repo.stored_bytes()
