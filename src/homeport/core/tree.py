"""The tree that maps every key of a snapshot (``/buckets/b/collections/c/records/r`` …) to the id
of its entry object.

It is a hash trie: a key's place is given by the nibbles of SHA-256(key). A node holding at most
``LEAF_MAX`` keys is a leaf listing them (sorted); a bigger one is an interior node with up to 16
children, one per nibble at its depth, and knows how many keys lie below it. The shape depends
only on the set of keys, never on the order of edits, so equal contents give equal root ids on any
device, and changing one key of n rewrites one leaf and its O(log16 n) ancestors.

A node is private (and will be sealed) as soon as one thing below it is private; the ``private``
list names which of its links are. The functions here do no I/O: callers pass ``load`` to read a
node by id, and ``save`` to store a new one and learn its id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from homeport.core.canonical import canonical

LEAF_MAX = 64
FANOUT_BITS = 4


class TreeFormatError(ValueError):
    """A node body that is not a well-formed tree node."""


Value = tuple[bytes, bool]
"""An entry's object id and whether it is private."""


@dataclass(frozen=True)
class Node:
    """A leaf (``keys`` set) or an interior node (``slots`` set). ``links`` holds ids of stored
    objects, or ``Node``s not yet saved (made by ``update``)."""

    keys: tuple[str, ...] | None
    slots: tuple[int, ...] | None
    count: int
    links: tuple[bytes | Node, ...]
    private: frozenset[int]

    @property
    def is_leaf(self) -> bool:
        return self.keys is not None

    @property
    def sealed(self) -> bool:
        return bool(self.private)

    def body(self) -> bytes:
        doc: dict[str, Any]
        if self.keys is not None:
            doc = {"keys": list(self.keys)}
        else:
            doc = {"count": self.count, "slots": list(self.slots or ())}
        if self.private:
            doc["private"] = sorted(self.private)
        return canonical(doc)


EMPTY = Node(keys=(), slots=None, count=0, links=(), private=frozenset())


def parse_node(body: bytes, links: tuple[bytes, ...]) -> Node:
    try:
        doc = json.loads(body)
        private = frozenset(int(i) for i in doc.get("private", ()))
        if "keys" in doc:
            keys = tuple(str(k) for k in doc["keys"])
            if len(keys) != len(links) or len(keys) > LEAF_MAX:
                raise TreeFormatError("leaf keys and links differ in number")
            return Node(keys, None, len(keys), links, private)
        slots = tuple(int(s) for s in doc["slots"])
        if len(slots) != len(links) or not all(0 <= s < 16 for s in slots):
            raise TreeFormatError("interior slots and links differ")
        return Node(None, slots, int(doc["count"]), links, private)
    except (ValueError, KeyError, TypeError) as exc:
        raise TreeFormatError(f"not a tree node: {exc}") from None


def key_hash(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def nibble(digest: bytes, depth: int) -> int:
    byte = digest[depth // 2]
    return (byte >> 4) if depth % 2 == 0 else (byte & 0x0F)


Load = Callable[[bytes], Node]
Save = Callable[[Node], bytes]


def _leaf(entries: Mapping[str, Value]) -> Node:
    keys = tuple(sorted(entries))
    links = tuple(entries[k][0] for k in keys)
    private = frozenset(i for i, k in enumerate(keys) if entries[k][1])
    return Node(keys, None, len(keys), links, private)


def _build(entries: Mapping[str, Value], depth: int) -> Node:
    if len(entries) <= LEAF_MAX:
        return _leaf(entries)
    groups: dict[int, dict[str, Value]] = {}
    for key, value in entries.items():
        groups.setdefault(nibble(key_hash(key), depth), {})[key] = value
    children: dict[int, tuple[bytes | Node, bool]] = {}
    for slot, group in groups.items():
        child = _build(group, depth + 1)
        children[slot] = (child, child.sealed)
    return _interior(children, len(entries))


def _interior(children: Mapping[int, tuple[bytes | Node, bool]], count: int) -> Node:
    slots = tuple(sorted(children))
    links = tuple(children[slot][0] for slot in slots)
    private = frozenset(i for i, slot in enumerate(slots) if children[slot][1])
    return Node(None, slots, count, links, private)


def _child(node: Node, index: int, load: Load) -> Node:
    link = node.links[index]
    return link if isinstance(link, Node) else load(link)


def entries(node: Node, load: Load) -> Iterator[tuple[str, Value]]:
    """Every ``(key, (id, private))`` below ``node``, leaves in slot order."""
    if node.keys is not None:
        for i, key in enumerate(node.keys):
            link = node.links[i]
            assert isinstance(link, bytes)
            yield key, (link, i in node.private)
        return
    for i in range(len(node.links)):
        yield from entries(_child(node, i, load), load)


def update(root: Node, changes: Mapping[str, Value | None], load: Load) -> Node:
    """The tree with ``changes`` applied (``None`` deletes a key); new nodes are left unsaved."""
    hashed = {key: key_hash(key) for key in changes}
    return _update(root, dict(changes), hashed, 0, load)


def _update(
    node: Node,
    changes: dict[str, Value | None],
    hashed: Mapping[str, bytes],
    depth: int,
    load: Load,
) -> Node:
    if node.keys is not None:
        merged = dict(entries(node, load))
        for key, value in changes.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        return _build(merged, depth)
    groups: dict[int, dict[str, Value | None]] = {}
    for key, value in changes.items():
        groups.setdefault(nibble(hashed[key], depth), {})[key] = value
    assert node.slots is not None
    position = {slot: i for i, slot in enumerate(node.slots)}
    kept = {
        slot: (node.links[i], i in node.private)
        for slot, i in position.items()
        if slot not in groups
    }
    count = node.count
    for slot, group in groups.items():
        index = position.get(slot)
        child = EMPTY if index is None else _child(node, index, load)
        new = _update(child, group, hashed, depth + 1, load)
        count += new.count - child.count
        if new.count:
            kept[slot] = (new, new.sealed)
    if count <= LEAF_MAX:
        collapsed: dict[str, Value] = {}
        for slot in sorted(kept):
            link = kept[slot][0]
            collapsed.update(entries(link if isinstance(link, Node) else load(link), load))
        return _leaf(collapsed)
    return _interior(kept, count)


def save_all(node: Node, save: Save) -> bytes:
    """Store every unsaved node below and including ``node``, children first; the root's id."""
    links = tuple(save_all(link, save) if isinstance(link, Node) else link for link in node.links)
    return save(Node(node.keys, node.slots, node.count, links, node.private))


def diff(
    old: Node | None, new: Node | None, load: Load
) -> Iterator[tuple[str, Value | None, Value | None]]:
    """``(key, old value, new value)`` for every key whose value differs, visiting only the
    subtrees whose ids differ."""
    old = old or EMPTY
    new = new or EMPTY
    if old.keys is None and new.keys is None:
        assert old.slots is not None and new.slots is not None
        old_slots = dict(zip(old.slots, range(len(old.slots)), strict=True))
        new_slots = dict(zip(new.slots, range(len(new.slots)), strict=True))
        for slot in sorted(set(old_slots) | set(new_slots)):
            a = old_slots.get(slot)
            b = new_slots.get(slot)
            if a is not None and b is not None and old.links[a] == new.links[b]:
                continue
            yield from diff(
                None if a is None else _child(old, a, load),
                None if b is None else _child(new, b, load),
                load,
            )
        return
    before = dict(entries(old, load))
    after = dict(entries(new, load))
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            yield key, before.get(key), after.get(key)
