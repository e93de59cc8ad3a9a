"""The home's answers for the ``@user@host`` handles typed in its entries: one private record
of the system bucket (``homeport`` / ``activitypub-handles`` / ``resolved``), so a build reads
them from the store and looks nothing up itself (``render/handles.py``), and the look-ups
(``interop/activitypub/mentions.py``) are not repeated at every publish.

The record maps each handle (``user@host``, lowercase) to ``{"actor", "url", "checked"}`` when
it was found, or ``{"error", "checked"}`` when it was not (``checked``: milliseconds since the
epoch); only handles some public entry still names are kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeport.services import writes
from homeport.services.context import OWNER, Context
from homeport.services.grants import SYSTEM_BUCKET, ensure_private
from homeport.services.resources import RECORD, find_object, unit_of_work

COLLECTION_NAME = "activitypub-handles"
RECORD_ID = "resolved"
PARENT = f"/buckets/{SYSTEM_BUCKET}/collections/{COLLECTION_NAME}"


async def read(ctx: Context) -> dict[str, Any]:
    """``{handle: answer}`` ({} before the first look-up)."""
    found = await find_object(ctx, RECORD, PARENT, RECORD_ID)
    handles = found.get("handles") if found is not None else None
    return dict(handles) if isinstance(handles, dict) else {}


async def write(ctx: Context, handles: Mapping[str, Any]) -> None:
    async with unit_of_work(ctx):
        await ensure_private(ctx, COLLECTION_NAME)
        existing = await find_object(ctx, RECORD, PARENT, RECORD_ID)
        await writes.save(ctx, OWNER, RECORD, PARENT, RECORD_ID, {"handles": dict(handles)},
                          None, existing=existing, replace_permissions=False)


__all__ = ["read", "write"]
