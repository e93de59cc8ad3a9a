"""A restore's download: the provider's copy fetched in parallel batches (``sync/fetching.py``)
is the same bundle, object for object, as ``GET /bundle`` gives, and it verifies; on both
engines, with the provider's history starting after the home's first commit."""

from __future__ import annotations

import asyncio
import io
import os
import sqlite3
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from homeport import jsonio
from homeport.repo import bundle
from homeport.repo.bundle import MAGIC, TRAILER, read_frames, verify_bundle
from homeport.repo.repository import REPO_FILE
from homeport.services import repository as repo_service
from homeport.services.repository import repo_keys
from homeport.settings import load_settings
from homeport.sync import fetching
from homeport.sync.client import Credentials, ProviderClient, ProviderError, Spec

from .conftest import SITE_V1, World


def frames_of(bundle: bytes) -> set[bytes]:
    (length,) = struct.unpack(">I", bundle[len(MAGIC) : len(MAGIC) + 4])
    body = bundle[len(MAGIC) + 4 + length : -(1 + TRAILER.size)]
    return {oid for oid, _ in read_frames(body)}


class Overlapping(ProviderClient):
    """Counts fetches in flight; a full batch waits (bounded) for a second one to start, so a
    download that fetches one batch at a time shows up as a peak of 1."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.inflight = self.peak = 0
        self.lock = threading.Condition()

    def send(self, spec: Spec, stream: bool = False) -> httpx.Response:
        if spec.path != "/objects/fetch":
            return super().send(spec, stream)
        ids = jsonio.loads(spec.body)["ids"]
        with self.lock:
            self.inflight += 1
            self.peak = max(self.peak, self.inflight)
            self.lock.notify_all()
            if len(ids) == fetching.BATCH:
                self.lock.wait_for(lambda: self.inflight >= 2, timeout=2)
        try:
            return super().send(spec, stream)
        finally:
            with self.lock:
                self.inflight -= 1


def test_the_parallel_download_is_the_providers_bundle_and_verifies(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetching, "BATCH", 4)
    home = world.enrolled("alice")
    home.put_record("public", "hello", True, title="hi")
    for n in range(4):  # commit 1 reaches the provider only as objects of a later push
        home.write_site({**SITE_V1, **{f"p{n}-{i}.bin": os.urandom(2000) for i in range(9)}})
        commit = home.snapshot()
        if n:
            assert home.publish(world.client, commit, history=n > 1).status_code == 200
    client = Overlapping(str(world.client.base_url), Credentials(home.did, home.key),
                         world.client)
    tenant = client.tenant()
    fetched = io.BytesIO()

    done = fetching.fetch_bundle(client, tenant, repo_keys(home.data), fetched, parallel=4)

    reference = io.BytesIO()
    client.download_bundle(reference)
    assert frames_of(fetched.getvalue()) == frames_of(reference.getvalue())
    assert done.objects == len(frames_of(reference.getvalue())) and done.requests > 10
    assert client.peak >= 2
    fetched.seek(0)
    reference.seek(0)
    ours = verify_bundle(fetched, repo_keys(home.data), tmp_path)
    theirs = verify_bundle(reference, repo_keys(home.data), tmp_path)
    assert ours.header == theirs.header and ours.header.since == 1
    assert ours.objects == theirs.objects


def test_nothing_published_is_a_clear_error(world: World) -> None:
    home = world.enrolled("bob")
    client = ProviderClient(str(world.client.base_url), Credentials(home.did, home.key),
                            world.client)

    with pytest.raises(ProviderError, match="nothing published"):
        fetching.fetch_bundle(client, client.tenant(), repo_keys(home.data), io.BytesIO())


def published(world: World, name: str) -> Any:
    home = world.enrolled(name)
    home.put_record("public", "hello", True, title="hi")
    home.write_site({**SITE_V1, **{f"p-{i}.bin": os.urandom(3000) for i in range(40)}})
    assert home.publish(world.client, home.snapshot()).status_code == 200
    return home


def test_a_restore_imports_the_objects_as_they_arrive_with_no_bundle_between(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ProviderCopy`` hands each object to the import as it streams in: by the time the
    last one arrives, the others are in the new home's repository already (each committed at
    once here). It was downloaded whole to a temporary bundle file first, then imported."""
    monkeypatch.setattr(fetching, "BATCH", 8)
    monkeypatch.setattr(bundle, "BATCH_BYTES", 1)
    home = published(world, "carol")
    client = ProviderClient(str(world.client.base_url), Credentials(home.did, home.key),
                            world.client)
    copy = fetching.ProviderCopy(client, client.tenant(), repo_keys(home.data), parallel=2)
    target = tmp_path / "restored"
    seen_before_last: list[int] = []
    objects = copy.objects

    def watched() -> Iterator[tuple[bytes, bytes]]:
        held = None
        for item in objects():  # one behind the download, to see the last one coming
            if held is not None:
                yield held
            held = item
        db = sqlite3.connect(target / REPO_FILE)
        seen_before_last.append(db.execute("SELECT count(*) FROM objects").fetchone()[0])
        db.close()
        assert held is not None
        yield held

    monkeypatch.setattr(copy, "objects", watched)

    outcome = asyncio.run(repo_service.import_bundle(
        load_settings(target, storage_url="memory://"), copy, home.phrase
    ))

    assert outcome.result.objects == copy.done.objects > 40
    assert seen_before_last == [copy.done.objects - 1]
    assert outcome.result.header.head == home.repo.head().id  # type: ignore[union-attr]


def test_a_download_cut_midway_leaves_nothing_behind(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The import reads the download as it comes; when the provider's answer breaks off, the
    new home's directory is removed (nothing half-imported stays), and a retry restores."""
    monkeypatch.setattr(fetching, "BATCH", 8)
    home = published(world, "dave")
    client = ProviderClient(str(world.client.base_url), Credentials(home.did, home.key),
                            world.client)
    copy = fetching.ProviderCopy(client, client.tenant(), repo_keys(home.data), parallel=2)
    objects = copy.objects

    def cut() -> Iterator[tuple[bytes, bytes]]:
        for n, item in enumerate(objects()):
            if n == 20:
                raise ProviderError(client.url, 200, "bad-answer", "the answer was cut")
            yield item

    monkeypatch.setattr(copy, "objects", cut)
    target = tmp_path / "restored"
    settings = load_settings(target, storage_url="memory://")
    with pytest.raises(ProviderError, match="cut"):
        asyncio.run(repo_service.import_bundle(settings, copy, home.phrase))
    assert not target.exists()

    monkeypatch.setattr(copy, "objects", objects)
    outcome = asyncio.run(repo_service.import_bundle(settings, copy, home.phrase))
    assert outcome.checkout is not None and outcome.result.objects == copy.done.objects
