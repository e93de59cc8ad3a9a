"""The home's grants as records: a token keeps only its hash; what expired or was revoked long
ago is forgotten, except a provider's token whose revocation must still reach that provider."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from homeport.crypto.delegations import token_hash
from homeport.services import grants
from homeport.services.context import Context
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.memory import MemoryRecordStore

DAY = 86_400_000


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000_000

    def __call__(self) -> int:
        return self.now


def test_tokens_and_their_pruning(tmp_path: Path) -> None:
    clock = Clock()
    ctx = Context(Settings(data_dir=tmp_path), MemoryRecordStore(clock=clock),
                  FsBlobStore(tmp_path / "blobs"), clock=clock)

    async def scenario() -> list[str]:
        secret, kept = await grants.create_token(ctx, "create media", expires_in=None)
        assert kept["params"]["hash"] == token_hash(secret)
        assert secret not in str(kept)
        await grants.create_token(ctx, "create", expires_in=DAY)
        _, revoked = await grants.create_token(ctx, "create")
        await grants.revoke(ctx, revoked["id"])
        await grants.learn(ctx, "https://prov.example", [
            {"id": "ia-provider-token", "scope": ["create"], "issued": clock.now,
             "expires": clock.now + 60 * DAY, "revoked": clock.now}])
        clock.now += 32 * DAY
        assert await grants.prune(ctx) == 2  # the expired one, the home's revoked one
        return sorted(r["id"] for r in await grants.list_grants(ctx))

    left = asyncio.run(scenario())
    assert len(left) == 2 and "ia-provider-token" in left


@pytest.mark.parametrize("text", ["", "30", "1y", "0d", "99999w"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(grants.GrantError):
        grants.duration_ms(text)


def test_durations() -> None:
    assert grants.duration_ms("30d") == 30 * DAY
    assert grants.duration_ms("12h") == 12 * 3_600_000
