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
        """A new connection to the tenant's repository (one per request or job)."""
        repo = Repository(self.repo_path, None)
        repo.db.execute("PRAGMA busy_timeout=30000")
        return repo

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def stored_bytes(repo: Repository) -> int:
    """What the tenant's objects take: the quota's measure."""
    row = repo.db.execute("SELECT coalesce(sum(length(data)), 0) FROM objects").fetchone()
    return int(row[0])
