"""A bearer token made the way ``homeport tokens create`` makes it, for tests and benchmarks
that need one from Python: a grant record in the home's store (so every later push of the
home's grants — a publish, the relay connecting — keeps it) handed at once to the providers
named (``docs/format.md``, ``docs/protocol.md``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path

from homeport.services import grants
from homeport.services.context import Context
from homeport.settings import load_settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.open import open_record_store
from homeport.sync import grants as grant_sync


def give_token(data: Path, providers: Sequence[str], scope: Sequence[str],
               expires: int | None = None) -> str:
    """A new token with ``scope`` for the home in ``data`` (its own store, as the CLI opens
    it), usable at every one of ``providers`` (enrolled URLs) once this returns; ``expires``
    in milliseconds since the epoch."""
    settings = load_settings(data)
    found: list[str] = []
    failed: list[BaseException] = []

    async def work() -> None:
        store = open_record_store(settings.record_store_url)
        await store.initialize()
        try:
            ctx = Context(settings=settings, store=store, blobs=FsBlobStore(settings.blobs_dir))
            lifetime = None if expires is None else max(1000, expires - ctx.clock())
            secret, _ = await grants.create_token(ctx, " ".join(scope), expires_in=lifetime)
            for url in providers:
                for pushed in await grant_sync.sync(ctx, only=url):
                    if pushed.error:
                        raise RuntimeError(f"delegations at {url}: {pushed.error}")
            found.append(secret)
        finally:
            await store.close()

    def run() -> None:  # a loop of its own, whatever thread or loop the caller is on
        try:
            asyncio.run(work())
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=run, name="give-token")
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return found[0]
