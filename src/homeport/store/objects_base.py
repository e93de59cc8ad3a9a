"""What every ObjectStore backend shares: the rule for pack names and the ``scoped`` view.

A name is ``/``-separated segments of letters, digits, ``.``, ``_`` and ``-``; no segment is
empty or starts with a dot. So a name can never climb out of a directory (``..``), never meets
a backend's own temporary files (which start with a dot), and means the same on disk and in S3.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from homeport.store.protocols import ObjectStore

MAX_NAME = 512
_SEGMENT = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9._\-]*")


def check_name(name: str) -> str:
    """The name, if it is a valid pack name; ValueError otherwise."""
    if not isinstance(name, str) or not name or len(name) > MAX_NAME:
        raise ValueError(f"not a pack name: {name!r}")
    for segment in name.split("/"):
        if not _SEGMENT.fullmatch(segment):
            raise ValueError(f"not a pack name: {name!r}")
    return name


def check_prefix(prefix: str) -> str:
    """A ``names`` prefix: empty, or a name's beginning (it may end in the middle of a segment
    or with ``/``)."""
    if prefix == "":
        return prefix
    check_name(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


def check_range(offset: int, length: int | None) -> None:
    if offset < 0 or (length is not None and length < 0):
        raise ValueError(f"bad byte range: offset {offset}, length {length}")


class ScopedObjectStore:
    """``store`` seen under ``prefix/``: a tenant's packs on a provider's shared store."""

    def __init__(self, store: ObjectStore, prefix: str) -> None:
        self.store = store
        self.prefix = check_name(prefix) + "/"

    def _full(self, name: str) -> str:
        return self.prefix + check_name(name)

    def put(self, name: str, chunks: Iterable[bytes]) -> int:
        return self.store.put(self._full(name), chunks)

    def read(self, name: str, offset: int, length: int) -> bytes:
        return self.store.read(self._full(name), offset, length)

    def stream(self, name: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        return self.store.stream(self._full(name), offset, length)

    def size(self, name: str) -> int | None:
        return self.store.size(self._full(name))

    def names(self, prefix: str = "") -> Iterator[tuple[str, int, int]]:
        cut = len(self.prefix)
        for name, size, modified in self.store.names(self.prefix + check_prefix(prefix)):
            yield name[cut:], size, modified

    def delete(self, name: str) -> None:
        self.store.delete(self._full(name))

    def scoped(self, prefix: str) -> ObjectStore:
        return ScopedObjectStore(self.store, self.prefix + check_name(prefix))

    def __repr__(self) -> str:
        return f"{self.store!r}/{self.prefix}"
