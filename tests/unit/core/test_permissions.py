from homeport.core.permissions import ancestors, bound_permissions


def test_record_read_is_granted_by_every_ancestor() -> None:
    uri = "/buckets/b/collections/c/records/r"
    bound = set(bound_permissions(uri, "record", "read"))
    assert bound == {
        ("/buckets/b", "write"),
        ("/buckets/b", "read"),
        ("/buckets/b/collections/c", "write"),
        ("/buckets/b/collections/c", "read"),
        (uri, "write"),
        (uri, "read"),
    }


def test_record_create_comes_from_the_collection_or_bucket_write() -> None:
    bound = set(bound_permissions("/buckets/b/collections/c", "collection", "record:create"))
    assert bound == {
        ("/buckets/b", "write"),
        ("/buckets/b/collections/c", "write"),
        ("/buckets/b/collections/c", "record:create"),
    }


def test_ancestors_names_each_level() -> None:
    assert ancestors("/buckets/b/groups/g") == {
        "bucket": "/buckets/b",
        "group": "/buckets/b/groups/g",
    }
