"""The ``SiteStore`` contract (``provider/sitestore.py``) as a conformance suite; subclass it
and provide a ``sites`` fixture. The suite's ``site_repo`` fixture is a tenant repository
holding the files (``put_file``); a store that reads files later (``SharedSites``) opens it::

    class TestMemorySites(SiteStoreConformance):
        @pytest.fixture
        def sites(self):
            return MemorySites()
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from homeport.core.canonical import canonical
from homeport.core.objects import ObjectType
from homeport.provider.sites import SiteError
from homeport.provider.sitestore import SiteStore
from homeport.repo.codec import encode
from homeport.repo.repository import Repository

__all__ = ["SiteStoreConformance", "put_file"]

LIMIT = 1 << 20


def put_file(repo: Repository, data: bytes, declared: int | None = None,
             chunk: int = 4096) -> tuple[bytes, int]:
    """A public file object and its chunks in ``repo``: (file id, size)."""
    ids: list[bytes] = []
    with repo.transaction():
        for start in range(0, max(len(data), 1), chunk):
            oid, stored = encode(ObjectType.CHUNK, (), data[start : start + chunk], False, None)
            repo.put(oid, ObjectType.CHUNK, (), stored, 1)
            ids.append(oid)
        size = len(data) if declared is None else declared
        body = canonical({"size": size})
        oid, stored = encode(ObjectType.FILE, tuple(ids), body, False, None)
        repo.put(oid, ObjectType.FILE, tuple(ids), stored, 1)
    return oid, len(data)


class SiteStoreConformance:
    """Trees written whole, one live tree switched in one step, pruning that keeps the live
    one, tenants kept apart, and file bytes exactly as published."""

    @pytest.fixture
    def site_repo(self, tmp_path: Path) -> Iterator[Repository]:
        repo = Repository(tmp_path / "site-repo.sqlite", None)
        yield repo
        repo.close()

    def _publish(self, sites: SiteStore, repo: Repository, tenant: str, seq: int,
                 files: dict[str, bytes]) -> str:
        listed = {path: put_file(repo, data) for path, data in files.items()}
        manifest = sites.materialise(repo, tenant, seq=seq, commit="c" * 64, created=1000 * seq,
                                     site="blog", files=listed)
        return manifest.name

    def _bytes(self, sites: SiteStore, tenant: str, name: str, rel: str) -> bytes | None:
        manifest = sites.manifest(tenant, name)
        assert manifest is not None
        return sites.read(tenant, manifest, rel, LIMIT)

    def test_is_a_site_store(self, sites: SiteStore) -> None:
        assert isinstance(sites, SiteStore)

    def test_a_tree_is_live_only_after_switch(self, sites: SiteStore,
                                              site_repo: Repository) -> None:
        assert sites.live("alice") is None and sites.kept("alice") == {}
        big = os.urandom(20_000)  # several chunks
        name = self._publish(sites, site_repo, "alice", 1,
                             {"index.html": b"<h1>hi</h1>", "img/a.bin": big})
        assert sites.live("alice") is None
        sites.switch("alice", name)
        assert sites.live("alice") == name
        manifest = sites.manifest("alice", name)
        assert manifest is not None and manifest.seq == 1 and manifest.site == "blog"
        assert sorted(manifest.files) == ["img/a.bin", "index.html"]
        assert manifest.files["img/a.bin"][1] == len(big)
        assert self._bytes(sites, "alice", name, "img/a.bin") == big
        assert self._bytes(sites, "alice", name, "index.html") == b"<h1>hi</h1>"
        assert self._bytes(sites, "alice", name, "nothing.html") is None
        assert sites.read("alice", manifest, "img/a.bin", 100) is None  # over the limit
        path, size = sites.locate("alice", manifest, "img/a.bin")
        assert size == len(big)
        if path:  # a store with local files: that path holds the bytes once filled
            assert sites.fill("alice", manifest, "img/a.bin") == path
            with open(path, "rb") as f:
                assert f.read() == big

    def test_switch_changes_the_whole_tree(self, sites: SiteStore,
                                           site_repo: Repository) -> None:
        one = self._publish(sites, site_repo, "alice", 1, {"a.html": b"one", "b.html": b"one"})
        two = self._publish(sites, site_repo, "alice", 2, {"a.html": b"two"})
        sites.switch("alice", one)
        sites.switch("alice", two)
        live = sites.live("alice")
        assert live == two
        manifest = sites.manifest("alice", live)
        assert manifest is not None and sorted(manifest.files) == ["a.html"]
        assert self._bytes(sites, "alice", live, "a.html") == b"two"
        sites.switch("alice", one)  # a rollback
        assert self._bytes(sites, "alice", one, "b.html") == b"one"

    def test_switch_to_an_unknown_tree_is_refused(self, sites: SiteStore,
                                                  site_repo: Repository) -> None:
        name = self._publish(sites, site_repo, "alice", 1, {"a.html": b"one"})
        sites.switch("alice", name)
        with pytest.raises(SiteError):
            sites.switch("alice", "9-deadbeef")
        with pytest.raises(SiteError):
            sites.switch("bob", name)  # alice's tree is not bob's
        assert sites.live("alice") == name and sites.live("bob") is None

    def test_tenants_are_kept_apart(self, sites: SiteStore, site_repo: Repository) -> None:
        name = self._publish(sites, site_repo, "alice", 1, {"secret.html": b"alice's"})
        sites.switch("alice", name)
        assert sites.manifest("bob", name) is None
        assert sites.kept("bob") == {} and sites.live("bob") is None
        sites.drop("bob")
        assert self._bytes(sites, "alice", name, "secret.html") == b"alice's"

    def test_kept_prune_and_usage(self, sites: SiteStore, site_repo: Repository) -> None:
        names = [self._publish(sites, site_repo, "alice", seq, {"i.html": b"v%d" % seq})
                 for seq in (1, 2, 3, 4)]
        again = self._publish(sites, site_repo, "alice", 4, {"i.html": b"v4 again"})
        sites.switch("alice", again)
        assert sites.kept("alice")[4] == again  # a seq published twice: the live tree wins
        sites.switch("alice", names[1])  # seq 2 is live: a rollback happened
        kept = sites.kept("alice")
        assert kept[1] == names[0] and kept[2] == names[1] and kept[4] in (names[3], again)
        full = sites.usage("alice")
        assert full > 0
        assert sites.new_bytes("alice", {"x.html": put_file(site_repo, b"x")}) > 0
        sites.prune("alice", 2)
        assert sorted(sites.kept("alice")) == [2, 3, 4]  # the newest two, and the live one
        assert sites.manifest("alice", names[0]) is None
        assert self._bytes(sites, "alice", names[1], "i.html") == b"v2"
        assert 0 < sites.usage("alice") < full
        sites.remove("alice", names[2])
        assert sites.manifest("alice", names[2]) is None
        sites.drop("alice")
        assert sites.live("alice") is None and sites.kept("alice") == {}

    def test_a_file_and_a_folder_of_one_name_are_refused(self, sites: SiteStore,
                                                         site_repo: Repository) -> None:
        with pytest.raises(SiteError):
            self._publish(sites, site_repo, "alice", 1, {"a": b"file", "a/b.html": b"x"})
        assert sites.kept("alice") == {}

    def test_a_file_holding_more_than_it_declares_is_never_served(
        self, sites: SiteStore, site_repo: Repository
    ) -> None:
        """The publish path checks sizes first (``sites.file_size``); the store still never
        hands out more bytes than the manifest says, at materialise or on first read."""
        file_id, _ = put_file(site_repo, b"x" * 10_000, declared=5)
        try:
            manifest = sites.materialise(site_repo, "alice", seq=1, commit="c" * 64,
                                         created=1, site="", files={"a.bin": (file_id, 5)})
        except SiteError:
            return
        sites.switch("alice", manifest.name)
        with pytest.raises(SiteError):
            sites.read("alice", manifest, "a.bin", LIMIT)
