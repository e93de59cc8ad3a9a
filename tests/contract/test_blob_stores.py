"""Every BlobStore backend against the shipped conformance suite, plus filesystem specifics."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from homeport.core.errors import RequestTooLarge
from homeport.store.blobs_fs import CHUNK, FsBlobStore
from homeport.store.protocols import BlobStore
from homeport.testing.conformance import BlobStoreConformance


class TestFsBlobStore(BlobStoreConformance):
    @pytest.fixture
    def blobs(self, tmp_path: Path) -> BlobStore:
        return FsBlobStore(tmp_path / "blobs")


def test_layout_is_sharded_by_digest_prefix(tmp_path: Path) -> None:
    store = FsBlobStore(tmp_path)
    digest = store.put_file(io.BytesIO(b"hello"))
    assert (tmp_path / digest[:2] / digest[2:]).read_bytes() == b"hello"
    assert store.path(digest) == str(tmp_path / digest[:2] / digest[2:])
    assert store.exists(digest.upper())


def test_put_stream_reads_in_bounded_chunks(tmp_path: Path) -> None:
    """The size limit stops reading at the first chunk past it: nothing is buffered whole."""
    pulled = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal pulled
        while True:
            pulled += 1
            yield b"x" * CHUNK

    with pytest.raises(RequestTooLarge):
        asyncio.run(FsBlobStore(tmp_path).put_stream(endless(), max_size=3 * CHUNK))
    assert pulled == 4
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_put_file_streams_large_files(tmp_path: Path) -> None:
    source = tmp_path / "src.bin"
    with source.open("wb") as f:
        for i in range(5):
            f.write(os.urandom(CHUNK) if i % 2 else b"\0" * CHUNK)
    store = FsBlobStore(tmp_path / "blobs")
    with source.open("rb") as f:
        digest = store.put_file(f)
    assert digest == hashlib.sha256(source.read_bytes()).hexdigest()
    assert store.size(digest) == 5 * CHUNK


def test_leftovers_of_killed_writes_are_swept_but_live_ones_stay(tmp_path: Path) -> None:
    store = FsBlobStore(tmp_path)
    digest = store.put_file(io.BytesIO(b"kept"))
    old = tmp_path / ".incoming-killed"
    old.write_bytes(b"half a blob")
    two_hours_ago = os.path.getmtime(old) - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    live = tmp_path / ".incoming-being-written"
    live.write_bytes(b"another process is writing this")

    assert store.sweep_incoming() == 1

    assert not old.exists() and live.exists()
    assert store.open(digest).read() == b"kept"
