"""Mirrors (``provider/mirror.py``, ``sync/mirror.py``), on SQLite and PostgreSQL: a tenant
opts in with a signed request, a home holding the operator's token keeps a checked bundle of
every tenant that did (and of no other), fetches again only what moved, and the tenant's
owner restores the whole home from that copy with the phrase."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from homeport.services import repository as repo_service
from homeport.settings import load_settings
from homeport.sync import mirror

from .conftest import API, SITE_V1, Home, World


def test_a_mirror_keeps_the_tenants_that_opted_in_and_they_restore_from_it(
    world: World, alice: Home, tmp_path: Path
) -> None:
    bob = world.enrolled("bob")
    bob.write_site(SITE_V1)
    assert bob.publish(world.client, bob.snapshot()).status_code == 200
    assert alice.request(world.client, "POST", "/mirror", {"mirror": True}).status_code == 200
    assert alice.request(world.client, "POST", "/mirror", {"mirror": "yes"}).status_code == 400
    token = "hpm_test-token"
    world.db.add_mirror_token(token, "a friend's home", 0)
    base = str(world.client.base_url)

    # without the operator's token, or for a tenant that did not opt in: nothing
    assert world.client.get(f"{API}/mirror/tenants").status_code == 401
    wrong = {"Authorization": "Bearer hpm_guessed"}
    assert world.client.get(f"{API}/mirror/tenants", headers=wrong).status_code == 401
    mine = {"Authorization": f"Bearer {token}"}
    assert world.client.get(f"{API}/mirror/tenants/bob/bundle", headers=mine).status_code == 404
    assert world.client.get(f"{API}/mirror/tenants/nobody/bundle", headers=mine).status_code == 404

    into = tmp_path / "mirror"
    first = mirror.run(base, token, into, http=lambda: httpx.Client(timeout=30))
    assert [(m.name, m.fetched, m.error) for m in first] == [("alice", True, None)]
    assert sorted(p.name for p in into.iterdir() if not p.name.startswith(".")) == [
        "alice.bundle",
        "mirror.json",
    ]
    again = mirror.run(base, token, into, http=lambda: httpx.Client(timeout=30))
    assert [(m.name, m.fetched) for m in again] == [("alice", False)]  # nothing moved

    alice.put_record("blog", "second", True, title="After the first mirror")
    assert alice.publish(world.client, alice.snapshot()).status_code == 200
    third = mirror.run(base, token, into, http=lambda: httpx.Client(timeout=30))
    assert [(m.name, m.fetched, m.seq) for m in third] == [("alice", True, 2)]

    # restorable: the phrase alone brings the whole home back from the mirror's copy
    restored = load_settings(tmp_path / "restored", storage_url="memory://")
    outcome = asyncio.run(
        repo_service.import_bundle(restored, into / "alice.bundle", alice.phrase)
    )
    assert outcome.did == alice.did and [c.seq for c in outcome.result.new_commits] == [1, 2]
    assert outcome.result.new_commits[-1].id == alice.repo.head().id

    # opting out stops it: the next run lists nobody, and the copy kept stays
    assert alice.request(world.client, "POST", "/mirror", {"mirror": False}).status_code == 200
    assert mirror.run(base, token, into, http=lambda: httpx.Client(timeout=30)) == []
    assert (into / "alice.bundle").exists()
