"""The push engine against a scripted provider, one call at a time and in memory: what it asks
for, how it retries, repairs and gives up, in milliseconds (no HTTP, no sleeping: the waits it
asks for are recorded)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from homeport.core.commits import Commit
from homeport.repo import walk
from homeport.repo.bundle import read_frames
from homeport.repo.repository import Repository
from homeport.repo.snapshot import take_snapshot
from homeport.services import identity as ids
from homeport.services.repository import repo_keys, signer
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.memory import MemoryRecordStore
from homeport.sync.client import ProviderError
from homeport.sync.drivers import run
from homeport.sync.engine import (
    RETRIES,
    Call,
    Missing,
    Publish,
    Push,
    Tenant,
    UpdateIdentity,
    Upload,
)

URL = "https://provider.test"
SITE = "blog"


class Scripted:
    """A provider in memory, answering the engine's calls as the real one does (JSON), with
    faults queued per kind of call."""

    def __init__(self, repo: Repository, quota: int | None = None) -> None:
        self.repo = repo  # the home's, to know what a commit reaches
        self.objects: dict[bytes, bytes] = {}
        self.head: bytes | None = None
        self.quota = quota
        self.calls: list[Call] = []
        self.faults: dict[type, list[ProviderError]] = {}
        self.knows_key = True
        self.lose_before_publish: list[bytes] = []
        self.unreadable: list[str] = []
        """What its pack census names (``damaged`` in its tenant state)."""

    def fault(self, kind: type, *statuses: int) -> None:
        self.faults.setdefault(kind, []).extend(
            ProviderError(URL, s, "unreachable" if s == 0 else "error", f"HTTP {s}")
            for s in statuses
        )

    def kinds(self) -> list[str]:
        return [type(c).__name__ for c in self.calls]

    def __call__(self, call: Call) -> Any:
        self.calls.append(call)
        queued = self.faults.get(type(call))
        if queued:
            raise queued.pop(0)
        if isinstance(call, Tenant):
            if not self.knows_key:
                raise ProviderError(URL, 401, "unauthorized", "unknown key")
            usage = sum(len(v) for v in self.objects.values())
            return {"head": self.head.hex() if self.head else None, "usage": usage,
                    "quota": self.quota, "damaged": self.unreadable}
        if isinstance(call, UpdateIdentity):
            self.knows_key = True
            return {"ok": True}
        if isinstance(call, Missing):
            return {"missing": [i.hex() for i in call.ids if i not in self.objects]}
        if isinstance(call, Upload):
            stored = 0
            for oid, raw in read_frames(b"".join(call.pack)):
                if call.replace or oid not in self.objects:
                    self.objects[oid] = raw
                    stored += 1
            return {"stored": stored}
        assert isinstance(call, Publish)
        for oid in self.lose_before_publish:
            self.objects.pop(oid, None)
        self.lose_before_publish = []
        lacking = [o for o in walk.reachable(self.repo, call.commit) if o not in self.objects]
        if lacking:
            error = ProviderError(URL, 400, "missing-objects", "objects are missing")
            error.missing = [o.hex() for o in lacking]
            raise error
        self.head = call.commit
        return {"site": f"https://{call.site}.provider.test/"}

    def intact(self) -> bool:
        return all(self.repo.raw(oid) == raw for oid, raw in self.objects.items())


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Repository, list[Commit]]]:
    """A home with two commits: a site of 24 incompressible files, then 4 of them changed."""
    data = tmp_path_factory.mktemp("home")
    ids.create(data)
    repo = Repository.open(data, repo_keys(data))
    store, blobs, sign = MemoryRecordStore(), FsBlobStore(data / "blobs"), signer(data)
    site = data / "sites" / SITE
    site.mkdir(parents=True)
    commits = []
    for n, changed in enumerate((range(24), range(4))):
        for i in changed:
            (site / f"page{i}.bin").write_bytes(os.urandom(3000))
        done = asyncio.run(take_snapshot(store, blobs, repo, sign, now_ms=1_795_400_000_000 + n,
                                         site_root=data / "sites"))
        assert done.commit is not None
        commits.append(done.commit)
    yield repo, commits
    repo.close()


def operations(repo: Repository) -> list[dict[str, Any]]:
    return [{"op": "test"}]  # the scripted provider does not read them


def push(repo: Repository, **kw: Any) -> Push:
    kw.setdefault("pack_bytes", 16_000)
    return Push(repo, operations(repo), SITE, URL, **kw)


def test_a_first_push_asks_what_is_missing_sends_it_in_packs_then_publishes(home: Any) -> None:
    repo, commits = home
    provider = Scripted(repo)
    slept: list[float] = []

    result = run(push(repo), provider, slept.append)

    reachable = set(walk.reachable(repo, commits[-1].id))
    assert set(provider.objects) == reachable and provider.intact()
    assert provider.head == commits[-1].id and result.head == commits[-1].id.hex()
    assert result.objects == len(reachable) and not result.up_to_date
    kinds = provider.kinds()
    assert kinds[:2] == ["Tenant", "Missing"] and kinds[-1] == "Publish"
    assert kinds.count("Upload") >= 4  # 16 KB packs
    assert result.site == "https://blog.provider.test/" and slept == []
    publish = provider.calls[-1]
    assert isinstance(publish, Publish) and len(publish.files) == 24


def test_a_push_with_nothing_new_only_asks_the_tenant(home: Any) -> None:
    repo, _ = home
    provider = Scripted(repo)
    run(push(repo), provider)
    provider.calls.clear()

    result = run(push(repo), provider)

    assert result.up_to_date and provider.kinds() == ["Tenant"]


def test_an_incremental_push_sends_only_what_changed(home: Any) -> None:
    repo, commits = home
    provider = Scripted(repo)
    old = set(walk.reachable(repo, commits[0].id))
    provider.objects = {oid: repo.raw(oid) for oid in old}
    provider.head = commits[0].id

    result = run(push(repo), provider)

    new = set(walk.reachable(repo, commits[1].id)) - old
    assert result.objects == len(new) and provider.head == commits[1].id
    missing = [c for c in provider.calls if isinstance(c, Missing)]
    assert sum(len(c.ids) for c in missing) < len(old)  # only the subtrees that differ


def test_5xx_answers_and_cuts_are_retried_with_backoff(home: Any) -> None:
    repo, commits = home
    provider = Scripted(repo)
    provider.fault(Tenant, 502)
    provider.fault(Missing, 0)
    provider.fault(Upload, 503, 0, 500)
    provider.fault(Publish, 504)
    slept: list[float] = []

    result = run(push(repo), provider, slept.append)

    assert provider.head == commits[-1].id and provider.intact()
    assert set(provider.objects) == set(walk.reachable(repo, commits[-1].id))
    assert slept == [RETRIES[0]] * 6  # each failed call once: its first wait
    assert result.objects == len(provider.objects)


def test_it_gives_up_after_the_last_retry_with_the_providers_error(home: Any) -> None:
    repo, _ = home
    provider = Scripted(repo)
    provider.fault(Publish, *[503] * (len(RETRIES) + 1))
    slept: list[float] = []

    with pytest.raises(ProviderError) as failed:
        run(push(repo), provider, slept.append)

    assert failed.value.status == 503
    assert slept == list(RETRIES)
    assert provider.kinds().count("Publish") == len(RETRIES) + 1 and provider.head is None


def test_a_4xx_is_the_providers_answer_and_is_not_retried(home: Any) -> None:
    repo, _ = home
    provider = Scripted(repo)
    provider.fault(Upload, 413)
    slept: list[float] = []

    with pytest.raises(ProviderError) as refused:
        run(push(repo), provider, slept.append)

    assert refused.value.status == 413 and slept == []
    assert "Publish" not in provider.kinds() and provider.head is None


def test_a_provider_that_does_not_know_the_new_key_is_handed_the_identity_log(home: Any) -> None:
    repo, commits = home
    provider = Scripted(repo)
    provider.knows_key = False

    run(push(repo), provider)

    assert provider.kinds()[:3] == ["Tenant", "UpdateIdentity", "Tenant"]
    assert provider.head == commits[-1].id


def test_objects_the_provider_lost_before_the_publish_are_sent_again(home: Any) -> None:
    repo, commits = home
    provider = Scripted(repo)
    lost = sorted(walk.reachable(repo, commits[-1].id))[:3]
    provider.lose_before_publish = lost

    result = run(push(repo), provider)

    assert provider.head == commits[-1].id and all(o in provider.objects for o in lost)
    kinds = provider.kinds()
    assert kinds.count("Publish") == 2 and kinds[-2] == "Upload"
    assert result.objects == len(set(walk.reachable(repo, commits[-1].id))) + 3


def test_a_repair_replaces_damaged_copies_and_publishes_the_head_again(home: Any) -> None:
    repo, _ = home
    provider = Scripted(repo)
    run(push(repo), provider)
    damaged = sorted(provider.objects)[:2]
    for oid in damaged:
        provider.objects[oid] = b"\x00" + provider.objects[oid][1:]
    assert not provider.intact()
    provider.calls.clear()

    result = run(push(repo, repair=damaged), provider)

    assert provider.intact() and not result.up_to_date and result.objects == 2
    uploads = [c for c in provider.calls if isinstance(c, Upload)]
    assert uploads and all(c.replace for c in uploads)
    assert provider.kinds() == ["Tenant", "Upload", "Publish"]


def test_copies_the_providers_census_names_are_sent_again_with_nothing_new(home: Any) -> None:
    """A provider whose packs were lost names the objects in ``damaged``: a push with nothing
    new replaces those the home holds (a malformed or unknown id is passed over)."""
    repo, _ = home
    provider = Scripted(repo)
    run(push(repo), provider)
    lost = sorted(provider.objects)[:3]
    for oid in lost:
        del provider.objects[oid]
    provider.unreadable = [o.hex() for o in lost] + ["not hex", (b"\x01" * 32).hex()]
    provider.calls.clear()

    result = run(push(repo), provider)

    assert all(o in provider.objects for o in lost) and provider.intact()
    assert result.repaired == 3 and not result.up_to_date
    assert provider.kinds() == ["Tenant", "Upload", "Publish"]


def test_a_push_that_would_overflow_the_quota_sends_nothing(home: Any) -> None:
    repo, _ = home
    provider = Scripted(repo, quota=10_000)

    with pytest.raises(ProviderError) as refused:
        run(push(repo), provider)

    assert refused.value.status == 507 and "nothing was sent" in str(refused.value)
    assert "Upload" not in provider.kinds() and not provider.objects


def test_uploads_run_at_most_parallel_at_once_and_a_refusal_abandons_the_rest(
    home: Any,
) -> None:
    """Answered out of order, as threads would: never more than ``parallel`` calls in flight;
    once one is refused for good, late answers of the others change nothing."""
    repo, _ = home
    provider = Scripted(repo)
    machine = push(repo, parallel=3, pack_bytes=8_000)
    waiting = machine.start()
    peak = 0
    uploads = 0
    with pytest.raises(ProviderError) as refused:
        while waiting:
            peak = max(peak, machine.in_flight)
            send = waiting.pop()  # the newest first
            if isinstance(send.call, Upload):
                uploads += 1
                if uploads == 5:
                    late = list(waiting)
                    waiting = machine.fail(send.ticket, ProviderError(URL, 400, "bad", "no"))
                    continue
            waiting.extend(machine.answer(send.ticket, provider(send.call)))
    assert refused.value.code == "bad" and peak == 3
    assert all(machine.answer(s.ticket, {}) == [] for s in late)
    assert machine.result is None and provider.head is None


def test_a_malformed_answer_is_a_clear_error(home: Any) -> None:
    repo, _ = home
    provider = Scripted(repo)

    def perform(call: Call) -> Any:
        return {"missing": "nope"} if isinstance(call, Missing) else provider(call)

    with pytest.raises(ProviderError) as bad:
        run(push(repo), perform)

    assert bad.value.code == "bad-answer" and "missing" in str(bad.value)


def test_nothing_to_publish_without_a_snapshot(tmp_path: Path) -> None:
    ids.create(tmp_path)
    repo = Repository.open(tmp_path, repo_keys(tmp_path))
    try:
        with pytest.raises(Exception, match="no snapshot yet"):
            run(Push(repo, [], None, URL), Scripted(repo))
    finally:
        repo.close()
