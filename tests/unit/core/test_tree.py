"""The hash trie: canonical shape, entries, diff, and the cost of one change in 100,000 keys."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homeport.core import tree
from homeport.core.objects import ObjectType, public_id
from homeport.core.tree import EMPTY, LEAF_MAX, Node


class NodeStore:
    """Nodes by id, as a repository would hold them; counts what ``save`` wrote."""

    def __init__(self) -> None:
        self.nodes: dict[bytes, Node] = {}
        self.saved = 0

    def save(self, node: Node) -> bytes:
        links = tuple(link for link in node.links if isinstance(link, bytes))
        assert len(links) == len(node.links), "save_all saves children first"
        oid = public_id(ObjectType.NODE, links, node.body())
        self.nodes[oid] = tree.parse_node(node.body(), links)
        self.saved += 1
        return oid

    def load(self, oid: bytes) -> Node:
        return self.nodes[oid]

    def apply(self, root: bytes | None, changes: Mapping[str, tree.Value | None]) -> bytes:
        node = EMPTY if root is None else self.load(root)
        return tree.save_all(tree.update(node, changes, self.load), self.save)

    def build(self, final: Mapping[str, tree.Value]) -> bytes:
        return self.apply(None, final)


def value(n: int, private: bool = False) -> tree.Value:
    return hashlib.sha256(str(n).encode()).digest(), private


KEYS = [f"/buckets/b/collections/c/records/r{i}" for i in range(400)]
keys_st = st.sampled_from(KEYS)
value_st = st.one_of(st.none(), st.builds(value, st.integers(0, 3), st.booleans()))
batch_st = st.dictionaries(keys_st, value_st, max_size=150)


def apply_batches(batches: list[dict[str, tree.Value | None]]) -> dict[str, tree.Value]:
    final: dict[str, tree.Value] = {}
    for batch in batches:
        for key, v in batch.items():
            if v is None:
                final.pop(key, None)
            else:
                final[key] = v
    return final


@settings(max_examples=60, deadline=None)
@given(st.lists(batch_st, min_size=1, max_size=6))
def test_incremental_updates_give_the_root_of_a_fresh_build(
    batches: list[dict[str, tree.Value | None]],
) -> None:
    nodes = NodeStore()
    root = nodes.build({})
    for batch in batches:
        root = nodes.apply(root, batch)
    final = apply_batches(batches)
    assert root == nodes.build(final)
    assert dict(tree.entries(nodes.load(root), nodes.load)) == final
    # the shape is the documented one: leaves of at most 64 keys, interior nodes only above that
    check_shape(nodes, nodes.load(root), 0, final)


def check_shape(nodes: NodeStore, node: Node, depth: int, below: Mapping[str, object]) -> None:
    assert node.count == len(below)
    if node.keys is not None:
        assert len(below) <= LEAF_MAX
        assert list(node.keys) == sorted(below)
        return
    assert len(below) > LEAF_MAX
    assert node.slots is not None and list(node.slots) == sorted(node.slots)
    for index, slot in enumerate(node.slots):
        group = {k: v for k, v in below.items() if tree.nibble(tree.key_hash(k), depth) == slot}
        assert group
        child = node.links[index]
        assert isinstance(child, bytes)
        child_node = nodes.load(child)
        assert (index in node.private) == child_node.sealed
        check_shape(nodes, child_node, depth + 1, group)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(keys_st, st.builds(value, st.integers(0, 3), st.booleans())), batch_st)
def test_diff_yields_exactly_the_changed_keys(
    start: dict[str, tree.Value], batch: dict[str, tree.Value | None]
) -> None:
    nodes = NodeStore()
    old = nodes.build(start)
    new = nodes.apply(old, batch)
    after = apply_batches([start, batch])  # type: ignore[list-item]
    got = list(tree.diff(nodes.load(old), nodes.load(new), nodes.load))
    expected = {
        k: (start.get(k), after.get(k))
        for k in set(start) | set(after)
        if start.get(k) != after.get(k)
    }
    assert [k for k, _, _ in got] == sorted(set(k for k, _, _ in got))
    assert {k: (a, b) for k, a, b in got} == expected
    assert list(tree.diff(nodes.load(new), nodes.load(new), nodes.load)) == []


def test_the_empty_tree_is_a_leaf_with_no_keys() -> None:
    nodes = NodeStore()
    root = nodes.build({})
    assert nodes.load(root).keys == ()
    assert nodes.load(root).body() == b'{"keys":[]}'
    assert nodes.apply(nodes.build({KEYS[0]: value(1)}), {KEYS[0]: None}) == root


def test_a_private_entry_marks_its_leaf_and_every_ancestor() -> None:
    nodes = NodeStore()
    final = {k: value(i) for i, k in enumerate(KEYS)}
    public_root = nodes.build(final)
    assert not nodes.load(public_root).sealed
    secret = KEYS[17]
    root = nodes.apply(public_root, {secret: (final[secret][0], True)})
    assert root != public_root
    node = nodes.load(root)
    digest = tree.key_hash(secret)
    depth = 0
    while node.keys is None:
        assert node.sealed
        assert node.slots is not None
        index = node.slots.index(tree.nibble(digest, depth))
        assert node.private == {index}
        link = node.links[index]
        assert isinstance(link, bytes)
        node, depth = nodes.load(link), depth + 1
    assert node.private == {node.keys.index(secret)}


# --- 100,000 keys: built once for the module ------------------------------------------------

BIG = 100_000


@pytest.fixture(scope="module")
def big() -> tuple[NodeStore, bytes, dict[str, tree.Value]]:
    nodes = NodeStore()
    final = {f"/buckets/b/collections/c/records/{i:06d}": value(i) for i in range(BIG)}
    return nodes, nodes.build(final), final


def path_depth(nodes: NodeStore, root: bytes, key: str) -> int:
    """How many interior nodes lie above the leaf that holds ``key``."""
    node, depth, digest = nodes.load(root), 0, tree.key_hash(key)
    while node.keys is None:
        assert node.slots is not None
        link = node.links[node.slots.index(tree.nibble(digest, depth))]
        assert isinstance(link, bytes)
        node, depth = nodes.load(link), depth + 1
    return depth


@pytest.mark.parametrize("change", ["edit", "add", "delete"])
def test_one_change_among_100000_keys_writes_one_path(
    big: tuple[NodeStore, bytes, dict[str, tree.Value]], change: str
) -> None:
    nodes, root, _final = big
    assert nodes.load(root).count == BIG
    key = "/buckets/b/collections/c/records/042424"
    changes: dict[str, tree.Value | None] = {
        "edit": {key: value(-1)},
        "add": {key + "-new": value(-1)},
        "delete": {key: None},
    }[change]
    target = next(iter(changes))
    depth = path_depth(nodes, root, key)
    assert 3 <= depth + 1 <= 4  # the documented 3 to 4 nodes for 100,000 keys
    before = nodes.saved
    new_root = nodes.apply(root, changes)
    assert nodes.saved - before <= depth + 1
    assert nodes.load(new_root).count == BIG + {"edit": 0, "add": 1, "delete": -1}[change]
    diffed = list(tree.diff(nodes.load(root), nodes.load(new_root), nodes.load))
    assert [k for k, _, _ in diffed] == [target]
