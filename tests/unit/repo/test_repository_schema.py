"""The repository's SQLite schema: a schema-1 file (bytes in the object's row) and a schema-2 one
(bytes in a ``data`` table) are upgraded on open to packs without losing an object, and a kill
during the upgrade leaves a repository that opens and finishes it."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from homeport.core.objects import ObjectType
from homeport.repo.repository import SCHEMA_VERSION, Repository, RepositoryError

SCHEMA_1 = """
CREATE TABLE objects (
    n INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE, seq INTEGER NOT NULL,
    type INTEGER NOT NULL, links BLOB NOT NULL, data BLOB NOT NULL
);
CREATE INDEX objects_seq ON objects (seq, id);
CREATE TABLE commits (seq INTEGER PRIMARY KEY, id BLOB NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
INSERT INTO meta VALUES ('schema', '1');
"""


def schema_1_file(path: Path, objects: list[tuple[bytes, int, bytes]]) -> None:
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_1)
    db.executemany(
        "INSERT INTO objects (id, seq, type, links, data) VALUES (?, ?, ?, ?, ?)",
        [(oid, seq, int(ObjectType.CHUNK), b"", data) for oid, seq, data in objects],
    )
    db.commit()
    db.close()


def test_a_schema_1_repository_is_upgraded_with_every_object(tmp_path: Path) -> None:
    path = tmp_path / "repo.sqlite"
    objects = [(bytes([i]) * 32, 1 + i % 2, bytes([i]) * (100 + i)) for i in range(50)]
    schema_1_file(path, objects)

    repo = Repository(path, None)
    try:
        assert repo.meta("schema") == str(SCHEMA_VERSION)
        for oid, _, data in objects:
            assert repo.raw(oid) == data
            assert repo.stored_size(oid) == len(data)
        assert repo.object_stats() == (50, sum(len(d) for _, _, d in objects))
        assert [oid for oid, _ in repo.iter_objects(1)] == sorted(
            oid for oid, seq, _ in objects if seq == 2
        )
        columns = [r[1] for r in repo.db.execute("PRAGMA table_info(objects)")]
        assert "data" not in columns
        tables = {r[0] for r in repo.db.execute("SELECT name FROM sqlite_master")}
        assert "data" not in tables
        packed = sum(p.stat().st_size for p in (tmp_path / "packs").iterdir())
        assert packed == sum(len(d) for _, _, d in objects)
    finally:
        repo.close()
    again = Repository(path, None)  # a second open finds schema 3 and changes nothing
    try:
        assert again.object_stats()[0] == 50
    finally:
        again.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "repo.sqlite"
    Repository(path, None).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(SCHEMA_VERSION + 1),))
    db.commit()
    db.close()
    with pytest.raises(RepositoryError, match="newer Homeport"):
        Repository(path, None)


SCHEMA_2 = """
CREATE TABLE objects (
    n INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE, seq INTEGER NOT NULL,
    type INTEGER NOT NULL, links BLOB NOT NULL, size INTEGER NOT NULL,
    received INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX objects_seq ON objects (seq, id);
CREATE TABLE data (n INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TRIGGER objects_gone AFTER DELETE ON objects BEGIN DELETE FROM data WHERE n = OLD.n; END;
CREATE TABLE commits (seq INTEGER PRIMARY KEY, id BLOB NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
INSERT INTO meta VALUES ('schema', '2');
"""
UPGRADE = """
import sys
from pathlib import Path
from homeport.repo import packs
from homeport.repo.repository import Repository
packs.PACK_BYTES = 8192
Repository(Path(sys.argv[1]), None).close()
"""


def test_a_kill_during_the_upgrade_to_packs_leaves_a_repository_that_finishes_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "repo.sqlite"
    objects = [(i.to_bytes(32, "big"), 1, os.urandom(2000)) for i in range(2000)]
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_2)
    for n, (oid, seq, data) in enumerate(objects, 1):
        db.execute(
            "INSERT INTO objects VALUES (?, ?, ?, ?, ?, ?, 0)",
            (n, oid, seq, int(ObjectType.CHUNK), b"", len(data)),
        )
        db.execute("INSERT INTO data VALUES (?, ?)", (n, data))
    db.commit()
    db.close()
    upgrade = subprocess.Popen([sys.executable, "-c", UPGRADE, str(path)])
    packs_dir = tmp_path / "packs"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and upgrade.poll() is None:
            if packs_dir.is_dir() and len(os.listdir(packs_dir)) >= 20:
                break
            time.sleep(0.005)
        assert upgrade.poll() is None, "the upgrade ended before it could be killed"
        upgrade.send_signal(signal.SIGKILL)
    finally:
        upgrade.kill()
        upgrade.wait(10)
    check = sqlite3.connect(path)
    assert check.execute("SELECT value FROM meta").fetchone()[0] == "2"  # half-way
    moved = check.execute("SELECT count(*) FROM objects WHERE pack IS NOT NULL").fetchone()[0]
    assert 0 < moved < len(objects)
    check.close()

    repo = Repository.open(tmp_path, None)
    try:
        assert repo.meta("schema") == str(SCHEMA_VERSION)
        assert [repo.raw(oid) for oid, _, _ in objects] == [d for _, _, d in objects]
        named = {u.name for u in repo.pack_usage()}
        assert {p.name for p in packs_dir.iterdir()} == named  # no pack left unnamed
    finally:
        repo.close()
