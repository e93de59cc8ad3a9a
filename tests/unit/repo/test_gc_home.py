"""Garbage collection at the home (``services.gc``): attachment blobs no record names go after
the grace; blobs a record names anywhere, or written lately, stay; a write racing with the
collection keeps its blob; a killed collection's blob is put back; writers and collections
exclude each other through ``gc.lock``."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from homeport.repo import gc
from homeport.services.gc import HomeCollection, collect_home
from homeport.settings import load_settings
from homeport.store.blobs_fs import COLLECTING, FsBlobStore

from .support import RepoHome, make_home

C = "/buckets/b/collections/c"
LONG_AGO = time.time() - 7 * 24 * 3600


@pytest.fixture
def home(tmp_path: Path) -> Iterator[RepoHome]:
    h = make_home(tmp_path)
    h.put("bucket", "", {"id": "b"})
    h.put("collection", "/buckets/b", {"id": "c"})
    yield h
    h.close()


def _age(blobs: FsBlobStore, digest: str) -> None:
    path = blobs.path(digest)
    assert path is not None
    os.utime(path, (LONG_AGO, LONG_AGO))


def _collect(h: RepoHome, dry_run: bool = False, grace: int = 3600) -> HomeCollection:
    settings = load_settings(h.data, gc_grace_seconds=grace)
    return asyncio.run(collect_home(settings, h.store, h.blobs, dry_run=dry_run))


def test_blobs_no_record_names_go_and_named_ones_stay(home: RepoHome) -> None:
    first = home.attach(C, "photo", secrets.token_bytes(30_000))
    home.snapshot()
    second = home.attach(C, "photo", secrets.token_bytes(20_000))  # replaces the first
    variant = home.blob(secrets.token_bytes(10_000))  # named deep inside another record
    home.put("record", C, {"id": "album", "variants": [{"w": 320, "hash": variant.upper()}]})
    orphan = home.blob(secrets.token_bytes(5_000))  # its record was never saved
    home.snapshot()
    for digest in (first, second, variant, orphan):
        _age(home.blobs, digest)
    dry = _collect(home, dry_run=True)
    assert (dry.blobs.count, dry.blobs.bytes) == (2, 35_000)
    assert home.blobs.exists(first) and home.blobs.exists(orphan)
    done = _collect(home)
    assert (done.blobs.count, done.blobs.bytes) == (2, 35_000)
    assert done.blobs_kept.count == 2
    assert not home.blobs.exists(first) and not home.blobs.exists(orphan)
    assert home.blobs.exists(second) and home.blobs.exists(variant)
    assert done.repository.unreachable.count == 0  # the history keeps the first photo's bytes


def test_blobs_within_the_grace_stay(home: RepoHome) -> None:
    orphan = home.blob(secrets.token_bytes(5_000))  # an upload whose record is being saved
    assert _collect(home).blobs.count == 0 and home.blobs.exists(orphan)
    _age(home.blobs, orphan)
    assert _collect(home).blobs.count == 1 and not home.blobs.exists(orphan)


def test_storing_the_same_bytes_again_dates_the_blob(home: RepoHome) -> None:
    payload = secrets.token_bytes(5_000)
    digest = home.blob(payload)
    _age(home.blobs, digest)
    assert home.blob(payload) == digest  # uploaded again: its record is on its way
    assert _collect(home).blobs.count == 0 and home.blobs.exists(digest)


def test_a_write_racing_with_the_collection_keeps_its_blob(home: RepoHome) -> None:
    payload = secrets.token_bytes(5_000)
    digest = home.blob(payload)
    _age(home.blobs, digest)
    cutoff = time.time() - 3600
    listed = {d for d, _, mtime in home.blobs.listing() if mtime < cutoff}
    assert digest in listed  # the collection chose it...
    home.blob(payload)  # ...then the same bytes were stored again, before the removal
    assert not home.blobs.collect(digest, cutoff)
    assert home.blobs.exists(digest)
    with home.blobs.open(digest) as f:
        assert f.read() == payload


def test_a_killed_collection_puts_its_blob_back(home: RepoHome) -> None:
    digest = home.blob(secrets.token_bytes(5_000))
    path = Path(str(home.blobs.path(digest)))
    (home.blobs.root / COLLECTING).touch()  # what a collection killed mid-removal leaves
    os.rename(path, path.with_name(f".gc-{path.name}"))
    assert not home.blobs.exists(digest)
    again = FsBlobStore(home.blobs.root)
    assert again.exists(digest)


def test_writers_and_collections_exclude_each_other(home: RepoHome) -> None:
    async def go() -> None:
        async with gc.writers(home.data):
            with pytest.raises(gc.GcBusy), gc.collector(home.data, wait=0.1):
                pass
            async with gc.writers(home.data):  # writers share it
                pass
        with gc.collector(home.data, wait=0.1), pytest.raises(gc.GcBusy):
            async with gc.writers(home.data, wait=0.1):
                pass

    asyncio.run(go())


def test_the_cli_reports_and_removes(home: RepoHome) -> None:
    from typer.testing import CliRunner

    from homeport.cli.main import app

    orphan = home.blob(secrets.token_bytes(5_000))
    _age(home.blobs, orphan)
    runner = CliRunner()
    # the CLI opens the home's own store (SQLite), which names no blob
    dry = runner.invoke(app, ["gc", "--dry-run", "--data", str(home.data)])
    assert dry.exit_code == 0, dry.output
    assert "attachment blobs no record names: 1 (4.9 KiB) would go" in dry.output
    assert home.blobs.exists(orphan)
    done = runner.invoke(app, ["gc", "--json", "--data", str(home.data)])
    assert done.exit_code == 0, done.output
    doc = json.loads(done.output)
    assert doc["dry_run"] is False and doc["blobs"] == {"count": 1, "bytes": 5_000}
    assert not home.blobs.exists(orphan)
    empty = runner.invoke(app, ["gc", "--data", str(home.data.parent / "nothing")])
    assert empty.exit_code == 1 and "holds no home" in empty.output
