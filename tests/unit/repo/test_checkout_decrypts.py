"""A restore (import, then checkout) opens each private chunk once: the import checks a sealed
chunk by opening it while it puts the attachment it belongs to into the blob store, and the
checkout then finds the attachment there (``checkout.restore_files``). Counted by wrapping
the one place a sealed payload is opened; a chunk that does not check stops the import, which
leaves no commit."""

from __future__ import annotations

import asyncio
import hashlib
import os
import struct
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from homeport.core.objects import Flags, ObjectType, read_header
from homeport.repo import codec
from homeport.repo.bundle import MAGIC, TRAILER, BundleError, frame, read_frames
from homeport.repo.repository import Repository
from homeport.services import identity as ids
from homeport.services import repository as repo_service
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.memory import MemoryRecordStore

from .support import RepoHome

PARENT = "/buckets/diary/collections/photos"


@pytest.fixture
def source(tmp_path: Path) -> tuple[RepoHome, str, Path]:
    """A home whose private records carry attachments of several chunks, exported whole; and
    its recovery phrase."""
    data = tmp_path / "a"
    data.mkdir()
    _, phrase = ids.create(data)
    store = MemoryRecordStore()
    asyncio.run(store.initialize())
    keys = repo_service.repo_keys(data)
    home = RepoHome(data, store, FsBlobStore(data / "blobs"), Repository.open(data, keys),
                    repo_service.signer(data), keys, ids.document(ids.load(data)))
    home.put("bucket", "", {"id": "diary"})
    home.put("collection", "/buckets/diary", {"id": "photos"})
    home.attach(PARENT, "p0", os.urandom(200_000), title="replaced below")
    assert home.snapshot().commit is not None  # its chunks only an older commit reaches
    shared = os.urandom(300_000)
    for i in range(3):
        home.attach(PARENT, f"p{i}", os.urandom(400_000), title=f"photo {i}")
    home.attach(PARENT, "twice-a", shared)
    home.attach(PARENT, "twice-b", shared)  # one blob, two records
    assert home.snapshot().commit is not None
    path = tmp_path / "home.bundle"
    path.write_bytes(home.export())
    return home, phrase, path


def sealed_chunks(home: RepoHome) -> set[bytes]:
    rows = home.repo.db.execute("SELECT id FROM objects WHERE type = ?", (int(ObjectType.CHUNK),))
    found = {bytes(r[0]) for r in rows.fetchall()}
    return {o for o in found if read_header(home.repo.raw(o)).flags & Flags.SEALED}


def counting(monkeypatch: pytest.MonkeyPatch) -> Counter[bytes]:
    opened: Counter[bytes] = Counter()
    real = codec.open_sealed

    def counted(key: bytes, sealed: Any, associated: bytes) -> bytes:
        opened[bytes(associated[:32])] += 1
        return real(key, sealed, associated)

    monkeypatch.setattr(codec, "open_sealed", counted)
    return opened


def restore(tmp_path: Path, bundle: Path, phrase: str) -> tuple[Any, FsBlobStore]:
    target = tmp_path / "b"
    blobs = FsBlobStore(target / "blobs")
    store = MemoryRecordStore()
    asyncio.run(store.initialize())
    outcome = asyncio.run(
        repo_service.import_bundle(Settings(data_dir=target), bundle, phrase, store, blobs)
    )
    return outcome, blobs


def test_a_restore_opens_each_private_chunk_once(
    source: tuple[RepoHome, str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, phrase, bundle = source
    chunks = sealed_chunks(home)
    assert len(chunks) >= 8
    opened = counting(monkeypatch)

    outcome, blobs = restore(tmp_path, bundle, phrase)

    assert outcome.checkout is not None and outcome.checkout.written >= 7
    assert {oid: opened[oid] for oid in chunks} == dict.fromkeys(chunks, 1)
    for rid in ("p0", "p1", "p2", "twice-a"):
        record = asyncio.run(home.store.get("record", PARENT, rid))
        with blobs.open(record["attachment"]["hash"]) as f, home.blobs.open(
            record["attachment"]["hash"]
        ) as g:
            assert f.read() == g.read()


def test_a_damaged_private_chunk_stops_the_restore_and_nothing_is_committed(
    source: tuple[RepoHome, str, Path], tmp_path: Path
) -> None:
    home, phrase, bundle = source
    victim = sorted(sealed_chunks(home))[0]
    bad = tmp_path / "bad.bundle"
    bad.write_bytes(forged(bundle.read_bytes(), victim))
    with pytest.raises(BundleError, match=victim.hex()[:16]):
        restore(tmp_path, bad, phrase)

    assert not (tmp_path / "b" / "repo.sqlite").exists()
    assert not ids.exists(tmp_path / "b")



def forged(bundle: bytes, victim: bytes) -> bytes:
    """``bundle`` with one byte of ``victim``'s sealed payload changed, and its frame's CRC and
    the bundle's checksum made to match, as a forger would."""
    (length,) = struct.unpack(">I", bundle[len(MAGIC) : len(MAGIC) + 4])
    start = len(MAGIC) + 4 + length
    out = bytearray(bundle[:start])
    for oid, stored in read_frames(bundle[start : -(1 + TRAILER.size)]):
        if oid == victim:
            stored = stored[:-20] + bytes([stored[-20] ^ 0xFF]) + stored[-19:]
        out += frame(oid, stored)
    count = TRAILER.unpack(bundle[-TRAILER.size :])[0]
    return bytes(out) + b"E" + TRAILER.pack(count, hashlib.sha256(out).digest())


def test_a_restore_hashes_each_object_once(
    source: tuple[RepoHome, str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The import checks every object's id; the checkout that follows trusts it (entries,
    nodes, files and commits are not opened and hashed again, chunks were opened once)."""
    home, phrase, bundle = source
    hashed = 0
    real = codec.object_id

    def counted(*args: Any) -> bytes:
        nonlocal hashed
        hashed += 1
        return real(*args)

    monkeypatch.setattr(codec, "object_id", counted)

    outcome, _ = restore(tmp_path, bundle, phrase)

    assert outcome.checkout is not None and outcome.checkout.written >= 7
    assert hashed == outcome.result.objects == home.object_count()
