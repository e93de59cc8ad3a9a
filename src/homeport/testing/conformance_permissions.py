"""The permission and group-membership half of the RecordStore contract (a conformance mixin).

Kept apart from `homeport.testing.conformance` only for size; `RecordStoreConformance` includes it.
"""

from __future__ import annotations

from homeport.store.protocols import RecordStore
from homeport.testing.conformance_runner import conformance_test


class PermissionsConformance:
    """Permissions set directly on objects, prefix deletes, ``*`` patterns, group members."""

    # --- permissions ---------------------------------------------------------------------------
    @conformance_test
    async def test_set_and_get_permissions(self, store: RecordStore) -> None:
        assert await store.get_permissions("/buckets/a") == {}
        await store.set_permissions(
            "/buckets/a", {"read": {"u1", "u2"}, "write": {"u1"}, "create": set()}
        )
        assert await store.get_permissions("/buckets/a") == {"read": {"u1", "u2"}, "write": {"u1"}}
        await store.set_permissions("/buckets/a", {"write": {"u3"}})
        assert await store.get_permissions("/buckets/a") == {"write": {"u3"}}
        await store.set_permissions("/buckets/a", {"write": set()})
        assert await store.get_permissions("/buckets/a") == {}

    @conformance_test
    async def test_get_permissions_many(self, store: RecordStore) -> None:
        await store.set_permissions("/a", {"read": {"u"}})
        await store.set_permissions("/b", {"write": {"v", "w"}})
        assert await store.get_permissions_many(["/a", "/b", "/c"]) == {
            "/a": {"read": {"u"}},
            "/b": {"write": {"v", "w"}},
            "/c": {},
        }
        assert await store.get_permissions_many([]) == {}

    @conformance_test
    async def test_delete_permissions_by_prefix(self, store: RecordStore) -> None:
        for uri in ("/buckets/a", "/buckets/a/collections/c", "/buckets/ab", "/buckets/a%"):
            await store.set_permissions(uri, {"read": {"u"}})
        await store.delete_permissions("/buckets/a")
        assert await store.get_permissions("/buckets/a") == {}
        assert await store.get_permissions("/buckets/a/collections/c") == {}
        assert await store.get_permissions("/buckets/ab") == {"read": {"u"}}
        assert await store.get_permissions("/buckets/a%") == {"read": {"u"}}

    @conformance_test
    async def test_authorized_principals(self, store: RecordStore) -> None:
        await store.set_permissions("/buckets/a", {"write": {"u1"}, "read": {"u2"}})
        await store.set_permissions("/buckets/a/collections/c", {"read": {"u3"}})
        bound = [("/buckets/a", "write"), ("/buckets/a/collections/c", "read")]
        assert await store.authorized_principals(bound) == {"u1", "u3"}
        assert await store.authorized_principals([("/buckets/a", "read")]) == {"u2"}
        assert await store.authorized_principals([]) == set()

    @conformance_test
    async def test_accessible_objects_with_segment_patterns(self, store: RecordStore) -> None:
        await store.set_permissions("/buckets/a", {"read": {"u1"}, "write": {"u2"}})
        await store.set_permissions("/buckets/b", {"write": {"u1"}})
        await store.set_permissions("/buckets/a/collections/c", {"read": {"u1"}})
        await store.set_permissions("/buckets/b/groups/g", {"read": {"u1"}})
        bound = [("/buckets/*", "read"), ("/buckets/*", "write")]
        assert await store.accessible_objects(["u1"], bound) == {
            "/buckets/a": {"read"},
            "/buckets/b": {"write"},
        }
        assert await store.accessible_objects(["u1", "u2"], [("/buckets/a", "write")]) == {
            "/buckets/a": {"write"}
        }
        assert await store.accessible_objects(["u1"], [("/buckets/*/collections/*", "read")]) == {
            "/buckets/a/collections/c": {"read"}
        }
        assert await store.accessible_objects(["u3"], bound) == {}
        assert await store.accessible_objects([], bound) == {}

    # --- group membership ----------------------------------------------------------------------
    @conformance_test
    async def test_user_principals(self, store: RecordStore) -> None:
        assert await store.user_principals("u") == set()
        await store.add_user_principal("u", "/buckets/b/groups/g1")
        await store.add_user_principal("u", "/buckets/b/groups/g1")
        await store.add_user_principal("u", "/buckets/b/groups/g2")
        await store.add_user_principal("system.Authenticated", "/buckets/b/groups/g2")
        assert await store.user_principals("u") == {"/buckets/b/groups/g1", "/buckets/b/groups/g2"}
        await store.remove_user_principal("u", "/buckets/b/groups/g1")
        await store.remove_user_principal("u", "/buckets/b/groups/none")
        assert await store.user_principals("u") == {"/buckets/b/groups/g2"}
        await store.remove_principal("/buckets/b/groups/g2")
        assert await store.user_principals("u") == set()
        assert await store.user_principals("system.Authenticated") == set()
