"""When the site's address changes (issue F.4): the first provider's address in the home's list
is the site's; a new first address while the old one is still served is a move, so the new
actor lists the old one in ``alsoKnownAs`` and the old actor names the new one in ``movedTo``
(``sync/addresses.py`` and the provider builds of ``render/variants.py``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from homeport.content import sites
from homeport.render.variants import build_for_providers
from homeport.services.context import Context
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.memory import MemoryRecordStore
from homeport.sync import addresses
from homeport.sync.providers import variant_name

A = {"url": "https://provider-a.test", "site": "https://ada.provider-a.test/"}
B = {"url": "https://provider-b.test", "site": "https://ada.provider-b.test/"}
OLD = "https://ada.provider-a.test/activitypub/actor"
NEW = "https://ada.provider-b.test/activitypub/actor"


def _actor(data: Path, provider: dict[str, str]) -> dict[str, Any]:
    path = data / "sites" / variant_name("ada", provider["url"]) / "activitypub" / "actor.as2"
    found: dict[str, Any] = json.loads(path.read_bytes())
    return found


def test_a_new_first_address_moves_the_actor_and_moving_back_forgets_it(tmp_path: Path) -> None:
    async def run() -> None:
        ctx = Context(Settings(data_dir=tmp_path), MemoryRecordStore(),
                      FsBlobStore(tmp_path / "blobs"))
        await sites.create_site(ctx, "ada", "Ada", "journal")
        await sites.add_entry(ctx, "ada", "note", {"text": "Hello"})

        await build_for_providers(ctx, [A])
        first = _actor(tmp_path, A)
        assert first["id"] == OLD and "movedTo" not in first and "alsoKnownAs" not in first

        # B added but A still first: two addresses, no move
        await build_for_providers(ctx, [A, B])
        assert "movedTo" not in _actor(tmp_path, A)
        assert "alsoKnownAs" not in _actor(tmp_path, B)

        # B first, A still served: the site moved from A to B
        await build_for_providers(ctx, [B, A])
        new, old = _actor(tmp_path, B), _actor(tmp_path, A)
        assert new["id"] == NEW and new["alsoKnownAs"] == [OLD] and "movedTo" not in new
        assert old["id"] == OLD and old["movedTo"] == NEW and "alsoKnownAs" not in old
        state = await addresses.read(ctx, "ada")
        assert state["address"] == B["site"]
        assert state["moves"] == {A["site"]: {"to": B["site"], "sent": None}}

        # another publish keeps the move
        await build_for_providers(ctx, [B, A])
        assert _actor(tmp_path, A)["movedTo"] == NEW

        # moving back to A: A is the site's actor again, and lists B as an earlier one
        await build_for_providers(ctx, [A, B])
        back, left = _actor(tmp_path, A), _actor(tmp_path, B)
        assert "movedTo" not in back and back["alsoKnownAs"] == [NEW]
        assert left["movedTo"] == OLD

    asyncio.run(run())


def test_an_old_address_no_longer_served_is_no_move() -> None:
    entry = addresses.step({}, [A["site"]])
    assert entry == {"address": A["site"], "moves": {}}
    # the old provider was removed in the same step: nobody is left to send a Move
    assert addresses.step(entry, [B["site"]])["moves"] == {}
    assert addresses.links(entry, A["site"]) == addresses.ActorLinks()


def test_the_owners_settings_and_the_history_are_merged() -> None:
    entry = {"address": B["site"], "moves": {A["site"]: {"to": B["site"], "sent": None}}}
    assert addresses.links(entry, B["site"]).also_known_as == (OLD,)
    assert addresses.links(entry, A["site"]).moved_to == NEW
    assert addresses.address_of("https://Ada.Provider-A.test") == A["site"]
