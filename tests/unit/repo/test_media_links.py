"""A record's media references (a photo's original, an article's images) travel with it: the
snapshot links their files to the entry, and a restore puts them back into the blob store. They
did not (only a Kinto attachment was linked), so a home restored from its phrase named photos
whose bytes were nowhere and could not build its site."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from homeport.core.mediarefs import file_digests
from homeport.core.objects import ObjectType
from homeport.repo import snapshot
from homeport.repo.repository import Repository
from homeport.repo.snapshot import ENTRY_LINKS
from homeport.services import identity as ids
from homeport.services import repository as repo_service
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.memory import MemoryRecordStore

from .support import RepoHome

PARENT = "/buckets/site/collections/photos"


def ref(digest: str, **more: object) -> dict[str, object]:
    return {"hash": digest, "mimetype": "image/jpeg", "size": 10, "filename": "a.jpg", **more}


def test_the_digests_a_record_names_attachment_first_then_sorted_walk_each_once() -> None:
    a, b, c = "a" * 64, "b" * 64, "c" * 64
    data = {
        "photos": [ref(b), ref(c)],
        "attachment": {"hash": a, "location": "x"},
        "image": ref(b),  # named twice: linked once
        "note": {"hash": "d" * 64},  # no mimetype: not a media reference
        "bad": {"hash": "not hex", "mimetype": "image/png"},
    }
    assert file_digests(data) == [a, b, c]
    assert file_digests({"text": "none"}) == []


def phrase_home(root: Path) -> tuple[RepoHome, str]:
    data = root / "data"
    data.mkdir(parents=True)
    _, phrase = ids.create(data)
    store = MemoryRecordStore()
    asyncio.run(store.initialize())
    keys = repo_service.repo_keys(data)
    home = RepoHome(data, store, FsBlobStore(data / "blobs"), Repository.open(data, keys),
                    repo_service.signer(data), keys, ids.document(ids.load(data)))
    home.put("bucket", "", {"id": "site"})
    home.put("collection", "/buckets/site", {"id": "photos"})
    return home, phrase


def test_a_photos_original_is_restored_from_the_phrase(tmp_path: Path) -> None:
    home, phrase = phrase_home(tmp_path / "a")
    first, second = os.urandom(150_000), os.urandom(90_000)
    d1, d2 = home.blob(first), home.blob(second)
    home.put("record", PARENT, {"id": "p1", "photos": [ref(d1), ref(d2, alt="second")]})
    result = home.snapshot()
    assert result.commit is not None and result.warnings == []
    kind, links, _ = home.repo.read(home.entries()[f"{PARENT}/records/p1"][0])
    assert kind is ObjectType.ENTRY and len(links) == 2

    bundle = tmp_path / "home.bundle"
    bundle.write_bytes(home.export())
    target = tmp_path / "b"
    blobs = FsBlobStore(target / "blobs")
    store = MemoryRecordStore()
    asyncio.run(store.initialize())
    outcome = asyncio.run(
        repo_service.import_bundle(Settings(data_dir=target), bundle, phrase, store, blobs)
    )
    assert outcome.checkout is not None
    for digest, payload in ((d1, first), (d2, second)):
        with blobs.open(digest) as got:
            assert got.read() == payload


def test_an_older_repository_links_its_media_at_the_next_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, _ = phrase_home(tmp_path / "a")
    digest = home.blob(os.urandom(50_000))
    home.put("record", PARENT, {"id": "p1", "photos": [ref(digest)]})
    key = f"{PARENT}/records/p1"
    with monkeypatch.context() as old:  # as snapshots did before: no media linked
        old.setattr(snapshot, "file_digests", lambda data: [])
        assert home.snapshot().commit is not None
    with home.repo.transaction():
        home.repo.set_meta(ENTRY_LINKS, None)
    assert home.repo.links(home.entries()[key][0]) == ()

    assert home.snapshot().commit is not None  # every record read again, once
    assert len(home.repo.links(home.entries()[key][0]) or ()) == 1
    assert home.snapshot().commit is None
