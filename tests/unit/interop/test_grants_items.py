"""A token a provider issued, reported through the inbox: recorded once at the home, however
often the item is delivered, and listed with the provider that issued it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from homeport.interop.grants import TOKEN_ISSUED, home_handlers
from homeport.interop.ports import InboxItem
from homeport.services import grants
from homeport.services.context import Context
from homeport.settings import load_settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.memory import MemoryRecordStore


def test_token_issued_is_recorded_once(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    (tmp_path / "providers.json").write_text(
        json.dumps({"providers": [{"url": "https://prov.example", "tenant": "alice"}]})
    )
    ctx = Context(settings, MemoryRecordStore(), FsBlobStore(tmp_path / "blobs"))
    meta = {"id": "ia-0123456789abcdef", "scope": ["create"], "client_id": "https://app.example/",
            "me": "https://alice.prov.example/", "issued": 1, "expires": 2**40,
            "provider": "https://prov.example:443"}
    item = InboxItem(f"{TOKEN_ISSUED}-x", TOKEN_ISSUED, meta, b"", 1)
    handler = home_handlers()[TOKEN_ISSUED]
    assert handler(ctx, item) == {"recorded": 1}
    assert handler(ctx, item) == {"recorded": 0}  # a redelivery changes nothing
    rows = asyncio.run(grants.list_grants(ctx))
    assert len(rows) == 1
    view = grants.public_view(rows[0], 3)
    assert view["source"] == "https://prov.example" and view["state"] == "active"
    assert view["scope"] == "create" and view["client_id"] == "https://app.example/"
