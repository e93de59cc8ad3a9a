"""An inbox item kind for tests, ``test.note``, and a way to run ``homeport serve`` knowing it.

The handler is written as protocols' handlers must be: the record it makes has an id derived
from the item's id and is created only if absent, so applying an item twice (a redelivery, a
kill -9 between the write and the relay's log) leaves one record. Each call is also appended to
``test-note-calls.log`` in the data dir, so a test can see that an item *was* applied twice
and still made one record. ``meta["sleep_ms"]`` holds the handler after its write, widening
that window for a test that kills the home mid-apply.

``python -m homeport.testing.inbox serve --data …`` is ``homeport serve`` with the kind known.
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

import anyio.from_thread

from homeport import jsonio
from homeport.core.errors import HomeportError
from homeport.interop import registry
from homeport.interop.ports import InboxItem

KIND = "test.note"
BUCKET = "inboxtest"
COLLECTION = "notes"
PARENT = f"/buckets/{BUCKET}/collections/{COLLECTION}"
CALLS = "test-note-calls.log"


def record_id(item_id: str) -> str:
    return hashlib.sha256(item_id.encode()).hexdigest()[:32]


async def _create(ctx: Any, rid: str, data: dict[str, Any]) -> bool:
    store = ctx.store
    found = await store.get_many(
        [("bucket", "", BUCKET), ("collection", f"/buckets/{BUCKET}", COLLECTION)]
    )
    if found[0] is None:
        await store.update("bucket", "", BUCKET, {"id": BUCKET})
    if found[1] is None:
        await store.update("collection", f"/buckets/{BUCKET}", COLLECTION, {"id": COLLECTION})
    if (await store.get_many([("record", PARENT, rid)]))[0] is not None:
        return False
    await store.create("record", PARENT, {"id": rid, **data})
    return True


def note(ctx: Any, item: InboxItem) -> dict[str, Any]:
    with open(os.path.join(ctx.settings.data_dir, CALLS), "a") as calls:
        calls.write(item.id + "\n")
    doc = jsonio.loads(item.body or b"{}")
    if doc.get("reject"):
        raise HomeportError("this note is refused", code=400)
    rid = record_id(item.id)
    created = anyio.from_thread.run(
        _create, ctx, rid, {"title": doc.get("title", ""), "item": item.id}
    )
    sleep = item.meta.get("sleep_ms")
    if isinstance(sleep, int) and 0 < sleep <= 5000:
        time.sleep(sleep / 1000)
    return {"record": rid, "created": created}


def install() -> None:
    registry.EXTRA_HANDLERS[KIND] = note


if __name__ == "__main__":
    install()
    from homeport.cli.main import main

    main()
