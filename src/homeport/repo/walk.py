"""Walking the object graph: the library API that sync (issue D) is built on.

- ``reachable``: every object a commit names, directly or not.
- ``missing``: what a peer lacks, given a way to ask whether it holds an id; a held object
  implies its whole subtree (a repository only ever adopts complete subtrees), so the walk stops
  there and costs what the peer lacks, not the library.
- ``changed``: the objects of ``new`` that are not at the same place in ``old``, walking only the
  subtrees whose ids differ (tree nodes are paired by slot, entries by key).
- ``read_object`` / ``write_object``: stored bytes by id; writing checks them against the id first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from homeport.core.objects import ObjectType
from homeport.repo.codec import check
from homeport.repo.repository import Repository, RepositoryError


def reachable(repo: Repository, start: bytes) -> Iterator[bytes]:
    """Each object reachable from ``start`` once, parents before children."""
    return missing(repo, start, lambda _: False)


def missing(repo: Repository, start: bytes, held: Callable[[bytes], bool]) -> Iterator[bytes]:
    """Objects reachable from ``start`` that the peer does not hold (``held(id)``)."""
    seen: set[bytes] = set()
    stack = [start]
    while stack:
        oid = stack.pop()
        if oid in seen or held(oid):
            continue
        seen.add(oid)
        links = repo.links(oid)
        if links is None:
            raise RepositoryError(f"object {oid.hex()[:16]} is missing from the repository")
        yield oid
        stack.extend(reversed(links))


def _pairs(repo: Repository, old: bytes | None, new: bytes) -> list[tuple[bytes | None, bytes]]:
    """The children of ``new`` with, where there is one, the child of ``old`` at the same place."""
    new_links = repo.links(new) or ()
    if old is None:
        return [(None, link) for link in new_links]
    old_links = repo.links(old) or ()
    row = repo.db.execute("SELECT type FROM objects WHERE id = ?", (new,)).fetchone()
    kind = ObjectType(row[0]) if row else None
    if kind is ObjectType.COMMIT:
        # the new root beside the old root; the new commit's parent beside the old commit
        # itself, so a chain that merely grew costs only its new commits
        pairs: list[tuple[bytes | None, bytes]] = [
            (old_links[0] if old_links else None, new_links[0])
        ]
        if len(new_links) > 1:
            pairs.append((old, new_links[1]))
        return pairs
    if kind is ObjectType.NODE:
        a, b = repo.node(old), repo.node(new)
        if a.slots is not None and b.slots is not None:
            by_slot = dict(zip(a.slots, old_links, strict=True))
            return [(by_slot.get(s), link) for s, link in zip(b.slots, new_links, strict=True)]
        if a.keys is not None and b.keys is not None:
            by_key = dict(zip(a.keys, old_links, strict=True))
            return [(by_key.get(k), link) for k, link in zip(b.keys, new_links, strict=True)]
        return [(None, link) for link in new_links]
    if kind is ObjectType.FILE:
        known = set(old_links)
        return [(link if link in known else None, link) for link in new_links]
    if len(old_links) == len(new_links):
        return list(zip(old_links, new_links, strict=True))
    return [(None, link) for link in new_links]


def changed(repo: Repository, old: bytes | None, new: bytes) -> Iterator[bytes]:
    """Objects of the snapshot rooted at ``new`` that ``old`` does not have at the same place."""
    seen: set[bytes] = set()
    stack: list[tuple[bytes | None, bytes]] = [(old, new)]
    while stack:
        a, b = stack.pop()
        if a == b or b in seen:
            continue
        seen.add(b)
        yield b
        stack.extend(reversed(_pairs(repo, a, b)))


def read_object(repo: Repository, oid: bytes) -> bytes:
    """The stored bytes (sealed objects stay sealed: this is what goes over the wire)."""
    return repo.raw(oid)


def write_object(repo: Repository, oid: bytes, stored: bytes, seq: int) -> bool:
    """Store bytes received for ``oid`` after checking them; whether they were new."""
    header = check(oid, stored, repo.keys)
    return repo.put(oid, header.type, header.links, stored, seq)
