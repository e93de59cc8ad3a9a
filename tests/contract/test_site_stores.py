"""Every SiteStore (the provider's materialised sites) against the shipped conformance suite,
and what the shared store's node-local cache adds: bounded, and a new node with an empty disk
serves what another node published."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from homeport.provider.db import ProviderDB
from homeport.provider.sharedsites import SharedSites, SiteCache
from homeport.provider.sites import SiteError
from homeport.provider.sitestore import (
    DiskSites,
    MemorySites,
    SiteStore,
    SiteStoreError,
    open_site_store,
)
from homeport.provider.tenantstore import MemoryTenants, TenantStore
from homeport.repo.repository import Repository
from homeport.testing.conformance_sites import SiteStoreConformance, put_file


def _opener(repo: Repository):  # type: ignore[no-untyped-def]
    @contextmanager
    def opened(tenant: str) -> Iterator[Repository]:
        yield repo

    return opened


class TestMemorySites(SiteStoreConformance):
    @pytest.fixture
    def sites(self) -> SiteStore:
        return MemorySites()


class TestDiskSites(SiteStoreConformance):
    @pytest.fixture
    def sites(self, tmp_path: Path) -> SiteStore:
        return DiskSites(tmp_path / "provider")


class TestSharedSitesInMemory(SiteStoreConformance):
    @pytest.fixture
    def sites(self, tmp_path: Path, site_repo: Repository) -> SiteStore:
        cache = SiteCache(tmp_path / "cache", 1 << 30)
        return SharedSites(MemoryTenants(), cache, _opener(site_repo))


class TestSharedSitesOnSqlite(SiteStoreConformance):
    @pytest.fixture
    def sites(self, tmp_path: Path, site_repo: Repository) -> Iterator[SiteStore]:
        db = ProviderDB(tmp_path / "provider")
        yield SharedSites(db, SiteCache(tmp_path / "cache", 1 << 30), _opener(site_repo))
        db.close()


@pytest.mark.postgres
class TestSharedSitesOnPostgres(SiteStoreConformance):
    @pytest.fixture
    def sites(self, tmp_path: Path, site_repo: Repository,
              fresh_postgres_url: str) -> Iterator[SiteStore]:
        db = ProviderDB(tmp_path / "provider", fresh_postgres_url)
        yield SharedSites(db, SiteCache(tmp_path / "cache", 1 << 30), _opener(site_repo))
        db.close()


def test_a_node_with_an_empty_disk_serves_what_another_published(tmp_path: Path) -> None:
    repo = Repository(tmp_path / "repo.sqlite", None)
    tenants: TenantStore = MemoryTenants()
    first = SharedSites(tenants, SiteCache(tmp_path / "a", 1 << 30), _opener(repo))
    files = {"index.html": put_file(repo, b"<p>from node a</p>")}
    manifest = first.materialise(repo, "alice", seq=1, commit="c" * 64, created=1, site="",
                                 files=files)
    first.switch("alice", manifest.name)
    second = SharedSites(tenants, SiteCache(tmp_path / "b", 1 << 30), _opener(repo))
    live = second.live("alice")
    assert live == manifest.name
    found = second.manifest("alice", live)
    assert found is not None
    assert second.read("alice", found, "index.html", 1000) == b"<p>from node a</p>"
    assert list((tmp_path / "b" / "alice").iterdir())  # now on node b's disk
    repo.close()


def test_the_cache_stays_within_its_bound_and_refills(tmp_path: Path) -> None:
    repo = Repository(tmp_path / "repo.sqlite", None)
    cache = SiteCache(tmp_path / "cache", 25_000)
    cache.GRACE = 0  # evicted files leave the disk at once
    store = SharedSites(MemoryTenants(), cache, _opener(repo))
    blobs = {f"f{i}.bin": bytes([i]) * 10_000 for i in range(6)}
    files = {rel: put_file(repo, data) for rel, data in blobs.items()}
    manifest = store.materialise(repo, "alice", seq=1, commit="c" * 64, created=1, site="",
                                 files=files)
    for _ in range(2):
        for rel, data in blobs.items():
            assert store.read("alice", manifest, rel, 1 << 20) == data
            assert cache.size <= 25_000
    on_disk = sum(p.stat().st_size for p in (tmp_path / "cache").rglob("*") if p.is_file())
    assert on_disk <= 25_000
    again = SiteCache(tmp_path / "cache", 10_000)  # a restart with a smaller bound
    assert again.size <= 10_000
    repo.close()


def test_many_small_files_are_bounded_by_count_too(tmp_path: Path) -> None:
    """Each cached file costs memory (its entry in the list), so small pages are bounded by
    how many, not only by bytes: 1 MiB holds 64 of them, not 1 MiB of 40-byte pages."""
    repo = Repository(tmp_path / "repo.sqlite", None)
    cache = SiteCache(tmp_path / "cache", 64 * SiteCache.BYTES_PER_FILE)
    cache.GRACE = 0
    store = SharedSites(MemoryTenants(), cache, _opener(repo))
    blobs = {f"p{i}.html": f"<p>page {i}</p>".encode() for i in range(150)}
    files = {rel: put_file(repo, data) for rel, data in blobs.items()}
    manifest = store.materialise(repo, "alice", seq=1, commit="c" * 64, created=1, site="",
                                 files=files)
    for rel, data in blobs.items():
        assert store.read("alice", manifest, rel, 1000) == data
    on_disk = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert cache.max_files == 64 and len(on_disk) == 64
    assert store.read("alice", manifest, "p0.html", 1000) == b"<p>page 0</p>"  # refilled
    repo.close()


def test_a_file_evicted_while_a_request_holds_its_path_can_still_be_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request checks the file is there (or fills it), then opens it; fills for other
    requests in between may evict it. It stays on disk for ``GRACE`` seconds: the scale
    benchmark with a small cache answered 500 for a feed whose file went in that moment."""
    repo = Repository(tmp_path / "repo.sqlite", None)
    cache = SiteCache(tmp_path / "cache", 64 * SiteCache.BYTES_PER_FILE)
    store = SharedSites(MemoryTenants(), cache, _opener(repo))
    blobs = {f"p{i}.html": f"<p>page {i}</p>".encode() for i in range(80)}
    files = {rel: put_file(repo, data) for rel, data in blobs.items()}
    manifest = store.materialise(repo, "alice", seq=1, commit="c" * 64, created=1, site="",
                                 files=files)
    held = store.fill("alice", manifest, "p0.html")  # one request has its path
    for n in range(1, 80):  # others fill past the bound: p0 is evicted
        store.fill("alice", manifest, f"p{n}.html")
    with open(held, "rb") as f:
        assert f.read() == b"<p>page 0</p>"

    clock = [time.monotonic() + SiteCache.GRACE + 1]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    store.fill("alice", manifest, "p1.html")  # the next eviction, past the grace
    assert not os.path.exists(held)
    assert store.read("alice", manifest, "p0.html", 1000) == b"<p>page 0</p>"  # refilled
    repo.close()


def test_open_site_store_names_the_kinds(tmp_path: Path) -> None:
    assert isinstance(open_site_store("local", tmp_path), DiskSites)
    assert isinstance(open_site_store("", tmp_path), DiskSites)
    assert isinstance(open_site_store("memory", tmp_path), MemorySites)
    with pytest.raises(SiteStoreError, match="local, shared, memory"):
        open_site_store("s3", tmp_path)
    with pytest.raises(SiteStoreError):
        open_site_store("shared", tmp_path)  # needs the database and the repositories


def test_disk_sites_refuse_a_tree_name_leaving_the_tenant(tmp_path: Path) -> None:
    with pytest.raises(SiteError):
        DiskSites(tmp_path).switch("alice", "../bob/sites/1-aaaa")


def test_switching_to_shared_sites_keeps_what_is_live(tmp_path: Path) -> None:
    """A provider moved from local to shared sites serves each tenant's live site at once (a
    home that is up to date would not publish again)."""
    from homeport.provider.sitestore import for_provider
    from homeport.settings import load_settings

    data = tmp_path / "provider"
    db = ProviderDB(data)
    db.add_invite("code", "alice", 10**9, 0, 2**62)
    db.enroll("code", "alice", "did:key:alice", [], 10**9, 0)
    repo = Repository(tmp_path / "repo.sqlite", None)
    disk = DiskSites(data)
    files = {"index.html": put_file(repo, b"<p>live before</p>")}
    tree = disk.materialise(repo, "alice", seq=3, commit="c" * 64, created=1, site="",
                            files=files)
    disk.switch("alice", tree.name)
    settings = load_settings(data, provider_sites="shared")
    shared = for_provider(settings, db)
    assert isinstance(shared, SharedSites)
    assert shared.live("alice") == tree.name
    manifest = shared.manifest("alice", tree.name)
    assert manifest is not None and manifest.files == tree.files
    assert sorted(shared.kept("alice")) == [3]
    for_provider(settings, db)  # once only: a second start changes nothing
    assert [n for _, n, _ in db.trees("alice")] == [tree.name]
    repo.close()
    db.close()
