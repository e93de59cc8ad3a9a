"""An ObjectStore on a local directory: a home's ``<data>/packs/`` and a small provider's.

A pack is written to a temporary file beside its final place (``.incoming-…``), fsynced, renamed
into place and its directory fsynced: after a crash its name holds the whole pack or nothing.
Reads use ``pread`` on handles kept open (at most ``HANDLES``), so reading an object costs one
system call; a handle is a file object, closed when the last reader lets go of it, so dropping it
from the cache never pulls it from under a read in another thread.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from io import FileIO
from pathlib import Path

from homeport.store.blobs_fs import fsync_dir
from homeport.store.objects_base import (
    ScopedObjectStore,
    check_name,
    check_prefix,
    check_range,
)
from homeport.store.protocols import ObjectStore, ObjectStoreError, ObjectStoreFull

PIECE = 1024 * 1024
HANDLES = 64
STALE_INCOMING_SECONDS = 3600
"""A temporary file this old was left by a killed write (live writes touch theirs every MiB)."""
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class FsObjectStore:
    """Packs as files under ``root``; several processes may share the directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._handles: OrderedDict[str, FileIO] = OrderedDict()
        self._lock = threading.Lock()

    def _path(self, name: str) -> Path:
        return self.root / check_name(name)

    def _forget(self, name: str) -> None:
        with self._lock:
            self._handles.pop(name, None)

    def _handle(self, name: str) -> FileIO:
        with self._lock:
            handle = self._handles.get(name)
            if handle is not None:
                self._handles.move_to_end(name)
                return handle
        handle = FileIO(self._path(name), "r")  # FileNotFoundError for a missing pack
        with self._lock:
            self._handles[name] = handle
            while len(self._handles) > HANDLES:
                self._handles.popitem(last=False)  # closed once no reader holds it
        return handle

    # --- writing ---------------------------------------------------------------------------
    def _folder(self, name: str) -> Path:
        """The pack's directory, made (and made durable) if it is new."""
        folder = self._path(name).parent
        missing = []
        probe = folder
        while not probe.is_dir():
            missing.append(probe)
            probe = probe.parent
        for new in reversed(missing):
            with contextlib.suppress(FileExistsError):
                new.mkdir()
            fsync_dir(new.parent)
        return folder

    def put(self, name: str, chunks: Iterable[bytes]) -> int:
        target = self._path(name)
        try:
            folder = self._folder(name)
            fd, temp = tempfile.mkstemp(prefix=".incoming-", dir=folder)
        except OSError as exc:
            raise self._error(name, exc) from exc
        size = 0
        try:
            with open(fd, "wb", buffering=0) as out:
                for chunk in chunks:  # the stream's own errors pass through as they are
                    self._write(name, out, chunk)
                    size += len(chunk)
                try:
                    os.fsync(out.fileno())
                except OSError as exc:
                    raise self._error(name, exc) from exc
            try:
                os.replace(temp, target)
                self._forget(name)
                fsync_dir(folder)
            except OSError as exc:
                raise self._error(name, exc) from exc
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        return size

    def _write(self, name: str, out: FileIO, chunk: bytes) -> None:
        view = memoryview(chunk)
        try:
            while view:
                written = out.write(view)
                view = view[written or 0 :]
        except OSError as exc:
            raise self._error(name, exc) from exc

    @staticmethod
    def _error(name: str, exc: OSError) -> ObjectStoreError:
        if exc.errno in _FULL:
            return ObjectStoreFull(f"no room to write pack {name}: {exc.strerror}")
        return ObjectStoreError(f"cannot write pack {name}: {exc}")

    def sweep_incoming(self, older_than: float = STALE_INCOMING_SECONDS) -> int:
        """Remove temporary files left by killed writes; how many went. Younger ones may be
        another process's write in progress and stay."""
        cutoff = time.time() - older_than
        removed = 0
        for leftover in self.root.rglob(".incoming-*"):
            with contextlib.suppress(FileNotFoundError):
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
                    removed += 1
        return removed

    # --- reading ---------------------------------------------------------------------------
    def read(self, name: str, offset: int, length: int) -> bytes:
        check_range(offset, length)
        handle = self._handle(name)
        data = os.pread(handle.fileno(), length, offset)
        if len(data) != length:
            raise ObjectStoreError(
                f"pack {name} ends before {offset}+{length} (read {len(data)} bytes)"
            )
        return data

    def stream(self, name: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        check_range(offset, length)
        handle = self._handle(name)
        end = os.fstat(handle.fileno()).st_size if length is None else offset + length
        if offset > end:
            raise ObjectStoreError(f"pack {name} is {end} bytes, shorter than offset {offset}")
        return self._pieces(name, handle, offset, end)

    @staticmethod
    def _pieces(name: str, handle: FileIO, offset: int, end: int) -> Iterator[bytes]:
        fd = handle.fileno()
        position = offset
        while position < end:
            piece = os.pread(fd, min(PIECE, end - position), position)
            if not piece:
                raise ObjectStoreError(f"pack {name} ends at {position}, before {end}")
            position += len(piece)
            yield piece

    def size(self, name: str) -> int | None:
        try:
            return self._path(name).stat().st_size
        except FileNotFoundError:
            return None

    def names(self, prefix: str = "") -> Iterator[tuple[str, int, int]]:
        check_prefix(prefix)
        base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self.root / base if base else self.root
        found: list[tuple[str, int, int]] = []
        stack = [(start, base + "/" if base else "")]
        while stack:
            folder, rel = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                name = rel + entry.name
                if entry.is_dir(follow_symlinks=False):
                    if name.startswith(prefix) or prefix.startswith(name + "/"):
                        stack.append((Path(entry.path), name + "/"))
                elif name.startswith(prefix):
                    with contextlib.suppress(FileNotFoundError):
                        stat = entry.stat()
                        found.append((name, stat.st_size, stat.st_mtime_ns // 1_000_000))
        return iter(sorted(found))

    def delete(self, name: str) -> None:
        self._forget(name)
        with contextlib.suppress(FileNotFoundError):
            self._path(name).unlink()

    def scoped(self, prefix: str) -> ObjectStore:
        return ScopedObjectStore(self, prefix)

    def close(self) -> None:
        """Let go of the cached handles (each closes when no read still holds it)."""
        with self._lock:
            self._handles.clear()

    def __repr__(self) -> str:
        return f"file://{self.root}"
