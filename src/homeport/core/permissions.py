"""Who may do what: Kinto's permission inheritance as pure functions.

A permission on an object is granted by the object's own access control entries and by those of
its ancestors (writing a bucket lets you read everything in it). ``bound_permissions`` lists the
``(object_uri, permission)`` pairs that grant a permission; the store says which principals hold
them.
"""

from __future__ import annotations

EVERYONE = "system.Everyone"
AUTHENTICATED = "system.Authenticated"

# resource → permission → {ancestor resource: permissions on it that grant it}
INHERITANCE: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "bucket": {
        "write": {"bucket": ("write",)},
        "read": {"bucket": ("write", "read")},
        "read:attributes": {"bucket": ("write", "read", "collection:create", "group:create")},
        "group:create": {"bucket": ("write", "group:create")},
        "collection:create": {"bucket": ("write", "collection:create")},
    },
    "group": {
        "write": {"bucket": ("write",), "group": ("write",)},
        "read": {"bucket": ("write", "read"), "group": ("write", "read")},
    },
    "collection": {
        "write": {"bucket": ("write",), "collection": ("write",)},
        "read": {"bucket": ("write", "read"), "collection": ("write", "read")},
        "read:attributes": {
            "bucket": ("write", "read"),
            "collection": ("write", "read", "record:create"),
        },
        "record:create": {"bucket": ("write",), "collection": ("write", "record:create")},
    },
    "record": {
        "write": {"bucket": ("write",), "collection": ("write",), "record": ("write",)},
        "read": {
            "bucket": ("write", "read"),
            "collection": ("write", "read"),
            "record": ("write", "read"),
        },
    },
    "account": {
        "write": {"account": ("write",)},
        "read": {"account": ("write", "read")},
    },
}

OBJECT_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "bucket": ("read", "write", "collection:create", "group:create"),
    "collection": ("read", "write", "record:create"),
    "group": ("read", "write"),
    "record": ("read", "write"),
    "account": ("read", "write"),
}


def ancestors(uri: str) -> dict[str, str]:
    """``/buckets/b/collections/c`` → ``{"bucket": "/buckets/b", "collection": "/buckets/b/…"}``."""
    parts = uri.strip("/").split("/")
    found: dict[str, str] = {}
    for i in range(0, len(parts) - 1, 2):
        found[parts[i][:-1]] = "/" + "/".join(parts[: i + 2])
    return found


def bound_permissions(uri: str, resource: str, permission: str) -> list[tuple[str, str]]:
    """Every ``(uri, permission)`` pair granting ``permission`` on the ``resource`` at ``uri``."""
    rules = INHERITANCE.get(resource, {}).get(permission)
    if rules is None:
        return [(uri, permission)]
    where = ancestors(uri)
    return [
        (where[res], perm) for res, perms in rules.items() if res in where for perm in perms
    ]


def allowed(granted_to: set[str], principals: frozenset[str]) -> bool:
    return not granted_to.isdisjoint(principals)
