"""The ``SiteStore`` seam: where a provider keeps the materialised sites it serves.

A published commit's site is a manifest (path → file object id and size, ``sites.Manifest``)
whose file bytes come from the tenant's repository; one manifest per tenant is *live*. Three
stores keep them (``open_site_store`` picks one from the ``provider_sites`` setting):

- ``DiskSites`` (``local``, the default): today's trees of hard links under the tenant's
  directory and the ``live`` symlink (``sites.py``). One machine.
- ``SharedSites`` (``shared``): manifests and the live pointer in the provider's database
  (``TenantStore``), file bytes in a bounded node-local cache (``SiteCache``) filled from the
  repository's objects on first read. Nodes sharing the database (and the objects) serve every
  tenant, a new node starting with an empty disk.
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
from collections import OrderedDict
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from homeport import jsonio
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


# --- shared: manifests in the database, bytes in a node-local cache -----------------------
class SiteCache:
    """Site files by (tenant, file id) on this node's disk, at most ``limit`` bytes: the least
    recently used go first. Filled from the tenant's repository (objects verified by their
    ids as they are read), so what a node serves is what was published, whichever node took
    the publish. Each process keeps its own count of what it filled and evicts from that; a
    file another process evicted is filled again on its next read."""

    def __init__(self, root: Path, limit: int) -> None:
        self.root = Path(root)
        self.limit = max(limit, 1)
        self._lock = threading.Lock()
        self._items: OrderedDict[str, int] = OrderedDict()
        self._size = 0
        self._scan()

    def _scan(self) -> None:
        """What an earlier run left, oldest first (a restart keeps its cache)."""
        found: list[tuple[float, str, int]] = []
        for folder in self.root.glob("*"):
            if not folder.is_dir():
                continue
            for entry in os.scandir(folder):
                if entry.name.startswith("."):
                    Path(entry.path).unlink(missing_ok=True)  # a fill that was cut
                    continue
                st = entry.stat(follow_symlinks=False)
                found.append((st.st_mtime, entry.path, st.st_size))
        for _, path, size in sorted(found):
            self._items[path] = size
            self._size += size
        self._evict()

    def path(self, tenant: str, file_id: str) -> str:
        return os.path.join(self.root, tenant, file_id)

    @property
    def size(self) -> int:
        return self._size

    def fill(self, tenant: str, file_id: str, size: int, opener: RepoOpener) -> str:
        path = self.path(tenant, file_id)
        with self._lock:
            if path in self._items:
                self._items.move_to_end(path)
                if os.path.exists(path):
                    return path
                self._size -= self._items.pop(path)
        if not os.path.exists(path):
            folder = os.path.dirname(path)
            os.makedirs(folder, exist_ok=True)
            temporary = os.path.join(folder, f".{file_id}.{secrets.token_hex(4)}")
            try:
                with opener(tenant) as repo:
                    data = _file_bytes(repo, bytes.fromhex(file_id), size)
                with open(temporary, "xb") as out:
                    out.write(data)
                os.replace(temporary, path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        with self._lock:
            if path not in self._items:
                self._items[path] = size
                self._size += size
            self._evict(keep=path)
        return path

    def _evict(self, keep: str = "") -> None:
        while self._size > self.limit and len(self._items) > 1:
            path, size = next(iter(self._items.items()))
            if path == keep:
                break
            del self._items[path]
            self._size -= size
            Path(path).unlink(missing_ok=True)

    def drop(self, tenant: str) -> None:
        folder = os.path.join(self.root, tenant) + os.sep
        with self._lock:
            for path in [p for p in self._items if p.startswith(folder)]:
                self._size -= self._items.pop(path)
        shutil.rmtree(folder, ignore_errors=True)


class SharedSites:
    """Manifests and the live pointer in the provider's database, shared by every node;
    file bytes from the node's ``SiteCache``. A tree costs its entries (``tree_cost``): the
    bytes are the repository's objects, already counted."""

    on_demand = True

    def __init__(self, tenants: TenantStore, cache: SiteCache, opener: RepoOpener) -> None:
        self.tenants = tenants
        self.cache = cache
        self.opener = opener
        self._manifests: OrderedDict[tuple[str, str], Manifest] = OrderedDict()
        self._lock = threading.Lock()

    def live(self, tenant: str) -> str | None:
        return self.tenants.live_tree(tenant)

    def manifest(self, tenant: str, name: str) -> Manifest | None:
        key = (tenant, name)
        with self._lock:
            found = self._manifests.get(key)
            if found is not None:
                self._manifests.move_to_end(key)
                return found
        text = self.tenants.tree(tenant, name)
        if text is None:
            return None
        found = Manifest.from_json(name, jsonio.loads(text))
        with self._lock:
            self._manifests[key] = found
            if len(self._manifests) > 256:
                self._manifests.popitem(last=False)
        return found

    def kept(self, tenant: str) -> dict[int, str]:
        return _newest(self.tenants.trees(tenant), self.live(tenant))

    def locate(self, tenant: str, manifest: Manifest, rel: str) -> tuple[str, int]:
        """The manifest's size: checked against the chunks at publish and again when the
        file is filled (exactly that many bytes, or the fill fails)."""
        file_id, size = manifest.files[rel]
        return self.cache.path(tenant, file_id), size

    def fill(self, tenant: str, manifest: Manifest, rel: str) -> str:
        file_id, size = manifest.files[rel]
        return self.cache.fill(tenant, file_id, size, self.opener)

    def read(self, tenant: str, manifest: Manifest, rel: str, limit: int) -> bytes | None:
        if rel not in manifest.files or manifest.files[rel][1] > limit:
            return None
        return _read_local(self.fill(tenant, manifest, rel), limit)

    def usage(self, tenant: str) -> int:
        return sum(self.tenants.tree_costs(tenant))

    def new_bytes(self, tenant: str, files: Files) -> int:
        return sites.tree_cost(files)

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
        """Only the manifest is written: every file was checked whole and public by
        ``sites.file_size`` before this; the bytes are fetched by the nodes that serve them."""
        sites.check_layout(files)
        name = f"{seq}-{secrets.token_hex(4)}"
        listed = {p: (i.hex(), s) for p, (i, s) in files.items()}
        manifest = Manifest(name, seq, commit, created, site, listed, sites.tree_cost(files))
        text = jsonio.dumps(manifest.to_json()).decode()
        self.tenants.add_tree(tenant, name, seq, manifest.cost, text)
        return manifest

    def switch(self, tenant: str, name: str) -> None:
        if not self.tenants.set_live_tree(tenant, name):
            raise SiteError(f"no tree {name} to switch to")

    def remove(self, tenant: str, name: str) -> None:
        self.tenants.drop_trees(tenant, [name])

    def prune(self, tenant: str, keep: int) -> None:
        trees = self.tenants.trees(tenant)
        wanted = set(_wanted(_newest(trees, self.live(tenant)), keep, self.live(tenant)))
        self.tenants.drop_trees(tenant, [name for _, name, _ in trees if name not in wanted])

    def drop(self, tenant: str) -> None:
        self.tenants.drop_trees(tenant, None)
        self.cache.drop(tenant)


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
        cache = SiteCache(Path(data_dir) / "cache" / "sites", cache_bytes)
        return SharedSites(tenants, cache, opener)
    raise SiteStoreError(
        f"provider_sites: {kind!r} is not a site store (choose {', '.join(KINDS)})"
    )


__all__ = [
    "KINDS",
    "DiskSites",
    "MemorySites",
    "SharedSites",
    "SiteCache",
    "SiteStore",
    "SiteStoreError",
    "adopt_local_trees",
    "for_provider",
    "open_site_store",
]


def for_provider(settings: Settings, db: ProviderDB) -> SiteStore:
    """The store ``provider serve`` uses: ``provider_sites`` over the provider's database and
    its tenants' repositories."""

    def opener(tenant: str) -> AbstractContextManager[Repository]:
        return TenantDir.of(settings.data_dir, tenant, db.repositories, db.objects).opened()

    cache = settings.provider_site_cache_mb * 1024 * 1024
    store = open_site_store(settings.provider_sites, settings.data_dir, db, opener, cache)
    if isinstance(store, SharedSites) and db.meta(ADOPTED) is None:
        adopt_local_trees(settings.data_dir, db)
    return store


ADOPTED = "sites_adopted"
"""The provider database's note that the sites on this data dir were adopted (once)."""


def adopt_local_trees(data_dir: Path, db: ProviderDB) -> int:
    """A provider switched from ``local`` to ``shared`` sites keeps serving what is live: each
    tenant's live tree on this disk becomes its shared live tree (manifest only: the bytes are
    the repository's), unless one is live there already. A home whose site is up to date would
    not publish again to bring it back. How many were adopted."""
    disk = DiskSites(data_dir)
    adopted = 0
    for tenant in db.tenants():
        live = disk.live(tenant.name)
        manifest = disk.manifest(tenant.name, live) if live else None
        if manifest is None or db.live_tree(tenant.name) is not None:
            continue
        text = jsonio.dumps(manifest.to_json()).decode()
        try:
            db.add_tree(tenant.name, manifest.name, manifest.seq, manifest.cost, text)
        except Exception:  # another process adopted it first (the name is the key)
            continue
        db.set_live_tree(tenant.name, manifest.name)
        adopted += 1
    db.set_meta(ADOPTED, str(adopted))
    return adopted
