"""The ``SiteStore`` seam: where a provider keeps the materialised sites it serves.

A published commit's site is a manifest (path → file object id and size, ``sites.Manifest``)
whose file bytes come from the tenant's repository; one manifest per tenant is *live*. Three
stores keep them (``open_site_store`` picks one from the ``provider_sites`` setting):

- ``DiskSites`` (``local``, the default): today's trees of hard links under the tenant's
  directory and the ``live`` symlink (``sites.py``). One machine.
- ``SharedSites`` (``shared``, ``sharedsites.py``): manifests and the live pointer in the
  provider's database (``TenantStore``), file bytes in a bounded node-local cache
  (``SiteCache``) filled from the repository's objects on first read. Nodes sharing the
  database (and the objects) serve every tenant, a new node starting with an empty disk.
- ``MemorySites`` (``memory``): the reference for the conformance suite
  (``testing/conformance_sites.py``); it serves nothing over HTTP (no local files).

Every store keeps the same rules: a tree is written whole before anything names it; ``switch``
changes what is live in one step (a reader sees one whole tree or the other); ``prune`` never
drops the live tree; nothing about one tenant is visible through another's name.
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from homeport.provider import sites
from homeport.provider.sites import Manifest, SiteError
from homeport.provider.tenants import TenantDir
from homeport.repo.repository import Repository

if TYPE_CHECKING:
    from homeport.provider.db import ProviderDB
    from homeport.provider.tenantstore import TenantStore
    from homeport.settings import Settings

Files = dict[str, tuple[bytes, int]]
"""What a publish materialises: path → (file object id, checked size)."""
RepoOpener = Callable[[str], AbstractContextManager[Repository]]
"""A tenant's repository for one job, by tenant name."""

LOCAL, SHARED, MEMORY = "local", "shared", "memory"
KINDS = (LOCAL, SHARED, MEMORY)


class SiteStoreError(ValueError):
    """A ``provider_sites`` value that names no store; the message says what is accepted."""


@runtime_checkable
class SiteStore(Protocol):
    """Materialised sites, by tenant name. Blocking calls: run them in a worker thread."""

    on_demand: bool
    """Files reach the local disk only when ``fill`` asks for them (``SharedSites``)."""

    def live(self, tenant: str) -> str | None:
        """The name of the tree being served, None before the first publish."""

    def manifest(self, tenant: str, name: str) -> Manifest | None:
        """A tree's manifest (immutable once written), None when there is no such tree."""

    def kept(self, tenant: str) -> dict[int, str]:
        """seq → the name of its newest tree (the live one for the live seq)."""

    def locate(self, tenant: str, manifest: Manifest, rel: str) -> tuple[str, int]:
        """Where one file's bytes are on this machine and their size, without I/O beyond a
        ``stat``; with ``on_demand`` the path holds them only after ``fill``. ``("", size)``
        when the store has no local files."""

    def fill(self, tenant: str, manifest: Manifest, rel: str) -> str:
        """The local path of one file, fetched first if it is not on this machine."""

    def read(self, tenant: str, manifest: Manifest, rel: str, limit: int) -> bytes | None:
        """One file's bytes, None when the tree has no such file or it is over ``limit``."""

    def usage(self, tenant: str) -> int:
        """What the tenant's kept trees take: added to its repository for the quota."""

    def new_bytes(self, tenant: str, files: Files) -> int:
        """What materialising ``files`` as a new tree would add to ``usage``."""

    def materialise(
        self,
        repo: Repository,
        tenant: str,
        *,
        seq: int,
        commit: str,
        created: int,
        site: str,
        files: Files,
    ) -> Manifest:
        """Keep ``files`` as a new tree, not live yet; a failure leaves nothing behind."""

    def switch(self, tenant: str, name: str) -> None:
        """Make the tree ``name`` the live one, in one step."""

    def remove(self, tenant: str, name: str) -> None:
        """Drop a tree nothing names (a publish that failed after writing it)."""

    def prune(self, tenant: str, keep: int) -> None:
        """Drop trees beyond the newest ``keep`` seqs, never the live one."""

    def drop(self, tenant: str) -> None:
        """Everything of a deleted tenant."""


def _read_local(path: str, limit: int) -> bytes | None:
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError:
        return None
    return data if len(data) <= limit else None


# --- local disk: trees of hard links and a ``live`` symlink (sites.py) ---------------------
class DiskSites:
    """Each tenant's trees under ``<data>/tenants/<name>/`` (``sites.py`` has the rules)."""

    on_demand = False

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._dirs: dict[str, TenantDir] = {}
        self._manifests = sites.ManifestCache()

    def tdir(self, tenant: str) -> TenantDir:
        found = self._dirs.get(tenant)
        if found is None:
            if len(self._dirs) > 100_000:
                self._dirs.clear()
            found = self._dirs[tenant] = TenantDir.of(self.data_dir, tenant)
        return found

    def live(self, tenant: str) -> str | None:
        return sites.live_name(self.tdir(tenant))

    def manifest(self, tenant: str, name: str) -> Manifest | None:
        return self._manifests.get(self.tdir(tenant), name)

    def kept(self, tenant: str) -> dict[int, str]:
        return sites.kept(self.tdir(tenant))

    def locate(self, tenant: str, manifest: Manifest, rel: str) -> tuple[str, int]:
        """The size is the file's on disk, never the manifest's claim: memory and compression
        go by it (three GETs of a file claiming 5 bytes read 512 MiB each into memory)."""
        path = os.path.join(self.tdir(tenant).sites_str, manifest.name, rel)
        try:
            size = os.stat(path).st_size
        except OSError:
            size = manifest.files[rel][1]  # gone: the stream ends early rather than guess
        return path, size

    def fill(self, tenant: str, manifest: Manifest, rel: str) -> str:
        return self.locate(tenant, manifest, rel)[0]

    def read(self, tenant: str, manifest: Manifest, rel: str, limit: int) -> bytes | None:
        if rel not in manifest.files or manifest.files[rel][1] > limit:
            return None
        return _read_local(self.locate(tenant, manifest, rel)[0], limit)

    def usage(self, tenant: str) -> int:
        return sites.disk_usage(self.tdir(tenant))

    def new_bytes(self, tenant: str, files: Files) -> int:
        return sites.new_bytes(self.tdir(tenant), files)

    def materialise(
        self,
        repo: Repository,
        tenant: str,
        *,
        seq: int,
        commit: str,
        created: int,
        site: str,
        files: Files,
    ) -> Manifest:
        return sites.materialise(
            repo, self.tdir(tenant), seq=seq, commit=commit, created=created, site=site,
            files=files,
        )

    def switch(self, tenant: str, name: str) -> None:
        tdir = self.tdir(tenant)
        if "/" in name or not (tdir.sites / f"{name}.json").exists():
            raise SiteError(f"no tree {name} to switch to")
        sites.switch(tdir, name)

    def remove(self, tenant: str, name: str) -> None:
        sites.remove(self.tdir(tenant), name)

    def prune(self, tenant: str, keep: int) -> None:
        sites.prune(self.tdir(tenant), keep)

    def drop(self, tenant: str) -> None:
        tdir = self.tdir(tenant)
        shutil.rmtree(tdir.sites, ignore_errors=True)
        shutil.rmtree(tdir.files, ignore_errors=True)
        tdir.live.unlink(missing_ok=True)


# --- memory: the reference ----------------------------------------------------------------
@dataclass
class _MemoryTenant:
    trees: dict[str, tuple[Manifest, dict[str, bytes]]]
    order: dict[str, int]
    live: str | None = None


class MemorySites:
    """Trees as dicts of bytes: what the conformance suite checks the others against."""

    on_demand = False

    def __init__(self) -> None:
        self._tenants: dict[str, _MemoryTenant] = {}
        self._lock = threading.Lock()
        self._added = 0

    def _of(self, tenant: str) -> _MemoryTenant:
        return self._tenants.setdefault(tenant, _MemoryTenant({}, {}))

    def live(self, tenant: str) -> str | None:
        with self._lock:
            found = self._tenants.get(tenant)
            return None if found is None else found.live

    def manifest(self, tenant: str, name: str) -> Manifest | None:
        with self._lock:
            found = self._tenants.get(tenant)
            tree = None if found is None else found.trees.get(name)
            return None if tree is None else tree[0]

    def kept(self, tenant: str) -> dict[int, str]:
        with self._lock:
            found = self._tenants.get(tenant)
            if found is None:
                return {}
            return _newest(
                ((m.seq, name, found.order[name]) for name, (m, _) in found.trees.items()),
                found.live,
            )

    def locate(self, tenant: str, manifest: Manifest, rel: str) -> tuple[str, int]:
        return "", manifest.files[rel][1]

    def fill(self, tenant: str, manifest: Manifest, rel: str) -> str:
        return ""

    def read(self, tenant: str, manifest: Manifest, rel: str, limit: int) -> bytes | None:
        with self._lock:
            found = self._tenants.get(tenant)
            tree = None if found is None else found.trees.get(manifest.name)
            data = None if tree is None else tree[1].get(rel)
        return None if data is None or len(data) > limit else data

    def usage(self, tenant: str) -> int:
        with self._lock:
            found = self._tenants.get(tenant)
            if found is None:
                return 0
            return sum(m.cost + _blocks(d) for m, d in found.trees.values())

    def new_bytes(self, tenant: str, files: Files) -> int:
        return sum(sites.blocks(size) for _, size in files.values()) + sites.tree_cost(files)

    def materialise(
        self,
        repo: Repository,
        tenant: str,
        *,
        seq: int,
        commit: str,
        created: int,
        site: str,
        files: Files,
    ) -> Manifest:
        sites.check_layout(files)
        data: dict[str, bytes] = {}
        for path, (file_id, size) in sorted(files.items()):
            data[path] = _file_bytes(repo, file_id, size)
        name = f"{seq}-{secrets.token_hex(4)}"
        listed = {p: (i.hex(), s) for p, (i, s) in files.items()}
        manifest = Manifest(name, seq, commit, created, site, listed, sites.tree_cost(files))
        with self._lock:
            self._added += 1
            found = self._of(tenant)
            found.trees[name] = (manifest, data)
            found.order[name] = self._added
        return manifest

    def switch(self, tenant: str, name: str) -> None:
        with self._lock:
            found = self._of(tenant)
            if name not in found.trees:
                raise SiteError(f"no tree {name} to switch to")
            found.live = name

    def remove(self, tenant: str, name: str) -> None:
        with self._lock:
            found = self._tenants.get(tenant)
            if found is not None and name != found.live:
                found.trees.pop(name, None)
                found.order.pop(name, None)

    def prune(self, tenant: str, keep: int) -> None:
        wanted = set(_wanted(self.kept(tenant), keep, self.live(tenant)))
        with self._lock:
            found = self._tenants.get(tenant)
            if found is None:
                return
            for name in [n for n in found.trees if n not in wanted]:
                found.trees.pop(name)
                found.order.pop(name)

    def drop(self, tenant: str) -> None:
        with self._lock:
            self._tenants.pop(tenant, None)


def _blocks(data: dict[str, bytes]) -> int:
    return sum(sites.blocks(len(b)) for b in data.values())


def _file_bytes(repo: Repository, file_id: bytes, size: int) -> bytes:
    """A file object's bytes from its chunks, exactly ``size`` of them (checked at publish)."""
    _, links, _ = repo.read(file_id)
    out = bytearray()
    for chunk in links:
        _, _, data = repo.read(chunk)
        out += data
        if len(out) > size:
            raise SiteError(f"file {file_id.hex()[:16]} holds more than its {size} bytes")
    if len(out) != size:
        raise SiteError(f"file {file_id.hex()[:16]} holds {len(out)} bytes, not {size}")
    return bytes(out)


def _newest(trees: Iterable[tuple[int, str, int]], live: str | None) -> dict[int, str]:
    """seq → its newest tree (the live one first), from (seq, name, order added)."""
    found: dict[int, tuple[bool, int, str]] = {}
    for seq, name, order in trees:
        rank = (name == live, order, name)
        if seq not in found or rank > found[seq]:
            found[seq] = rank
    return {seq: rank[2] for seq, rank in sorted(found.items())}


def _wanted(kept: dict[int, str], keep: int, live: str | None) -> list[str]:
    wanted = [kept[s] for s in sorted(kept)[-max(keep, 1) :]]
    return [*wanted, live] if live else wanted


def open_site_store(
    kind: str,
    data_dir: Path,
    tenants: TenantStore | None = None,
    opener: RepoOpener | None = None,
    cache_bytes: int = 1024 * 1024 * 1024,
) -> SiteStore:
    """The store ``provider_sites`` names: ``local`` (trees in the data dir), ``shared``
    (manifests in ``tenants``, files cached under ``<data>/cache/sites`` up to
    ``cache_bytes``, read through ``opener``) or ``memory``."""
    kind = (kind or LOCAL).strip().lower()
    if kind == LOCAL:
        return DiskSites(data_dir)
    if kind == MEMORY:
        return MemorySites()
    if kind == SHARED:
        if tenants is None or opener is None:
            raise SiteStoreError("shared sites need the provider's database and repositories")
        from homeport.provider.sharedsites import SharedSites, SiteCache

        cache = SiteCache(Path(data_dir) / "cache" / "sites", cache_bytes)
        return SharedSites(tenants, cache, opener)
    raise SiteStoreError(
        f"provider_sites: {kind!r} is not a site store (choose {', '.join(KINDS)})"
    )


def for_provider(settings: Settings, db: ProviderDB) -> SiteStore:
    """The store ``provider serve`` uses: ``provider_sites`` over the provider's database and
    its tenants' repositories."""

    def opener(tenant: str) -> AbstractContextManager[Repository]:
        return TenantDir.of(settings.data_dir, tenant, db.repositories, db.objects).opened()

    cache = settings.provider_site_cache_mb * 1024 * 1024
    store = open_site_store(settings.provider_sites, settings.data_dir, db, opener, cache)
    if store.on_demand:
        from homeport.provider.sharedsites import ADOPTED, adopt_local_trees

        if db.meta(ADOPTED) is None:
            adopt_local_trees(settings.data_dir, db)
    return store


__all__ = [
    "KINDS",
    "DiskSites",
    "MemorySites",
    "SiteStore",
    "SiteStoreError",
    "for_provider",
    "open_site_store",
]
