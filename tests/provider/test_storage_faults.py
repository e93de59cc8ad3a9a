"""Storage faults on the provider's own routes outside the sync protocol (the live web's
endpoints, the operator's page) get the protocol's one mapping (``api/http.py``): a full
database is a 507 that says so, never a 500."""

from __future__ import annotations

import pytest

from tests.provider.conftest import BASE, Home, World


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_full_database_under_a_webmention_is_507_not_500(world: World, alice: Home) -> None:
    """SQLite's "database or disk is full", made real by capping the file's pages where it
    stands: the webmention endpoint's write raised it straight through to a 500."""
    raw = world.db._sqlite
    assert raw is not None
    pages = raw.execute("PRAGMA page_count").fetchone()[0]
    raw.execute(f"PRAGMA max_page_count = {pages}")
    for n in range(300):  # the free pages it had fill first
        form = {"source": f"https://elsewhere.example/{n}/{'x' * 1500}",
                "target": f"https://alice.{BASE}/"}
        answer = world.client.post(
            "/_homeport/webmention", data=form, headers={"Host": f"alice.{BASE}"}
        )
        if answer.status_code != 202:
            break

    assert answer.status_code == 507, answer.text
    assert answer.json()["error"] == "provider-full"
