"""A restore's download: the provider's copy fetched in parallel batches (``sync/fetching.py``)
is the same bundle, object for object, as ``GET /bundle`` gives, and it verifies; on both
engines, with the provider's history starting after the home's first commit."""

from __future__ import annotations

import io
import os
import struct
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from homeport import jsonio
from homeport.repo.bundle import MAGIC, TRAILER, read_frames, verify_bundle
from homeport.services.repository import repo_keys
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
