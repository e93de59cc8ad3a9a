"""The repository's SQLite schema: a schema-1 file (bytes in the object's row) is upgraded on
open without losing an object, and the bytes live apart from the row that names them."""

from __future__ import annotations

import sqlite3
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
    finally:
        repo.close()
    again = Repository(path, None)  # a second open finds schema 2 and changes nothing
    try:
        assert again.object_stats()[0] == 50
    finally:
        again.close()


def test_deleting_an_object_deletes_its_bytes(tmp_path: Path) -> None:
    repo = Repository(tmp_path / "repo.sqlite", None)
    try:
        with repo.transaction():
            assert repo.put(b"a" * 32, ObjectType.CHUNK, (), b"x" * 1000, 0, received=5)
            assert repo.put(b"b" * 32, ObjectType.CHUNK, (), b"y" * 10, 0, received=50)
            assert not repo.put(b"a" * 32, ObjectType.CHUNK, (), b"x" * 1000, 0)
        assert repo.stored_bytes() == 1010
        assert repo.drop_pending(received_before=10) == 1
        assert repo.stored_bytes() == 10
        assert repo.db.execute("SELECT count(*) FROM data").fetchone()[0] == 1
        repo.replace(b"b" * 32, b"z" * 20)
        assert repo.raw(b"b" * 32) == b"z" * 20
        assert repo.stored_bytes() == 20
        with pytest.raises(RepositoryError):
            repo.raw(b"a" * 32)
    finally:
        repo.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "repo.sqlite"
    Repository(path, None).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(SCHEMA_VERSION + 1),))
    db.commit()
    db.close()
    with pytest.raises(RepositoryError, match="newer Homeport"):
        Repository(path, None)
