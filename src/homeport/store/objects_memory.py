"""An ObjectStore in memory: tests and throwaway servers (``memory://``).

``capacity`` (bytes) makes it refuse a pack that would not fit, the way a full disk or a bucket
over its quota does, so the 507 path can be tested without filling a real disk.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator

from homeport.store.objects_base import (
    ScopedObjectStore,
    check_name,
    check_prefix,
    check_range,
)
from homeport.store.protocols import ObjectStore, ObjectStoreError, ObjectStoreFull

PIECE = 1024 * 1024


class MemoryObjectStore:
    """Packs in a dict; safe to share between threads."""

    def __init__(self, capacity: int | None = None) -> None:
        self.capacity = capacity
        self._packs: dict[str, tuple[bytes, int]] = {}
        self._lock = threading.Lock()

    def used(self) -> int:
        with self._lock:
            return sum(len(data) for data, _ in self._packs.values())

    def put(self, name: str, chunks: Iterable[bytes]) -> int:
        check_name(name)
        data = b"".join(chunks)  # a failing stream raises here, before anything is stored
        with self._lock:
            if self.capacity is not None:
                old = len(self._packs[name][0]) if name in self._packs else 0
                used = sum(len(d) for d, _ in self._packs.values()) - old
                if used + len(data) > self.capacity:
                    raise ObjectStoreFull(
                        f"no room for pack {name}: {len(data)} bytes, {self.capacity - used} free"
                    )
            self._packs[name] = (data, time.time_ns() // 1_000_000)
        return len(data)

    def _data(self, name: str) -> bytes:
        check_name(name)
        with self._lock:
            found = self._packs.get(name)
        if found is None:
            raise FileNotFoundError(f"no pack {name}")
        return found[0]

    def read(self, name: str, offset: int, length: int) -> bytes:
        check_range(offset, length)
        data = self._data(name)
        if offset + length > len(data):
            raise ObjectStoreError(
                f"pack {name} is {len(data)} bytes, shorter than {offset}+{length}"
            )
        return data[offset : offset + length]

    def stream(self, name: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        check_range(offset, length)
        data = self._data(name)
        end = len(data) if length is None else offset + length
        if end > len(data) or offset > len(data):
            raise ObjectStoreError(f"pack {name} is {len(data)} bytes, shorter than {end}")
        return (data[i : min(i + PIECE, end)] for i in range(offset, end, PIECE))

    def size(self, name: str) -> int | None:
        check_name(name)
        with self._lock:
            found = self._packs.get(name)
        return None if found is None else len(found[0])

    def names(self, prefix: str = "") -> Iterator[tuple[str, int, int]]:
        check_prefix(prefix)
        with self._lock:
            found = [
                (name, len(data), modified)
                for name, (data, modified) in self._packs.items()
                if name.startswith(prefix)
            ]
        return iter(sorted(found))

    def delete(self, name: str) -> None:
        check_name(name)
        with self._lock:
            self._packs.pop(name, None)

    def scoped(self, prefix: str) -> ObjectStore:
        return ScopedObjectStore(self, prefix)

    def __repr__(self) -> str:
        return "memory://"
