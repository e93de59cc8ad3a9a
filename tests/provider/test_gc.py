"""Garbage collection at the provider (``provider/gc.py``), on SQLite and PostgreSQL: uploads no
publish adopted within the grace go and stop counting against the quota, fresh ones stay, the
published history stays whole (the home publishes on top after re-sending what went), and
``provider serve``'s schedule does it on its own."""

from __future__ import annotations

import asyncio
import json
import secrets
import time

import httpx

from homeport.core.commits import Commit
from homeport.provider import domains
from homeport.provider.api.context import Provider
from homeport.provider.app import create_provider_app
from homeport.provider.gc import collect_all, collect_tenant
from homeport.provider.receive import PENDING_MS, now_ms
from homeport.repo import walk
from homeport.settings import load_settings

from .conftest import Home, LiveApp, World

LATER = PENDING_MS + 60_000


def _later(world: World) -> Provider:
    """The provider as it will be once today's uploads are past the grace."""
    return Provider(world.settings, world.db, clock=lambda: now_ms() + LATER)


def _held(world: World, oids: list[bytes]) -> set[bytes]:
    with world.tenant_dir("alice").opened() as repo:
        return {o for o in oids if repo.has(o)}


def _upload_unpublished(world: World, alice: Home) -> tuple[list[bytes], Commit]:
    alice.put_record("notes", "n1", public=False, text=secrets.token_hex(4000))
    commit = alice.snapshot()
    uploaded = alice.push(world.client, commit)
    assert uploaded
    return uploaded, commit


def test_uploads_no_publish_adopted_go_after_the_grace(world: World, alice: Home) -> None:
    uploaded, commit = _upload_unpublished(world, alice)
    tenant = world.db.tenant("alice")
    assert tenant is not None
    first = alice.repo.commit_at(1)
    assert first is not None
    published = list(walk.reachable(alice.repo, first.id))

    # within the grace: nothing goes
    now = Provider(world.settings, world.db)
    fresh = asyncio.run(collect_tenant(now, tenant))
    assert fresh.pending.count == 0 and fresh.unreachable.count == 0
    assert _held(world, uploaded) == set(uploaded)

    dry = asyncio.run(collect_tenant(_later(world), tenant, dry_run=True))
    assert dry.pending.count == len(uploaded) and dry.pending.bytes > 0
    assert _held(world, uploaded) == set(uploaded)

    usage_before = tenant.usage
    done = asyncio.run(collect_tenant(_later(world), tenant))
    assert (done.pending.count, done.pending.bytes) == (dry.pending.count, dry.pending.bytes)
    assert done.unreachable.count == 0  # the published history is whole
    assert _held(world, uploaded) == set()
    assert _held(world, published) == set(published)
    after = world.db.tenant("alice")
    assert after is not None and after.usage <= usage_before - done.pending.bytes

    # the home publishes anyway: told what is missing, it sends it again
    answer = alice.request(world.client, "POST", "/publish", alice.publish_doc(commit))
    assert answer.status_code == 409 and answer.json()["error"] == "missing-objects"
    assert alice.publish(world.client, commit).status_code == 200
    again = asyncio.run(collect_all(_later(world)))
    assert again.failed == {} and again.tenants["alice"].unreachable.count == 0
    assert again.tenants["alice"].pending.count == 0


def test_provider_serve_collects_on_its_schedule(world: World, alice: Home) -> None:
    uploaded, _ = _upload_unpublished(world, alice)
    settings = load_settings(
        world.settings.data_dir,
        base_domain=world.settings.base_domain,
        provider_database=world.settings.provider_database,
        gc_interval_seconds=1,
    )
    app = create_provider_app(
        settings,
        db=world.db,
        verifiers=domains.Verifiers(txt=world.verifiers.lookup, fetch=world.verifiers.fetch),
        clock=lambda: now_ms() + LATER,
    )
    with LiveApp(app), httpx.Client():
        deadline = time.monotonic() + 30
        while _held(world, uploaded) and time.monotonic() < deadline:
            time.sleep(0.2)
    assert _held(world, uploaded) == set()


def test_the_operator_collects_with_the_cli(world: World, alice: Home) -> None:
    from typer.testing import CliRunner

    from homeport.cli.main import app

    _upload_unpublished(world, alice)
    runner = CliRunner()
    dry = runner.invoke(app, ["provider", "gc", "--dry-run", "--json", *world.cli_args])
    assert dry.exit_code == 0, dry.output
    doc = json.loads(dry.output)
    assert doc["dry_run"] is True and doc["failed"] == {}
    # within the grace: the fresh uploads stay, the history is kept
    assert doc["tenants"]["alice"]["pending"]["count"] == 0
    assert doc["tenants"]["alice"]["kept"]["count"] > 0
    done = runner.invoke(app, ["provider", "gc", *world.cli_args])
    assert done.exit_code == 0, done.output
    assert "alice: 0 stale uploads (0 B) and 0 unreachable objects (0 B) went" in done.output
