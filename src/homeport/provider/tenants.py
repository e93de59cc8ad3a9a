"""Where a tenant's things live on disk, and opening its repository.

    <data>/tenants/<name>/repo.sqlite     a keyless repository: the home's objects, as stored
    <data>/tenants/<name>/sites/<seq>/    the site of a published commit, materialised
    <data>/tenants/<name>/sites/<seq>.json   its manifest (path → file id, size; commit time)
    <data>/tenants/<name>/live            symlink to sites/<seq>: what is served

The provider never holds a home's keys: sealed objects are kept and handed back as they came.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from homeport.repo.repository import Repository

TENANTS_DIR = "tenants"
NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
RESERVED = frozenset({"www", "admin", "api", "mail", "_homeport", "homeport", "provider"})


def valid_name(name: str) -> bool:
    """A tenant name is one DNS label (it becomes ``<name>.<base domain>``)."""
    return bool(NAME.match(name)) and name not in RESERVED


@dataclass(frozen=True)
class TenantDir:
    root: Path

    @classmethod
    def of(cls, data_dir: Path, name: str) -> TenantDir:
        if not NAME.match(name):
            raise ValueError(f"{name!r} is not a tenant name")
        return cls(data_dir / TENANTS_DIR / name)

    @property
    def repo_path(self) -> Path:
        return self.root / "repo.sqlite"

    @property
    def sites(self) -> Path:
        return self.root / "sites"

    @property
    def live(self) -> Path:
        return self.root / "live"

    @cached_property
    def sites_str(self) -> str:
        """``sites`` as a string, for the serving path (pathlib costs show up there)."""
        return os.path.join(self.root, "sites")

    def open_repo(self) -> Repository:
        """A new connection to the tenant's repository."""
        return Repository(self.repo_path, None)

    @contextmanager
    def opened(self) -> Iterator[Repository]:
        """A connection to the tenant's repository for one request or job, reused."""
        repo = _POOL.take(self)
        try:
            yield repo
        except BaseException:
            repo.close()
            raise
        _POOL.give(self, repo)

    def remove(self) -> None:
        _POOL.forget(self)
        shutil.rmtree(self.root, ignore_errors=True)


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
        if repo.db.in_transaction:
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
