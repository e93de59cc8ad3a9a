"""Content-addressed blobs on a local filesystem: ``<root>/ab/cdef…`` named by SHA-256 hex.

Durability first (data safety is goal 1): bytes go to a temporary file in the destination
directory, are fsynced, renamed into place (atomic on POSIX) and the directory is fsynced, so a
crash leaves either the whole blob or nothing under its name. Content is streamed in 1 MiB chunks
and never held whole in memory. Digests are validated before they touch a path, so a digest can
never name a file outside the root.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import BinaryIO

from homeport.core.errors import RequestTooLarge

CHUNK = 1024 * 1024
STALE_INCOMING_SECONDS = 3600
"""A temporary file this old was left by a killed write: no live write takes an hour to touch
its file (they write 1 MiB at a time)."""
COLLECTING = ".collecting"
"""Present while a collection runs (``collecting``): a blob it renamed aside when it was killed
is put back by the next ``FsBlobStore`` opened on the directory."""
_DIGEST = re.compile(r"[0-9a-fA-F]{64}")


def check_digest(digest: str) -> str:
    """The digest, lowercased, if it is 64 hex characters; ValueError otherwise."""
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise ValueError(f"not a SHA-256 hex digest: {digest!r}")
    return digest.lower()


class _Incoming:
    """A temporary file in the blob tree that becomes a blob on `commit` or vanishes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        fd, name = tempfile.mkstemp(prefix=".incoming-", dir=root)
        self.path = Path(name)
        self.file = os.fdopen(fd, "wb")
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.hash.update(chunk)
        self.size += len(chunk)
        self.file.write(chunk)

    def discard(self) -> None:
        self.file.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def commit(self) -> str:
        digest = self.hash.hexdigest()
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        folder = self.root / digest[:2]
        folder.mkdir(exist_ok=True)
        target = folder / digest[2:]
        if target.exists():  # same content already stored: keep the existing file
            try:  # and date it now: a collection spares blobs written within its grace
                os.utime(target)
            except FileNotFoundError:  # a collection took it away meanwhile: put it back
                pass
            else:
                self.path.unlink()
                return digest
        os.replace(self.path, target)
        fsync_dir(folder)
        return digest


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (the directory entry, not only the file)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FsBlobStore:
    """BlobStore on a directory; safe for several processes sharing it (rename is atomic)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        if (self.root / COLLECTING).exists():  # a collection was killed: undo its last step
            self.restore_aside()

    def sweep_incoming(self, older_than: float = STALE_INCOMING_SECONDS) -> int:
        """Remove temporary files left by writes that were killed; how many went. Files a
        write in another process is still filling are younger and stay."""
        cutoff = time.time() - older_than
        removed = 0
        for leftover in self.root.glob(".incoming-*"):
            with contextlib.suppress(FileNotFoundError):
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
                    removed += 1
        return removed

    def _path(self, digest: str) -> Path:
        digest = check_digest(digest)
        return self.root / digest[:2] / digest[2:]

    async def put_stream(self, chunks: AsyncIterator[bytes], max_size: int | None = None) -> str:
        incoming = _Incoming(self.root)
        try:
            async for chunk in chunks:
                if max_size is not None and incoming.size + len(chunk) > max_size:
                    raise RequestTooLarge(f"content larger than {max_size} bytes")
                incoming.write(chunk)
            return incoming.commit()
        except BaseException:
            incoming.discard()
            raise

    def put_file(self, source: BinaryIO) -> str:
        incoming = _Incoming(self.root)
        try:
            for chunk in iter(lambda: source.read(CHUNK), b""):
                incoming.write(chunk)
            return incoming.commit()
        except BaseException:
            incoming.discard()
            raise

    def path(self, digest: str) -> str | None:
        target = self._path(digest)
        return str(target) if target.is_file() else None

    def open(self, digest: str) -> BinaryIO:
        return self._path(digest).open("rb")

    def exists(self, digest: str) -> bool:
        return self._path(digest).is_file()

    def size(self, digest: str) -> int:
        return self._path(digest).stat().st_size

    def delete(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(digest).unlink()

    def listing(self) -> Iterator[tuple[str, int, float]]:
        """``(digest, size, modified)`` of every blob (garbage collection's candidates)."""
        for folder in self.root.iterdir():
            if len(folder.name) != 2 or not folder.is_dir():
                continue
            for item in folder.iterdir():
                digest = folder.name + item.name
                if not _DIGEST.fullmatch(digest):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    info = item.stat()
                    yield digest, info.st_size, info.st_mtime

    @contextlib.contextmanager
    def collecting(self) -> Iterator[None]:
        """Around a collection's ``collect`` calls: marks the directory so a kill is undone."""
        marker = self.root / COLLECTING
        marker.touch()
        fsync_dir(self.root)
        self.restore_aside()
        yield
        marker.unlink()

    def restore_aside(self) -> int:
        """Put back blobs a killed collection had renamed aside; how many."""
        restored = 0
        for aside in self.root.glob("??/.gc-*"):
            target = aside.with_name(aside.name[len(".gc-") :])
            with contextlib.suppress(FileNotFoundError):
                os.rename(aside, target)
                restored += 1
        return restored

    def collect(self, digest: str, written_before: float) -> bool:
        """Remove a blob nothing references, unless it was written (or written again: the
        same content stored anew only dates the file) since ``written_before``; whether it
        went. The blob is first renamed aside, so a write racing with this either finds no
        file and puts one back, or dated it, which this sees and undoes the rename."""
        target = self._path(digest)
        aside = target.with_name(f".gc-{target.name}")
        try:
            os.rename(target, aside)
        except FileNotFoundError:
            return False
        if aside.stat().st_mtime >= written_before:
            os.rename(aside, target)  # the same bytes if a write put it back meanwhile
            return False
        aside.unlink()
        return True

    def iter_chunks(self, digest: str) -> Iterator[bytes]:
        """The content in 1 MiB chunks (for streaming responses)."""
        with self.open(digest) as f:
            yield from iter(lambda: f.read(CHUNK), b"")
