"""The storage seams. A backend is done when `homeport.testing.conformance` passes against it.

Objects live in a flat space keyed by ``(resource_name, parent_id, id)``, as in Kinto: buckets have
parent ``""``, collections and groups ``/buckets/<b>``, records ``/buckets/<b>/collections/<c>``,
accounts ``""``. A ``parent_id`` ending in ``*`` matches every parent with that prefix (used by
cascading deletes and cross-parent listings).

Every change to a ``(resource_name, parent_id)`` pair moves that pair's timestamp forward:
``last_modified`` values are strictly increasing per pair and the pair's timestamp is the
largest of them, tombstones included. All methods are coroutines; calls made inside
``async with store.transaction():`` commit or roll back together, calls outside it are each
atomic on their own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol, runtime_checkable

from homeport.core.query import Filter, Sort

JSONObject = dict[str, Any]
Permissions = dict[str, set[str]]


@dataclass
class ReadSet:
    """What one request reads before it answers, read together (`RecordStore.read_set`)."""

    principals: set[str]
    """The holders of the bound permissions asked about (`authorized_principals`)."""
    objects: list[JSONObject | None]
    """The objects asked for, in order; None where missing or deleted (`get_many`)."""
    permissions: Permissions | None = None
    """The permissions set on the URI asked about (`get_permissions`), if one was."""
    timestamp: int | None = None
    """The pair's timestamp (`resource_timestamp`), if one was asked about."""


@runtime_checkable
class RecordStore(Protocol):
    """Objects, tombstones, timestamps and permissions (Kinto's storage + permission backends)."""

    async def initialize(self) -> None:
        """Create or migrate the schema. Idempotent."""

    async def close(self) -> None: ...

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """Make the calls of this task one atomic unit; a nested call joins the outer one."""

    async def flush(self) -> None:
        """Delete everything (the test-only flush endpoint)."""

    # --- objects -------------------------------------------------------------------------
    async def get(self, resource_name: str, parent_id: str, object_id: str) -> JSONObject:
        """The live object with ``id`` and ``last_modified``. Raises ObjectNotFound."""

    async def get_many(self, keys: Sequence[tuple[str, str, str]]) -> list[JSONObject | None]:
        """Several live objects by ``(resource_name, parent_id, id)`` in one read, in the order
        asked; None where there is none. An object and its parents cost one round trip."""

    async def create(
        self,
        resource_name: str,
        parent_id: str,
        obj: JSONObject,
        acl: tuple[str, Permissions] | None = None,
    ) -> JSONObject:
        """Insert ``obj`` (which has an ``id``); replaces a tombstone. Raises UnicityError if a
        live object has that id. Assigns and returns ``last_modified``. With ``acl``, an
        object URI and its permissions, also `set_permissions` in the same step (nothing is
        set when the create is refused)."""

    async def update(
        self, resource_name: str, parent_id: str, object_id: str, obj: JSONObject
    ) -> JSONObject:
        """Create or replace the object entirely; assigns a new ``last_modified``."""

    async def delete(self, resource_name: str, parent_id: str, object_id: str) -> JSONObject:
        """Replace the live object by a tombstone ``{id, last_modified, deleted: True}`` and
        return it. Raises ObjectNotFound."""

    async def delete_all(
        self, resource_name: str, parent_id: str, filters: Sequence[Filter] = ()
    ) -> list[JSONObject]:
        """Tombstone every live object matching; return the tombstones."""

    async def list_all(
        self,
        resource_name: str,
        parent_id: str,
        filters: Sequence[Filter] = (),
        sorting: Sequence[Sort] = (),
        pagination_rules: Sequence[Sequence[Filter]] = (),
        limit: int | None = None,
        include_deleted: bool = False,
    ) -> list[JSONObject]:
        """Objects matching all ``filters`` and any group of ``pagination_rules``, ordered by
        ``sorting`` (default: ``last_modified`` descending). Tombstones only if asked."""

    async def count_all(
        self, resource_name: str, parent_id: str, filters: Sequence[Filter] = ()
    ) -> int:
        """How many live objects match."""

    async def resource_timestamp(self, resource_name: str, parent_id: str) -> int:
        """The pair's current timestamp. An untouched pair gets the current time, remembered so
        that repeated reads agree."""

    async def timestamps(self) -> dict[tuple[str, str], int]:
        """Every known pair's timestamp, in one read: the change cursor a snapshot compares
        against to find what moved since the last one."""

    async def purge_deleted(
        self, resource_name: str, parent_id: str, before: int | None = None
    ) -> int:
        """Remove tombstones (older than ``before`` when given); return how many.

        Each list's deletion horizon moves up to the newest tombstone removed from it, in the
        same transaction, so what was forgotten is never unknown."""

    async def deletion_horizon(self, resource_name: str, parent_id: str) -> int:
        """The newest tombstone ever purged from the pair (0 if none): a ``_since`` older than
        this would not see every deletion."""

    # --- permissions ---------------------------------------------------------------------
    async def get_permissions(self, object_uri: str) -> Permissions:
        """``{permission: {principals}}`` set directly on the object (no inheritance)."""

    async def get_permissions_many(self, object_uris: Iterable[str]) -> dict[str, Permissions]:
        """Like get_permissions for several objects at once; absent ones map to ``{}``."""

    async def set_permissions(self, object_uri: str, permissions: Permissions) -> None:
        """Replace the object's permissions entirely (empty sets are dropped)."""

    async def delete_permissions(self, object_uri_prefix: str) -> None:
        """Drop the permissions of the object and of everything below it (URI prefix + ``/``)."""

    async def authorized_principals(self, bound: Iterable[tuple[str, str]]) -> set[str]:
        """Principals holding any of the given ``(object_uri, permission)`` pairs."""

    async def accessible_objects(
        self, principals: Iterable[str], bound: Iterable[tuple[str, str]]
    ) -> dict[str, set[str]]:
        """``{object_uri: {permissions}}`` for objects whose URI matches one of the patterns
        (``*`` matches one path segment) with one of the permissions granted to a principal."""

    async def read_set(
        self,
        bound: Sequence[tuple[str, str]],
        keys: Sequence[tuple[str, str, str]],
        acl_uri: str | None = None,
        timestamp: tuple[str, str] | None = None,
    ) -> ReadSet:
        """`authorized_principals`, `get_many`, `get_permissions` and `resource_timestamp`
        answered together: a request's reads before it answers, in one round trip where the
        backend is a network away (`read_set_in_parts` is the same made of the four calls)."""

    # --- group membership ----------------------------------------------------------------
    async def user_principals(self, user_id: str) -> set[str]:
        """Group principals the user (or pseudo-user such as ``system.Authenticated``) is in."""

    async def add_user_principal(self, user_id: str, principal: str) -> None: ...

    async def remove_user_principal(self, user_id: str, principal: str) -> None: ...

    async def remove_principal(self, principal: str) -> None:
        """Remove a group principal from every user (the group was deleted or emptied)."""


async def read_set_in_parts(
    store: RecordStore,
    bound: Sequence[tuple[str, str]],
    keys: Sequence[tuple[str, str, str]],
    acl_uri: str | None = None,
    timestamp: tuple[str, str] | None = None,
) -> ReadSet:
    """`RecordStore.read_set` as separate calls: the reference, for backends next door."""
    found = ReadSet(await store.authorized_principals(bound), await store.get_many(keys))
    if acl_uri is not None:
        found.permissions = await store.get_permissions(acl_uri)
    if timestamp is not None:
        found.timestamp = await store.resource_timestamp(*timestamp)
    return found


@runtime_checkable
class BlobStore(Protocol):
    """Content-addressed bytes: the address is the SHA-256 hex digest of the content."""

    async def put_stream(self, chunks: AsyncIterator[bytes], max_size: int | None = None) -> str:
        """Store a stream atomically and return its digest; raises RequestTooLarge past
        ``max_size`` without leaving anything behind."""

    def put_file(self, source: BinaryIO) -> str:
        """Store a file's bytes (streamed) and return the digest."""

    def path(self, digest: str) -> str | None:
        """A filesystem path the content can be served from, when the backend has one."""

    def open(self, digest: str) -> BinaryIO:
        """Read the content; raises FileNotFoundError."""

    def exists(self, digest: str) -> bool: ...

    def size(self, digest: str) -> int: ...

    def delete(self, digest: str) -> None: ...


class ObjectStoreError(Exception):
    """The object store failed; ``transient`` says whether trying again may work (an S3 503, a
    timeout) or not (a pack that is missing or shorter than its index says)."""

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class ObjectStoreFull(ObjectStoreError):
    """No room left where packs are written (a full disk, a bucket over its quota): a 507."""


@runtime_checkable
class ObjectStore(Protocol):
    """Pack files: many repository objects in one named file that never changes once written,
    read back by byte range. Local disk at a home and a small provider, any S3-compatible store
    for a provider that outgrows one disk. Names are paths of ``/``-separated segments
    (``tenants/ab12/packs/5f3e….pack``); ``scoped`` gives a tenant its own prefix.

    The index (which object sits where) lives in the repository's database, never here: a pack
    is durable when ``put`` returns, and only then may an index row name it. A crash between
    the two leaves a pack nothing names, which the next start or collection removes."""

    def put(self, name: str, chunks: Iterable[bytes]) -> int:
        """Write a whole pack from a stream of byte strings, durably and all at once (a reader
        sees all of it or none of it); its size in bytes. Raises ObjectStoreFull when there
        is no room, leaving nothing behind."""

    def read(self, name: str, offset: int, length: int) -> bytes:
        """``length`` bytes at ``offset``. Raises FileNotFoundError for a pack that is not
        there and ObjectStoreError when it ends before ``offset + length``."""

    def stream(self, name: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        """A pack's bytes from ``offset`` (to its end, or ``length`` of them) in pieces of a
        bounded size, without reading the whole pack into memory."""

    def size(self, name: str) -> int | None:
        """The pack's size, or None when there is no such pack."""

    def names(self, prefix: str = "") -> Iterator[tuple[str, int, int]]:
        """``(name, size, modified ms)`` of every pack whose name starts with ``prefix``."""

    def delete(self, name: str) -> None:
        """Remove a pack; removing one that is not there is not an error."""

    def scoped(self, prefix: str) -> ObjectStore:
        """The same store seen under ``prefix + '/'``: names given to it and returned by it are
        relative to that prefix."""
