"""``SharedSites``: the ``SiteStore`` of several provider nodes (``sitestore.py`` has the
contract). Manifests and the live pointer are in the provider's database (``TenantStore``),
shared by every node; a site's file bytes come from the node's bounded ``SiteCache``, filled
from the tenant's repository on first read, so a node starting with an empty disk serves any
tenant.
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from homeport import jsonio
from homeport.provider import sites
from homeport.provider.sites import Manifest, SiteError
from homeport.provider.sitestore import (
    DiskSites,
    Files,
    RepoOpener,
    _file_bytes,
    _newest,
    _read_local,
    _wanted,
)
from homeport.repo.repository import Repository

if TYPE_CHECKING:
    from homeport.provider.db import ProviderDB
    from homeport.provider.tenantstore import TenantStore


class SiteCache:
    """Site files by (tenant, file id) on this node's disk, at most ``limit`` bytes: the least
    recently used go first. Filled from the tenant's repository (objects verified by their
    ids as they are read), so what a node serves is what was published, whichever node took
    the publish. Each process keeps its own count of what it filled and evicts from that; a
    file another process evicted is filled again on its next read.

    The count is kept in memory, about 280 bytes a file: bounded by bytes alone, 1 GiB of
    small pages was some 800,000 entries, and a node's memory grew about 3 MB a minute under
    the scale benchmark until it got there. So the files are bounded too, at one per
    ``BYTES_PER_FILE`` of the limit."""

    BYTES_PER_FILE = 16 * 1024
    """1 GiB holds 65,536 files, about 18 MB of memory."""
    GRACE = 30.0
    """Seconds an evicted file stays on disk: a request that found it there (or filled it)
    opens it a moment later, and a fill for another request may evict it in between (a 500
    under the scale benchmark with a small cache). It leaves the list at once."""

    def __init__(self, root: Path, limit: int) -> None:
        self.root = Path(root)
        self.limit = max(limit, 1)
        self.max_files = max(self.limit // self.BYTES_PER_FILE, 64)
        self._lock = threading.Lock()
        self._items: OrderedDict[str, int] = OrderedDict()
        self._doomed: OrderedDict[str, float] = OrderedDict()
        """Evicted files by when they may go, earliest first."""
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
        now = time.monotonic()
        while (self._size > self.limit or len(self._items) > self.max_files) and (
            len(self._items) > 1
        ):
            path, size = next(iter(self._items.items()))
            if path == keep:
                break
            del self._items[path]
            self._size -= size
            self._doomed[path] = now + self.GRACE
            self._doomed.move_to_end(path)
        while self._doomed:
            path, due = next(iter(self._doomed.items()))
            if due > now:
                break
            del self._doomed[path]
            if path not in self._items:  # not filled again meanwhile
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


__all__ = ["ADOPTED", "SharedSites", "SiteCache", "adopt_local_trees"]
