import asyncio
from pathlib import Path

from homeport.services.context import Context
from homeport.services.maintenance import compact_tombstones
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.memory import MemoryRecordStore

DAY_MS = 24 * 3600 * 1000


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def test_tombstones_older_than_the_retention_are_compacted(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, list[str]]:
        clock = Clock(1_700_000_000_000)
        store = MemoryRecordStore(clock=clock)
        settings = Settings(data_dir=tmp_path, tombstone_retention_seconds=86400)
        ctx = Context(settings, store, FsBlobStore(tmp_path / "blobs"), clock=clock)
        parent = "/buckets/b/collections/c"
        for rid in ("old", "recent", "alive"):
            await store.create("record", parent, {"id": rid})
        await store.delete("record", parent, "old")
        clock.now += 2 * DAY_MS
        await store.delete("record", parent, "recent")
        purged = await compact_tombstones(ctx)
        left = await store.list_all("record", parent, include_deleted=True)
        return purged, sorted(o["id"] for o in left)

    assert asyncio.run(scenario()) == (1, ["alive", "recent"])
