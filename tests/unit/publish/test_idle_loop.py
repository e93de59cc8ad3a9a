"""A home that cannot publish (no provider yet, auto-publish off, paused) must sleep between
looks even with changes waiting: a due time of 0 made the loop spin at 100 % CPU in every such
home after its first write (the whole test suite's homes ran at a core each)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from homeport.publish.auto import AutoPublisher
from homeport.services.context import Context
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.memory import MemoryRecordStore


def _looks_in(publisher: AutoPublisher, seconds: float) -> int:
    looks = 0
    tick = publisher._tick

    async def counted() -> None:
        nonlocal looks
        looks += 1
        await tick()

    publisher._tick = counted  # type: ignore[method-assign]

    async def run() -> None:
        task = asyncio.create_task(publisher.run())
        await asyncio.sleep(0.1)
        publisher.ctx.changes.notify(("record", "/buckets/site/collections/notes"))
        await asyncio.sleep(seconds)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    return looks


@pytest.mark.parametrize("why", ["no provider", "off", "paused"])
def test_a_home_that_cannot_publish_does_not_spin(tmp_path: Path, why: str) -> None:
    settings = Settings(data_dir=tmp_path, auto_publish=why != "off")
    ctx = Context(settings=settings, store=MemoryRecordStore(), blobs=FsBlobStore(tmp_path / "b"))
    publisher = AutoPublisher(ctx, poll=0.2)
    if why != "no provider":
        (tmp_path / "providers.json").write_text(
            '{"providers": [{"url": "http://127.0.0.1:9", "name": "alice"}]}'
        )
    if why == "paused":
        publisher.set_paused(True)
    looks = _looks_in(publisher, 1.0)
    assert 1 <= looks <= 10, f"{looks} looks in one second with nothing to publish"
