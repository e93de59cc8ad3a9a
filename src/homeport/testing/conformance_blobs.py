"""The BlobStore contract as a conformance suite; subclass and provide a ``blobs`` fixture.

::

    class TestFsBlobStore(BlobStoreConformance):
        @pytest.fixture
        def blobs(self, tmp_path):
            return FsBlobStore(tmp_path / "blobs")
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from homeport.core.errors import RequestTooLarge
from homeport.store.protocols import BlobStore
from homeport.testing.conformance_runner import conformance_test, new_loop

__all__ = ["BlobStoreConformance"]

BIG = bytes(range(256)) * 12_289  # a little over 3 MiB: several 1 MiB chunks


async def _chunks(data: bytes, size: int = 65_536) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]
        await asyncio.sleep(0)


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


class BlobStoreConformance:
    """Content addressing, atomic streaming puts, size limits and digest validation."""

    @pytest.fixture
    def conformance_loop(self) -> Iterator[asyncio.AbstractEventLoop]:
        yield from new_loop()

    @conformance_test
    async def test_put_stream_returns_sha256_and_reads_back(self, blobs: BlobStore) -> None:
        digest = await blobs.put_stream(_chunks(BIG))
        assert digest == hashlib.sha256(BIG).hexdigest()
        assert blobs.exists(digest) and blobs.size(digest) == len(BIG)
        with blobs.open(digest) as f:
            assert f.read() == BIG

    @conformance_test
    async def test_put_file_and_dedup(self, blobs: BlobStore) -> None:
        digest = blobs.put_file(io.BytesIO(b"hello"))
        assert digest == hashlib.sha256(b"hello").hexdigest()
        assert await blobs.put_stream(_chunks(b"hello", 2)) == digest
        assert blobs.size(digest) == 5

    @conformance_test
    async def test_empty_content(self, blobs: BlobStore) -> None:
        digest = await blobs.put_stream(_chunks(b""))
        assert digest == hashlib.sha256(b"").hexdigest()
        assert blobs.size(digest) == 0

    @conformance_test
    async def test_max_size_rejects_and_leaves_nothing(
        self, blobs: BlobStore, tmp_path: Path
    ) -> None:
        before = _files(tmp_path)
        with pytest.raises(RequestTooLarge):
            await blobs.put_stream(_chunks(BIG), max_size=len(BIG) - 1)
        assert _files(tmp_path) == before
        assert not blobs.exists(hashlib.sha256(BIG).hexdigest())
        digest = await blobs.put_stream(_chunks(BIG), max_size=len(BIG))
        assert blobs.size(digest) == len(BIG)

    @conformance_test
    async def test_failed_stream_leaves_nothing(self, blobs: BlobStore, tmp_path: Path) -> None:
        async def broken() -> AsyncIterator[bytes]:
            yield b"partial"
            raise ConnectionError("client went away")

        before = _files(tmp_path)
        with pytest.raises(ConnectionError):
            await blobs.put_stream(broken())
        assert _files(tmp_path) == before

    @conformance_test
    async def test_path_points_at_content(self, blobs: BlobStore) -> None:
        digest = await blobs.put_stream(_chunks(b"abc"))
        path = blobs.path(digest)
        if path is not None:
            assert Path(path).read_bytes() == b"abc"
        assert blobs.path(hashlib.sha256(b"other").hexdigest()) is None

    @conformance_test
    async def test_delete(self, blobs: BlobStore) -> None:
        digest = await blobs.put_stream(_chunks(b"abc"))
        blobs.delete(digest)
        assert not blobs.exists(digest)
        with pytest.raises(FileNotFoundError):
            blobs.open(digest)
        blobs.delete(digest)  # idempotent

    @pytest.mark.parametrize(
        "bad",
        [
            "",
            "abc",
            "../" + "a" * 61,
            "g" * 64,
            "a" * 63,
            "a" * 65,
            "a" * 63 + "/",
            "a" * 32 + "\x00" + "a" * 31,
            "a" * 64 + "\n",
        ],
    )
    @conformance_test
    async def test_rejects_malformed_digests(self, blobs: BlobStore, bad: str) -> None:
        for call in (blobs.open, blobs.path, blobs.exists, blobs.size, blobs.delete):
            with pytest.raises(ValueError):
                call(bad)
