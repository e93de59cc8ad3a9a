"""The publish seams (before the snapshot, after the publish) and the publish lock, in process:
a callback that raises does not stop the others; the lock keeps a second holder out (threads of
one process included) until the first lets go, and a holder that waits too long is told so."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from homeport.publish import hooks
from homeport.publish.auto import plain
from homeport.publish.lock import PublishBusy, publish_lock
from homeport.settings import Settings


@pytest.fixture(autouse=True)
def own_seams(monkeypatch: pytest.MonkeyPatch) -> None:
    """Empty seams for each test: others in the same process register the home's callbacks."""
    monkeypatch.setattr(hooks, "_after", hooks._Seam("after_publish"))
    monkeypatch.setattr(hooks, "_before", hooks._Seam("before_snapshot"))


def event(tmp_path: Path) -> hooks.Published:
    return hooks.Published(
        settings=Settings(data_dir=tmp_path), previous_seq=None, previous_head=None, seq=1,
        head="ab" * 32, providers=(), trigger="cli",
    )


def test_a_failing_callback_does_not_stop_the_others(tmp_path: Path) -> None:
    calls: list[str] = []

    def broken(e: hooks.Published) -> None:
        calls.append("broken")
        raise RuntimeError("boom")

    def fine(e: hooks.Published) -> None:
        calls.append("fine")

    hooks.after_publish(broken)
    hooks.after_publish(fine)
    hooks.after_publish(fine)  # once only
    try:
        errors = hooks.call_all(event(tmp_path))
    finally:
        hooks.forget(broken)
        hooks.forget(fine)
    assert calls == ["broken", "fine"]
    assert len(errors) == 1 and "boom" in errors[0]
    assert hooks.call_all(event(tmp_path)) == []


def test_before_snapshot_callbacks_are_their_own_seam(tmp_path: Path) -> None:
    """A before-snapshot callback is awaited with the publish's context, a failing one is
    reported, and neither is called after the publish."""
    seen: list[object] = []

    async def fine(ctx: object) -> None:
        seen.append(ctx)

    async def broken(ctx: object) -> None:
        raise ValueError("no provider answered")

    hooks.before_snapshot(fine)
    hooks.before_snapshot(broken)
    try:
        ctx = object()
        errors = asyncio.run(hooks.call_before(ctx))  # type: ignore[arg-type]
        assert hooks.call_all(event(tmp_path)) == []
    finally:
        hooks.forget(fine)
        hooks.forget(broken)
    assert seen == [ctx]
    assert len(errors) == 1 and "no provider answered" in errors[0]


def test_the_lock_keeps_a_second_holder_out_until_released(tmp_path: Path) -> None:
    inside = threading.Event()
    release = threading.Event()

    def first() -> None:
        with publish_lock(tmp_path, wait=5):
            inside.set()
            release.wait(10)

    holder = threading.Thread(target=first)
    holder.start()
    try:
        assert inside.wait(5)
        with pytest.raises(PublishBusy), publish_lock(tmp_path, wait=0.3):
            pass
        timer = threading.Timer(0.5, release.set)
        timer.start()
        started = time.monotonic()
        with publish_lock(tmp_path, wait=5):
            waited = time.monotonic() - started
        assert 0.3 < waited < 5
    finally:
        release.set()
        holder.join(10)


def test_errors_are_said_in_plain_words() -> None:
    raw = "http://127.0.0.1:9/: cannot reach the provider ([Errno 111] Connection refused)"
    said = plain(raw)
    assert "Errno" not in said and "could not be reached" in said
    assert said.startswith("http://127.0.0.1:9/")
    assert plain("http://p/: quota exceeded") == "http://p/: quota exceeded"


def test_live_at_says_which_providers_serve_a_change(tmp_path: Path) -> None:
    from homeport.publish.auto import AutoPublisher
    from homeport.publish.run import Report
    from homeport.services.context import Context
    from homeport.store.blobs_fs import FsBlobStore
    from homeport.store.memory import MemoryRecordStore
    from homeport.sync.engine import PushResult
    from homeport.sync.providers import Outcome

    settings = Settings(data_dir=tmp_path, storage_url="memory://")
    ctx = Context(settings=settings, store=MemoryRecordStore(), blobs=FsBlobStore(tmp_path))
    publisher = AutoPublisher(ctx)
    notes = ("record", "/buckets/site/collections/notes")
    assert publisher.live_at(*notes, 100) == {}  # nothing known yet
    report = Report(
        outcomes=[
            Outcome("http://a", result=PushResult("http://a", 3, "cd" * 32)),
            Outcome("http://b", error="http://b: cannot reach the provider (refused)"),
        ],
        cursor={notes: 150, ("bucket", ""): 10},
    )
    publisher._record(report)
    assert publisher.live_at(*notes, 150) == {"http://a": True}
    assert publisher.live_at(*notes, 151) == {"http://a": False}
    assert publisher.view()["providers"]["http://b"]["ok"] is False
    assert "could not be reached" in publisher.view()["providers"]["http://b"]["error"]
