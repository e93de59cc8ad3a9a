"""Conformance suites every RecordStore and BlobStore backend must pass (Kinto's ``StorageTest``).

Subclass and provide the backend as a fixture; the suite's tests then run against it::

    class TestMyRecordStore(RecordStoreConformance):
        @pytest.fixture
        def store(self, conformance_loop, tmp_path):
            yield from serve_store(conformance_loop, lambda: MyStore(tmp_path / "db"))

Tests are coroutines run on ``conformance_loop``, a fresh event loop per test on which the store
was also opened: backends such as connection pools are bound to the loop that created them, and
running everything on one loop needs no pytest plugin. Query semantics are not restated here:
filters and sorts are checked against `homeport.core.query` (the reference) over a fixed dataset
that mixes types, missing fields, nulls, nesting and lists.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest

from homeport.core.errors import ObjectNotFound, UnicityError
from homeport.core.query import Filter, Op, Sort, extract, matches, pagination_rules, sort_objects
from homeport.store.protocols import JSONObject, RecordStore
from homeport.testing.conformance_blobs import BlobStoreConformance
from homeport.testing.conformance_data import (
    SORTINGS,
    P,
    R,
    canon,
    filters_for,
    ids_of,
    load_dataset,
)
from homeport.testing.conformance_permissions import PermissionsConformance
from homeport.testing.conformance_runner import conformance_test, new_loop, serve_store

__all__ = ["BlobStoreConformance", "RecordStoreConformance", "conformance_test", "serve_store"]


class RecordStoreConformance(PermissionsConformance):
    """The RecordStore contract, one behaviour per test. Needs a ``store`` fixture."""

    @pytest.fixture
    def conformance_loop(self) -> Iterator[asyncio.AbstractEventLoop]:
        yield from new_loop()

    # --- objects -----------------------------------------------------------------------------
    @conformance_test
    async def test_create_then_get(self, store: RecordStore) -> None:
        created = await store.create(R, P, {"id": "r1", "title": "hi", "n": {"x": [1, 2.5]}})
        assert isinstance(created["last_modified"], int)
        assert created == {
            "id": "r1",
            "title": "hi",
            "n": {"x": [1, 2.5]},
            "last_modified": created["last_modified"],
        }
        assert await store.get(R, P, "r1") == created

    @conformance_test
    async def test_get_missing_raises(self, store: RecordStore) -> None:
        with pytest.raises(ObjectNotFound):
            await store.get(R, P, "nope")
        await store.create(R, P, {"id": "r1"})
        with pytest.raises(ObjectNotFound):
            await store.get(R, "/buckets/other", "r1")
        with pytest.raises(ObjectNotFound):
            await store.get("other", P, "r1")

    @conformance_test
    async def test_get_many_answers_in_order_with_none_for_missing(
        self, store: RecordStore
    ) -> None:
        bucket = await store.create("bucket", "", {"id": "b", "title": "B"})
        record = await store.create(R, P, {"id": "r1", "n": 1})
        await store.create(R, P, {"id": "gone"})
        await store.delete(R, P, "gone")
        found = await store.get_many(
            [(R, P, "r1"), (R, P, "gone"), ("bucket", "", "b"), (R, P, "nope"), ("bucket", P, "b")]
        )
        assert found == [record, None, bucket, None, None]
        assert await store.get_many([]) == []

    @conformance_test
    async def test_read_set_answers_as_its_parts(self, store: RecordStore) -> None:
        bucket = await store.create("bucket", "", {"id": "b", "title": "B"})
        record = await store.create(R, P, {"id": "r1", "n": [1, {"x": None}]})
        await store.create(R, P, {"id": "gone"})
        await store.delete(R, P, "gone")
        await store.set_permissions("/buckets/b", {"write": {"u1"}, "read": {"u2", "u 3"}})
        await store.set_permissions(f"{P}/records/r1", {"read": {"u4"}, "write": {"u5"}})
        bound = [("/buckets/b", "read"), ("/buckets/b", "write"), (f"{P}/records/r1", "read")]
        keys = [(R, P, "r1"), (R, P, "gone"), ("bucket", "", "b"), (R, P, "nope")]
        found = await store.read_set(bound, keys, f"{P}/records/r1", (R, P))
        assert found.principals == await store.authorized_principals(bound)
        assert found.principals == {"u1", "u2", "u 3", "u4"}
        assert found.objects == await store.get_many(keys) == [record, None, bucket, None]
        assert found.permissions == {"read": {"u4"}, "write": {"u5"}}
        assert found.timestamp == await store.resource_timestamp(R, P) > record["last_modified"]
        bare = await store.read_set([], [])
        assert (bare.principals, bare.objects, bare.permissions, bare.timestamp) == (
            set(),
            [],
            None,
            None,
        )
        # a pair never written has a timestamp all the same, and keeps it
        fresh = await store.read_set([], [("bucket", "", "b")], "/nothing", (R, "/nowhere"))
        assert fresh.objects == [bucket] and fresh.permissions == {}
        assert fresh.timestamp == await store.resource_timestamp(R, "/nowhere")

    @conformance_test
    async def test_create_with_permissions(self, store: RecordStore) -> None:
        uri = f"{P}/records/r1"
        await store.set_permissions(uri, {"read": {"left over"}, "write": {"u0"}})
        acl = (uri, {"write": {"u1"}, "read": {"u2", "u 3"}, "create": set()})
        created = await store.create(R, P, {"id": "r1", "n": 1}, acl)
        assert await store.get(R, P, "r1") == created
        assert await store.get_permissions(uri) == {"write": {"u1"}, "read": {"u2", "u 3"}}
        with pytest.raises(UnicityError):  # refused: the permissions stay as they were
            await store.create(R, P, {"id": "r1"}, (uri, {"write": {"intruder"}}))
        assert await store.get_permissions(uri) == {"write": {"u1"}, "read": {"u2", "u 3"}}
        await store.delete(R, P, "r1")  # a tombstone is replaced, with the permissions given
        again = await store.create(R, P, {"id": "r1"}, (uri, {"write": {"u4"}}))
        assert again["last_modified"] > created["last_modified"]
        assert await store.get_permissions(uri) == {"write": {"u4"}}
        async with store.transaction():  # inside a transaction too (PostgreSQL defers there)
            await store.create(R, P, {"id": "r2"}, (f"{P}/records/r2", {"write": {"u5"}}))
        assert await store.get_permissions(f"{P}/records/r2") == {"write": {"u5"}}

    @conformance_test
    async def test_create_strips_meta_fields(self, store: RecordStore) -> None:
        created = await store.create(R, P, {"id": "r1", "deleted": True, "last_modified": "x"})
        assert set(created) == {"id", "last_modified"}
        assert await store.get(R, P, "r1") == created

    @conformance_test
    async def test_update_replaces_entirely_or_creates(self, store: RecordStore) -> None:
        first = await store.create(R, P, {"id": "r1", "a": 1, "b": 2})
        updated = await store.update(R, P, "r1", {"a": 3})
        assert updated == {"id": "r1", "a": 3, "last_modified": updated["last_modified"]}
        assert updated["last_modified"] > first["last_modified"]
        assert await store.get(R, P, "r1") == updated
        fresh = await store.update(R, P, "r2", {"c": None})
        assert (
            await store.get(R, P, "r2")
            == fresh
            == {"id": "r2", "c": None, "last_modified": fresh["last_modified"]}
        )

    @conformance_test
    async def test_delete_leaves_tombstone(self, store: RecordStore) -> None:
        created = await store.create(R, P, {"id": "r1", "a": 1})
        dead = await store.delete(R, P, "r1")
        assert dead == {"id": "r1", "deleted": True, "last_modified": dead["last_modified"]}
        assert dead["last_modified"] > created["last_modified"]
        with pytest.raises(ObjectNotFound):
            await store.get(R, P, "r1")
        with pytest.raises(ObjectNotFound):
            await store.delete(R, P, "r1")
        with pytest.raises(ObjectNotFound):
            await store.delete(R, P, "never")

    @conformance_test
    async def test_create_duplicate_live_id_raises_unicity(self, store: RecordStore) -> None:
        created = await store.create(R, P, {"id": "r1", "a": 1})
        stamp = await store.resource_timestamp(R, P)
        with pytest.raises(UnicityError) as info:
            await store.create(R, P, {"id": "r1", "a": 2})
        assert info.value.details["existing"] == created
        assert await store.get(R, P, "r1") == created
        assert await store.resource_timestamp(R, P) == stamp

    @conformance_test
    async def test_create_after_tombstone(self, store: RecordStore) -> None:
        await store.create(R, P, {"id": "r1", "a": 1})
        dead = await store.delete(R, P, "r1")
        again = await store.create(R, P, {"id": "r1", "a": 2})
        assert again["last_modified"] > dead["last_modified"]
        assert await store.get(R, P, "r1") == again
        assert await store.list_all(R, P, include_deleted=True) == [again]

    @conformance_test
    async def test_timestamps_strictly_increase_per_pair(self, store: RecordStore) -> None:
        stamps = [(await store.create(R, P, {"id": f"r{i}"}))["last_modified"] for i in range(20)]
        stamps.append((await store.update(R, P, "r1", {"x": 1}))["last_modified"])
        stamps.append((await store.delete(R, P, "r2"))["last_modified"])
        stamps += [t["last_modified"] for t in await store.delete_all(R, P)]
        assert stamps[:22] == sorted(set(stamps[:22]))
        assert len(set(stamps)) == len(stamps) and min(stamps[22:]) > stamps[21]

    @conformance_test
    async def test_concurrent_creates_get_distinct_timestamps(self, store: RecordStore) -> None:
        created = await asyncio.gather(*(store.create(R, P, {"id": f"r{i}"}) for i in range(50)))
        stamps = sorted(o["last_modified"] for o in created)
        assert len(set(stamps)) == 50
        assert await store.resource_timestamp(R, P) == stamps[-1]
        listed = await store.list_all(R, P)
        assert [o["last_modified"] for o in listed] == stamps[::-1]

    @conformance_test
    async def test_concurrent_mixed_writes_stay_consistent(self, store: RecordStore) -> None:
        """Racing updates, deletes and creates of the same objects: no error but the domain
        ones, distinct timestamps, and each object ends as its latest write left it."""
        for i in range(8):
            await store.create(R, P, {"id": f"r{i}"})

        async def attempt(call: Coroutine[Any, Any, JSONObject]) -> JSONObject | None:
            try:
                return await call
            except (ObjectNotFound, UnicityError):
                return None

        calls = []
        for i in range(8):
            calls += [
                store.update(R, P, f"r{i}", {"v": 1}),
                store.delete(R, P, f"r{i}"),
                store.create(R, P, {"id": f"r{i}", "v": 2}),
                store.delete(R, P, f"r{i}"),
            ]
        done = [r for r in await asyncio.gather(*map(attempt, calls)) if r is not None]
        stamps = [r["last_modified"] for r in done]
        assert len(set(stamps)) == len(stamps)
        latest = {r["id"]: r for r in sorted(done, key=lambda r: r["last_modified"])}
        listed = await store.list_all(R, P, include_deleted=True)
        assert {o["id"]: o for o in listed} == latest
        assert await store.resource_timestamp(R, P) == max(stamps)

    @conformance_test
    async def test_client_supplied_later_last_modified_is_kept(self, store: RecordStore) -> None:
        first = await store.create(R, P, {"id": "r1"})
        later = first["last_modified"] + 10_000
        kept = await store.create(R, P, {"id": "r2", "last_modified": later})
        assert kept["last_modified"] == later
        assert (await store.get(R, P, "r2"))["last_modified"] == later
        earlier = await store.update(R, P, "r3", {"last_modified": first["last_modified"]})
        assert earlier["last_modified"] > later
        boolean = await store.update(R, P, "r4", {"last_modified": True})
        assert boolean["last_modified"] > earlier["last_modified"]

    @conformance_test
    async def test_timestamps_lists_every_pair_in_one_read(self, store: RecordStore) -> None:
        assert await store.timestamps() == {}
        first = await store.create(R, P, {"id": "r1"})
        other = await store.create(R, P + "x", {"id": "r1"})
        assert await store.timestamps() == {
            (R, P): first["last_modified"],
            (R, P + "x"): other["last_modified"],
        }
        dead = await store.delete(R, P, "r1")
        assert (await store.timestamps())[(R, P)] == dead["last_modified"]

    @conformance_test
    async def test_resource_timestamp(self, store: RecordStore) -> None:
        untouched = await store.resource_timestamp(R, P)
        assert isinstance(untouched, int) and untouched > 0
        assert await store.resource_timestamp(R, P) == untouched
        created = await store.create(R, P, {"id": "r1"})
        assert created["last_modified"] > untouched
        assert await store.resource_timestamp(R, P) == created["last_modified"]
        other = await store.resource_timestamp(R, P + "x")
        assert await store.resource_timestamp(R, P + "x") == other
        dead = await store.delete(R, P, "r1")
        assert await store.resource_timestamp(R, P) == dead["last_modified"]
        assert await store.resource_timestamp("other", P) == await store.resource_timestamp(
            "other", P
        )

    @conformance_test
    async def test_pairs_are_independent(self, store: RecordStore) -> None:
        await store.create(R, "/a", {"id": "r1", "v": "a"})
        await store.create(R, "/b", {"id": "r1", "v": "b"})
        await store.create("other", "/a", {"id": "r1", "v": "o"})
        assert (await store.get(R, "/a", "r1"))["v"] == "a"
        assert [o["v"] for o in await store.list_all(R, "/b")] == ["b"]
        await store.delete(R, "/a", "r1")
        assert (await store.get(R, "/b", "r1"))["v"] == "b"
        assert (await store.get("other", "/a", "r1"))["v"] == "o"

    @conformance_test
    async def test_tombstones_listed_only_when_asked(self, store: RecordStore) -> None:
        live = await store.create(R, P, {"id": "r1"})
        await store.create(R, P, {"id": "r2"})
        dead = await store.delete(R, P, "r2")
        assert await store.list_all(R, P) == [live]
        assert await store.list_all(R, P, include_deleted=True) == [dead, live]
        assert await store.count_all(R, P) == 1

    @conformance_test
    async def test_delete_all_withfilters_for(self, store: RecordStore) -> None:
        for i in range(6):
            await store.create(R, P, {"id": f"r{i}", "even": i % 2 == 0})
        await store.create(R, "/other", {"id": "r0", "even": True})
        dead = await store.delete_all(R, P, [Filter("even", Op.EQ, True)])
        assert ids_of(dead) == ["r0", "r2", "r4"] and all(d["deleted"] for d in dead)
        assert set(dead[0]) == {"id", "last_modified", "deleted"}
        assert ids_of(await store.list_all(R, P)) == ["r1", "r3", "r5"]
        assert await store.resource_timestamp(R, P) == max(d["last_modified"] for d in dead)
        assert await store.count_all(R, "/other") == 1
        assert await store.delete_all(R, P, [Filter("even", Op.EQ, True)]) == []

    @conformance_test
    async def test_delete_all_cascades_with_star_parent(self, store: RecordStore) -> None:
        await store.create("collection", "/buckets/b", {"id": "c"})
        await store.create(R, "/buckets/b/collections/c", {"id": "r1"})
        await store.create(R, "/buckets/b/collections/d", {"id": "r2"})
        await store.create(R, "/buckets/bb/collections/c", {"id": "r3"})
        await store.create(R, "/buckets/B/collections/c", {"id": "r4"})
        dead = await store.delete_all(R, "/buckets/b/*")
        assert ids_of(dead) == ["r1", "r2"]
        assert ids_of(await store.list_all(R, "/buckets/*")) == ["r3", "r4"]
        assert ids_of(await store.list_all(R, "/buckets/b/*", include_deleted=True)) == ["r1", "r2"]
        assert await store.count_all("collection", "*") == 1
        assert ids_of(await store.delete_all(R, "*")) == ["r3", "r4"]

    @conformance_test
    async def test_purge_deleted(self, store: RecordStore) -> None:
        await store.create(R, P, {"id": "keep"})
        stamps = []
        for i in range(4):
            await store.create(R, P, {"id": f"r{i}"})
            stamps.append((await store.delete(R, P, f"r{i}"))["last_modified"])
        await store.create(R, "/other", {"id": "x"})
        await store.delete(R, "/other", "x")
        assert await store.purge_deleted(R, P, before=stamps[2]) == 2
        assert ids_of(await store.list_all(R, P, include_deleted=True)) == ["keep", "r2", "r3"]
        assert await store.purge_deleted(R, P) == 2
        assert ids_of(await store.list_all(R, P, include_deleted=True)) == ["keep"]
        assert await store.purge_deleted(R, "*") == 1

    @conformance_test
    async def test_purging_moves_each_lists_deletion_horizon(self, store: RecordStore) -> None:
        assert await store.deletion_horizon(R, P) == 0
        stamps = []
        for i in range(3):
            await store.create(R, P, {"id": f"r{i}"})
            stamps.append((await store.delete(R, P, f"r{i}"))["last_modified"])
        await store.create(R, "/other", {"id": "x"})
        other = (await store.delete(R, "/other", "x"))["last_modified"]
        await store.purge_deleted(R, P, before=stamps[1])
        assert await store.deletion_horizon(R, P) == stamps[0]
        assert await store.deletion_horizon(R, "/other") == 0
        await store.purge_deleted(R, "*")
        assert await store.deletion_horizon(R, P) == stamps[2]
        assert await store.deletion_horizon(R, "/other") == other
        await store.purge_deleted(R, P)  # nothing left to purge: the horizon stays
        assert await store.deletion_horizon(R, P) == stamps[2]
        assert await store.deletion_horizon("collection", P) == 0

    # --- queries, checked against core.query ---------------------------------------------------
    @pytest.mark.parametrize("op", list(Op))
    @conformance_test
    async def test_filters_match_reference(self, store: RecordStore, op: Op) -> None:
        everything = await load_dataset(store)
        wrong = []
        for flt in filters_for(op, everything):
            got = ids_of(await store.list_all(R, P, [flt], include_deleted=True))
            want = ids_of([o for o in everything if matches(o, flt)])
            if got != want:
                wrong.append(f"{flt}: got {got}, want {want}")
        assert not wrong, "\n".join(wrong)

    @conformance_test
    async def test_count_and_combined_filters_match_reference(self, store: RecordStore) -> None:
        everything = await load_dataset(store)
        live = [o for o in everything if not o.get("deleted")]
        groups = [
            [Filter("n", Op.MIN, 0), Filter("s", Op.LIKE, "a")],
            [Filter("tags", Op.HAS, True), Filter("b", Op.NOT, True)],
            [Filter("nested.k", Op.IN, ["v", "w", None]), Filter("z", Op.EXCLUDE, [0])],
        ]
        for group in groups:
            want = [o for o in live if all(matches(o, f) for f in group)]
            assert await store.count_all(R, P, group) == len(want), group
            assert ids_of(await store.list_all(R, P, group)) == ids_of(want), group
        assert await store.count_all(R, P) == len(live)

    @pytest.mark.parametrize(
        "sorting",
        SORTINGS,
        ids=lambda s: ",".join(("-" if x.descending else "") + x.field for x in s),
    )
    @conformance_test
    async def test_sorting_matches_reference(self, store: RecordStore, sorting: list[Sort]) -> None:
        everything = await load_dataset(store)
        got = await store.list_all(R, P, sorting=sorting, include_deleted=True)
        want = sort_objects(everything, sorting)

        def keys(objs: list[JSONObject]) -> list[tuple[Any, ...]]:
            return [tuple(canon(extract(o, s.field)) for s in sorting) for o in objs]

        assert keys(got) == keys(want)

    @conformance_test
    async def test_default_sort_is_newest_first(self, store: RecordStore) -> None:
        for i in range(5):
            await store.create(R, P, {"id": f"r{i}"})
        assert [o["id"] for o in await store.list_all(R, P)] == ["r4", "r3", "r2", "r1", "r0"]
        assert [o["id"] for o in await store.list_all(R, P, limit=2)] == ["r4", "r3"]
        assert await store.list_all(R, P, limit=0) == []

    @pytest.mark.parametrize(
        "sorting",
        [
            [Sort("g"), Sort("id")],
            [Sort("g", True), Sort("id")],
            [Sort("name", True), Sort("id", True)],
            [Sort("last_modified", True)],
            [Sort("g"), Sort("name", True), Sort("id")],
            [Sort("w"), Sort("id", True)],
            [Sort("name"), Sort("g", True), Sort("id")],
        ],
        ids=lambda s: ",".join(("-" if x.descending else "") + x.field for x in s),
    )
    @conformance_test
    async def test_pagination_rules_give_complete_pages(
        self, store: RecordStore, sorting: list[Sort]
    ) -> None:
        for i in range(13):
            obj = {"id": f"r{i:02}", "g": i % 3, "name": "abcab"[i % 5] + str(i % 4), "w": i / 4}
            if i % 5 == 3:
                obj["name"] = None  # sorts with the missing ones
            elif i % 5 == 4:
                del obj["name"]
            await store.create(R, P, obj)
        await store.create(R, P, {"id": "gone", "g": 1, "name": "a", "w": 0.5})
        await store.delete(R, P, "gone")
        expected = [o["id"] for o in await store.list_all(R, P, sorting=sorting)]
        seen: list[str] = []
        rules: list[list[Filter]] = []
        for _ in range(10):
            page = await store.list_all(R, P, sorting=sorting, pagination_rules=rules, limit=4)
            seen += [o["id"] for o in page]
            if len(page) < 4:
                break
            rules = pagination_rules(sorting, page[-1])
        assert seen == expected and len(seen) == 13

    @conformance_test
    async def test_star_parent_lists_across_parents(self, store: RecordStore) -> None:
        await store.create(R, "/buckets/a/collections/x", {"id": "r1", "v": 1})
        await store.create(R, "/buckets/a/collections/y", {"id": "r1", "v": 2})
        await store.create(R, "/buckets/a%/collections/y", {"id": "r2", "v": 3})
        await store.create(R, "/buckets/a_", {"id": "r3", "v": 4})
        got = await store.list_all(R, "/buckets/a/*", sorting=[Sort("v")])
        assert [o["v"] for o in got] == [1, 2]
        assert await store.count_all(R, "/buckets/a%*") == 1
        assert await store.count_all(R, "*") == 4

    # --- transactions --------------------------------------------------------------------------
    @conformance_test
    async def test_transaction_commits(self, store: RecordStore) -> None:
        async with store.transaction():
            await store.create(R, P, {"id": "r1"})
            await store.set_permissions("/x", {"read": {"u"}})
            assert (await store.get(R, P, "r1"))["id"] == "r1"
        assert (await store.get(R, P, "r1"))["id"] == "r1"
        assert await store.get_permissions("/x") == {"read": {"u"}}

    @conformance_test
    async def test_transaction_rolls_back_on_exception(self, store: RecordStore) -> None:
        await store.create(R, P, {"id": "before"})
        stamp = await store.resource_timestamp(R, P)
        with pytest.raises(RuntimeError):
            async with store.transaction():
                await store.create(R, P, {"id": "r1"})
                await store.delete(R, P, "before")
                await store.set_permissions("/x", {"read": {"u"}})
                await store.add_user_principal("u", "g")
                await store.create(R, "/new", {"id": "r2"})
                raise RuntimeError("boom")
        assert ids_of(await store.list_all(R, P, include_deleted=True)) == ["before"]
        assert await store.resource_timestamp(R, P) == stamp
        assert await store.list_all(R, "/new", include_deleted=True) == []
        assert await store.get_permissions("/x") == {}
        assert await store.user_principals("u") == set()

    @conformance_test
    async def test_nested_transaction_joins_outer(self, store: RecordStore) -> None:
        with pytest.raises(RuntimeError):
            async with store.transaction():
                async with store.transaction():
                    await store.create(R, P, {"id": "inner"})
                assert (await store.get(R, P, "inner"))["id"] == "inner"
                raise RuntimeError("boom")
        assert await store.list_all(R, P) == []
        async with store.transaction(), store.transaction():
            await store.create(R, P, {"id": "inner"})
        assert (await store.get(R, P, "inner"))["id"] == "inner"

    @conformance_test
    async def test_concurrent_transactions_both_commit(self, store: RecordStore) -> None:
        async def writer(n: int) -> None:
            async with store.transaction():
                for i in range(5):
                    await store.create(R, P, {"id": f"w{n}-{i}"})
                    await asyncio.sleep(0)

        await asyncio.gather(*(writer(n) for n in range(8)))
        assert await store.count_all(R, P) == 40

    @conformance_test
    async def test_no_write_commits_at_or_below_a_timestamp_a_reader_saw(
        self, store: RecordStore
    ) -> None:
        """A slow transaction that took its timestamp first must not commit after a faster
        writer's later timestamp was seen: a ``_since`` client would then never fetch it."""
        await store.create(R, P, {"id": "seed"})
        bumped = asyncio.Event()
        observed: list[tuple[int, set[str]]] = []

        async def slow() -> None:
            async with store.transaction():
                await store.create(R, P, {"id": "slow"})
                bumped.set()
                await asyncio.sleep(0.3)

        async def fast() -> None:
            await bumped.wait()
            await store.create(R, P, {"id": "fast"})

        async def reader() -> None:
            await bumped.wait()
            for _ in range(8):
                seen_ts = await store.resource_timestamp(R, P)
                seen = await store.list_all(R, P, include_deleted=True)
                observed.append((seen_ts, {o["id"] for o in seen}))
                await asyncio.sleep(0.05)

        await asyncio.gather(slow(), fast(), reader())
        final = {o["id"]: o["last_modified"] for o in await store.list_all(R, P)}
        assert final["fast"] > final["slow"]
        for seen_ts, seen in observed:
            missed = [i for i, ts in final.items() if ts <= seen_ts and i not in seen]
            assert missed == [], (seen_ts, seen, final)

    @conformance_test
    async def test_write_outside_survives_concurrent_rollback(self, store: RecordStore) -> None:
        """A call outside any transaction is its own unit: another task's rollback keeps it."""
        inside = asyncio.Event()

        async def failing() -> None:
            with pytest.raises(RuntimeError):
                async with store.transaction():
                    await store.create(R, P, {"id": "in-tx"})
                    inside.set()
                    for _ in range(20):
                        await asyncio.sleep(0)
                    raise RuntimeError("boom")

        async def outside() -> None:
            await inside.wait()
            await store.create(R, P, {"id": "outside"})
            await store.set_permissions("/outside", {"read": {"u"}})

        await asyncio.gather(failing(), outside())
        assert ids_of(await store.list_all(R, P, include_deleted=True)) == ["outside"]
        assert await store.get_permissions("/outside") == {"read": {"u"}}
        assert (
            await store.resource_timestamp(R, P)
            == (await store.get(R, P, "outside"))["last_modified"]
        )

    @conformance_test
    async def test_flush(self, store: RecordStore) -> None:
        await store.create(R, P, {"id": "r1"})
        await store.set_permissions("/x", {"read": {"u"}})
        await store.add_user_principal("u", "g")
        await store.flush()
        assert await store.list_all(R, P, include_deleted=True) == []
        assert await store.get_permissions("/x") == {}
        assert await store.user_principals("u") == set()
        assert (await store.create(R, P, {"id": "r1"}))["id"] == "r1"
