"""Damaged copies found and mended, through the real CLI and a real provider over HTTP, with
the provider's index on SQLite and on PostgreSQL.

At the provider: a pack removed, a pack cut short, a byte of a sealed object flipped and an
index row moved, all at once and with no audit run: the next ``homeport publish`` finds each
(the provider's pack census in ``GET /tenant``, the home's spot check of a slice of the copy)
and sends good copies, after which ``homeport verify --provider`` reads the whole copy clean.

At home: a flipped byte in a chunk is named by ``homeport verify`` and mended by the next
publish from the provider's copy; a pack cut short is mended by ``homeport repair``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from homeport.core.objects import read_header

from .provider_support import Provider, add_papers
from .repo_support import cli, init, ok

Query = Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def provider(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Provider, Query]]:
    """A provider and a way to run SQL on the tenant ``alice``'s index there."""
    env: dict[str, str] = {}
    if request.param == "postgresql":
        env["HOMEPORT_PROVIDER_DATABASE"] = request.getfixturevalue("fresh_postgres_url")
    started = Provider(tmp_path / "provider", tmp_path / "provider.log", env=env).start()

    def query(sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if not env:
            db = sqlite3.connect(started.data / "tenants" / "alice" / "repo.sqlite")
            try:
                rows = db.execute(sql, args).fetchall()
                db.commit()
                return rows
            finally:
                db.close()
        import psycopg

        with psycopg.connect(env["HOMEPORT_PROVIDER_DATABASE"]) as conn:
            conn.execute("SET search_path TO tenant_alice")
            cur = conn.execute(sql.replace("?", "%s"), args)
            return cur.fetchall() if cur.description else []

    try:
        yield started, query
    finally:
        started.stop()
    assert "Traceback" not in started.output()


def home_query(home: Path, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(home / "repo.sqlite")
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def flip(path: Path, at: int) -> None:
    with path.open("r+b") as f:
        f.seek(at)
        byte = f.read(1)
        f.seek(at)
        f.write(bytes([byte[0] ^ 0xFF]))


def publish(home: Path) -> dict[str, Any]:
    (row,) = json.loads(ok("publish", "--json", data=home))
    assert row["ok"], row
    return dict(row)


@pytest.mark.timeout(600)  # a provider, a home, eight publishes: 107-242 s at load 15-27
def test_damage_at_the_provider_and_at_home_is_found_and_mended(
    tmp_path: Path, provider: tuple[Provider, Query]
) -> None:
    served, query = provider
    home = tmp_path / "home"
    init(home)
    # a slice read back at every publish, not once an hour: the flips below are found at once
    (home / "homeport.toml").write_text("spot_check_interval_seconds = 0\n")
    ok("add", "note", "A note only I can see", "--private", data=home)
    add_papers(home, tmp_path, 1, 40_000, "First")
    ok("providers", "add", served.url, served.invite(), "--name", "alice", data=home)
    publish(home)
    for n in range(2):  # each publish is a pack there
        add_papers(home, tmp_path, 1, 40_000, f"Later {n}")
        publish(home)
    # the audit reads every pack, so the provider holds them open: a removed one still reads
    # back through its handle, and only the census's listing sees it gone
    assert cli("verify", "--provider", served.url, data=home).code == 0
    packs = served.data / "tenants" / "alice" / "packs"
    rows = query(
        "SELECT p.name, o.id, o.pos, o.size FROM objects o JOIN packs p ON p.n = o.pack"
        " ORDER BY p.n, o.pos",
        (),
    )
    names = list(dict.fromkeys(r[0] for r in rows))
    assert len(names) >= 3
    first, removed, cut = names[0], names[1], names[2]

    # a sealed object's byte flipped, another row moved onto a neighbour's bytes
    in_first = [r for r in rows if r[0] == first]
    sealed = next(
        r for r in in_first if read_header((packs / first).read_bytes()[r[2] : r[2] + r[3]]).sealed
    )
    flip(packs / first, sealed[2] + sealed[3] - 1)
    moved = next(r for r in in_first if r[1] != sealed[1])
    other = next(r for r in in_first if r[1] not in (sealed[1], moved[1]))
    query("UPDATE objects SET pos = ?, size = ? WHERE id = ?", (other[2], other[3], moved[1]))
    # a pack removed, another cut short
    (packs / removed).unlink()
    with (packs / cut).open("r+b") as f:
        f.truncate((packs / cut).stat().st_size // 2)
    left = (packs / cut).stat().st_size
    lost = {bytes(r[1]) for r in rows if r[0] == removed or (r[0] == cut and r[2] + r[3] > left)}

    # the next publish, with nothing new to send, finds every one and sends them again
    mended = publish(home)
    assert mended["repaired"] >= len(lost) + 2, mended
    audited = cli("verify", "--provider", served.url, "--json", data=home)
    assert audited.code == 0, audited.err
    assert publish(home)["repaired"] == 0  # nothing left to mend

    # at home: a flipped byte in a chunk is named by verify and mended by the next publish
    chunk_id, pack, pos, size = home_query(
        home,
        "SELECT o.id, p.name, o.pos, o.size FROM objects o JOIN packs p ON p.n = o.pack"
        " WHERE o.type = 1 ORDER BY o.size DESC LIMIT 1",
    )[0]
    flip(home / "packs" / pack, pos + size - 1)
    named = cli("verify", data=home)
    assert named.code == 1 and bytes(chunk_id).hex()[:16] in named.err
    assert (home / "repair.json").exists()
    publish(home)
    assert not (home / "repair.json").exists()
    assert "repository ok" in ok("verify", data=home)

    # a home pack cut short: 'homeport repair' fetches its objects back
    pack, size = home_query(home, "SELECT name, size FROM packs ORDER BY size DESC LIMIT 1")[0]
    with (home / "packs" / pack).open("r+b") as f:
        f.truncate(size // 3)
    assert cli("verify", data=home).code == 1
    repaired = json.loads(ok("repair", "--json", data=home))
    assert repaired["ok"] and repaired["damaged"] > 0
    assert repaired["mended"] == {served.url: repaired["damaged"]}
    assert "repository ok" in ok("verify", data=home)
